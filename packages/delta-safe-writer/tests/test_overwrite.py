"""overwrite and overwrite_partitions: refused unless scoped or allowed, one atomic commit."""

from __future__ import annotations

import pytest
from delta.tables import DeltaTable
from pyspark.sql import SparkSession

from delta_safe_writer import SafeDeltaWriter, UnsafeWriteError

pytestmark = pytest.mark.spark

SCHEMA = "day STRING, id INT"
START = [("d1", 1), ("d1", 2), ("d2", 3)]


class TestFullOverwrite:
    def test_refused_without_allow(
        self, spark: SparkSession, writer: SafeDeltaWriter, table_path: str, table_versions
    ) -> None:
        """An unscoped overwrite raises UnsafeWriteError pointing at the options; no commit."""
        writer.append(spark.createDataFrame(START, SCHEMA), table_path)

        with pytest.raises(UnsafeWriteError, match="allow_full_overwrite=True") as info:
            writer.overwrite(spark.createDataFrame([("d9", 9)], SCHEMA), table_path)
        assert info.value.predicate is None
        assert table_versions(table_path) == [0]

    def test_allowed_overwrite_is_one_commit(
        self, spark: SparkSession, writer: SafeDeltaWriter, table_path: str, table_rows
    ) -> None:
        """An allowed overwrite replaces everything in ONE WRITE commit (never delete+append)."""
        writer.append(spark.createDataFrame(START, SCHEMA), table_path)

        result = writer.overwrite(
            spark.createDataFrame([("d9", 9)], SCHEMA), table_path, allow_full_overwrite=True
        )

        assert table_rows(table_path) == [("d9", 9)]
        history = writer.history(table_path)
        assert [h["version"] for h in history] == [1, 0]
        assert history[0]["operation"] == "WRITE"
        assert history[0]["operationParameters"]["mode"] == "Overwrite"
        assert (result.version, result.rows_output, result.source_rows) == (1, 1, 1)

    def test_empty_input_is_skipped(
        self, spark: SparkSession, writer: SafeDeltaWriter, table_path: str, table_rows
    ) -> None:
        """An empty full overwrite would empty the table: skipped, rows kept."""
        writer.append(spark.createDataFrame(START, SCHEMA), table_path)

        result = writer.overwrite(
            spark.createDataFrame([], SCHEMA), table_path, allow_full_overwrite=True
        )

        assert result.skipped
        assert "empty input" in (result.reason or "")
        assert table_rows(table_path) == sorted(START)

    def test_catalog_table(
        self, spark: SparkSession, writer: SafeDeltaWriter, table_name: str, table_rows
    ) -> None:
        """A catalog table is overwritten by name and the commit is found by its metadata."""
        writer.append(spark.createDataFrame(START, SCHEMA), table_name)
        result = writer.overwrite(
            spark.createDataFrame([("d9", 9)], SCHEMA),
            table_name,
            allow_full_overwrite=True,
            run_id="r",
        )

        # Version 0 is the CREATE TABLE the first append made, version 1 its rows.
        assert result.version == 2
        assert table_rows(table_name) == [("d9", 9)]


class TestOverwritePartitions:
    def test_replaces_exactly_the_selected_rows(
        self, spark: SparkSession, writer: SafeDeltaWriter, table_path: str, table_rows
    ) -> None:
        """Rows matching replace_where are replaced, others kept, counts from metrics."""
        writer.append(spark.createDataFrame(START, SCHEMA), table_path)

        result = writer.overwrite_partitions(
            spark.createDataFrame([("d1", 10)], SCHEMA), table_path, "day = 'd1'"
        )

        assert table_rows(table_path) == [("d1", 10), ("d2", 3)]
        assert result.operation == "overwrite_partitions"
        assert (result.rows_inserted, result.rows_deleted, result.source_rows) == (1, 2, 1)
        # Delta rewrote the file holding d2 too: its row is output again as a copy.
        assert (result.rows_output, result.rows_copied) == (2, 1)

    def test_rows_outside_predicate_are_refused(
        self, spark: SparkSession, writer: SafeDeltaWriter, table_path: str, table_rows
    ) -> None:
        """Incoming rows outside the predicate raise with a count and sample; table unchanged."""
        writer.append(spark.createDataFrame(START, SCHEMA), table_path)
        incoming = spark.createDataFrame([("d1", 10), ("d2", 20), ("d3", 30)], SCHEMA)

        with pytest.raises(UnsafeWriteError, match=r"2 incoming row\(s\) fall outside") as info:
            writer.overwrite_partitions(incoming, table_path, "day = 'd1'")
        assert info.value.rows_outside == 2
        assert info.value.predicate == "day = 'd1'"
        assert {"day": "d2", "id": 20} in info.value.sample
        assert table_rows(table_path) == sorted(START)

    def test_null_predicate_counts_as_outside(
        self, spark: SparkSession, writer: SafeDeltaWriter, table_path: str, table_rows
    ) -> None:
        """A row whose predicate is NULL would escape the next replace: refused too."""
        writer.append(spark.createDataFrame(START, SCHEMA), table_path)

        with pytest.raises(UnsafeWriteError, match="1 incoming row"):
            writer.overwrite_partitions(
                spark.createDataFrame([("d1", 10), (None, 11)], SCHEMA), table_path, "day = 'd1'"
            )
        assert table_rows(table_path) == sorted(START)

    def test_creates_missing_table_with_the_same_guard(
        self, spark: SparkSession, writer: SafeDeltaWriter, table_path: str
    ) -> None:
        """On a missing table the guard still refuses outside rows and creates nothing."""
        with pytest.raises(UnsafeWriteError):
            writer.overwrite_partitions(
                spark.createDataFrame([("d2", 1)], SCHEMA), table_path, "day = 'd1'"
            )
        assert not DeltaTable.isDeltaTable(spark, table_path)

        result = writer.overwrite_partitions(
            spark.createDataFrame([("d1", 1)], SCHEMA), table_path, "day = 'd1'"
        )
        assert result.version == 0

    @pytest.mark.parametrize("predicate", ["", "   "])
    def test_blank_predicate_is_unscoped(
        self, spark: SparkSession, writer: SafeDeltaWriter, table_path: str, predicate: str
    ) -> None:
        """A blank replace_where is an unscoped overwrite and is refused."""
        with pytest.raises(UnsafeWriteError, match="empty replace_where"):
            writer.overwrite_partitions(spark.createDataFrame(START, SCHEMA), table_path, predicate)

    def test_empty_input_is_skipped(
        self, spark: SparkSession, writer: SafeDeltaWriter, table_path: str, table_versions
    ) -> None:
        """An empty replacement makes no commit."""
        writer.append(spark.createDataFrame(START, SCHEMA), table_path)
        result = writer.overwrite_partitions(
            spark.createDataFrame([], SCHEMA), table_path, "day = 'd1'"
        )

        assert result.skipped
        assert table_versions(table_path) == [0]

    def test_rerun_of_batch_is_skipped(
        self, spark: SparkSession, writer: SafeDeltaWriter, table_name: str, table_versions
    ) -> None:
        """The same batch replaced twice on a catalog table commits once."""
        writer.append(spark.createDataFrame(START, SCHEMA), table_name)
        df = spark.createDataFrame([("d1", 10)], SCHEMA)

        first = writer.overwrite_partitions(df, table_name, "day = 'd1'", batch_id=1)
        second = writer.overwrite_partitions(df, table_name, "day = 'd1'", batch_id=1)

        assert first.version == 2
        assert second.skipped
        assert table_versions(table_name) == [0, 1, 2]

    def test_unrelated_errors_propagate(
        self, spark: SparkSession, writer: SafeDeltaWriter, table_path: str
    ) -> None:
        """A broken predicate surfaces Spark's own error, not a misleading scope error."""
        writer.append(spark.createDataFrame(START, SCHEMA), table_path)
        with pytest.raises(Exception, match="UNRESOLVED_COLUMN") as info:
            writer.overwrite_partitions(
                spark.createDataFrame([("d1", 1)], SCHEMA), table_path, "nope = 1"
            )
        assert not isinstance(info.value, UnsafeWriteError)
