"""The Delta jars load and a real table round trip works: create, append, MERGE, history."""

from __future__ import annotations

import pytest
from delta.tables import DeltaTable
from pyspark.sql import SparkSession

pytestmark = pytest.mark.spark


class TestDeltaRoundTrip:
    def test_create_append_merge_read_history(self, spark: SparkSession, table_path: str) -> None:
        """A table created, appended to and merged into reads back right, with 3 history rows."""
        spark.createDataFrame([(1, "a"), (2, "b")], "id INT, v STRING").write.format("delta").save(
            table_path
        )
        spark.createDataFrame([(3, "c")], "id INT, v STRING").write.format("delta").mode(
            "append"
        ).save(table_path)
        source = spark.createDataFrame([(2, "B"), (4, "d")], "id INT, v STRING")
        (
            DeltaTable.forPath(spark, table_path)
            .alias("t")
            .merge(source.alias("s"), "t.id = s.id")
            .whenMatchedUpdateAll()
            .whenNotMatchedInsertAll()
            .execute()
        )

        rows = sorted(tuple(r) for r in spark.read.format("delta").load(table_path).collect())
        assert rows == [(1, "a"), (2, "B"), (3, "c"), (4, "d")]

        history = spark.sql(f"DESCRIBE HISTORY delta.`{table_path}`").orderBy("version").collect()
        assert [h["operation"] for h in history] == ["WRITE", "WRITE", "MERGE"]
        merge_metrics = history[2]["operationMetrics"]
        assert merge_metrics["numTargetRowsUpdated"] == "1"
        assert merge_metrics["numTargetRowsInserted"] == "1"

    def test_session_is_configured_for_tests(self, spark: SparkSession) -> None:
        """The shared session is small, UI-less and has Delta's SQL extension on."""
        conf = spark.sparkContext.getConf()
        assert conf.get("spark.sql.shuffle.partitions") == "2"
        assert conf.get("spark.ui.enabled") == "false"
        assert "DeltaSparkSessionExtension" in (conf.get("spark.sql.extensions") or "")
