"""Compatibility modes and the type changes Delta Lake can apply without rewriting data."""

from __future__ import annotations

from enum import StrEnum

from schema_registry._types import (
    CharType,
    DataType,
    DecimalType,
    PrimitiveType,
    VarcharType,
)

__all__ = ["Compatibility", "is_widening"]


class Compatibility(StrEnum):
    """Compatibility modes, with Confluent Schema Registry's meaning applied to table schemas.

    ``BACKWARD``: readers of the new schema can read data written with the old one (so the new
    schema can be applied to an existing Delta table). ``FORWARD``: readers of the old schema can
    read data written with the new one (consumers may upgrade later). ``FULL``: both.
    ``*_TRANSITIVE``: checked against every earlier version, not only the latest. ``NONE``: no
    check.
    """

    NONE = "NONE"
    BACKWARD = "BACKWARD"
    BACKWARD_TRANSITIVE = "BACKWARD_TRANSITIVE"
    FORWARD = "FORWARD"
    FORWARD_TRANSITIVE = "FORWARD_TRANSITIVE"
    FULL = "FULL"
    FULL_TRANSITIVE = "FULL_TRANSITIVE"

    @property
    def backward(self) -> bool:
        """Whether the mode requires new-schema readers to read old data."""
        return self in (self.BACKWARD, self.BACKWARD_TRANSITIVE, self.FULL, self.FULL_TRANSITIVE)

    @property
    def forward(self) -> bool:
        """Whether the mode requires old-schema readers to read new data."""
        return self in (self.FORWARD, self.FORWARD_TRANSITIVE, self.FULL, self.FULL_TRANSITIVE)

    @property
    def transitive(self) -> bool:
        """Whether the mode checks every earlier version rather than only the latest."""
        return self.value.endswith("_TRANSITIVE")

    @classmethod
    def parse(cls, value: str | Compatibility) -> Compatibility:
        """Parse a mode name, case-insensitively.

        Args:
            value: A mode name such as ``backward`` or ``FULL_TRANSITIVE``.

        Returns:
            The mode.

        Raises:
            ValueError: Not a mode name; the message lists the valid ones.
        """
        try:
            return cls(str(value).strip().upper())
        except ValueError:
            names = ", ".join(mode.value for mode in cls)
            raise ValueError(f"unknown compatibility mode {value!r}; use one of {names}") from None


_INTEGRAL_RANK = {"tinyint": 1, "smallint": 2, "int": 3, "bigint": 4}
# Integer digits a decimal needs to take an integral type: Parquet stores tinyint, smallint and
# int as INT32, read into decimal(10,0) and wider; bigint as INT64, into decimal(20,0) and wider.
_INTEGRAL_DIGITS = {"tinyint": 10, "smallint": 10, "int": 10, "bigint": 20}
_PRIMITIVE_WIDENINGS = {
    ("float", "double"),
    ("date", "timestamp_ntz"),
    ("tinyint", "double"),
    ("smallint", "double"),
    ("int", "double"),
}


def is_widening(source: DataType, target: DataType) -> bool:  # noqa: PLR0911 - one per rule
    """Whether values of ``source`` type can be read as ``target`` without loss.

    Containers are not handled here (callers recurse into struct fields, array elements and map
    keys and values); for them this is True only when the two types are equal.

    The rules are Delta Lake's type widening as the pinned Delta 4.4 applies it with
    ``ALTER TABLE ... ALTER COLUMN ... TYPE``: ``tinyint -> smallint -> int -> bigint``;
    ``tinyint``/``smallint``/``int -> double``; ``float -> double``; ``date -> timestamp_ntz``;
    integral types to a decimal with at least 10 (``bigint``: 20) integer digits;
    ``decimal(p,s) -> decimal(p+k1,s+k2)`` with ``k1 >= k2 >= 0``. Plus the string family,
    which Spark stores as ``string``: ``char(n)``/``varchar(n) -> varchar(m >= n)`` and
    ``-> string``.

    Args:
        source: The type the data was written with.
        target: The type it is read as.

    Returns:
        True for equal types and supported widenings.
    """
    match source, target:
        case _ if source == target:
            return True
        case PrimitiveType(name=a), PrimitiveType(name=b) if (
            a in _INTEGRAL_RANK and b in _INTEGRAL_RANK
        ):
            return _INTEGRAL_RANK[a] <= _INTEGRAL_RANK[b]
        case PrimitiveType(name=a), PrimitiveType(name=b):
            return (a, b) in _PRIMITIVE_WIDENINGS
        case PrimitiveType(name=a), DecimalType(precision=p, scale=s) if a in _INTEGRAL_DIGITS:
            return p - s >= _INTEGRAL_DIGITS[a]
        case DecimalType(precision=p1, scale=s1), DecimalType(precision=p2, scale=s2):
            return s2 >= s1 and p2 - s2 >= p1 - s1
        case VarcharType(length=n1) | CharType(length=n1), VarcharType(length=n2):
            return n2 >= n1
        case VarcharType() | CharType(), _:
            return target == PrimitiveType("string")
        case _:
            return False
