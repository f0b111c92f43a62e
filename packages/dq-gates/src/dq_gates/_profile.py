"""Profile metrics of a batch, computed inside the gate's single pass.

Where a metric is computed depends on whether the counting pass goes through the key window
of a uniqueness check (a shuffle and sort of every row by key):

- Row count and NULL counts join the counting aggregation; NULL tests ride in the check bit
  masks through the key window.
- Sum / mean / min / max join the counting aggregation when there is no key window. With one,
  they are computed by an observation (``DataFrame.observe``) on the rows as the job reads
  them, before the shuffle: carrying a double per row through the shuffle and sort cost more.
- The distinct-count estimate (``approx_count_distinct``, HyperLogLog++) and an unknown value
  set (``collect_set``) are imperative aggregates: inside the counting aggregation they would
  take Spark off its code-generated hash aggregate, so the observation computes them.
- A value set whose values the history already knows (at most ``KNOWN_LIMIT`` of them) is
  computed declaratively: per row one bit for which known value it holds (bit 0: a value no
  earlier run saw), ORed (``bit_or``) in the counting aggregation, or, with a key window, in
  the observation (the bit itself is computed in generated code before it). Only when bit 0 is
  set does a second job name the new values (as samples of failed checks are taken afterwards).

Either way the data is read once.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from pyspark.sql import functions as sf

from dq_gates._compile import type_name
from dq_gates.errors import CheckTypeProblem

if TYPE_CHECKING:
    from pyspark.sql import Column
    from pyspark.sql.types import DataType

#: A value set with more distinct values than this is not stored (not a low-cardinality column).
VALUE_SET_LIMIT = 1000
#: Relative standard deviation of the distinct-count estimate (Spark's default).
DISTINCT_RSD = 0.05
#: Most known values a value set is checked against in the counting aggregation (one bit each
#: in a long); a longer known set is computed by the observation.
KNOWN_LIMIT = 63


class Metric(StrEnum):
    """A profile metric of a batch, which an anomaly check compares with earlier runs.

    ``row_count``: rows in the batch. ``null_fraction``: NULL rows over rows (undefined on an
    empty batch). ``distinct_count``: estimated distinct non-NULL values
    (``approx_count_distinct``, relative standard deviation 5%). ``mean`` / ``min`` / ``max`` /
    ``sum``: of the non-NULL values of a numeric column, as a double (undefined when there is
    none; NaN propagates). ``value_set``: the distinct non-NULL values of a low-cardinality
    column, as strings.
    """

    ROW_COUNT = "row_count"
    NULL_FRACTION = "null_fraction"
    DISTINCT_COUNT = "distinct_count"
    MEAN = "mean"
    MIN = "min"
    MAX = "max"
    SUM = "sum"
    VALUE_SET = "value_set"


_NUMERIC = ("tinyint", "smallint", "int", "bigint", "float", "double", "decimal")
_ATOMIC = (*_NUMERIC, "string", "boolean", "date", "timestamp", "timestamp_ntz")

#: Spark types (SQL names, parameters left out) each metric accepts; None: any type.
METRIC_TYPES: dict[Metric, tuple[str, ...] | None] = {
    Metric.ROW_COUNT: None,
    Metric.NULL_FRACTION: None,
    Metric.DISTINCT_COUNT: (*_ATOMIC, "binary"),
    Metric.MEAN: _NUMERIC,
    Metric.MIN: _NUMERIC,
    Metric.MAX: _NUMERIC,
    Metric.SUM: _NUMERIC,
    Metric.VALUE_SET: _ATOMIC,
}

_NUMERIC_AGG = {
    Metric.MEAN: sf.avg,
    Metric.MIN: sf.min,
    Metric.MAX: sf.max,
    Metric.SUM: sf.sum,
}


@dataclass(frozen=True)
class MetricSpec:
    """One metric to compute in a run.

    Attributes:
        metric: Which metric.
        column: The profiled column (None for ``row_count``).
    """

    metric: Metric
    column: str | None = None

    @property
    def id(self) -> str:
        """``row_count`` or ``column.metric``: the key in results and the history."""
        return self.metric.value if self.column is None else f"{self.column}.{self.metric.value}"

    def type_problem(self, dtype: DataType | None) -> CheckTypeProblem | None:
        """The problem of computing this metric on a column of type ``dtype``, if any."""
        supported = METRIC_TYPES[self.metric]
        if supported is None or dtype is None or self.column is None:
            return None
        if type_name(dtype) in supported:
            return None
        return CheckTypeProblem(self.column, self.metric.value, dtype.simpleString(), supported)

    def column_ref(self) -> Column:
        """The profiled column."""
        return sf.col(f"`{self.column}`")

    def probe(self) -> Column:
        """An aggregate computing this metric alone (to find which metric makes a job fail)."""
        if self.metric is Metric.ROW_COUNT:
            return sf.count(sf.lit(1))
        column = self.column_ref()
        if self.metric is Metric.NULL_FRACTION:
            return sf.sum(sf.when(column.isNull(), 1).otherwise(0))
        if self.metric in _NUMERIC_AGG:
            return _NUMERIC_AGG[self.metric](column.cast("double"))
        if self.metric is Metric.DISTINCT_COUNT:
            return sf.approx_count_distinct(column, DISTINCT_RSD)
        return sf.size(sf.collect_set(column.cast("string")))


@dataclass(frozen=True)
class ProfilePlan:
    """Where each metric of a run is computed and under which hidden column names.

    Attributes:
        metrics: The metrics, one per id.
        null_flags: NULL test per column whose NULL fraction is profiled (flag name, test).
        values: Per column with numeric metrics computed in the counting aggregation, (value
            column name, the value as a double).
        set_bits: Per value set with known values, (bits column name, the row's bit as a
            long): bit ``j`` for the ``j``-th known value, bit 0 for another. A column of the
            counting aggregation's input or, through a key window, of the observed frame.
        known: Known values (sorted) per value-set metric id.
        keyed: The counting pass goes through a key window; numeric metrics and known
            value sets are then observed.
    """

    metrics: list[MetricSpec]
    null_flags: list[tuple[str, Column]]
    values: list[tuple[str, Column]]
    set_bits: list[tuple[str, Column]] = field(default_factory=list)
    known: dict[str, tuple[str, ...]] = field(default_factory=dict)
    keyed: bool = False

    @classmethod
    def of(
        cls,
        metrics: list[MetricSpec],
        known: Mapping[str, list[str]] | None = None,
        *,
        keyed: bool = False,
    ) -> ProfilePlan:
        """Lay out ``metrics``: one NULL flag and one value per profiled column.

        Args:
            metrics: The metrics to compute.
            known: Values earlier runs saw, per value-set metric id: those sets (up to
                ``KNOWN_LIMIT`` values) are computed in the counting aggregation.
            keyed: The counting pass goes through a key window (a uniqueness check).
        """
        null_columns = _unique(m.column for m in metrics if m.metric is Metric.NULL_FRACTION)
        value_columns = (
            [] if keyed else _unique(m.column for m in metrics if m.metric in _NUMERIC_AGG)
        )
        candidates = {
            m.id: tuple(sorted(set(known[m.id])))
            for m in metrics
            if known and m.metric is Metric.VALUE_SET and m.id in known
        }
        known_sets = {k: v for k, v in candidates.items() if len(v) <= KNOWN_LIMIT}
        return cls(
            metrics=metrics,
            null_flags=[
                (f"_dq_null{i}", sf.col(f"`{c}`").isNull()) for i, c in enumerate(null_columns)
            ],
            values=[
                (f"_dq_val{i}", sf.col(f"`{c}`").cast("double"))
                for i, c in enumerate(value_columns)
            ],
            set_bits=[
                (f"_dq_set{i}", _known_bit(m.column_ref(), known_sets[m.id]))
                for i, m in enumerate(metrics)
                if m.id in known_sets
            ],
            known=known_sets,
            keyed=keyed,
        )

    def _flag_name(self, column: str | None) -> str:
        columns = _unique(m.column for m in self.metrics if m.metric is Metric.NULL_FRACTION)
        return f"_dq_null{columns.index(column)}"

    def _value_name(self, column: str | None) -> str:
        columns = _unique(m.column for m in self.metrics if m.metric in _NUMERIC_AGG)
        return f"_dq_val{columns.index(column)}"

    def aggregates(self, flags: Mapping[str, Column], values: Mapping[str, Column]) -> list[Column]:
        """Aggregates of the metrics the counting aggregation computes, aliased ``m<i>``.

        Args:
            flags: NULL test per flag name, as the aggregation sees it (a column or a mask bit).
            values: Value per value name and bits per bits name, as the aggregation sees them.
        """
        aggs = []
        for i, m in enumerate(self.metrics):
            if m.metric is Metric.NULL_FRACTION:
                flag = flags[self._flag_name(m.column)]
                aggs.append(sf.sum(sf.when(flag, 1).otherwise(0)).alias(f"m{i}"))
            elif m.metric in _NUMERIC_AGG and not self.keyed:
                aggs.append(
                    _NUMERIC_AGG[m.metric](values[self._value_name(m.column)]).alias(f"m{i}")
                )
            elif m.id in self.known and not self.keyed:
                aggs.append(sf.bit_or(values[f"_dq_set{i}"]).alias(f"m{i}"))
        return aggs

    def _value(self, i: int, counted: Mapping[str, Any], observed: Mapping[str, Any]) -> Any:
        """Numeric or known-set metric ``i``: observed through a key window, else counted."""
        return observed.get(f"o{i}") if self.keyed else counted[f"m{i}"]

    def unknown(self, counted: Mapping[str, Any], observed: Mapping[str, Any]) -> list[MetricSpec]:
        """Known-set metrics whose column held values no earlier run saw (a second job)."""
        return [
            m
            for i, m in enumerate(self.metrics)
            if m.id in self.known and int(self._value(i, counted, observed) or 0) & 1
        ]

    def observed_inputs(self) -> list[Column]:
        """Columns to add to the observed frame: the known value sets' bits, when keyed."""
        return [bits.alias(name) for name, bits in self.set_bits] if self.keyed else []

    def observed(self) -> list[Column]:
        """Aggregates of the observed metrics, aliased ``o<i>``."""
        aggs = [(i, self._observed(i, m)) for i, m in enumerate(self.metrics)]
        return [agg.alias(f"o{i}") for i, agg in aggs if agg is not None]

    def _observed(self, i: int, m: MetricSpec) -> Column | None:
        """The observation's aggregate for metric ``i``; None if the counting aggregation has it."""
        if m.metric is Metric.DISTINCT_COUNT:
            return sf.approx_count_distinct(m.column_ref(), DISTINCT_RSD)
        if m.metric in _NUMERIC_AGG and self.keyed:
            return _NUMERIC_AGG[m.metric](m.column_ref().cast("double"))
        if m.id in self.known:
            # The bits are a column computed before the observation, in Spark's generated code:
            # evaluated inside the observation, the lookup cost several times more.
            return sf.bit_or(sf.col(f"_dq_set{i}")) if self.keyed else None
        if m.metric is Metric.VALUE_SET:
            values = sf.collect_set(m.column_ref().cast("string"))
            # Keep the observed row small: beyond the limit only the size matters.
            return sf.struct(
                sf.size(values).alias("n"),
                sf.slice(sf.array_sort(values), 1, VALUE_SET_LIMIT).alias("values"),
            )
        return None

    def read(
        self,
        counted: Mapping[str, Any],
        observed: Mapping[str, Any],
        rows_in: int,
        new_values: Mapping[str, tuple[int, list[str]]] | None = None,
    ) -> tuple[dict[str, float | None], dict[str, list[str] | None]]:
        """Metric values from the aggregation row and the observation.

        Args:
            counted: The counting aggregation's row.
            observed: The observation's row.
            rows_in: Rows in the batch.
            new_values: Per known-set metric id with unknown values: how many distinct new
                values there are and (up to the limit) which.

        Returns:
            (numeric metrics by id, value sets by id). A value set above ``VALUE_SET_LIMIT``
            values is None; a metric undefined on this batch (mean of no value, NULL fraction
            of no row) is None.
        """
        numbers: dict[str, float | None] = {}
        sets: dict[str, list[str] | None] = {}
        for i, m in enumerate(self.metrics):
            if m.metric is Metric.ROW_COUNT:
                numbers[m.id] = float(rows_in)
            elif m.metric is Metric.NULL_FRACTION:
                nulls = int(counted[f"m{i}"] or 0)
                numbers[m.id] = nulls / rows_in if rows_in else None
            elif m.metric in _NUMERIC_AGG:
                numbers[m.id] = _as_float(self._value(i, counted, observed))
            elif m.metric is Metric.DISTINCT_COUNT:
                numbers[m.id] = float(observed.get(f"o{i}") or 0)
            elif m.id in self.known:
                bits = int(self._value(i, counted, observed) or 0)
                present = [v for j, v in enumerate(self.known[m.id], 1) if bits >> j & 1]
                extra_n, extra = (new_values or {}).get(m.id, (0, []))
                n = len(present) + extra_n
                sets[m.id] = sorted([*present, *extra]) if n <= VALUE_SET_LIMIT else None
                numbers[m.id] = float(n)
            else:
                found = observed.get(f"o{i}")
                n, values = (0, []) if found is None else (found["n"], found["values"])
                sets[m.id] = list(values) if n <= VALUE_SET_LIMIT else None
                numbers[m.id] = float(n)
        return numbers, sets


def _known_bit(column: Column, known: tuple[str, ...]) -> Column:
    """The row's bit: ``1 << j`` for the ``j``-th (1-based) of ``known``; 1: another; 0: NULL."""
    literals = sf.array(*[sf.lit(v) for v in known]) if known else sf.array().cast("array<string>")
    position = sf.array_position(literals, column.cast("string")).cast("int")
    return sf.coalesce(
        sf.call_function("shiftleft", sf.lit(1).cast("long"), position), sf.lit(0).cast("long")
    )


def _as_float(value: Any) -> float | None:
    return None if value is None else float(value)


def _unique(items: Any) -> list[Any]:
    seen: list[Any] = []
    for item in items:
        if item not in seen:
            seen.append(item)
    return seen
