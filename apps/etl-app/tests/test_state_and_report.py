import json
from pathlib import Path

from etl_app import HistoryValidationError, ReconciliationError
from etl_app._report import RunReport, TableStep
from etl_app._state import Ledger, content_hash


class TestLedger:
    def test_same_content_keeps_its_batch_id_and_new_content_gets_the_next(
        self, tmp_path: Path
    ) -> None:
        """Batch ids follow content: a renamed copy reuses the id, new content gets max + 1."""
        ledger = Ledger.load(tmp_path)
        (tmp_path / "a.csv").write_text("x\n1\n")
        (tmp_path / "b.csv").write_text("x\n1\n")
        (tmp_path / "c.csv").write_text("x\n2\n")
        first = ledger.register("orders", tmp_path / "a.csv", "run-1")
        assert ledger.register("orders", tmp_path / "b.csv", "run-2") is first
        third = ledger.register("orders", tmp_path / "c.csv", "run-2")
        assert (first.batch_id, third.batch_id) == (1, 2)
        assert ledger.register("customers", tmp_path / "c.csv", "run-2").batch_id == 1

    def test_round_trip_and_pending_batches(self, tmp_path: Path) -> None:
        """The ledger survives save/load; pending silver batches are bronze-done, in id order."""
        ledger = Ledger.load(tmp_path)
        for name in ("a", "b", "c"):
            (tmp_path / f"{name}.csv").write_text(name)
            ledger.register("orders", tmp_path / f"{name}.csv", "run-1")
        batches = ledger.sources["orders"]
        batches[0].bronze_rows, batches[0].silver_done = 3, True
        batches[2].bronze_rows = 5
        ledger.gold_dates = {"2024-01-02", "2024-01-01"}
        ledger.save()
        loaded = Ledger.load(tmp_path)
        assert [b.batch_id for b in loaded.pending_silver("orders")] == [3]
        assert loaded.pending_silver("customers") == []
        assert loaded.gold_dates == {"2024-01-01", "2024-01-02"}
        saved = json.loads((tmp_path / "_state" / "ledger.json").read_text())
        assert saved["gold_dates"] == ["2024-01-01", "2024-01-02"]

    def test_folder_hash_covers_names_and_contents(self, tmp_path: Path) -> None:
        """A folder of part files hashes by names and contents, like a single file by content."""
        folder = tmp_path / "orders_0001.json"
        folder.mkdir()
        (folder / "part-0").write_text("a")
        (folder / "part-1").write_text("b")
        before = content_hash(folder)
        (folder / "part-1").write_text("c")
        assert content_hash(folder) != before
        (folder / "part-1").write_text("b")
        assert content_hash(folder) == before
        (folder / "part-1").rename(folder / "part-2")
        assert content_hash(folder) != before


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
