"""Gate configuration values: actions, thresholds and how keys resolve to checks."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from dq_gates.errors import GateConfigError

#: Key of ``thresholds`` that limits rows failing any check, across the whole gate.
GATE_KEY = "*"


class Action(StrEnum):
    """What a gate does with rows that fail a check.

    ``warn`` counts them and keeps them; ``drop`` removes them from ``valid``; ``quarantine``
    removes them from ``valid`` and puts them in ``quarantine`` with the names of the checks they
    failed; ``fail`` makes the gate fail (``GateFailedError``) when the check's threshold
    (default: zero rows) is exceeded, and keeps the rows when it is not.
    """

    WARN = "warn"
    DROP = "drop"
    QUARANTINE = "quarantine"
    FAIL = "fail"

    @classmethod
    def parse(cls, value: object, where: str) -> Action:
        """Read an action from a string, naming ``where`` it came from when it is wrong.

        Raises:
            GateConfigError: ``value`` is not one of warn, drop, quarantine, fail.
        """
        try:
            return cls(str(value).strip().lower())
        except ValueError:
            raise GateConfigError(
                f"{where}: action {value!r} is not one of: warn, drop, quarantine, fail"
            ) from None


class Verdict(StrEnum):
    """Outcome of a gate run: no failing rows, failing rows within limits, or a tripped limit."""

    PASSED = "passed"
    WARNED = "warned"
    FAILED = "failed"


@dataclass(frozen=True)
class Threshold:
    """How many failing rows a check (or the whole gate) may have before the gate fails.

    A limit is exceeded when failing rows are *more than* ``max_rows`` or their fraction of the
    rows checked is *more than* ``max_fraction``; with both set, exceeding either trips it.

    Attributes:
        max_rows: Largest allowed number of failing rows.
        max_fraction: Largest allowed fraction (0..1) of failing rows.
    """

    max_rows: int | None = None
    max_fraction: float | None = None

    def __post_init__(self) -> None:
        if self.max_rows is None and self.max_fraction is None:
            raise GateConfigError("a threshold needs max_rows, max_fraction or both")
        if self.max_rows is not None and (
            isinstance(self.max_rows, bool)
            or not isinstance(self.max_rows, int)
            or self.max_rows < 0
        ):
            raise GateConfigError(f"max_rows must be an integer >= 0, got {self.max_rows!r}")
        if self.max_fraction is not None and (
            isinstance(self.max_fraction, bool)
            or not isinstance(self.max_fraction, int | float)
            or not 0 <= self.max_fraction <= 1
        ):
            raise GateConfigError(
                f"max_fraction must be a number between 0 and 1, got {self.max_fraction!r}"
            )

    def exceeded(self, rows_failed: int, rows_checked: int) -> bool:
        """Whether ``rows_failed`` out of ``rows_checked`` is over this limit."""
        if self.max_rows is not None and rows_failed > self.max_rows:
            return True
        if self.max_fraction is not None and rows_checked:
            return rows_failed / rows_checked > self.max_fraction
        return False

    def describe(self) -> str:
        """Short text such as ``max 10 rows`` or ``max 10 rows / 1.00%``."""
        parts = []
        if self.max_rows is not None:
            parts.append(f"max {self.max_rows} rows")
        if self.max_fraction is not None:
            parts.append(f"max {self.max_fraction:.2%}")
        return " / ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"max_rows": self.max_rows, "max_fraction": self.max_fraction}

    @classmethod
    def parse(cls, value: object, where: str) -> Threshold:
        """Read a threshold from a ``Threshold`` or a mapping with max_rows / max_fraction.

        Raises:
            GateConfigError: Anything else, or a mapping with other keys or bad values.
        """
        if isinstance(value, Threshold):
            return value
        if not isinstance(value, Mapping):
            raise GateConfigError(
                f"{where}: expected a mapping with max_rows and/or max_fraction, got {value!r}"
            )
        unknown = sorted(set(map(str, value)) - {"max_rows", "max_fraction"})
        if unknown:
            raise GateConfigError(
                f"{where}: unknown threshold key(s) {unknown}; use max_rows and/or max_fraction"
            )
        try:
            return cls(max_rows=value.get("max_rows"), max_fraction=value.get("max_fraction"))
        except GateConfigError as exc:
            raise GateConfigError(f"{where}: {exc}") from None


#: A check with action ``fail`` and no threshold fails the gate on its first failing row.
ZERO_ROWS = Threshold(max_rows=0)


def resolve(mapping: Mapping[str, Any], column: str | None, check_name: str) -> Any:
    """Look a check up in ``actions`` / ``thresholds``: ``column.check`` first, then ``column``.

    Returns:
        The value found, or None.
    """
    full = check_name if column is None else f"{column}.{check_name}"
    if full in mapping:
        return mapping[full]
    if column is not None and column in mapping:
        return mapping[column]
    return None
