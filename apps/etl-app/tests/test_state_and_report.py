import hashlib
import io
import json
import re
from pathlib import Path

import pytest
from pyspark.sql import SparkSession

from etl_app import (
    ConfigError,
    HistoryValidationError,
    LakeLayoutError,
    LedgerError,
    ReconciliationError,
    Stage,
    TableSpec,
    WriteMode,
)
from etl_app._config import SourceConfig
from etl_app._report import RunReport, TableStep
from etl_app._specs import DEFAULT_SPECS, ORDERS
from etl_app._state import Batch, Ledger
from etl_app._storage import InputFile, content_hash, list_files


def _file(spark: SparkSession, folder: Path, name: str, text: str) -> InputFile:
    (folder / name).write_text(text)
    (listed,) = list_files(spark, str(folder), name)
    return listed


def _register(ledger: Ledger, source: str, file: InputFile, run_id: str) -> Batch:
    return ledger.register(source, file, run_id, lambda: content_hash(ledger.spark, file.path))


def _silver_done(spark: SparkSession, tmp_path: Path, root: Path) -> Ledger:
    """A saved ledger under ``root`` with one orders batch through silver (version 1)."""
    ledger = Ledger.load(spark, str(root))
    batch = _register(ledger, "orders", _file(spark, tmp_path, "a", "a"), "run-1")
    ledger.mark_done(Stage.BRONZE, batch, rows=1)
    ledger.mark_done(Stage.SILVER, batch, version=1)
    ledger.save()
    return ledger


class TestLedger:
    def test_same_content_keeps_its_batch_id_and_new_content_gets_the_next(
        self, spark: SparkSession, tmp_path: Path
    ) -> None:
        """Batch ids follow content: a renamed copy reuses the id, new content gets max + 1."""
        ledger = Ledger.load(spark, str(tmp_path / "out"))
        first = _register(ledger, "orders", _file(spark, tmp_path, "a.csv", "x\n1\n"), "run-1")
        copy = _file(spark, tmp_path, "b.csv", "x\n1\n")
        assert _register(ledger, "orders", copy, "run-2") is first
        c = _file(spark, tmp_path, "c.csv", "x\n2\n")
        third = _register(ledger, "orders", c, "run-2")
        assert (first.batch_id, third.batch_id) == (1, 2)
        assert _register(ledger, "customers", c, "run-2").batch_id == 1
        assert first.sha256 == hashlib.sha256(b"x\n1\n").hexdigest()
        # Another run (another pod) reading the lake sees the same allocation.
        again = Ledger.load(spark, str(tmp_path / "out"))
        assert {s: [(b.batch_id, b.file) for b in bs] for s, bs in again.sources.items()} == {
            "orders": [(1, first.file), (2, c.path)],
            "customers": [(1, c.path)],
        }

    def test_register_all_allocates_every_new_file_in_one_commit(
        self, spark: SparkSession, tmp_path: Path
    ) -> None:
        """A run's new files of every source get their ids in ONE ledger commit, as per file."""
        root = tmp_path / "out"
        ledger = Ledger.load(spark, str(root))
        a = _file(spark, tmp_path, "a", "a")
        _register(ledger, "orders", a, "run-1")
        log = root / "_etl_state" / "batches" / "_delta_log"
        commits = len(list(log.glob("*.json")))
        files = [
            ("orders", _file(spark, tmp_path, "b", "b")),
            ("orders", _file(spark, tmp_path, "b-copy", "b")),  # same content: same batch
            ("customers", _file(spark, tmp_path, "c", "c")),
            ("orders", a),  # listed before with the same size and time: not hashed again
        ]
        hashed: list[str] = []

        def digest(file: InputFile) -> str:
            hashed.append(Path(file.path).name)
            return content_hash(spark, file.path)

        batches = ledger.register_all(
            [(source, f, lambda f=f: digest(f)) for source, f in files], "run-2"
        )

        assert [(b.batch_id, Path(b.file).name) for b in batches] == [
            (2, "b"),
            (2, "b"),
            (1, "c"),
            (1, "a"),
        ]
        assert hashed == ["b", "b-copy", "c"]
        assert len(list(log.glob("*.json"))) == commits + 1
        again = Ledger.load(spark, str(root))
        assert {s: [b.batch_id for b in bs] for s, bs in again.sources.items()} == {
            "orders": [1, 2],
            "customers": [1],
        }

    def test_register_all_takes_the_next_ids_when_another_run_took_one(
        self, spark: SparkSession, tmp_path: Path
    ) -> None:
        """Another run registered orders batch 1 since this ledger was read: no id is shared."""
        root = str(tmp_path / "out")
        ours = Ledger.load(spark, root)
        ours.save()
        other = Ledger.load(spark, root)
        theirs = _register(other, "orders", _file(spark, tmp_path, "theirs", "t"), "run-other")
        files = [
            ("orders", _file(spark, tmp_path, "mine", "m")),
            ("customers", _file(spark, tmp_path, "cust", "c")),
        ]

        batches = ours.register_all(
            [(s, f, lambda f=f: content_hash(spark, f.path)) for s, f in files], "run-2"
        )

        assert theirs.batch_id == 1
        assert [(b.batch_id, Path(b.file).name) for b in batches] == [(2, "mine"), (1, "cust")]
        loaded = Ledger.load(spark, root)
        assert {
            s: [(b.batch_id, Path(b.file).name) for b in bs] for s, bs in loaded.sources.items()
        } == {
            "orders": [(1, "theirs"), (2, "mine")],
            "customers": [(1, "cust")],
        }

    def test_round_trip_and_pending_batches(self, spark: SparkSession, tmp_path: Path) -> None:
        """The ledger table survives save/load; pending silver batches are bronze-done, in order."""
        root = str(tmp_path / "out")
        ledger = Ledger.load(spark, root)
        for name in ("a", "b", "c"):
            _register(ledger, "orders", _file(spark, tmp_path, f"{name}.csv", name), "run-1")
        batches = ledger.sources["orders"]
        ledger.mark_done(Stage.BRONZE, batches[0], rows=3)
        ledger.mark_done(Stage.SILVER, batches[0], counts={"bronze": 3}, version=4)
        ledger.mark_done(Stage.BRONZE, batches[2], rows=5)
        ledger.gold_dates = {"2024-01-02", "2024-01-01"}
        ledger.save()
        loaded = Ledger.load(spark, root)
        assert [b.batch_id for b in loaded.pending(Stage.SILVER, "orders")] == [3]
        assert [b.batch_id for b in loaded.pending(Stage.BRONZE, "orders")] == [2]
        assert loaded.pending(Stage.SILVER, "customers") == []
        assert [(b.batch_id, b.silver_version) for b in loaded.pending(Stage.GOLD)] == [(1, 4)]
        assert loaded.gold_dates == {"2024-01-01", "2024-01-02"}
        assert not (tmp_path / "out" / "_state").exists()  # no local JSON state

    def test_gold_work_groups_batches_by_run_and_retries_under_a_new_one(
        self, spark: SparkSession, tmp_path: Path
    ) -> None:
        """Gold runs get increasing ids; an unfinished run keeps its id; a failed one a new one."""
        ledger = Ledger.load(spark, str(tmp_path / "out"))
        for source, name in (("orders", "a"), ("customers", "b"), ("orders", "c")):
            batch = _register(ledger, source, _file(spark, tmp_path, name, name), "run-1")
            ledger.mark_done(Stage.BRONZE, batch, rows=1)
            ledger.mark_done(Stage.SILVER, batch, version=batch.batch_id)
        work = ledger.gold_work()
        assert [(run, {k: [b.batch_id for b in v] for k, v in g.items()}) for run, g in work] == [
            (1, {"orders": [1, 2], "customers": [1]})
        ]
        # Interrupted before finishing: the same run, same id, comes back.
        assert [run for run, _ in ledger.gold_work()] == [1]
        # Failed: its batches start a new run (a new Delta txnVersion for gold writes).
        ledger.mark_failed(Stage.GOLD, [b for bs in work[0][1].values() for b in bs])
        assert [run for run, _ in ledger.gold_work()] == [2]
        for batch in ledger.pending(Stage.GOLD):
            ledger.mark_done(Stage.GOLD, batch)
        assert ledger.gold_work() == []

    def test_starting_a_gold_run_commits_its_allocation_and_claim_only(
        self, spark: SparkSession, tmp_path: Path
    ) -> None:
        """The run id lives in its allocation row: no third commit; a reload resumes that run."""
        root = tmp_path / "out"
        ledger = _silver_done(spark, tmp_path, root)
        log = root / "_etl_state" / "batches" / "_delta_log"
        commits = len(list(log.glob("*.json")))

        assert [run for run, _ in ledger.gold_work(after=4)] == [5]
        ledger.save()

        # The id's allocation and the batch's claim; saving afterwards has nothing to write.
        assert len(list(log.glob("*.json"))) == commits + 2
        again = Ledger.load(spark, str(root))
        assert again.gold_runs == 5
        assert [run for run, _ in again.gold_work()] == [5]
        again.mark_failed(Stage.GOLD, [again.find("orders", 1)])
        assert [run for run, _ in again.gold_work()] == [6]

    def test_a_batch_another_run_claimed_first_stays_in_that_run(
        self, spark: SparkSession, tmp_path: Path
    ) -> None:
        """Two ledgers start gold on one batch: the second's claim finds the row taken."""
        root = tmp_path / "out"
        mine = _silver_done(spark, tmp_path, root)
        theirs = Ledger.load(spark, str(root))
        assert [(run, list(g)) for run, g in theirs.gold_work()] == [(1, ["orders"])]

        # Mine still saw the batch unclaimed: run 1 is taken, so it starts run 2, and its
        # compare-and-set on the batch's row finds the row changed.
        work = mine.gold_work()
        assert [(run, {s: [b.batch_id for b in bs] for s, bs in g.items()}) for run, g in work] == [
            (1, {"orders": [1]}),
            (2, {}),
        ]
        assert mine.find("orders", 1).gold_run == 1
        assert Ledger.load(spark, str(root)).find("orders", 1).gold_run == 1

    def test_failed_silver_attempts_skip_and_replay(
        self, spark: SparkSession, tmp_path: Path
    ) -> None:
        """Failed attempts are counted; a skipped batch leaves silver's queue until replayed."""
        root = str(tmp_path / "out")
        ledger = Ledger.load(spark, root)
        batch = _register(ledger, "orders", _file(spark, tmp_path, "a", "a"), "run-1")
        ledger.mark_done(Stage.BRONZE, batch, rows=1)
        ledger.mark_failed(Stage.SILVER, [batch])
        ledger.mark_failed(Stage.SILVER, [batch])
        ledger.save()
        loaded = Ledger.load(spark, root)
        assert loaded.sources["orders"][0].silver_attempt == 2
        with pytest.raises(LedgerError, match="a skip needs a reason"):
            loaded.skip("orders", 1, " ")
        with pytest.raises(LedgerError, match="no batch 7 of source 'orders'"):
            loaded.skip("orders", 7, "why")
        loaded.skip("orders", 1, "out-of-order change, fixed upstream in batch 2")
        loaded.save()
        skipped = Ledger.load(spark, root)
        assert skipped.pending(Stage.SILVER) == []
        assert skipped.sources["orders"][0].status == "skipped"
        replayed = skipped.replay("orders", 1)
        assert (replayed.status, replayed.silver_attempt) == ("silver pending", 3)
        assert [b.batch_id for b in skipped.pending(Stage.SILVER)] == [1]
        with pytest.raises(LedgerError, match="is not skipped"):
            skipped.replay("orders", 1)

    def test_ledger_json_of_etl_app_0_1_is_migrated_once(
        self, spark: SparkSession, tmp_path: Path
    ) -> None:
        """A version-1 JSON ledger is copied into the table with its gold work; the file stays."""
        path = tmp_path / "_state" / "ledger.json"
        path.parent.mkdir()
        batch = {"file": "f", "sha256": "x", "registered_by": "r", "bronze_rows": 3}
        text = json.dumps(
            {
                "sources": {
                    "orders": [
                        {**batch, "batch_id": 1, "silver_done": True, "counts": {"b": 3}},
                        {**batch, "batch_id": 2, "sha256": "y"},
                    ]
                },
                "gold_dates": ["2024-01-02"],
                "gold_clv": True,
            }
        )
        path.write_text(text)
        Ledger.load(spark, str(tmp_path))
        path.write_text("{not json: the table is read from now on")
        ledger = Ledger.load(spark, str(tmp_path))
        assert ledger.pending(Stage.GOLD) == []
        assert [b.batch_id for b in ledger.pending(Stage.SILVER)] == [2]
        assert (ledger.gold_dates, ledger.gold_clv) == ({"2024-01-02"}, True)
        assert [(run, batches) for run, batches in ledger.gold_work()] == [(1, {})]

    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            ("{not json", "not valid JSON"),
            ('{"sources": {"orders": [{"batch_id": "one"}]}}', "sources.orders.0.batch_id"),
            ('{"sources": {}, "format": 9}', "format 9 is newer"),
        ],
    )
    def test_corrupt_json_ledger_names_the_file_and_the_problem(
        self, spark: SparkSession, tmp_path: Path, text: str, expected: str
    ) -> None:
        """A JSON ledger to migrate that is not a ledger is refused, naming the file."""
        path = tmp_path / "_state" / "ledger.json"
        path.parent.mkdir()
        path.write_text(text)
        with pytest.raises(LedgerError) as info:
            Ledger.load(spark, str(tmp_path))
        message = str(info.value)
        assert expected in message
        assert f"the batch ledger {path} is corrupt" in message
        assert "do not delete it" in message
        assert info.value.exit_code == 2

    def test_corrupt_ledger_table_names_the_table_and_the_way_back(
        self, spark: SparkSession, tmp_path: Path
    ) -> None:
        """A ledger row that is not a ledger row is refused, naming the table and RESTORE."""
        root = str(tmp_path / "out")
        ledger = Ledger.load(spark, root)
        _register(ledger, "orders", _file(spark, tmp_path, "a", "a"), "run-1")
        spark.sql(f'UPDATE delta.`{ledger.location}` SET state = \'{{"silver_done": "no"}}\'')
        with pytest.raises(LedgerError) as info:
            Ledger.load(spark, root)
        message = str(info.value)
        assert f"the batch ledger table {ledger.location} is corrupt" in message
        assert "row (orders, 1): silver_done" in message
        assert "RESTORE TABLE" in message
        assert info.value.exit_code == 2


class TestRunReport:
    def test_summary_lists_steps_reconciliation_drift_and_error(self, tmp_path: Path) -> None:
        """The summary table shows every write and each section that has content."""
        report = RunReport(run_id="r1", job="j", env="e", stages="full", output_root="/o")
        report.status = "failed"
        report.duration_s = 1.25
        report.steps.append(TableStep("bronze", "bronze.orders", "append", 11, 11, 0, 1))
        report.steps.append(
            TableStep("silver", "silver.orders", "merge", 5, 0, None, 1, "batch already committed")
        )
        report.reconciliation.append(
            {
                "table": "silver.orders",
                "batch_id": 1,
                "bronze": 11,
                "silver": 5,
                "quarantined": 4,
                "duplicates_dropped": 1,
                "ok": False,
            }
        )
        report.drift.append(
            {
                "table": "bronze.orders",
                "file": "/in/o.json",
                "summary": "x: extra",
                "policy": "warn",
            }
        )
        report.gold_dates = ["2024-01-01"]
        report.stage_durations_s = {"bronze": 0.5}
        report.metrics_sink = "textfile /o/m.prom"
        report.error = "ReconciliationError: boom"
        text = report.summary_table()
        assert text.splitlines()[0] == "etl-app run r1 (job j, env e, --cmd full): FAILED in 1.2s"
        assert "bronze  bronze.orders  1      append     11       11       0" in text
        assert "batch already committed" in text
        assert "silver.orders batch 1: 11 = 5 + 4 + 1  MISMATCH" in text
        assert "bronze.orders o.json: x: extra (policy warn)" in text
        assert "gold dates rewritten: 2024-01-01" in text
        assert "stage durations: bronze 0.5s" in text
        assert "metrics: textfile /o/m.prom" in text
        assert "error: ReconciliationError: boom" in text
        report.write(tmp_path / "r.json")
        assert json.loads((tmp_path / "r.json").read_text())["steps"][1]["skipped"] == (
            "batch already committed"
        )


class TestErrors:
    def test_reconciliation_error_states_both_sides(self) -> None:
        """The message gives the bronze count, each term of the sum, and what to do."""
        error = ReconciliationError(
            "silver.orders",
            3,
            {"bronze": 10, "silver": 6, "quarantined": 2, "duplicates_dropped": 1},
        )
        assert "batch 3: bronze has 10 rows but silver 6 + quarantined 2 + duplicates" in str(error)
        assert "= 9" in str(error)
        assert error.counts["bronze"] == 10

    def test_reconciliation_error_names_the_failed_check_and_the_missing_rows(self) -> None:
        """A failed check is named with how many rows it misses and what happened to silver."""
        counts = {
            "bronze": 11,
            "silver": 4,
            "quarantined": 5,
            "duplicates_dropped": 1,
            "gate_dropped": 0,
            "dedup_kept": 5,
        }
        error = ReconciliationError(
            "silver.orders", 1, counts, check="silver == dedup_kept", missing=1, rolled_back=True
        )
        assert "= 10 (1 row missing in check silver == dedup_kept)" in str(error)
        assert "rolled back, so silver is unchanged" in str(error)
        assert (error.check, error.missing, error.rolled_back) == ("silver == dedup_kept", 1, True)
        extra = ReconciliationError("silver.orders", 1, {**counts, "gate_dropped": 3})
        assert extra.missing == -2
        assert "+ dropped by the gate 3 = 13 (2 rows too many)" in str(extra)
        assert "Nothing was written to silver" in str(extra)

    def test_layout_error_says_to_migrate(self) -> None:
        """An old table layout names the table, how it differs and the migrate command."""
        error = LakeLayoutError("silver.orders", "/lake/silver/orders", ["change data feed off"])
        assert "silver.orders at /lake/silver/orders" in str(error)
        assert "change data feed off" in str(error)
        assert "etl-app migrate" in str(error)
        assert error.exit_code == 2

    def test_history_error_names_rules_and_remedy(self) -> None:
        """The SCD2 audit error says the write was rolled back and why."""
        error = HistoryValidationError("silver.customers", {"overlap": 2}, "overlap: 2 rows")
        assert error.violations == {"overlap": 2}
        assert "rolled back" in str(error)
        assert "overlap: 2 rows" in str(error)


class TestRunId:
    def test_run_ids_sort_in_start_order_within_one_second(self) -> None:
        """Reports are named by run id: two runs a few milliseconds apart list in run order."""
        import time

        from etl_app._pipeline import new_run_id

        ids = []
        for _ in range(5):
            ids.append(new_run_id())
            time.sleep(0.002)
        assert ids == sorted(ids)
        assert len(set(ids)) == 5
        assert all(len(i.split("-")[0]) == len("20240101T120000123Z") for i in ids)


class TestSpecs:
    def test_stage_names_parse_and_a_typo_is_a_config_error(self) -> None:
        """Stages parse from their names; a typo is a ConfigError (exit 2) naming the valid ones."""
        assert Stage.parse("silver") is Stage.SILVER
        assert Stage.parse(Stage.GOLD) is Stage.GOLD
        assert Stage.FULL.selected() == (Stage.BRONZE, Stage.SILVER, Stage.GOLD)
        assert Stage.GOLD.selected() == (Stage.GOLD,)
        with pytest.raises(ConfigError) as info:
            Stage.parse("silvr")
        assert "stages: expected one of 'full', 'bronze', 'silver', 'gold', got 'silvr'" in str(
            info.value
        )
        assert info.value.exit_code == 2

    def test_run_pipeline_refuses_an_unknown_stage_before_doing_anything(
        self, tmp_path: Path
    ) -> None:
        """run_pipeline(stages="silvr") is a config error raised before Spark is touched."""
        from etl_app import load_config, run_pipeline

        config = load_config().with_overrides(output_root=str(tmp_path / "out"))
        with pytest.raises(ConfigError, match="got 'silvr'"):
            run_pipeline(config, spark=object(), stages="silvr")  # type: ignore[arg-type]
        assert not (tmp_path / "out").exists()

    def test_bundled_specs(self) -> None:
        """Customers are an SCD2 history, orders an upsert partitioned by order date."""
        modes = {s.name: (s.mode, s.key, s.partition_by) for s in DEFAULT_SPECS}
        assert modes == {
            "customers": (WriteMode.SCD2, "customer_id", ()),
            "orders": (WriteMode.MERGE, "order_id", ("order_date",)),
        }
        assert (ORDERS.bronze, ORDERS.silver, ORDERS.quarantine) == (
            "bronze.orders",
            "silver.orders",
            "quarantine.orders",
        )

    @pytest.mark.parametrize(
        ("changes", "expected"),
        [
            ({"key": "sku"}, "column(s) sku are not among its silver columns"),
            ({"partition_by": ("day",)}, "column(s) day are not among"),
            ({"mode": WriteMode.SCD2}, "tracked columns are required for mode scd2"),
            ({"tracked": ("status",)}, "only allowed there (mode merge"),
            (
                {"mode": WriteMode.SCD2, "tracked": ("status",), "keys_grow": True},
                "keys_grow prunes a merge's reads by key range and is only allowed for mode merge",
            ),
        ],
    )
    def test_inconsistent_specs_are_refused(
        self, changes: dict[str, object], expected: str
    ) -> None:
        """A spec naming columns it does not have, or tracked columns outside SCD2, is refused."""
        fields: dict[str, object] = {
            "name": "orders",
            "key": "order_id",
            "order_by": "order_ts",
            "typing": ORDERS.typing,
            "columns": ORDERS.columns,
            "mode": WriteMode.MERGE,
            "input": SourceConfig("o_*.json", "json"),
            **changes,
        }
        with pytest.raises(ValueError, match=re.escape(expected)):
            TableSpec(**fields)  # type: ignore[arg-type]


class TestPipelineSetup:
    def test_specs_need_distinct_names_and_gold_needs_its_sources(self) -> None:
        """Two specs with one name are refused; gold names the source it misses."""
        from etl_app import InputError, Pipeline, load_config

        config = load_config()
        with pytest.raises(ValueError, match="distinct names"):
            Pipeline(config, object(), specs=(ORDERS, ORDERS))  # type: ignore[arg-type]
        pipeline = Pipeline(config, object(), specs=(ORDERS,))  # type: ignore[arg-type]
        with pytest.raises(InputError, match="gold needs a source named 'customers'"):
            pipeline._spec("customers")


def _log_lines(monkeypatch: pytest.MonkeyPatch) -> io.StringIO:
    """Send the pipeline's log lines to a buffer of this test's own.

    An earlier test may have configured them onto its captured (now closed) stderr, and the
    pipeline module's logger, once used, keeps the output it was first configured with
    (structlog's cache_logger_on_first_use): reconfiguring alone is not enough, so the module
    gets a fresh logger too.
    """
    from etl_app import _pipeline
    from etl_metrics import configure_logging, get_logger

    lines = io.StringIO()
    configure_logging(stream=lines, cache_logger_on_first_use=False)
    monkeypatch.setattr(_pipeline, "log", get_logger("etl_app"))
    return lines


class TestReportOfAFailedRun:
    def test_a_report_that_cannot_be_written_does_not_hide_the_runs_error(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """The run's own error reaches the caller when the report fails too (same dead store)."""
        from etl_app import Pipeline, load_config

        lines = _log_lines(monkeypatch)
        pipeline = Pipeline(load_config(), object(), specs=(ORDERS,))  # type: ignore[arg-type]

        def stage(name: str, body: object) -> None:
            raise RuntimeError(f"{name} broke")

        def report() -> None:
            raise OSError(
                "report store down\n\tat org.apache.hadoop.fs.FileSystem.create(FileSystem.java:1)"
            )

        monkeypatch.setattr(pipeline, "_stage", stage)
        monkeypatch.setattr(pipeline, "_write_report", report)
        monkeypatch.setattr(pipeline, "_publish_metrics", lambda: None)
        with pytest.raises(RuntimeError, match="bronze broke"):
            pipeline.run("bronze")
        assert pipeline.report.status == "failed"
        assert "report_not_written" in lines.getvalue()
        assert "OSError: report store down" in lines.getvalue()
        assert "FileSystem.java" not in lines.getvalue()  # the line carries no stack frames

    def test_a_successful_run_whose_report_fails_raises_the_reports_error(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Data committed but no report: the caller must hear of it."""
        from etl_app import Pipeline, load_config

        _log_lines(monkeypatch)
        pipeline = Pipeline(load_config(), object(), specs=(ORDERS,))  # type: ignore[arg-type]

        def report() -> None:
            raise OSError("report store down")

        monkeypatch.setattr(pipeline, "_stage", lambda name, body: None)
        monkeypatch.setattr(pipeline, "_record_table_metrics", lambda: None)
        monkeypatch.setattr(pipeline, "_write_report", report)
        monkeypatch.setattr(pipeline, "_publish_metrics", lambda: None)
        with pytest.raises(OSError, match="report store down"):
            pipeline.run("bronze")

    def test_an_unreachable_store_is_reported_and_logged_by_endpoint_without_trace_or_secret(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Library callers of Pipeline.run get what the CLI prints: the typed storage error.

        Spark's failure text is a whole JVM trace, and a storage client may quote a credential:
        neither reaches the report or the ``run_failed`` line shipped to log stores.
        """
        from etl_app import Pipeline, load_config
        from etl_app.errors import StorageUnavailableError

        secret = "wJalrXUtnFEMI-not-a-real-secret"
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", secret)
        lines = _log_lines(monkeypatch)
        session = _StoreSession({"spark.hadoop.fs.s3a.endpoint": "http://store.internal:9000"})
        config = load_config().with_overrides(
            input_dir="s3a://lake/landing", output_root="s3a://lake/tables"
        )
        pipeline = Pipeline(config, session, specs=(ORDERS,))  # type: ignore[arg-type]
        failure = _stages_fail_with(
            monkeypatch,
            pipeline,
            "An error occurred while calling o91.save.\n"
            ": org.apache.hadoop.fs.s3a.AWSClientIOException: getFileStatus on "
            f"s3a://lake/tables/silver/orders: Unable to execute HTTP request (sent {secret}): "
            "Connect to store.internal:9000 failed: Connection refused\n"
            "\tat org.apache.hadoop.fs.s3a.S3AUtils.translateException(S3AUtils.java:215)\n"
            "\tat org.apache.hadoop.fs.s3a.Invoker.once(Invoker.java:124)\n",
        )
        with pytest.raises(StorageUnavailableError) as info:
            pipeline.run("silver")
        assert info.value.exit_code == 3
        assert isinstance(info.value.__cause__, failure)
        error = str(pipeline.report.error)
        assert error.startswith(
            "StorageUnavailableError: the lake's storage endpoint http://store.internal:9000 "
            "could not be reached or refused the request"
        )
        assert "Connection refused" in error
        logged = lines.getvalue()
        assert "run_failed" in logged
        assert "http://store.internal:9000" in logged
        for text in (error, logged):
            assert secret not in text
            assert "S3AUtils.java" not in text

    def test_a_spark_failure_is_reported_by_its_message_without_jvm_frames(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Any other Spark failure keeps its message lines and loses its stack frames."""
        from etl_app import Pipeline, load_config

        lines = _log_lines(monkeypatch)
        session = _StoreSession({})
        pipeline = Pipeline(load_config(), session, specs=(ORDERS,))  # type: ignore[arg-type]
        failure = _stages_fail_with(
            monkeypatch,
            pipeline,
            "An error occurred while calling o77.collectToPython.\n"
            ": org.apache.spark.SparkException: Job aborted due to stage failure: "
            "Task 0 in stage 3.0 failed 1 times\n"
            "\tat org.apache.spark.scheduler.DAGScheduler.failJobAndIndependentStages("
            "DAGScheduler.scala:2856)\n"
            "\t... 42 more\n",
        )
        with pytest.raises(failure):
            pipeline.run("bronze")
        error = str(pipeline.report.error)
        assert error.startswith("Py4JJavaError: An error occurred while calling o77")
        assert "Job aborted due to stage failure: Task 0 in stage 3.0 failed 1 times" in error
        assert "DAGScheduler.scala" not in error
        assert "42 more" not in error
        assert "DAGScheduler.scala" not in lines.getvalue()


def _stages_fail_with(
    monkeypatch: pytest.MonkeyPatch, pipeline: object, text: str
) -> type[Exception]:
    """Make every stage of ``pipeline`` raise a Py4J-like error with ``text``; return its type.

    The report and the metrics are left out: the test reads the report object itself.
    """
    failure = type("Py4JJavaError", (Exception,), {"__module__": "py4j.protocol"})

    def stage(name: str, body: object) -> None:
        raise failure(text)

    monkeypatch.setattr(pipeline, "_stage", stage)
    monkeypatch.setattr(pipeline, "_write_report", lambda: None)
    monkeypatch.setattr(pipeline, "_publish_metrics", lambda: None)
    return failure


class _StoreSession:
    """The part of a session a failed run's classification reads: its settings."""

    def __init__(self, values: dict[str, str]) -> None:
        self.conf = self
        self.values = values

    def get(self, key: str, default: str | None = None) -> str | None:
        return self.values.get(key, default)
