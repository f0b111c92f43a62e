"""Type widenings (no JVM): the table, its soundness against a value model, DDL and SQL text."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st
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
    StringType,
    StructField,
    StructType,
    TimestampNTZType,
    TimestampType,
)

from delta_safe_writer._engine import MergeClause, MergeSpec, merge_statement, select_engine
from delta_safe_writer._sql import string_literal, table_reference, timestamp_literal
from delta_safe_writer._types import ddl_columns, is_widening

INTEGRAL_RANGES = {
    ByteType: (-(2**7), 2**7 - 1),
    ShortType: (-(2**15), 2**15 - 1),
    IntegerType: (-(2**31), 2**31 - 1),
    LongType: (-(2**63), 2**63 - 1),
}
POOL: list[DataType] = [
    ByteType(),
    ShortType(),
    IntegerType(),
    LongType(),
    FloatType(),
    DoubleType(),
    DateType(),
    TimestampNTZType(),
    TimestampType(),
    StringType(),
    DecimalType(3, 0),
    DecimalType(5, 2),
    DecimalType(10, 0),
    DecimalType(12, 2),
    DecimalType(19, 0),
    DecimalType(20, 0),
    DecimalType(22, 4),
]


def values_of(data_type: DataType) -> st.SearchStrategy[object]:
    """Values of a type, extremes included (a naive model of its domain)."""
    kind = type(data_type)
    if kind in INTEGRAL_RANGES:
        low, high = INTEGRAL_RANGES[kind]
        return st.integers(low, high)
    if isinstance(data_type, DecimalType):
        bound = 10**data_type.precision - 1
        return st.integers(-bound, bound).map(
            lambda n: Decimal(n).scaleb(-data_type.scale)  # type: ignore[attr-defined]
        )
    if kind is FloatType:
        return st.floats(width=32, allow_nan=False)
    if kind is DoubleType:
        return st.floats(allow_nan=False)
    return st.just(None)  # dates, timestamps, strings: checked by the table, not by value


def representable(value: object, data_type: DataType) -> bool:
    """Whether ``value`` is exactly a value of ``data_type`` (the naive reference)."""
    kind = type(data_type)
    if value is None:
        return True
    if kind in INTEGRAL_RANGES:
        low, high = INTEGRAL_RANGES[kind]
        return isinstance(value, int) and low <= value <= high
    if isinstance(data_type, DecimalType):
        exact = Decimal(value)  # type: ignore[arg-type]
        scaled = exact.scaleb(data_type.scale)
        return scaled == scaled.to_integral_value() and abs(scaled) < 10**data_type.precision
    if kind is DoubleType:
        return isinstance(value, float) or (isinstance(value, int) and float(value) == value)
    if kind is FloatType:
        import struct

        as_float = float(value)  # type: ignore[arg-type]
        return struct.unpack("f", struct.pack("f", as_float))[0] == as_float and (
            not isinstance(value, int) or as_float == value
        )
    return False


class TestWideningTable:
    @pytest.mark.parametrize(
        ("source", "target"),
        [
            (ByteType(), ShortType()),
            (ShortType(), IntegerType()),
            (IntegerType(), LongType()),
            (ByteType(), LongType()),
            (IntegerType(), DoubleType()),
            (FloatType(), DoubleType()),
            (DateType(), TimestampNTZType()),
            (IntegerType(), DecimalType(10, 0)),
            (LongType(), DecimalType(22, 2)),
            (DecimalType(10, 2), DecimalType(12, 3)),
        ],
    )
    def test_accepted(self, source: DataType, target: DataType) -> None:
        """Delta 4.4's widenings are accepted."""
        assert is_widening(source, target)

    @pytest.mark.parametrize(
        ("source", "target"),
        [
            (LongType(), IntegerType()),
            (LongType(), DoubleType()),
            (IntegerType(), FloatType()),
            (ByteType(), DecimalType(5, 0)),
            (LongType(), DecimalType(19, 0)),
            (DecimalType(10, 2), DecimalType(12, 1)),
            (DecimalType(10, 2), DecimalType(10, 2)),
            (DateType(), TimestampType()),
            (IntegerType(), StringType()),
            (ArrayType(IntegerType()), ArrayType(LongType())),
        ],
    )
    def test_refused(self, source: DataType, target: DataType) -> None:
        """Narrowings, lossy or unrelated changes, equal types and nested types are refused."""
        assert not is_widening(source, target)

    @given(
        pair=st.tuples(st.sampled_from(POOL), st.sampled_from(POOL)),
        data=st.data(),
    )
    def test_every_widening_keeps_every_value(
        self, pair: tuple[DataType, DataType], data: st.DataObject
    ) -> None:
        """Whatever the pair, an accepted widening takes any source value exactly."""
        source, target = pair
        value = data.draw(values_of(source))
        if is_widening(source, target):
            assert representable(value, target), (source, target, value)


class TestSqlText:
    def test_ddl_quotes_names_and_keeps_not_null(self) -> None:
        """CREATE TABLE columns: quoted names, nested types spelled out, NOT NULL kept."""
        schema = StructType(
            [
                StructField("id", LongType(), nullable=False),
                StructField("odd name", StructType([StructField("a`b", IntegerType())])),
                StructField("tags", ArrayType(StringType())),
                StructField("m", MapType(StringType(), DecimalType(12, 2))),
            ]
        )

        assert ddl_columns(schema) == (
            "`id` bigint NOT NULL, `odd name` STRUCT<`a``b`: int>, `tags` ARRAY<string>, "
            "`m` MAP<string, decimal(12,2)>"
        )

    def test_literals_and_references(self) -> None:
        """String literals escape quotes; paths become delta.`path`; dates cast at midnight."""
        assert string_literal("it's a \\ test") == "'it\\'s a \\\\ test'"
        assert table_reference("/lake/t`x", is_path=True) == "delta.`/lake/t``x`"
        assert table_reference("db.t", is_path=False) == "db.t"
        assert timestamp_literal(dt.date(2024, 5, 1)) == "CAST(DATE'2024-05-01' AS TIMESTAMP)"
        aware = dt.datetime(2024, 5, 1, tzinfo=dt.UTC)
        assert timestamp_literal(aware) == "TIMESTAMP_MICROS(1714521600000000)"

    def test_merge_statement(self) -> None:
        """Every clause kind renders in order, conditions parenthesised."""
        spec = MergeSpec(
            source=None,  # type: ignore[arg-type]
            condition="t.`id` = s.`id`",
            clauses=[
                MergeClause("delete", "s.gone"),
                MergeClause("update", assignments={"`v`": "s.`v`"}),
                MergeClause("update_all", "s.x > 1"),
                MergeClause("insert", assignments={"`id`": "s.`id`", "`v`": "s.`v`"}),
                MergeClause("insert_all"),
                MergeClause("source_update", "t.cur", {"`cur`": "false"}),
            ],
            schema_evolution=True,
        )

        assert merge_statement("delta.`/t`", "view1", spec).splitlines() == [
            "MERGE WITH SCHEMA EVOLUTION INTO delta.`/t` AS t USING `view1` AS s "
            "ON t.`id` = s.`id`",
            "WHEN MATCHED AND (s.gone) THEN DELETE",
            "WHEN MATCHED THEN UPDATE SET `v` = s.`v`",
            "WHEN MATCHED AND (s.x > 1) THEN UPDATE SET *",
            "WHEN NOT MATCHED THEN INSERT (`id`, `v`) VALUES (s.`id`, s.`v`)",
            "WHEN NOT MATCHED THEN INSERT *",
            "WHEN NOT MATCHED BY SOURCE AND (t.cur) THEN UPDATE SET `cur` = false",
        ]


class FakeConnectSession:
    """A stand-in whose class lives where Spark Connect's session class does."""


FakeConnectSession.__module__ = "pyspark.sql.connect.session"


class TestEngineChoice:
    def test_auto_picks_sql_on_connect_and_delta_on_classic(self) -> None:
        """Auto: Spark SQL for a Connect session, the DeltaTable API otherwise."""
        assert select_engine(FakeConnectSession(), "auto").name == "sql"  # type: ignore[arg-type]
        assert select_engine(object(), "auto").name == "delta"  # type: ignore[arg-type]
        assert select_engine(object(), "sql").name == "sql"  # type: ignore[arg-type]

    def test_unknown_engine(self) -> None:
        """Only auto, delta and sql exist."""
        from delta_safe_writer import SafeDeltaWriter

        with pytest.raises(ValueError, match="engine must be one of"):
            SafeDeltaWriter(None, engine="jdbc")  # type: ignore[arg-type]
