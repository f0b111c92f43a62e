"""Turn a pandera PySpark schema into checks dq-gates can evaluate in one pass.

Every built-in pandera check becomes a *failure* expression: a boolean Spark column that is true
exactly on the rows the check rejects, and never null (``coalesce(..., false)``), so summing
``when(fail, 1)`` counts failing rows and nothing else.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from pyspark.sql import functions as sf

from dq_gates.checks import SparkPredicate
from dq_gates.errors import CheckTypeProblem, GateConfigError, UncompiledCheckWarning

if TYPE_CHECKING:
    from pyspark.sql import Column
    from pyspark.sql.types import DataType


class CheckKind(StrEnum):
    """How a check is evaluated."""

    #: A Spark expression per row, evaluated inside the single pass.
    ROW = "row"
    #: Duplicate keys, evaluated by the grouped aggregation of the single pass.
    UNIQUE = "unique"
    #: A custom check handed to pandera's own validation (pass / fail only, no row flags).
    PANDERA = "pandera"


#: Built-in pandera checks dq-gates compiles, with the Spark predicate each becomes.
COMPILED_CHECKS = (
    "equal_to",
    "not_equal_to",
    "greater_than",
    "greater_than_or_equal_to",
    "less_than",
    "less_than_or_equal_to",
    "in_range",
    "isin",
    "notin",
    "str_matches",
    "str_contains",
    "str_startswith",
    "str_endswith",
    "str_length",
)

_ORDERING = {
    "greater_than",
    "greater_than_or_equal_to",
    "less_than",
    "less_than_or_equal_to",
    "in_range",
}


def _types(*names: str) -> tuple[str, ...]:
    return names


# The Spark types each built-in accepts, as pandera's PySpark backend declares them
# (``register_input_datatypes`` in ``pandera/backends/pyspark/builtin_checks.py``). pandera
# compares the type's class (``typeName``), so ``decimal(p,s)`` of any precision is one type and
# ``timestamp_ntz`` is not ``timestamp``. Names are Spark SQL's (``DataType.simpleString``).
_NUMERIC = _types("tinyint", "smallint", "int", "bigint", "float", "double", "decimal")
_DATES = _types("date", "timestamp")
_ORDERED = _NUMERIC + _DATES
_EQUALITY = (*_ORDERED, "string", "binary", "boolean")
_MEMBERSHIP = (*_ORDERED, "string", "binary")
_STRING = _types("string")

#: Built-in check -> the Spark types (Spark SQL names) its pandera implementation accepts.
SUPPORTED_TYPES: dict[str, tuple[str, ...]] = {
    "equal_to": _EQUALITY,
    "not_equal_to": _EQUALITY,
    "greater_than": _ORDERED,
    "greater_than_or_equal_to": _ORDERED,
    "less_than": _ORDERED,
    "less_than_or_equal_to": _ORDERED,
    "in_range": _ORDERED,
    "isin": _MEMBERSHIP,
    "notin": _MEMBERSHIP,
    "str_matches": _STRING,
    "str_contains": _STRING,
    "str_startswith": _STRING,
    "str_endswith": _STRING,
    "str_length": _STRING,
}


_SQL_NAMES = {"byte": "tinyint", "short": "smallint", "integer": "int", "long": "bigint"}


def type_name(dtype: DataType) -> str:
    """The Spark SQL name of ``dtype``'s type class: ``bigint``, ``decimal``, ``string``, ...

    Parameters are left out (``decimal(10,2)`` and a collated string are ``decimal`` and
    ``string``), as pandera compares ``typeName()``.
    """
    name = dtype.typeName()
    return _SQL_NAMES.get(name, name)


def type_supported(supported: tuple[str, ...], dtype: DataType) -> bool:
    """Whether ``dtype``'s class is one of ``supported`` (pandera's class-based rule)."""
    return type_name(dtype) in supported


@dataclass
class CheckSpec:
    """One check of a gate, before it meets a DataFrame.

    Attributes:
        column: Checked column, ``None`` for a DataFrame-wide custom check; for uniqueness the
            key columns joined with ``,``.
        check: Check name, unique within the column (``not_null``, ``unique``, ``isin``, ...).
        kind: How it is evaluated.
        builtin: Name of the pandera built-in (or ``predicate`` / ``udf`` / ``not_null``).
        args: The check's statistics (its arguments).
        pandera_check: The original pandera check, for pandera fallback and UDFs.
        keys: Key columns of a uniqueness check.
        raise_warning: The pandera check was declared with ``raise_warning=True``: its action
            is ``warn`` unless an ``actions`` entry says otherwise.
    """

    column: str | None
    check: str
    kind: CheckKind
    builtin: str
    args: dict[str, Any] = field(default_factory=dict)
    pandera_check: Any = None
    keys: tuple[str, ...] = ()
    raise_warning: bool = False

    @property
    def name(self) -> str:
        """``column.check``: the name used in results, actions, thresholds and quarantine rows."""
        return self.check if self.column is None else f"{self.column}.{self.check}"

    def type_problem(self, dtype: DataType | None) -> CheckTypeProblem | None:
        """The problem of running this check on a column of type ``dtype``, if there is one."""
        supported = SUPPORTED_TYPES.get(self.builtin)
        if supported is None or dtype is None or self.column is None:
            return None
        if type_supported(supported, dtype):
            return None
        return CheckTypeProblem(self.column, self.check, dtype.simpleString(), supported)


def _is_float(dtype: DataType) -> bool:
    from pyspark.sql.types import DoubleType, FloatType

    return isinstance(dtype, DoubleType | FloatType)


def _pattern(value: str | re.Pattern[str]) -> str:
    return value.pattern if isinstance(value, re.Pattern) else value


def _str_length(col: Column, args: dict[str, Any]) -> Column:
    length = sf.length(col)
    if args.get("exact_value") is not None:
        return length == sf.lit(args["exact_value"])
    low, high = args.get("min_value"), args.get("max_value")
    at_least = length >= sf.lit(low)
    at_most = length <= sf.lit(high)
    if low is not None and high is not None:
        return at_least & at_most
    return at_least if low is not None else at_most


def _in_range(col: Column, a: dict[str, Any]) -> Column:
    low, high = sf.lit(a["min_value"]), sf.lit(a["max_value"])
    above = col >= low if a.get("include_min", True) else col > low
    below = col <= high if a.get("include_max", True) else col < high
    return above & below


def _matches(col: Column, a: dict[str, Any]) -> Column:
    pattern = _pattern(a["pattern"])
    return col.rlike(pattern if pattern.startswith("^") else f"^{pattern}")


# Each built-in's predicate, written as pandera's PySpark backend writes it.
_PREDICATES: dict[str, Callable[[Column, dict[str, Any]], Column]] = {
    "equal_to": lambda c, a: c == sf.lit(a["value"]),
    "not_equal_to": lambda c, a: c != sf.lit(a["value"]),
    "greater_than": lambda c, a: c > sf.lit(a["min_value"]),
    "greater_than_or_equal_to": lambda c, a: c >= sf.lit(a["min_value"]),
    "less_than": lambda c, a: c < sf.lit(a["max_value"]),
    "less_than_or_equal_to": lambda c, a: c <= sf.lit(a["max_value"]),
    "in_range": _in_range,
    "isin": lambda c, a: c.isin(list(a["allowed_values"])),
    "notin": lambda c, a: ~c.isin(list(a["forbidden_values"])),
    "str_matches": _matches,
    "str_contains": lambda c, a: c.rlike(_pattern(a["pattern"])),
    "str_startswith": lambda c, a: c.startswith(a["string"]),
    "str_endswith": lambda c, a: c.endswith(a["string"]),
    "str_length": _str_length,
}


def _predicate(spec: CheckSpec, col: Column, now: Column | None) -> Column:
    """The Spark predicate valid values satisfy (pandera's own expression for built-ins)."""
    if spec.builtin == "predicate":
        predicate: SparkPredicate = spec.args["predicate"]
        return predicate(col, now)
    return _PREDICATES[spec.builtin](col, spec.args)


def failure_expr(spec: CheckSpec, dtype: DataType | None, now: Column | None = None) -> Column:
    """A never-null boolean column, true on the rows ``spec`` rejects.

    Null semantics follow pandera on Spark: a null value fails only the ``not_null`` check (from
    ``nullable=False``). NaN in a float column fails every ordering check (``gt``, ``ge``, ``lt``,
    ``le``, ``in_range``); raw Spark orders NaN above every number, which would let NaN pass
    ``ge(0)`` yet fail ``le(1e6)``.

    Args:
        spec: A row-level check.
        dtype: The column's Spark type (decides the NaN rule).
        now: The run's "now", for predicates that need it.

    Returns:
        The failure expression.
    """
    col = sf.col(f"`{spec.column}`")
    if spec.builtin == "not_null":
        return col.isNull()
    if spec.builtin == "udf":
        return sf.coalesce(~_udf(spec)(col), sf.lit(False))
    fail = ~_predicate(spec, col, now)
    if spec.builtin in _ORDERING and dtype is not None and _is_float(dtype):
        fail = fail | sf.isnan(col)
    return sf.coalesce(fail, sf.lit(False))


def _udf(spec: CheckSpec) -> Callable[[Column], Column]:
    from pyspark.sql.types import BooleanType

    fn = spec.pandera_check._check_fn
    null_result = True if getattr(spec.pandera_check, "ignore_na", True) else None
    # A self-contained lambda: Spark's Python workers need not import dq_gates, and pyspark
    # reads no (misleading) Arrow UDF type from type hints it does not have. Row-at-a-time
    # evaluation, explicitly: Spark 4 may otherwise plan it through Arrow, which needs
    # pyarrow on every worker.
    return sf.udf(
        lambda value: null_result if value is None else bool(fn(value)),
        BooleanType(),
        useArrow=False,
    )


def _compiled_builtin(check: Any) -> str | None:
    """The built-in this pandera check is, when dq-gates compiles it, else None."""
    stats = getattr(check, "statistics", None) or {}
    if isinstance(stats.get("predicate"), SparkPredicate):
        return "predicate"
    registry_name = getattr(check, "registry_name", None)
    if registry_name in COMPILED_CHECKS and not getattr(check, "groupby", None):
        return str(registry_name)
    return None


def specs_from_schema(gate: str, schema: Any) -> list[CheckSpec]:
    """Read a pandera PySpark schema (or model) into check specs, warning on uncompiled checks.

    Args:
        gate: Gate name, for messages.
        schema: A ``pandera.pyspark.DataFrameSchema`` or ``DataFrameModel`` subclass.

    Returns:
        The specs in declaration order: per column not-null then its checks, then uniqueness,
        then DataFrame-wide checks.

    Raises:
        GateConfigError: The schema uses something dq-gates cannot honour (regex columns).
    """
    specs: list[CheckSpec] = []
    for column_name, column in schema.columns.items():
        if getattr(column, "regex", False):
            raise GateConfigError(
                f"gate {gate!r}: column {column_name!r} is a regex column; dq-gates needs "
                "literal column names. Declare each matching column explicitly."
            )
        taken: set[str] = set()
        if not column.nullable:
            specs.append(CheckSpec(column_name, "not_null", CheckKind.ROW, "not_null"))
            taken.add("not_null")
        specs.extend(_spec_for(gate, column_name, check, taken) for check in column.checks)
    unique = schema.unique
    if unique:
        keys = (unique,) if isinstance(unique, str) else tuple(unique)
        specs.append(CheckSpec(",".join(keys), "unique", CheckKind.UNIQUE, "unique", keys=keys))
    taken_df: set[str] = set()
    specs.extend(_spec_for(gate, None, check, taken_df) for check in schema.checks or [])
    return specs


def _unique_name(base: str, taken: set[str]) -> str:
    name, n = base, 2
    while name in taken:
        name = f"{base}_{n}"
        n += 1
    taken.add(name)
    return name


def _spec_for(gate: str, column: str | None, check: Any, taken: set[str]) -> CheckSpec:
    name = _unique_name(str(check.name), taken)
    builtin = _compiled_builtin(check)
    warn = bool(getattr(check, "raise_warning", False))
    where = f"column {column!r}" if column is not None else "the DataFrame"
    if builtin is not None and column is not None:
        return CheckSpec(
            column, name, CheckKind.ROW, builtin, dict(check.statistics), check, raise_warning=warn
        )
    if getattr(check, "element_wise", False) and column is not None:
        warnings.warn(
            f"gate {gate!r}: check {name!r} on {where} is an element-wise Python function; "
            "it runs as a Python UDF inside the single pass (exact counts, but slow). Use a "
            "pandera built-in or dq_gates.checks.spark_check to compile it.",
            UncompiledCheckWarning,
            stacklevel=4,
        )
        return CheckSpec(column, name, CheckKind.ROW, "udf", {}, check, raise_warning=warn)
    warnings.warn(
        f"gate {gate!r}: check {name!r} on {where} cannot be compiled to a Spark expression; "
        "it runs through pandera's own validation (pass / fail only, no row counts, no row "
        "flags). Use a pandera built-in or dq_gates.checks.spark_check to compile it.",
        UncompiledCheckWarning,
        stacklevel=4,
    )
    return CheckSpec(column, name, CheckKind.PANDERA, "pandera", {}, check, raise_warning=warn)
