"""Anomaly checks' cost: the gate with six anomaly checks against the gate alone."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from pyspark.sql import SparkSession

from dq_gates import (
    AnomalyCheck,
    Gate,
    MemoryHistory,
    RelativeChange,
    ResultsHistory,
    StdDevBand,
    ValueSetChange,
)
from pipeline_testkit import scaled

from .conftest import STATUSES, orders_schema

pytestmark = pytest.mark.spark

DATASETS = ["clean", "dirty"]


def six_anomaly_checks() -> list[AnomalyCheck]:
    """Row count, NULL fraction, mean, max, distinct-count estimate and a value set."""
    return [
        AnomalyCheck.row_count(RelativeChange(max_decrease=0.5, max_increase=1.0)),
        AnomalyCheck.null_fraction("amount", StdDevBand(k=3, runs=30)),
        AnomalyCheck.mean("amount", StdDevBand(k=3, runs=30)),
        AnomalyCheck.max("amount", RelativeChange(max_increase=1.0)),
        AnomalyCheck.distinct_count("customer_id", RelativeChange(max_decrease=0.5)),
        AnomalyCheck.value_set("status", ValueSetChange(runs=3)),
    ]


def earlier_runs(metrics: dict[str, float | None], sets: dict[str, Any]) -> MemoryHistory:
    """Ten earlier daily runs holding this batch's metrics, so every check judges."""
    return MemoryHistory(
        [
            {
                "gate": "orders",
                "table": None,
                "run_id": f"past{day}",
                "started_at": dt.datetime.now(dt.UTC) - dt.timedelta(days=day),
                "verdict": "passed",
                "metrics": metrics,
                "value_sets": sets,
            }
            for day in range(1, 11)
        ]
    )


class TestAnomalyBenchmarks:
    @pytest.mark.parametrize("dataset", DATASETS)
    def test_six_anomaly_checks_vs_gate(
        self, spark: SparkSession, order_paths: dict[str, str], compare: Any, dataset: str
    ) -> None:
        """The metrics ride in the gate's single pass: with six anomaly checks vs without."""
        df = spark.read.parquet(order_paths[dataset])
        plain = Gate("orders", orders_schema(), default_action="warn")
        probe = Gate(
            "orders",
            orders_schema(),
            default_action="warn",
            anomalies=six_anomaly_checks(),
            history=MemoryHistory(),
        )
        first = probe.run(df)
        assert first.value_sets["status.value_set"] == sorted(
            [*STATUSES, "BOGUS"] if dataset == "dirty" else STATUSES
        )
        gate = Gate(
            "orders",
            orders_schema(),
            default_action="warn",
            anomalies=six_anomaly_checks(),
            history=earlier_runs(first.metrics, first.value_sets),
        )
        judged = gate.run(df)
        assert [a.status for a in judged.anomalies] == ["ok"] * 6
        compare(
            f"six_anomaly_checks_vs_gate[{dataset}]",
            candidate=lambda: gate.run(df),
            baseline=lambda: plain.run(df),
            # Single rounds of a ~2-4 s gate scatter by about +-20%: 7 rounds at full scale
            # keep the median from deciding the 10% target on noise.
            rounds=scaled(full=7, tiny=3),
            target=1.10,
        )

    def test_delta_history_vs_gate(
        self,
        spark: SparkSession,
        order_paths: dict[str, str],
        compare: Any,
        tmp_path: Path,
    ) -> None:
        """Reading earlier runs from and appending to a Delta history, as a ratio to the gate.

        Reported, no target: two small Spark jobs (a read of the history and a one-row Delta
        commit) whose cost does not depend on the batch size.
        """
        df = spark.read.parquet(order_paths["clean"])
        plain = Gate("orders", orders_schema(), default_action="warn")
        gate = Gate(
            "orders",
            orders_schema(),
            default_action="warn",
            anomalies=six_anomaly_checks(),
            history=ResultsHistory(str(tmp_path / "history")),
        )
        gate.run(df)
        assert gate.run(df).anomaly("row_count").status == "ok"
        compare(
            "delta_history_vs_gate[clean]",
            candidate=lambda: gate.run(df),
            baseline=lambda: plain.run(df),
            target=None,
        )
