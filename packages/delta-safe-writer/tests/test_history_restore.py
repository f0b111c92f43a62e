"""restore and history: a restore is its own commit with metadata; history decodes ours."""

from __future__ import annotations

import pytest
from pyspark.sql import SparkSession

from delta_safe_writer import SafeDeltaWriter

pytestmark = pytest.mark.spark

SCHEMA = "id INT, v STRING"


class TestRestoreAndHistory:
    def test_restore_returns_the_restore_commit(
        self, spark: SparkSession, writer: SafeDeltaWriter, table_path: str, table_rows
    ) -> None:
        """Restore brings back an old version as a new RESTORE commit carrying run metadata."""
        writer.append(spark.createDataFrame([(1, "a")], SCHEMA), table_path)
        writer.append(spark.createDataFrame([(2, "b")], SCHEMA), table_path)

        result = writer.restore(table_path, 0, run_id="undo")

        assert table_rows(table_path) == [(1, "a")]
        assert (result.operation, result.version) == ("restore", 2)
        assert result.rows_inserted is None
        assert result.metrics["numRemovedFiles"] == "1"
        latest = writer.history(table_path, limit=1)[0]
        assert latest["operation"] == "RESTORE"
        assert latest["writer_metadata"]["run_id"] == "undo"
        assert latest["writer_metadata"]["restored_version"] == 0

    def test_history_of_foreign_commits_has_no_writer_metadata(
        self, spark: SparkSession, writer: SafeDeltaWriter, table_name: str
    ) -> None:
        """Commits by other tools show empty writer_metadata; ours show the decoded JSON."""
        spark.sql(f"CREATE TABLE {table_name} (id INT, v STRING) USING delta")
        writer.append(spark.createDataFrame([(1, "a")], SCHEMA), table_name, run_id="mine")
        spark.sql(f"INSERT INTO {table_name} VALUES (2, 'b')")

        history = writer.history(table_name)

        assert [h["version"] for h in history] == [2, 1, 0]
        assert history[0]["writer_metadata"] == {}
        assert history[1]["writer_metadata"]["run_id"] == "mine"
        assert history[1]["operationMetrics"]["numOutputRows"] == "1"
