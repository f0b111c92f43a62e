"""Schema drift detection and the per-change compatibility verdicts built on it."""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Iterator, Sequence
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from schema_registry._compat import Compatibility, is_widening
from schema_registry._model import TableSchema
from schema_registry._types import ArrayType, DataType, Field, MapType, StructType

if TYPE_CHECKING:
    from pyspark.sql.types import StructType as SparkStructType

__all__ = [
    "DriftChange",
    "DriftKind",
    "DriftReport",
    "Incompatibility",
    "check_compatibility",
    "detect_drift",
]


class DriftKind(StrEnum):
    """What kind of difference a :class:`DriftChange` is."""

    MISSING_COLUMN = "missing_column"
    EXTRA_COLUMN = "extra_column"
    TYPE_MISMATCH = "type_mismatch"
    NULLABILITY_CHANGE = "nullability_change"
    ORDER_CHANGE = "order_change"


@dataclasses.dataclass(frozen=True)
class DriftChange:
    """One difference between an expected and an actual schema.

    The expected schema plays the role of the older schema and the actual one the newer, so
    ``breaks_backward`` means readers of ``actual`` cannot read data written with ``expected``,
    and ``breaks_forward`` the reverse.

    Attributes:
        path: Dotted field path, e.g. ``address.zip``; array elements are ``items.element``, map
            keys and values ``attrs.key`` / ``attrs.value``; ``""`` is the top level (only for
            ``order_change``).
        kind: The kind of difference.
        expected: The expected side: a type string, ``nullable`` / ``not null``, or the field
            order; None when the field does not exist there.
        actual: The actual side, in the same form.
        breaks_backward: Whether this change breaks BACKWARD compatibility.
        breaks_forward: Whether this change breaks FORWARD compatibility.
        reason: Why the change is or is not compatible, in words.
    """

    path: str
    kind: DriftKind
    expected: str | None
    actual: str | None
    breaks_backward: bool
    breaks_forward: bool
    reason: str

    def is_breaking(self, mode: Compatibility | str) -> bool:
        """Whether the change breaks compatibility ``mode`` (never for ``NONE``)."""
        mode = Compatibility.parse(mode)
        return (mode.backward and self.breaks_backward) or (mode.forward and self.breaks_forward)

    def to_dict(self) -> dict[str, Any]:
        """Return the change as plain data for logs and metrics."""
        return {
            "path": self.path,
            "kind": self.kind.value,
            "expected": self.expected,
            "actual": self.actual,
            "breaks_backward": self.breaks_backward,
            "breaks_forward": self.breaks_forward,
            "reason": self.reason,
        }

    def __str__(self) -> str:
        return (
            f"{self.path or '(top level)'}: {self.kind.value} "
            f"({self.expected or '-'} -> {self.actual or '-'}): {self.reason}"
        )


@dataclasses.dataclass(frozen=True)
class DriftReport:
    """All differences between an expected and an actual schema.

    Attributes:
        changes: Each difference, in field order of the expected schema (additions after).
    """

    changes: tuple[DriftChange, ...]

    @property
    def has_drift(self) -> bool:
        """Whether there is at least one change."""
        return bool(self.changes)

    def breaking_changes(self, mode: Compatibility | str) -> list[DriftChange]:
        """The changes that break compatibility ``mode``."""
        return [c for c in self.changes if c.is_breaking(mode)]

    def is_breaking(self, mode: Compatibility | str) -> bool:
        """Whether any change breaks compatibility ``mode``."""
        return bool(self.breaking_changes(mode))

    def __iter__(self) -> Iterator[DriftChange]:
        return iter(self.changes)

    def __len__(self) -> int:
        return len(self.changes)

    def to_dict(self, mode: Compatibility | str | None = None) -> dict[str, Any]:
        """Return the report as plain data for logs and metrics.

        Args:
            mode: When given, add the mode, an overall ``breaking`` flag and a per-change one.
        """
        changes = [c.to_dict() for c in self.changes]
        result: dict[str, Any] = {
            "has_drift": self.has_drift,
            "change_count": len(self.changes),
            "counts_by_kind": dict(Counter(c.kind.value for c in self.changes)),
        }
        if mode is not None:
            parsed = Compatibility.parse(mode)
            for entry, change in zip(changes, self.changes, strict=True):
                entry["breaking"] = change.is_breaking(parsed)
            result["mode"] = parsed.value
            result["breaking"] = self.is_breaking(parsed)
        result["changes"] = changes
        return result

    def format(self, mode: Compatibility | str | None = None) -> str:
        """Return a terminal table of the changes, marking those breaking ``mode`` if given."""
        if not self.changes:
            return "no schema drift"
        parsed = None if mode is None else Compatibility.parse(mode)
        header = ["PATH", "KIND", "EXPECTED", "ACTUAL", "BREAKS"]
        rows = []
        for c in self.changes:
            breaks = [
                n
                for n, hit in (("backward", c.breaks_backward), ("forward", c.breaks_forward))
                if hit
            ]
            mark = "" if parsed is None else ("  <- breaking" if c.is_breaking(parsed) else "")
            rows.append(
                [
                    c.path or "(top level)",
                    c.kind.value,
                    c.expected or "-",
                    c.actual or "-",
                    (", ".join(breaks) or "-") + mark,
                ]
            )
        widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
        lines = [
            "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
            for row in [header, *rows]
        ]
        counts = Counter(c.kind.value for c in self.changes)
        summary = ", ".join(f"{n} {kind}" for kind, n in counts.items())
        title = f"schema drift: {len(self.changes)} change(s) ({summary})"
        if parsed is not None:
            title += f"; {len(self.breaking_changes(parsed))} breaking under {parsed.value}"
        return "\n".join([title, *lines])

    def __str__(self) -> str:
        return self.format()


@dataclasses.dataclass(frozen=True)
class Incompatibility:
    """A breaking change found while checking a new schema against one registered version.

    Attributes:
        against_version: The registered version the new schema was compared with.
        change: The breaking change (expected = that version, actual = the new schema).
    """

    against_version: int | None
    change: DriftChange

    def __str__(self) -> str:
        against = "" if self.against_version is None else f"against v{self.against_version}: "
        return f"{against}{self.change}"


SchemaLike = TableSchema | StructType


def _as_schema(value: SchemaLike | SparkStructType) -> TableSchema:
    if isinstance(value, TableSchema):
        return value
    if isinstance(value, StructType):
        return TableSchema(value.fields)
    return TableSchema.from_spark(value)


def _join(prefix: str, name: str) -> str:
    # Backticks keep a dot inside a column name from reading as nesting.
    part = f"`{name}`" if "." in name or "`" in name else name
    return f"{prefix}.{part}" if prefix else part


def _null_word(nullable: bool) -> str:
    return "nullable" if nullable else "not null"


class _Differ:
    def __init__(self, *, check_order: bool, case_sensitive: bool, check_nullability: bool):
        self.check_order = check_order
        self.case_sensitive = case_sensitive
        self.check_nullability = check_nullability
        self.changes: list[DriftChange] = []

    def key(self, name: str) -> str:
        return name if self.case_sensitive else name.lower()

    def fields(self, expected: Sequence[Field], actual: Sequence[Field], prefix: str) -> None:
        actual_by_key = {self.key(f.name): f for f in actual}
        expected_keys = set()
        for ef in expected:
            k = self.key(ef.name)
            expected_keys.add(k)
            path = _join(prefix, ef.name)
            af = actual_by_key.get(k)
            if af is None:
                self.missing(path, ef)
                continue
            self.nullability(path, ef.nullable, af.nullable)
            self.types(ef.type, af.type, path)
        for af in actual:
            if self.key(af.name) not in expected_keys:
                self.extra(_join(prefix, af.name), af)
        if self.check_order:
            actual_keys = {self.key(f.name) for f in actual}
            expected_order = [f.name for f in expected if self.key(f.name) in actual_keys]
            actual_order = [f.name for f in actual if self.key(f.name) in expected_keys]
            if [self.key(n) for n in expected_order] != [self.key(n) for n in actual_order]:
                self.changes.append(
                    DriftChange(
                        prefix,
                        DriftKind.ORDER_CHANGE,
                        ", ".join(expected_order),
                        ", ".join(actual_order),
                        breaks_backward=False,
                        breaks_forward=False,
                        reason="fields are in a different order; Delta resolves columns by name",
                    )
                )

    def missing(self, path: str, ef: Field) -> None:
        self.changes.append(
            DriftChange(
                path,
                DriftKind.MISSING_COLUMN,
                ef.type.simple_string(),
                None,
                breaks_backward=False,
                breaks_forward=not ef.nullable,
                reason=(
                    "dropped; readers of the old schema read it as NULL, which it allowed"
                    if ef.nullable
                    else "dropped while NOT NULL; readers of the old schema require a value"
                ),
            )
        )

    def extra(self, path: str, af: Field) -> None:
        self.changes.append(
            DriftChange(
                path,
                DriftKind.EXTRA_COLUMN,
                None,
                af.type.simple_string(),
                breaks_backward=not af.nullable,
                breaks_forward=False,
                reason=(
                    "added as nullable; rows written before read it as NULL"
                    if af.nullable
                    else "added as NOT NULL; rows written before have no value for it"
                ),
            )
        )

    def nullability(self, path: str, expected: bool, actual: bool) -> None:
        if not self.check_nullability or expected == actual:
            return
        loosened = actual  # expected NOT NULL, actual nullable
        self.changes.append(
            DriftChange(
                path,
                DriftKind.NULLABILITY_CHANGE,
                _null_word(expected),
                _null_word(actual),
                breaks_backward=not loosened,
                breaks_forward=loosened,
                reason=(
                    "NOT NULL dropped; readers of the old schema may now get NULLs"
                    if loosened
                    else "NOT NULL added; data written before may hold NULLs"
                ),
            )
        )

    def types(self, expected: DataType, actual: DataType, path: str) -> None:
        if isinstance(expected, StructType) and isinstance(actual, StructType):
            self.fields(expected.fields, actual.fields, path)
        elif isinstance(expected, ArrayType) and isinstance(actual, ArrayType):
            element = f"{path}.element"
            self.nullability(element, expected.contains_null, actual.contains_null)
            self.types(expected.element, actual.element, element)
        elif isinstance(expected, MapType) and isinstance(actual, MapType):
            self.types(expected.key, actual.key, f"{path}.key")
            self.nullability(
                f"{path}.value", expected.value_contains_null, actual.value_contains_null
            )
            self.types(expected.value, actual.value, f"{path}.value")
        elif expected != actual:
            widens = is_widening(expected, actual)
            narrows = is_widening(actual, expected)
            if widens:
                reason = "type widened; old data reads as the new type, not the reverse"
            elif narrows:
                reason = "type narrowed; old data may not fit the new type"
            else:
                reason = "types are not convertible by Delta type widening"
            self.changes.append(
                DriftChange(
                    path,
                    DriftKind.TYPE_MISMATCH,
                    expected.simple_string(),
                    actual.simple_string(),
                    breaks_backward=not widens,
                    breaks_forward=not narrows,
                    reason=reason,
                )
            )


def detect_drift(
    expected: SchemaLike | SparkStructType,
    actual: SchemaLike | SparkStructType,
    *,
    check_order: bool = False,
    case_sensitive: bool = False,
    check_nullability: bool = True,
) -> DriftReport:
    """Compare two schemas field by field, at every nesting level.

    Args:
        expected: The contract (e.g. the registered schema); a :class:`TableSchema` or a pyspark
            ``StructType``.
        actual: What was observed (e.g. ``df.schema``); same accepted types.
        check_order: Also report fields whose relative order differs, once per struct.
        case_sensitive: Match names exactly. By default names match ignoring case, as Spark
            resolves columns (``spark.sql.caseSensitive=false``), and a change of case only is
            not drift.
        check_nullability: Report nullability changes. Turn off when ``actual`` comes from a
            file source, which Spark always reads as nullable.

    Returns:
        The report; each change carries its own BACKWARD / FORWARD verdict.
    """
    differ = _Differ(
        check_order=check_order, case_sensitive=case_sensitive, check_nullability=check_nullability
    )
    differ.fields(_as_schema(expected).fields, _as_schema(actual).fields, "")
    return DriftReport(tuple(differ.changes))


def check_compatibility(
    old: SchemaLike | SparkStructType,
    new: SchemaLike | SparkStructType,
    mode: Compatibility | str,
) -> list[DriftChange]:
    """Return the changes from ``old`` to ``new`` that break ``mode`` (empty: compatible).

    Order and case-only differences never break compatibility: Delta resolves columns by name,
    ignoring case.
    """
    return detect_drift(old, new).breaking_changes(mode)
