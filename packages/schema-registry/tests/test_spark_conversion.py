"""Conversion to and from pyspark types; pure Python, so no SparkSession is needed."""

import pytest
from hypothesis import given
from pyspark.sql import types as T  # noqa: N812 - the PySpark convention
from schema_registry_strategies import table_schemas

from schema_registry import Field, TableSchema, detect_drift


class TestSparkRoundTrip:
    @given(table_schemas())
    def test_model_to_spark_and_back(self, schema):
        """Any schema converts to a pyspark StructType and back unchanged (bar the description)."""
        back = TableSchema.from_spark(schema.to_spark())
        assert back == TableSchema(schema.fields)

    @given(table_schemas())
    def test_simple_string_matches_spark(self, schema):
        """Our simpleString equals Spark's for the converted schema (names without backticks)."""
        spark_string = schema.to_spark().simpleString()
        ours = schema.simple_string().replace("`", "")
        assert ours == spark_string

    def test_spark_types_map_to_model_names(self):
        """Every Spark SQL type family converts, with comments as descriptions."""
        spark = T.StructType(
            [
                T.StructField("b", T.ByteType(), False, {"comment": "tiny"}),
                T.StructField("d", T.DecimalType(12, 3)),
                T.StructField("v", T.VarcharType(8)),
                T.StructField("ntz", T.TimestampNTZType()),
                T.StructField("dt", T.DayTimeIntervalType(1, 3)),
                T.StructField("ym", T.YearMonthIntervalType(0, 1)),
                T.StructField("cal", T.CalendarIntervalType()),
                T.StructField("var", T.VariantType()),
                T.StructField("m", T.MapType(T.StringType(), T.ArrayType(T.LongType(), False))),
            ]
        )
        schema = TableSchema.from_spark(spark)
        assert schema.fields[0] == Field("b", "tinyint", nullable=False, description="tiny")
        assert [str(f.type) for f in schema.fields[1:]] == [
            "decimal(12,3)",
            "varchar(8)",
            "timestamp_ntz",
            "interval hour to second",
            "interval year to month",
            "interval",
            "variant",
            "map<string,array<bigint>>",
        ]
        assert schema.to_spark() == spark

    def test_drift_accepts_spark_structs_on_either_side(self):
        """detect_drift takes a pyspark StructType as expected or actual."""
        spark = T.StructType([T.StructField("id", T.IntegerType())])
        model = TableSchema([Field("id", "bigint")])
        assert [c.path for c in detect_drift(spark, model).changes] == ["id"]
        assert [c.path for c in detect_drift(model, spark).changes] == ["id"]

    def test_rejects_non_struct(self):
        """from_spark refuses something that is not a StructType, saying what to pass."""
        with pytest.raises(TypeError, match=r"df\.schema"):
            TableSchema.from_spark(T.IntegerType())  # type: ignore[arg-type]

    def test_user_defined_types_use_their_sql_type(self):
        """A UDT converts as its underlying SQL type."""
        from pyspark.ml.linalg import VectorUDT

        schema = TableSchema.from_spark(T.StructType([T.StructField("v", VectorUDT())]))
        assert str(schema.fields[0].type).startswith("struct<type:tinyint,size:int")
