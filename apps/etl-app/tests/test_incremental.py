"""Incremental gold, honest reconciliation, specs as data and the layout migration, on tiny data.

Batch 3 (written below, after the bundled sample's batches 1 and 2) exercises every way a batch
changes gold: 1001 cancelled (customer 1's first order date goes), 1004 cancelled (customer 1
has no revenue order left: its lifetime value row goes), 1003 moved from 2024-01-01 to
2024-01-05 (its customer's first and last dates move), 1011 completed (customer 2 gains a
later order), 1005 reassigned from customer 4 to customer 5, 1013 new (customer 5), and two
customer changes (1's e-mail, 7's segment) that only change gold attributes.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import itertools
import json
import shutil
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from _app_runs import detail, history
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F  # noqa: N812
from pyspark.sql import types as T  # noqa: N812

import etl_app._cli as cli
from etl_app import (
    DEFAULT_SPECS,
    LakeLayoutError,
    Pipeline,
    ReconciliationError,
    RunReport,
    TableSpec,
    WriteMode,
    load_config,
    run_pipeline,
)
from etl_app import _transform as tr
from etl_app._config import SourceConfig
from etl_app._resources import resource_path
from etl_app._specs import ORDERS
from etl_app._state import Ledger
from schema_registry import Field, SchemaRegistry, TableSchema

pytestmark = pytest.mark.spark

ORDERS_3 = [
    ("1001", "1", "2024-01-01T10:00:00", "100.00", "cancelled", "GB"),
    ("1004", "1", "2024-01-02T09:00:00", "40.00", "cancelled", "GB"),
    ("1003", "3", "2024-01-05T12:00:00", "75.25", "shipped", "US"),
    ("1011", "2", "2024-01-03T09:30:00", "20.00", "completed", "GB"),
    ("1005", "5", "2024-01-02T10:00:00", "60.00", "completed", "NL"),
    ("1013", "5", "2024-01-04T09:00:00", "15.00", "completed", "US"),
]
CUSTOMERS_3 = (
    "customer_id,name,email,country,segment,updated_at\n"
    "1,Ada Lovelace,ada@new.example,GB,retail,2024-01-04T00:00:00\n"
    "7,Donald Knuth,don@example.com,US,smb,2024-01-04T00:00:00\n"
)
ORDER_FIELDS = ("order_id", "customer_id", "order_ts", "amount", "status", "country")


def setup_input(tmp_path: Path, files: list[str], extra: str = "") -> Path:
    """Copy sample files into an input folder and write a config; return the config path."""
    input_dir = tmp_path / "input"
    input_dir.mkdir()
    for name in files:
        shutil.copy(resource_path("sample") / name, input_dir / name)
    config = tmp_path / "etl.yaml"
    config.write_text(f"input: {{dir: {input_dir}}}\noutput: {{root: {tmp_path / 'out'}}}\n{extra}")
    return config


def land_orders(input_dir: Path, name: str, batch: list[tuple[str, ...]]) -> None:
    """Write ``batch`` (rows of ORDER_FIELDS) as the JSON lines file ``name``."""
    lines = [json.dumps(dict(zip(ORDER_FIELDS, row, strict=True))) for row in batch]
    (input_dir / name).write_text("\n".join(lines) + "\n")


def write_batch_3(input_dir: Path) -> None:
    """Batch 3 of orders and customers (see the module docstring)."""
    land_orders(input_dir, "orders_0003.json", ORDERS_3)
    (input_dir / "customers_0003.csv").write_text(CUSTOMERS_3)


def rows(df: DataFrame, *columns: str) -> list[tuple[Any, ...]]:
    """The frame's rows projected on ``columns`` (all when none), sorted."""
    selected = df.select(*columns) if columns else df
    return sorted(
        (tuple(r) for r in selected.collect()),
        key=lambda t: tuple((v is not None, v) for v in t),
    )


def table(spark: SparkSession, root: Path, name: str) -> DataFrame:
    """A Delta table under the data root."""
    return spark.read.format("delta").load(str(root / name))


def last_operation(spark: SparkSession, path: Path) -> str:
    """The operation of a table's newest commit."""
    return str(history(spark, path)[0]["operation"])


@dataclass
class Lake:
    """Three batches landed one run each."""

    root: Path
    reports: list[RunReport]
    #: The ledger table's newest version after each run.
    ledger_versions: list[int]


@pytest.fixture(scope="module")
def lake(spark: SparkSession, tmp_path_factory: pytest.TempPathFactory) -> Lake:
    """Batches 1, 2 and 3, each landed by its own full run."""
    base = tmp_path_factory.mktemp("incremental")
    config_path = setup_input(base, ["customers_0001.csv", "orders_0001.json"])
    config = load_config(config_path)
    ledger = base / "out" / "_etl_state" / "batches"
    reports = [run_pipeline(config, spark=spark)]
    versions = [history(spark, ledger)[0]["version"]]
    for name in ("customers_0002.csv", "orders_0002.json"):
        shutil.copy(resource_path("sample") / name, base / "input" / name)
    reports.append(run_pipeline(config, spark=spark))
    versions.append(history(spark, ledger)[0]["version"])
    write_batch_3(base / "input")
    reports.append(run_pipeline(config, spark=spark))
    versions.append(history(spark, ledger)[0]["version"])
    return Lake(base / "out", reports, versions)


class TestIncrementalGold:
    def test_silver_tables_are_laid_out_for_incremental_reads(
        self, spark: SparkSession, lake: Lake
    ) -> None:
        """Silver orders are partitioned by order date; both silver tables record changes."""
        for name, partitions in (("orders", ["order_date"]), ("customers", [])):
            row = detail(spark, lake.root / "silver" / name)
            assert list(row["partitionColumns"]) == partitions
            assert row["properties"]["delta.enableChangeDataFeed"] == "true"

    def test_tables_keyed_by_customer_merge_with_deletion_vectors(
        self, spark: SparkSession, lake: Lake
    ) -> None:
        """Batch 3's MERGEs by customer mark replaced rows instead of rewriting their files."""
        for name in ("silver/customers", "gold/customer_lifetime_value"):
            row = detail(spark, lake.root / name)
            assert row["properties"].get("delta.enableDeletionVectors") == "true", name
            assert "deletionVectors" in row["tableFeatures"], name
            merges = [
                c["operationMetrics"]
                for c in history(spark, lake.root / name)
                if c["operation"] == "MERGE"
            ]
            # Without deletion vectors batch 2 copies the rows it leaves alone into new files.
            assert [int(m["numTargetRowsCopied"]) for m in merges] == [0] * len(merges), name
            assert any(int(m["numTargetDeletionVectorsAdded"]) >= 1 for m in merges), name
        # Orders are MERGEd by a growing key, so a batch's orders sit in few files: none there.
        orders = detail(spark, lake.root / "silver/orders")
        assert "delta.enableDeletionVectors" not in orders["properties"]

    def test_gold_dates_are_exactly_those_the_batch_changed(self, lake: Lake) -> None:
        """Old and new dates of every changed order, from the batch's silver commit."""
        assert lake.reports[2].gold_dates == [
            "2024-01-01",
            "2024-01-02",
            "2024-01-03",
            "2024-01-04",
            "2024-01-05",
        ]

    def test_daily_revenue_equals_a_full_recompute(self, spark: SparkSession, lake: Lake) -> None:
        """After the three batches, revenue per day and country is what all of silver says."""
        gold = table(spark, lake.root, "gold/daily_revenue")
        orders = table(spark, lake.root, "silver/orders")
        dates = [r[0] for r in orders.select("order_date").distinct().collect()]
        assert rows(gold) == rows(tr.daily_revenue(orders, dates).select(*gold.columns))
        assert rows(gold, "order_date", "country", "order_count", "revenue") == [
            (date(2024, 1, 1), "GB", 1, Decimal("250.50")),
            (date(2024, 1, 2), "NL", 1, Decimal("60.00")),
            (date(2024, 1, 3), "GB", 1, Decimal("20.00")),
            (date(2024, 1, 3), "US", 1, Decimal("300.00")),
            (date(2024, 1, 4), "US", 1, Decimal("15.00")),
            (date(2024, 1, 5), "US", 1, Decimal("75.25")),
        ]

    def test_lifetime_value_is_merged_and_equals_a_rebuild(
        self, spark: SparkSession, lake: Lake
    ) -> None:
        """The MERGE of the touched customers leaves what a rebuild from all of silver gives."""
        gold = table(spark, lake.root, "gold/customer_lifetime_value")
        rebuilt = tr.customer_lifetime_value(
            table(spark, lake.root, "silver/orders"), table(spark, lake.root, "silver/customers")
        )
        assert rows(gold) == rows(rebuilt.select(*gold.columns))
        assert rows(
            gold,
            "customer_id",
            "email",
            "segment",
            "order_count",
            "lifetime_value",
            "first_order_date",
            "last_order_date",
        ) == [
            (
                2,
                "alan@newmail.example",
                "enterprise",
                2,
                Decimal("270.50"),
                date(2024, 1, 1),
                date(2024, 1, 3),
            ),
            (
                3,
                "grace@example.com",
                "retail",
                1,
                Decimal("75.25"),
                date(2024, 1, 5),
                date(2024, 1, 5),
            ),
            (
                5,
                "barbara@example.com",
                "enterprise",
                2,
                Decimal("75.00"),
                date(2024, 1, 2),
                date(2024, 1, 4),
            ),
            (7, "don@example.com", "smb", 1, Decimal("300.00"), date(2024, 1, 3), date(2024, 1, 3)),
        ]
        for report in lake.reports[1:]:
            steps = [s for s in report.steps if s.table == "gold.customer_lifetime_value"]
            assert [s.operation for s in steps] == ["merge"]

    def test_a_full_run_saves_bronze_and_silver_batches_in_one_ledger_commit(
        self, spark: SparkSession, lake: Lake
    ) -> None:
        """Five ledger commits per run: ids, one save of bronze and silver, gold's three."""
        # Batch ids allocated; bronze's and silver's batches saved together as gold starts;
        # the gold run's id allocated; its batches claimed; their gold marked done.
        assert [b - a for a, b in itertools.pairwise(lake.ledger_versions)] == [5, 5]
        saved = Ledger.load(spark, str(lake.root))
        for source in ("orders", "customers"):
            assert [
                (b.batch_id, b.bronze_rows is not None, b.silver_done, b.gold_done)
                for b in saved.sources[source]
            ] == [(1, True, True, True), (2, True, True, True), (3, True, True, True)]

    def test_every_batch_reconciles_term_by_term(self, lake: Lake) -> None:
        """Batch 3: 6 orders and 2 customers in, all landed; each term counted on its own."""
        records = {(r["table"], r["batch_id"]): r for r in lake.reports[2].reconciliation}
        orders = records[("silver.orders", 3)]
        assert {k: orders[k] for k in ("bronze", "gate_in", "dedup_kept", "silver", "ok")} == {
            "bronze": 6,
            "gate_in": 6,
            "dedup_kept": 6,
            "silver": 6,
            "ok": True,
        }
        assert records[("silver.customers", 3)]["silver"] == 2


def clv(spark: SparkSession, root: Path, customer_id: int) -> tuple[Any, ...]:
    """One customer's lifetime value: count, value, first and last dates, revenue days."""
    found = rows(
        table(spark, root, "gold/customer_lifetime_value").filter(f"customer_id = {customer_id}"),
        "order_count",
        "lifetime_value",
        "first_order_date",
        "last_order_date",
        "revenue_days",
    )
    assert len(found) == 1, found
    return (*found[0][:4], [tuple(d) for d in found[0][4]])


#: Customer 1's lifetime value once 1004 is cancelled: 1001 (2024-01-01, 100.00) is left.
ONLY_1001 = (1, Decimal("100.00"), date(2024, 1, 1), date(2024, 1, 1), [(date(2024, 1, 1), 1)])


class TestRevenueDays:
    def test_a_cancelled_last_order_moves_the_date_without_reading_other_orders(
        self, spark: SparkSession, tmp_path: Path
    ) -> None:
        """Customer 1's last order (1004, 2024-01-02) is cancelled: last date 2024-01-01.

        The other silver orders files are deleted first: a recount from silver would fail on
        them. Gold keeps revenue orders per day, so the update needs only the batch.
        """
        config = load_config(setup_input(tmp_path, ["customers_0001.csv", "orders_0001.json"]))
        assert run_pipeline(config, spark=spark).status == "success"
        out = tmp_path / "out"
        assert clv(spark, out, 1) == (
            2,
            Decimal("140.00"),
            date(2024, 1, 1),
            date(2024, 1, 2),
            [(date(2024, 1, 1), 1), (date(2024, 1, 2), 1)],
        )
        other_days = {
            r["f"]
            for r in table(spark, out, "silver/orders")
            .filter("order_date != DATE'2024-01-02'")
            .select(F.input_file_name().alias("f"))
            .collect()
        }
        assert other_days
        for uri in other_days:
            Path(uri.removeprefix("file:")).unlink()
        land_orders(
            tmp_path / "input",
            "orders_0002.json",
            [("1004", "1", "2024-01-02T09:00:00", "40.00", "cancelled", "GB")],
        )

        report = run_pipeline(config, spark=spark)

        assert report.status == "success", report.error
        assert clv(spark, out, 1) == ONLY_1001
        assert last_operation(spark, out / "gold" / "customer_lifetime_value") == "MERGE"

    def test_an_order_without_a_date_counts_but_has_no_day(self, spark: SparkSession) -> None:
        """Gates that let order_ts be NULL: such an order counts, and no day is recorded."""
        order_type = "customer_id bigint, order_date date, amount decimal(12,2), status string"
        orders = spark.createDataFrame(
            [
                (10, date(2024, 1, 1), Decimal("5.00"), "completed"),
                (10, None, Decimal("7.00"), "shipped"),
            ],
            order_type,
        )
        customers = spark.createDataFrame(
            [(10, "A", "a@example.com", "GB", "retail", True)],
            "customer_id bigint, name string, email string, country string, segment string, "
            "is_current boolean",
        )
        built = tr.customer_lifetime_value(orders, customers)
        summary = ("order_count", "lifetime_value", "first_order_date", "last_order_date")
        assert rows(built, *summary, tr.REVENUE_DAYS) == [
            (2, Decimal("12.00"), date(2024, 1, 1), date(2024, 1, 1), [(date(2024, 1, 1), 1)])
        ]
        changes = spark.createDataFrame(
            [(10, None, Decimal("1.00"), "completed", "insert")],
            f"{order_type}, _change_type string",
        )
        touched = spark.createDataFrame([(10,)], "customer_id bigint")
        updated = tr.clv_update(touched, built, tr.clv_changes(changes))
        assert rows(updated, *summary, "_recount") == [
            (3, Decimal("13.00"), date(2024, 1, 1), date(2024, 1, 1), False)
        ]

    def test_a_table_without_revenue_days_is_rebuilt_once_then_merged(
        self, spark: SparkSession, tmp_path: Path
    ) -> None:
        """A gold table written by the schema's v1 gets the column from a rebuild of silver."""
        config = load_config(setup_input(tmp_path, ["customers_0001.csv", "orders_0001.json"]))
        assert run_pipeline(config, spark=spark).status == "success"
        out = tmp_path / "out"
        target = str(out / "gold" / "customer_lifetime_value")
        v1 = spark.read.format("delta").load(target).drop(tr.REVENUE_DAYS).localCheckpoint()
        v1.write.format("delta").mode("overwrite").option("overwriteSchema", "true").save(target)
        for name in ("customers_0002.csv", "orders_0002.json"):
            shutil.copy(resource_path("sample") / name, tmp_path / "input" / name)

        report = run_pipeline(config, spark=spark)

        assert report.status == "success", report.error
        gold = table(spark, out, "gold/customer_lifetime_value")
        assert tr.REVENUE_DAYS in gold.columns
        rebuilt = tr.customer_lifetime_value(
            table(spark, out, "silver/orders"), table(spark, out, "silver/customers")
        )
        assert rows(gold) == rows(rebuilt.select(*gold.columns))
        assert last_operation(spark, Path(target)) == "WRITE"
        write_batch_3(tmp_path / "input")
        assert run_pipeline(config, spark=spark).status == "success"
        assert last_operation(spark, Path(target)) == "MERGE"

    def test_gold_out_of_step_with_silver_is_recounted_for_those_customers(
        self, spark: SparkSession, tmp_path: Path
    ) -> None:
        """A day count below zero or a removal without a row: those customers are recounted.

        Customer 1's row is deleted and customer 2's revenue days are wrong before a batch
        cancels an order of each; both end as a rebuild from silver says.
        """
        config = load_config(setup_input(tmp_path, ["customers_0001.csv", "orders_0001.json"]))
        assert run_pipeline(config, spark=spark).status == "success"
        out = tmp_path / "out"
        target = f"delta.`{out / 'gold' / 'customer_lifetime_value'}`"
        spark.sql(f"DELETE FROM {target} WHERE customer_id = 1")
        spark.sql(
            f"UPDATE {target} SET revenue_days = array(named_struct("
            "'order_date', DATE'2024-01-05', 'orders', CAST(1 AS BIGINT))) WHERE customer_id = 2"
        )
        land_orders(
            tmp_path / "input",
            "orders_0002.json",
            [
                ("1004", "1", "2024-01-02T09:00:00", "40.00", "cancelled", "GB"),
                ("1002", "2", "2024-01-01T11:00:00", "250.50", "cancelled", "GB"),
            ],
        )

        report = run_pipeline(config, spark=spark)

        assert report.status == "success", report.error
        assert clv(spark, out, 1) == ONLY_1001
        gold = table(spark, out, "gold/customer_lifetime_value")
        assert gold.filter("customer_id = 2").count() == 0
        rebuilt = tr.customer_lifetime_value(
            table(spark, out, "silver/orders"), table(spark, out, "silver/customers")
        )
        assert rows(gold) == rows(rebuilt.select(*gold.columns))


class TestKeyRangeMerge:
    def test_orders_merge_reads_only_the_files_of_the_batch_key_range(
        self, spark: SparkSession, tmp_path: Path
    ) -> None:
        """Silver orders' data files below the batch's order ids are deleted; the batch lands.

        Order ids grow with time (``keys_grow``), so the MERGE ranges its match on the batch's
        ids and Delta skips the older files: a MERGE that read them would fail on the missing
        files. The new orders land in silver and reconcile.
        """
        config = load_config(setup_input(tmp_path, ["orders_0001.json"]))
        assert run_pipeline(config, spark=spark).status == "success"
        silver = tmp_path / "out" / "silver" / "orders"
        old_files = {
            r["f"]
            for r in table(spark, tmp_path / "out", "silver/orders")
            .select(F.input_file_name().alias("f"))
            .collect()
        }
        assert old_files
        for uri in old_files:
            Path(uri.removeprefix("file:")).unlink()
        batch = [
            ("5001", "1", "2024-01-01T10:00:00", "10.00", "completed", "GB"),
            ("5002", "2", "2024-01-06T10:00:00", "20.00", "completed", "GB"),
        ]
        land_orders(tmp_path / "input", "orders_0002.json", batch)

        assert run_pipeline(config, spark=spark, stages="bronze").status == "success"
        report = run_pipeline(config, spark=spark, stages="silver")

        assert report.status == "success", report.error
        assert [r["ok"] for r in report.reconciliation if r["batch_id"] == 2] == [True]
        landed = spark.read.format("delta").load(str(silver)).filter("order_id >= 5000")
        assert rows(landed, "order_id", "amount") == [
            (5001, Decimal("10.00")),
            (5002, Decimal("20.00")),
        ]


class TestLostRows:
    def test_row_lost_before_the_gate_stops_the_batch_before_writing(
        self, spark: SparkSession, tmp_path: Path
    ) -> None:
        """A typing step that loses a row fails 'gate_in == bronze'; silver is never written."""
        config = load_config(setup_input(tmp_path, ["orders_0002.json"]))
        run_pipeline(config, spark=spark, stages="bronze")
        lossy = dataclasses.replace(
            ORDERS, typing=lambda df: tr.type_orders(df).filter("order_id != 1010")
        )
        pipeline = Pipeline(config, spark, specs=(DEFAULT_SPECS[0], lossy))

        with pytest.raises(ReconciliationError) as info:
            pipeline.run("silver")

        assert (info.value.check, info.value.missing) == ("gate_in == bronze", 1)
        assert "1 row missing in check gate_in == bronze" in str(info.value)
        assert "Nothing was written to silver" in str(info.value)
        assert not (tmp_path / "out" / "silver" / "orders").exists()
        assert pipeline.report.reconciliation[0]["ok"] is False

    def test_row_lost_after_the_dedup_rolls_the_commit_back_and_a_rerun_lands_it(
        self, spark: SparkSession, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A row lost between dedup and commit fails against Delta's count; silver is restored."""
        config = load_config(setup_input(tmp_path, ["orders_0001.json"]))
        run_pipeline(config, spark=spark)
        silver = tmp_path / "out" / "silver" / "orders"
        before = rows(spark.read.format("delta").load(str(silver)))
        shutil.copy(resource_path("sample") / "orders_0002.json", tmp_path / "input")
        keep_latest = tr.latest_rows
        monkeypatch.setattr(
            tr, "latest_rows", lambda ranked: keep_latest(ranked).filter("order_id != 1010")
        )

        with pytest.raises(ReconciliationError) as info:
            run_pipeline(config, spark=spark)

        error = info.value
        assert (error.check, error.missing, error.rolled_back) == ("silver == dedup_kept", 1, True)
        assert (error.counts["dedup_kept"], error.counts["silver"]) == (3, 2)
        assert "1 row missing in check silver == dedup_kept" in str(error)
        assert "rolled back, so silver is unchanged" in str(error)
        assert rows(spark.read.format("delta").load(str(silver))) == before
        assert last_operation(spark, silver) == "RESTORE"
        ledger = Ledger.load(spark, str(tmp_path / "out"))
        batch = ledger.sources["orders"][1]
        assert (batch.silver_done, batch.silver_attempt) == (False, 1)

        # Fixed. Had the process died before saving the attempt, the ledger would still say
        # attempt 0: the rerun finds that attempt's commit rolled back in the table history and
        # writes under a fresh transaction id anyway (Delta would skip the spent one).
        batch.silver_attempt = 0
        ledger.save()
        monkeypatch.setattr(tr, "latest_rows", keep_latest)
        report = run_pipeline(config, spark=spark)
        landed = {
            r["order_id"]: r["status"]
            for r in table(spark, tmp_path / "out", "silver/orders").collect()
        }
        assert landed[1010] == "completed"
        assert landed[1005] == "completed"
        assert [r["ok"] for r in report.reconciliation] == [True]
        ledger = Ledger.load(spark, str(tmp_path / "out"))
        assert ledger.sources["orders"][1].silver_attempt == 1

    def test_commit_of_an_interrupted_run_is_found_and_reconciled(
        self, spark: SparkSession, tmp_path: Path
    ) -> None:
        """A silver commit whose ledger update was lost is found, reconciled, folded into gold."""
        config = load_config(setup_input(tmp_path, ["customers_0001.csv", "orders_0001.json"]))
        run_pipeline(config, spark=spark)
        out = tmp_path / "out"
        # Customer 4 unchanged (no SCD2 commit at all), and the sample's batch 2 of orders.
        (tmp_path / "input" / "customers_0002.csv").write_text(
            "customer_id,name,email,country,segment,updated_at\n"
            "4,Edsger Dijkstra,edsger@example.com,NL,smb,2024-01-03T00:00:00\n"
        )
        shutil.copy(resource_path("sample") / "orders_0002.json", tmp_path / "input")
        run_pipeline(config, spark=spark, stages="bronze")
        ledger = Ledger.load(spark, str(out)).location
        before_silver = history(spark, ledger)[0]["version"]
        first = run_pipeline(config, spark=spark, stages="silver")
        version = history(spark, out / "silver/orders")[0]["version"]
        # The ledger update of that run was lost.
        spark.sql(f"RESTORE TABLE delta.`{ledger}` TO VERSION AS OF {before_silver}")

        again = run_pipeline(config, spark=spark, stages="silver")

        # Nothing written twice.
        assert history(spark, out / "silver/orders")[0]["version"] == version
        (step,) = [s for s in again.steps if s.table == "silver.orders"]
        assert step.skipped is not None
        for report in (first, again):
            records = {r["table"]: r for r in report.reconciliation}
            assert (records["silver.orders"]["silver"], records["silver.orders"]["ok"]) == (3, True)
            assert (records["silver.customers"]["silver"], records["silver.customers"]["ok"]) == (
                1,
                True,
            )
        saved = Ledger.load(spark, str(out)).sources["orders"][1]
        assert (saved.silver_done, saved.silver_version) == (True, version)
        gold = run_pipeline(config, spark=spark, stages="gold")
        assert gold.gold_dates == ["2024-01-02", "2024-01-03"]
        assert rows(
            table(spark, out, "gold/daily_revenue"), "order_date", "country", "revenue"
        ) == [
            (date(2024, 1, 1), "GB", Decimal("350.50")),
            (date(2024, 1, 1), "US", Decimal("75.25")),
            (date(2024, 1, 2), "GB", Decimal("40.00")),
            (date(2024, 1, 2), "NL", Decimal("60.00")),
            (date(2024, 1, 3), "US", Decimal("300.00")),
        ]


def type_products(bronze: DataFrame) -> DataFrame:
    """Typing of the test's third source."""
    return bronze.select(
        F.col("product_id").try_cast(T.LongType()).alias("product_id"),
        F.trim("name").alias("name"),
        F.col("price").try_cast(T.DecimalType(10, 2)).alias("price"),
        F.col("updated_at").try_cast(T.TimestampType()).alias("updated_at"),
        F.col("batch_id"),
    )


PRODUCTS = TableSpec(
    name="products",
    key="product_id",
    order_by="updated_at",
    typing=type_products,
    columns=("product_id", "name", "price", "updated_at", "batch_id"),
    mode=WriteMode.MERGE,
    input=SourceConfig("products_*.csv", "csv"),
)


class TestThirdSource:
    def test_a_new_source_is_a_spec_a_gate_and_its_schemas(
        self, spark: SparkSession, tmp_path: Path
    ) -> None:
        """A products spec flows to bronze, quarantine and silver with no pipeline change."""
        registry = tmp_path / "registry"
        shutil.copytree(resource_path("schemas"), registry)
        reg = SchemaRegistry(registry)
        raw = ["product_id", "name", "price", "updated_at"]
        reg.register(
            "bronze.products",
            TableSchema(
                [Field(c, "string") for c in raw]
                + [
                    Field("ingested_at", "timestamp", False),
                    Field("source_file", "string", False),
                    Field("run_id", "string", False),
                    Field("batch_id", "bigint", False),
                ]
            ),
        )
        reg.register(
            "silver.products",
            TableSchema(
                [
                    Field("product_id", "bigint"),
                    Field("name", "string"),
                    Field("price", "decimal(10,2)"),
                    Field("updated_at", "timestamp"),
                    Field("batch_id", "bigint"),
                ]
            ),
        )
        gates = tmp_path / "gates"
        shutil.copytree(resource_path("gates"), gates)
        (gates / "silver.products.yaml").write_text(
            "name: silver.products\ndefault_action: quarantine\ncolumns:\n"
            "  product_id: {dtype: bigint}\n  name: {dtype: string}\n"
            "  price:\n    dtype: decimal(10,2)\n"
            "    checks: [{in_range: {min_value: 0, max_value: 10000}}]\n"
            "  updated_at: {dtype: timestamp}\n  batch_id: {dtype: bigint}\n"
        )
        config_path = setup_input(
            tmp_path, [], f"schemas: {{dir: {registry}}}\ngates: {{dir: {gates}}}\n"
        )
        (tmp_path / "input" / "products_0001.csv").write_text(
            "product_id,name,price,updated_at\n"
            "1,Widget,9.99,2024-01-01T00:00:00\n"
            "1,Widget v2,12.50,2024-01-02T00:00:00\n"
            "2,Gadget,free,2024-01-01T00:00:00\n"
            "3,Doohickey,3.00,2024-01-01T00:00:00\n"
        )

        pipeline = Pipeline(load_config(config_path), spark, specs=(*DEFAULT_SPECS, PRODUCTS))
        report = pipeline.run()

        out = tmp_path / "out"
        assert rows(table(spark, out, "silver/products"), "product_id", "name", "price") == [
            (1, "Widget v2", Decimal("12.50")),
            (3, "Doohickey", Decimal("3.00")),
        ]
        assert rows(table(spark, out, "quarantine/products"), "product_id") == [(2,)]
        (record,) = report.reconciliation
        assert (record["table"], record["bronze"], record["silver"]) == ("silver.products", 4, 2)
        assert (record["quarantined"], record["duplicates_dropped"], record["ok"]) == (1, 1, True)
        assert Ledger.load(spark, str(out)).sources["products"][0].gold_done is True


def run_cli(spark: SparkSession, argv: list[str]) -> tuple[int, str, str]:
    """Run the CLI in-process with the test session; return exit code, stdout and stderr."""
    out, err = io.StringIO(), io.StringIO()
    with (
        pytest.MonkeyPatch.context() as mp,
        contextlib.redirect_stdout(out),
        contextlib.redirect_stderr(err),
    ):
        mp.setattr(cli, "build_spark_session", lambda config: spark)
        code = cli.main(argv)
    return code, out.getvalue(), err.getvalue()


class TestMigration:
    def test_a_lake_of_etl_app_0_1_is_refused_then_migrated(
        self, spark: SparkSession, tmp_path: Path
    ) -> None:
        """Old silver layout: a clear error naming the migrate command; after it, batch 2 lands."""
        new = tmp_path / "new"
        new.mkdir()
        run_pipeline(
            load_config(setup_input(new, ["customers_0001.csv", "orders_0001.json"])), spark=spark
        )
        # The same lake as etl-app 0.1 left it: silver unpartitioned without change data feed,
        # a ledger without format and per-batch gold state.
        old = tmp_path / "old"
        old.mkdir()
        config_path = setup_input(old, ["customers_0002.csv", "orders_0002.json"])
        root = old / "out"
        shutil.copytree(new / "out", root, ignore=shutil.ignore_patterns("silver", "_etl_state"))
        for name in ("customers", "orders"):
            current = table(spark, new / "out", f"silver/{name}")
            spark.createDataFrame(current.collect(), current.schema).write.format("delta").save(
                str(root / "silver" / name)
            )
        ledger_path = root / "_state" / "ledger.json"
        ledger_path.parent.mkdir()
        newer = ("silver_attempt", "silver_version", "gold_run", "gold_done")
        newer += ("length", "modified_ms", "skipped")
        ledger = {
            "sources": {
                name: [
                    {k: v for k, v in dataclasses.asdict(b).items() if k not in newer}
                    for b in batches
                ]
                for name, batches in Ledger.load(spark, str(new / "out")).sources.items()
            }
        }
        ledger_path.write_text(json.dumps(ledger))
        config = load_config(config_path)

        with pytest.raises(LakeLayoutError) as info:
            run_pipeline(config, spark=spark)
        assert "silver.customers" in str(info.value)
        assert "change data feed off" in str(info.value)
        assert "etl-app migrate" in str(info.value)

        code, out, err = run_cli(spark, ["migrate", "--config", str(config_path)])
        assert code == 0, err
        lines = out.splitlines()
        assert lines[0].startswith("silver.customers: migrated (change data feed off")
        assert lines[1].startswith("silver.orders: migrated (partitioned by nothing, expected")
        assert "rows)" in lines[1]

        report = run_pipeline(config, spark=spark)

        assert report.status == "success"
        assert report.gold_dates == ["2024-01-02", "2024-01-03"]
        assert list(detail(spark, root / "silver" / "orders")["partitionColumns"]) == ["order_date"]
        assert rows(table(spark, root, "silver/orders"), "order_id", "status") == [
            (1001, "completed"),
            (1002, "completed"),
            (1003, "shipped"),
            (1004, "completed"),
            (1005, "completed"),
            (1010, "completed"),
            (1011, "cancelled"),
        ]
        clv = table(spark, root, "gold/customer_lifetime_value")
        assert rows(clv, "customer_id", "country", "order_count") == [
            (1, "GB", 2),
            (2, "GB", 1),
            (3, "CA", 1),
            (4, "NL", 1),
            (7, "US", 1),
        ]
        code, out, _ = run_cli(spark, ["migrate", "--config", str(config_path)])
        assert code == 0
        assert [line.split(":")[1].split("(")[0].strip() for line in out.splitlines()] == [
            "up to date",
            "up to date",
            "up to date",
        ]

    def test_deletion_vectors_off_then_switched_on_by_migrate(
        self, spark: SparkSession, tmp_path: Path
    ) -> None:
        """output.deletion_vectors false creates plain tables; migrate switches them on later."""
        config_path = setup_input(tmp_path, ["customers_0001.csv", "orders_0001.json"])
        root = tmp_path / "out"
        config = load_config(config_path)
        off = dataclasses.replace(
            config, output=dataclasses.replace(config.output, deletion_vectors=False)
        )
        assert run_pipeline(off, spark=spark).status == "success"
        customer_tables = ("silver/customers", "gold/customer_lifetime_value")
        for name in customer_tables:
            assert "deletionVectors" not in detail(spark, root / name)["tableFeatures"], name

        # The config file keeps the default (on).
        code, out, err = run_cli(spark, ["migrate", "--config", str(config_path)])

        assert code == 0, err
        lines = out.splitlines()
        assert lines[0].startswith("silver.customers: migrated (deletion vectors off")
        assert lines[1].startswith("silver.orders: up to date")
        assert lines[2].startswith("gold.customer_lifetime_value: migrated (deletion vectors off")
        for name in customer_tables:
            assert "deletionVectors" in detail(spark, root / name)["tableFeatures"], name
        for name in ("customers_0002.csv", "orders_0002.json"):
            shutil.copy(resource_path("sample") / name, tmp_path / "input" / name)
        assert run_pipeline(config, spark=spark).status == "success"
        merge = history(spark, root / "silver/customers")[0]
        assert merge["operation"] == "MERGE"
        assert int(merge["operationMetrics"]["numTargetDeletionVectorsAdded"]) >= 1
