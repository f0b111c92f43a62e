"""Profile metrics: each equals a naive Spark computation, and none adds a Spark job."""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

import pandera.pyspark as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as hs
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as sf
from pyspark.sql import types as st

from dq_gates import AnomalyCheck, Gate, GateResult, MemoryHistory, RelativeChange

pytestmark = pytest.mark.spark

ROWS = st.StructType(
    [
        st.StructField("k", st.LongType()),
        st.StructField("x", st.DoubleType()),
        st.StructField("n", st.IntegerType()),
        st.StructField("s", st.StringType()),
    ]
)
CHANGE = RelativeChange(max_increase=1.0, max_decrease=0.5)


def anomalies() -> list[AnomalyCheck]:
    """One anomaly check per metric (and per metric kind on two columns)."""
    return [
        AnomalyCheck.row_count(CHANGE),
        AnomalyCheck.null_fraction("x", CHANGE),
        AnomalyCheck.null_fraction("s", CHANGE),
        AnomalyCheck.distinct_count("s", CHANGE),
        AnomalyCheck.distinct_count("n", CHANGE),
        AnomalyCheck.mean("x", CHANGE),
        AnomalyCheck.min("x", CHANGE),
        AnomalyCheck.max("n", CHANGE),
        AnomalyCheck.sum("n", CHANGE),
        AnomalyCheck.sum("x", CHANGE),
        AnomalyCheck.value_set("s"),
        AnomalyCheck.value_set("n"),
    ]


def gate(*, unique: bool) -> Gate:
    """A warn-only gate with a row check per column, a unique key or not, and every metric."""
    schema = pa.DataFrameSchema(
        {
            "k": pa.Column(st.LongType(), nullable=True),
            "x": pa.Column(st.DoubleType(), pa.Check.ge(0), nullable=True),
            "n": pa.Column(st.IntegerType(), pa.Check.lt(5), nullable=True),
            "s": pa.Column(st.StringType(), pa.Check.isin(["a", "b"]), nullable=True),
        },
        unique=["k"] if unique else None,
    )
    return Gate("p", schema, default_action="warn", anomalies=anomalies(), history=MemoryHistory())


def naive(df: DataFrame) -> tuple[dict[str, float | None], dict[str, list[str]]]:
    """Each metric by a plain Spark aggregate over the input; value sets by ``distinct()``."""
    c = sf.col
    row = df.agg(
        sf.count(sf.lit(1)).alias("rows"),
        sf.count_if(c("x").isNull()).alias("x_nulls"),
        sf.count_if(c("s").isNull()).alias("s_nulls"),
        sf.approx_count_distinct("s", 0.05).alias("s_distinct"),
        sf.approx_count_distinct("n", 0.05).alias("n_distinct"),
        sf.avg("x").alias("x_mean"),
        sf.min("x").alias("x_min"),
        sf.max("n").alias("n_max"),
        sf.sum(c("n").cast("double")).alias("n_sum"),
        sf.sum("x").alias("x_sum"),
    ).first()
    assert row is not None
    rows = row["rows"]

    def values(column: str) -> list[str]:
        found = df.select(c(column).cast("string")).distinct().collect()
        return sorted(r[0] for r in found if r[0] is not None)

    def number(value: Any) -> float | None:
        return None if value is None else float(value)

    sets = {"s.value_set": values("s"), "n.value_set": values("n")}
    metrics = {
        "row_count": float(rows),
        "x.null_fraction": row["x_nulls"] / rows if rows else None,
        "s.null_fraction": row["s_nulls"] / rows if rows else None,
        "s.distinct_count": float(row["s_distinct"]),
        "n.distinct_count": float(row["n_distinct"]),
        "x.mean": number(row["x_mean"]),
        "x.min": number(row["x_min"]),
        "n.max": number(row["n_max"]),
        "n.sum": number(row["n_sum"]),
        "x.sum": number(row["x_sum"]),
        "s.value_set": float(len(sets["s.value_set"])),
        "n.value_set": float(len(sets["n.value_set"])),
    }
    return metrics, sets


def same_number(a: float | None, b: float | None) -> bool:
    """Equal, NaN equal to NaN, sums and means up to floating-point summation order."""
    if a is None or b is None:
        return a is b
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return a == pytest.approx(b, rel=1e-9, abs=1e-9)


keys = hs.one_of(hs.none(), hs.integers(min_value=0, max_value=5))
doubles = hs.one_of(
    hs.none(),
    hs.sampled_from([float("nan"), float("inf"), -0.0, 0.5, 1e300]),
    hs.floats(min_value=-100, max_value=100),
)
ints = hs.one_of(hs.none(), hs.integers(min_value=-3, max_value=9))
strings = hs.one_of(hs.none(), hs.sampled_from(["a", "b", "c", "", "NaN"]))
batches = hs.lists(hs.tuples(keys, doubles, ints, strings), max_size=25)


def check_metrics(result: GateResult, df: DataFrame) -> None:
    """The gate's metrics and value sets equal the naive ones."""
    metrics, sets = naive(df)
    assert set(result.metrics) == set(metrics)
    for name, value in metrics.items():
        assert same_number(result.metrics[name], value), (name, result.metrics[name], value)
    assert result.value_sets == sets


class TestMetricsEqualNaiveSpark:
    @settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(data=batches)
    def test_without_a_unique_key(self, spark: SparkSession, data: list[tuple[Any, ...]]) -> None:
        """In the plain aggregation, every metric equals its naive computation."""
        df = spark.createDataFrame(data, ROWS)
        check_metrics(gate(unique=False).run(df), df)

    @settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(data=batches)
    def test_through_the_key_window(self, spark: SparkSession, data: list[tuple[Any, ...]]) -> None:
        """With a unique key (numeric metrics and known value sets observed), they still agree."""
        df = spark.createDataFrame(data, ROWS)
        check_metrics(gate(unique=True).run(df), df)


class TestNoExtraPass:
    @pytest.mark.no_connect("counts jobs with sparkContext's status tracker (none over Connect)")
    def test_metrics_add_no_spark_job(self, spark: SparkSession) -> None:
        """A gate with twelve anomaly checks starts as many Spark jobs as without them."""
        df = spark.createDataFrame(
            [(1, 1.0, 1, "a"), (2, None, 7, "z"), (3, 2.0, None, None)], ROWS
        )
        plain = Gate("p", gate(unique=True).schema, default_action="warn")

        def jobs(g: Gate, group: str) -> int:
            spark.sparkContext.setJobGroup(group, group)
            try:
                g.run(df)
            finally:
                spark.sparkContext.setJobGroup("", "")
            return len(spark.sparkContext.statusTracker().getJobIdsForGroup(group))

        assert jobs(gate(unique=True), "with-metrics") == jobs(plain, "without-metrics")


def gate_knowing(known: dict[str, list[str]], *, unique: bool) -> Gate:
    """The same gate, its history holding one earlier run that saw the ``known`` values."""
    past = {
        "gate": "p",
        "table": None,
        "run_id": "earlier",
        "started_at": dt.datetime.now(dt.UTC) - dt.timedelta(days=1),
        "verdict": "passed",
        "metrics": {},
        "value_sets": known,
    }
    plain = gate(unique=unique)
    return Gate(
        "p",
        plain.schema,
        default_action="warn",
        anomalies=anomalies(),
        history=MemoryHistory([past]),
    )


known_strings = hs.lists(hs.sampled_from(["a", "b", "c", "", "NaN", "zz"]), unique=True)
known_ints = hs.lists(hs.integers(min_value=-3, max_value=12).map(str), unique=True)


class TestValueSetsAgainstKnownValues:
    """A value set the history knows is computed in the counting aggregation; same result."""

    @settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(data=batches, s_known=known_strings, n_known=known_ints, unique=hs.booleans())
    def test_value_sets_equal_naive_spark_whatever_the_history_knew(
        self,
        spark: SparkSession,
        data: list[tuple[Any, ...]],
        s_known: list[str],
        n_known: list[str],
        unique: bool,
    ) -> None:
        """Known values present or absent, new values or none: the sets are the exact ones."""
        df = spark.createDataFrame(data, ROWS)
        known = {"s.value_set": s_known, "n.value_set": n_known}
        check_metrics(gate_knowing(known, unique=unique).run(df), df)

    @pytest.mark.no_connect("counts jobs with sparkContext's status tracker (none over Connect)")
    def test_a_second_job_runs_only_for_new_values(self, spark: SparkSession) -> None:
        """Known values only: no extra job. A new value of one column: a second query names it.

        (That query is one aggregation; with adaptive execution Spark runs it as two jobs, a
        shuffle stage and the result, so only "more than without" is asserted.)
        """
        df = spark.createDataFrame(
            [(1, 1.0, 1, "a"), (2, None, 7, "b"), (3, 2.0, None, None)], ROWS
        )
        plain = Gate("p", gate(unique=True).schema, default_action="warn")

        def jobs(g: Gate, group: str) -> tuple[int, GateResult]:
            spark.sparkContext.setJobGroup(group, group)
            try:
                result = g.run(df)
            finally:
                spark.sparkContext.setJobGroup("", "")
            return len(spark.sparkContext.statusTracker().getJobIdsForGroup(group)), result

        baseline, _ = jobs(plain, "plain")
        seen, result = jobs(
            gate_knowing({"s.value_set": ["a", "b", "c"], "n.value_set": ["1", "7"]}, unique=True),
            "all-known",
        )
        assert seen == baseline
        assert result.value_sets == {"s.value_set": ["a", "b"], "n.value_set": ["1", "7"]}
        # "c" was seen before and is missing now: the check judges the set it computed.
        assert result.anomaly("s.value_set").status == "anomaly"
        more, result = jobs(
            gate_knowing({"s.value_set": ["a"], "n.value_set": ["1", "7"]}, unique=True),
            "one-new",
        )
        assert more > baseline
        assert result.value_sets["s.value_set"] == ["a", "b"]
