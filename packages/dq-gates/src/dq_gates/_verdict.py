"""From counts to results: per-check outcomes, anomaly judgements, limits and the verdict."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from dq_gates._anomaly import PastRun, judge
from dq_gates._compile import CheckKind
from dq_gates._config import Action, Threshold, Verdict
from dq_gates._result import AnomalyResult, CheckResult
from dq_gates._samples import sample_values

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

    from dq_gates._anomaly import AnomalyCheck
    from dq_gates._compile import CheckSpec
    from dq_gates._count import Counts
    from dq_gates._plan import RunPlan


@dataclass
class Outcome:
    """What a run concluded, before the split.

    Attributes:
        checks: One result per check, in declaration order.
        anomalies: One result per anomaly check, in declaration order.
        gate_threshold: The gate-wide limit on rows failing any check, if any.
        gate_tripped: Whether that limit was exceeded.
        verdict: ``passed``, ``warned`` or ``failed``.
    """

    checks: list[CheckResult]
    anomalies: list[AnomalyResult]
    gate_threshold: Threshold | None
    gate_tripped: bool
    verdict: Verdict


def check_result(
    spec: CheckSpec,
    *,
    action: Action,
    threshold: Threshold | None,
    rows_in: int,
    failed: int | None,
    sample: list[Any],
    message: str | None,
) -> CheckResult:
    """One check's result; ``tripped`` when its failures exceed its threshold."""
    if failed is None:
        tripped = message is not None and action is Action.FAIL
    else:
        tripped = threshold is not None and threshold.exceeded(failed, rows_in)
    evaluated_by = {"udf": "udf", "pandera": "pandera"}.get(spec.builtin, "spark")
    return CheckResult(
        column=spec.column,
        check=spec.check,
        action=action,
        rows_checked=rows_in,
        rows_failed=failed,
        sample=sample,
        threshold=threshold,
        tripped=tripped,
        evaluated_by=evaluated_by,
        message=message,
    )


def pandera_message(gate: str, spec: CheckSpec, df: DataFrame) -> str | None:
    """Run one custom check through pandera's own PySpark validation; its error, if any."""
    import pandera.pyspark as pa

    if spec.column is None:
        schema = pa.DataFrameSchema(checks=[spec.pandera_check], name=gate)
    else:
        column = pa.Column(checks=[spec.pandera_check], nullable=True)
        schema = pa.DataFrameSchema({spec.column: column}, name=gate)
    try:
        validated: Any = schema.validate(df)
        errors = dict(validated.pandera.errors)
        messages = [
            str(entry.get("error"))
            for category in errors.values()
            for entries in category.values()
            for entry in entries
        ]
        return "; ".join(messages) if messages else None
    except Exception as exc:  # pandera re-raises TypeError (and Spark errors) from a check
        return f"{type(exc).__name__}: {exc}"


def check_results(
    plan: RunPlan,
    counts: Counts,
    threshold_of: Callable[[CheckSpec], Threshold | None],
) -> list[CheckResult]:
    """Results of every check: counted ones from ``counts``, custom ones through pandera."""
    results = []
    for spec in plan.specs:
        action = plan.actions[spec.name]
        if spec.kind is CheckKind.PANDERA:
            failed, sample = None, []
            message = pandera_message(plan.context.gate, spec, plan.df)
        else:
            failed = counts.failed[spec.name]
            low, high = counts.low.get(spec.name), counts.high.get(spec.name)
            sample, message = sample_values(spec, failed, low, high), None
        results.append(
            check_result(
                spec,
                action=action,
                threshold=threshold_of(spec),
                rows_in=counts.rows_in,
                failed=failed,
                sample=sample,
                message=message,
            )
        )
    return results


def anomaly_results(
    anomalies: Sequence[AnomalyCheck],
    actions: Mapping[str, Action],
    counts: Counts,
    history: Sequence[PastRun],
    now: dt.datetime,
) -> list[AnomalyResult]:
    """Judge every anomaly check on this run's metrics against earlier runs."""
    results = []
    for check in anomalies:
        verdict = judge(check, counts.metrics, counts.value_sets, history, now)
        metric_id = check.metric_spec.id
        action = actions[check.name]
        results.append(
            AnomalyResult(
                column=check.column,
                check=check.check,
                metric=check.metric.value,
                strategy=check.strategy.describe(),
                action=action,
                status=verdict.status,
                value=counts.metrics.get(metric_id),
                baseline=verdict.baseline,
                lower=verdict.lower,
                upper=verdict.upper,
                history_runs=verdict.history_runs,
                min_history=check.min_history,
                tripped=verdict.status == "anomaly" and action is Action.FAIL,
                message=verdict.message,
                values=counts.value_sets.get(metric_id),
                missing_values=list(verdict.missing_values),
                new_values=list(verdict.new_values),
            )
        )
    return results


def decide(
    checks: list[CheckResult],
    anomalies: list[AnomalyResult],
    gate_threshold: Threshold | None,
    counts: Counts,
) -> Outcome:
    """The verdict: ``failed`` if a limit tripped, ``warned`` if anything failed, else passed."""
    gate_tripped = bool(gate_threshold and gate_threshold.exceeded(counts.rows_any, counts.rows_in))
    if gate_tripped or any(r.tripped for r in checks) or any(a.tripped for a in anomalies):
        verdict = Verdict.FAILED
    elif any(not r.passed for r in checks) or any(a.is_anomaly for a in anomalies):
        verdict = Verdict.WARNED
    else:
        verdict = Verdict.PASSED
    return Outcome(checks, anomalies, gate_threshold, gate_tripped, verdict)
