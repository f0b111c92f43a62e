"""Safe type widenings (Delta 4.4's table), explicit casts, and DDL text for a schema."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from pyspark.sql import functions as sf
from pyspark.sql.types import (
    ArrayType,
    ByteType,
    DataType,
    DateType,
    DecimalType,
    DoubleType,
    FloatType,
    IntegerType,
    LongType,
    MapType,
    ShortType,
    StructType,
    TimestampNTZType,
)

from delta_safe_writer._sql import quote

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

#: Rank of the integral types: each widens to any of higher rank.
_INTEGRAL_RANK: dict[type[DataType], int] = {ByteType: 1, ShortType: 2, IntegerType: 3, LongType: 4}
#: Integer digits a decimal needs to take an integral type under Delta's type widening.
#: Delta counts the Parquet physical type: byte, short and int are stored as INT32 and need
#: decimal(10, 0) or wider; bigint is INT64 and needs decimal(20, 0) or wider.
_INTEGRAL_DIGITS: dict[type[DataType], int] = {
    ByteType: 10,
    ShortType: 10,
    IntegerType: 10,
    LongType: 20,
}
_OTHER_WIDENINGS: frozenset[tuple[type[DataType], type[DataType]]] = frozenset(
    {
        (FloatType, DoubleType),
        (ByteType, DoubleType),
        (ShortType, DoubleType),
        (IntegerType, DoubleType),
        (DateType, TimestampNTZType),
    }
)

#: One line per rule, for error messages.
WIDENINGS_TEXT = (
    "tinyint -> smallint -> int -> bigint; tinyint/smallint/int -> double; float -> double; "
    "date -> timestamp_ntz; tinyint/smallint/int -> decimal(p, s) with p - s >= 10 and "
    "bigint -> decimal(p, s) with p - s >= 20; decimal(p, s) -> decimal(p + k1, s + k2) with "
    "k1 >= k2 >= 0"
)


def is_widening(source: DataType, target: DataType) -> bool:
    """Whether every value of ``source`` type is exactly representable as ``target``.

    The rules are the type widenings Delta Lake 4.4 supports (``ALTER COLUMN ... TYPE`` on a
    table with ``delta.enableTypeWidening``): integral types to any wider integral type;
    ``tinyint``/``smallint``/``int`` to ``double``; ``float`` to ``double``; ``date`` to
    ``timestamp_ntz``; integral types to a decimal with at least 10 (``bigint``: 20) integer
    digits; ``decimal(p, s)`` to ``decimal(p + k1, s + k2)`` with ``k1 >= k2 >= 0``. Nested
    types are never widened here (a struct cast matches fields by position, not by name).

    Args:
        source: The incoming column's type.
        target: The table column's type.

    Returns:
        True for a supported widening; False for equal types, narrowing and anything else.
    """
    s, t = type(source), type(target)
    if s in _INTEGRAL_RANK and t in _INTEGRAL_RANK:
        return _INTEGRAL_RANK[s] < _INTEGRAL_RANK[t]
    if (s, t) in _OTHER_WIDENINGS:
        return True
    if s in _INTEGRAL_DIGITS and isinstance(target, DecimalType):
        return target.precision - target.scale >= _INTEGRAL_DIGITS[s]
    if isinstance(source, DecimalType) and isinstance(target, DecimalType):
        if (source.precision, source.scale) == (target.precision, target.scale):
            return False
        return (
            target.scale >= source.scale
            and target.precision - target.scale >= source.precision - source.scale
        )
    return False


def cast_columns(df: DataFrame, casts: Mapping[str, tuple[str, str]]) -> DataFrame:
    """``df`` with the named columns cast to their table type, in the same column order.

    A projection: no job and no extra pass over the data.

    Args:
        df: The incoming rows.
        casts: Incoming column name -> (incoming type, table type), as ``simpleString``s.

    Returns:
        ``df`` unchanged when there is nothing to cast.
    """
    if not casts:
        return df
    return df.select(
        *[
            sf.col(quote(c)).cast(casts[c][1]).alias(c) if c in casts else sf.col(quote(c))
            for c in df.columns
        ]
    )


def ddl_type(data_type: DataType) -> str:
    """Spark SQL DDL text for a type, with struct field names backtick-quoted."""
    if isinstance(data_type, StructType):
        fields = ", ".join(
            f"{quote(f.name)}: {ddl_type(f.dataType)}{'' if f.nullable else ' NOT NULL'}"
            for f in data_type.fields
        )
        return f"STRUCT<{fields}>"
    if isinstance(data_type, ArrayType):
        return f"ARRAY<{ddl_type(data_type.elementType)}>"
    if isinstance(data_type, MapType):
        return f"MAP<{ddl_type(data_type.keyType)}, {ddl_type(data_type.valueType)}>"
    return data_type.simpleString()


def ddl_columns(schema: StructType) -> str:
    """The column list of a ``CREATE TABLE`` for ``schema`` (names quoted, NOT NULL kept)."""
    return ", ".join(
        f"{quote(f.name)} {ddl_type(f.dataType)}{'' if f.nullable else ' NOT NULL'}"
        for f in schema.fields
    )
