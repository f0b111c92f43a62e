"""Hooks, rollback, conflict retry and concurrent writers against real Delta tables."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from delta.exceptions import ConcurrentAppendException
from pyspark.sql import SparkSession
from pyspark.sql import functions as sf
from pyspark.sql.types import IntegerType

from delta_safe_writer import (
    ConcurrentWriteError,
    RollbackError,
    SafeDeltaWriter,
    WriteContext,
)

from .conftest import is_delta_table

pytestmark = pytest.mark.spark

SCHEMA = "id INT, v STRING"


class HookFailedError(Exception):
    """A validation raised by a test hook."""


def failing_hook(context: WriteContext) -> None:
    """A post-write validation that always fails."""
    raise HookFailedError(f"validation failed for {context.operation}")


class TestPreHooks:
    def test_pre_hook_sees_the_write_before_commit(
        self, make_writer, spark: SparkSession, table_path: str
    ) -> None:
        """A pre-hook gets operation, target, df and no result, before anything is written."""
        seen: list[tuple[Any, ...]] = []

        def hook(context: WriteContext) -> None:
            exists = is_delta_table(spark, context.target)
            seen.append((context.operation, context.target, context.result, exists, context.run_id))
            assert context.df is not None

        writer = make_writer(pre_hooks=[hook])
        writer.append(spark.createDataFrame([(1, "a")], SCHEMA), table_path, run_id="r")

        assert seen == [("append", table_path, None, False, "r")]

    def test_failing_pre_hook_aborts(
        self, make_writer, spark: SparkSession, table_path: str, table_versions
    ) -> None:
        """A pre-hook error propagates and nothing is committed."""
        make_writer().append(spark.createDataFrame([(1, "a")], SCHEMA), table_path)
        writer = make_writer(pre_hooks=[failing_hook])

        with pytest.raises(HookFailedError):
            writer.merge(spark.createDataFrame([(1, "b")], SCHEMA), table_path, ["id"])
        assert table_versions(table_path) == [0]


class TestPostHooksAndRollback:
    def test_post_hook_gets_the_result(
        self, make_writer, spark: SparkSession, table_path: str
    ) -> None:
        """A post-hook receives the committed write's result."""
        results: list[Any] = []
        writer = make_writer(post_hooks=[lambda c: results.append(c.result)])

        result = writer.append(spark.createDataFrame([(1, "a")], SCHEMA), table_path)

        assert results[0].version == result.version == 0
        assert results[0].rows_inserted == 1

    def test_failing_post_hook_restores_previous_version(
        self, make_writer, spark: SparkSession, table_path: str, table_rows
    ) -> None:
        """Write-audit-publish: a failed validation restores the old version and re-raises."""
        make_writer().append(spark.createDataFrame([(1, "a")], SCHEMA), table_path)
        writer = make_writer(post_hooks=[failing_hook])

        with pytest.raises(HookFailedError) as info:
            writer.merge(spark.createDataFrame([(1, "b"), (2, "c")], SCHEMA), table_path, ["id"])

        assert table_rows(table_path) == [(1, "a")]
        history = writer.history(table_path)
        assert [h["operation"] for h in history] == ["RESTORE", "MERGE", "WRITE"]
        assert history[0]["writer_metadata"]["rolled_back_version"] == 1
        assert "restored to version 0" in " ".join(info.value.__notes__)

    def test_rollback_of_a_created_table_deletes_its_rows(
        self, make_writer, spark: SparkSession, table_path: str, table_rows
    ) -> None:
        """A failed first write cannot restore to before creation: its rows are deleted."""
        writer = make_writer(post_hooks=[failing_hook])

        with pytest.raises(HookFailedError) as info:
            writer.append(spark.createDataFrame([(1, "a")], SCHEMA), table_path)

        assert table_rows(table_path) == []
        assert "rows were deleted" in " ".join(info.value.__notes__)

    def test_no_rollback_when_switched_off(
        self, make_writer, spark: SparkSession, table_path: str, table_rows
    ) -> None:
        """With rollback_on_failure=False the commit stays and the hook error propagates."""
        writer = make_writer(post_hooks=[failing_hook], rollback_on_failure=False)

        with pytest.raises(HookFailedError):
            writer.append(spark.createDataFrame([(1, "a")], SCHEMA), table_path)
        assert table_rows(table_path) == [(1, "a")]

    def test_rollback_refused_when_others_committed_since(
        self, make_writer, spark: SparkSession, table_path: str, table_rows
    ) -> None:
        """Restoring would discard a later writer's commit: RollbackError, nothing restored."""

        def other_writer_then_fail(context: WriteContext) -> None:
            spark.createDataFrame([(9, "other")], SCHEMA).write.format("delta").mode("append").save(
                context.target
            )
            raise HookFailedError("late validation")

        make_writer().append(spark.createDataFrame([(1, "a")], SCHEMA), table_path)
        writer = make_writer(post_hooks=[other_writer_then_fail])

        with pytest.raises(RollbackError, match=r"versions 2\.\.2 were committed") as info:
            writer.append(spark.createDataFrame([(2, "b")], SCHEMA), table_path)
        assert info.value.version == 1
        assert isinstance(info.value.__cause__, HookFailedError)
        assert table_rows(table_path) == [(1, "a"), (2, "b"), (9, "other")]


def conflict() -> ConcurrentAppendException:
    """The exception Delta raises when a concurrent commit added files this one read."""
    return ConcurrentAppendException(
        "Files were added to the root of the table by a concurrent update."
    )


class TestConflictRetry:
    def test_conflict_is_retried_with_bounded_jittered_backoff(
        self,
        make_writer,
        spark: SparkSession,
        table_path: str,
        table_rows,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        """Two conflicts then success: three attempts, delays within the doubling caps."""
        writer = make_writer(retry_backoff_s=1.0, max_backoff_s=1.5)
        delays: list[float] = []
        writer._sleep = delays.append
        real_save = writer.engine.save
        failures = iter([conflict(), conflict()])

        def flaky_save(*args: Any, **kwargs: Any) -> None:
            error = next(failures, None)
            if error is not None:
                raise error
            real_save(*args, **kwargs)

        monkeypatch.setattr(writer.engine, "save", flaky_save)
        result = writer.append(spark.createDataFrame([(1, "a")], SCHEMA), table_path)

        assert result.attempts == 3
        assert table_rows(table_path) == [(1, "a")]
        assert 0.5 <= delays[0] <= 1.0
        assert 0.75 <= delays[1] <= 1.5

    def test_persistent_conflict_names_the_conflict(
        self,
        make_writer,
        spark: SparkSession,
        table_path: str,
        table_versions,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        """After the last attempt ConcurrentWriteError names Delta's conflict class."""
        writer = make_writer(max_retries=2, retry_backoff_s=0.01)
        writer._sleep = lambda _: None
        writer.append(spark.createDataFrame([(1, "a")], SCHEMA), table_path)

        def always_conflict(*_: Any, **__: Any) -> None:
            raise conflict()

        monkeypatch.setattr(writer.engine, "save", always_conflict)
        with pytest.raises(ConcurrentWriteError, match="ConcurrentAppendException") as info:
            writer.append(spark.createDataFrame([(2, "b")], SCHEMA), table_path)

        assert info.value.conflict == "ConcurrentAppendException"
        assert info.value.attempts == 3
        assert "after 3 attempt(s)" in str(info.value)
        assert table_versions(table_path) == [0]

    def test_real_delta_conflict_is_retried(
        self, make_writer, spark: SparkSession, table_path: str, table_rows, tmp_path: Path
    ) -> None:
        """A concurrent overwrite landing mid-MERGE makes Delta raise; the retry then lands."""
        armed, started, go = (tmp_path / n for n in ("armed", "started", "go"))
        make_writer().append(spark.createDataFrame([(1, "a"), (2, "b")], SCHEMA), table_path)

        def wait_once(value: int) -> int:
            # Runs in a Python worker during the MERGE's first attempt only, and blocks one
            # task only (the plan may read the source more than once, e.g. for the key
            # checks): the first to create `started` waits, every other row passes.
            if armed.exists() and not go.exists():
                try:
                    os.close(os.open(started, os.O_CREAT | os.O_EXCL))
                except FileExistsError:
                    return value
                deadline = time.monotonic() + 60
                while not go.exists() and time.monotonic() < deadline:
                    time.sleep(0.05)
            return value

        blocking = sf.udf(wait_once, IntegerType(), useArrow=False)
        # One partition: the blocked task holds one of the two local cores, the other runs
        # the concurrent overwrite.
        source = (
            spark.createDataFrame([(2, "B"), (3, "c")], SCHEMA)
            .coalesce(1)
            .withColumn("id", blocking("id"))
        )
        writer = make_writer(
            pre_hooks=[lambda _: armed.touch()], retry_backoff_s=0.01, max_backoff_s=0.02
        )
        outcome: dict[str, Any] = {}
        thread = threading.Thread(
            target=lambda: outcome.update(result=writer.merge(source, table_path, ["id"]))
        )
        thread.start()
        deadline = time.monotonic() + 60
        while not started.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        spark.createDataFrame([(1, "x"), (2, "y")], SCHEMA).write.format("delta").mode(
            "overwrite"
        ).option("userMetadata", "other writer").save(table_path)
        go.touch()
        thread.join(timeout=300)

        result = outcome["result"]
        assert result.attempts == 2
        assert table_rows(table_path) == [(1, "x"), (2, "B"), (3, "c")]
        assert [h["operation"] for h in make_writer().history(table_path)] == [
            "MERGE",
            "WRITE",
            "WRITE",
        ]


class TestConcurrentWriters:
    def test_two_threads_merging_disjoint_keys_both_land(
        self, spark: SparkSession, writer: SafeDeltaWriter, table_path: str, table_rows
    ) -> None:
        """Two threads merging into one table both commit, each with its own metadata."""
        writer.append(spark.createDataFrame([(0, "seed")], SCHEMA), table_path)
        batches = {
            "left": spark.createDataFrame([(1, "l1"), (2, "l2")], SCHEMA),
            "right": spark.createDataFrame([(3, "r3"), (4, "r4")], SCHEMA),
        }
        results: dict[str, Any] = {}
        errors: list[BaseException] = []

        def run(name: str) -> None:
            try:
                results[name] = writer.merge(batches[name], table_path, ["id"], run_id=name)
            except BaseException as exc:  # surfaced by the assertion below
                errors.append(exc)

        threads = [threading.Thread(target=run, args=(name,)) for name in batches]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=300)

        assert errors == []
        assert table_rows(table_path) == [(0, "seed"), (1, "l1"), (2, "l2"), (3, "r3"), (4, "r4")]
        assert {results["left"].version, results["right"].version} == {1, 2}
        run_ids = {
            h["version"]: h["writer_metadata"].get("run_id") for h in writer.history(table_path)
        }
        assert run_ids[results["left"].version] == "left"
        assert run_ids[results["right"].version] == "right"
