"""Gate.run on Spark: counts, null / NaN semantics, actions, thresholds, the split, errors."""

from __future__ import annotations

import datetime as dt
import json
import re
from typing import Any

import pandera.pyspark as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as hs
from pyspark.errors import PySparkException
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as sf
from pyspark.sql import types as st

from dq_gates import (
    Action,
    AnomalyCheck,
    Gate,
    GateCheckError,
    GateCheckTypeError,
    GateFailedError,
    GateRunError,
    GateSchemaError,
    MemoryHistory,
    RelativeChange,
    Threshold,
    UncompiledCheckWarning,
    Verdict,
)
from dq_gates.checks import spark_check

from .conftest import FUTURE, ORDER_COLUMNS, PAST, order

pytestmark = pytest.mark.spark


def orders(spark: SparkSession, rows: list[tuple[Any, ...]]) -> DataFrame:
    """An orders DataFrame with the test schema."""
    return spark.createDataFrame(rows, ORDER_COLUMNS)


def one_column(spark: SparkSession, dtype: st.DataType, values: list[Any]) -> DataFrame:
    """A single-column DataFrame ``v``."""
    return spark.createDataFrame(
        [(v,) for v in values], st.StructType([st.StructField("v", dtype)])
    )


def failed_of(spark: SparkSession, check: Any, dtype: st.DataType, values: list[Any]) -> int:
    """Rows failing ``check`` on a one-column frame, evaluated by a warn-only gate."""
    gate = Gate(
        "g",
        pa.DataFrameSchema({"v": pa.Column(dtype, check, nullable=True)}),
        default_action="warn",
    )
    result = gate.run(one_column(spark, dtype, values))
    (check_result,) = result.checks
    assert check_result.rows_failed is not None
    return check_result.rows_failed


class TestCompiledChecks:
    @pytest.mark.parametrize(
        ("check", "dtype", "values", "failed"),
        [
            (pa.Check.eq(1), st.LongType(), [1, 2, None], 1),
            (pa.Check.ne(1), st.LongType(), [1, 2, None], 1),
            (pa.Check.gt(1), st.LongType(), [0, 1, 2, None], 2),
            (pa.Check.ge(1), st.LongType(), [0, 1, 2, None], 1),
            (pa.Check.lt(1), st.LongType(), [0, 1, 2, None], 2),
            (pa.Check.le(1), st.LongType(), [0, 1, 2, None], 1),
            (pa.Check.in_range(0, 2), st.LongType(), [-1, 0, 2, 3, None], 2),
            (pa.Check.in_range(0, 2, include_min=False), st.LongType(), [0, 1, 2], 1),
            (pa.Check.in_range(0, 2, include_max=False), st.LongType(), [0, 1, 2], 1),
            (pa.Check.isin(["a", "b"]), st.StringType(), ["a", "c", "", None], 2),
            (pa.Check.notin(["a"]), st.StringType(), ["a", "c", None], 1),
            (pa.Check.str_matches(r"a\d"), st.StringType(), ["a1", "ba1", "a", None], 2),
            (pa.Check.str_matches(r"^a"), st.StringType(), ["ab", "ba"], 1),
            (pa.Check.str_matches(re.compile("a")), st.StringType(), ["ab", "ba"], 1),
            (pa.Check.str_contains("a"), st.StringType(), ["ba", "bb", "", None], 2),
            (pa.Check.str_startswith("a"), st.StringType(), ["ab", "ba", "", None], 2),
            (pa.Check.str_endswith("a"), st.StringType(), ["ba", "ab", None], 1),
            (pa.Check.str_length(2, 3), st.StringType(), ["a", "ab", "abcd", "", None], 3),
            (pa.Check.str_length(min_value=2), st.StringType(), ["a", "abcd"], 1),
            (pa.Check.str_length(2), st.StringType(), ["a", "ab", "abcd"], 2),
            (pa.Check.str_length(max_value=1), st.StringType(), ["", "ab"], 1),
            (pa.Check.str_length(exact_value=2), st.StringType(), ["ab", "abc"], 1),
            (pa.Check.ge(dt.date(2024, 1, 1)), st.DateType(), [dt.date(2023, 12, 31), None], 1),
        ],
    )
    def test_failure_counts_match_pandera_predicates(
        self, spark: SparkSession, check: Any, dtype: st.DataType, values: list[Any], failed: int
    ) -> None:
        """Each built-in counts exactly the rows pandera's predicate rejects; nulls pass."""
        assert failed_of(spark, check, dtype, values) == failed

    def test_nan_fails_every_ordering_check(self, spark: SparkSession) -> None:
        """NaN fails ge, gt, le, lt and in_range on doubles (raw Spark would pass NaN >= 0)."""
        values = [float("nan"), 1.0, None]
        for check in (pa.Check.ge(0), pa.Check.gt(0), pa.Check.le(10), pa.Check.lt(10)):
            assert failed_of(spark, check, st.DoubleType(), values) == 1
        assert failed_of(spark, pa.Check.in_range(0, 10), st.FloatType(), values) == 1

    def test_nan_is_not_null(self, spark: SparkSession) -> None:
        """The not-null check counts nulls only; NaN is a value (Spark's rule)."""
        schema = pa.DataFrameSchema({"v": pa.Column(st.DoubleType(), nullable=False)})
        result = Gate("g", schema, default_action="warn").run(
            one_column(spark, st.DoubleType(), [float("nan"), None, None])
        )
        assert result.check("v.not_null").rows_failed == 2
        assert result.check("v.not_null").sample == [None]

    def test_spark_check_compiles_a_custom_predicate(self, spark: SparkSession) -> None:
        """A dq_gates.checks.spark_check runs inside the pass and counts rows."""
        even = spark_check("even", lambda c: c % 2 == 0)
        assert failed_of(spark, even, st.LongType(), [1, 2, 3, None]) == 2

    def test_spark_check_also_runs_under_plain_pandera(self, spark: SparkSession) -> None:
        """The same check object validates with pandera alone, reporting the failure."""
        schema = pa.DataFrameSchema(
            {"v": pa.Column(st.LongType(), spark_check("even", lambda c: c % 2 == 0))}
        )
        validated: Any = schema.validate(one_column(spark, st.LongType(), [1, 2]))
        assert "even" in json.dumps(dict(validated.pandera.errors), default=str)

    def test_not_in_future_uses_the_run_start(self, spark: SparkSession) -> None:
        """Timestamps after the run's start fail; earlier ones and nulls pass."""
        now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
        values = [now - dt.timedelta(days=1), FUTURE, None]
        from dq_gates.checks import not_in_future

        assert failed_of(spark, not_in_future(), st.TimestampType(), values) == 1

    def test_element_wise_python_check_runs_as_udf(self, spark: SparkSession) -> None:
        """An element-wise lambda is evaluated row by row; nulls are ignored like pandera."""
        check = pa.Check(lambda x: x % 2 == 0, element_wise=True, name="even")
        schema = pa.DataFrameSchema({"v": pa.Column(st.LongType(), check, nullable=True)})
        with pytest.warns(UncompiledCheckWarning, match="'even'"):
            gate = Gate("g", schema, default_action="quarantine")
        result = gate.run(one_column(spark, st.LongType(), [1, 2, 3, None]))
        assert result.check("v.even").rows_failed == 2
        assert result.check("v.even").evaluated_by == "udf"
        assert sorted(r.v for r in result.quarantine.collect()) == [1, 3]
        result.release()


class TestCounts:
    def test_clean_data_passes(self, spark: SparkSession, schema: Any) -> None:
        """Valid rows give verdict passed, zero failures and valid == input."""
        df = orders(spark, [order(1), order(2)])
        result = Gate("g", schema).run(df)
        assert result.verdict == Verdict.PASSED
        assert all(c.rows_failed == 0 and c.rows_checked == 2 for c in result.checks)
        assert result.valid is df
        assert result.quarantine.count() == 0
        assert (result.rows_valid, result.rows_quarantined, result.rows_dropped) == (2, 0, 0)

    def test_each_check_counts_its_own_failures(self, spark: SparkSession, schema: Any) -> None:
        """Every row breaks one rule; each check counts exactly its row and samples its value."""
        df = orders(
            spark,
            [
                order(1),
                order(None),
                order(3, customer_id=None),
                order(4, customer_id=-7),
                order(5, amount=-1.0),
                order(6, amount=2e6),
                order(7, status=None),
                order(8, status="LOST"),
                order(9, order_ts=FUTURE),
                order(10, country="USA"),
                order(11, amount=None, order_ts=None, country=None),
            ],
        )
        result = Gate("g", schema, default_action="warn").run(df)
        failed = {c.name: c.rows_failed for c in result.checks}
        assert failed == {
            "order_id.not_null": 1,
            "customer_id.not_null": 1,
            "customer_id.greater_than": 1,
            "amount.greater_than_or_equal_to": 1,
            "amount.less_than_or_equal_to": 1,
            "status.not_null": 1,
            "status.isin": 1,
            "order_ts.not_in_future": 1,
            "country.str_length": 1,
            "order_id.unique": 0,
        }
        assert result.verdict == Verdict.WARNED
        assert result.check("status.isin").sample == ["LOST"]
        assert result.check("customer_id.greater_than").sample == [-7]
        assert result.check("amount.less_than_or_equal_to").fraction_failed == pytest.approx(1 / 11)
        assert result.rows_failing_any == 9

    def test_uniqueness_counts_every_row_of_a_duplicated_key(
        self, spark: SparkSession, schema: Any
    ) -> None:
        """All rows sharing a key fail; null keys group together (pandera's groupBy rule)."""
        df = orders(spark, [order(1), order(1), order(1), order(2), order(5), order(5)])
        result = Gate("g", schema, default_action="warn").run(df)
        unique = result.check("order_id.unique")
        assert unique.rows_failed == 5
        assert unique.sample == [1, 5]

    def test_string_samples_are_distinct_failing_values(self, spark: SparkSession) -> None:
        """A string check samples two different values that really failed, never a passing one."""
        schema = pa.DataFrameSchema({"s": pa.Column(st.StringType(), pa.Check.isin(["ok"]))})
        values = ["ok", "X", "ok", "X", "Y", "ok", "Z", "X"]
        df = spark.createDataFrame([(v,) for v in values], "s string")
        result = Gate("g", schema, default_action="warn").run(df)
        sample = result.check("s.isin").sample
        assert result.check("s.isin").rows_failed == 5
        assert len(sample) == 2
        assert len(set(sample)) == 2
        assert set(sample) <= {"X", "Y", "Z"}

    def test_rare_failure_behind_frequent_ones_is_still_sampled(
        self, spark: SparkSession, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A check failing once, after more failing rows than the sampler reads, gets its value."""
        monkeypatch.setattr("dq_gates._samples.SAMPLE_ROWS", 2)
        schema = pa.DataFrameSchema(
            {
                "status": pa.Column(st.StringType(), pa.Check.isin(["NEW"])),
                "country": pa.Column(st.StringType(), pa.Check.str_length(2, 2)),
            }
        )
        rows = [("BAD", "US")] * 6 + [("NEW", "USA")]
        df = spark.createDataFrame(rows, "status string, country string").coalesce(1)
        result = Gate("g", schema, default_action="warn").run(df)
        assert result.check("status.isin").sample == ["BAD"]
        assert result.check("country.str_length").sample == ["USA"]
        assert result.check("country.str_length").rows_failed == 1

    def test_composite_key_sample_is_a_mapping(self, spark: SparkSession) -> None:
        """A multi-column key reports duplicates by the whole key."""
        schema = pa.DataFrameSchema(
            {"a": pa.Column(st.LongType()), "b": pa.Column(st.LongType())}, unique=["a", "b"]
        )
        df = spark.createDataFrame([(1, 1), (1, 1), (1, 2)], "a long, b long")
        result = Gate("g", schema, default_action="warn").run(df)
        assert result.check("a,b.unique").rows_failed == 2
        assert result.check("a,b.unique").sample == [{"a": 1, "b": 1}]

    def test_empty_input_passes_with_zero_counts(self, spark: SparkSession, schema: Any) -> None:
        """An empty frame gives zero rows checked and failed, and a zero fraction."""
        result = Gate("g", schema).run(orders(spark, []))
        assert result.verdict == Verdict.PASSED
        assert result.rows_in == 0
        assert all(c.rows_failed == 0 and c.fraction_failed == 0.0 for c in result.checks)

    def test_optional_missing_column_is_skipped(self, spark: SparkSession) -> None:
        """A required=False column that is absent has its checks left out."""
        schema = pa.DataFrameSchema(
            {"a": pa.Column(st.LongType()), "b": pa.Column(st.LongType(), required=False)}
        )
        result = Gate("g", schema).run(spark.createDataFrame([(1,)], "a long"))
        assert [c.name for c in result.checks] == ["a.not_null"]

    @pytest.mark.no_connect("counts jobs with sparkContext's status tracker (none over Connect)")
    def test_number_of_spark_jobs_does_not_grow_with_checks(self, spark: SparkSession) -> None:
        """One check or twelve: the run issues the same number of Spark jobs (one aggregation)."""
        df = spark.range(50).select(sf.col("id").alias("v"))

        def jobs_for(checks: list[Any]) -> int:
            schema = pa.DataFrameSchema({"v": pa.Column(st.LongType(), checks)}, unique=["v"])
            group = f"dq-{len(checks)}"
            spark.sparkContext.setJobGroup(group, group)
            try:
                Gate("g", schema, default_action="warn").run(df)
            finally:
                spark.sparkContext.setJobGroup("", "")
            return len(spark.sparkContext.statusTracker().getJobIdsForGroup(group))

        passing = [pa.Check.ge(-i) for i in range(6)] + [pa.Check.le(100 + i) for i in range(6)]
        assert jobs_for([pa.Check.ge(0)]) == jobs_for(passing)
        # Failing checks add one job, whatever their number, to fetch sample values.
        failing = [pa.Check.ge(10 + i) for i in range(6)] + [pa.Check.le(30 + i) for i in range(6)]
        assert jobs_for([pa.Check.ge(10)]) == jobs_for(failing)


class TestActions:
    def test_quarantine_moves_rows_with_reasons(self, spark: SparkSession, schema: Any) -> None:
        """Quarantined rows leave valid and carry every check they failed, gate, run and time."""
        df = orders(spark, [order(1), order(2, amount=-1.0, country="USA"), order(3)])
        with Gate("orders", schema, default_action="quarantine").run(df) as result:
            assert result.verdict == Verdict.WARNED
            assert sorted(r.order_id for r in result.valid.collect()) == [1, 3]
            assert result.valid.columns == df.columns
            (row,) = result.quarantine.collect()
            assert row.order_id == 2
            assert row._dq_failed_checks == [
                "amount.greater_than_or_equal_to",
                "country.str_length",
            ]
            assert row._dq_gate == "orders"
            assert row._dq_run_id == result.run_id
            assert row._dq_quarantined_at == result.started_at.replace(tzinfo=None)
            assert result.quarantine.columns == [
                *df.columns,
                "_dq_failed_checks",
                "_dq_gate",
                "_dq_run_id",
                "_dq_quarantined_at",
            ]

    def test_drop_removes_rows_without_quarantining(self, spark: SparkSession, schema: Any) -> None:
        """Dropped rows are in neither output and are counted as dropped."""
        df = orders(spark, [order(1), order(2, status="LOST")])
        result = Gate("g", schema, actions={"status": "drop"}).run(df)
        assert [r.order_id for r in result.valid.collect()] == [1]
        assert result.quarantine.count() == 0
        assert result.rows_dropped == 1
        result.release()

    def test_quarantine_wins_over_drop(self, spark: SparkSession, schema: Any) -> None:
        """A row failing a drop check and a quarantine check goes to quarantine."""
        df = orders(spark, [order(1, status="LOST", amount=-1.0)])
        result = Gate("g", schema, actions={"status": "drop", "amount": "quarantine"}).run(df)
        assert result.rows_dropped == 0
        assert result.rows_quarantined == 1
        assert result.quarantine.count() == 1
        result.release()

    def test_duplicates_are_quarantined_by_key(self, spark: SparkSession, schema: Any) -> None:
        """Every row of a duplicated key is quarantined with the unique check as reason."""
        df = orders(spark, [order(1), order(1), order(2)])
        result = Gate("g", schema, actions={"order_id.unique": "quarantine"}).run(df)
        assert [r.order_id for r in result.valid.collect()] == [2]
        assert [r._dq_failed_checks for r in result.quarantine.collect()] == [
            ["order_id.unique"],
            ["order_id.unique"],
        ]
        result.release()

    def test_split_of_duplicated_composite_and_null_keys_agrees_with_the_counts(
        self, spark: SparkSession
    ) -> None:
        """NULL keys group together in the split as in the counts; a lone key stays valid."""
        schema = pa.DataFrameSchema(
            {
                "a": pa.Column(st.LongType(), nullable=True),
                "b": pa.Column(st.StringType(), nullable=True),
            },
            unique=["a", "b"],
        )
        rows = [(1, "x"), (1, "x"), (1, "y"), (None, "x"), (None, "x"), (None, None), (2, None)]
        df = spark.createDataFrame(rows, "a long, b string")
        with Gate("g", schema, default_action="quarantine").run(df) as result:
            quarantined = sorted(
                (r.a if r.a is not None else -1, r.b or "") for r in result.quarantine.collect()
            )
            valid = sorted(
                (r.a if r.a is not None else -1, r.b or "") for r in result.valid.collect()
            )
            assert result.check("a,b.unique").rows_failed == 4 == result.rows_quarantined
            assert quarantined == [(-1, "x"), (-1, "x"), (1, "x"), (1, "x")]
            assert valid == [(-1, ""), (1, "y"), (2, "")]

    def test_warn_keeps_rows(self, spark: SparkSession, schema: Any) -> None:
        """Warned rows stay in valid and the verdict is warned."""
        df = orders(spark, [order(1, country="USA")])
        result = Gate("g", schema, default_action="warn").run(df)
        assert result.verdict == Verdict.WARNED
        assert result.valid.count() == 1

    def test_fail_raises_with_a_table_and_the_result(
        self, spark: SparkSession, schema: Any
    ) -> None:
        """A failing fail-check raises GateFailedError listing it; the result rides along."""
        df = orders(spark, [order(1, country="USA"), order(2)])
        with pytest.raises(GateFailedError) as info:
            Gate("orders", schema).run(df)
        message = str(info.value)
        assert "gate 'orders' failed" in message
        assert re.search(
            r"country\.str_length\s+fail\s+1\s+2\s+50\.0000%\s+max 0 rows\s+'USA'", message
        )
        assert "amount" not in message
        assert info.value.result.verdict == Verdict.FAILED
        assert info.value.result.check("country.str_length").tripped

    def test_fail_under_threshold_keeps_rows_and_warns(
        self, spark: SparkSession, schema: Any
    ) -> None:
        """A fail-check within its threshold does not raise; the rows stay in valid."""
        df = orders(spark, [order(1, country="USA"), order(2)])
        result = Gate("g", schema, thresholds={"country": {"max_rows": 1}}).run(df)
        assert result.verdict == Verdict.WARNED
        assert result.valid.count() == 2

    def test_quarantine_threshold_fails_the_gate(self, spark: SparkSession, schema: Any) -> None:
        """Too many quarantined rows (fraction) fail the gate even though rows are quarantined."""
        df = orders(spark, [order(1, country="USA"), order(2, country="X"), order(3)])
        gate = Gate(
            "g",
            schema,
            default_action="quarantine",
            thresholds={"country.str_length": Threshold(max_fraction=0.5)},
        )
        with pytest.raises(GateFailedError, match=r"max 50\.00%") as info:
            gate.run(df)
        assert info.value.result.quarantine.count() == 2
        info.value.result.release()

    def test_gate_wide_threshold(self, spark: SparkSession, schema: Any) -> None:
        """``*`` limits rows failing any check across the gate."""
        df = orders(spark, [order(1, country="USA"), order(2, status="LOST"), order(3)])
        gate = Gate("g", schema, default_action="warn", thresholds={"*": {"max_rows": 1}})
        with pytest.raises(GateFailedError, match=r"\* \(rows failing any check\)") as info:
            gate.run(df)
        assert info.value.result.gate_tripped
        assert info.value.result.rows_failing_any == 2

    def test_gate_wide_failure_names_the_checks_behind_it(
        self, spark: SparkSession, schema: Any
    ) -> None:
        """When ``*`` trips, the message lists each failing check with its count and sample."""
        df = orders(spark, [order(1, country="USA"), order(2, status="LOST"), order(3)])
        gate = Gate("g", schema, default_action="warn", thresholds={"*": {"max_rows": 1}})
        with pytest.raises(GateFailedError) as info:
            gate.run(df)
        message = str(info.value)
        assert "1 limit(s) exceeded" in message
        lines = {line.split()[0]: line for line in message.splitlines()[3:] if line.strip()}
        assert "'USA'" in lines["country.str_length"]
        assert "warn" in lines["country.str_length"]
        assert "'LOST'" in lines["status.isin"]
        assert "customer_id.greater_than" not in lines


class TestPersistence:
    def test_release_unpersists_only_the_gates_copy(self, spark: SparkSession, schema: Any) -> None:
        """release() frees the flagged copy and leaves the caller's cached input cached."""
        df = orders(spark, [order(1), order(2, country="USA")]).cache()
        df.count()
        result = Gate("g", schema, default_action="quarantine").run(df)
        assert result.valid.count() == 1
        assert result._persisted is not None
        assert result._persisted.is_cached
        persisted = result._persisted
        result.release()
        result.release()
        assert not persisted.is_cached
        assert df.is_cached
        df.unpersist()

    def test_nothing_persisted_when_no_row_is_removed(
        self, spark: SparkSession, schema: Any
    ) -> None:
        """Without rows to remove, valid is the input and nothing is persisted."""
        df = orders(spark, [order(1, country="USA")])
        result = Gate("g", schema, default_action="warn").run(df)
        assert result._persisted is None
        assert result.valid is df


class TestSchemaProblems:
    def test_missing_and_mistyped_columns_raise_before_checks(
        self, spark: SparkSession, schema: Any
    ) -> None:
        """Missing columns and wrong types are all listed, with expected and actual types."""
        df = spark.createDataFrame([(1, "x")], "order_id int, status string")
        with pytest.raises(GateSchemaError) as info:
            Gate("orders", schema).run(df)
        problems = {(p.column, p.problem) for p in info.value.problems}
        assert ("order_id", "wrong_dtype") in problems
        assert ("amount", "missing") in problems
        message = str(info.value)
        assert "column 'order_id': wrong_dtype, expected LongType(), got IntegerType()" in message
        assert "gate 'orders'" in message

    def test_strict_schema_reports_unexpected_columns(self, spark: SparkSession) -> None:
        """With strict=True an extra column is a schema problem."""
        schema = pa.DataFrameSchema({"a": pa.Column(st.LongType())}, strict=True)
        with pytest.raises(GateSchemaError, match="column 'b': unexpected") as info:
            Gate("g", schema).run(spark.createDataFrame([(1, 2)], "a long, b long"))
        assert len(info.value.problems) == 1

    def test_missing_unique_key_column(self, spark: SparkSession) -> None:
        """A unique key naming a column the frame lacks is reported as missing."""
        schema = pa.DataFrameSchema({"a": pa.Column(st.LongType())}, unique=["k"])
        with pytest.raises(
            GateSchemaError, match="column 'k': missing, expected unique key column"
        ):
            Gate("g", schema).run(spark.createDataFrame([(1,)], "a long"))


class TestPanderaFallback:
    def test_custom_dataframe_check_reports_pass_or_fail(self, spark: SparkSession) -> None:
        """A vectorised custom check runs through pandera: failure known, row count unknown."""
        rule = pa.Check(lambda df: df.filter(sf.col("a") < 0).count() == 0, name="no_negatives")
        schema = pa.DataFrameSchema({"a": pa.Column(st.LongType(), rule, nullable=True)})
        with pytest.warns(UncompiledCheckWarning, match="no_negatives"):
            gate = Gate("g", schema, default_action="warn")
        result = gate.run(spark.createDataFrame([(1,), (-1,)], "a long"))
        check = result.check("a.no_negatives")
        assert (check.evaluated_by, check.rows_failed, check.passed) == ("pandera", None, False)
        assert check.fraction_failed is None
        assert result.verdict == Verdict.WARNED

    def test_failing_fallback_with_fail_action_raises(self, spark: SparkSession) -> None:
        """A failed pandera-evaluated check with action fail trips the gate, shown as '?'."""
        rule = pa.Check(lambda df: False, name="never")
        with pytest.warns(UncompiledCheckWarning):
            gate = Gate("g", pa.DataFrameSchema(checks=[rule]))
        with pytest.raises(GateFailedError, match=r"never\s+fail\s+\?\s+1\s+\?") as info:
            gate.run(spark.createDataFrame([(1,)], "a long"))
        assert "never: " in str(info.value)

    def test_passing_fallback_and_crashing_check(self, spark: SparkSession) -> None:
        """A passing pandera check passes; one whose function raises is reported as failed."""
        ok = pa.Check(lambda df: True, name="ok")
        boom = pa.Check(lambda df: 1 / 0, name="boom")
        with pytest.warns(UncompiledCheckWarning):
            gate = Gate("g", pa.DataFrameSchema(checks=[ok, boom]), default_action="warn")
        result = gate.run(spark.createDataFrame([(1,)], "a long"))
        assert result.check("ok").passed
        assert not result.check("boom").passed
        assert "ZeroDivisionError" in (result.check("boom").message or "")

    def test_type_error_from_a_check_is_reported_not_raised(self, spark: SparkSession) -> None:
        """A TypeError that pandera re-raises from a check is recorded as that check failing."""
        typed = pa.Check(lambda df: df + 1, name="typed")
        schema = pa.DataFrameSchema({"a": pa.Column(st.LongType(), typed, nullable=True)})
        with pytest.warns(UncompiledCheckWarning):
            gate = Gate("g", schema, default_action="warn")
        result = gate.run(spark.createDataFrame([(1,)], "a long"))
        assert (result.check("a.typed").message or "").startswith("TypeError: ")
        assert result.verdict == Verdict.WARNED


class TestResultSerialisation:
    def test_to_dict_is_json_serialisable(self, spark: SparkSession, schema: Any) -> None:
        """to_dict() survives json.dumps, with NaN and timestamps turned into strings."""
        df = orders(spark, [order(1, amount=float("nan"), order_ts=FUTURE), order(2)])
        result = Gate("g", schema, default_action="warn").run(df)
        data = json.loads(json.dumps(result.to_dict(), allow_nan=False))
        assert data["verdict"] == "warned"
        assert data["rows_in"] == 2
        by_name = {c["name"]: c for c in data["checks"]}
        assert by_name["amount.less_than_or_equal_to"]["sample"] == ["nan"]
        assert by_name["order_ts.not_in_future"]["sample"] == ["2999-01-01T00:00:00"]
        assert by_name["order_id.not_null"]["threshold"] is None

    def test_check_lookup_names_the_available_checks(
        self, spark: SparkSession, schema: Any
    ) -> None:
        """Asking for an unknown check lists the checks there are."""
        result = Gate("g", schema).run(orders(spark, [order(1)]))
        with pytest.raises(KeyError, match=r"order_id\.unique"):
            result.check("nope")
        assert result.failed_checks == []


def spark_jobs(spark: SparkSession, group: str, action: Any) -> int:
    """How many Spark jobs ``action()`` starts (exceptions propagate after counting)."""
    spark.sparkContext.setJobGroup(group, group)
    try:
        action()
    finally:
        spark.sparkContext.setJobGroup("", "")
    return len(spark.sparkContext.statusTracker().getJobIdsForGroup(group))


class TestRaiseWarningRun:
    def test_raise_warning_check_warns_instead_of_failing(self, spark: SparkSession) -> None:
        """A failing raise_warning=True check leaves the gate warned, rows kept, no error."""
        schema = pa.DataFrameSchema(
            {"v": pa.Column(st.LongType(), pa.Check.gt(0, raise_warning=True), nullable=True)}
        )
        result = Gate("g", schema).run(one_column(spark, st.LongType(), [-1, 1]))
        assert result.verdict == Verdict.WARNED
        check = result.check("v.greater_than")
        assert (check.action, check.rows_failed, check.tripped) == (Action.WARN, 1, False)
        assert result.rows_valid == 2

    def test_explicit_fail_still_fails(self, spark: SparkSession) -> None:
        """actions={'v.greater_than': 'fail'} overrides raise_warning: the gate fails."""
        schema = pa.DataFrameSchema(
            {"v": pa.Column(st.LongType(), pa.Check.gt(0, raise_warning=True), nullable=True)}
        )
        gate = Gate("g", schema, default_action="warn", actions={"v.greater_than": "fail"})
        with pytest.raises(GateFailedError, match=r"v\.greater_than"):
            gate.run(one_column(spark, st.LongType(), [-1, 1]))


PANDERA_TYPES = [
    st.ByteType(),
    st.ShortType(),
    st.IntegerType(),
    st.LongType(),
    st.FloatType(),
    st.DoubleType(),
    st.DecimalType(10, 2),
    st.DateType(),
    st.TimestampType(),
    st.StringType(),
    st.BinaryType(),
    st.BooleanType(),
]
BUILTINS = [
    pa.Check.eq(1),
    pa.Check.ne(1),
    pa.Check.gt(1),
    pa.Check.ge(1),
    pa.Check.lt(1),
    pa.Check.le(1),
    pa.Check.in_range(0, 1),
    pa.Check.isin([1]),
    pa.Check.notin([1]),
    pa.Check.str_matches("a"),
    pa.Check.str_contains("a"),
    pa.Check.str_startswith("a"),
    pa.Check.str_endswith("a"),
    pa.Check.str_length(1, 2),
]


def pandera_refuses_type(spark: SparkSession, dtype: st.DataType, check: Any) -> bool:
    """Whether pandera's own PySpark backend refuses ``check`` on a ``dtype`` column."""
    schema = pa.DataFrameSchema({"v": pa.Column(dtype, check, nullable=True)})
    try:
        schema.validate(one_column(spark, dtype, []))
    except TypeError as exc:
        return "only supports the following datatypes" in str(exc)
    return False


class TestCheckTypesAtRun:
    @settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(dtype=hs.sampled_from(PANDERA_TYPES), check=hs.sampled_from(BUILTINS))
    def test_refused_exactly_where_pandera_refuses(
        self, spark: SparkSession, dtype: st.DataType, check: Any
    ) -> None:
        """For any built-in and column type, the gate refuses the pair iff pandera does."""
        schema = pa.DataFrameSchema({"v": pa.Column(dtype, check, nullable=True)})
        if pandera_refuses_type(spark, dtype, check):
            with pytest.raises(GateCheckTypeError) as info:
                Gate("g", schema)
            assert info.value.problems[0].dtype == dtype.simpleString()
        else:
            Gate("g", schema)

    @pytest.mark.no_connect("counts jobs with sparkContext's status tracker (none over Connect)")
    def test_column_without_dtype_is_refused_at_run_start_before_any_job(
        self, spark: SparkSession
    ) -> None:
        """No declared dtype: the DataFrame's type decides, before any Spark job runs."""
        schema = pa.DataFrameSchema({"v": pa.Column(checks=pa.Check.gt(5), nullable=True)})
        gate = Gate("g", schema)
        df = one_column(spark, st.StringType(), ["7", "x"])
        raised: list[GateCheckTypeError] = []

        def run() -> None:
            try:
                gate.run(df)
            except GateCheckTypeError as exc:
                raised.append(exc)

        assert spark_jobs(spark, "dq-types", run) == 0
        (problem,) = raised[0].problems
        assert (problem.column, problem.check, problem.dtype) == ("v", "greater_than", "string")

    def test_timestamp_ntz_is_refused_like_pandera_does(self, spark: SparkSession) -> None:
        """A TimestampNTZ dtype reads as timestamp in pandera; the frame's real type is refused."""
        schema = pa.DataFrameSchema(
            {"v": pa.Column(st.TimestampNTZType(), pa.Check.ge(PAST), nullable=True)}
        )
        gate = Gate("g", schema)
        df = one_column(spark, st.TimestampNTZType(), [PAST])
        with pytest.raises(GateCheckTypeError, match="of type timestamp_ntz"):
            gate.run(df)


class TestSparkFailuresAreWrapped:
    def test_runtime_cast_failure_names_the_check(self, spark: SparkSession) -> None:
        """gt('abc') on a bigint column fails in Spark (ANSI cast): a GateCheckError, chained."""
        schema = pa.DataFrameSchema(
            {
                "v": pa.Column(st.LongType(), [pa.Check.ge(0), pa.Check.gt("abc")], nullable=True),
            }
        )
        with pytest.raises(GateCheckError) as info:
            Gate("g", schema, default_action="warn").run(one_column(spark, st.LongType(), [1]))
        assert info.value.check == "v.greater_than"
        assert info.value.phase == "execution"
        assert "'v.greater_than'" in str(info.value)
        assert isinstance(info.value.__cause__, PySparkException)

    def test_python_check_raising_names_the_check(self, spark: SparkSession) -> None:
        """An element-wise check that raises in the Python worker is named, cause chained."""
        boom = pa.Check(lambda x: 1 / (x - x) > 0, element_wise=True, name="boom")
        schema = pa.DataFrameSchema(
            {"v": pa.Column(st.LongType(), [pa.Check.ge(0), boom], nullable=True)}
        )
        with pytest.warns(UncompiledCheckWarning):
            gate = Gate("g", schema, default_action="warn")
        with pytest.raises(GateCheckError, match=r"'v\.boom'") as info:
            gate.run(one_column(spark, st.LongType(), [1, 2]))
        assert info.value.phase == "execution"
        assert isinstance(info.value.__cause__, PySparkException)

    def test_unresolvable_expression_names_the_check(self, spark: SparkSession) -> None:
        """A spark_check reading a column that does not exist fails analysis, named."""
        ghost = spark_check("ghost", lambda c: sf.col("nope") > c)
        schema = pa.DataFrameSchema({"v": pa.Column(st.LongType(), ghost, nullable=True)})
        with pytest.raises(GateCheckError) as info:
            Gate("g", schema, default_action="warn").run(one_column(spark, st.LongType(), [1]))
        assert (info.value.check, info.value.phase) == ("v.ghost", "analysis")
        assert isinstance(info.value.__cause__, PySparkException)

    @pytest.mark.no_connect(
        "Connect analyses a frame only when used: files deleted after spark.read fail "
        "at the schema read (stage 'schema'), not in the job"
    )
    def test_unreadable_input_is_a_run_error(self, spark: SparkSession, tmp_path: Any) -> None:
        """Input files deleted after the frame was defined: GateRunError(stage='input')."""
        path = str(tmp_path / "gone")
        spark.createDataFrame([(1,)], "v long").write.parquet(path)
        df = spark.read.parquet(path)
        for file in (tmp_path / "gone").glob("*.parquet"):
            file.unlink()
        schema = pa.DataFrameSchema({"v": pa.Column(st.LongType(), pa.Check.ge(0))})
        with pytest.raises(GateRunError) as info:
            Gate("g", schema, default_action="warn").run(df)
        assert not isinstance(info.value, GateCheckError)
        assert info.value.stage == "input"
        assert info.value.__cause__ is not None

    def test_checks_and_metrics_are_searched_for_the_culprit(self, spark: SparkSession) -> None:
        """With anomaly metrics in the pass, the failing check is still the one named."""
        boom = pa.Check(lambda x: 1 / (x - x) > 0, element_wise=True, name="boom")
        schema = pa.DataFrameSchema(
            {
                "k": pa.Column(st.LongType(), nullable=True),
                "v": pa.Column(st.LongType(), boom, nullable=True),
                "s": pa.Column(st.StringType(), nullable=True),
            },
            unique=["k"],
        )
        change = RelativeChange(max_decrease=0.5)
        anomalies = [
            AnomalyCheck.row_count(change),
            AnomalyCheck.null_fraction("v", change),
            AnomalyCheck.mean("v", change),
            AnomalyCheck.distinct_count("s", change),
            AnomalyCheck.value_set("s"),
        ]
        with pytest.warns(UncompiledCheckWarning):
            gate = Gate(
                "g", schema, default_action="warn", anomalies=anomalies, history=MemoryHistory()
            )
        df = spark.createDataFrame([(1, 1, "a"), (2, 2, "b")], "k long, v long, s string")
        with pytest.raises(GateCheckError) as info:
            gate.run(df)
        assert (info.value.check, info.value.phase) == ("v.boom", "execution")

    def test_a_job_failing_as_a_whole_is_a_run_error(
        self, spark: SparkSession, schema: Any, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """When no check fails alone (lost executors, ...), GateRunError(stage='count')."""

        class Lost:
            def collect(self) -> None:
                raise RuntimeError("executor lost")

        monkeypatch.setattr("dq_gates._count._aggregate", lambda *args: Lost())
        with pytest.raises(GateRunError) as info:
            Gate("g", schema, default_action="warn").run(orders(spark, [order(1), order(2)]))
        assert not isinstance(info.value, GateCheckError)
        assert info.value.stage == "count"
        assert "the counting job failed: RuntimeError: executor lost" in str(info.value)
        assert isinstance(info.value.__cause__, RuntimeError)
