"""Anomaly checks: a batch's profile metric judged against the gate's earlier runs.

A strategy turns the metric's values in earlier runs into an allowed range (or, for a value
set, a set of expected values) and says whether this run's value falls outside it. The
strategies are plain Python over a handful of numbers read from the results history; the metric
itself comes from the gate's single pass (``_profile``).
"""

from __future__ import annotations

import datetime as dt
import math
import statistics
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dq_gates._config import Action
from dq_gates._profile import Metric, MetricSpec
from dq_gates.errors import GateConfigError


class Status:
    """What an anomaly check concluded (string constants, as in results and the history)."""

    #: The value is within the range the history allows.
    OK = "ok"
    #: The value is outside it (or is NaN / infinite): the check's action applies.
    ANOMALY = "anomaly"
    #: Too few earlier runs to judge: the value is recorded, nothing is judged.
    INSUFFICIENT_HISTORY = "insufficient_history"
    #: The metric is undefined on this batch (mean of no value, NULL fraction of no row).
    NO_VALUE = "no_value"


@dataclass(frozen=True)
class PastRun:
    """One earlier run of the gate, as the history returns it.

    Attributes:
        run_id: The run's id.
        started_at: When it started (timezone-aware, UTC).
        metrics: Numeric metrics by id (None where undefined).
        value_sets: Value sets by id (None above the size limit).
    """

    run_id: str
    started_at: dt.datetime
    metrics: dict[str, float | None] = field(default_factory=dict)
    value_sets: dict[str, list[str] | None] = field(default_factory=dict)


def known_values(past: list[PastRun]) -> dict[str, list[str]]:
    """Every value the earlier runs saw, per value-set metric id (sets over the limit: none).

    A set left out (None: above the value-set limit) makes the metric unknown, so the run
    computes it from scratch rather than against a partial list.
    """
    known: dict[str, set[str]] = {}
    unbounded: set[str] = set()
    for run in past:
        for metric_id, values in run.value_sets.items():
            if values is None:
                unbounded.add(metric_id)
            else:
                known.setdefault(metric_id, set()).update(values)
    return {k: sorted(v) for k, v in known.items() if k not in unbounded}


@dataclass(frozen=True)
class Judgement:
    """A strategy's conclusion on one value.

    Attributes:
        status: One of ``Status``.
        baseline: The reference value (previous value, mean of the baseline runs).
        lower: Smallest allowed value, if bounded below.
        upper: Largest allowed value, if bounded above.
        history_runs: Earlier runs the strategy used (or found, when too few).
        message: One sentence for people.
        missing_values: Value sets: expected values absent from this batch.
        new_values: Value sets: values never seen in the baseline runs.
    """

    status: str
    baseline: float | None = None
    lower: float | None = None
    upper: float | None = None
    history_runs: int = 0
    message: str = ""
    missing_values: tuple[str, ...] = ()
    new_values: tuple[str, ...] = ()


def _check_fraction(owner: str, name: str, value: object) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int | float) or not value >= 0:
        raise GateConfigError(f"{owner}: {name} must be a number >= 0, got {value!r}")


def _check_count(owner: str, name: str, value: object, least: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < least:
        raise GateConfigError(f"{owner}: {name} must be an integer >= {least}, got {value!r}")


class Strategy(ABC):
    """How an anomaly check turns earlier values of its metric into an allowed range."""

    #: Name in results, the history and YAML (``relative_change``, ...).
    kind: ClassVar[str]
    #: Fewest earlier runs the strategy can judge with.
    least_history: ClassVar[int] = 1

    @property
    def default_min_history(self) -> int:
        """Earlier runs needed before judging when the check does not say."""
        return self.least_history

    def validate_min_history(self, min_history: int, owner: str) -> None:
        """Refuse a ``min_history`` this strategy cannot honour."""
        _check_count(owner, "min_history", min_history, self.least_history)

    @abstractmethod
    def lookback(self, min_history: int) -> tuple[int, dt.timedelta | None]:
        """Earlier runs the strategy reads: (newest N runs, or every run within a period)."""

    @abstractmethod
    def parameters(self) -> dict[str, Any]:
        """The strategy's parameters, JSON-ready."""

    def describe(self) -> str:
        """``kind(param=value, ...)`` for results and messages."""
        params = ", ".join(f"{k}={v!r}" for k, v in self.parameters().items() if v is not None)
        return f"{self.kind}({params})"


class NumericStrategy(Strategy):
    """A strategy for numeric metrics."""

    @abstractmethod
    def judge(
        self,
        value: float | None,
        history: Sequence[tuple[dt.datetime, float]],
        now: dt.datetime,
        min_history: int,
    ) -> Judgement:
        """Judge ``value`` against ``history`` (earlier values, newest first, finite only)."""


def _outside(value: float, lower: float | None, upper: float | None) -> bool:
    return (lower is not None and value < lower) or (upper is not None and value > upper)


def _range_judgement(
    value: float,
    baseline: float,
    bounds: tuple[float | None, float | None],
    *,
    runs: int,
    what: str,
) -> Judgement:
    """The verdict on ``value`` against a range ``bounds`` (lower, upper) around ``baseline``."""
    lower, upper = bounds
    if not math.isfinite(value):
        status, text = Status.ANOMALY, f"value {value} is not a finite number"
    elif _outside(value, lower, upper):
        status, text = Status.ANOMALY, f"value {value:g} is outside the allowed range"
    else:
        status, text = Status.OK, f"value {value:g} is within the allowed range"
    low = "-inf" if lower is None else f"{lower:g}"
    high = "inf" if upper is None else f"{upper:g}"
    return Judgement(
        status,
        baseline=baseline,
        lower=lower,
        upper=upper,
        history_runs=runs,
        message=f"{text} [{low}, {high}] ({what} {baseline:g}, {runs} earlier run(s))",
    )


def _too_few(found: int, needed: int) -> Judgement:
    return Judgement(
        Status.INSUFFICIENT_HISTORY,
        history_runs=found,
        message=(
            f"recorded, not judged: {found} earlier run(s) with this metric, {needed} needed "
            "before the check judges"
        ),
    )


def _no_value(found: int) -> Judgement:
    return Judgement(
        Status.NO_VALUE,
        history_runs=found,
        message="not judged: the metric is undefined on this batch (no row or no value)",
    )


def _change_bounds(
    baseline: float, max_increase: float | None, max_decrease: float | None
) -> tuple[float | None, float | None]:
    scale = abs(baseline)
    lower = None if max_decrease is None else baseline - scale * max_decrease
    upper = None if max_increase is None else baseline + scale * max_increase
    return lower, upper


@dataclass(frozen=True)
class RelativeChange(NumericStrategy):
    """Change against the previous run.

    The allowed range is ``[previous - |previous| * max_decrease, previous + |previous| *
    max_increase]``; an unset side is unbounded. ``max_decrease=0.5`` flags a value below
    half the previous one; ``max_increase=1.0`` one above double. A previous value of 0 allows
    no change on a bounded side. The previous run is the newest earlier run (verdict not
    ``failed``) that recorded the metric.

    Attributes:
        max_increase: Largest allowed rise, as a fraction of the previous value (>= 0).
        max_decrease: Largest allowed fall, as a fraction of the previous value (>= 0).
    """

    max_increase: float | None = None
    max_decrease: float | None = None
    kind: ClassVar[str] = "relative_change"

    def __post_init__(self) -> None:
        _validate_change(self.kind, self.max_increase, self.max_decrease)

    def lookback(self, min_history: int) -> tuple[int, dt.timedelta | None]:
        """The newest ``min_history`` runs (the newest one is the baseline)."""
        return max(1, min_history), None

    def parameters(self) -> dict[str, Any]:
        """``max_increase`` and ``max_decrease``."""
        return {"max_increase": self.max_increase, "max_decrease": self.max_decrease}

    def judge(
        self,
        value: float | None,
        history: Sequence[tuple[dt.datetime, float]],
        now: dt.datetime,
        min_history: int,
    ) -> Judgement:
        """Compare ``value`` with the newest earlier value."""
        if len(history) < min_history:
            return _too_few(len(history), min_history)
        if value is None:
            return _no_value(len(history))
        baseline = history[0][1]
        bounds = _change_bounds(baseline, self.max_increase, self.max_decrease)
        return _range_judgement(
            value, baseline, bounds, runs=len(history), what="value of the previous run"
        )


def _validate_change(owner: str, max_increase: object, max_decrease: object) -> None:
    if max_increase is None and max_decrease is None:
        raise GateConfigError(f"{owner}: set max_increase, max_decrease or both")
    _check_fraction(owner, "max_increase", max_increase)
    _check_fraction(owner, "max_decrease", max_decrease)


@dataclass(frozen=True)
class SameWeekday(NumericStrategy):
    """Change against the mean of the same weekday's runs in the previous weeks.

    The baseline is the mean of the metric over the earlier runs that started on the same
    weekday as this run, on an earlier date at most ``weeks`` weeks back, in ``timezone``
    (weekly seasonality: Monday against the last Mondays). The allowed range is the baseline
    -/+ ``|baseline| * max_decrease / max_increase``, as in ``RelativeChange``;
    ``min_history`` counts those same-weekday runs.

    Attributes:
        max_increase: Largest allowed rise, as a fraction of the baseline (>= 0).
        max_decrease: Largest allowed fall, as a fraction of the baseline (>= 0).
        weeks: How many weeks back to look (>= 1).
        timezone: IANA time zone deciding weekdays and dates (default UTC).
    """

    max_increase: float | None = None
    max_decrease: float | None = None
    weeks: int = 4
    timezone: str = "UTC"
    kind: ClassVar[str] = "same_weekday"

    def __post_init__(self) -> None:
        _validate_change(self.kind, self.max_increase, self.max_decrease)
        _check_count(self.kind, "weeks", self.weeks, 1)
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError, TypeError):
            raise GateConfigError(
                f"{self.kind}: timezone {self.timezone!r} is not an IANA time zone name "
                "(such as 'UTC' or 'Europe/Amsterdam')"
            ) from None

    def lookback(self, min_history: int) -> tuple[int, dt.timedelta | None]:
        """Every run of the last ``weeks`` weeks (plus a day for time zones)."""
        return 0, dt.timedelta(days=7 * self.weeks + 1)

    def parameters(self) -> dict[str, Any]:
        """``max_increase``, ``max_decrease``, ``weeks`` and ``timezone``."""
        return {
            "max_increase": self.max_increase,
            "max_decrease": self.max_decrease,
            "weeks": self.weeks,
            "timezone": self.timezone,
        }

    def same_weekday(
        self, history: Sequence[tuple[dt.datetime, float]], now: dt.datetime
    ) -> list[float]:
        """Values of the runs on ``now``'s weekday, earlier dates, within ``weeks`` weeks."""
        zone = ZoneInfo(self.timezone)
        today = now.astimezone(zone).date()
        values = []
        for started_at, value in history:
            day = started_at.astimezone(zone).date()
            days_back = (today - day).days
            if day.weekday() == today.weekday() and 0 < days_back <= 7 * self.weeks:
                values.append(value)
        return values

    def judge(
        self,
        value: float | None,
        history: Sequence[tuple[dt.datetime, float]],
        now: dt.datetime,
        min_history: int,
    ) -> Judgement:
        """Compare ``value`` with the mean of the same weekday's earlier values."""
        values = self.same_weekday(history, now)
        if len(values) < min_history:
            return _too_few(len(values), min_history)
        if value is None:
            return _no_value(len(values))
        baseline = statistics.mean(values)
        bounds = _change_bounds(baseline, self.max_increase, self.max_decrease)
        return _range_judgement(
            value, baseline, bounds, runs=len(values), what="mean of the same weekday's runs"
        )


@dataclass(frozen=True)
class StdDevBand(NumericStrategy):
    """Mean +- k standard deviations of the last ``runs`` runs.

    The allowed range is ``[mean - k * sd, mean + k * sd]`` over the metric's values in the
    newest ``runs`` earlier runs (``sd``: sample standard deviation, n - 1). With every value
    equal the range is that value. Needs at least 2 earlier runs (default ``min_history``: 5,
    or ``runs`` when smaller).

    Attributes:
        k: Width of the band in standard deviations (> 0).
        runs: How many of the newest earlier runs make the baseline (>= 2).
    """

    k: float = 3.0
    runs: int = 30
    kind: ClassVar[str] = "stddev_band"
    least_history: ClassVar[int] = 2

    def __post_init__(self) -> None:
        if isinstance(self.k, bool) or not isinstance(self.k, int | float) or not self.k > 0:
            raise GateConfigError(f"{self.kind}: k must be a number > 0, got {self.k!r}")
        _check_count(self.kind, "runs", self.runs, 2)

    @property
    def default_min_history(self) -> int:
        """5 earlier runs, or ``runs`` when smaller."""
        return min(5, self.runs)

    def validate_min_history(self, min_history: int, owner: str) -> None:
        """``min_history`` between 2 and ``runs``."""
        super().validate_min_history(min_history, owner)
        if min_history > self.runs:
            raise GateConfigError(
                f"{owner}: min_history {min_history} is more than the {self.runs} runs the "
                "stddev_band strategy reads; raise runs or lower min_history"
            )

    def lookback(self, min_history: int) -> tuple[int, dt.timedelta | None]:
        """The newest ``runs`` runs."""
        return self.runs, None

    def parameters(self) -> dict[str, Any]:
        """``k`` and ``runs``."""
        return {"k": self.k, "runs": self.runs}

    def judge(
        self,
        value: float | None,
        history: Sequence[tuple[dt.datetime, float]],
        now: dt.datetime,
        min_history: int,
    ) -> Judgement:
        """Compare ``value`` with the band around the mean of the newest ``runs`` values."""
        values = [v for _, v in history[: self.runs]]
        if len(values) < min_history:
            return _too_few(len(values), min_history)
        if value is None:
            return _no_value(len(values))
        mean = statistics.mean(values)
        spread = self.k * statistics.stdev(values)
        return _range_judgement(
            value, mean, (mean - spread, mean + spread), runs=len(values), what="mean"
        )


@dataclass(frozen=True)
class ValueSetChange(Strategy):
    """The set of values of a low-cardinality column against the last ``runs`` runs.

    Expected values are those present in every one of the newest ``runs`` earlier runs; known
    values those present in any of them. A value expected but absent from this batch is
    *missing* (a category disappeared); a value never known is *new*. The check flags more
    than ``max_missing`` missing values, or more than ``max_new`` new ones (``None``: new
    values are fine). A batch with more than 1,000 distinct values is an anomaly (the column
    is not low-cardinality) and its set is not stored.

    Attributes:
        runs: How many of the newest earlier runs make the baseline (>= 1).
        max_missing: Largest allowed number of missing values (>= 0).
        max_new: Largest allowed number of new values (>= 0), or None for no limit.
    """

    runs: int = 1
    max_missing: int = 0
    max_new: int | None = None
    kind: ClassVar[str] = "value_set_change"

    def __post_init__(self) -> None:
        _check_count(self.kind, "runs", self.runs, 1)
        _check_count(self.kind, "max_missing", self.max_missing, 0)
        if self.max_new is not None:
            _check_count(self.kind, "max_new", self.max_new, 0)

    def lookback(self, min_history: int) -> tuple[int, dt.timedelta | None]:
        """The newest ``runs`` runs (or ``min_history``, if more)."""
        return max(self.runs, min_history), None

    def parameters(self) -> dict[str, Any]:
        """``runs``, ``max_missing`` and ``max_new``."""
        return {"runs": self.runs, "max_missing": self.max_missing, "max_new": self.max_new}

    def judge(
        self,
        values: list[str] | None,
        size: float | None,
        history: Sequence[list[str]],
        min_history: int,
    ) -> Judgement:
        """Compare this batch's values with the newest earlier sets (newest first)."""
        if len(history) < min_history:
            return _too_few(len(history), min_history)
        baseline = [set(h) for h in history[: self.runs]]
        if values is None:
            return Judgement(
                Status.ANOMALY,
                history_runs=len(baseline),
                message=(
                    f"{size:.0f} distinct values, more than 1000: not a low-cardinality "
                    "column, so the set is not compared"
                ),
            )
        current = set(values)
        expected = set.intersection(*baseline)
        known = set.union(*baseline)
        missing = tuple(sorted(expected - current))
        new = tuple(sorted(current - known))
        too_many_missing = len(missing) > self.max_missing
        too_many_new = self.max_new is not None and len(new) > self.max_new
        parts = []
        if missing:
            parts.append(f"{len(missing)} missing: {_few(missing)}")
        if new:
            parts.append(f"{len(new)} new: {_few(new)}")
        detail = "; ".join(parts) if parts else "same values"
        status = Status.ANOMALY if too_many_missing or too_many_new else Status.OK
        return Judgement(
            status,
            baseline=float(len(expected)),
            history_runs=len(baseline),
            message=f"{detail} (against {len(baseline)} earlier run(s))",
            missing_values=missing,
            new_values=new,
        )


def _few(values: tuple[str, ...]) -> str:
    shown = ", ".join(repr(v) for v in values[:10])
    return shown + (", ..." if len(values) > 10 else "")


#: Strategy classes by their YAML / history name.
STRATEGIES: dict[str, type[Strategy]] = {
    s.kind: s for s in (RelativeChange, SameWeekday, StdDevBand, ValueSetChange)
}


class AnomalyCheck:
    """A batch-level check: one profile metric judged against the gate's earlier runs.

    Pass anomaly checks to ``Gate(..., anomalies=[...], history=...)``. The metric is computed
    in the gate's single pass over the data; the strategy compares it with the values the
    results history holds for the same gate and table (runs whose verdict was not ``failed``).
    Until ``min_history`` earlier runs recorded the metric, the check records and does not
    judge (status ``insufficient_history``).

    The constructors ``AnomalyCheck.row_count(...)``, ``.null_fraction(column, ...)``,
    ``.distinct_count``, ``.mean``, ``.min``, ``.max``, ``.sum`` and ``.value_set`` read best.

    Args:
        metric: ``row_count``, ``null_fraction``, ``distinct_count``, ``mean``, ``min``,
            ``max``, ``sum`` or ``value_set``.
        column: The profiled column (none for ``row_count``).
        strategy: ``RelativeChange``, ``SameWeekday`` or ``StdDevBand`` for numeric metrics;
            ``ValueSetChange`` for ``value_set``.
        action: ``warn`` or ``fail`` (``drop`` and ``quarantine`` do not apply to a whole
            batch). Default: an ``actions`` entry naming the check, else the gate's
            ``default_action`` when it is ``warn`` or ``fail``, else ``fail``.
        min_history: Earlier runs needed before judging (default: 1; ``StdDevBand``: 5 or its
            ``runs`` when smaller).
        name: Check name; default the metric (``amount.mean``, ``row_count``).

    Raises:
        GateConfigError: Unknown metric, a column missing or superfluous, a strategy that does
            not fit the metric, ``drop`` / ``quarantine``, or a bad ``min_history``.
    """

    def __init__(
        self,
        metric: Metric | str,
        column: str | None = None,
        *,
        strategy: Strategy,
        action: Action | str | None = None,
        min_history: int | None = None,
        name: str | None = None,
    ) -> None:
        try:
            self.metric = Metric(str(metric).strip().lower())
        except ValueError:
            raise GateConfigError(
                f"anomaly check: unknown metric {metric!r}; expected one of "
                f"{[m.value for m in Metric]}"
            ) from None
        owner = f"anomaly check {self.metric.value!r}" + (
            "" if column is None else f" on column {column!r}"
        )
        if self.metric is Metric.ROW_COUNT and column is not None:
            raise GateConfigError(f"{owner}: row_count takes no column")
        if self.metric is not Metric.ROW_COUNT and (not isinstance(column, str) or not column):
            raise GateConfigError(f"{owner}: needs the column it profiles")
        self.column = column
        wants_sets = self.metric is Metric.VALUE_SET
        if not isinstance(strategy, Strategy) or isinstance(strategy, ValueSetChange) != wants_sets:
            expected = (
                "ValueSetChange" if wants_sets else "RelativeChange, SameWeekday or StdDevBand"
            )
            raise GateConfigError(
                f"{owner}: strategy must be {expected}, got {type(strategy).__name__}"
            )
        self.strategy = strategy
        self.action = None if action is None else Action.parse(action, f"{owner}: action")
        if self.action in (Action.DROP, Action.QUARANTINE):
            raise GateConfigError(
                f"{owner}: action {self.action.value!r} does not apply to a whole-batch metric "
                "(no row fails it); use 'warn' or 'fail'"
            )
        self.min_history = strategy.default_min_history if min_history is None else min_history
        strategy.validate_min_history(self.min_history, owner)
        if name is not None and (not isinstance(name, str) or not name):
            raise GateConfigError(f"{owner}: name must be a non-empty string, got {name!r}")
        self.check = name or self.metric.value

    @property
    def name(self) -> str:
        """``column.check`` (or ``check`` for ``row_count``), as in results and ``actions``."""
        return self.check if self.column is None else f"{self.column}.{self.check}"

    @property
    def metric_spec(self) -> MetricSpec:
        """The metric this check needs computed."""
        return MetricSpec(self.metric, self.column)

    def renamed(self, check: str) -> AnomalyCheck:
        """A copy with another check name (the gate makes names unique)."""
        copy = object.__new__(AnomalyCheck)
        copy.__dict__.update(self.__dict__)
        copy.check = check
        return copy

    def __repr__(self) -> str:
        return (
            f"AnomalyCheck({self.metric.value!r}, {self.column!r}, "
            f"strategy={self.strategy.describe()}, action={self.action}, "
            f"min_history={self.min_history}, name={self.name!r})"
        )

    # -- constructors -----------------------------------------------------------------------

    @classmethod
    def row_count(cls, strategy: Strategy, **options: Any) -> AnomalyCheck:
        """Rows in the batch. Options: ``action``, ``min_history``, ``name``."""
        return cls(Metric.ROW_COUNT, None, strategy=strategy, **options)

    @classmethod
    def null_fraction(cls, column: str, strategy: Strategy, **options: Any) -> AnomalyCheck:
        """NULL rows over rows of ``column``. Options: ``action``, ``min_history``, ``name``."""
        return cls(Metric.NULL_FRACTION, column, strategy=strategy, **options)

    @classmethod
    def distinct_count(cls, column: str, strategy: Strategy, **options: Any) -> AnomalyCheck:
        """Estimated distinct values of ``column`` (``approx_count_distinct``, 5% rsd)."""
        return cls(Metric.DISTINCT_COUNT, column, strategy=strategy, **options)

    @classmethod
    def mean(cls, column: str, strategy: Strategy, **options: Any) -> AnomalyCheck:
        """Mean of a numeric ``column``."""
        return cls(Metric.MEAN, column, strategy=strategy, **options)

    @classmethod
    def min(cls, column: str, strategy: Strategy, **options: Any) -> AnomalyCheck:
        """Smallest value of a numeric ``column``."""
        return cls(Metric.MIN, column, strategy=strategy, **options)

    @classmethod
    def max(cls, column: str, strategy: Strategy, **options: Any) -> AnomalyCheck:
        """Largest value of a numeric ``column``."""
        return cls(Metric.MAX, column, strategy=strategy, **options)

    @classmethod
    def sum(cls, column: str, strategy: Strategy, **options: Any) -> AnomalyCheck:
        """Sum of a numeric ``column``."""
        return cls(Metric.SUM, column, strategy=strategy, **options)

    @classmethod
    def value_set(
        cls, column: str, strategy: ValueSetChange | None = None, **options: Any
    ) -> AnomalyCheck:
        """Distinct values of a low-cardinality ``column`` (default ``ValueSetChange()``)."""
        return cls(Metric.VALUE_SET, column, strategy=strategy or ValueSetChange(), **options)


def judge(
    check: AnomalyCheck,
    numbers: dict[str, float | None],
    sets: dict[str, list[str] | None],
    history: Sequence[PastRun],
    now: dt.datetime,
) -> Judgement:
    """Judge one anomaly check on this run's metrics against earlier runs (newest first)."""
    metric_id = check.metric_spec.id
    strategy = check.strategy
    if isinstance(strategy, ValueSetChange):
        past_sets = [s for run in history if (s := run.value_sets.get(metric_id)) is not None]
        return strategy.judge(
            sets.get(metric_id), numbers.get(metric_id), past_sets, check.min_history
        )
    assert isinstance(strategy, NumericStrategy)
    points = [
        (run.started_at, v)
        for run in history
        if (v := run.metrics.get(metric_id)) is not None and math.isfinite(v)
    ]
    return strategy.judge(numbers.get(metric_id), points, now, check.min_history)
