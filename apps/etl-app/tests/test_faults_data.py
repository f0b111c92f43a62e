"""Data faults of issue 17: concurrent runs, interrupted first writes, empty input, refusals.

Each test fails on etl-app 0.2: two runs with different files lost one of them, a
``_delta_log`` without a commit wedged every rerun, an empty first file ended in
``PATH_NOT_FOUND``, and a refused customers batch blocked orders and gold for good.
"""

from __future__ import annotations

import contextlib
import io
import shutil
import threading
from pathlib import Path

import pytest
from pyspark.sql import SparkSession

import etl_app._cli as cli
from delta_safe_writer import OutOfOrderChangeError
from etl_app import load_config
from etl_app._pipeline import run_pipeline
from etl_app._resources import resource_path
from etl_app._state import Ledger

pytestmark = pytest.mark.spark

HEADER = "customer_id,name,email,country,segment,updated_at\n"


def setup_input(tmp_path: Path, name: str, files: list[str], out: Path) -> Path:
    """An input folder with sample files and a config writing to ``out``; the config path."""
    input_dir = tmp_path / name
    input_dir.mkdir()
    for file in files:
        shutil.copy(resource_path("sample") / file, input_dir / file)
    config = tmp_path / f"{name}.yaml"
    config.write_text(f"input: {{dir: {input_dir}}}\noutput: {{root: {out}}}\n")
    return config


def order_line(order_id: int, customer: int, day: int) -> str:
    """One valid JSON line of the orders source."""
    return (
        f'{{"order_id": "{order_id}", "customer_id": "{customer}", '
        f'"order_ts": "2024-02-{day:02d}T10:00:00", "amount": "10.00", '
        f'"status": "completed", "country": "GB"}}\n'
    )


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


def silver_order_ids(spark: SparkSession, out: Path) -> set[int]:
    """The order ids in silver orders."""
    frame = spark.read.format("delta").load(str(out / "silver" / "orders"))
    return {int(r["order_id"]) for r in frame.select("order_id").collect()}


class TestConcurrentRuns:
    def test_two_runs_with_different_files_on_one_lake_ingest_both(
        self, spark: SparkSession, tmp_path: Path
    ) -> None:
        """Two runs at once, each with its own new orders file: both files land in silver."""
        out = tmp_path / "out"
        configs = []
        for name, first in (("a", 5000), ("b", 6000)):
            config = setup_input(tmp_path, name, [], out)
            lines = [order_line(first + i, 1 + i % 3, 1 + i % 2) for i in range(4)]
            (tmp_path / name / f"orders_{first}.json").write_text("".join(lines))
            configs.append(load_config(config))
        outcomes: dict[int, object] = {}

        def run(index: int) -> None:
            try:
                outcomes[index] = run_pipeline(configs[index], spark=spark).status
            except Exception as exc:
                outcomes[index] = exc

        threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

        assert outcomes == {0: "success", 1: "success"}
        expected = set(range(5000, 5004)) | set(range(6000, 6004))
        assert silver_order_ids(spark, out) == expected
        ledger = Ledger.load(spark, str(out))
        batches = ledger.sources["orders"]
        assert sorted(b.batch_id for b in batches) == [1, 2]
        assert {Path(b.file).name for b in batches} == {"orders_5000.json", "orders_6000.json"}
        assert all(b.gold_done for b in batches)
        revenue = spark.read.format("delta").load(str(out / "gold" / "daily_revenue"))
        assert sum(int(r["order_count"]) for r in revenue.collect()) == 8


class TestInterruptedFirstWrite:
    def test_delta_log_without_a_commit_is_no_table_and_the_rerun_completes(
        self, spark: SparkSession, tmp_path: Path
    ) -> None:
        """A first write killed before its commit leaves an empty _delta_log; the run goes on."""
        out = tmp_path / "out"
        config = load_config(setup_input(tmp_path, "in", ["orders_0001.json"], out))
        for table in ("_etl_state/batches", "bronze/orders", "silver/orders", "gold/daily_revenue"):
            (out / table / "_delta_log").mkdir(parents=True)
        report = run_pipeline(config, spark=spark)
        assert report.status == "success"
        assert 1001 in silver_order_ids(spark, out)


class TestSkippedAppendOfAnotherFile:
    def test_bronze_holding_the_batch_id_from_another_file_is_refused(
        self, spark: SparkSession, tmp_path: Path
    ) -> None:
        """The ledger lost (deleted here): a new file gets batch id 1, whose append Delta skips.

        Bronze's batch 1 came from another file, so the skip is not this file's commit: the
        run must refuse it by name instead of counting the old file's rows as the new one's.
        """
        out = tmp_path / "out"
        config = load_config(setup_input(tmp_path, "in", ["orders_0001.json"], out))
        assert run_pipeline(config, spark=spark).status == "success"
        bronze = out / "bronze" / "orders"
        versions_before = len(list((bronze / "_delta_log").glob("*.json")))
        shutil.rmtree(out / "_etl_state")
        (tmp_path / "in" / "orders_0001.json").unlink()
        (tmp_path / "in" / "orders_0009.json").write_text(order_line(9001, 1, 3))

        code, _, err = run_cli(spark, ["run", "--config", str(tmp_path / "in.yaml")])

        assert code == 2
        assert "batch 1" in err
        assert "orders_0009.json" in err
        assert "orders_0001.json" in err
        assert "etl-app batches list" in err
        assert len(list((bronze / "_delta_log").glob("*.json"))) == versions_before
        frame = spark.read.format("delta").load(str(bronze))
        assert frame.filter("order_id = '9001'").count() == 0


class TestEmptyInput:
    def test_empty_and_header_only_first_files_are_zero_row_batches(
        self, spark: SparkSession, tmp_path: Path
    ) -> None:
        """A 0-byte orders file and a header-only customers file: 0-row batches, then data."""
        out = tmp_path / "out"
        config = load_config(setup_input(tmp_path, "in", [], out))
        (tmp_path / "in" / "orders_0001.json").write_text("")
        (tmp_path / "in" / "customers_0001.csv").write_text(HEADER)

        first = run_pipeline(config, spark=spark)

        assert first.status == "success"
        assert [(r["table"], r["bronze"], r["silver"]) for r in first.reconciliation] == [
            ("silver.customers", 0, 0),
            ("silver.orders", 0, 0),
        ]
        shutil.copy(resource_path("sample") / "orders_0002.json", tmp_path / "in")
        second = run_pipeline(config, spark=spark)
        assert second.status == "success"
        assert 1010 in silver_order_ids(spark, out)
        first_batch = Ledger.load(spark, str(out)).sources["orders"][0]
        assert (first_batch.batch_id, first_batch.bronze_rows) == (1, 0)

    def test_first_run_with_only_orders_completes(
        self, spark: SparkSession, tmp_path: Path
    ) -> None:
        """No customers file yet: orders reach silver and daily revenue; customers come later."""
        out = tmp_path / "out"
        config = load_config(setup_input(tmp_path, "in", ["orders_0001.json"], out))
        assert run_pipeline(config, spark=spark).status == "success"
        assert (out / "gold" / "daily_revenue" / "_delta_log").is_dir()
        shutil.copy(resource_path("sample") / "customers_0001.csv", tmp_path / "in")
        assert run_pipeline(config, spark=spark).status == "success"
        clv = spark.read.format("delta").load(str(out / "gold" / "customer_lifetime_value"))
        assert clv.count() > 0


class TestRefusedBatch:
    def test_refused_batch_blocks_only_its_source_and_skip_lets_later_batches_in(
        self, spark: SparkSession, tmp_path: Path
    ) -> None:
        """An out-of-order customers batch fails the run but not orders; skip it, batch 3 lands."""
        out = tmp_path / "out"
        config_path = setup_input(tmp_path, "in", ["customers_0001.csv"], out)
        config = load_config(config_path)
        run_pipeline(config, spark=spark)
        late = HEADER + "1,Ada Lovelace,ada@old.example,GB,retail,2023-12-31T00:00:00\n"
        (tmp_path / "in" / "customers_0002.csv").write_text(late)
        shutil.copy(resource_path("sample") / "orders_0001.json", tmp_path / "in")

        with pytest.raises(OutOfOrderChangeError):
            run_pipeline(config, spark=spark)
        # The other source went on, through gold.
        assert 1001 in silver_order_ids(spark, out)
        orders = Ledger.load(spark, str(out)).sources["orders"]
        assert [b.status for b in orders] == ["done"]

        code, listing, _ = run_cli(spark, ["batches", "list", "--config", str(config_path)])
        assert code == 0
        assert "customers        2  silver pending" in listing
        code, said, _ = run_cli(
            spark,
            [
                "batches",
                "skip",
                "customers",
                "2",
                "--reason",
                "late change, corrected at the source in batch 3",
                "--config",
                str(config_path),
            ],
        )
        assert (code, "customers batch 2" in said) == (0, True)
        fixed = HEADER + "1,Ada Lovelace,ada@new.example,GB,retail,2024-01-05T00:00:00\n"
        (tmp_path / "in" / "customers_0003.csv").write_text(fixed)

        assert run_pipeline(config, spark=spark).status == "success"
        customers = spark.read.format("delta").load(str(out / "silver" / "customers"))
        current = {r["email"] for r in customers.filter("is_current").collect()}
        assert "ada@new.example" in current
        assert "ada@old.example" not in {r["email"] for r in customers.collect()}
        statuses = {b.batch_id: b.status for b in Ledger.load(spark, str(out)).sources["customers"]}
        assert statuses == {1: "done", 2: "skipped", 3: "done"}
        code, _, err = run_cli(
            spark,
            ["batches", "skip", "customers", "3", "--reason", "x", "--config", str(config_path)],
        )
        assert code == 2
        assert "already in silver" in err


class TestBatchesArguments:
    def test_skip_needs_a_source_a_batch_and_a_reason(
        self, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """`batches skip` without --reason, or with a batch that is no number, is a usage error."""
        assert cli.main(["batches", "skip", "orders", "1"]) == 2
        assert "--reason" in capsys.readouterr().err
        assert cli.main(["batches", "replay", "orders", "one"]) == 2
        assert "invalid int value" in capsys.readouterr().err
        assert cli.main(["batches", "--help"]) == 0
        shown = capsys.readouterr().out
        assert all(action in shown for action in ("list", "skip", "replay")), shown
