import textwrap

import pytest
import yaml
from hypothesis import given
from schema_registry_strategies import table_schemas

from schema_registry import ArrayType, Compatibility, Field, MapType, StructType, TableSchema
from schema_registry.errors import SchemaFileError


class TestYamlRoundTrip:
    @given(table_schemas())
    def test_dump_then_load_gives_equal_schema(self, schema):
        """Every schema, with any nesting, nullability and metadata, survives the file format."""
        assert TableSchema.from_yaml(schema.to_yaml()) == schema

    def test_identity_is_written_and_read_but_not_compared(self, tmp_path):
        """Name, version and compatibility travel with the file but do not affect equality."""
        schema = TableSchema(
            [Field("id", "bigint", nullable=False)],
            name="silver.orders",
            version=3,
            compatibility="full",
        )
        schema.dump(tmp_path / "x" / "v3.yaml")
        loaded = TableSchema.load(tmp_path / "x" / "v3.yaml")
        assert (loaded.name, loaded.version, loaded.compatibility) == (
            "silver.orders",
            3,
            Compatibility.FULL,
        )
        assert loaded == TableSchema([Field("id", "bigint", nullable=False)])


class TestFileConvention:
    def test_default_nested_types_are_written_as_type_strings(self):
        """A nested type with only default nullability is one readable type string."""
        schema = TableSchema([Field("tags", "array<struct<k:string,v:map<string,int>>>")])
        doc = schema.to_dict()
        assert doc["fields"] == [
            {"name": "tags", "type": "array<struct<k:string,v:map<string,int>>>", "nullable": True}
        ]

    def test_nested_details_expand_into_mappings(self):
        """Nested NOT NULL fields, non-null elements and descriptions use the expanded form."""
        address = StructType((Field("zip", "string", nullable=False, description="postcode"),))
        schema = TableSchema(
            [
                Field("address", address),
                Field("scores", ArrayType(address, contains_null=False)),
                Field("attrs", MapType(address, address, value_contains_null=False)),
            ]
        )
        fields = schema.to_dict()["fields"]
        zip_field = {"name": "zip", "type": "string", "nullable": False, "description": "postcode"}
        assert fields[0] == {
            "name": "address",
            "type": "struct",
            "nullable": True,
            "fields": [zip_field],
        }
        assert fields[1]["element"] == {"type": "struct", "fields": [zip_field]}
        assert fields[1]["contains_null"] is False
        assert fields[2]["value_contains_null"] is False
        assert TableSchema.from_dict(schema.to_dict()) == schema

    def test_hand_written_file_with_defaults(self):
        """A minimal hand-written file: nullable defaults to true, nested nodes may be strings."""
        text = textwrap.dedent(
            """
            name: bronze.events
            fields:
              - name: id
                type: BIGINT
                nullable: false
              - name: payload
                type: map
                key: string
                value: {type: array, element: int}
            """
        )
        schema = TableSchema.from_yaml(text)
        assert schema.fields == (
            Field("id", "bigint", nullable=False),
            Field("payload", "map<string,array<int>>"),
        )
        assert schema.name == "bronze.events"


def _error(text: str) -> SchemaFileError:
    with pytest.raises(SchemaFileError) as info:
        TableSchema.from_yaml(textwrap.dedent(text), source="gold/kpis/v1.yaml")
    return info.value


class TestMalformedFiles:
    def test_unknown_type_names_file_field_and_expectation(self):
        """An unknown type names the file, the field path and what a type looks like."""
        err = _error(
            """
            fields:
              - name: address
                type: struct
                fields:
                  - name: zip
                    type: integr
            """
        )
        assert err.source == "gold/kpis/v1.yaml"
        assert err.location == "fields[0] 'address' > fields[0] 'zip' > type"
        assert "unknown type 'integr'" in str(err)
        assert str(err).startswith("gold/kpis/v1.yaml: fields[0] 'address' > fields[0] 'zip'")

    @pytest.mark.parametrize(
        ("text", "location", "problem"),
        [
            ("fields: {}", "fields", "expected a list of fields"),
            ("- a\n- b", "", "expected a mapping with a 'fields' list"),
            ("name: x", "top level", "missing required key 'fields'"),
            ("fields: []\nversoin: 2", "top level", "unknown key(s) 'versoin'"),
            ("fields: [7]", "fields[0]", "expected a mapping with 'name' and 'type'"),
            ("fields: [{type: int}]", "fields[0]", "'name' must be a non-empty string"),
            ("fields: [{name: a}]", "fields[0] 'a' > type", "expected a Spark SQL type string"),
            ("fields: [{name: a, type: int, nulable: false}]", "fields[0] 'a'", "'nulable'"),
            (
                "fields: [{name: a, type: int, nullable: 'no'}]",
                "fields[0] 'a' > nullable",
                "true or false",
            ),
            (
                "fields: [{name: a, type: int, metadata: [1]}]",
                "fields[0] 'a' > metadata",
                "string keys",
            ),
            (
                "fields: [{name: a, type: int, description: 5}]",
                "fields[0] 'a' > description",
                "a string",
            ),
            ("fields: [{name: a, type: struct}]", "fields[0] 'a'", "needs a 'fields' list"),
            ("fields: [{name: a, type: array}]", "fields[0] 'a'", "needs an 'element'"),
            ("fields: [{name: a, type: map, key: int}]", "fields[0] 'a'", "needs 'value'"),
            (
                "fields: [{name: a, type: array, element: 3}]",
                "fields[0] 'a' > element",
                "type string or a mapping",
            ),
            (
                "fields: [{name: a, type: array, element: {type: int, x: 1}}]",
                "fields[0] 'a' > element",
                "'x'",
            ),
            (
                "fields: [{name: a, type: array, element: int, contains_null: 1}]",
                "fields[0] 'a' > contains_null",
                "true or false",
            ),
            (
                "fields: [{name: a, type: int}, {name: A, type: int}]",
                "fields",
                "duplicate field name 'A'",
            ),
            ("fields: []\nversion: 0", "version", "positive integer"),
            ("fields: []\ncompatibility: sideways", "compatibility", "unknown compatibility mode"),
            ("fields: [\n", "", "not valid YAML"),
        ],
    )
    def test_each_problem_is_located(self, text, location, problem):
        """Each kind of malformed document is reported at its location with what was expected."""
        err = _error(text)
        assert err.location == location
        assert problem in err.problem

    def test_missing_file_is_a_schema_file_error(self, tmp_path):
        """Reading a file that does not exist names the file."""
        with pytest.raises(SchemaFileError, match="cannot read the file"):
            TableSchema.load(tmp_path / "nope.yaml")

    def test_nested_duplicates_are_refused(self):
        """Case-insensitive duplicates inside nested structs are refused with their path."""
        with pytest.raises(ValueError, match=r"duplicate field name 'B' in a\.element"):
            TableSchema([Field("a", "array<struct<b:int,B:int>>")])
        with pytest.raises(ValueError, match=r"in m\.value"):
            TableSchema([Field("m", "map<string,struct<b:int,B:int>>")])


class TestAccessors:
    def test_lookup_and_strings(self):
        """Field lookup ignores case by default and the schema prints as one struct string."""
        schema = TableSchema([Field("Id", "int"), Field("name", "string")])
        assert schema.get_field("id") == Field("Id", "int")
        assert schema.get_field("id", case_sensitive=True) is None
        assert schema.field_names == ["Id", "name"]
        assert schema.simple_string() == "struct<Id:int,name:string>"
        assert yaml.safe_load(schema.to_yaml())["fields"][0]["name"] == "Id"
