"""Type widening against Delta itself: the same table of widenings, values kept exactly."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from pyspark.sql import SparkSession
from pyspark.sql.types import (
    ByteType,
    DataType,
    DateType,
    DecimalType,
    DoubleType,
    FloatType,
    IntegerType,
    LongType,
    ShortType,
    StringType,
    TimestampNTZType,
    TimestampType,
)

from delta_safe_writer import SafeDeltaWriter, SchemaMismatchError
from delta_safe_writer._types import is_widening

pytestmark = pytest.mark.spark

PAIRS: list[tuple[DataType, DataType]] = [
    (ByteType(), ShortType()),
    (ByteType(), LongType()),
    (ShortType(), IntegerType()),
    (IntegerType(), LongType()),
    (FloatType(), DoubleType()),
    (DateType(), TimestampNTZType()),
    (ShortType(), DoubleType()),
    (IntegerType(), DoubleType()),
    (ByteType(), DecimalType(10, 0)),
    (IntegerType(), DecimalType(12, 2)),
    (LongType(), DecimalType(20, 0)),
    (DecimalType(10, 2), DecimalType(14, 2)),
    (DecimalType(10, 2), DecimalType(11, 3)),
    # Refused by Delta:
    (ByteType(), DecimalType(5, 0)),
    (LongType(), DecimalType(19, 0)),
    (LongType(), DoubleType()),
    (IntegerType(), FloatType()),
    (DecimalType(10, 2), DecimalType(12, 1)),
    (DateType(), TimestampType()),
    (TimestampNTZType(), TimestampType()),
    (LongType(), IntegerType()),
    (DoubleType(), FloatType()),
    (IntegerType(), StringType()),
]


class TestDeltaAgrees:
    def test_alter_column_type_accepts_exactly_our_widenings(
        self, spark: SparkSession, table_path: str
    ) -> None:
        """ALTER COLUMN TYPE on a type-widening Delta table succeeds exactly for our table."""
        columns = ", ".join(f"c{i} {s.simpleString()}" for i, (s, _) in enumerate(PAIRS))
        spark.sql(
            f"CREATE TABLE delta.`{table_path}` ({columns}) USING delta TBLPROPERTIES "
            "('delta.enableTypeWidening' = 'true', 'delta.feature.timestampNtz' = 'supported')"
        )
        disagreements = []
        for i, (source, target) in enumerate(PAIRS):
            try:
                spark.sql(
                    f"ALTER TABLE delta.`{table_path}` ALTER COLUMN c{i} TYPE "
                    f"{target.simpleString()}"
                )
                delta_accepts = True
            except Exception:  # Delta refuses with an AnalysisException subclass
                delta_accepts = False
            if delta_accepts != is_widening(source, target):
                disagreements.append((source.simpleString(), target.simpleString(), delta_accepts))
        assert disagreements == []


EXTREMES = "b TINYINT, s SMALLINT, i INT, l BIGINT, f FLOAT, dd DATE, m DECIMAL(10,2)"
WIDER = (
    "b BIGINT, s DOUBLE, i DECIMAL(12,2), l DECIMAL(20,0), f DOUBLE, dd TIMESTAMP_NTZ, "
    "m DECIMAL(14,4)"
)
ROW = (
    -128,
    32767,
    -2147483648,
    9223372036854775807,
    3.4028234663852886e38,
    dt.date(1999, 12, 31),
    Decimal("-99999999.99"),
)


class TestWritesWiden:
    def test_extreme_values_survive_every_cast(
        self, spark: SparkSession, writer: SafeDeltaWriter, table_path: str, table_rows
    ) -> None:
        """Each widening keeps the narrow type's extreme values exactly, and is reported."""
        spark.sql(f"CREATE TABLE delta.`{table_path}` ({WIDER}) USING delta")

        result = writer.append(spark.createDataFrame([ROW], EXTREMES), table_path)

        assert result.casts == {
            "b": ("tinyint", "bigint"),
            "s": ("smallint", "double"),
            "i": ("int", "decimal(12,2)"),
            "l": ("bigint", "decimal(20,0)"),
            "f": ("float", "double"),
            "dd": ("date", "timestamp_ntz"),
            "m": ("decimal(10,2)", "decimal(14,4)"),
        }
        assert result.to_dict()["casts"]["b"] == ["tinyint", "bigint"]
        assert table_rows(table_path) == [
            (
                -128,
                32767.0,
                Decimal("-2147483648.00"),
                Decimal("9223372036854775807"),
                3.4028234663852886e38,
                dt.datetime(1999, 12, 31),
                Decimal("-99999999.9900"),
            )
        ]

    def test_merge_widens_and_narrowing_is_refused(
        self, spark: SparkSession, writer: SafeDeltaWriter, table_path: str, table_versions
    ) -> None:
        """MERGE casts int into bigint; bigint into an int column is refused, nothing written."""
        spark.createDataFrame([(1, 10)], "id BIGINT, n INT").write.format("delta").save(table_path)

        with pytest.raises(SchemaMismatchError, match="Only safe widenings") as info:
            writer.merge(
                spark.createDataFrame([(1, 2**40)], "id BIGINT, n BIGINT"), table_path, "id"
            )
        result = writer.merge(
            spark.createDataFrame([(2, 7)], "id INT, n TINYINT"), table_path, "id"
        )

        assert (info.value.column, info.value.table_type, info.value.incoming_type) == (
            "n",
            "int",
            "bigint",
        )
        assert result.casts == {"id": ("int", "bigint"), "n": ("tinyint", "int")}
        assert result.rows_inserted == 1
        assert table_versions(table_path) == [0, 1]
