"""Conversion to and from ``pyspark.sql.types`` through Spark's public JSON schema form.

``StructType.jsonValue()`` and ``StructType.fromJson()`` are pure Python, so conversion needs
pyspark installed but no SparkSession, and works the same over Spark Connect.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from schema_registry._types import (
    ArrayType,
    DataType,
    Field,
    MapType,
    StructType,
    parse_type,
)

if TYPE_CHECKING:
    from pyspark.sql.types import StructType as SparkStructType

__all__ = ["from_spark_struct", "import_pyspark_types", "to_spark_struct"]

_COMMENT = "comment"
# Spark's JSON form names these differently from simpleString().
_JSON_NAMES = {"tinyint": "byte", "smallint": "short", "int": "integer", "bigint": "long"}


def import_pyspark_types() -> Any:
    """Import ``pyspark.sql.types``, or explain how to install it."""
    try:
        import pyspark.sql.types as spark_types
    except ImportError as exc:
        raise ImportError(
            "pyspark is not installed; install the extra with "
            "'pip install \"schema-registry[spark]\"' to convert to and from Spark schemas"
        ) from exc
    return spark_types


def _type_from_json(value: Any) -> DataType:
    if isinstance(value, str):
        return parse_type(value)
    kind = value["type"]
    if kind == "struct":
        return StructType(tuple(_field_from_json(f) for f in value["fields"]))
    if kind == "array":
        return ArrayType(_type_from_json(value["elementType"]), bool(value["containsNull"]))
    if kind == "map":
        return MapType(
            _type_from_json(value["keyType"]),
            _type_from_json(value["valueType"]),
            bool(value["valueContainsNull"]),
        )
    # User-defined types serialise their SQL type under 'sqlType'.
    return _type_from_json(value["sqlType"])


def _field_from_json(value: Mapping[str, Any]) -> Field:
    metadata = dict(value.get("metadata") or {})
    description = metadata.pop(_COMMENT, None)
    return Field(
        value["name"],
        _type_from_json(value["type"]),
        bool(value.get("nullable", True)),
        description if isinstance(description, str) else None,
        metadata,
    )


def _type_to_json(data_type: DataType) -> Any:
    if isinstance(data_type, StructType):
        return {"type": "struct", "fields": [_field_to_json(f) for f in data_type.fields]}
    if isinstance(data_type, ArrayType):
        return {
            "type": "array",
            "elementType": _type_to_json(data_type.element),
            "containsNull": data_type.contains_null,
        }
    if isinstance(data_type, MapType):
        return {
            "type": "map",
            "keyType": _type_to_json(data_type.key),
            "valueType": _type_to_json(data_type.value),
            "valueContainsNull": data_type.value_contains_null,
        }
    name = data_type.simple_string()
    return _JSON_NAMES.get(name, name)


def _field_to_json(f: Field) -> dict[str, Any]:
    metadata = dict(f.metadata)
    if f.description is not None:
        metadata[_COMMENT] = f.description
    return {
        "name": f.name,
        "type": _type_to_json(f.type),
        "nullable": f.nullable,
        "metadata": metadata,
    }


def from_spark_struct(struct_type: SparkStructType) -> StructType:
    """Convert a pyspark ``StructType`` into the model."""
    spark_types = import_pyspark_types()
    if not isinstance(struct_type, spark_types.StructType):
        raise TypeError(
            f"expected a pyspark.sql.types.StructType, got {type(struct_type).__name__}; "
            "pass df.schema for a DataFrame"
        )
    result = _type_from_json(struct_type.jsonValue())
    assert isinstance(result, StructType)
    return result


def to_spark_struct(struct: StructType) -> SparkStructType:
    """Convert the model into a pyspark ``StructType``."""
    spark_types = import_pyspark_types()
    result: SparkStructType = spark_types.StructType.fromJson(_type_to_json(struct))
    return result
