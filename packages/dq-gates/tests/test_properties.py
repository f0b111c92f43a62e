"""Property tests: counts equal a naive one-filter-per-check reference; the split loses no row."""

from __future__ import annotations

from typing import Any

import pandera.pyspark as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as hs
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as sf
from pyspark.sql import types as st

from dq_gates import Gate, GateResult

pytestmark = pytest.mark.spark

ROW_SCHEMA = st.StructType(
    [
        st.StructField("k", st.LongType()),
        st.StructField("x", st.DoubleType()),
        st.StructField("s", st.StringType()),
    ]
)

SCHEMA = pa.DataFrameSchema(
    {
        "k": pa.Column(st.LongType(), pa.Check.in_range(0, 3, include_max=False)),
        "x": pa.Column(
            st.DoubleType(),
            [
                pa.Check.ge(0),
                pa.Check.le(10),
                pa.Check.gt(0),
                pa.Check.lt(10),
                pa.Check.in_range(0, 10, include_min=False),
                pa.Check.eq(0.5),
                pa.Check.ne(0.5),
            ],
            nullable=True,
        ),
        "s": pa.Column(
            st.StringType(),
            [
                pa.Check.isin(["a", "ab"]),
                pa.Check.notin(["b"]),
                pa.Check.str_length(1, 2),
                pa.Check.str_startswith("a"),
                pa.Check.str_endswith("b"),
                pa.Check.str_contains("b"),
                pa.Check.str_matches("a+b?$"),
            ],
            nullable=True,
        ),
    },
    unique=["k"],
)

# The naive reference: one Spark SQL filter per check, written independently of the compiler.
# Nulls fail nothing but not_null; NaN fails every ordering check (dq-gates' documented rule).
REFERENCE = {
    "k.not_null": "k IS NULL",
    "k.in_range": "k < 0 OR k >= 3",
    "x.greater_than_or_equal_to": "x < 0 OR isnan(x)",
    "x.less_than_or_equal_to": "x > 10 OR isnan(x)",
    "x.greater_than": "x <= 0 OR isnan(x)",
    "x.less_than": "x >= 10 OR isnan(x)",
    "x.in_range": "x <= 0 OR x > 10 OR isnan(x)",
    "x.equal_to": "x != 0.5",
    "x.not_equal_to": "x = 0.5",
    "s.isin": "s NOT IN ('a', 'ab')",
    "s.notin": "s = 'b'",
    "s.str_length": "length(s) < 1 OR length(s) > 2",
    "s.str_startswith": "NOT startswith(s, 'a')",
    "s.str_endswith": "NOT endswith(s, 'b')",
    "s.str_contains": "NOT s RLIKE 'b'",
    "s.str_matches": "NOT s RLIKE '^a+b?$'",
}

keys = hs.one_of(hs.none(), hs.integers(min_value=-1, max_value=4))
doubles = hs.one_of(
    hs.none(),
    hs.sampled_from([float("nan"), float("inf"), float("-inf"), 0.0, -0.0, 0.5, 10.0, 1e-9]),
    hs.floats(min_value=-20, max_value=20),
)
strings = hs.one_of(
    hs.none(),
    hs.sampled_from(["", "a", "ab", "abb", "b", "ba", "aab"]),
    hs.text(alphabet="ab", max_size=4),
)
rows = hs.lists(hs.tuples(keys, doubles, strings), max_size=30)


def naive_counts(df: DataFrame) -> dict[str, int]:
    """Failing rows per check, one filter(...).count() each, plus the uniqueness reference."""
    counts = {name: df.filter(sf.expr(cond)).count() for name, cond in REFERENCE.items()}
    duplicated = df.groupBy("k").count().filter("count > 1").agg(sf.sum("count")).first()
    counts["k.unique"] = int(duplicated[0] or 0) if duplicated else 0
    return counts


def gate_counts(result: GateResult) -> dict[str, int]:
    """Failing rows per check as the gate reports them."""
    return {c.name: int(c.rows_failed or 0) for c in result.checks}


class TestCountsEqualNaiveReference:
    @settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(data=rows)
    def test_counts(self, spark: SparkSession, data: list[tuple[Any, ...]]) -> None:
        """On random data with nulls, NaN, infinities and empty strings the counts are exact."""
        df = spark.createDataFrame(data, ROW_SCHEMA)
        result = Gate("p", SCHEMA, default_action="warn").run(df)
        assert gate_counts(result) == naive_counts(df)
        assert result.rows_in == len(data)


class TestSplitLosesNoRow:
    @settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(data=rows)
    def test_valid_plus_quarantined_plus_dropped_is_input(
        self, spark: SparkSession, data: list[tuple[Any, ...]]
    ) -> None:
        """Whatever fails, valid + quarantined + dropped rows add up to the input rows."""
        df = spark.createDataFrame(data, ROW_SCHEMA)
        gate = Gate(
            "p",
            SCHEMA,
            default_action="warn",
            actions={"x": "drop", "s.isin": "quarantine", "k.unique": "quarantine"},
        )
        with gate.run(df) as result:
            valid = result.valid.count()
            quarantined = result.quarantine.count()
            assert valid + quarantined + result.rows_dropped == len(data)
            assert (valid, quarantined) == (result.rows_valid, result.rows_quarantined)
