"""overwrite and overwrite_partitions: refused unless scoped or allowed, one atomic commit."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from delta.exceptions import ConcurrentAppendException
from pyspark.sql import SparkSession

from delta_safe_writer import (
    ReconciliationError,
    SafeDeltaWriter,
    SchemaMismatchError,
    UnsafeWriteError,
    WriteContext,
)

from .conftest import detail, is_delta_table

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
        assert not is_delta_table(spark, table_path)

        result = writer.overwrite_partitions(
            spark.createDataFrame([("d1", 1)], SCHEMA), table_path, "day = 'd1'"
        )
        assert result.version == 0

    @pytest.mark.parametrize("predicate", ["id + 1", "day"])
    def test_predicate_that_is_not_a_condition_is_refused(
        self,
        spark: SparkSession,
        writer: SafeDeltaWriter,
        table_path: str,
        table_versions,
        predicate: str,
    ) -> None:
        """A replace_where that is not a boolean is refused by name; nothing is committed."""
        writer.append(spark.createDataFrame(START, SCHEMA), table_path)

        with pytest.raises(UnsafeWriteError, match="is not a boolean condition") as info:
            writer.overwrite_partitions(
                spark.createDataFrame([("d1", 10)], SCHEMA), table_path, predicate
            )
        assert info.value.predicate == predicate
        assert table_versions(table_path) == [0]

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
        """An empty replacement makes no commit unless allowed, and the reason says how."""
        writer.append(spark.createDataFrame(START, SCHEMA), table_path)
        result = writer.overwrite_partitions(
            spark.createDataFrame([], SCHEMA), table_path, "day = 'd1'"
        )

        assert result.skipped
        assert "allow_empty=True" in (result.reason or "")
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


def partition_columns(spark: SparkSession, target: str) -> list[str]:
    """The table's partition columns, from its Delta metadata."""
    return list(detail(spark, target)["partitionColumns"])


class TestEmptyReplacement:
    def test_allowed_empty_replacement_deletes_selected_rows_in_one_commit(
        self, spark: SparkSession, writer: SafeDeltaWriter, table_path: str, table_rows
    ) -> None:
        """allow_empty removes exactly the selected partition's rows in ONE DELETE commit."""
        writer.append(spark.createDataFrame(START, SCHEMA), table_path, partition_by=["day"])

        result = writer.overwrite_partitions(
            spark.createDataFrame([], SCHEMA),
            table_path,
            "day = 'd1'",
            allow_empty=True,
            run_id="r1",
        )

        assert table_rows(table_path) == [("d2", 3)]
        history = writer.history(table_path)
        assert [h["version"] for h in history] == [1, 0]
        assert history[0]["operation"] == "DELETE"
        meta = history[0]["writer_metadata"]
        assert (meta["operation"], meta["run_id"]) == ("overwrite_partitions", "r1")
        assert meta["replace_where"] == "day = 'd1'"
        assert (result.version, result.skipped, result.operation) == (
            1,
            False,
            "overwrite_partitions",
        )
        # Partition files are dropped whole: nothing copied, nothing added.
        assert (result.rows_deleted, result.rows_inserted, result.rows_output) == (2, 0, 0)
        assert (result.rows_copied, result.source_rows) == (0, 0)

    def test_data_predicate_keeps_other_rows_of_rewritten_files(
        self, spark: SparkSession, writer: SafeDeltaWriter, table_path: str, table_rows
    ) -> None:
        """On a column that is no partition, rows sharing a file with deleted ones survive."""
        writer.append(spark.createDataFrame(START, SCHEMA).coalesce(1), table_path)

        result = writer.overwrite_partitions(
            spark.createDataFrame([], SCHEMA), table_path, "day = 'd1'", allow_empty=True
        )

        assert table_rows(table_path) == [("d2", 3)]
        assert (result.rows_deleted, result.rows_copied, result.rows_output) == (2, 1, 1)
        assert result.rows_inserted == 0

    def test_rerun_of_batch_is_skipped(
        self, spark: SparkSession, writer: SafeDeltaWriter, table_name: str, table_versions
    ) -> None:
        """The same empty batch on a catalog table commits once; the rerun is skipped."""
        writer.append(spark.createDataFrame(START, SCHEMA), table_name)
        empty = spark.createDataFrame([], SCHEMA)
        # A row of the cleared day arriving after the batch must survive its rerun.
        first = writer.overwrite_partitions(
            empty, table_name, "day = 'd1'", allow_empty=True, batch_id=7
        )
        writer.append(spark.createDataFrame([("d1", 5)], SCHEMA), table_name)

        second = writer.overwrite_partitions(
            empty, table_name, "day = 'd1'", allow_empty=True, batch_id=7
        )

        assert first.version == 2
        assert first.batch_id == 7
        assert second.skipped
        assert "already committed" in (second.reason or "")
        assert table_versions(table_name) == [0, 1, 2, 3]
        assert spark.table(table_name).where("day = 'd1'").count() == 1

    def test_nothing_selected_makes_no_commit(
        self, spark: SparkSession, writer: SafeDeltaWriter, table_path: str, table_versions
    ) -> None:
        """An allowed empty replacement of rows that do not exist commits nothing."""
        writer.append(spark.createDataFrame(START, SCHEMA), table_path)

        result = writer.overwrite_partitions(
            spark.createDataFrame([], SCHEMA), table_path, "day = 'd9'", allow_empty=True
        )

        assert result.skipped
        assert "no rows match replace_where" in (result.reason or "")
        assert table_versions(table_path) == [0]

    def test_missing_table_is_not_created(
        self, spark: SparkSession, writer: SafeDeltaWriter, table_path: str
    ) -> None:
        """There is nothing to remove from a table that does not exist: skipped, no table."""
        result = writer.overwrite_partitions(
            spark.createDataFrame([], SCHEMA),
            table_path,
            "day = 'd1'",
            allow_empty=True,
            partition_by=["day"],
        )

        assert result.skipped
        assert "does not exist" in (result.reason or "")
        assert not is_delta_table(spark, table_path)

    def test_failing_post_hook_restores_the_deleted_rows(
        self, make_writer, spark: SparkSession, table_path: str, table_rows
    ) -> None:
        """Hooks see the DELETE's result; a failing post-hook restores the rows it removed."""
        seen: list[WriteContext] = []

        def refuse(context: WriteContext) -> None:
            seen.append(context)
            raise RuntimeError("gold must not lose a day")

        make_writer().append(spark.createDataFrame(START, SCHEMA), table_path)
        writer = make_writer(pre_hooks=[seen.append], post_hooks=[refuse])

        with pytest.raises(RuntimeError, match="must not lose") as info:
            writer.overwrite_partitions(
                spark.createDataFrame([], SCHEMA), table_path, "day = 'd1'", allow_empty=True
            )

        assert [c.result is None for c in seen] == [True, False]
        assert seen[1].result is not None
        assert seen[1].result.rows_deleted == 2
        assert table_rows(table_path) == sorted(START)
        assert "restored to version 0" in " ".join(info.value.__notes__)

    def test_conflict_is_retried(
        self,
        spark: SparkSession,
        writer: SafeDeltaWriter,
        table_path: str,
        table_rows,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        """A Delta conflict on the DELETE is retried like any commit."""
        writer.append(spark.createDataFrame(START, SCHEMA), table_path)
        real_delete = writer.engine.delete
        failures = iter([ConcurrentAppendException("Files were added by a concurrent update.")])

        def flaky_delete(*args: Any, **kwargs: Any) -> None:
            error = next(failures, None)
            if error is not None:
                raise error
            real_delete(*args, **kwargs)

        monkeypatch.setattr(writer.engine, "delete", flaky_delete)
        result = writer.overwrite_partitions(
            spark.createDataFrame([], SCHEMA), table_path, "day = 'd1'", allow_empty=True
        )

        assert result.attempts == 2
        assert table_rows(table_path) == [("d2", 3)]

    def test_inserted_rows_fail_reconciliation(
        self,
        spark: SparkSession,
        writer: SafeDeltaWriter,
        table_path: str,
        table_rows,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        """A commit that adds new rows for an empty replacement does not reconcile: rolled back."""
        writer.append(spark.createDataFrame(START, SCHEMA), table_path)
        real_delete = writer.engine.delete

        def delete_and_sneak_in(*args: Any, **kwargs: Any) -> None:
            # Stands in for a commit that is not the pure delete the empty input implies.
            del args, kwargs
            spark.createDataFrame([("d1", 99)], SCHEMA).write.format("delta").mode(
                "overwrite"
            ).option("replaceWhere", "day = 'd1'").option(
                "userMetadata", spark.conf.get("spark.databricks.delta.commitInfo.userMetadata")
            ).save(table_path)

        monkeypatch.setattr(writer.engine, "delete", delete_and_sneak_in)
        with pytest.raises(ReconciliationError, match="only removes rows") as info:
            writer.overwrite_partitions(
                spark.createDataFrame([], SCHEMA), table_path, "day = 'd1'", allow_empty=True
            )
        monkeypatch.setattr(writer.engine, "delete", real_delete)

        assert info.value.actual["rows inserted"] == 1
        assert table_rows(table_path) == sorted(START)


class TestOverwritePartitionsPartitionBy:
    def test_creates_a_partitioned_table_in_one_commit(
        self, spark: SparkSession, writer: SafeDeltaWriter, table_path: str, table_versions
    ) -> None:
        """On a missing table partition_by creates it partitioned, in the write's commit."""
        result = writer.overwrite_partitions(
            spark.createDataFrame([("d1", 1), ("d1", 2)], SCHEMA),
            table_path,
            "day = 'd1'",
            partition_by=["day"],
        )

        assert result.version == 0
        assert result.rows_inserted == 2
        assert table_versions(table_path) == [0]
        assert partition_columns(spark, table_path) == ["day"]

    def test_creating_still_refuses_rows_outside_the_predicate(
        self, spark: SparkSession, writer: SafeDeltaWriter, table_path: str
    ) -> None:
        """The scope check applies to the creating write: refused, no table created."""
        with pytest.raises(UnsafeWriteError, match="fall outside"):
            writer.overwrite_partitions(
                spark.createDataFrame([("d1", 1), ("d2", 2)], SCHEMA),
                table_path,
                "day = 'd1'",
                partition_by=["day"],
            )
        assert not is_delta_table(spark, table_path)

    def test_catalog_table_is_created_partitioned(
        self, spark: SparkSession, writer: SafeDeltaWriter, table_name: str, table_rows
    ) -> None:
        """A new catalog table gets the partitioning too, then later days replace by it."""
        writer.overwrite_partitions(
            spark.createDataFrame([("d1", 1)], SCHEMA),
            table_name,
            "day = 'd1'",
            partition_by=["day"],
        )
        writer.overwrite_partitions(
            spark.createDataFrame([("d2", 2)], SCHEMA),
            table_name,
            "day = 'd2'",
            partition_by=["day"],
        )

        table_detail = detail(spark, table_name)
        assert list(table_detail["partitionColumns"]) == ["day"]
        assert table_rows(table_name) == [("d1", 1), ("d2", 2)]

    def test_existing_table_with_same_partitioning_is_accepted(
        self, spark: SparkSession, writer: SafeDeltaWriter, table_path: str, table_rows
    ) -> None:
        """partition_by equal to the table's (in any case) is a no-op check."""
        writer.append(spark.createDataFrame(START, SCHEMA), table_path, partition_by=["day"])

        writer.overwrite_partitions(
            spark.createDataFrame([("d1", 10)], SCHEMA),
            table_path,
            "day = 'd1'",
            partition_by=["DAY"],
        )

        assert table_rows(table_path) == [("d1", 10), ("d2", 3)]

    def test_different_partitioning_is_refused(
        self, spark: SparkSession, writer: SafeDeltaWriter, table_path: str, table_versions
    ) -> None:
        """partition_by differing from an existing table's partitioning is refused, no commit."""
        writer.append(spark.createDataFrame(START, SCHEMA), table_path)

        with pytest.raises(SchemaMismatchError, match="partitioned by nothing") as info:
            writer.overwrite_partitions(
                spark.createDataFrame([("d1", 10)], SCHEMA),
                table_path,
                "day = 'd1'",
                partition_by=["day"],
            )
        assert info.value.incoming_type == "day"
        assert table_versions(table_path) == [0]

    def test_unknown_partition_column_is_refused(
        self, spark: SparkSession, writer: SafeDeltaWriter, table_path: str
    ) -> None:
        """A partition column the DataFrame lacks is named before any Spark job."""
        with pytest.raises(ValueError, match="partition_by names column"):
            writer.overwrite_partitions(
                spark.createDataFrame([("d1", 1)], SCHEMA),
                table_path,
                "day = 'd1'",
                partition_by=["month"],
            )


GENERATED = (
    "id INT, ts TIMESTAMP, d DATE GENERATED ALWAYS AS (CAST(ts AS DATE))"  # d only in the table
)
INPUT = "id INT, ts TIMESTAMP"
JAN1, JAN2, JAN3 = (dt.datetime(2024, 1, day, 10) for day in (1, 2, 3))


class TestReplaceWhereOnAGeneratedColumn:
    @pytest.fixture
    def generated(self, spark: SparkSession, writer: SafeDeltaWriter, table_path: str) -> str:
        """A table partitioned by a generated date column, with rows on Jan 1 and Jan 2."""
        spark.sql(f"CREATE TABLE delta.`{table_path}` ({GENERATED}) USING delta PARTITIONED BY (d)")
        writer.append(spark.createDataFrame([(1, JAN1), (2, JAN2)], INPUT), table_path)
        return table_path

    def test_replaces_the_day_delta_computes(
        self, spark: SparkSession, writer: SafeDeltaWriter, generated: str, table_rows
    ) -> None:
        """A predicate on the generated column works although the DataFrame lacks it."""
        result = writer.overwrite_partitions(
            spark.createDataFrame([(3, JAN2), (4, JAN2)], INPUT), generated, "d = '2024-01-02'"
        )

        assert result.rows_inserted == 2
        assert table_rows(generated, "id", "d") == [
            (1, dt.date(2024, 1, 1)),
            (3, dt.date(2024, 1, 2)),
            (4, dt.date(2024, 1, 2)),
        ]

    def test_rows_outside_are_refused_by_delta_and_typed(
        self, spark: SparkSession, writer: SafeDeltaWriter, generated: str, table_versions
    ) -> None:
        """A row whose computed day is outside the predicate raises UnsafeWriteError."""
        with pytest.raises(UnsafeWriteError, match="outside") as info:
            writer.overwrite_partitions(
                spark.createDataFrame([(3, JAN2), (5, JAN3)], INPUT), generated, "d = '2024-01-02'"
            )

        assert info.value.predicate == "d = '2024-01-02'"
        assert info.value.rows_outside >= 1
        assert table_versions(generated) == [0, 1]

    def test_enforced_even_when_the_session_disabled_deltas_check(
        self, spark: SparkSession, writer: SafeDeltaWriter, generated: str, table_versions
    ) -> None:
        """The writer turns Delta's replaceWhere check back on for its call only."""
        conf = "spark.databricks.delta.replaceWhere.constraintCheck.enabled"
        spark.conf.set(conf, "false")
        try:
            with pytest.raises(UnsafeWriteError):
                writer.overwrite_partitions(
                    spark.createDataFrame([(5, JAN3)], INPUT), generated, "d = '2024-01-02'"
                )
            assert spark.conf.get(conf) == "false"
        finally:
            spark.conf.unset(conf)
        assert table_versions(generated) == [0, 1]


class TestOverwriteSchema:
    def test_replaces_the_schema_when_asked(
        self, spark: SparkSession, writer: SafeDeltaWriter, table_path: str, table_rows
    ) -> None:
        """overwrite_schema=True drops, adds and retypes columns in one commit."""
        writer.append(spark.createDataFrame(START, SCHEMA), table_path)
        new = spark.createDataFrame([(1, 2.5)], "id BIGINT, score DOUBLE")

        with pytest.raises(SchemaMismatchError):
            writer.overwrite(new, table_path, allow_full_overwrite=True)
        result = writer.overwrite(new, table_path, allow_full_overwrite=True, overwrite_schema=True)

        schema = spark.read.format("delta").load(table_path).schema
        assert [(f.name, f.dataType.simpleString()) for f in schema.fields] == [
            ("id", "bigint"),
            ("score", "double"),
        ]
        assert table_rows(table_path) == [(1, 2.5)]
        assert result.version == 1
        assert writer.history(table_path, 1)[0]["writer_metadata"]["overwrite_schema"] is True

    def test_still_needs_allow_full_overwrite(
        self, spark: SparkSession, writer: SafeDeltaWriter, table_path: str, table_versions
    ) -> None:
        """overwrite_schema alone does not permit replacing the table."""
        writer.append(spark.createDataFrame(START, SCHEMA), table_path)

        with pytest.raises(UnsafeWriteError, match="allow_full_overwrite"):
            writer.overwrite(
                spark.createDataFrame([(1, 2.5)], "id BIGINT, score DOUBLE"),
                table_path,
                overwrite_schema=True,
            )
        assert table_versions(table_path) == [0]
