"""Public exceptions and warnings raised by dq-gates."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from dq_gates._result import GateResult, SchemaProblem


class GateError(Exception):
    """Base class of every error dq-gates raises on purpose."""


class GateConfigError(GateError, ValueError):
    """A gate is declared wrongly: unknown action, bad threshold, unreadable YAML, ...

    The message names the gate (or YAML file), the key at fault, what it holds and what is
    expected instead.
    """


@dataclass(frozen=True)
class CheckTypeProblem:
    """A check declared on a column whose Spark type the check does not support.

    Attributes:
        column: The checked column.
        check: The check's name (``greater_than``, ``mean``, ...).
        dtype: The column's Spark type (``bigint``, ``string``, ``decimal(10,2)``, ...).
        supported: The Spark types the check accepts.
    """

    column: str
    check: str
    dtype: str
    supported: tuple[str, ...]

    def describe(self) -> str:
        """One line naming the column, the check, the column's type and the supported types."""
        return (
            f"check {self.check!r} on column {self.column!r} of type {self.dtype}: the check "
            f"supports {', '.join(self.supported)}"
        )


class GateCheckTypeError(GateConfigError):
    """A built-in check (or an anomaly metric) is declared on a column type it does not support.

    pandera's PySpark backend refuses, for example, ``str_startswith`` on an integer column or
    ``greater_than`` on a string column; Spark would instead cast implicitly and count casts,
    pass silently or fail mid-job. dq-gates refuses such a check when the gate is built (the
    column declares its ``dtype``) or, for a column without a declared ``dtype``, when ``run``
    reads the DataFrame's schema, before any Spark job.

    Attributes:
        gate: Name of the gate.
        problems: One entry per refused check (column, check, column type, supported types).
    """

    def __init__(self, gate: str, problems: list[CheckTypeProblem]) -> None:
        self.gate = gate
        self.problems = problems
        lines = [f"gate {gate!r}: {len(problems)} check(s) declared on a column type they do "]
        lines[0] += "not support"
        lines.extend(f"  - {p.describe()}" for p in problems)
        lines.append(
            "Remove the check, declare it on a column of a supported type, or cast the column "
            "before the gate (and declare the cast type as its dtype)."
        )
        super().__init__("\n".join(lines))


class GateRunError(GateError):
    """Spark failed while the gate ran, for a reason no single check explains.

    For example the input could not be read, or the counting job failed as a whole (lost
    executors, out of memory). The Spark exception is chained as ``__cause__``.

    Attributes:
        gate: Name of the gate.
        stage: What the gate was doing: ``schema``, ``input``, ``count``, ``samples``,
            ``pandera``, ``history``, ...
    """

    def __init__(self, gate: str, stage: str, message: str) -> None:
        self.gate = gate
        self.stage = stage
        super().__init__(f"gate {gate!r}: {message}")


class GateCheckError(GateRunError):
    """One check could not be analysed or evaluated by Spark.

    Raised by ``Gate.run`` instead of the raw Spark (or py4j) exception, which is chained as
    ``__cause__``: an expression Spark cannot resolve (``analysis``), or a row on which the
    expression fails at run time, such as a value Spark cannot cast under ANSI mode or a
    Python check that raises (``execution``).

    Attributes:
        gate: Name of the gate.
        check: Name of the check (``column.check``) or anomaly metric at fault.
        phase: ``analysis`` or ``execution``.
    """

    def __init__(
        self, gate: str, check: str, phase: str, cause: BaseException, *, stage: str = "count"
    ) -> None:
        self.check = check
        self.phase = phase
        first = str(cause).strip().splitlines()[0] if str(cause).strip() else type(cause).__name__
        what = "Spark cannot analyse" if phase == "analysis" else "Spark failed evaluating"
        super().__init__(
            gate,
            stage,
            f"{what} check {check!r}: {type(cause).__name__}: {first[:500]}. Fix the check's "
            "arguments or the column's type, or remove the check.",
        )


class GateHistoryError(GateRunError):
    """The results history could not be read or appended to.

    Attributes:
        gate: Name of the gate.
        stage: ``history-read`` or ``history-write``.
        result: The run's result when the append failed after the checks (``None`` when
            reading the history failed, before any check ran).
    """

    def __init__(self, gate: str, stage: str, message: str, result: GateResult | None) -> None:
        self.result = result
        super().__init__(gate, stage, message)


class GateSchemaError(GateError):
    """The DataFrame does not have the columns or types the gate's schema declares.

    Raised by ``Gate.run`` before any data check runs, so no Spark job is spent on a frame that
    cannot be checked. ``problems`` lists every problem found, not only the first.

    Attributes:
        gate: Name of the gate.
        problems: One entry per missing column, wrong type or unexpected column.
    """

    def __init__(self, gate: str, problems: list[SchemaProblem]) -> None:
        self.gate = gate
        self.problems = problems
        lines = [f"gate {gate!r}: the DataFrame does not match the schema ({len(problems)} "]
        lines[0] += "problem)" if len(problems) == 1 else "problems)"
        lines.extend(f"  - {p.describe()}" for p in problems)
        lines.append(
            "Fix the upstream data or cast the columns before the gate, or update the gate's "
            "schema if the change is intended."
        )
        super().__init__("\n".join(lines))


class GateFailedError(GateError):
    """A check with action ``fail`` (or a gate-wide threshold) tripped.

    The message is a table of the checks that tripped: rows failed, rows checked, fraction, the
    threshold they exceeded and a few sample failing values.

    Attributes:
        result: The full ``GateResult`` (counts of every check, ``valid`` and ``quarantine``
            frames) so the caller can log it or inspect the failing rows before giving up.
    """

    def __init__(self, result: GateResult) -> None:
        self.result = result
        super().__init__(result.failure_table())


class UncompiledCheckWarning(UserWarning):
    """A check could not be compiled to a Spark expression and runs a slower way.

    Element-wise Python checks run as a Python UDF inside the single pass (exact counts, but every
    value crosses to Python); other custom checks run through pandera's own PySpark validation,
    which reports only pass or fail. The warning names the check and the column.
    """
