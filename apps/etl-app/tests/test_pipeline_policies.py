"""Run-time policies on small inputs: drift, gates, reconciliation, SCD2 order, gold clearing."""

from __future__ import annotations

import contextlib
import io
import json
import shutil
from datetime import date, datetime
from pathlib import Path

import pytest
from _app_runs import detail, history
from pyspark.sql import SparkSession

import etl_app._cli as cli
from delta_safe_writer import OutOfOrderChangeError
from etl_app import HistoryValidationError, ReconciliationError, SchemaDriftError, load_config
from etl_app._pipeline import Pipeline, run_pipeline
from etl_app._resources import resource_path
from etl_app._state import Ledger
from schema_registry import DriftKind

pytestmark = pytest.mark.spark


def setup_run(tmp_path: Path, files: list[str], extra: str = "") -> Path:
    """Copy sample files into an input folder and write a config; return the config path."""
    input_dir = tmp_path / "input"
    input_dir.mkdir()
    for name in files:
        shutil.copy(resource_path("sample") / name, input_dir / name)
    config = tmp_path / "etl.yaml"
    config.write_text(f"input: {{dir: {input_dir}}}\noutput: {{root: {tmp_path / 'out'}}}\n{extra}")
    return config


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


def last_report(root: Path) -> dict[str, object]:
    """The most recent run report under a data root."""
    reports = sorted((root / "reports").glob("run-*.json"))
    return dict(json.loads(reports[-1].read_text()))


class TestDriftPolicy:
    def test_fail_stops_before_writing(self, spark: SparkSession, tmp_path: Path) -> None:
        """Policy fail raises SchemaDriftError naming file and column; bronze is not written."""
        config = setup_run(tmp_path, ["orders_0002.json"], "schemas: {drift_policy: fail}\n")
        with pytest.raises(SchemaDriftError, match=r"orders_0002.json drifted from bronze.orders"):
            run_pipeline(load_config(config), spark=spark, stages="bronze")
        assert not (tmp_path / "out" / "bronze" / "orders").exists()
        report = last_report(tmp_path / "out")
        assert report["status"] == "failed"
        assert "coupon_code: extra_column" in str(report["error"])

    def test_a_later_file_failing_keeps_the_earlier_batch_recorded(
        self, spark: SparkSession, tmp_path: Path
    ) -> None:
        """The ledger is saved at the stage's end, and also when a later batch fails it.

        orders_0001 lands in bronze; orders_0002 drifts under policy ``fail``. The ledger
        records batch 1 with its bronze rows (no rerun needed for it); the rerun under
        ``evolve`` lands only batch 2, and bronze holds every batch once.
        """
        config = setup_run(
            tmp_path, ["orders_0001.json", "orders_0002.json"], "schemas: {drift_policy: fail}\n"
        )
        with pytest.raises(SchemaDriftError, match=r"orders_0002.json drifted"):
            run_pipeline(load_config(config), spark=spark, stages="bronze")
        out = tmp_path / "out"

        def bronze_and_ledger() -> tuple[dict[int, int], dict[int, int | None]]:
            """Rows per batch in bronze orders, and the bronze rows the ledger records."""
            bronze = spark.read.format("delta").load(str(out / "bronze" / "orders"))
            rows = bronze.groupBy("batch_id").count().collect()
            ledger = Ledger.load(spark, str(out)).sources["orders"]
            return {r["batch_id"]: r["count"] for r in rows}, {
                b.batch_id: b.bronze_rows for b in ledger
            }

        in_bronze, recorded = bronze_and_ledger()
        assert in_bronze == {1: recorded[1]}
        assert recorded[1]
        assert recorded.get(2) is None

        config.write_text(config.read_text().replace("drift_policy: fail", "drift_policy: evolve"))
        run_pipeline(load_config(config), spark=spark, stages="bronze")
        in_bronze, recorded = bronze_and_ledger()
        assert in_bronze == recorded
        assert set(in_bronze) == {1, 2}
        # Batch 1 was not appended again: its only bronze commit is the first run's.
        writes = history(spark, out / "bronze" / "orders")
        landed = [w for w in writes if int((w["operationMetrics"] or {}).get("numOutputRows", 0))]
        assert len(landed) == 2

    def test_evolve_adds_the_new_column_to_bronze(
        self, spark: SparkSession, tmp_path: Path
    ) -> None:
        """Policy evolve appends the extra column to the bronze table, values kept."""
        config = setup_run(tmp_path, ["orders_0002.json"], "schemas: {drift_policy: evolve}\n")
        report = run_pipeline(load_config(config), spark=spark, stages="bronze")
        rows = spark.read.format("delta").load(str(tmp_path / "out" / "bronze" / "orders"))
        coupons = {r["order_id"]: r["coupon_code"] for r in rows.collect()}
        assert coupons == {"1005": None, "1010": "NEWYEAR", "1011": None, "1012": None}
        assert [d["policy"] for d in report.drift] == ["evolve"]
        # The drift metric is labelled with the kinds schema-registry emits, nothing renamed.
        prom = (tmp_path / "out" / "metrics" / "etl_app.prom").read_text().splitlines()
        drift = [line for line in prom if line.startswith("etl_schema_drift_detected_total{")]
        assert drift == [
            'etl_schema_drift_detected_total{kind="extra_column",table="bronze.orders"} 1.0'
        ]
        kinds = {line.split('kind="')[1].split('"')[0] for line in drift}
        assert kinds <= {k.value for k in DriftKind}


class TestGateFailure:
    def test_a_mostly_broken_batch_fails_the_gate(
        self, spark: SparkSession, tmp_path: Path
    ) -> None:
        """When more than half a batch fails its checks the run stops with the gate's table."""
        config = setup_run(tmp_path, [])
        bad = "\n".join(
            json.dumps(
                {
                    "order_id": str(i),
                    "customer_id": "1",
                    "order_ts": "2024-01-01T00:00:00",
                    "amount": "1.00",
                    "status": "lost",
                    "country": "GB",
                }
            )
            for i in range(3)
        )
        (tmp_path / "input" / "orders_0001.json").write_text(bad + "\n")
        code, _, err = run_cli(spark, ["run", "--config", str(config)])
        assert code == 1
        assert "GateFailedError" in err
        assert "gate 'silver.orders' failed" in err
        assert "limit(s) exceeded" in err
        assert not (tmp_path / "out" / "silver" / "orders").exists()


class TestReconciliation:
    def test_mismatch_between_ledger_and_silver_raises(
        self, spark: SparkSession, tmp_path: Path
    ) -> None:
        """A batch whose bronze count does not add up stops the run and stays pending."""
        config_path = setup_run(tmp_path, ["customers_0002.csv"])
        config = load_config(config_path)
        run_pipeline(config, spark=spark, stages="bronze")
        ledger = Ledger.load(spark, str(tmp_path / "out"))
        ledger.sources["customers"][0].bronze_rows = 5  # one row "lost" on the way
        ledger.save()
        with pytest.raises(ReconciliationError) as info:
            run_pipeline(config, spark=spark, stages="silver")
        assert info.value.counts["silver"] == 4
        assert "bronze has 5 rows but silver 4 + quarantined 0" in str(info.value)
        ledger = Ledger.load(spark, str(tmp_path / "out"))
        assert ledger.sources["customers"][0].silver_done is False
        report = last_report(tmp_path / "out")
        assert report["reconciliation"][0]["ok"] is False  # type: ignore[index]


class TestInputsAndMetricsSinks:
    def test_missing_input_folder_exits_2(self, spark: SparkSession, tmp_path: Path) -> None:
        """A missing input folder is a clear error with exit code 2."""
        code, _, err = run_cli(
            spark, ["run", "--input", str(tmp_path / "nope"), "--output", str(tmp_path / "o")]
        )
        assert code == 2
        assert f"input folder {tmp_path / 'nope'} does not exist" in err

    def test_unreachable_pushgateway_does_not_fail_the_run(
        self, spark: SparkSession, tmp_path: Path
    ) -> None:
        """A Pushgateway that is down is reported in the summary, and the run still succeeds."""
        config = setup_run(
            tmp_path,
            [],
            "metrics: {pushgateway: {url: 'http://127.0.0.1:9', timeout_s: 0.5}}\n",
        )
        code, out, _ = run_cli(spark, ["run", "--config", str(config), "--cmd", "gold"])
        assert code == 0
        assert "metrics: pushgateway http://127.0.0.1:9 (FAILED)" in out

    def test_no_files_for_a_source_is_a_warning(self, spark: SparkSession, tmp_path: Path) -> None:
        """An input folder without files for a source runs and writes nothing."""
        config = setup_run(tmp_path, [])
        report = run_pipeline(load_config(config), spark=spark, stages="full")
        assert report.status == "success"
        assert report.steps == []


class TestContracts:
    def test_silver_frame_must_match_its_registered_schema(
        self, spark: SparkSession, tmp_path: Path
    ) -> None:
        """A registered silver type that the transformation does not produce stops the write."""
        registry = tmp_path / "registry"
        shutil.copytree(resource_path("schemas"), registry)
        contract = registry / "silver" / "orders" / "v1.yaml"
        contract.write_text(contract.read_text().replace("type: decimal(12,2)", "type: double", 1))
        config = setup_run(tmp_path, ["orders_0002.json"], f"schemas: {{dir: {registry}}}\n")
        with pytest.raises(
            SchemaDriftError, match="does not match its registered contract"
        ) as info:
            run_pipeline(load_config(config), spark=spark)
        assert "amount: type_mismatch" in str(info.value)
        assert not (tmp_path / "out" / "silver" / "orders").exists()


class TestScd2LateChanges:
    def test_change_older_than_the_current_version_is_refused(
        self, spark: SparkSession, tmp_path: Path
    ) -> None:
        """A change effective before the loaded version is refused by the writer; nothing lands."""
        config = setup_run(tmp_path, ["customers_0001.csv"])
        late = "customer_id,name,email,country,segment,updated_at\n"
        late += "1,Ada Lovelace,ada@old.example,GB,retail,2023-12-31T00:00:00\n"
        (tmp_path / "input" / "customers_0002.csv").write_text(late)

        with pytest.raises(OutOfOrderChangeError, match="customer_id") as info:
            run_pipeline(load_config(config), spark=spark)

        assert info.value.out_of_order_keys == 1
        assert info.value.sample[0]["customer_id"] == 1
        dimension = tmp_path / "out" / "silver" / "customers"
        # Refused before writing: the table's creation and batch 1's MERGE are its only
        # commits, no write + RESTORE pair.
        commits = history(spark, dimension)
        assert [r["operation"] for r in commits] == ["MERGE", "CREATE TABLE"]
        current = spark.read.format("delta").load(str(dimension)).collect()
        rows = {(r["customer_id"], r["email"], r["is_current"]) for r in current}
        assert (1, "ada@example.com", True) in rows
        assert not any(email == "ada@old.example" for _, email, _ in rows)
        assert last_report(tmp_path / "out")["status"] == "failed"


class TestScd2Audit:
    def test_invalid_history_is_rolled_back(self, spark: SparkSession, tmp_path: Path) -> None:
        """The post-write audit still rolls back a history the writer's checks cannot see."""
        pipeline = Pipeline(load_config(setup_run(tmp_path, [])), spark)
        target = pipeline.table_path("silver", "customers")
        schema = (
            "customer_id INT, email STRING, valid_from TIMESTAMP, valid_to TIMESTAMP, "
            "is_current BOOLEAN"
        )
        start = datetime(2024, 1, 1)
        pipeline.writer.append(
            spark.createDataFrame([(1, "ada@example.com", start, None, True)], schema), target
        )
        second_current = spark.createDataFrame(
            [(1, "ada@new.example", datetime(2024, 1, 2), None, True)], schema
        )

        with pytest.raises(HistoryValidationError, match="rolled back") as info:
            pipeline.dimension_writer.append(second_current, target)

        assert info.value.violations.get("current_row_count", 0) >= 1
        rows = [tuple(r) for r in spark.read.format("delta").load(target).collect()]
        assert rows == [(1, "ada@example.com", start, None, True)]


class TestGoldClearing:
    def test_date_whose_orders_are_all_cancelled_loses_its_gold_rows(
        self, spark: SparkSession, tmp_path: Path
    ) -> None:
        """A date left without revenue orders has no gold rows after the run; others stay."""
        config = setup_run(tmp_path, ["customers_0001.csv", "orders_0001.json"])
        run_pipeline(load_config(config), spark=spark)
        gold = tmp_path / "out" / "gold" / "daily_revenue"
        first = {r["order_date"] for r in spark.read.format("delta").load(str(gold)).collect()}
        assert first == {date(2024, 1, 1), date(2024, 1, 2)}
        assert list(detail(spark, gold)["partitionColumns"]) == ["order_date"]
        # Order 1004 was 2024-01-02's only revenue order (1005 is pending).
        cancelled = {
            "order_id": "1004",
            "customer_id": "1",
            "order_ts": "2024-01-02T09:00:00",
            "amount": "40.00",
            "status": "cancelled",
            "country": "GB",
        }
        (tmp_path / "input" / "orders_0002.json").write_text(json.dumps(cancelled) + "\n")

        report = run_pipeline(load_config(config), spark=spark)

        rows = spark.read.format("delta").load(str(gold)).collect()
        assert {r["order_date"] for r in rows} == {date(2024, 1, 1)}
        assert report.gold_dates == ["2024-01-02"]
        step = next(s for s in report.steps if s.table == "gold.daily_revenue")
        assert (step.operation, step.skipped, step.rows_written) == (
            "overwrite_partitions",
            None,
            0,
        )
        assert step.version is not None
        last = history(spark, gold)[0]
        assert last["operation"] == "DELETE"
        assert last["operationMetrics"]["numDeletedRows"] == "1"


class TestLedgerOnLoad:
    def test_corrupt_ledger_exits_2_naming_the_file(
        self, spark: SparkSession, tmp_path: Path
    ) -> None:
        """A ledger that is not a ledger stops the run before any write, with exit code 2."""
        config = setup_run(tmp_path, ["orders_0001.json"])
        ledger = tmp_path / "out" / "_state" / "ledger.json"
        ledger.parent.mkdir(parents=True)
        ledger.write_text('{"sources": 3}')
        code, _, err = run_cli(spark, ["run", "--config", str(config)])
        assert code == 2
        assert f"the batch ledger {ledger} is corrupt: sources:" in err
        assert "ledger.json.bak" in err
        assert not (tmp_path / "out" / "bronze").exists()
