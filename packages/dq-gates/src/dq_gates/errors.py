"""Public exceptions and warnings raised by dq-gates."""

from __future__ import annotations

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
