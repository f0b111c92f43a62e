"""The README's examples run as written, in order, and leave the tables they describe.

A reader pastes the README's python blocks into one interpreter: the quick start, then the
usage blocks, which continue from the quick start's ``spark``. The README's ``local_session()``
returns the test process's session (the ``spark`` fixture starts it first).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import io
from pathlib import Path
from typing import Any, NamedTuple

import pytest
from pyspark.sql import SparkSession

from pipeline_testkit import run_readme_examples

pytestmark = [
    pytest.mark.spark,
    pytest.mark.no_connect("the README's local_session() starts a classic local session"),
]

README = Path(__file__).parents[1] / "README.md"
MAY1, MAY2 = dt.date(2024, 5, 1), dt.date(2024, 5, 2)
#: silver orders as the README's upsert left them (the version its restore brings back).
UPSERTED = [
    (10, MAY1, "new", 12.5),
    (11, MAY1, "paid", 30.0),
    (12, MAY2, "new", 8.0),
    (13, MAY2, "new", 99.0),
]


class Run(NamedTuple):
    """One run of the README: its namespace after the last block, what it printed, its folder."""

    namespace: dict[str, Any]
    printed: list[str]
    workdir: Path


@pytest.fixture(scope="module")
def readme(spark: SparkSession, tmp_path_factory: pytest.TempPathFactory) -> Run:
    """Run the README once for this module, in a fresh folder, after the session started."""
    workdir = tmp_path_factory.mktemp("readme")
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        namespace = run_readme_examples(README, workdir)
    return Run(namespace, out.getvalue().splitlines(), workdir)


def table(spark: SparkSession, path: str, version: int | None = None) -> list[tuple[Any, ...]]:
    """A Delta table's rows (optionally as of a version), sorted."""
    reader = spark.read.format("delta")
    if version is not None:
        reader = reader.option("versionAsOf", version)
    return sorted(tuple(row) for row in reader.load(path).collect())


def operations(spark: SparkSession, path: str) -> list[tuple[int, str]]:
    """A Delta table's commits, oldest first: (version, operation)."""
    history = spark.sql(f"DESCRIBE HISTORY delta.`{path}`").collect()
    return sorted((row["version"], row["operation"]) for row in history)


def test_quick_start_uses_the_test_session_and_prints_what_the_readme_shows(
    spark: SparkSession, readme: Run
) -> None:
    """The README's local_session() returns the running session; the output is as shown."""
    namespace, printed = readme.namespace, readme.printed
    assert namespace["spark"] is spark
    path = namespace["path"]
    assert printed[:4] == [
        "append 0 2",
        f"True batch 1 of app 'orders-job' is already committed to {path} (Delta txn), or "
        "empty input: nothing to append, Delta made no commit",
        "merge 1 1 1",
        "DuplicateKeyError 1",
    ]
    assert table(spark, path) == [(1, "NEW", 10.0), (2, "PAID", 20.0), (3, "NEW", 5.0)]


def test_appends_create_the_tables(spark: SparkSession, readme: Run) -> None:
    """The appends create bronze (partitioned) and silver under the working directory."""
    namespace, printed = readme.namespace, readme.printed
    rows = [(10, MAY1, "new", 12.5), (11, MAY1, "new", 30.0), (12, MAY2, "new", 8.0)]
    assert table(spark, namespace["bronze_orders"]) == rows
    partitioning = spark.sql(f"DESCRIBE DETAIL delta.`{namespace['bronze_orders']}`").collect()
    assert partitioning[0]["partitionColumns"] == ["order_date"]
    assert table(spark, namespace["silver_orders"], version=0) == rows
    assert "0 3 False None" in printed  # the comment beside the README's print
    assert namespace["summary"]["batch_id"] == 42
    assert namespace["summary"]["run_id"] == "2024-05-01T02:00"
    assert Path(namespace["lake"]) == readme.workdir / "lake"  # under the working directory


def test_merges_upsert_update_listed_columns_delete_and_append_new_keys(
    spark: SparkSession, readme: Run
) -> None:
    """Each merge does what its comment says: upsert, update_columns + delete_when, new keys."""
    namespace = readme.namespace
    orders = namespace["silver_orders"]
    upsert = namespace["upsert"]
    assert (upsert.rows_updated, upsert.rows_inserted) == (1, 1)
    assert table(spark, orders, version=upsert.version) == UPSERTED
    # delete_when removed the cancelled 12; update_columns kept 11's order_date (May 1).
    assert table(spark, orders, version=upsert.version + 1) == [
        (10, MAY1, "new", 12.5),
        (11, MAY1, "shipped", 31.0),
        (13, MAY2, "new", 99.0),
    ]
    assert table(spark, orders, version=upsert.version + 2) == [
        (10, MAY1, "new", 12.5),
        (11, MAY1, "shipped", 31.0),
        (13, MAY2, "new", 99.0),
        (14, MAY2, "new", 15.0),
        (15, MAY2, "new", 22.0),
    ]


def test_overwrite_partitions_replaces_the_day_and_clears_with_allow_empty(
    spark: SparkSession, readme: Run
) -> None:
    """The day is replaced; the gold table is created partitioned, then allow_empty clears May 2."""
    namespace = readme.namespace
    # The day replacement, the commit before the restore.
    assert table(spark, namespace["silver_orders"], version=4) == [
        (10, MAY1, "paid", 12.5),
        (11, MAY1, "shipped", 31.0),
        (13, MAY2, "new", 99.0),
        (14, MAY2, "new", 15.0),
        (15, MAY2, "new", 22.0),
        (16, MAY1, "new", 5.0),
    ]
    revenue = namespace["gold_revenue"]
    assert table(spark, revenue, version=0) == [(MAY1, 48.5), (MAY2, 136.0)]
    assert table(spark, revenue) == [(MAY1, 48.5)]
    assert operations(spark, revenue) == [(0, "WRITE"), (1, "DELETE")]
    detail = spark.sql(f"DESCRIBE DETAIL delta.`{revenue}`").collect()[0]
    assert detail["partitionColumns"] == ["order_date"]


def test_full_overwrite_then_schema_replacement(spark: SparkSession, readme: Run) -> None:
    """The full overwrite writes the totals; overwrite_schema replaces their columns."""
    namespace = readme.namespace
    totals = namespace["gold_totals"]
    assert table(spark, totals, version=0) == [(MAY1, 3, 48.5), (MAY2, 3, 136.0)]
    frame = spark.read.format("delta").load(totals)
    assert frame.columns == ["order_date", "revenue_cents"]
    assert table(spark, totals) == [(MAY1, 4850), (MAY2, 13600)]


def test_scd2_closes_changed_and_missing_keys(spark: SparkSession, readme: Run) -> None:
    """May's snapshot closes 1's April row and 3's (missing), opens 1's new tier, keeps 2."""
    namespace = readme.namespace
    april, may = dt.datetime(2024, 4, 1), dt.datetime(2024, 5, 1)
    rows = (
        spark.read.format("delta")
        .load(namespace["silver_customers"])
        .select("customer_id", "tier", "valid_from", "valid_to", "is_current")
        .collect()
    )
    assert sorted(tuple(row) for row in rows) == [
        (1, "gold", may, None, True),
        (1, "silver", april, may, False),
        (2, "gold", april, None, True),
        (3, "silver", april, may, False),
    ]


def test_restore_brings_back_the_upserted_version_and_history_lists_it(
    spark: SparkSession, readme: Run
) -> None:
    """The restore brings back the upsert's version; history lists it, newest first."""
    namespace, printed = readme.namespace, readme.printed
    orders = namespace["silver_orders"]
    upsert = namespace["upsert"]
    history = namespace["history"]
    assert [commit["version"] for commit in history] == [5, 4, 3, 2, 1]
    assert history[0]["operation"] == "RESTORE"
    assert history[0]["writer_metadata"]["operation"] == "restore"
    assert upsert.version == 1
    assert table(spark, orders, version=5) == UPSERTED
    assert "[(5, 'RESTORE'), (4, 'WRITE'), (3, 'MERGE'), (2, 'MERGE'), (1, 'MERGE')]" in printed


def test_failing_post_hook_rolls_the_append_back(spark: SparkSession, readme: Run) -> None:
    """The raising post-write hook re-raises after a RESTORE: the refund is not in the table."""
    namespace, printed = readme.namespace, readme.printed
    orders = namespace["silver_orders"]
    assert printed[-1] == "negative amounts after append v6"
    assert operations(spark, orders)[-2:] == [(6, "WRITE"), (7, "RESTORE")]
    assert table(spark, orders) == UPSERTED  # as the restore (version 5) left it
