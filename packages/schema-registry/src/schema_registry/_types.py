"""A Spark-independent model of Spark SQL data types, parsed from and emitted as type strings.

Type strings follow Spark's ``DataType.simpleString()`` (``struct<a:int,b:array<string>>``,
``decimal(10,2)``, ``map<string,bigint>``). Aliases Spark's JSON schema and DDL use (``integer``,
``long``, ``byte``, ``short``, ``timestamp_ltz``, ``dec``/``numeric``) are accepted on input and
normalised to the ``simpleString`` spelling on output.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from typing import Any

from schema_registry.errors import TypeParseError

__all__ = [
    "ArrayType",
    "CharType",
    "DataType",
    "DecimalType",
    "Field",
    "MapType",
    "PrimitiveType",
    "StructType",
    "VarcharType",
    "parse_type",
]

# Canonical simpleString names of the parameterless types, with the aliases accepted on input.
_PRIMITIVE_ALIASES: dict[str, str] = {
    "boolean": "boolean",
    "bool": "boolean",
    "tinyint": "tinyint",
    "byte": "tinyint",
    "smallint": "smallint",
    "short": "smallint",
    "int": "int",
    "integer": "int",
    "bigint": "bigint",
    "long": "bigint",
    "float": "float",
    "real": "float",
    "double": "double",
    "string": "string",
    "binary": "binary",
    "date": "date",
    "timestamp": "timestamp",
    "timestamp_ltz": "timestamp",
    "timestamp_ntz": "timestamp_ntz",
    "void": "void",
    "null": "void",
    "variant": "variant",
}
_DAY_TIME_UNITS = ("day", "hour", "minute", "second")
_YEAR_MONTH_UNITS = ("year", "month")
_PLAIN_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class DataType:
    """Base of every type in the model; compare with ``==``, print with :meth:`simple_string`."""

    def simple_string(self) -> str:
        """Return the type as Spark's ``simpleString()`` would print it."""
        raise NotImplementedError

    def __str__(self) -> str:
        return self.simple_string()


@dataclasses.dataclass(frozen=True)
class PrimitiveType(DataType):
    """A parameterless type such as ``int``, ``string``, ``timestamp_ntz`` or an interval type.

    Attributes:
        name: Canonical ``simpleString`` name, e.g. ``bigint``, ``interval day to second``.
    """

    name: str

    def simple_string(self) -> str:
        """Return the canonical type name."""
        return self.name


@dataclasses.dataclass(frozen=True)
class DecimalType(DataType):
    """``decimal(precision, scale)``.

    Attributes:
        precision: Total number of digits (1..38).
        scale: Digits after the decimal point (0..precision).
    """

    precision: int = 10
    scale: int = 0

    def __post_init__(self) -> None:
        if not 1 <= self.precision <= 38 or not 0 <= self.scale <= self.precision:
            raise TypeParseError(
                f"decimal({self.precision},{self.scale})",
                0,
                "precision between 1 and 38 and scale between 0 and the precision",
            )

    def simple_string(self) -> str:
        """Return ``decimal(p,s)``."""
        return f"decimal({self.precision},{self.scale})"


@dataclasses.dataclass(frozen=True)
class VarcharType(DataType):
    """``varchar(length)``: a string with a maximum length checked on write."""

    length: int

    def simple_string(self) -> str:
        """Return ``varchar(n)``."""
        return f"varchar({self.length})"


@dataclasses.dataclass(frozen=True)
class CharType(DataType):
    """``char(length)``: a fixed-length, space-padded string."""

    length: int

    def simple_string(self) -> str:
        """Return ``char(n)``."""
        return f"char({self.length})"


@dataclasses.dataclass(frozen=True)
class ArrayType(DataType):
    """``array<element>``.

    Attributes:
        element: Type of the elements.
        contains_null: Whether elements may be NULL (Spark's ``containsNull``).
    """

    element: DataType
    contains_null: bool = True

    def simple_string(self) -> str:
        """Return ``array<element>`` (element nullability is not part of the string)."""
        return f"array<{self.element.simple_string()}>"


@dataclasses.dataclass(frozen=True)
class MapType(DataType):
    """``map<key,value>``.

    Attributes:
        key: Type of the keys (never NULL in Spark).
        value: Type of the values.
        value_contains_null: Whether values may be NULL (Spark's ``valueContainsNull``).
    """

    key: DataType
    value: DataType
    value_contains_null: bool = True

    def simple_string(self) -> str:
        """Return ``map<key,value>`` (value nullability is not part of the string)."""
        return f"map<{self.key.simple_string()},{self.value.simple_string()}>"


@dataclasses.dataclass(frozen=True, init=False)
class Field:
    """One column, or one field of a struct.

    Attributes:
        name: Column name, case preserved.
        type: The column's type; a type string is parsed on construction.
        nullable: Whether the column may hold NULL.
        description: Human-readable meaning; maps to Spark's ``comment`` metadata.
        metadata: Other JSON-compatible metadata carried with the field.
    """

    name: str
    type: DataType
    nullable: bool
    description: str | None
    metadata: Mapping[str, Any] = dataclasses.field(hash=False)

    def __init__(
        self,
        name: str,
        type: DataType | str,
        nullable: bool = True,
        description: str | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> None:
        if not isinstance(name, str) or not name:
            raise ValueError(f"field name must be a non-empty string, got {name!r}")
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "type", parse_type(type) if isinstance(type, str) else type)
        object.__setattr__(self, "nullable", bool(nullable))
        object.__setattr__(self, "description", description)
        object.__setattr__(self, "metadata", dict(metadata or {}))

    def replace(self, **changes: Any) -> Field:
        """Return a copy with some attributes changed (``name``, ``type``, ``nullable``...)."""
        values: dict[str, Any] = {
            "name": self.name,
            "type": self.type,
            "nullable": self.nullable,
            "description": self.description,
            "metadata": self.metadata,
        }
        values.update(changes)
        return Field(**values)


@dataclasses.dataclass(frozen=True)
class StructType(DataType):
    """``struct<name:type,...>``: an ordered list of named fields.

    Attributes:
        fields: The fields in order.
    """

    fields: tuple[Field, ...] = ()

    def simple_string(self) -> str:
        """Return ``struct<a:int,...>``; names that are not plain identifiers get backticks."""
        inner = ",".join(f"{_quote(f.name)}:{f.type.simple_string()}" for f in self.fields)
        return f"struct<{inner}>"


def _quote(name: str) -> str:
    if _PLAIN_NAME.match(name):
        return name
    return "`" + name.replace("`", "``") + "`"


_TOKEN = re.compile(r"\s*(?:(`(?:[^`]|``)*`)|([A-Za-z_][A-Za-z0-9_]*)|(\d+)|([<>(),:]))")


class _Parser:
    """Recursive-descent parser over a type string; positions in errors are 0-based offsets."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def fail(self, expected: str, at: int | None = None) -> TypeParseError:
        return TypeParseError(self.text, self.pos if at is None else at, expected)

    def _match(self) -> re.Match[str] | None:
        return _TOKEN.match(self.text, self.pos)

    def peek(self) -> str | None:
        match = self._match()
        if match is None:
            return None
        return match.group(0).strip()

    def next(self, expected: str) -> str:
        match = self._match()
        if match is None:
            self.pos = len(self.text) - len(self.text[self.pos :].lstrip())
            raise self.fail(expected)
        self.pos = match.end()
        return match.group(0).strip()

    def expect(self, symbol: str) -> None:
        start = self._skip_ws()
        if self.peek() != symbol:
            raise self.fail(f"'{symbol}'", at=start)
        self.next(symbol)

    def _skip_ws(self) -> int:
        return len(self.text) - len(self.text[self.pos :].lstrip())

    def integer(self, what: str) -> int:
        start = self._skip_ws()
        token = self.next(what)
        if not token.isdigit():
            raise self.fail(what, at=start)
        return int(token)

    def parse(self) -> DataType:
        result = self.data_type()
        if self.text[self.pos :].strip():
            raise self.fail("end of the type string", at=self._skip_ws())
        return result

    def data_type(self) -> DataType:  # noqa: PLR0911 - one return per type family reads best
        start = self._skip_ws()
        word = self.next("a type name").lower()
        if not word[0].isalpha() and word[0] != "_":
            raise self.fail("a type name", at=start)
        if word == "struct":
            return self.struct_body()
        if word == "array":
            self.expect("<")
            element = self.data_type()
            self.expect(">")
            return ArrayType(element)
        if word == "map":
            self.expect("<")
            key = self.data_type()
            self.expect(",")
            value = self.data_type()
            self.expect(">")
            return MapType(key, value)
        if word in ("decimal", "dec", "numeric"):
            return self.decimal()
        if word in ("varchar", "char"):
            self.expect("(")
            length = self.integer("a length")
            self.expect(")")
            if length < 1:
                raise self.fail("a length of at least 1", at=start)
            return VarcharType(length) if word == "varchar" else CharType(length)
        if word == "interval":
            return self.interval()
        canonical = _PRIMITIVE_ALIASES.get(word)
        if canonical is None:
            raise self.fail(
                f"a Spark SQL type (got unknown type '{word}'; known: "
                "boolean, tinyint, smallint, int, bigint, float, double, decimal(p,s), string, "
                "varchar(n), char(n), binary, date, timestamp, timestamp_ntz, interval ..., "
                "void, variant, array<...>, map<...,...>, struct<...>)",
                at=start,
            )
        return PrimitiveType(canonical)

    def decimal(self) -> DecimalType:
        if self.peek() != "(":
            return DecimalType()
        start = self._skip_ws()
        self.expect("(")
        precision = self.integer("a precision")
        scale = 0
        if self.peek() == ",":
            self.expect(",")
            scale = self.integer("a scale")
        self.expect(")")
        if not 1 <= precision <= 38 or not 0 <= scale <= precision:
            raise self.fail(
                "decimal precision between 1 and 38 and scale between 0 and the precision",
                at=start,
            )
        return DecimalType(precision, scale)

    def interval(self) -> PrimitiveType:
        following = self.peek()
        if following is None or following.lower() not in (*_DAY_TIME_UNITS, *_YEAR_MONTH_UNITS):
            # A bare 'interval' is Spark's CalendarIntervalType.
            return PrimitiveType("interval")
        start_unit = self.next("an interval unit").lower()
        units = _DAY_TIME_UNITS if start_unit in _DAY_TIME_UNITS else _YEAR_MONTH_UNITS
        end_unit = start_unit
        if (self.peek() or "").lower() == "to":
            self.next("'to'")
            at = self._skip_ws()
            end_unit = self.next("an interval unit").lower()
            if end_unit not in units or units.index(end_unit) < units.index(start_unit):
                raise self.fail(
                    f"an interval end unit after '{start_unit}' (one of {', '.join(units)})",
                    at=at,
                )
        if end_unit == start_unit:
            return PrimitiveType(f"interval {start_unit}")
        return PrimitiveType(f"interval {start_unit} to {end_unit}")

    def struct_body(self) -> StructType:
        self.expect("<")
        fields: list[Field] = []
        if self.peek() == ">":
            self.next("'>'")
            return StructType(())
        while True:
            at = self._skip_ws()
            token = self.next("a field name")
            if token.startswith("`"):
                name = token[1:-1].replace("``", "`")
            elif token[0].isalpha() or token[0] == "_" or token.isdigit():
                name = token
            else:
                raise self.fail("a field name", at=at)
            if self.peek() == ":":
                self.next("':'")
            fields.append(Field(name, self.data_type()))
            at = self._skip_ws()
            separator = self.next("',' or '>'")
            if separator == ">":
                return StructType(tuple(fields))
            if separator != ",":
                raise self.fail("',' or '>'", at=at)


def parse_type(text: str) -> DataType:
    """Parse a Spark SQL type string.

    Args:
        text: A type such as ``bigint``, ``decimal(10,2)`` or ``struct<a:int,b:array<string>>``.

    Returns:
        The parsed type. Nested struct fields, array elements and map values parsed from a string
        are nullable (a type string cannot say otherwise).

    Raises:
        TypeParseError: The string is not a type; the error gives the position and what was
            expected there.
    """
    return _Parser(text).parse()
