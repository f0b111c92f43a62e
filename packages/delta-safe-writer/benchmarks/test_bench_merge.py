"""MERGE of 100k rows into 1M: SafeDeltaWriter.merge vs raw Delta doing the same MERGE.

Two pairs: the DeltaTable engine vs ``DeltaTable.merge``, and the SQL engine (the Spark Connect
path) vs a raw ``MERGE INTO`` statement. A third comparison measures how a batch's cost grows
with the table under ``prune_by_key_range``.
"""

from __future__ import annotations

import itertools
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from delta.tables import DeltaTable
from pyspark.sql import DataFrame, SparkSession

from delta_safe_writer import SafeDeltaWriter
from pipeline_testkit import SparkMode, scaled

pytestmark = pytest.mark.spark


class SafeMerge:
    """The safe side of a merge benchmark: a fresh 1M-row target per call, a 100k-row batch.

    Half the batch updates existing keys, half inserts new ones. The target is written by
    raw Delta, or (``kept_by_writer``) created by the writer's own merge, whose commit says
    the keys are unique.
    """

    def __init__(
        self,
        writer: SafeDeltaWriter,
        events: Callable[..., DataFrame],
        fresh_path: Callable[[], str],
        *,
        kept_by_writer: bool,
    ) -> None:
        self.writer = writer
        self.fresh_path = fresh_path
        self.kept_by_writer = kept_by_writer
        self.target_rows = scaled(full=1_000_000, tiny=2_000)
        self.source_rows = scaled(full=100_000, tiny=200)
        first = self.target_rows - self.source_rows // 2
        self.source = events(first, first + self.source_rows, version=1)
        self.target = events(0, self.target_rows)
        self.path = ""

    @property
    def table_label(self) -> str:
        """What the comparison's name says about the target."""
        return ", table kept by the writer" if self.kept_by_writer else ""

    def setup(self) -> None:
        """Untimed: a fresh target for every call, so each merge does the same work."""
        self.path = self.fresh_path()
        if self.kept_by_writer:
            self.writer.merge(self.target, self.path, ["id"])
        else:
            self.target.write.format("delta").save(self.path)

    def candidate(self) -> None:
        """The safe merge, checked to update and insert what the batch holds."""
        result = self.writer.merge(self.source, self.path, ["id"])
        half = self.source_rows // 2
        assert (result.rows_updated, result.rows_inserted) == (half, self.source_rows - half)


@pytest.mark.no_connect("the baseline is DeltaTable.merge, which needs Delta Connect's plugin")
@pytest.mark.parametrize(
    ("check_target_keys", "kept_by_writer"),
    [(True, False), (False, False), (True, True)],
    ids=["with-target-key-check", "without-target-key-check", "writer-kept-table"],
)
def test_bench_merge(
    *,
    spark: SparkSession,
    compare: Callable[..., Any],
    events: Callable[..., DataFrame],
    fresh_path: Callable[[], str],
    check_target_keys: bool,
    kept_by_writer: bool,
) -> None:
    """The safe merge (in-job key checks, schema check, lookup, reconciliation) costs <= 10%.

    Run with and without the target key check (on by default) to show what that check, a
    second scan of the target's key column, costs; and, check on, into a table the writer
    created (its newest commit says the keys are unique, so the scan is not needed).
    """
    writer = SafeDeltaWriter(spark, app_id="bench", check_target_keys=check_target_keys)
    case = SafeMerge(writer, events, fresh_path, kept_by_writer=kept_by_writer)

    def baseline() -> None:
        (
            DeltaTable.forPath(spark, case.path)
            .alias("t")
            .merge(case.source.alias("s"), "t.`id` = s.`id`")
            .whenMatchedUpdateAll()
            .whenNotMatchedInsertAll()
            .execute()
        )

    comparison = compare(
        f"merge {case.source_rows} into {case.target_rows} (check_target_keys="
        f"{check_target_keys}{case.table_label}): safe vs raw",
        case.candidate,
        baseline,
        setup=case.setup,
        # The safe merge's own cost is of the order of the round-to-round noise of a ~2 s
        # MERGE: 9 rounds steady the medians.
        rounds=scaled(full=9, tiny=3),
        target=1.10,
    )
    assert comparison.baseline_median > 0


@pytest.mark.parametrize(
    "kept_by_writer", [False, True], ids=["raw-written-table", "writer-kept-table"]
)
def test_bench_merge_sql_engine(
    *,
    spark: SparkSession,
    spark_mode: SparkMode,
    compare: Callable[..., Any],
    events: Callable[..., DataFrame],
    fresh_path: Callable[[], str],
    kept_by_writer: bool,
) -> None:
    """The SQL engine's safe merge vs a raw MERGE INTO statement: <= 10% too.

    With ``--spark-connect`` both run over Spark Connect (the engine ``auto`` picks there).
    Into a table raw Delta wrote (the target's keys are scanned before the commit) and into
    one the writer created (its newest commit says the keys are unique: no scan).
    """
    case = SafeMerge(
        SafeDeltaWriter(spark, app_id="bench", engine="sql"),
        events,
        fresh_path,
        kept_by_writer=kept_by_writer,
    )
    view = "bench_merge_source"
    case.source.createOrReplaceTempView(view)

    def baseline() -> None:
        spark.sql(
            f"MERGE INTO delta.`{case.path}` AS t USING {view} AS s ON t.`id` = s.`id` "
            f"WHEN MATCHED THEN UPDATE SET * WHEN NOT MATCHED THEN INSERT *"
        )

    try:
        comparison = compare(
            f"merge {case.source_rows} into {case.target_rows} (SQL engine, {spark_mode}"
            f"{case.table_label}): safe vs raw MERGE INTO",
            case.candidate,
            baseline,
            setup=case.setup,
            rounds=scaled(full=9, tiny=3),
            target=1.10,
        )
    finally:
        spark.catalog.dropTempView(view)
    assert comparison.baseline_median > 0


def test_bench_merge_key_range_pruning(
    spark: SparkSession,
    compare: Callable[..., Any],
    events: Callable[..., DataFrame],
    tmp_path: Path,
) -> None:
    """With ``prune_by_key_range``, a batch of recent keys costs the same on a 20x larger table.

    Two tables grown the same way (files of 10k consecutive ids, as daily appends leave them):
    100k rows in 10 files and 2M rows in 200 files. The batch updates each table's newest 5k
    ids and inserts 5k new ones. Candidate: the safe merge (all checks) on the large table;
    baseline: the same on the small one. Without the range, the MERGE's match and the
    target-key check read all 200 files; with it, the last one or two (target <= 1.10).
    """
    sizes = {
        "large": scaled(full=2_000_000, tiny=20_000),
        "small": scaled(full=100_000, tiny=1_000),
    }
    per_file = scaled(full=10_000, tiny=100)
    half = scaled(full=5_000, tiny=50)
    writer = SafeDeltaWriter(spark, app_id="bench")
    tables = {
        name: events(0, rows).repartitionByRange(rows // per_file, "id")
        for name, rows in sizes.items()
    }
    batches = {name: events(rows - half, rows + half, version=1) for name, rows in sizes.items()}
    paths: dict[str, str] = {}
    rounds = itertools.count()

    def setup() -> None:
        # Untimed: fresh tables for every round (the last round's deleted), so each merge
        # does the same work.
        for old in paths.values():
            shutil.rmtree(old, ignore_errors=True)
        n = next(rounds)
        for name, table in tables.items():
            paths[name] = str(tmp_path / f"{name}-{n}")
            table.write.format("delta").save(paths[name])

    def land(name: str) -> None:
        result = writer.merge(batches[name], paths[name], ["id"], prune_by_key_range=True)
        assert (result.rows_updated, result.rows_inserted) == (half, half)

    comparison = compare(
        f"merge {2 * half} recent keys with prune_by_key_range: {sizes['large']}-row table "
        f"vs {sizes['small']}-row table",
        lambda: land("large"),
        lambda: land("small"),
        setup=setup,
        rounds=scaled(full=5, tiny=2),
        target=1.10,
    )
    assert comparison.baseline_median > 0
