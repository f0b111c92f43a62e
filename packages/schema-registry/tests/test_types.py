import pytest
from hypothesis import given
from schema_registry_strategies import data_types

from schema_registry import (
    ArrayType,
    DecimalType,
    Field,
    MapType,
    PrimitiveType,
    StructType,
    VarcharType,
    parse_type,
)
from schema_registry.errors import TypeParseError


class TestParseType:
    @given(data_types(detailed=False))
    def test_round_trips_through_simple_string(self, data_type):
        """Emitting a type and parsing it back gives the same type."""
        assert parse_type(data_type.simple_string()) == data_type

    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            ("integer", PrimitiveType("int")),
            ("LONG", PrimitiveType("bigint")),
            ("byte", PrimitiveType("tinyint")),
            ("short", PrimitiveType("smallint")),
            ("timestamp_ltz", PrimitiveType("timestamp")),
            ("decimal", DecimalType(10, 0)),
            ("numeric(5)", DecimalType(5, 0)),
            ("DEC(12, 4)", DecimalType(12, 4)),
            ("Varchar(20)", VarcharType(20)),
            ("interval day to day", PrimitiveType("interval day")),
            (
                "array< map<string , int> >",
                ArrayType(MapType(PrimitiveType("string"), PrimitiveType("int"))),
            ),
        ],
    )
    def test_accepts_spark_aliases_and_spacing(self, text, expected):
        """Aliases from Spark's JSON form and DDL normalise to the simpleString spelling."""
        assert parse_type(text) == expected

    def test_struct_fields_keep_names_and_backticks(self):
        """Struct field names keep their case, and backticks allow any character."""
        parsed = parse_type("struct<Id:int,`a:b`:string,`x``y` bigint>")
        assert isinstance(parsed, StructType)
        assert [f.name for f in parsed.fields] == ["Id", "a:b", "x`y"]
        assert parsed.simple_string() == "struct<Id:int,`a:b`:string,`x``y`:bigint>"
        assert parse_type("struct<>") == StructType(())

    @pytest.mark.parametrize(
        ("text", "position", "expected"),
        [
            ("struct<a:int", 12, "',' or '>'"),
            ("integr", 0, "unknown type 'integr'"),
            ("decimal(40,2)", 7, "precision between 1 and 38"),
            ("map<int>", 7, "','"),
            ("array<int>>", 10, "end of the type string"),
            ("varchar(0)", 0, "length of at least 1"),
            ("varchar(x)", 8, "a length"),
            ("interval day to year", 16, "end unit after 'day'"),
            ("struct<a:int;b:int>", 12, "',' or '>'"),
            ("struct<:int>", 7, "a field name"),
            ("<int>", 0, "a type name"),
            ("", 0, "a type name"),
        ],
    )
    def test_errors_give_position_and_expectation(self, text, position, expected):
        """A malformed type string names where parsing stopped and what was expected there."""
        with pytest.raises(TypeParseError) as info:
            parse_type(text)
        assert info.value.position == position
        assert expected in info.value.expected
        assert repr(text) in str(info.value)


class TestField:
    def test_type_strings_are_parsed(self):
        """A field accepts a type string and stores the parsed type."""
        f = Field("amount", "decimal(10,2)", nullable=False, description="net")
        assert f.type == DecimalType(10, 2)
        assert f.replace(nullable=True) == Field("amount", DecimalType(10, 2), True, "net")

    def test_rejects_empty_name(self):
        """An empty field name is refused with the value shown."""
        with pytest.raises(ValueError, match="non-empty"):
            Field("", "int")

    def test_decimal_bounds_are_checked_on_construction(self):
        """A decimal built directly with an impossible scale is refused."""
        with pytest.raises(TypeParseError, match="scale between 0"):
            DecimalType(5, 6)
