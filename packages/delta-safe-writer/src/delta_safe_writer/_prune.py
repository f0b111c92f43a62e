"""Key-range pruning: the batch's key bounds as a target-only predicate Delta can skip files by.

``t.k = s.k`` implies ``t.k BETWEEN min(s.k) AND max(s.k)``, so adding that range to a MERGE
condition changes no result; it only lets Delta's data skipping (per-file min/max statistics,
or partition values) leave out the files that cannot hold a batch key. On a table whose keys
grow with time (sequence ids, dated ids) a batch of recent keys then reads recent files only.
"""

from __future__ import annotations

import datetime as dt
import decimal
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pyspark.sql import functions as sf
from pyspark.sql.types import (
    DataType,
    DateType,
    DecimalType,
    IntegralType,
    StringType,
    TimestampType,
)

from delta_safe_writer._sql import quote, string_literal, timestamp_literal

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

__all__ = ["KeyRange", "key_range", "prunable"]


def prunable(data_type: DataType) -> bool:
    """Whether a key of this type gets a range predicate (ordered, with Delta statistics).

    Floating-point keys are left out: NaN orders above every number in Spark, and a NaN key
    would fall outside a bound rendered as a number.
    """
    return isinstance(data_type, (IntegralType, DecimalType, StringType, DateType, TimestampType))


def _literal(value: Any, data_type: DataType) -> str:
    if isinstance(data_type, StringType):
        return string_literal(str(value))
    if isinstance(data_type, DecimalType):
        assert isinstance(value, decimal.Decimal)
        return f"CAST('{value}' AS DECIMAL({data_type.precision},{data_type.scale}))"
    if isinstance(data_type, TimestampType):
        assert isinstance(value, dt.datetime)
        return timestamp_literal(value)
    if isinstance(data_type, DateType):
        assert isinstance(value, dt.date)
        return f"DATE'{value.isoformat()}'"
    return str(int(value))


@dataclass(frozen=True)
class KeyRange:
    """The lowest and highest value of each prunable key in a batch, as SQL literals."""

    bounds: tuple[tuple[str, str, str], ...]

    def predicate(self, alias: str | None = None) -> str:
        """``low <= k AND k <= high`` per key, columns qualified by ``alias`` when given."""
        prefix = f"{alias}." if alias else ""
        return " AND ".join(
            f"{prefix}{quote(key)} >= {low} AND {prefix}{quote(key)} <= {high}"
            for key, low, high in self.bounds
        )


def key_range(df: DataFrame, keys: Sequence[str]) -> KeyRange | None:
    """The bounds of every prunable key of ``df``, from one aggregation job.

    Args:
        df: The batch (its types already those of the table).
        keys: The merge keys.

    Returns:
        The range, or None when no key is prunable or the batch has no non-NULL key value.
    """
    types = {f.name: f.dataType for f in df.schema.fields}
    ranged = [k for k in keys if prunable(types[k])]
    if not ranged:
        return None
    row = df.agg(
        *[
            agg(sf.col(quote(k))).alias(f"{name}{i}")
            for i, k in enumerate(ranged)
            for name, agg in (("lo", sf.min), ("hi", sf.max))
        ]
    ).collect()[0]
    bounds = tuple(
        (key, _literal(row[f"lo{i}"], types[key]), _literal(row[f"hi{i}"], types[key]))
        for i, key in enumerate(ranged)
        if row[f"lo{i}"] is not None
    )
    return KeyRange(bounds) if bounds else None
