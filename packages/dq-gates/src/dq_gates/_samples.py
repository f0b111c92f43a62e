"""Sample failing values: taken in the counting pass where cheap, else by one ``limit`` query."""

from __future__ import annotations

from collections.abc import Mapping
from functools import reduce
from typing import TYPE_CHECKING, Any

from pyspark.sql import functions as sf

from dq_gates._plan import value_of

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame
    from pyspark.sql.types import DataType

    from dq_gates._compile import CheckSpec

#: Failing rows the sampling query reads (it stops early once it has this many).
SAMPLE_ROWS = 200


def has_sample(spec: CheckSpec) -> bool:
    """Whether the check reports failing values (``not_null`` has none worth showing)."""
    return spec.builtin != "not_null"


def fixed_width(dtype: DataType | None) -> bool:
    """Whether Spark keeps a min / max of this type in its fast fixed-width aggregation buffer."""
    from pyspark.sql import types as st

    fixed = (
        st.BooleanType,
        st.ByteType,
        st.ShortType,
        st.IntegerType,
        st.LongType,
        st.FloatType,
        st.DoubleType,
        st.DateType,
        st.TimestampType,
        st.TimestampNTZType,
    )
    if isinstance(dtype, st.DecimalType):
        # Spark stores decimals of up to 18 digits in a long.
        return dtype.precision <= 18
    return isinstance(dtype, fixed)


def later_samples(
    checked: DataFrame,
    specs: list[CheckSpec],
    fails: Mapping[str, Column],
    indexes: list[int],
) -> dict[str, Any]:
    """Failing values of the given checks, read from the first failing rows found.

    A ``limit`` query: Spark stops reading each partition as soon as it has found enough
    failing rows, so on data where a check fails often this reads a small part of the input
    instead of all of it. Checks with no failing row among those (rare failures behind
    frequent ones) get their smallest and largest failing value from a full pass over the
    failing rows.

    Returns:
        ``mn<i>`` / ``mx<i>`` (two values, possibly equal) per index.
    """
    any_fail = reduce(lambda a, b: a | b, [fails[specs[i].name] for i in indexes])
    picked = [sf.when(fails[specs[i].name], value_of(specs[i])).alias(f"s{i}") for i in indexes]
    found: dict[str, Any] = {}
    missing = []
    rows = checked.filter(any_fail).select(*picked).limit(SAMPLE_ROWS).collect()
    for i in indexes:
        seen: list[Any] = []
        for row in rows:
            value = row[f"s{i}"]
            if value is not None and not any(same(value, v) for v in seen):
                seen.append(value)
            if len(seen) == 2:
                break
        if seen:
            found[f"mn{i}"], found[f"mx{i}"] = seen[0], seen[-1]
        else:
            missing.append(i)
    if missing:
        aggs = []
        for i in missing:
            failing_value = sf.when(fails[specs[i].name], value_of(specs[i]))
            aggs += [
                sf.min(failing_value).alias(f"mn{i}"),
                sf.max(failing_value).alias(f"mx{i}"),
            ]
        failing = reduce(lambda a, b: a | b, [fails[specs[i].name] for i in missing])
        found.update(checked.filter(failing).agg(*aggs).collect()[0].asDict())
    return found


def sample_values(spec: CheckSpec, failed: int, low: Any, high: Any) -> list[Any]:
    """The sample a check reports: nothing, ``[None]`` (not_null) or one or two values."""
    if not failed:
        return []
    if not has_sample(spec):
        return [None]
    values = [low] if same(low, high) else [low, high]
    return [v.asDict() if hasattr(v, "asDict") else v for v in values]


def same(a: Any, b: Any) -> bool:
    """Equality where NaN equals NaN (two NaN samples are one value)."""
    try:
        return bool(a == b) or (a != a and b != b)  # noqa: PLR0124 - NaN equals itself here
    except Exception:  # pragma: no cover - exotic values that refuse comparison
        return False
