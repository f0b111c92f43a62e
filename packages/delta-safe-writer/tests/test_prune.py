"""merge(prune_by_key_range=True): same result, and files outside the batch's key range unread."""

from __future__ import annotations

import datetime as dt
import decimal
from pathlib import Path

import pytest
from pyspark.sql import SparkSession
from pyspark.sql import functions as sf

from delta_safe_writer import DuplicateTargetKeyError, SafeDeltaWriter
from delta_safe_writer._prune import key_range, prunable

pytestmark = pytest.mark.spark


def _chunked_table(spark: SparkSession, path: str) -> None:
    """Four files holding ids 0-99, 100-199, 200-299, 300-399 (one append each)."""
    for low in range(0, 400, 100):
        spark.range(low, low + 100).selectExpr("id", "'old' AS v").coalesce(1).write.format(
            "delta"
        ).mode("append").save(path)


def _remove_files_of(spark: SparkSession, path: str, low: int, high: int) -> int:
    """Delete from disk the data files of the chunks whose ids lie in [low, high]."""
    rows = (
        spark.read.format("delta")
        .load(path)
        .filter(sf.col("id").between(low, high))
        .select(sf.input_file_name().alias("f"))
        .distinct()
        .collect()
    )
    for row in rows:
        Path(row["f"].removeprefix("file:")).unlink()
    return len(rows)


class TestKeyRangePruning:
    def test_pruned_merge_never_opens_files_outside_the_batch_range(
        self, spark: SparkSession, writer: SafeDeltaWriter, tmp_path: Path
    ) -> None:
        """With the first three chunks' files gone, a batch in the last chunk still merges.

        The same batch without pruning must read every file to find its matches, so it fails
        on the missing ones: the check can tell the two apart.
        """
        path = str(tmp_path / "t")
        _chunked_table(spark, path)
        assert _remove_files_of(spark, path, 0, 299) == 3
        batch = spark.createDataFrame(
            [(350, "new"), (399, "new"), (400, "new")], "id LONG, v STRING"
        )

        with pytest.raises(Exception, match=r"(?i)not exist|FileNotFound|FAILED_READ_FILE"):
            writer.merge(batch, path, "id")
        result = writer.merge(batch, path, "id", prune_by_key_range=True)

        assert (result.rows_updated, result.rows_inserted) == (2, 1)
        current = spark.read.format("delta").load(path).filter("id >= 300")
        assert current.filter("v = 'new'").count() == 3
        assert current.count() == 101

    def test_same_result_as_the_unpruned_merge(
        self, spark: SparkSession, writer: SafeDeltaWriter, tmp_path: Path
    ) -> None:
        """Updates, inserts and delete_when give the same table with and without the range."""
        batch = spark.createDataFrame(
            [(5, "gone"), (150, "upd"), (250, "upd"), (1000, "ins")], "id LONG, v STRING"
        )
        tables = []
        for prune in (False, True):
            path = str(tmp_path / f"t{prune}")
            _chunked_table(spark, path)
            result = writer.merge(
                batch, path, "id", delete_when="s.v = 'gone'", prune_by_key_range=prune
            )
            assert (result.rows_updated, result.rows_inserted, result.rows_deleted) == (2, 1, 1)
            tables.append(sorted(spark.read.format("delta").load(path).collect()))
        assert tables[0] == tables[1]
        assert len(tables[1]) == 400

    def test_target_duplicates_inside_the_range_are_still_refused(
        self, spark: SparkSession, writer: SafeDeltaWriter, tmp_path: Path, table_rows
    ) -> None:
        """The target-key check reads the ranged files and still sees a key held twice."""
        path = str(tmp_path / "t")
        _chunked_table(spark, path)
        spark.createDataFrame([(120, "dup")], "id LONG, v STRING").write.format("delta").mode(
            "append"
        ).save(path)
        before = table_rows(path)

        with pytest.raises(DuplicateTargetKeyError, match="120"):
            writer.merge(
                spark.createDataFrame([(120, "x")], "id LONG, v STRING"),
                path,
                "id",
                prune_by_key_range=True,
            )
        assert table_rows(path) == before

    def test_string_decimal_date_keys_with_awkward_values(
        self, spark: SparkSession, writer: SafeDeltaWriter, tmp_path: Path
    ) -> None:
        """Bounds render as exact literals: quotes and backslashes, decimals, dates match."""
        schema = "k STRING, amount DECIMAL(12,2), day DATE, v STRING"
        rows = [
            ("it's", decimal.Decimal("10.50"), dt.date(2024, 1, 1), "old"),
            ("back\\slash", decimal.Decimal("-3.25"), dt.date(2024, 2, 29), "old"),
            ("zz", decimal.Decimal("99.99"), dt.date(2025, 1, 1), "old"),
        ]
        path = str(tmp_path / "t")
        spark.createDataFrame(rows, schema).write.format("delta").save(path)
        batch = spark.createDataFrame([(k, a, d, "new") for k, a, d, _ in rows[:2]], schema)

        result = writer.merge(batch, path, ["k", "amount", "day"], prune_by_key_range=True)

        assert (result.rows_updated, result.rows_inserted) == (2, 0)
        values = {r["k"]: r["v"] for r in spark.read.format("delta").load(path).collect()}
        assert values == {"it's": "new", "back\\slash": "new", "zz": "old"}


class TestKeyRange:
    def test_bounds_are_inclusive_and_per_key(self, spark: SparkSession) -> None:
        """Filtering the batch itself by its range keeps every row, boundaries included."""
        batch = spark.createDataFrame(
            [(1, "b", dt.datetime(2024, 5, 1, 12, 0)), (7, "a'", dt.datetime(2024, 5, 2, 0, 0))],
            "n INT, s STRING, ts TIMESTAMP",
        )
        scope = key_range(batch, ["n", "s", "ts"])

        assert scope is not None
        assert [key for key, _, _ in scope.bounds] == ["n", "s", "ts"]
        assert batch.filter(scope.predicate()).count() == 2
        assert "t.`n` >= 1 AND t.`n` <= 7" in scope.predicate("t")
        outside = spark.createDataFrame(
            [(8, "b", dt.datetime(2024, 5, 1, 12, 0)), (1, "c", dt.datetime(2024, 5, 1, 12, 0))],
            "n INT, s STRING, ts TIMESTAMP",
        )
        assert outside.filter(scope.predicate()).count() == 0

    def test_unprunable_keys_and_null_keys_give_no_range(self, spark: SparkSession) -> None:
        """Doubles are not ranged (NaN sorts above numbers); an all-NULL key has no bounds."""
        batch = spark.createDataFrame([(1.5, None), (float("nan"), None)], "x DOUBLE, k INT")

        assert not prunable(batch.schema["x"].dataType)
        assert key_range(batch, ["x"]) is None
        assert key_range(batch, ["x", "k"]) is None
