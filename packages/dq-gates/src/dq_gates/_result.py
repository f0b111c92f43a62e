"""What a gate run returns: per-check counts, the verdict and the valid / quarantine split."""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from dq_gates._config import Action, Threshold, Verdict

if TYPE_CHECKING:
    from types import TracebackType

    from pyspark.sql import DataFrame

#: Columns the quarantine frame adds to the original ones.
FAILED_CHECKS_COLUMN = "_dq_failed_checks"
GATE_COLUMN = "_dq_gate"
RUN_ID_COLUMN = "_dq_run_id"
QUARANTINED_AT_COLUMN = "_dq_quarantined_at"


@dataclass(frozen=True)
class SchemaProblem:
    """A column the schema declares that the DataFrame lacks or types differently.

    Attributes:
        column: Column name.
        problem: ``missing``, ``wrong_dtype`` or ``unexpected`` (extra column, strict schemas).
        expected: What the schema declares (type name), if anything.
        actual: What the DataFrame has, if anything.
    """

    column: str
    problem: str
    expected: str | None = None
    actual: str | None = None

    def describe(self) -> str:
        """One line such as ``column 'amount': wrong_dtype, expected DoubleType(), got ...``."""
        text = f"column {self.column!r}: {self.problem}"
        if self.expected is not None:
            text += f", expected {self.expected}"
        if self.actual is not None:
            text += f", got {self.actual}"
        return text


def _json_value(value: Any) -> Any:
    """A JSON-safe form of a sample value (NaN and infinities become strings)."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if value is None or isinstance(value, bool | int | str | float):
        return value
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return [_json_value(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _json_value(v) for k, v in value.items()}
    return str(value)


@dataclass
class CheckResult:
    """Outcome of one check.

    Attributes:
        column: Checked column (key columns joined with ``,`` for uniqueness; None for a
            DataFrame-wide check).
        check: Check name (``not_null``, ``unique``, ``isin``, a custom name, ...).
        action: What the gate does with failing rows.
        rows_checked: Rows the check looked at (every row of the input).
        rows_failed: Failing rows; None when pandera evaluated the check (pass / fail only).
        sample: Up to two failing values: the smallest and the largest (key values for
            ``unique``; ``None`` for ``not_null``).
        threshold: The limit that applies, if any.
        tripped: Whether the limit was exceeded (this check makes the gate fail).
        evaluated_by: ``spark`` (compiled), ``udf`` (Python UDF in the single pass) or
            ``pandera`` (pandera's own validation).
        message: pandera's error message for a failed pandera-evaluated check.
    """

    column: str | None
    check: str
    action: Action
    rows_checked: int
    rows_failed: int | None
    sample: list[Any] = field(default_factory=list)
    threshold: Threshold | None = None
    tripped: bool = False
    evaluated_by: str = "spark"
    message: str | None = None

    @property
    def name(self) -> str:
        """``column.check``, as used in ``_dq_failed_checks`` and configuration keys."""
        return self.check if self.column is None else f"{self.column}.{self.check}"

    @property
    def passed(self) -> bool:
        """True when no row failed (a pandera-evaluated check: when pandera reported no error)."""
        if self.rows_failed is None:
            return self.message is None
        return self.rows_failed == 0

    @property
    def fraction_failed(self) -> float | None:
        """Failing rows over rows checked (0.0 on an empty input; None when unknown)."""
        if self.rows_failed is None:
            return None
        return self.rows_failed / self.rows_checked if self.rows_checked else 0.0

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form for logs and metrics."""
        return {
            "name": self.name,
            "column": self.column,
            "check": self.check,
            "action": self.action.value,
            "rows_checked": self.rows_checked,
            "rows_failed": self.rows_failed,
            "fraction_failed": self.fraction_failed,
            "passed": self.passed,
            "tripped": self.tripped,
            "threshold": None if self.threshold is None else self.threshold.to_dict(),
            "sample": _json_value(self.sample),
            "evaluated_by": self.evaluated_by,
            "message": self.message,
        }


@dataclass
class AnomalyResult:
    """Outcome of one anomaly check.

    Attributes:
        column: Profiled column (None for ``row_count``).
        check: Check name (the metric unless named otherwise).
        metric: ``row_count``, ``null_fraction``, ``distinct_count``, ``mean``, ``min``,
            ``max``, ``sum`` or ``value_set``.
        strategy: The strategy with its parameters, e.g. ``relative_change(max_decrease=0.5)``.
        action: ``warn`` or ``fail``.
        status: ``ok``, ``anomaly``, ``insufficient_history`` (recorded, not judged: too few
            earlier runs) or ``no_value`` (the metric is undefined on this batch).
        value: This batch's value (for ``value_set``: how many distinct values).
        baseline: The reference the strategy derived from earlier runs, if judged.
        lower: Smallest allowed value, if bounded below.
        upper: Largest allowed value, if bounded above.
        history_runs: Earlier runs the strategy used (or found, when too few).
        min_history: Earlier runs needed before the check judges.
        tripped: The status is ``anomaly`` and the action ``fail``: the gate fails.
        message: One sentence for people.
        values: ``value_set`` only: this batch's values (None above 1,000 values).
        missing_values: ``value_set`` only: expected values absent from this batch.
        new_values: ``value_set`` only: values no baseline run had.
    """

    column: str | None
    check: str
    metric: str
    strategy: str
    action: Action
    status: str
    value: float | None
    baseline: float | None
    lower: float | None
    upper: float | None
    history_runs: int
    min_history: int
    tripped: bool
    message: str
    values: list[str] | None = None
    missing_values: list[str] = field(default_factory=list)
    new_values: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        """``column.check`` (``check`` alone for ``row_count``)."""
        return self.check if self.column is None else f"{self.column}.{self.check}"

    @property
    def is_anomaly(self) -> bool:
        """Whether the check judged this batch anomalous."""
        return self.status == "anomaly"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form for logs, reports and metrics."""
        return {
            "name": self.name,
            "column": self.column,
            "check": self.check,
            "metric": self.metric,
            "strategy": self.strategy,
            "action": self.action.value,
            "status": self.status,
            "is_anomaly": self.is_anomaly,
            "value": _json_value(self.value),
            "baseline": _json_value(self.baseline),
            "lower": _json_value(self.lower),
            "upper": _json_value(self.upper),
            "history_runs": self.history_runs,
            "min_history": self.min_history,
            "tripped": self.tripped,
            "message": self.message,
            "values": self.values,
            "missing_values": self.missing_values,
            "new_values": self.new_values,
        }


@dataclass
class GateResult:
    """Outcome of ``Gate.run``.

    ``valid`` and ``quarantine`` are lazy DataFrames over one persisted, flagged copy of the
    input (persisted only when rows are removed); call ``release()`` (or use the result as a
    context manager) once both are written to free it. A DataFrame the caller cached is never
    unpersisted.

    Attributes:
        gate: Gate name.
        run_id: Unique id of this run (also in the quarantine rows).
        started_at: UTC time the run started (also ``_dq_quarantined_at``).
        verdict: ``passed``, ``warned`` or ``failed``.
        checks: One result per check, in declaration order.
        rows_in: Rows in the input.
        rows_valid: Rows in ``valid``.
        rows_quarantined: Rows in ``quarantine``.
        rows_dropped: Rows removed by ``drop`` checks and not quarantined.
        rows_failing_any: Rows failing at least one row-level check.
        gate_threshold: Gate-wide limit on ``rows_failing_any`` (``thresholds["*"]``).
        gate_tripped: Whether the gate-wide limit was exceeded.
        valid: Input rows that no drop / quarantine check rejected, original columns.
        quarantine: Quarantined rows: original columns plus ``_dq_failed_checks``
            (``array<string>`` of ``column.check``), ``_dq_gate``, ``_dq_run_id`` and
            ``_dq_quarantined_at``.
        duration_s: Wall time of the checks, seconds.
        anomalies: One result per anomaly check, in declaration order.
        metrics: Profile metrics this run computed, by id (``row_count``, ``amount.mean``,
            ...; None where undefined on this batch).
        value_sets: Value sets this run computed, by id (``status.value_set``).
        table: The table the batch is headed for, as passed to ``run``.
        batch_id: The caller's batch id, as passed to ``run``.
        history: Where the run was recorded (``ResultsHistory`` description), if anywhere.
    """

    gate: str
    run_id: str
    started_at: dt.datetime
    verdict: Verdict
    checks: list[CheckResult]
    rows_in: int
    rows_valid: int
    rows_quarantined: int
    rows_dropped: int
    rows_failing_any: int
    gate_threshold: Threshold | None
    gate_tripped: bool
    valid: DataFrame
    quarantine: DataFrame
    duration_s: float
    _persisted: DataFrame | None = field(default=None, repr=False)
    anomalies: list[AnomalyResult] = field(default_factory=list)
    metrics: dict[str, float | None] = field(default_factory=dict)
    value_sets: dict[str, list[str] | None] = field(default_factory=dict)
    table: str | None = None
    batch_id: str | None = None
    history: str | None = None

    @property
    def failed_checks(self) -> list[CheckResult]:
        """Checks with at least one failing row (or a pandera failure)."""
        return [c for c in self.checks if not c.passed]

    @property
    def anomalies_found(self) -> list[AnomalyResult]:
        """Anomaly checks that judged this batch anomalous (whatever their action)."""
        return [a for a in self.anomalies if a.is_anomaly]

    def anomaly(self, name: str) -> AnomalyResult:
        """The result of the anomaly check called ``name``.

        Raises:
            KeyError: No such anomaly check; the message lists the names there are.
        """
        for a in self.anomalies:
            if a.name == name:
                return a
        names = [a.name for a in self.anomalies]
        raise KeyError(f"gate {self.gate!r} has no anomaly check {name!r}; anomaly checks: {names}")

    def check(self, name: str) -> CheckResult:
        """The result of the check called ``name`` (``column.check``).

        Raises:
            KeyError: No such check; the message lists the names there are.
        """
        for c in self.checks:
            if c.name == name:
                return c
        raise KeyError(f"gate {self.gate!r} has no check {name!r}; checks: {self.check_names()}")

    def check_names(self) -> list[str]:
        """Names of all checks, in order."""
        return [c.name for c in self.checks]

    def release(self) -> None:
        """Unpersist the flagged copy behind ``valid`` and ``quarantine`` (idempotent)."""
        if self._persisted is not None:
            self._persisted.unpersist()
            self._persisted = None

    def __enter__(self) -> GateResult:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable summary (no DataFrames) for logs and metrics."""
        return {
            "gate": self.gate,
            "run_id": self.run_id,
            "started_at": self.started_at.isoformat(),
            "verdict": self.verdict.value,
            "rows_in": self.rows_in,
            "rows_valid": self.rows_valid,
            "rows_quarantined": self.rows_quarantined,
            "rows_dropped": self.rows_dropped,
            "rows_failing_any": self.rows_failing_any,
            "gate_threshold": None
            if self.gate_threshold is None
            else self.gate_threshold.to_dict(),
            "gate_tripped": self.gate_tripped,
            "duration_s": round(self.duration_s, 3),
            "checks": [c.to_dict() for c in self.checks],
            "table": self.table,
            "batch_id": self.batch_id,
            "history": self.history,
            "anomalies": [a.to_dict() for a in self.anomalies],
            "anomalies_found": len(self.anomalies_found),
            "metrics": {k: _json_value(v) for k, v in self.metrics.items()},
            "value_sets": dict(self.value_sets),
        }

    def failure_table(self) -> str:
        """A readable table of the checks that tripped, for ``GateFailedError``."""
        tripped = [c for c in self.checks if c.tripped]
        tripped_anomalies = [a for a in self.anomalies if a.tripped]
        header = ("check", "action", "failed", "checked", "fraction", "limit", "sample")
        rows: list[tuple[str, ...]] = [header]

        def check_row(c: CheckResult, name: str) -> tuple[str, ...]:
            fraction = c.fraction_failed
            return (
                name,
                c.action.value,
                "?" if c.rows_failed is None else str(c.rows_failed),
                str(c.rows_checked),
                "?" if fraction is None else f"{fraction:.4%}",
                "" if c.threshold is None else c.threshold.describe(),
                _sample_text(c),
            )

        rows.extend(check_row(c, c.name) for c in tripped)
        limits = len(tripped) + len(tripped_anomalies)
        if self.gate_tripped and self.gate_threshold is not None:
            limits += 1
            fraction = self.rows_failing_any / self.rows_in if self.rows_in else 0.0
            rows.append(
                (
                    "* (rows failing any check)",
                    "fail",
                    str(self.rows_failing_any),
                    str(self.rows_in),
                    f"{fraction:.4%}",
                    self.gate_threshold.describe(),
                    "",
                )
            )
            # The gate-wide limit counts rows failing any check: name the checks behind them,
            # even those whose own action (warn, drop, quarantine) let them pass.
            rows.extend(
                check_row(c, f"  {c.name}") for c in self.checks if not c.tripped and c.rows_failed
            )
        widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
        lines = [
            f"gate {self.gate!r} failed (run {self.run_id}): {limits} limit(s) exceeded",
        ]
        for i, r in enumerate(rows):
            cells = (cell.ljust(w) for cell, w in zip(r, widths, strict=True))
            lines.append(("  " + "  ".join(cells)).rstrip())
            if i == 0:
                lines.append(("  " + "  ".join("-" * w for w in widths)).rstrip())
        lines.extend(f"  {c.name}: {c.message}" for c in tripped if c.message)
        if tripped_anomalies:
            lines.append("  anomalies (whole-batch metrics against earlier runs):")
            lines.extend(f"    {a.name} [{a.strategy}]: {a.message}" for a in tripped_anomalies)
        lines.append(
            "Inspect the failing rows via error.result (valid / quarantine), fix the data "
            "upstream, or change the check's action or threshold if this is acceptable."
        )
        return "\n".join(lines)


def _sample_text(c: CheckResult) -> str:
    text = ", ".join(repr(v) if isinstance(v, str) else str(v) for v in c.sample)
    return text if len(text) <= 60 else text[:57] + "..."
