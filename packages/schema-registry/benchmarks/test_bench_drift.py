"""Drift detection on a 1,000-field nested schema, against a naive path-by-path scan."""

from schema_registry import Field, StructType, TableSchema, detect_drift

GROUPS, LEAVES = 50, 20  # 50 structs of 20 fields: 1,000 leaf fields
TYPES = ["int", "bigint", "string", "double", "date"]


def _schema(mutated: bool) -> TableSchema:
    groups = []
    for g in range(GROUPS):
        leaves = []
        for i in range(LEAVES):
            type_name = TYPES[(g + i) % len(TYPES)]
            if mutated and i == 3 and g % 5 == 0:
                type_name = "binary"  # 10 type changes
            if mutated and i == 7 and g % 10 == 0:
                continue  # 5 dropped fields
            leaves.append(Field(f"f{i}", type_name, nullable=i % 3 != 0))
        if mutated and g % 10 == 5:
            leaves.append(Field("added", "string"))  # 5 added fields
        groups.append(Field(f"g{g}", StructType(tuple(leaves))))
    return TableSchema(groups)


def _flatten(fields, prefix=""):
    for f in fields:
        path = f"{prefix}.{f.name}" if prefix else f.name
        if isinstance(f.type, StructType):
            yield from _flatten(f.type.fields, path)
        else:
            yield path, f.type.simple_string(), f.nullable


def _naive(expected: TableSchema, actual: TableSchema) -> int:
    """Flatten both schemas and look every path up by a linear scan (quadratic)."""
    exp, act = list(_flatten(expected.fields)), list(_flatten(actual.fields))
    changes = 0
    for path, type_name, nullable in exp:
        match = [a for a in act if a[0].lower() == path.lower()]
        if not match:
            changes += 1
        else:
            changes += (match[0][1] != type_name) + (match[0][2] != nullable)
    exp_paths = {p.lower() for p, _, _ in exp}
    return changes + sum(p.lower() not in exp_paths for p, _, _ in act)


class TestDriftBenchmark:
    def test_drift_on_1000_field_schema(self, compare):
        """detect_drift on 1,000 nested fields finds the 20 changes, timed against a naive scan."""
        expected, actual = _schema(False), _schema(True)
        report = detect_drift(expected, actual, check_order=True)
        assert len(report.changes) == _naive(expected, actual) == 20
        compare(
            "drift_1000_fields",
            lambda: detect_drift(expected, actual, check_order=True),
            lambda: _naive(expected, actual),
            rounds=5,
        )
