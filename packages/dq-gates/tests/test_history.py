"""The results history: what a run appends, reading it back, and anomaly checks across runs."""

from __future__ import annotations

import datetime as dt
import json
import threading
from pathlib import Path
from typing import Any

import pandera.pyspark as pa
import pytest
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as sf
from pyspark.sql import types as st

from dq_gates import (
    AnomalyCheck,
    Gate,
    GateConfigError,
    GateFailedError,
    GateHistoryError,
    MemoryHistory,
    RelativeChange,
    ResultsHistory,
    StdDevBand,
    ValueSetChange,
    Verdict,
    history_schema,
)
from dq_gates._history import retry_creation_race

pytestmark = pytest.mark.spark

STATUSES = ["NEW", "PAID", "SHIPPED"]


def orders_schema() -> Any:
    """Orders with a unique id, an amount and a status."""
    return pa.DataFrameSchema(
        {
            "order_id": pa.Column(st.LongType()),
            "amount": pa.Column(st.DoubleType(), pa.Check.ge(0), nullable=True),
            "status": pa.Column(st.StringType(), nullable=True),
        },
        unique=["order_id"],
    )


def orders(
    spark: SparkSession, n: int, statuses: list[str] = STATUSES, *, negatives: bool = False
) -> DataFrame:
    """``n`` orders: every tenth amount NULL, statuses in turn; optionally some negative."""
    pick = sf.element_at(
        sf.array(*[sf.lit(s) for s in statuses]), (sf.col("id") % len(statuses) + 1).cast("int")
    )
    negative = sf.lit(negatives) & (sf.col("id") % 7 == 3)
    amount = (
        sf.when(sf.col("id") % 10 == 0, None)
        .when(negative, sf.lit(-1.0))
        .otherwise(sf.col("id") * 1.5)
    )
    return spark.range(n).select(
        sf.col("id").alias("order_id"), amount.alias("amount"), pick.alias("status")
    )


def past_row(
    days_ago: int, metrics: dict[str, float], verdict: str = "passed", **extra: Any
) -> dict[str, Any]:
    """A hand-written history row of an earlier run of gate ``orders``."""
    return {
        "gate": "orders",
        "table": extra.pop("table", None),
        "run_id": f"past{days_ago}",
        "started_at": dt.datetime.now(dt.UTC) - dt.timedelta(days=days_ago),
        "verdict": verdict,
        "metrics": metrics,
        "value_sets": extra.pop("value_sets", {}),
        **extra,
    }


class TestResultsHistoryTable:
    def test_each_run_appends_one_row_that_reads_back(
        self, spark: SparkSession, tmp_path: Path
    ) -> None:
        """Delta by path: gate, table, ids, time, verdict, per-check counts, metrics, anomalies."""
        history = ResultsHistory(str(tmp_path / "history"))
        gate = Gate(
            "orders",
            orders_schema(),
            default_action="warn",
            anomalies=[AnomalyCheck.row_count(RelativeChange(max_decrease=0.5))],
            history=history,
        )
        first = gate.run(orders(spark, 20, negatives=True), table="silver.orders", batch_id="b1")
        second = gate.run(
            orders(spark, 30, negatives=True), table="silver.orders", batch_id="b2", run_id="r2"
        )
        rows = history.read(spark).orderBy("started_at").collect()
        assert [r.run_id for r in rows] == [first.run_id, "r2"]
        assert [r.batch_id for r in rows] == ["b1", "b2"]
        assert {r.gate for r in rows} == {"orders"}
        assert {r.table for r in rows} == {"silver.orders"}
        assert [r.verdict for r in rows] == ["warned", "warned"]
        assert rows[1].started_at == second.started_at.replace(tzinfo=None)
        checks = {c.name: c for c in rows[1].checks}
        amount = checks["amount.greater_than_or_equal_to"]
        assert (amount.rows_failed, amount.rows_checked, amount.action) == (3, 30, "warn")
        assert checks["order_id.unique"].rows_failed == 0
        assert rows[1].metrics == {"row_count": 30.0}
        (anomaly,) = rows[1].anomalies
        assert (anomaly.name, anomaly.status, anomaly.baseline) == ("row_count", "ok", 20.0)
        (first_anomaly,) = rows[0].anomalies
        assert first_anomaly.status == "insufficient_history"
        assert second.history == f"delta table at {tmp_path / 'history'}"

    def test_parquet_by_path_and_delta_by_name_work_too(
        self, spark: SparkSession, tmp_path: Path
    ) -> None:
        """Any format the session writes, by path; or a catalog table by name."""
        for history in (
            ResultsHistory(str(tmp_path / "parquet"), format="parquet"),
            ResultsHistory(table="dq_history_test"),
        ):
            gate = Gate(
                "orders",
                orders_schema(),
                default_action="warn",
                anomalies=[AnomalyCheck.mean("amount", RelativeChange(max_increase=0.1))],
                history=history,
            )
            gate.run(orders(spark, 10))
            result = gate.run(orders(spark, 10))
            assert result.anomaly("amount.mean").status == "ok"
            assert history.read(spark).count() == 2

    def test_nothing_recorded_reads_as_an_empty_frame(
        self, spark: SparkSession, tmp_path: Path
    ) -> None:
        """Reading a history no run has written yet is an empty frame with the layout."""
        frame = ResultsHistory(str(tmp_path / "none")).read(spark)
        assert frame.count() == 0
        assert frame.schema == history_schema()
        assert ResultsHistory(table="no_such_history").read(spark).count() == 0

    def test_a_failed_append_keeps_the_result(self, spark: SparkSession, tmp_path: Path) -> None:
        """An append Spark refuses raises GateHistoryError carrying the full result."""
        history = ResultsHistory(str(tmp_path / "h"), format="no_such_format")
        gate = Gate("orders", orders_schema(), default_action="warn", history=history)
        with pytest.raises(GateHistoryError, match="appending run") as info:
            gate.run(orders(spark, 5))
        assert info.value.stage == "history-write"
        assert info.value.result is not None
        assert info.value.result.rows_in == 5
        assert info.value.__cause__ is not None

    def test_an_unreadable_history_fails_before_the_checks(
        self, spark: SparkSession, tmp_path: Path
    ) -> None:
        """A history path holding something else: GateHistoryError, no check has run."""
        path = str(tmp_path / "other")
        spark.createDataFrame([(1,)], "x long").write.format("delta").save(path)
        gate = Gate(
            "orders",
            orders_schema(),
            anomalies=[AnomalyCheck.row_count(RelativeChange(max_decrease=0.5))],
            history=ResultsHistory(path),
        )
        with pytest.raises(GateHistoryError, match="reading earlier runs") as info:
            gate.run(orders(spark, 5))
        assert (info.value.stage, info.value.result) == ("history-read", None)

    def test_needs_exactly_one_location(self) -> None:
        """ResultsHistory takes a path or a table name, not both, not neither."""
        with pytest.raises(GateConfigError, match="exactly one of path"):
            ResultsHistory()
        with pytest.raises(GateConfigError, match="exactly one of path"):
            ResultsHistory("/x", table="t")


class TestBaselineSelection:
    def test_only_earlier_passing_runs_of_the_same_gate_and_table(
        self, spark: SparkSession, tmp_path: Path
    ) -> None:
        """Failed runs, other gates and other tables are not part of the baseline."""
        history = ResultsHistory(str(tmp_path / "h"))
        for row in (
            past_row(4, {"row_count": 100.0}, table="t"),
            past_row(3, {"row_count": 7.0}, table="other"),
            past_row(2, {"row_count": 3.0}, verdict="failed", table="t"),
            {**past_row(1, {"row_count": 9.0}, table="t"), "gate": "someone_else"},
        ):
            history.append(spark, row)
        gate = Gate(
            "orders",
            orders_schema(),
            anomalies=[AnomalyCheck.row_count(RelativeChange(max_decrease=0.2))],
            history=history,
        )
        result = gate.run(orders(spark, 90), table="t")
        anomaly = result.anomaly("row_count")
        assert (anomaly.status, anomaly.baseline, anomaly.history_runs) == ("ok", 100.0, 1)

    def test_memory_history_reads_like_the_table(self, spark: SparkSession) -> None:
        """MemoryHistory gives the same layout, so code reading a history can be tested."""
        history = MemoryHistory([past_row(1, {"row_count": 4.0})])
        gate = Gate(
            "orders",
            orders_schema(),
            anomalies=[AnomalyCheck.row_count(RelativeChange(max_increase=1.0))],
            history=history,
        )
        gate.run(orders(spark, 5))
        frame = history.read(spark)
        assert frame.schema == history_schema()
        assert sorted(r.metrics["row_count"] for r in frame.collect()) == [4.0, 5.0]


class TestAnomaliesAcrossRuns:
    def gate(self, history: MemoryHistory, **options: Any) -> Gate:
        """The orders gate with a row-count drop check (fail) and a status set check (warn)."""
        return Gate(
            "orders",
            orders_schema(),
            default_action="warn",
            anomalies=[
                AnomalyCheck.row_count(RelativeChange(max_decrease=0.5), action="fail"),
                AnomalyCheck.value_set("status", ValueSetChange(runs=2), action="warn"),
                AnomalyCheck.null_fraction("amount", StdDevBand(k=3, runs=10), min_history=3),
            ],
            history=history,
            **options,
        )

    def test_a_sudden_drop_fails_the_gate(self, spark: SparkSession) -> None:
        """Normal runs pass; 5% of the usual rows fails with the anomaly in the message."""
        history = MemoryHistory()
        gate = self.gate(history)
        for n in (100, 110, 104):
            assert gate.run(orders(spark, n)).verdict == Verdict.PASSED
        with pytest.raises(GateFailedError) as info:
            gate.run(orders(spark, 5))
        result = info.value.result
        anomaly = result.anomaly("row_count")
        assert (anomaly.status, anomaly.tripped, anomaly.value) == ("anomaly", True, 5.0)
        assert (anomaly.baseline, anomaly.lower) == (104.0, 52.0)
        message = str(info.value)
        assert "row_count [relative_change(max_decrease=0.5)]: value 5 is outside" in message
        assert result.verdict == Verdict.FAILED
        assert [r["verdict"] for r in history.rows] == ["passed", "passed", "passed", "failed"]
        # Five rows also shift the NULL fraction (one NULL in five): flagged, but only warned.
        found = [(a.name, a.action.value) for a in result.anomalies_found]
        assert found == [("row_count", "fail"), ("amount.null_fraction", "warn")]
        data = json.loads(json.dumps(result.to_dict(), allow_nan=False))
        assert data["anomalies_found"] == 2
        assert data["anomalies"][0]["is_anomaly"] is True
        assert data["metrics"]["row_count"] == 5.0

    def test_a_disappearing_category_warns(self, spark: SparkSession) -> None:
        """A status missing from a batch is an anomaly; action warn keeps the gate warned."""
        history = MemoryHistory()
        gate = self.gate(history)
        gate.run(orders(spark, 30))
        gate.run(orders(spark, 30))
        result = gate.run(orders(spark, 30, ["NEW", "PAID"]))
        anomaly = result.anomaly("status.value_set")
        assert (anomaly.status, anomaly.action.value) == ("anomaly", "warn")
        assert anomaly.missing_values == ["SHIPPED"]
        assert result.verdict == Verdict.WARNED
        assert result.anomalies_found == [anomaly]

    def test_until_enough_history_the_check_records_and_says_so(self, spark: SparkSession) -> None:
        """min_history=3: the first three runs are recorded, not judged, and the result says so."""
        history = MemoryHistory()
        gate = self.gate(history)
        statuses = [gate.run(orders(spark, 20)).anomaly("amount.null_fraction") for _ in range(4)]
        assert [a.status for a in statuses] == [
            "insufficient_history",
            "insufficient_history",
            "insufficient_history",
            "ok",
        ]
        assert "2 earlier run(s) with this metric, 3 needed" in statuses[2].message
        assert [r["metrics"]["amount.null_fraction"] for r in history.rows] == [0.1] * 4


class TestConcurrentFirstAppends:
    """Gates appending at once to a history that does not exist yet lose no run."""

    def test_racing_first_appends_all_land(self, spark: SparkSession, tmp_path: Path) -> None:
        """Four gate runs at once create the table together: all four rows are in it."""
        history = ResultsHistory(str(tmp_path / "history"))
        gate = Gate("orders", orders_schema(), default_action="warn", history=history)
        frame = orders(spark, 10)
        errors: list[BaseException] = []

        def run(batch: int) -> None:
            try:
                gate.run(frame, table="silver.orders", batch_id=f"b{batch}", run_id=f"r{batch}")
            except BaseException as exc:  # collected, asserted below
                errors.append(exc)

        threads = [threading.Thread(target=run, args=(i,)) for i in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

        assert errors == []
        assert sorted(r.run_id for r in history.read(spark).collect()) == ["r0", "r1", "r2", "r3"]

    def test_only_a_creation_race_is_retried(self) -> None:
        """A refused creation is written again; any other failure is raised at once."""
        calls: list[int] = []

        def lose_once() -> None:
            calls.append(1)
            if len(calls) == 1:
                raise RuntimeError("[DELTA_PROTOCOL_CHANGED] ProtocolChangedException: ...")

        retry_creation_race(lose_once)
        assert len(calls) == 2

        def broken() -> None:
            calls.append(1)
            raise RuntimeError("[PATH_NOT_FOUND] nope")

        calls.clear()
        with pytest.raises(RuntimeError, match="PATH_NOT_FOUND"):
            retry_creation_race(broken)
        assert len(calls) == 1

        def always_losing() -> None:
            calls.append(1)
            raise RuntimeError("[DELTA_METADATA_CHANGED] again")

        calls.clear()
        with pytest.raises(RuntimeError, match="DELTA_METADATA_CHANGED"):
            retry_creation_race(always_losing, attempts=3)
        assert len(calls) == 3
