"""Gate.run against pandera's own validation, the hand-written floor, and the split's cost."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as sf

from dq_gates import Gate
from pipeline_testkit import SparkMode

from .conftest import STATUSES, orders_schema

pytestmark = pytest.mark.spark

DATASETS = ["clean", "dirty"]


def floor(df: DataFrame) -> tuple[Any, Any]:
    """The hand-written floor: one aggregation of row-level failures plus one uniqueness groupBy."""
    now = sf.lit(dt.datetime.now(dt.UTC))
    c = sf.col
    failures = [
        c("order_id").isNull(),
        c("customer_id").isNull(),
        c("status").isNull(),
        sf.coalesce(~(c("customer_id") > 0), sf.lit(False)),
        sf.coalesce(~(c("amount") >= 0) | sf.isnan("amount"), sf.lit(False)),
        sf.coalesce(~(c("amount") <= 1e6) | sf.isnan("amount"), sf.lit(False)),
        sf.coalesce(~c("status").isin(STATUSES), sf.lit(False)),
        sf.coalesce(~(c("order_ts") <= now), sf.lit(False)),
        sf.coalesce(~(sf.length("country") == 2), sf.lit(False)),
    ]
    counts = df.agg(sf.count(sf.lit(1)), *[sf.sum(sf.when(f, 1).otherwise(0)) for f in failures])
    duplicates = df.groupBy("order_id").count().filter("count > 1").agg(sf.sum("count"))
    return counts.collect(), duplicates.collect()


def pandera_validate(df: DataFrame) -> dict[str, Any]:
    """Validate with pandera's own PySpark backend; read the errors so it surely ran."""
    validated: Any = orders_schema().validate(df)
    return dict(validated.pandera.errors)


class TestGateBenchmarks:
    @pytest.mark.parametrize("dataset", DATASETS)
    def test_gate_vs_pandera(
        self,
        spark: SparkSession,
        spark_mode: SparkMode,
        order_paths: dict[str, str],
        compare: Any,
        dataset: str,
    ) -> None:
        """dq-gates (exact counts, samples) against pandera (first failure per check).

        With ``--spark-connect`` both validate a Spark Connect DataFrame.
        """
        df = spark.read.parquet(order_paths[dataset])
        gate = Gate("orders", orders_schema(), default_action="warn")
        result = gate.run(df)
        assert (result.rows_failing_any > 0) == (dataset == "dirty")
        assert bool(pandera_validate(df)) == (dataset == "dirty")
        compare(
            f"gate_vs_pandera[{dataset}, {spark_mode}]",
            candidate=lambda: gate.run(df),
            baseline=lambda: pandera_validate(df),
            target=1.0,
        )

    @pytest.mark.parametrize("dataset", DATASETS)
    def test_gate_vs_floor(
        self, spark: SparkSession, order_paths: dict[str, str], compare: Any, dataset: str
    ) -> None:
        """dq-gates against one hand-written aggregation plus one uniqueness groupBy."""
        df = spark.read.parquet(order_paths[dataset])
        gate = Gate("orders", orders_schema(), default_action="warn")
        (counts,), (duplicates,) = floor(df)
        result = gate.run(df)
        assert result.check("order_id.unique").rows_failed == int(duplicates[0] or 0)
        assert result.check("amount.greater_than_or_equal_to").rows_failed == counts[5]
        compare(
            f"gate_vs_floor[{dataset}]",
            candidate=lambda: gate.run(df),
            baseline=lambda: floor(df),
            target=1.2,
        )

    @pytest.mark.parametrize("dataset", DATASETS)
    def test_split_cost(
        self, spark: SparkSession, order_paths: dict[str, str], compare: Any, dataset: str
    ) -> None:
        """Gate plus writing valid and quarantine (noop sink), as a ratio to the gate alone."""
        df = spark.read.parquet(order_paths[dataset])
        gate = Gate("orders", orders_schema(), default_action="quarantine")

        def gate_and_split() -> None:
            with gate.run(df) as result:
                result.valid.write.format("noop").mode("overwrite").save()
                result.quarantine.write.format("noop").mode("overwrite").save()

        with gate.run(df) as result:
            assert result.valid.count() + result.quarantine.count() == result.rows_in
        compare(
            f"split_vs_gate[{dataset}]",
            candidate=gate_and_split,
            baseline=lambda: gate.run(df).release(),
            target=None,
        )
