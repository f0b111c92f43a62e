"""Versioned table schemas, drift detection, compatibility modes and SCD2 validation."""

from importlib.metadata import version

from schema_registry._compat import Compatibility, is_widening
from schema_registry._drift import (
    DriftChange,
    DriftKind,
    DriftReport,
    Incompatibility,
    check_compatibility,
    detect_drift,
)
from schema_registry._model import TableSchema
from schema_registry._registry import SchemaRegistry, validate_subject_name
from schema_registry._scd2 import (
    Scd2Report,
    Scd2Rule,
    validate_scd2,
    validate_scd2_schema,
)
from schema_registry._types import (
    ArrayType,
    CharType,
    DataType,
    DecimalType,
    Field,
    MapType,
    PrimitiveType,
    StructType,
    VarcharType,
    parse_type,
)

__version__ = version("schema-registry")

__all__ = [
    "ArrayType",
    "CharType",
    "Compatibility",
    "DataType",
    "DecimalType",
    "DriftChange",
    "DriftKind",
    "DriftReport",
    "Field",
    "Incompatibility",
    "MapType",
    "PrimitiveType",
    "Scd2Report",
    "Scd2Rule",
    "SchemaRegistry",
    "StructType",
    "TableSchema",
    "VarcharType",
    "__version__",
    "check_compatibility",
    "detect_drift",
    "is_widening",
    "parse_type",
    "validate_scd2",
    "validate_scd2_schema",
    "validate_subject_name",
]
