import json

import pytest
from hypothesis import given
from hypothesis import strategies as st
from schema_registry_strategies import nested_schemas, replace_at, struct_locations, table_schemas

from schema_registry import (
    Compatibility,
    DriftKind,
    Field,
    PrimitiveType,
    StructType,
    TableSchema,
    detect_drift,
)


def _join(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name


class TestNoDrift:
    @given(table_schemas())
    def test_schema_against_itself(self, schema):
        """Any schema compared with itself has no drift, even with order checks on."""
        report = detect_drift(schema, schema, check_order=True, case_sensitive=True)
        assert not report.has_drift
        assert str(report) == "no schema drift"
        assert report.to_dict() == {
            "has_drift": False,
            "change_count": 0,
            "counts_by_kind": {},
            "changes": [],
        }


MUTATIONS = ["drop", "add", "retype", "nullability", "move"]


class TestSingleMutation:
    @given(nested_schemas, st.sampled_from(MUTATIONS), st.data())
    def test_reported_exactly_once_with_path_and_kind(self, schema, mutation, data):
        """Each single mutation, at any nesting level, yields exactly one change at its path."""
        prefix, fields, rebuild = data.draw(st.sampled_from(list(struct_locations(schema.fields))))
        index = data.draw(st.integers(0, len(fields) - 1))
        target = fields[index]
        path = _join(prefix, target.name)
        if mutation == "drop":
            new = tuple(f for i, f in enumerate(fields) if i != index)
            kind = DriftKind.MISSING_COLUMN
        elif mutation == "add":
            new = (*fields, Field("added_col", "string"))
            kind, path = DriftKind.EXTRA_COLUMN, _join(prefix, "added_col")
        elif mutation == "retype":
            replacement = PrimitiveType("binary")
            new = replace_at(fields, index, target.replace(type=replacement))
            kind = DriftKind.TYPE_MISMATCH
        elif mutation == "nullability":
            new = replace_at(fields, index, target.replace(nullable=not target.nullable))
            kind = DriftKind.NULLABILITY_CHANGE
        else:
            if len(fields) < 2:
                return
            moved = list(fields)
            moved.insert(0, moved.pop(len(fields) - 1 if index == 0 else index))
            new = tuple(moved)
            kind, path = DriftKind.ORDER_CHANGE, prefix
        report = detect_drift(schema, TableSchema(rebuild(new)), check_order=True)
        assert [(c.path, c.kind) for c in report.changes] == [(path, kind)]

    def test_order_is_ignored_unless_asked(self):
        """A reordering is no drift by default and one order_change with check_order."""
        a = TableSchema([Field("a", "int"), Field("b", "int"), Field("c", "int")])
        b = TableSchema([Field("c", "int"), Field("a", "int"), Field("b", "int")])
        assert not detect_drift(a, b).has_drift
        (change,) = detect_drift(a, b, check_order=True).changes
        assert (change.path, change.expected, change.actual) == ("", "a, b, c", "c, a, b")
        assert not change.is_breaking(Compatibility.FULL_TRANSITIVE)


class TestPaths:
    def test_nested_array_and_map_paths(self):
        """Struct fields, array elements and map keys/values get dotted paths."""
        expected = TableSchema(
            [
                Field("address", "struct<zip:string,city:string>"),
                Field("items", "array<struct<x:int>>"),
                Field("attrs", "map<string,struct<v:int>>"),
                Field("tags", "array<string>"),
                Field("a.b", "int"),
            ]
        )
        actual = TableSchema(
            [
                Field("address", "struct<zip:int,city:string>"),
                Field("items", "array<struct<x:bigint>>"),
                Field("attrs", "map<int,struct<v:int,w:int>>"),
                Field("tags", "array<int>"),
                Field("a.b", "string"),
            ]
        )
        report = detect_drift(expected, actual)
        assert [(c.path, c.kind.value, c.expected, c.actual) for c in report.changes] == [
            ("address.zip", "type_mismatch", "string", "int"),
            ("items.element.x", "type_mismatch", "int", "bigint"),
            ("attrs.key", "type_mismatch", "string", "int"),
            ("attrs.value.w", "extra_column", None, "int"),
            ("tags.element", "type_mismatch", "string", "int"),
            ("`a.b`", "type_mismatch", "int", "string"),
        ]

    def test_element_and_value_nullability(self):
        """Array element and map value nullability changes are reported at .element / .value."""
        from schema_registry import ArrayType, MapType

        int_t = PrimitiveType("int")
        expected = TableSchema(
            [Field("l", ArrayType(int_t, False)), Field("m", MapType(int_t, int_t, True))]
        )
        actual = TableSchema(
            [Field("l", ArrayType(int_t, True)), Field("m", MapType(int_t, int_t, False))]
        )
        changes = detect_drift(expected, actual).changes
        assert [
            (c.path, c.expected, c.actual, c.breaks_backward, c.breaks_forward) for c in changes
        ] == [
            ("l.element", "not null", "nullable", False, True),
            ("m.value", "nullable", "not null", True, False),
        ]

    def test_container_kind_change_is_one_type_mismatch(self):
        """A struct becoming an array is a single type mismatch at the field, breaking both ways."""
        report = detect_drift(
            TableSchema([Field("s", StructType((Field("a", "int"),)))]),
            TableSchema([Field("s", "array<int>")]),
        )
        (change,) = report.changes
        assert (change.path, change.breaks_backward, change.breaks_forward) == ("s", True, True)


class TestCaseSensitivity:
    def test_case_only_difference_is_not_drift_by_default(self):
        """Names match ignoring case, like Spark's default resolution."""
        a = TableSchema([Field("OrderId", "int"), Field("Address", "struct<Zip:string>")])
        b = TableSchema([Field("orderid", "int"), Field("address", "struct<zip:string>")])
        assert not detect_drift(a, b).has_drift
        kinds = sorted(c.kind.value for c in detect_drift(a, b, case_sensitive=True).changes)
        assert kinds == ["extra_column", "extra_column", "missing_column", "missing_column"]


class TestReport:
    @pytest.fixture
    def report(self):
        """A report with one change of each column-level kind."""
        expected = TableSchema(
            [
                Field("id", "int", nullable=False),
                Field("amount", "int"),
                Field("old", "string", nullable=False),
            ]
        )
        actual = TableSchema(
            [Field("id", "int"), Field("amount", "bigint"), Field("new", "string", nullable=False)]
        )
        return detect_drift(expected, actual)

    def test_breaking_changes_per_mode(self, report):
        """Each mode selects the changes that break it."""
        assert len(report) == 4
        assert [c.path for c in report.breaking_changes("BACKWARD")] == ["new"]
        assert [c.path for c in report.breaking_changes(Compatibility.FORWARD)] == [
            "id",
            "amount",
            "old",
        ]
        assert len(report.breaking_changes("FULL")) == 4
        assert not report.is_breaking("NONE")
        assert report.is_breaking("BACKWARD_TRANSITIVE")

    def test_str_is_a_table(self, report):
        """str(report) has a title, a header and one aligned line per change."""
        lines = str(report).splitlines()
        assert lines[0] == (
            "schema drift: 4 change(s) (1 nullability_change, 1 type_mismatch, "
            "1 missing_column, 1 extra_column)"
        )
        assert lines[1].split() == ["PATH", "KIND", "EXPECTED", "ACTUAL", "BREAKS"]
        assert lines[3].split() == ["amount", "type_mismatch", "int", "bigint", "forward"]
        kind_column = lines[1].index("KIND")
        # Columns are aligned: every kind starts where the KIND header does.
        assert all(
            line[kind_column:].startswith(("nullability", "type", "missing", "extra"))
            for line in lines[2:]
        )
        marked = report.format("BACKWARD").splitlines()
        assert marked[0].endswith("1 breaking under BACKWARD")
        assert marked[-1].endswith("<- breaking")

    def test_to_dict_is_json_ready(self, report):
        """to_dict gives counts and per-change verdicts that serialise to JSON."""
        data = json.loads(json.dumps(report.to_dict("FORWARD")))
        assert data["mode"] == "FORWARD"
        assert data["breaking"] is True
        assert data["counts_by_kind"] == {
            "nullability_change": 1,
            "type_mismatch": 1,
            "missing_column": 1,
            "extra_column": 1,
        }
        assert [c["breaking"] for c in data["changes"]] == [True, True, True, False]
        assert data["changes"][1]["reason"].startswith("type widened")
        assert str(report.changes[1]) == (
            "amount: type_mismatch (int -> bigint): type widened; old data reads as the new type, "
            "not the reverse"
        )

    def test_nullability_can_be_ignored(self):
        """check_nullability=False hides nullability changes (file sources read as nullable)."""
        a = TableSchema([Field("id", "int", nullable=False)])
        b = TableSchema([Field("id", "int")])
        assert not detect_drift(a, b, check_nullability=False).has_drift

    def test_accepts_model_struct(self):
        """A model StructType is accepted as a schema."""
        a = StructType((Field("id", "int"),))
        assert not detect_drift(a, TableSchema(a.fields)).has_drift
