"""The single pass: every count, in-pass samples and the profile metrics in one Spark job.

When the job fails, the failure is diagnosed so no raw Spark or py4j exception leaves
``Gate.run``: each check's expression is analysed alone (no job), then the input is read alone,
then the checks and metrics are evaluated in halves until one fails by itself. That costs
extra jobs only on the failure path.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pyspark.sql import functions as sf

from dq_gates._compile import CheckKind
from dq_gates._plan import DUP_COUNT, RunPlan, guarded, pack, row_flags, value_of
from dq_gates._profile import VALUE_SET_LIMIT, MetricSpec, ProfilePlan
from dq_gates._samples import fixed_width, has_sample, later_samples
from dq_gates.errors import GateCheckError, GateError, GateRunError

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame

    from dq_gates._compile import CheckSpec


@dataclass
class Counts:
    """What the single pass found.

    Attributes:
        rows_in: Rows in the input.
        failed: Failing rows per row-level check name.
        low: Smallest (or first) failing value per check name, where sampled.
        high: Largest (or second) failing value per check name, where sampled.
        rows_any: Rows failing at least one check.
        rows_quarantined: Rows a quarantine check rejects.
        rows_dropped: Rows a drop check rejects and no quarantine check does.
        metrics: Numeric profile metrics by id.
        value_sets: Value sets by id.
    """

    rows_in: int
    failed: dict[str, int]
    low: dict[str, Any] = field(default_factory=dict)
    high: dict[str, Any] = field(default_factory=dict)
    rows_any: int = 0
    rows_quarantined: int = 0
    rows_dropped: int = 0
    metrics: dict[str, float | None] = field(default_factory=dict)
    value_sets: dict[str, list[str] | None] = field(default_factory=dict)


def with_dup_count(df: DataFrame, unique: CheckSpec | None) -> DataFrame:
    """Add how many rows share each row's key: one shuffle by key, no join back."""
    from pyspark.sql import Window

    if unique is None:
        return df
    window = Window.partitionBy(*[sf.col(f"`{k}`") for k in unique.keys])
    return df.withColumn(DUP_COUNT, sf.count(sf.lit(1)).over(window))


@dataclass
class _Pass:
    """The frame the counting aggregation reads and how it sees checks and metrics."""

    base: DataFrame
    fails: Mapping[str, Column]
    in_pass: set[int]
    null_flags: Mapping[str, Column]
    values: Mapping[str, Column]


def _counting_frame(plan: RunPlan, source: DataFrame, profile: ProfilePlan) -> _Pass:
    """The frame the counting aggregation reads, its failure tests, and in-pass samples."""
    row_specs = plan.row_specs
    unique = plan.unique
    if unique is not None:
        # Evaluate the row checks (and NULL tests of profiled columns) before the key window
        # and pack their outcomes into bit masks: the shuffle then carries the key plus one
        # long per 62 flags, about what a bare groupBy(key).count() shuffles, instead of
        # every checked column. Profiled numeric columns travel as one double each.
        value_specs = [s for s in row_specs if s.kind is CheckKind.ROW]
        flags = [(s.name, plan.fails[s.name]) for s in value_specs] + profile.null_flags
        masks, unpacked = pack(flags)
        keys = [sf.col(f"`{k}`") for k in unique.keys]
        carried = [value.alias(name) for name, value in profile.values]
        base = with_dup_count(source.select(*keys, *masks, *carried), unique)
        return _Pass(
            base=base,
            fails={
                **{s.name: unpacked[s.name] for s in value_specs},
                unique.name: plan.fails[unique.name],
            },
            in_pass={row_specs.index(unique)},
            null_flags={name: unpacked[name] for name, _ in profile.null_flags},
            values={name: sf.col(name) for name, _ in profile.values},
        )
    # Samples of fixed-width values ride in the aggregation; a string min / max there would
    # push Spark off its code-generated hash aggregate, so those come afterwards from the
    # failing rows only, and only for checks that failed.
    return _Pass(
        base=source,
        fails=plan.fails,
        in_pass={
            i
            for i, s in enumerate(row_specs)
            if has_sample(s) and fixed_width(plan.dtypes.get(s.column or ""))
        },
        null_flags=dict(profile.null_flags),
        values={**dict(profile.values), **dict(profile.set_bits)},
    )


def _aggregate(plan: RunPlan, counting: _Pass, profile: ProfilePlan) -> DataFrame:
    """Every count, the fixed-width samples and the declarative metrics in one aggregation."""
    specs = plan.row_specs
    fails = counting.fails
    any_fail, quarantined, dropped = row_flags(specs, plan.actions, fails)
    projected = [
        *[fails[s.name].alias(f"_dq_f{i}") for i, s in enumerate(specs)],
        *[value_of(s).alias(f"_dq_v{i}") for i, s in enumerate(specs) if i in counting.in_pass],
        any_fail.alias("_dq_any"),
        quarantined.alias("_dq_q"),
        dropped.alias("_dq_d"),
        *[flag.alias(name) for name, flag in counting.null_flags.items()],
        *[value.alias(name) for name, value in counting.values.items()],
    ]
    flagged = counting.base.select(*projected)

    def count_true(name: str) -> Column:
        return sf.sum(sf.when(sf.col(name), 1).otherwise(0))

    aggs = [sf.count(sf.lit(1)).alias("n")]
    for i in range(len(specs)):
        aggs.append(count_true(f"_dq_f{i}").alias(f"f{i}"))
        if i in counting.in_pass:
            failing_value = sf.when(sf.col(f"_dq_f{i}"), sf.col(f"_dq_v{i}"))
            aggs += [
                sf.min(failing_value).alias(f"mn{i}"),
                sf.max(failing_value).alias(f"mx{i}"),
            ]
    aggs += [count_true("_dq_any").alias("any"), count_true("_dq_q").alias("q")]
    aggs.append(count_true("_dq_d").alias("d"))
    aggs += profile.aggregates(
        {name: sf.col(name) for name in counting.null_flags},
        {name: sf.col(name) for name in counting.values},
    )
    return flagged.agg(*aggs)


def count(plan: RunPlan, known: Mapping[str, list[str]] | None = None) -> Counts:
    """Run the single pass (and, if a check failed whose sample it lacks, one ``limit`` job).

    Args:
        plan: The run.
        known: Values earlier runs saw, per value-set metric id (see ``ProfilePlan.of``):
            one more job runs only when the batch holds values outside them.

    Raises:
        GateCheckError: One check (or metric) cannot be analysed or evaluated.
        GateRunError: The input cannot be read, or the job failed as a whole.
    """
    from pyspark.sql import Observation

    gate = plan.context.gate
    profile = ProfilePlan.of(plan.metrics, known, keyed=plan.unique is not None)
    observed = profile.observed()
    # A fresh name per run: callers may reuse a run id, Spark matches observations by name.
    observation = Observation(f"dq_gates_{uuid.uuid4().hex}") if observed else None
    try:
        source = plan.checked
        if observation is not None:
            inputs = profile.observed_inputs()
            source = source.select("*", *inputs) if inputs else source
            source = source.observe(observation, *observed)
        counting = _counting_frame(plan, source, profile)
        row = _aggregate(plan, counting, profile).collect()[0].asDict()
    except GateError:  # pragma: no cover - building the plan raises no dq-gates error
        raise
    except Exception as exc:
        error = _diagnose(plan, exc)
        raise error from error.__cause__
    specs = plan.row_specs
    counts = Counts(
        rows_in=int(row["n"]),
        failed={s.name: int(row[f"f{i}"] or 0) for i, s in enumerate(specs)},
        rows_any=int(row["any"] or 0),
        rows_quarantined=int(row["q"] or 0),
        rows_dropped=int(row["d"] or 0),
    )
    for i in counting.in_pass:
        counts.low[specs[i].name], counts.high[specs[i].name] = row[f"mn{i}"], row[f"mx{i}"]
    later = [
        i
        for i, s in enumerate(specs)
        if has_sample(s) and i not in counting.in_pass and counts.failed[s.name]
    ]
    if later:
        found = guarded(
            gate,
            "samples",
            "reading sample failing values",
            lambda: later_samples(plan.checked, specs, plan.fails, later),
        )
        for i in later:
            counts.low[specs[i].name], counts.high[specs[i].name] = found[f"mn{i}"], found[f"mx{i}"]
    seen: dict[str, Any] = {}
    # On an empty input Spark may prune the observed operator away (an empty relation
    # propagates): there is nothing to observe, and the metrics' empty values apply.
    if observation is not None and counts.rows_in:
        seen = guarded(gate, "count", "reading the observed metrics", lambda: observation.get)
    new_values = {
        m.id: guarded(
            gate,
            "count",
            f"listing the values of {m.column!r} earlier runs did not see",
            functools.partial(_new_values, plan.checked, m, profile.known[m.id]),
        )
        for m in profile.unknown(row, seen)
    }
    counts.metrics, counts.value_sets = profile.read(row, seen, counts.rows_in, new_values)
    return counts


def _new_values(df: DataFrame, metric: MetricSpec, known: tuple[str, ...]) -> tuple[int, list[str]]:
    """The distinct values of the metric's column outside ``known``: how many, and which.

    A second job, run only when the counting pass found such values; the values are listed up
    to the value-set limit (beyond it only their number is kept).
    """
    value = metric.column_ref().cast("string")
    new = df.select(value.alias("v")).where(sf.col("v").isNotNull() & ~sf.col("v").isin(*known))
    found = sf.collect_set("v")
    row = new.agg(
        sf.size(found).alias("n"),
        sf.slice(sf.array_sort(found), 1, VALUE_SET_LIMIT).alias("values"),
    ).collect()[0]
    return int(row["n"]), [str(v) for v in row["values"] or []]


# -- diagnosis ---------------------------------------------------------------------------------


def _probes(plan: RunPlan) -> list[tuple[str, Column]]:
    """Per check and metric: its name and an aggregate that evaluates it on ``checked``."""
    probes = [
        (s.name, sf.sum(sf.when(plan.fails[s.name], 1).otherwise(0)))
        for s in plan.row_specs
        if s.kind is CheckKind.ROW
    ]
    probes.extend((m.id, m.probe()) for m in plan.metrics)
    return probes


def _fails_alone(action: Callable[[], object]) -> BaseException | None:
    try:
        action()
    except Exception as exc:
        return exc
    return None


def _diagnose(plan: RunPlan, exc: BaseException) -> GateError:
    """The dq-gates error naming what made the counting job fail."""
    gate = plan.context.gate
    checked = plan.checked
    probes = _probes(plan)
    # 1. Analysis, one expression at a time: no Spark job.
    for name, probe in probes:
        cause = _fails_alone(lambda p=probe: checked.agg(p).schema)  # type: ignore[misc]
        if cause is not None:
            return _check_error(gate, name, "analysis", cause)
    # 2. The input alone: every checked column read, nothing evaluated.
    cause = _fails_alone(
        lambda: checked.agg(*[sf.count(sf.col(f"`{c}`")) for c in checked.columns]).collect()
    )
    if cause is not None:
        return _run_error(gate, "input", "reading the input", cause)
    # 3. Evaluation, in halves, until one check or metric fails alone.
    culprit = _bisect(checked, probes)
    if culprit is not None:
        return _check_error(gate, culprit[0], "execution", culprit[1])
    unique = plan.unique
    if unique is not None:
        cause = _fails_alone(
            lambda: (
                with_dup_count(checked.select(*[sf.col(f"`{k}`") for k in unique.keys]), unique)
                .agg(sf.max(DUP_COUNT))
                .collect()
            )
        )
        if cause is not None:
            return _check_error(gate, unique.name, "execution", cause)
    return _run_error(gate, "count", "the counting job", exc)


def _bisect(
    checked: DataFrame, probes: list[tuple[str, Column]]
) -> tuple[str, BaseException] | None:
    """The first probe that fails alone, found by evaluating halves; None if none does."""
    if not probes:
        return None

    def run(group: list[tuple[str, Column]]) -> BaseException | None:
        return _fails_alone(lambda: checked.agg(*[probe for _, probe in group]).collect())

    pending = [probes]
    while pending:
        group = pending.pop(0)
        cause = run(group)
        if cause is None:
            continue
        if len(group) == 1:
            return group[0][0], cause
        half = len(group) // 2
        pending[:0] = [group[:half], group[half:]]
    return None


def _check_error(gate: str, name: str, phase: str, cause: BaseException) -> GateError:
    error = GateCheckError(gate, name, phase, cause)
    error.__cause__ = cause
    return error


def _run_error(gate: str, stage: str, what: str, cause: BaseException) -> GateError:
    error = GateRunError(gate, stage, f"{what} failed: {type(cause).__name__}: {cause}")
    error.__cause__ = cause
    return error
