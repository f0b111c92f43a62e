"""Gates on an object store (``--spark-s3``) and on a standalone cluster (``--spark-cluster``).

The same checks as a local run: the one-pass evaluation and the quarantine split run in the
executors of a standalone cluster, and the results history lives in an ``s3a://`` Delta table
on the testkit's S3 server.
"""

from __future__ import annotations

from typing import Any

import pytest
from pyspark.sql import SparkSession

from dq_gates import AnomalyCheck, Gate, RelativeChange, ResultsHistory, Verdict

from .conftest import ORDER_COLUMNS, order, orders_schema

pytestmark = pytest.mark.spark


def _orders(spark: SparkSession, rows: list[tuple[Any, ...]]) -> Any:
    # Four partitions: on a cluster both executors evaluate a share of the rows.
    return spark.createDataFrame(rows, ORDER_COLUMNS).repartition(4)


def _quarantine_and_history(spark: SparkSession, history_path: str) -> None:
    """Two runs: counts, quarantine reasons and history rows equal what a local run gives."""
    history = ResultsHistory(history_path)
    gate = Gate(
        "orders",
        orders_schema(),
        default_action="quarantine",
        anomalies=[AnomalyCheck.row_count(RelativeChange(max_decrease=0.5))],
        history=history,
    )
    rows = [order(i) for i in range(1, 11)] + [order(11, amount=-1.0), order(12, status="LOST")]
    first = gate.run(_orders(spark, rows), table="silver.orders", batch_id="b1")
    second = gate.run(_orders(spark, rows[:8]), table="silver.orders", batch_id="b2")

    assert first.verdict == Verdict.WARNED
    assert (first.rows_valid, first.rows_quarantined) == (10, 2)
    quarantined = {r.order_id: r._dq_failed_checks for r in first.quarantine.collect()}
    assert quarantined == {11: ["amount.greater_than_or_equal_to"], 12: ["status.isin"]}
    assert sorted(r.order_id for r in first.valid.collect()) == list(range(1, 11))
    first.release()
    assert (second.rows_valid, second.rows_quarantined) == (8, 0)
    stored = history.read(spark).orderBy("started_at").collect()
    assert [r.batch_id for r in stored] == ["b1", "b2"]
    assert [r.metrics["row_count"] for r in stored] == [12.0, 8.0]
    second.release()


@pytest.mark.s3
class TestOnObjectStore:
    """Results history as an s3a:// Delta table."""

    def test_history_on_s3(self, spark: SparkSession, table_path: str) -> None:
        """The history table is written to and read back from the S3 server."""
        assert table_path.startswith("s3a://")
        _quarantine_and_history(spark, table_path)


@pytest.mark.cluster
class TestOnCluster:
    """Evaluation and quarantine in the executors of a standalone cluster."""

    def test_gate_on_cluster(
        self, spark: SparkSession, table_path: str, spark_cluster: Any
    ) -> None:
        """The gate's counts and split are exact when executors are other processes."""
        assert spark.sparkContext.master == spark_cluster.master_url
        _quarantine_and_history(spark, table_path)
