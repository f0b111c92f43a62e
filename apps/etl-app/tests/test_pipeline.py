"""End-to-end runs on the bundled sample: batch 1, then batch 2, then a rerun of the same input.

The expected values are computed by hand from the files in ``etl_app/resources/sample``:

batch 1 customers (8 rows): ids 1-5, a duplicate of 5, a NULL id, id 6 with country ``XXX``
  -> silver 5, quarantined 2, duplicates 1.
batch 1 orders (11 rows): 1001-1005, a duplicate of 1005, 1006 (NULL customer), 1007 (amount
  ``abc``), 1008 (amount -5), 1009 (status ``teleported``), a NULL order id
  -> silver 5, quarantined 5, duplicates 1.
batch 2 customers (4 rows): 2 changes e-mail, 3 moves US -> CA (late: effective 2024-01-02
  12:00, before the file's other rows), 4 unchanged, 7 new -> silver 4 rows in, 2 new versions.
batch 2 orders (4 rows, extra column ``coupon_code``): 1005 pending -> completed, 1010 new
  (completed, US, 300), 1011 new (cancelled), 1012 amount 10,000,000 -> quarantined.
"""

from __future__ import annotations

import contextlib
import io
import json
import shutil
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from _app_runs import TABLES
from pyspark.sql import SparkSession

import etl_app._cli as cli
from etl_app import load_config
from etl_app._pipeline import run_pipeline
from etl_app._resources import resource_path
from etl_metrics import EtlMetrics

pytestmark = pytest.mark.spark


@dataclass
class Snapshot:
    """Contents and Delta versions of every table after one run."""

    rows: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    versions: dict[str, int] = field(default_factory=dict)
    report: dict[str, Any] = field(default_factory=dict)
    stdout: str = ""


def delta_version(path: Path) -> int:
    """Latest committed version of a Delta table, read from its log folder."""
    return max(int(p.stem) for p in (path / "_delta_log").glob("*.json"))


def snapshot(spark: SparkSession, root: Path, report_path: str, stdout: str = "") -> Snapshot:
    """Collect every table (tiny) and its version."""
    snap = Snapshot(stdout=stdout)
    snap.report = json.loads(Path(report_path).read_text())
    for table in TABLES:
        path = root / table
        if not (path / "_delta_log").is_dir():
            continue
        snap.rows[table] = [
            r.asDict() for r in spark.read.format("delta").load(str(path)).collect()
        ]
        snap.versions[table] = delta_version(path)
    return snap


def run_cli(spark: SparkSession, argv: list[str]) -> tuple[int, str]:
    """Run the CLI in-process with the test session; return exit code and stdout."""
    out = io.StringIO()
    with pytest.MonkeyPatch.context() as mp, contextlib.redirect_stdout(out):
        mp.setattr(cli, "build_spark_session", lambda config: spark)
        code = cli.main(argv)
    return code, out.getvalue()


@dataclass
class History:
    """The three runs of the module fixture."""

    root: Path
    input: Path
    first: Snapshot
    second: Snapshot
    rerun: Snapshot
    rerun_codes: list[int]
    second_metrics: EtlMetrics


@pytest.fixture(scope="module")
def history(spark: SparkSession, tmp_path_factory: pytest.TempPathFactory) -> History:
    """Batch 1 via the CLI, batch 2 via the API, then the same input again stage by stage."""
    base = tmp_path_factory.mktemp("pipeline")
    sample = resource_path("sample")
    input_dir = base / "input"
    input_dir.mkdir()
    root = base / "out"
    config_file = base / "etl.yaml"
    config_file.write_text(f"input: {{dir: {input_dir}}}\noutput: {{root: {root}}}\n")
    for name in ("customers_0001.csv", "orders_0001.json"):
        shutil.copy(sample / name, input_dir / name)

    code, stdout = run_cli(spark, ["run", "--config", str(config_file)])
    assert code == 0, stdout
    report_path = stdout.strip().splitlines()[-1].removeprefix("run report: ")
    first = snapshot(spark, root, report_path, stdout)

    for name in ("customers_0002.csv", "orders_0002.json"):
        shutil.copy(sample / name, input_dir / name)
    second_metrics = EtlMetrics()
    report = run_pipeline(load_config(config_file), spark=spark, metrics=second_metrics)
    second = snapshot(spark, root, report.report_path)

    codes = []
    for stage in ("bronze", "silver", "gold"):
        code, stdout = run_cli(spark, ["run", "--config", str(config_file), "--cmd", stage])
        codes.append(code)
    report_path = stdout.strip().splitlines()[-1].removeprefix("run report: ")
    rerun = snapshot(spark, root, report_path, stdout)
    return History(root, input_dir, first, second, rerun, codes, second_metrics)


def by(rows: list[dict[str, Any]], *keys: str) -> list[tuple[Any, ...]]:
    """Rows projected on ``keys`` and sorted (NULLs first)."""
    return sorted(
        (tuple(r[k] for k in keys) for r in rows),
        key=lambda t: tuple((v is not None, v) for v in t),
    )


class TestBronze:
    def test_every_delivered_row_lands_with_ingestion_columns(self, history: History) -> None:
        """Bronze keeps all 8 + 11 raw rows of batch 1, tagged with file, run and batch id."""
        rows = history.first.rows["bronze/orders"]
        assert len(rows) == 11
        assert len(history.first.rows["bronze/customers"]) == 8
        assert {r["batch_id"] for r in rows} == {1}
        assert {Path(r["source_file"]).name for r in rows} == {"orders_0001.json"}
        assert {r["run_id"] for r in rows} == {history.first.report["run_id"]}
        assert all(isinstance(r["ingested_at"], datetime) for r in rows)
        assert sorted(r["amount"] for r in rows if r["order_id"] == "1007") == ["abc"]

    def test_second_batch_is_appended_under_its_own_batch_id(self, history: History) -> None:
        """Batch 2 adds 4 customer and 4 order rows with batch id 2."""
        orders = history.second.rows["bronze/orders"]
        assert len(orders) == 15
        assert len(history.second.rows["bronze/customers"]) == 12
        assert sum(r["batch_id"] == 2 for r in orders) == 4

    def test_extra_column_is_reported_as_drift_and_not_ingested_under_warn(
        self, history: History
    ) -> None:
        """coupon_code is drift (extra_column) under policy warn: reported, kept out of bronze."""
        drift = history.second.report["drift"]
        assert [(d["table"], Path(d["file"]).name, d["policy"]) for d in drift] == [
            ("bronze.orders", "orders_0002.json", "warn")
        ]
        assert [(c["path"], c["kind"]) for c in drift[0]["changes"]] == [
            ("coupon_code", "extra_column")
        ]
        assert "coupon_code" not in history.second.rows["bronze/orders"][0]
        assert "schema drift:" in Path(history.second.report["report_path"]).read_text() or drift


class TestQuarantine:
    def test_rejected_orders_are_quarantined_with_their_reasons(self, history: History) -> None:
        """The five bad orders of batch 1 land in quarantine with the checks they failed."""
        rows = history.first.rows["quarantine/orders"]
        reasons = {r["order_id"]: sorted(r["_dq_failed_checks"]) for r in rows}
        assert reasons == {
            None: ["order_id.not_null"],
            1006: ["customer_id.not_null"],
            1007: ["amount.not_null"],
            1008: ["amount.in_range"],
            1009: ["status.isin"],
        }
        assert {r["amount_raw"] for r in rows if r["order_id"] == 1007} == {"abc"}
        assert {r["batch_id"] for r in rows} == {1}

    def test_rejected_customers_are_quarantined_with_their_reasons(self, history: History) -> None:
        """The NULL-key customer and the bad country code are quarantined."""
        rows = history.first.rows["quarantine/customers"]
        reasons = {r["customer_id"]: list(r["_dq_failed_checks"]) for r in rows}
        assert reasons == {None: ["customer_id.not_null"], 6: ["country.str_length"]}

    def test_batch_two_quarantines_the_out_of_range_amount(self, history: History) -> None:
        """Order 1012 (amount 10,000,000) is quarantined from batch 2."""
        rows = [r for r in history.second.rows["quarantine/orders"] if r["batch_id"] == 2]
        assert [(r["order_id"], r["amount_raw"]) for r in rows] == [(1012, "10000000.00")]


class TestSilver:
    def test_orders_are_typed_deduplicated_and_upserted(self, history: History) -> None:
        """Silver orders hold each order once, typed, with batch 2's update of 1005 applied."""
        rows = history.second.rows["silver/orders"]
        assert by(rows, "order_id", "customer_id", "amount", "status", "country") == [
            (1001, 1, Decimal("100.00"), "completed", "GB"),
            (1002, 2, Decimal("250.50"), "completed", "GB"),
            (1003, 3, Decimal("75.25"), "shipped", "US"),
            (1004, 1, Decimal("40.00"), "completed", "GB"),
            (1005, 4, Decimal("60.00"), "completed", "NL"),
            (1010, 7, Decimal("300.00"), "completed", "US"),
            (1011, 2, Decimal("20.00"), "cancelled", "GB"),
        ]
        first = {r["order_id"]: r for r in history.first.rows["silver/orders"]}
        assert sorted(first) == [1001, 1002, 1003, 1004, 1005]
        assert first[1005]["status"] == "pending"
        assert first[1001]["order_date"] == date(2024, 1, 1)

    def test_customers_keep_scd2_history(self, history: History) -> None:
        """Changed customers get a closed old version and a new current one; others do not."""
        rows = history.second.rows["silver/customers"]
        assert by(
            rows, "customer_id", "email", "country", "is_current", "valid_from", "valid_to"
        ) == [
            (1, "ada@example.com", "GB", True, datetime(2024, 1, 1), None),
            (2, "alan@example.com", "GB", False, datetime(2024, 1, 1), datetime(2024, 1, 3)),
            (2, "alan@newmail.example", "GB", True, datetime(2024, 1, 3), None),
            (3, "grace@example.com", "CA", True, datetime(2024, 1, 2, 12), None),
            (3, "grace@example.com", "US", False, datetime(2024, 1, 1), datetime(2024, 1, 2, 12)),
            (4, "edsger@example.com", "NL", True, datetime(2024, 1, 1), None),
            (5, "barbara@example.com", "US", True, datetime(2024, 1, 1), None),
            (7, "don@example.com", "US", True, datetime(2024, 1, 3), None),
        ]

    def test_first_batch_loads_every_customer_as_current(self, history: History) -> None:
        """After batch 1 every valid customer has exactly one, current, version."""
        rows = history.first.rows["silver/customers"]
        assert by(rows, "customer_id", "is_current") == [(i, True) for i in range(1, 6)]


class TestGold:
    def test_daily_revenue_after_each_batch(self, history: History) -> None:
        """Revenue per day and country counts completed and shipped orders only."""
        cols = ("order_date", "country", "order_count", "revenue")
        assert by(history.first.rows["gold/daily_revenue"], *cols) == [
            (date(2024, 1, 1), "GB", 2, Decimal("350.50")),
            (date(2024, 1, 1), "US", 1, Decimal("75.25")),
            (date(2024, 1, 2), "GB", 1, Decimal("40.00")),
        ]
        assert by(history.second.rows["gold/daily_revenue"], *cols) == [
            (date(2024, 1, 1), "GB", 2, Decimal("350.50")),
            (date(2024, 1, 1), "US", 1, Decimal("75.25")),
            (date(2024, 1, 2), "GB", 1, Decimal("40.00")),
            (date(2024, 1, 2), "NL", 1, Decimal("60.00")),
            (date(2024, 1, 3), "US", 1, Decimal("300.00")),
        ]

    def test_only_the_touched_dates_are_rewritten(self, history: History) -> None:
        """Batch 2 touches 2024-01-02 (order 1005) and 2024-01-03; 2024-01-01 is not rewritten."""
        assert history.first.report["gold_dates"] == ["2024-01-01", "2024-01-02"]
        assert history.second.report["gold_dates"] == ["2024-01-02", "2024-01-03"]
        steps = [s for s in history.second.report["steps"] if s["table"] == "gold.daily_revenue"]
        assert [s["operation"] for s in steps] == ["overwrite_partitions"]

    def test_customer_lifetime_value_uses_current_attributes(self, history: History) -> None:
        """CLV sums revenue orders per customer and shows the customer's current country."""
        cols = ("customer_id", "country", "order_count", "lifetime_value", "last_order_date")
        assert by(history.second.rows["gold/customer_lifetime_value"], *cols) == [
            (1, "GB", 2, Decimal("140.00"), date(2024, 1, 2)),
            (2, "GB", 1, Decimal("250.50"), date(2024, 1, 1)),
            (3, "CA", 1, Decimal("75.25"), date(2024, 1, 1)),
            (4, "NL", 1, Decimal("60.00"), date(2024, 1, 2)),
            (7, "US", 1, Decimal("300.00"), date(2024, 1, 3)),
        ]


class TestReconciliation:
    def test_every_batch_reconciles(self, history: History) -> None:
        """Bronze == silver + quarantined + duplicates dropped, for each batch of each table."""
        records = history.first.report["reconciliation"] + history.second.report["reconciliation"]
        got = [
            (
                r["table"],
                r["batch_id"],
                r["bronze"],
                r["silver"],
                r["quarantined"],
                r["duplicates_dropped"],
                r["ok"],
            )
            for r in records
        ]
        assert got == [
            ("silver.customers", 1, 8, 5, 2, 1, True),
            ("silver.orders", 1, 11, 5, 5, 1, True),
            ("silver.customers", 2, 4, 4, 0, 0, True),
            ("silver.orders", 2, 4, 3, 1, 0, True),
        ]


class TestIdempotentRerun:
    def test_rerun_changes_no_table(self, history: History) -> None:
        """Running the same input again, stage by stage, commits nothing and changes no row."""
        assert history.rerun_codes == [0, 0, 0]
        assert history.rerun.versions == history.second.versions
        for table in TABLES:
            assert by(history.rerun.rows[table], *sorted(history.rerun.rows[table][0])) == by(
                history.second.rows[table], *sorted(history.second.rows[table][0])
            ), table

    def test_same_content_under_a_new_name_is_the_same_batch(
        self, spark: SparkSession, history: History
    ) -> None:
        """A copy of an ingested file under another name is recognised and skipped."""
        copy = history.input / "orders_0003.json"
        shutil.copy(history.input / "orders_0001.json", copy)
        try:
            code, _ = run_cli(
                spark,
                [
                    "run",
                    "--input",
                    str(history.input),
                    "--output",
                    str(history.root),
                    "--cmd",
                    "bronze",
                ],
            )
        finally:
            copy.unlink()
        assert code == 0
        assert (
            delta_version(history.root / "bronze/orders")
            == history.second.versions["bronze/orders"]
        )


class TestRunReport:
    def test_report_and_summary(self, history: History) -> None:
        """The JSON report and the printed summary describe the run."""
        report = history.first.report
        assert report["status"] == "success"
        assert report["stages"] == "full"
        assert set(report["stage_durations_s"]) == {"bronze", "silver", "gold", "table_metrics"}
        tables = {(s["stage"], s["table"]) for s in report["steps"]}
        assert ("silver", "quarantine.orders") in tables
        assert ("gold", "gold.customer_lifetime_value") in tables
        assert "SUCCESS" in history.first.stdout
        assert "silver.orders batch 1: 11 = 5 + 5 + 1  ok" in history.first.stdout
        assert report["metrics_sink"].startswith("textfile ")

    def test_metrics_textfile_holds_the_job_metrics(self, history: History) -> None:
        """Without a Pushgateway each run's metrics replace the textfile under the data root."""
        lines = (history.root / "metrics" / "etl_app.prom").read_text().splitlines()
        assert 'etl_job_executions_total{env="local",job="etl-app",status="success"} 1.0' in lines
        stages = {
            line.split('stage="')[1].split('"')[0]
            for line in lines
            if line.startswith("etl_stage_duration_seconds_count{")
        }
        # The file holds the last run only (a single --cmd stage run), not a running total.
        assert len(stages) == 1
        assert stages <= {"bronze", "silver", "gold"}

    def test_table_gauges_hold_deltas_size_files_and_versions_of_each_written_table(
        self, spark: SparkSession, history: History
    ) -> None:
        """Every table batch 2 wrote: its size and files as DESCRIBE DETAIL gives them."""
        registry = history.second_metrics.registry
        written = {
            step["table"]: step["version"]
            for step in history.second.report["steps"]
            if step["version"] is not None
        }
        assert {"silver.orders", "silver.customers", "gold.daily_revenue"} <= set(written)
        for table, version in written.items():
            # The rerun committed nothing: the newest version is still batch 2's.
            detail = spark.sql(
                f"DESCRIBE DETAIL delta.`{history.root / table.replace('.', '/')}`"
            ).collect()[0]
            labels = {"table": table}
            assert registry.get_sample_value("delta_table_size_bytes", labels) == float(
                detail["sizeInBytes"]
            ), table
            assert registry.get_sample_value("delta_table_files", labels) == detail["numFiles"]
            assert registry.get_sample_value("delta_table_versions", labels) == version + 1

    def test_rerun_report_shows_nothing_to_do(self, history: History) -> None:
        """The rerun's gold stage reports that gold is up to date (no writes)."""
        assert history.rerun.report["stages"] == "gold"
        assert history.rerun.report["steps"] == []
