"""SCD2 history validation: the schema, and the data in one window pass plus one aggregation."""

from __future__ import annotations

import dataclasses
import functools
import operator
from collections.abc import Iterable, Mapping, Sequence
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from schema_registry._model import TableSchema
from schema_registry._types import MapType, PrimitiveType
from schema_registry.errors import Scd2SchemaError, Scd2ValidationError

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame
    from pyspark.sql.types import StructType as SparkStructType

__all__ = ["Scd2Report", "Scd2Rule", "validate_scd2", "validate_scd2_schema"]

_TIME_TYPES = ("date", "timestamp", "timestamp_ntz")


class Scd2Rule(StrEnum):
    """The rules :func:`validate_scd2` checks, named after the violation they count."""

    #: Rows with NULL in a business key column (counted per row).
    NULL_KEY = "null_key"
    #: Business keys with zero or more than one current row (counted per key).
    CURRENT_ROW_COUNT = "current_row_count"
    #: Rows whose current flag disagrees with an open ``valid_to`` (counted per row).
    CURRENT_ROW_NOT_OPEN = "current_row_not_open"
    #: Rows with NULL ``valid_from`` or ``valid_from >= valid_to`` (counted per row).
    INVALID_INTERVAL = "invalid_interval"
    #: Rows whose next version starts before they end (counted per row).
    OVERLAP = "overlap"
    #: Rows whose next version starts after they end (counted per row).
    GAP = "gap"


_MEANING = {
    Scd2Rule.NULL_KEY: "rows with a NULL business key",
    Scd2Rule.CURRENT_ROW_COUNT: "keys without exactly one current row",
    Scd2Rule.CURRENT_ROW_NOT_OPEN: "rows whose current flag disagrees with an open valid_to",
    Scd2Rule.INVALID_INTERVAL: "rows with valid_from NULL or not before valid_to",
    Scd2Rule.OVERLAP: "rows overlapping the next version of their key",
    Scd2Rule.GAP: "rows leaving a gap before the next version of their key",
}


def _key_problems(schema: TableSchema, keys: Sequence[str]) -> list[str]:
    problems: list[str] = []
    if not keys:
        problems.append("no business key columns given: pass keys=[...] naming at least one")
    for key in keys:
        field = schema.get_field(key)
        if field is None:
            problems.append(
                f"business key column {key!r} is missing (columns: {', '.join(schema.field_names)})"
            )
        elif isinstance(field.type, MapType):
            problems.append(
                f"business key column {key!r} is {field.type}; map columns cannot be grouped by"
            )
    return problems


def _history_problems(
    schema: TableSchema, keys: Sequence[str], valid_from: str, valid_to: str
) -> list[str]:
    problems: list[str] = []
    time_types = {}
    for role, name in (("valid_from", valid_from), ("valid_to", valid_to)):
        if name in keys:
            problems.append(
                f"{role} column {name!r} is also a business key; keys identify the entity, "
                "not the version"
            )
        field = schema.get_field(name)
        if field is None:
            problems.append(
                f"{role} column {name!r} is missing (columns: {', '.join(schema.field_names)}); "
                f"pass {role}='<column>' if it has another name"
            )
        elif not (isinstance(field.type, PrimitiveType) and field.type.name in _TIME_TYPES):
            problems.append(
                f"{role} column {name!r} is {field.type}; expected one of {', '.join(_TIME_TYPES)}"
            )
        else:
            time_types[role] = field.type.name
    if len(set(time_types.values())) == 2:
        problems.append(
            f"valid_from is {time_types['valid_from']} but valid_to is {time_types['valid_to']}; "
            "use the same type for both"
        )
    return problems


def validate_scd2_schema(
    schema: TableSchema | SparkStructType,
    keys: Sequence[str],
    *,
    valid_from: str = "valid_from",
    valid_to: str = "valid_to",
    is_current: str | None = "is_current",
) -> None:
    """Check that a schema has the columns an SCD2 history needs, with usable types.

    Requirements: every business key column exists and is not a map; ``valid_from`` and
    ``valid_to`` exist, are ``date``, ``timestamp`` or ``timestamp_ntz``, and share one type;
    ``is_current`` (unless None) exists and is ``boolean``; history columns are not keys.

    Args:
        schema: A :class:`TableSchema` or a pyspark ``StructType``.
        keys: Business key columns.
        valid_from: Column where a version starts (inclusive).
        valid_to: Column where a version ends (exclusive); NULL while open.
        is_current: Current-row flag column, or None when the table has none.

    Raises:
        Scd2SchemaError: Lists every missing or mistyped column.
    """
    if not isinstance(schema, TableSchema):
        schema = TableSchema.from_spark(schema)
    problems = _key_problems(schema, keys)
    problems += _history_problems(schema, keys, valid_from, valid_to)
    if is_current is not None:
        field = schema.get_field(is_current)
        if field is None:
            problems.append(
                f"current-flag column {is_current!r} is missing (columns: "
                f"{', '.join(schema.field_names)}); pass is_current=None if the table derives "
                "the current row from valid_to"
            )
        elif field.type != PrimitiveType("boolean"):
            problems.append(f"current-flag column {is_current!r} is {field.type}; expected boolean")
    if problems:
        raise Scd2SchemaError(problems)


@dataclasses.dataclass(frozen=True)
class Scd2Report:
    """Outcome of :func:`validate_scd2`.

    Attributes:
        rows: Rows checked.
        keys: Distinct non-NULL business keys.
        violations: Count per rule (per key for ``current_row_count``, per row otherwise).
        samples: Up to ``sample_size`` offending rows per violated rule: key columns, plus
            ``valid_from`` for per-row rules.
    """

    rows: int
    keys: int
    violations: Mapping[Scd2Rule, int]
    samples: Mapping[Scd2Rule, list[dict[str, Any]]]

    @property
    def is_valid(self) -> bool:
        """Whether no rule is violated."""
        return not any(self.violations.values())

    def to_dict(self) -> dict[str, Any]:
        """Return the report as plain data for logs and metrics."""
        return {
            "valid": self.is_valid,
            "rows": self.rows,
            "keys": self.keys,
            "violations": {rule.value: n for rule, n in self.violations.items()},
            "samples": {rule.value: rows for rule, rows in self.samples.items()},
        }

    def __str__(self) -> str:
        verdict = "valid" if self.is_valid else "INVALID"
        lines = [f"SCD2 history {verdict}: {self.rows} rows, {self.keys} keys"]
        width = max(len(rule.value) for rule in self.violations)
        for rule, count in self.violations.items():
            line = f"  {rule.value.ljust(width)}  {count:>8}  {_MEANING[rule]}"
            if count and self.samples.get(rule):
                shown = "; ".join(
                    ", ".join(f"{k}={v}" for k, v in row.items()) for row in self.samples[rule]
                )
                line += f"\n  {'':{width}}  {'':>8}  e.g. {shown}"
            lines.append(line)
        return "\n".join(lines)

    def raise_for_violations(self) -> None:
        """Raise if any rule is violated.

        Raises:
            Scd2ValidationError: The report text, with counts and sample keys.
        """
        if not self.is_valid:
            raise Scd2ValidationError(
                f"{self}\nFix the offending keys upstream, or rebuild their history."
            )


def _any(columns: Sequence[Column]) -> Column:
    return functools.reduce(operator.or_, columns)


def _key_frame(
    df: DataFrame, keys: Sequence[str], only_keys: DataFrame | Iterable[Any]
) -> DataFrame:
    """Return ``only_keys`` as a DataFrame of the key columns renamed ``__only_key_<i>``.

    Key values given in Python become a local DataFrame with a broadcast hint (they are in the
    driver's memory already); a DataFrame is left to Spark's join planning.
    """
    from pyspark.sql import DataFrame as SparkDataFrame
    from pyspark.sql import functions as F  # noqa: N812 - the PySpark convention
    from pyspark.sql.types import StructField
    from pyspark.sql.types import StructType as SparkStruct

    renamed = [f"__only_key_{i}" for i in range(len(keys))]
    if isinstance(only_keys, SparkDataFrame):
        missing = [k for k in keys if k not in only_keys.columns]
        if missing:
            raise ValueError(
                f"only_keys has no column {', '.join(repr(k) for k in missing)} (it has "
                f"{', '.join(only_keys.columns) or 'no columns'}); pass a DataFrame holding "
                f"the business key columns {', '.join(keys)}"
            )
        return only_keys.select(*[F.col(k).alias(r) for k, r in zip(keys, renamed, strict=True)])
    rows: list[tuple[Any, ...]] = []
    for value in only_keys:
        row = tuple(value) if isinstance(value, tuple | list) else (value,)
        if len(row) != len(keys):
            raise ValueError(
                f"only_keys value {value!r} does not match the business key "
                f"({', '.join(keys)}): give one value per key column, as a tuple when there "
                "are several"
            )
        rows.append(row)
    schema = SparkStruct(
        [StructField(r, df.schema[k].dataType, True) for k, r in zip(keys, renamed, strict=True)]
    )
    return F.broadcast(df.sparkSession.createDataFrame(rows, schema))


def validate_scd2(
    df: DataFrame,
    keys: Sequence[str],
    *,
    valid_from: str = "valid_from",
    valid_to: str = "valid_to",
    is_current: str | None = "is_current",
    open_end: Any = None,
    sample_size: int = 5,
    only_keys: DataFrame | Iterable[Any] | None = None,
) -> Scd2Report:
    """Validate an SCD2 history with one window pass and one aggregation.

    One window (partitioned by the business key, ordered by ``valid_from``) computes every rule
    as a boolean flag per row, and one global aggregation over those flags counts them and keeps
    up to ``sample_size`` offending rows per rule (``max_by`` with a limit): a single Spark job.

    Rules: no NULL business key; exactly one current row per key; the current row, and only it,
    has an open ``valid_to``; ``valid_from < valid_to``; consecutive versions of a key neither
    overlap (next ``valid_from`` before this ``valid_to``) nor leave a gap (after it).

    ``only_keys`` scopes the check to some business keys, e.g. the keys a batch just wrote:
    the history is semi-joined with them before the window, so only their versions are sorted
    and checked, and the report equals the unscoped one restricted to those keys (``rows`` and
    ``keys`` count the rows and keys checked). Keys match NULL-safely: a NULL in the key set
    selects the rows whose key is NULL (counted under ``null_key``).

    Args:
        df: The history.
        keys: Business key columns.
        valid_from: Column where a version starts (inclusive).
        valid_to: Column where a version ends (exclusive).
        is_current: Current-row flag column; None derives "current" from an open ``valid_to``
            (and skips the ``current_row_not_open`` rule, which would be vacuous).
        open_end: Sentinel that also marks an open ``valid_to`` (e.g. ``date(9999, 12, 31)``);
            NULL always does.
        sample_size: Offending rows kept per rule (0: none).
        only_keys: Check only these business keys: a DataFrame with the key columns (other
            columns are ignored, repeated keys are fine), or an iterable of key values
            (scalars for a one-column key, tuples in ``keys`` order otherwise). A DataFrame
            is joined as Spark sees fit (a small or cached one is broadcast automatically);
            an iterable becomes a small local DataFrame. None checks the whole history.

    Returns:
        Counts per rule and samples of offending keys.

    Raises:
        Scd2SchemaError: The columns needed are missing or mistyped.
        ValueError: ``only_keys`` lacks a key column, or a key value has the wrong arity.
    """
    from pyspark.sql import Window
    from pyspark.sql import functions as F  # noqa: N812 - the PySpark convention

    validate_scd2_schema(
        TableSchema.from_spark(df.schema),
        keys,
        valid_from=valid_from,
        valid_to=valid_to,
        is_current=is_current,
    )
    if only_keys is not None:
        scope = _key_frame(df, keys, only_keys)
        matches = [F.col(k).eqNullSafe(F.col(f"__only_key_{i}")) for i, k in enumerate(keys)]
        df = df.join(scope, on=functools.reduce(operator.and_, matches), how="left_semi")
    start, end = F.col(valid_from), F.col(valid_to)
    is_open = end.isNull() if open_end is None else (end.isNull() | (end == F.lit(open_end)))
    current = F.coalesce(F.col(is_current), F.lit(False)) if is_current else is_open
    null_key = _any([F.col(k).isNull() for k in keys])

    by_key = Window.partitionBy(*keys).orderBy(start.asc_nulls_first(), end.asc_nulls_last())
    # Only cheap frames: offset functions (lead) and one running sum, which on a key's last row
    # equals the key's total. An unbounded frame would buffer every key's rows.
    running = by_key.rowsBetween(Window.unboundedPreceding, Window.currentRow)
    next_start = F.lead(start).over(by_key)
    last_of_key = F.lead(F.lit(True)).over(by_key).isNull()
    current_rows = F.sum(F.when(current, 1).otherwise(0)).over(running)

    checked = ~null_key
    has_next = next_start.isNotNull()
    flags: dict[Scd2Rule, Column] = {
        Scd2Rule.NULL_KEY: null_key,
        Scd2Rule.CURRENT_ROW_COUNT: checked & last_of_key & (current_rows != 1),
    }
    if is_current:
        flags[Scd2Rule.CURRENT_ROW_NOT_OPEN] = checked & (current != is_open)
    flags[Scd2Rule.INVALID_INTERVAL] = checked & (
        start.isNull() | (end.isNotNull() & ~is_open & (start >= end))
    )
    flags[Scd2Rule.OVERLAP] = checked & has_next & (is_open | (next_start < end))
    flags[Scd2Rule.GAP] = checked & has_next & ~is_open & (next_start > end)

    flagged = df.select(
        *keys,
        start.alias("__valid_from"),
        (checked & last_of_key).alias("__last_of_key"),
        *[F.coalesce(flag, F.lit(False)).alias(rule.value) for rule, flag in flags.items()],
    )
    # Samples come from the same aggregation: max_by(value, order, k) keeps at most k values per
    # partial aggregate (bounded memory, unlike collect_list), and rows whose order is NULL, the
    # unflagged ones, are skipped. Ordering by a hash makes samples spread out and repeatable.
    sample_value = F.struct(*[F.col(k) for k in keys], F.col("__valid_from"))
    sample_order = F.xxhash64(*[F.col(k) for k in keys], F.col("__valid_from"))
    totals = flagged.agg(
        F.count(F.lit(1)).alias("__rows"),
        F.count_if(F.col("__last_of_key")).alias("__keys"),
        *[F.count_if(F.col(rule.value)).alias(rule.value) for rule in flags],
        *[
            F.max_by(
                F.when(F.col(rule.value), sample_value),
                F.when(F.col(rule.value), sample_order),
                sample_size,
            ).alias(f"__sample_{rule.value}")
            for rule in (flags if sample_size > 0 else ())
        ],
    ).first()
    assert totals is not None  # a global aggregation always returns one row
    violations = {rule: int(totals[rule.value]) for rule in flags}
    samples: dict[Scd2Rule, list[dict[str, Any]]] = {}
    for rule in flags:
        rows = totals[f"__sample_{rule.value}"] if sample_size > 0 else None
        if rows:
            samples[rule] = [_sample(row, keys, valid_from, rule) for row in rows]
    return Scd2Report(
        rows=int(totals["__rows"]),
        keys=int(totals["__keys"]),
        violations=violations,
        samples=samples,
    )


def _sample(row: Any, keys: Sequence[str], valid_from: str, rule: Scd2Rule) -> dict[str, Any]:
    entry = {k: row[k] for k in keys}
    if rule is not Scd2Rule.CURRENT_ROW_COUNT:
        entry[valid_from] = row["__valid_from"]
    return entry
