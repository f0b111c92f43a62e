"""MERGE of 100k rows into 1M: SafeDeltaWriter.merge vs raw Delta doing the same MERGE.

Two pairs: the DeltaTable engine vs ``DeltaTable.merge``, and the SQL engine (the Spark Connect
path) vs a raw ``MERGE INTO`` statement.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from delta.tables import DeltaTable
from pyspark.sql import DataFrame, SparkSession

from delta_safe_writer import SafeDeltaWriter
from pipeline_testkit import SparkMode, scaled

pytestmark = pytest.mark.spark


@pytest.mark.no_connect("the baseline is DeltaTable.merge, which needs Delta Connect's plugin")
@pytest.mark.parametrize(
    "check_target_keys", [True, False], ids=["with-target-key-check", "without-target-key-check"]
)
def test_bench_merge(
    spark: SparkSession,
    compare: Callable[..., Any],
    events: Callable[..., DataFrame],
    fresh_path: Callable[[], str],
    check_target_keys: bool,
) -> None:
    """The safe merge (in-job key checks, schema check, lookup, reconciliation) costs <= 10%.

    Run with and without the target key check (on by default) to show what that check, a
    second scan of the target's key column, costs.
    """
    target_rows = scaled(full=1_000_000, tiny=2_000)
    source_rows = scaled(full=100_000, tiny=200)
    # Half the source updates existing keys, half inserts new ones.
    first = target_rows - source_rows // 2
    source = events(first, first + source_rows, version=1)
    target = events(0, target_rows)
    writer = SafeDeltaWriter(spark, app_id="bench", check_target_keys=check_target_keys)
    state: dict[str, str] = {}

    def setup() -> None:
        # Untimed: a fresh 1M-row target for every call, so each merge does the same work.
        state["path"] = fresh_path()
        target.write.format("delta").save(state["path"])

    def candidate() -> None:
        result = writer.merge(source, state["path"], ["id"])
        assert (result.rows_updated, result.rows_inserted) == (
            source_rows // 2,
            source_rows - source_rows // 2,
        )

    def baseline() -> None:
        (
            DeltaTable.forPath(spark, state["path"])
            .alias("t")
            .merge(source.alias("s"), "t.`id` = s.`id`")
            .whenMatchedUpdateAll()
            .whenNotMatchedInsertAll()
            .execute()
        )

    comparison = compare(
        f"merge {source_rows} into {target_rows} (check_target_keys={check_target_keys}): "
        f"safe vs raw",
        candidate,
        baseline,
        setup=setup,
        # The safe merge's own cost is of the order of the round-to-round noise of a ~2 s
        # MERGE: 9 rounds steady the medians.
        rounds=scaled(full=9, tiny=3),
        target=1.10,
    )
    assert comparison.baseline_median > 0


def test_bench_merge_sql_engine(
    spark: SparkSession,
    spark_mode: SparkMode,
    compare: Callable[..., Any],
    events: Callable[..., DataFrame],
    fresh_path: Callable[[], str],
) -> None:
    """The SQL engine's safe merge vs a raw MERGE INTO statement: <= 10% too.

    With ``--spark-connect`` both run over Spark Connect (the engine ``auto`` picks there).
    """
    target_rows = scaled(full=1_000_000, tiny=2_000)
    source_rows = scaled(full=100_000, tiny=200)
    first = target_rows - source_rows // 2
    source = events(first, first + source_rows, version=1)
    target = events(0, target_rows)
    writer = SafeDeltaWriter(spark, app_id="bench", engine="sql")
    view = "bench_merge_source"
    source.createOrReplaceTempView(view)
    state: dict[str, str] = {}

    def setup() -> None:
        state["path"] = fresh_path()
        target.write.format("delta").save(state["path"])

    def candidate() -> None:
        result = writer.merge(source, state["path"], ["id"])
        assert (result.rows_updated, result.rows_inserted) == (
            source_rows // 2,
            source_rows - source_rows // 2,
        )

    def baseline() -> None:
        spark.sql(
            f"MERGE INTO delta.`{state['path']}` AS t USING {view} AS s ON t.`id` = s.`id` "
            f"WHEN MATCHED THEN UPDATE SET * WHEN NOT MATCHED THEN INSERT *"
        )

    try:
        comparison = compare(
            f"merge {source_rows} into {target_rows} (SQL engine, {spark_mode}): "
            "safe vs raw MERGE INTO",
            candidate,
            baseline,
            setup=setup,
            rounds=scaled(full=9, tiny=3),
            target=1.10,
        )
    finally:
        spark.catalog.dropTempView(view)
    assert comparison.baseline_median > 0


@pytest.mark.no_connect("the baseline is DeltaTable.merge, which needs Delta Connect's plugin")
def test_bench_merge_key_range_pruning(
    spark: SparkSession,
    compare: Callable[..., Any],
    events: Callable[..., DataFrame],
    fresh_path: Callable[[], str],
) -> None:
    """A batch of recent keys into a table that grew in many files: pruned safe vs raw merge.

    The target is written as 50 files of consecutive ids (a table appended to day after day);
    the batch updates the newest 5k ids and inserts 5k new ones. ``prune_by_key_range``
    lets Delta read the last file only, where the raw MERGE reads all 50 to find its matches:
    the safe merge, checks included, must cost at most half the raw one.
    """
    target_rows = scaled(full=2_000_000, tiny=5_000)
    source_rows = scaled(full=10_000, tiny=100)
    first = target_rows - source_rows // 2
    source = events(first, first + source_rows, version=1)
    target = events(0, target_rows).repartitionByRange(scaled(full=50, tiny=5), "id")
    writer = SafeDeltaWriter(spark, app_id="bench")
    state: dict[str, str] = {}

    def setup() -> None:
        state["path"] = fresh_path()
        target.write.format("delta").save(state["path"])

    def candidate() -> None:
        result = writer.merge(source, state["path"], ["id"], prune_by_key_range=True)
        assert (result.rows_updated, result.rows_inserted) == (
            source_rows // 2,
            source_rows - source_rows // 2,
        )

    def baseline() -> None:
        (
            DeltaTable.forPath(spark, state["path"])
            .alias("t")
            .merge(source.alias("s"), "t.`id` = s.`id`")
            .whenMatchedUpdateAll()
            .whenNotMatchedInsertAll()
            .execute()
        )

    comparison = compare(
        f"merge {source_rows} recent keys into {target_rows} in 50 files: safe with "
        "prune_by_key_range vs raw",
        candidate,
        baseline,
        setup=setup,
        rounds=scaled(full=5, tiny=2),
        target=0.5,
    )
    assert comparison.baseline_median > 0
