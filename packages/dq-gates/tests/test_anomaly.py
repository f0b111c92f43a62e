"""Anomaly checks without Spark: declaration rules, and each strategy against a Python reference."""

from __future__ import annotations

import datetime as dt
import math
import statistics
from typing import Any
from zoneinfo import ZoneInfo

import pandera.pyspark as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as hs
from pyspark.sql import types as st

from dq_gates import (
    Action,
    AnomalyCheck,
    Gate,
    GateCheckTypeError,
    GateConfigError,
    MemoryHistory,
    RelativeChange,
    SameWeekday,
    StdDevBand,
    ValueSetChange,
)
from dq_gates._anomaly import PastRun, judge

NOW = dt.datetime(2026, 3, 18, 9, 30, tzinfo=dt.UTC)  # a Wednesday


def schema() -> Any:
    """A small schema: a numeric and a string column."""
    return pa.DataFrameSchema(
        {
            "amount": pa.Column(st.DoubleType(), nullable=True),
            "status": pa.Column(st.StringType(), nullable=True),
        }
    )


def runs(values: list[float | None], *, hours: float = 24.0) -> list[PastRun]:
    """Earlier runs, newest first, ``hours`` apart before NOW, holding ``m`` = value."""
    return [
        PastRun(
            run_id=f"r{i}",
            started_at=NOW - dt.timedelta(hours=hours * (i + 1)),
            metrics={"row_count": v},
        )
        for i, v in enumerate(values)
    ]


class TestDeclaration:
    @pytest.mark.parametrize("action", ["quarantine", "drop", "QUARANTINE"])
    def test_row_actions_do_not_apply_to_an_anomaly(self, action: str) -> None:
        """Declaring drop or quarantine on an anomaly check is a config error."""
        with pytest.raises(GateConfigError, match="does not apply to a whole-batch metric"):
            AnomalyCheck.row_count(RelativeChange(max_decrease=0.5), action=action)

    def test_row_actions_through_the_gate_are_refused_too(self) -> None:
        """An actions entry naming the anomaly check with quarantine is refused at build."""
        check = AnomalyCheck.row_count(RelativeChange(max_decrease=0.5))
        with pytest.raises(GateConfigError, match=r"anomaly check 'row_count'.*'warn' or 'fail'"):
            Gate(
                "g",
                schema(),
                anomalies=[check],
                history=MemoryHistory(),
                actions={"row_count": "quarantine"},
            )

    def test_default_action_rules(self) -> None:
        """Own action < actions entry; else the gate's default if warn/fail; else fail."""
        check = AnomalyCheck.mean("amount", RelativeChange(max_increase=1.0))
        named = AnomalyCheck.mean("amount", RelativeChange(max_increase=1.0), action="fail")
        history = MemoryHistory()

        def action(gate: Gate, name: str) -> Action:
            return gate.check_actions[name]

        warn = Gate("g", schema(), default_action="warn", anomalies=[check], history=history)
        assert action(warn, "amount.mean") is Action.WARN
        quarantine = Gate(
            "g", schema(), default_action="quarantine", anomalies=[check], history=history
        )
        assert action(quarantine, "amount.mean") is Action.FAIL
        own = Gate("g", schema(), default_action="warn", anomalies=[named], history=history)
        assert action(own, "amount.mean") is Action.FAIL
        entry = Gate(
            "g",
            schema(),
            anomalies=[named],
            history=history,
            actions={"amount.mean": "warn", "amount": "quarantine"},
        )
        assert action(entry, "amount.mean") is Action.WARN

    def test_needs_a_history(self) -> None:
        """Anomaly checks without a history are refused, saying how to add one."""
        with pytest.raises(GateConfigError, match=r"needs a results history.*ResultsHistory"):
            Gate("g", schema(), anomalies=[AnomalyCheck.value_set("status")])

    def test_thresholds_do_not_apply(self) -> None:
        """A thresholds key naming an anomaly check is refused: the strategy is the limit."""
        with pytest.raises(GateConfigError, match="anomaly checks take no threshold"):
            Gate(
                "g",
                schema(),
                anomalies=[AnomalyCheck.row_count(RelativeChange(max_decrease=0.5))],
                history=MemoryHistory(),
                thresholds={"row_count": {"max_rows": 1}},
            )

    @pytest.mark.parametrize(
        ("build", "message"),
        [
            (lambda: AnomalyCheck("median", "amount", strategy=StdDevBand()), "unknown metric"),
            (lambda: AnomalyCheck("row_count", "amount", strategy=StdDevBand()), "takes no column"),
            (lambda: AnomalyCheck("mean", strategy=StdDevBand()), "needs the column"),
            (lambda: AnomalyCheck.value_set("s", StdDevBand()), "strategy must be ValueSetChange"),  # type: ignore[arg-type]
            (lambda: AnomalyCheck.mean("a", ValueSetChange()), "RelativeChange, SameWeekday"),
            (lambda: AnomalyCheck.mean("a", StdDevBand(runs=3), min_history=4), "more than the 3"),
            (lambda: AnomalyCheck.mean("a", StdDevBand(), min_history=1), "min_history must be"),
            (RelativeChange, "set max_increase, max_decrease or both"),
            (lambda: RelativeChange(max_decrease=-0.1), "max_decrease must be a number >= 0"),
            (lambda: SameWeekday(max_increase=1, timezone="Mars/Base"), "IANA time zone"),
            (lambda: SameWeekday(max_increase=1, weeks=0), "weeks must be an integer >= 1"),
            (lambda: StdDevBand(k=0), "k must be a number > 0"),
            (lambda: StdDevBand(runs=1), "runs must be an integer >= 2"),
            (lambda: ValueSetChange(max_missing=-1), "max_missing must be an integer >= 0"),
        ],
    )
    def test_bad_declarations(self, build: Any, message: str) -> None:
        """Each mistake is a GateConfigError saying what is wrong."""
        with pytest.raises(GateConfigError, match=message):
            build()

    def test_numeric_metric_on_a_string_column_is_refused(self) -> None:
        """Numeric metrics (mean, min, max, sum) on a string column: a typed error at build."""
        check = AnomalyCheck.sum("status", RelativeChange(max_increase=1.0))
        with pytest.raises(GateCheckTypeError, match="check 'sum' on column 'status'") as info:
            Gate("g", schema(), anomalies=[check], history=MemoryHistory())
        assert info.value.problems[0].dtype == "string"

    def test_names_are_made_unique(self) -> None:
        """Two checks on one metric get ``_2``; results and actions use the names."""
        checks = [
            AnomalyCheck.mean("amount", RelativeChange(max_increase=1.0)),
            AnomalyCheck.mean("amount", StdDevBand(k=4)),
            AnomalyCheck.row_count(RelativeChange(max_decrease=0.5), name="rows"),
        ]
        gate = Gate("g", schema(), anomalies=checks, history=MemoryHistory())
        assert gate.anomaly_names == ["amount.mean", "amount.mean_2", "rows"]


def relative_reference(
    value: float | None, values: list[float | None], inc: float | None, dec: float | None, need: int
) -> tuple[str, float | None]:
    """Plain Python: compare with the newest finite earlier value."""
    finite = [v for v in values if v is not None and math.isfinite(v)]
    if len(finite) < need:
        return "insufficient_history", None
    if value is None:
        return "no_value", None
    previous = finite[0]
    if not math.isfinite(value):
        return "anomaly", previous
    too_high = inc is not None and value > previous + abs(previous) * inc
    too_low = dec is not None and value < previous - abs(previous) * dec
    return ("anomaly" if too_high or too_low else "ok"), previous


def band_reference(
    value: float | None, values: list[float | None], k: float, window: int, need: int
) -> tuple[str, float | None]:
    """Plain Python: mean +- k sample standard deviations of the newest ``window`` values."""
    finite = [v for v in values if v is not None and math.isfinite(v)][:window]
    if len(finite) < need:
        return "insufficient_history", None
    if value is None:
        return "no_value", None
    mean = sum(finite) / len(finite)
    sd = statistics.stdev(finite)
    if not math.isfinite(value):
        return "anomaly", mean
    return ("anomaly" if abs(value - mean) > k * sd else "ok"), mean


values = hs.one_of(
    hs.none(),
    hs.integers(min_value=-50, max_value=200).map(float),
    hs.sampled_from([math.nan, math.inf, 0.0]),
)
fractions = hs.one_of(hs.none(), hs.sampled_from([0.0, 0.1, 0.25, 0.5, 1.0, 3.0]))


class TestStrategiesEqualReferences:
    @settings(max_examples=300, deadline=None)
    @given(
        value=values,
        history=hs.lists(values, max_size=8),
        inc=fractions,
        dec=fractions,
        need=hs.integers(min_value=1, max_value=4),
    )
    def test_relative_change(
        self,
        value: float | None,
        history: list[float | None],
        inc: float | None,
        dec: float | None,
        need: int,
    ) -> None:
        """RelativeChange equals the plain reference on random histories."""
        if inc is None and dec is None:
            inc = 0.5
        check = AnomalyCheck.row_count(
            RelativeChange(max_increase=inc, max_decrease=dec), min_history=need
        )
        result = judge(check, {"row_count": value}, {}, runs(history), NOW)
        status, baseline = relative_reference(value, history, inc, dec, need)
        assert result.status == status
        assert result.baseline == baseline

    @settings(max_examples=300, deadline=None)
    @given(
        value=values,
        history=hs.lists(values, max_size=12),
        k=hs.sampled_from([0.5, 1.0, 2.0, 3.0]),
        window=hs.integers(min_value=2, max_value=6),
        need=hs.integers(min_value=2, max_value=6),
    )
    def test_stddev_band(
        self,
        value: float | None,
        history: list[float | None],
        k: float,
        window: int,
        need: int,
    ) -> None:
        """StdDevBand equals the plain reference on random histories."""
        need = min(need, window)
        check = AnomalyCheck.row_count(StdDevBand(k=k, runs=window), min_history=need)
        result = judge(check, {"row_count": value}, {}, runs(history), NOW)
        status, baseline = band_reference(value, history, k, window, need)
        assert result.status == status
        if baseline is not None:
            assert result.baseline == pytest.approx(baseline)

    @settings(max_examples=300, deadline=None)
    @given(
        value=values,
        history=hs.lists(hs.tuples(hs.floats(min_value=1, max_value=24 * 60), values), max_size=20),
        inc=hs.sampled_from([0.1, 0.5]),
        dec=fractions,
        weeks=hs.integers(min_value=1, max_value=5),
        zone=hs.sampled_from(["UTC", "Europe/Amsterdam", "America/Los_Angeles", "Asia/Tokyo"]),
        need=hs.integers(min_value=1, max_value=3),
    )
    def test_same_weekday(
        self,
        *,
        value: float | None,
        history: list[tuple[float, float | None]],
        inc: float,
        dec: float | None,
        weeks: int,
        zone: str,
        need: int,
    ) -> None:
        """SameWeekday equals the plain reference: local weekday, earlier date, N weeks back."""
        past = sorted(
            (
                PastRun(
                    run_id=f"r{i}",
                    started_at=NOW - dt.timedelta(hours=hours),
                    metrics={"row_count": v},
                )
                for i, (hours, v) in enumerate(history)
            ),
            key=lambda r: r.started_at,
            reverse=True,
        )
        strategy = SameWeekday(max_increase=inc, max_decrease=dec, weeks=weeks, timezone=zone)
        check = AnomalyCheck.row_count(strategy, min_history=need)
        result = judge(check, {"row_count": value}, {}, past, NOW)

        local_now = NOW.astimezone(ZoneInfo(zone))
        same_day: list[float] = []
        for run in past:
            v = run.metrics["row_count"]
            local = run.started_at.astimezone(ZoneInfo(zone))
            days = (local_now.date() - local.date()).days
            if v is None or not math.isfinite(v):
                continue
            if local.isoweekday() == local_now.isoweekday() and 1 <= days <= 7 * weeks:
                same_day.append(v)
        if len(same_day) < need:
            assert result.status == "insufficient_history"
        elif value is None:
            assert result.status == "no_value"
        else:
            base = sum(same_day) / len(same_day)
            outside = not math.isfinite(value) or value > base + abs(base) * inc
            outside = outside or (dec is not None and value < base - abs(base) * dec)
            assert result.status == ("anomaly" if outside else "ok")
            assert result.baseline == pytest.approx(base)

    @settings(max_examples=300, deadline=None)
    @given(
        current=hs.frozensets(hs.sampled_from("abcdef")),
        history=hs.lists(
            hs.one_of(hs.none(), hs.frozensets(hs.sampled_from("abcdef"))), max_size=6
        ),
        window=hs.integers(min_value=1, max_value=4),
        max_missing=hs.integers(min_value=0, max_value=2),
        max_new=hs.one_of(hs.none(), hs.integers(min_value=0, max_value=2)),
        need=hs.integers(min_value=1, max_value=3),
    )
    def test_value_set_change(
        self,
        *,
        current: frozenset[str],
        history: list[frozenset[str] | None],
        window: int,
        max_missing: int,
        max_new: int | None,
        need: int,
    ) -> None:
        """ValueSetChange equals the plain reference: missing vs every, new vs any baseline run."""
        past = [
            PastRun(
                run_id=f"r{i}",
                started_at=NOW - dt.timedelta(days=i + 1),
                value_sets={} if s is None else {"s.value_set": sorted(s)},
            )
            for i, s in enumerate(history)
        ]
        strategy = ValueSetChange(runs=window, max_missing=max_missing, max_new=max_new)
        check = AnomalyCheck.value_set("s", strategy, min_history=need)
        numbers = {"s.value_set": float(len(current))}
        result = judge(check, numbers, {"s.value_set": sorted(current)}, past, NOW)

        known_sets = [set(s) for s in history if s is not None]
        if len(known_sets) < need:
            assert result.status == "insufficient_history"
            return
        baseline = known_sets[:window]
        expected = set(baseline[0])
        known: set[str] = set()
        for s in baseline:
            expected &= s
            known |= s
        missing = sorted(expected - current)
        new = sorted(set(current) - known)
        bad = len(missing) > max_missing or (max_new is not None and len(new) > max_new)
        assert result.status == ("anomaly" if bad else "ok")
        assert (list(result.missing_values), list(result.new_values)) == (missing, new)


class TestJudgementDetails:
    def test_insufficient_history_says_so(self) -> None:
        """Until min_history runs exist the check records and says how many it has and needs."""
        check = AnomalyCheck.row_count(StdDevBand(k=3, runs=10), min_history=3)
        result = judge(check, {"row_count": 5.0}, {}, runs([4.0, 6.0]), NOW)
        assert result.status == "insufficient_history"
        assert result.history_runs == 2
        assert "recorded, not judged: 2 earlier run(s) with this metric, 3 needed" in result.message

    def test_a_drop_is_reported_with_its_range(self) -> None:
        """The message gives the value, the allowed range and the baseline."""
        check = AnomalyCheck.row_count(RelativeChange(max_decrease=0.5))
        result = judge(check, {"row_count": 5.0}, {}, runs([100.0, 90.0]), NOW)
        assert (result.status, result.lower, result.upper) == ("anomaly", 50.0, None)
        assert result.message == (
            "value 5 is outside the allowed range [50, inf] (value of the previous run 100, "
            "2 earlier run(s))"
        )

    def test_oversized_value_set_is_an_anomaly(self) -> None:
        """A value set too large to store is flagged as not low-cardinality."""
        check = AnomalyCheck.value_set("s")
        past = [PastRun("r", NOW - dt.timedelta(days=1), value_sets={"s.value_set": ["a"]})]
        result = judge(check, {"s.value_set": 5000.0}, {"s.value_set": None}, past, NOW)
        assert result.status == "anomaly"
        assert "5000 distinct values, more than 1000" in result.message

    def test_a_constant_history_accepts_the_same_value(self) -> None:
        """Equal earlier values (0.1, not exact in binary) give a band that holds the value."""
        check = AnomalyCheck.row_count(StdDevBand(k=3, runs=10), min_history=3)
        result = judge(check, {"row_count": 0.1}, {}, runs([0.1, 0.1, 0.1]), NOW)
        assert (result.status, result.lower, result.upper) == ("ok", 0.1, 0.1)
        weekday = SameWeekday(max_increase=0.0, max_decrease=0.0, weeks=3)
        past = runs([0.1, 0.1, 0.1], hours=24 * 7)
        same = judge(AnomalyCheck.row_count(weekday), {"row_count": 0.1}, {}, past, NOW)
        assert (same.status, same.baseline) == ("ok", 0.1)
