"""Delta's refusals as typed errors, on both engines: the table is unchanged every time."""

from __future__ import annotations

import datetime as dt
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from pyspark.sql import SparkSession
from pyspark.sql import functions as sf
from pyspark.sql.types import IntegerType

from delta_safe_writer import (
    ConcurrentWriteError,
    ConstraintViolationError,
    SafeDeltaWriter,
    TableNotFoundError,
    UnresolvedColumnError,
    UnsafeWriteError,
)

pytestmark = pytest.mark.spark

SCHEMA = "id INT, n INT, day STRING"
T1 = dt.datetime(2024, 1, 1)


@pytest.fixture(
    params=[
        pytest.param(
            "delta", marks=pytest.mark.no_connect("DeltaTable needs Delta Connect's server plugin")
        ),
        "sql",
    ]
)
def engine(request: pytest.FixtureRequest) -> str:
    """Each test runs on delta-spark's DeltaTable API and on Spark SQL."""
    return str(request.param)


@pytest.fixture
def strict_table(spark: SparkSession, table_path: str) -> str:
    """A table with a CHECK constraint (n > 0), a NOT NULL id and one row, version 1."""
    spark.sql(f"CREATE TABLE delta.`{table_path}` (id INT NOT NULL, n INT, day STRING) USING delta")
    spark.sql(f"ALTER TABLE delta.`{table_path}` ADD CONSTRAINT positive CHECK (n > 0)")
    spark.createDataFrame([(1, 1, "d1")], SCHEMA).write.format("delta").mode("append").save(
        table_path
    )
    return table_path


def state(spark: SparkSession, target: str) -> tuple[list[int], list[tuple[Any, ...]]]:
    """The committed versions and the rows, to compare before and after a refused write."""
    ref = f"delta.`{target}`"
    versions = sorted(r["version"] for r in spark.sql(f"DESCRIBE HISTORY {ref}").collect())
    rows = sorted(tuple(r) for r in spark.read.format("delta").load(target).collect())
    return versions, rows


Operation = Callable[[SafeDeltaWriter, Any, str], object]
OPERATIONS: dict[str, Operation] = {
    "append": lambda w, df, t: w.append(df, t),
    "overwrite": lambda w, df, t: w.overwrite(df, t, allow_full_overwrite=True),
    "overwrite_partitions": lambda w, df, t: w.overwrite_partitions(df, t, "day = 'd2'"),
    "merge": lambda w, df, t: w.merge(df, t, ["id"]),
}


class TestConstraintViolations:
    @pytest.mark.parametrize("operation", list(OPERATIONS))
    def test_check_violation_on_every_operation(
        self, make_writer, spark: SparkSession, strict_table: str, operation: str
    ) -> None:
        """A CHECK violation names the constraint, its expression and the value, cause chained."""
        before = state(spark, strict_table)
        bad = spark.createDataFrame([(2, -5, "d2")], SCHEMA)

        with pytest.raises(ConstraintViolationError) as info:
            OPERATIONS[operation](make_writer(), bad, strict_table)

        error = info.value
        assert (error.kind, error.constraint, error.expression) == ("check", "positive", "(n > 0)")
        assert error.values == {"n": "-5"}
        assert error.operation == operation
        assert error.__cause__ is not None
        assert "Nothing was committed" in str(error)
        assert state(spark, strict_table) == before

    def test_check_violation_in_overwrite_partitions_is_not_a_scope_error(
        self, make_writer, engine: str, spark: SparkSession, strict_table: str
    ) -> None:
        """A row inside replace_where that breaks a CHECK is reported as the constraint."""
        before = state(spark, strict_table)
        rows = spark.createDataFrame([(2, 3, "d2"), (3, -1, "d2")], SCHEMA)

        with pytest.raises(ConstraintViolationError, match="positive") as info:
            make_writer(engine=engine).overwrite_partitions(rows, strict_table, "day = 'd2'")

        assert not isinstance(info.value, UnsafeWriteError)
        assert info.value.values == {"n": "-1"}
        assert state(spark, strict_table) == before

    def test_not_null_violation(
        self, make_writer, engine: str, spark: SparkSession, strict_table: str
    ) -> None:
        """A NULL in a NOT NULL column is refused with the column's name."""
        before = state(spark, strict_table)

        with pytest.raises(ConstraintViolationError) as info:
            make_writer(engine=engine).merge(
                spark.createDataFrame([(None, 4, "d2")], SCHEMA),
                strict_table,
                ["n"],
            )

        assert (info.value.kind, info.value.constraint) == ("not_null", "id")
        assert state(spark, strict_table) == before

    def test_generated_column_violation(
        self, make_writer, engine: str, spark: SparkSession, table_path: str
    ) -> None:
        """A value contradicting a generated column's expression is refused, naming it."""
        spark.sql(
            f"CREATE TABLE delta.`{table_path}` (id INT, ts TIMESTAMP, "
            f"d DATE GENERATED ALWAYS AS (CAST(ts AS DATE))) USING delta"
        )
        before = state(spark, table_path)
        wrong = spark.createDataFrame(
            [(1, T1, dt.date(2024, 5, 5))], "id INT, ts TIMESTAMP, d DATE"
        )

        with pytest.raises(ConstraintViolationError) as info:
            make_writer(engine=engine).append(wrong, table_path)

        assert (info.value.kind, info.value.constraint) == ("generated", "Generated Column")
        assert "CAST(ts AS DATE)" in info.value.expression
        assert set(info.value.values) == {"d", "ts"}
        assert state(spark, table_path) == before


class TestMissingTable:
    def test_restore_and_history_need_a_table(
        self, make_writer, engine: str, spark: SparkSession, table_path: str, table_name: str
    ) -> None:
        """Restore and history of a missing path or catalog table raise TableNotFoundError."""
        writer = make_writer(engine=engine)

        for target in (table_path, table_name):
            with pytest.raises(TableNotFoundError) as restore:
                writer.restore(target, 0)
            with pytest.raises(TableNotFoundError) as history:
                writer.history(target)

            assert (restore.value.operation, restore.value.table) == ("restore", target)
            assert history.value.operation == "history"
        assert not Path(table_path).exists()
        assert not spark.catalog.tableExists(table_name)


class TestUnresolvedColumns:
    def test_unknown_column_in_each_expression_argument(
        self, make_writer, engine: str, spark: SparkSession, table_path: str
    ) -> None:
        """replace_where (write or DELETE) and delete_when naming no column are typed errors."""
        writer = make_writer(engine=engine)
        writer.append(spark.createDataFrame([(1, 1, "d1")], SCHEMA), table_path)
        before = state(spark, table_path)
        one = spark.createDataFrame([(1, 2, "d1")], SCHEMA)

        with pytest.raises(UnresolvedColumnError) as replace:
            writer.overwrite_partitions(one, table_path, "nope = 1")
        with pytest.raises(UnresolvedColumnError) as delete:
            writer.overwrite_partitions(one.limit(0), table_path, "nope = 1", allow_empty=True)
        with pytest.raises(UnresolvedColumnError) as merge:
            writer.merge(one, table_path, ["id"], delete_when="s.nope = 1")

        assert (replace.value.argument, replace.value.expression) == ("replace_where", "nope = 1")
        assert "nope" in replace.value.column
        assert delete.value.argument == "replace_where"
        assert (merge.value.argument, merge.value.expression) == ("delete_when", "s.nope = 1")
        assert "nope" in merge.value.column
        assert state(spark, table_path) == before


class TestConcurrentModification:
    def test_conflict_after_the_last_retry_is_typed(
        self, make_writer, engine: str, spark: SparkSession, table_path: str, tmp_path: Path
    ) -> None:
        """A real Delta conflict with no retry left raises ConcurrentWriteError; ours is absent."""
        armed, started, go = (tmp_path / n for n in ("armed", "started", "go"))
        make_writer(engine=engine).append(
            spark.createDataFrame([(1, 1, "a"), (2, 2, "b")], SCHEMA), table_path
        )

        def wait_once(value: int) -> int:
            # Blocks one task of the MERGE (the first to create `started`) until released.
            if armed.exists() and not go.exists():
                try:
                    os.close(os.open(started, os.O_CREAT | os.O_EXCL))
                except FileExistsError:
                    return value
                deadline = time.monotonic() + 300
                while not go.exists() and time.monotonic() < deadline:
                    time.sleep(0.05)
            return value

        blocking = sf.udf(wait_once, IntegerType(), useArrow=False)
        source = (
            spark.createDataFrame([(2, 20, "b"), (3, 3, "c")], SCHEMA)
            .coalesce(1)
            .withColumn("id", blocking("id"))
        )
        writer = make_writer(engine=engine, max_retries=0, pre_hooks=[lambda _: armed.touch()])
        outcome: dict[str, BaseException] = {}

        def run() -> None:
            try:
                writer.merge(source, table_path, ["id"])
            except BaseException as exc:  # asserted below
                outcome["error"] = exc

        thread = threading.Thread(target=run)
        thread.start()
        deadline = time.monotonic() + 300
        while not started.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        spark.createDataFrame([(1, 9, "x")], SCHEMA).write.format("delta").mode("overwrite").save(
            table_path
        )
        go.touch()
        thread.join(timeout=600)

        error = outcome["error"]
        assert isinstance(error, ConcurrentWriteError)
        assert error.attempts == 1
        assert error.conflict.startswith("Concurrent")
        assert state(spark, table_path) == ([0, 1], [(1, 9, "x")])
