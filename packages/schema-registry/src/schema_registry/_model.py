"""``TableSchema`` and its YAML file format."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from schema_registry._compat import Compatibility
from schema_registry._types import (
    ArrayType,
    DataType,
    Field,
    MapType,
    StructType,
    parse_type,
)
from schema_registry.errors import SchemaFileError, TypeParseError

if TYPE_CHECKING:
    from pyspark.sql.types import StructType as SparkStructType

__all__ = ["TableSchema"]

_TOP_KEYS = {"name", "version", "compatibility", "description", "fields"}
_FIELD_KEYS = {"name", "type", "nullable", "description", "metadata"}
_NODE_KEYS = {
    "struct": {"fields"},
    "array": {"element", "contains_null"},
    "map": {"key", "value", "value_contains_null"},
}


def _check_unique(fields: Sequence[Field], where: str) -> None:
    """Reject names equal ignoring case: Spark resolves columns case-insensitively by default."""
    seen: dict[str, str] = {}
    for f in fields:
        folded = f.name.lower()
        if folded in seen:
            raise ValueError(
                f"duplicate field name {f.name!r} in {where} (clashes with {seen[folded]!r}; "
                "Spark and Delta compare column names ignoring case): rename one of them"
            )
        seen[folded] = f.name
        _check_type_unique(f.type, f"{where}.{f.name}" if where != "the schema" else f.name)


def _check_type_unique(data_type: DataType, where: str) -> None:
    if isinstance(data_type, StructType):
        _check_unique(data_type.fields, where)
    elif isinstance(data_type, ArrayType):
        _check_type_unique(data_type.element, f"{where}.element")
    elif isinstance(data_type, MapType):
        _check_type_unique(data_type.key, f"{where}.key")
        _check_type_unique(data_type.value, f"{where}.value")


@dataclasses.dataclass(frozen=True, init=False)
class TableSchema:
    """The schema of a table: ordered fields, plus the identity it has in a registry.

    Two schemas are equal when their fields and description are equal; ``name``, ``version`` and
    ``compatibility`` say where a schema is registered and are not part of its content.

    Attributes:
        fields: Top-level columns in order.
        description: What one row of the table means.
        name: Registry subject (``<layer>.<table>``) when the schema came from a registry or file.
        version: Registry version, when known.
        compatibility: The subject's compatibility mode recorded with this version, when known.
    """

    fields: tuple[Field, ...]
    description: str | None = None
    name: str | None = dataclasses.field(default=None, compare=False)
    version: int | None = dataclasses.field(default=None, compare=False)
    compatibility: Compatibility | None = dataclasses.field(default=None, compare=False)

    def __init__(
        self,
        fields: Iterable[Field],
        *,
        description: str | None = None,
        name: str | None = None,
        version: int | None = None,
        compatibility: Compatibility | str | None = None,
    ) -> None:
        fields = tuple(fields)
        _check_unique(fields, "the schema")
        object.__setattr__(self, "fields", fields)
        object.__setattr__(self, "description", description)
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "version", version)
        object.__setattr__(
            self,
            "compatibility",
            None if compatibility is None else Compatibility.parse(compatibility),
        )

    # -- access -------------------------------------------------------------------------------

    @property
    def field_names(self) -> list[str]:
        """Top-level column names in order."""
        return [f.name for f in self.fields]

    @property
    def struct(self) -> StructType:
        """The columns as one :class:`StructType`."""
        return StructType(self.fields)

    def get_field(self, name: str, *, case_sensitive: bool = False) -> Field | None:
        """Return the top-level field called ``name``, or None.

        Args:
            name: Column name.
            case_sensitive: Compare names exactly instead of ignoring case (Spark's default).
        """
        for f in self.fields:
            if f.name == name or (not case_sensitive and f.name.lower() == name.lower()):
                return f
        return None

    def simple_string(self) -> str:
        """Return the schema as one ``struct<...>`` type string (no nullability or comments)."""
        return self.struct.simple_string()

    def with_identity(
        self,
        *,
        name: str | None,
        version: int | None,
        compatibility: Compatibility | str | None,
    ) -> TableSchema:
        """Return the same content with a registry name, version and compatibility mode."""
        return TableSchema(
            self.fields,
            description=self.description,
            name=name,
            version=version,
            compatibility=compatibility,
        )

    # -- Spark --------------------------------------------------------------------------------

    @classmethod
    def from_spark(cls, struct_type: SparkStructType) -> TableSchema:
        """Build a schema from a ``pyspark.sql.types.StructType`` (needs the ``spark`` extra).

        Column comments (``comment`` metadata) become descriptions; other metadata is kept.
        """
        from schema_registry._spark import from_spark_struct

        return cls(from_spark_struct(struct_type).fields)

    def to_spark(self) -> SparkStructType:
        """Return the schema as a ``pyspark.sql.types.StructType`` (needs the ``spark`` extra).

        Descriptions become ``comment`` metadata, as ``ALTER TABLE ... COMMENT`` stores them.
        """
        from schema_registry._spark import to_spark_struct

        return to_spark_struct(self.struct)

    # -- file format --------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """Return the file-format document as plain Python data (see the README's format)."""
        doc: dict[str, Any] = {}
        if self.name is not None:
            doc["name"] = self.name
        if self.version is not None:
            doc["version"] = self.version
        if self.compatibility is not None:
            doc["compatibility"] = self.compatibility.value
        if self.description is not None:
            doc["description"] = self.description
        doc["fields"] = [_field_to_dict(f) for f in self.fields]
        return doc

    @classmethod
    def from_dict(cls, data: object, *, source: str = "<dict>") -> TableSchema:
        """Build a schema from the file-format document.

        Args:
            data: Parsed YAML (a mapping with ``fields`` and optional identity keys).
            source: Label used in error messages, usually the file path.

        Raises:
            SchemaFileError: Names the source, the location in the document and what was
                expected there.
        """
        if not isinstance(data, Mapping):
            raise SchemaFileError(
                source, "", f"expected a mapping with a 'fields' list, got {_kind(data)}"
            )
        _unknown_keys(data, _TOP_KEYS, source, "top level")
        if "fields" not in data:
            raise SchemaFileError(source, "top level", "missing required key 'fields' (a list)")
        fields = _fields_from(data["fields"], source, "fields")
        name = _optional_str(data, "name", source, "name")
        description = _optional_str(data, "description", source, "description")
        version = data.get("version")
        if version is not None and (
            not isinstance(version, int) or isinstance(version, bool) or version < 1
        ):
            raise SchemaFileError(
                source, "version", f"expected a positive integer, got {version!r}"
            )
        compatibility = data.get("compatibility")
        if compatibility is not None:
            try:
                compatibility = Compatibility.parse(str(compatibility))
            except ValueError as exc:
                raise SchemaFileError(source, "compatibility", str(exc)) from None
        try:
            return cls(
                fields,
                description=description,
                name=name,
                version=version,
                compatibility=compatibility,
            )
        except ValueError as exc:
            raise SchemaFileError(source, "fields", str(exc)) from None

    def to_yaml(self) -> str:
        """Return the schema as the YAML text stored in registry files."""
        doc = self.to_dict()
        text = _dump_yaml(doc, allow_unicode=True)
        # PyYAML writes some Unicode line separators (NEL, U+2028) raw and then reads them back
        # as line breaks; escape everything in the rare document where that happens.
        if yaml.safe_load(text) != doc:
            text = _dump_yaml(doc, allow_unicode=False)
        return text

    @classmethod
    def from_yaml(cls, text: str, *, source: str = "<string>") -> TableSchema:
        """Parse YAML text in the file format.

        Raises:
            SchemaFileError: The text is not YAML, or not a valid schema document.
        """
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise SchemaFileError(source, "", f"not valid YAML ({exc})") from None
        return cls.from_dict(data, source=source)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> TableSchema:
        """Read a schema file.

        Raises:
            SchemaFileError: The file cannot be read or is not a valid schema document.
        """
        file = Path(path)
        try:
            text = file.read_text(encoding="utf-8")
        except OSError as exc:
            raise SchemaFileError(str(file), "", f"cannot read the file ({exc.strerror})") from None
        return cls.from_yaml(text, source=str(file))

    def dump(self, path: str | os.PathLike[str]) -> None:
        """Write the schema as YAML to ``path`` (parent folders are created)."""
        file = Path(path)
        file.parent.mkdir(parents=True, exist_ok=True)
        file.write_text(self.to_yaml(), encoding="utf-8")


def _dump_yaml(doc: dict[str, Any], *, allow_unicode: bool) -> str:
    return yaml.safe_dump(
        doc, sort_keys=False, allow_unicode=allow_unicode, default_flow_style=False, width=1_000_000
    )


# -- encoding -----------------------------------------------------------------------------------


def _string_is_lossless(data_type: DataType) -> bool:
    """Whether the type string alone says everything about the type (defaults everywhere)."""
    if isinstance(data_type, StructType):
        return all(
            f.nullable and f.description is None and not f.metadata and _string_is_lossless(f.type)
            for f in data_type.fields
        )
    if isinstance(data_type, ArrayType):
        return data_type.contains_null and _string_is_lossless(data_type.element)
    if isinstance(data_type, MapType):
        return (
            data_type.value_contains_null
            and _string_is_lossless(data_type.key)
            and _string_is_lossless(data_type.value)
        )
    return True


def _type_to_node(data_type: DataType) -> str | dict[str, Any]:
    if _string_is_lossless(data_type):
        return data_type.simple_string()
    if isinstance(data_type, StructType):
        return {"type": "struct", "fields": [_field_to_dict(f) for f in data_type.fields]}
    if isinstance(data_type, ArrayType):
        return {
            "type": "array",
            "element": _type_to_node(data_type.element),
            "contains_null": data_type.contains_null,
        }
    assert isinstance(data_type, MapType)  # only containers can be lossy
    return {
        "type": "map",
        "key": _type_to_node(data_type.key),
        "value": _type_to_node(data_type.value),
        "value_contains_null": data_type.value_contains_null,
    }


def _field_to_dict(f: Field) -> dict[str, Any]:
    node = _type_to_node(f.type)
    doc: dict[str, Any] = {"name": f.name}
    extra: dict[str, Any] = {}
    if isinstance(node, str):
        doc["type"] = node
    else:
        doc["type"] = node.pop("type")
        extra = node
    doc["nullable"] = f.nullable
    if f.description is not None:
        doc["description"] = f.description
    if f.metadata:
        doc["metadata"] = dict(f.metadata)
    doc.update(extra)
    return doc


# -- decoding -----------------------------------------------------------------------------------


def _kind(value: object) -> str:
    if value is None:
        return "nothing"
    return f"{type(value).__name__} {value!r}"


def _unknown_keys(data: Mapping[Any, Any], allowed: set[str], source: str, where: str) -> None:
    unknown = sorted(str(k) for k in data if k not in allowed)
    if unknown:
        raise SchemaFileError(
            source,
            where,
            f"unknown key(s) {', '.join(repr(k) for k in unknown)}; "
            f"allowed here: {', '.join(sorted(allowed))}",
        )


def _optional_str(data: Mapping[Any, Any], key: str, source: str, where: str) -> str | None:
    value = data.get(key)
    if value is None or isinstance(value, str):
        return value
    raise SchemaFileError(source, where, f"expected a string, got {_kind(value)}")


def _fields_from(value: object, source: str, where: str) -> list[Field]:
    if not isinstance(value, list):
        raise SchemaFileError(source, where, f"expected a list of fields, got {_kind(value)}")
    return [_field_from(item, source, f"{where}[{i}]") for i, item in enumerate(value)]


def _field_from(item: object, source: str, where: str) -> Field:
    if not isinstance(item, Mapping):
        raise SchemaFileError(
            source, where, f"expected a mapping with 'name' and 'type', got {_kind(item)}"
        )
    name = item.get("name")
    if not isinstance(name, str) or not name:
        raise SchemaFileError(
            source, where, f"'name' must be a non-empty string, got {_kind(name)}"
        )
    where = f"{where} {name!r}"
    type_word = item.get("type")
    node_keys = _NODE_KEYS.get(type_word, set()) if isinstance(type_word, str) else set()
    _unknown_keys(item, _FIELD_KEYS | node_keys, source, where)
    data_type = _type_from(item, source, where)
    nullable = item.get("nullable", True)
    if not isinstance(nullable, bool):
        raise SchemaFileError(
            source, f"{where} > nullable", f"expected true or false, got {_kind(nullable)}"
        )
    description = _optional_str(item, "description", source, f"{where} > description")
    metadata = item.get("metadata", {})
    if not isinstance(metadata, Mapping) or not all(isinstance(k, str) for k in metadata):
        raise SchemaFileError(
            source,
            f"{where} > metadata",
            f"expected a mapping with string keys, got {_kind(metadata)}",
        )
    return Field(name, data_type, nullable, description, metadata)


def _type_from(node: Mapping[Any, Any], source: str, where: str) -> DataType:
    """Decode a type given by the ``type`` key of ``node`` (a field or a nested type mapping)."""
    type_value = node.get("type")
    if not isinstance(type_value, str) or not type_value.strip():
        raise SchemaFileError(
            source,
            f"{where} > type",
            "expected a Spark SQL type string such as 'int', 'decimal(10,2)', 'array<string>', "
            f"or 'struct' / 'array' / 'map' with nested keys; got {_kind(type_value)}",
        )
    word = type_value.strip().lower()
    if word == "struct":
        if "fields" not in node:
            raise SchemaFileError(
                source, where, "'type: struct' needs a 'fields' list (or write 'struct<a:int,...>')"
            )
        fields = _fields_from(node["fields"], source, f"{where} > fields")
        return StructType(tuple(fields))
    if word == "array":
        if "element" not in node:
            raise SchemaFileError(
                source, where, "'type: array' needs an 'element' type (or write 'array<int>')"
            )
        element = _node_type(node["element"], source, f"{where} > element")
        contains_null = _bool_key(node, "contains_null", source, where)
        return ArrayType(element, contains_null)
    if word == "map":
        for key in ("key", "value"):
            if key not in node:
                raise SchemaFileError(
                    source, where, f"'type: map' needs '{key}' (or write 'map<string,int>')"
                )
        key_type = _node_type(node["key"], source, f"{where} > key")
        value_type = _node_type(node["value"], source, f"{where} > value")
        value_contains_null = _bool_key(node, "value_contains_null", source, where)
        return MapType(key_type, value_type, value_contains_null)
    try:
        return parse_type(type_value)
    except TypeParseError as exc:
        raise SchemaFileError(source, f"{where} > type", str(exc)) from None


def _bool_key(node: Mapping[Any, Any], key: str, source: str, where: str) -> bool:
    value = node.get(key, True)
    if not isinstance(value, bool):
        raise SchemaFileError(source, f"{where} > {key}", f"expected true or false, got {value!r}")
    return value


def _node_type(node: object, source: str, where: str) -> DataType:
    """Decode a nested type: a type string, or a mapping with ``type`` and its nested keys."""
    if isinstance(node, str):
        return _type_from({"type": node}, source, where)
    if not isinstance(node, Mapping):
        raise SchemaFileError(
            source, where, f"expected a type string or a mapping with 'type', got {_kind(node)}"
        )
    type_word = node.get("type")
    allowed = {"type"} | (_NODE_KEYS.get(type_word, set()) if isinstance(type_word, str) else set())
    _unknown_keys(node, allowed, source, where)
    return _type_from(node, source, where)
