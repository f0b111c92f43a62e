"""The widenings this library calls compatible are exactly those the pinned Delta Lake applies."""

import pytest

from schema_registry import is_widening, parse_type

pytestmark = pytest.mark.spark

PAIRS = [
    ("tinyint", "smallint"),
    ("tinyint", "bigint"),
    ("smallint", "int"),
    ("int", "bigint"),
    ("float", "double"),
    ("date", "timestamp_ntz"),
    ("smallint", "double"),
    ("int", "double"),
    ("tinyint", "decimal(10,0)"),
    ("int", "decimal(12,2)"),
    ("bigint", "decimal(20,0)"),
    ("decimal(10,2)", "decimal(14,2)"),
    ("decimal(10,2)", "decimal(11,3)"),
    ("char(3)", "varchar(5)"),
    ("varchar(5)", "string"),
    # Refused by Delta:
    ("tinyint", "decimal(5,0)"),
    ("bigint", "decimal(19,0)"),
    ("bigint", "double"),
    ("int", "float"),
    ("decimal(10,2)", "decimal(12,1)"),
    ("date", "timestamp"),
    ("timestamp_ntz", "timestamp"),
    ("bigint", "int"),
    ("double", "float"),
    ("int", "string"),
    ("string", "varchar(5)"),
]


class TestDeltaAgrees:
    def test_alter_column_type_matches_is_widening(self, spark, table_path):
        """ALTER COLUMN TYPE on a type-widening Delta table succeeds exactly for our widenings."""
        columns = ", ".join(f"c{i} {source}" for i, (source, _) in enumerate(PAIRS))
        spark.sql(
            f"CREATE TABLE delta.`{table_path}` ({columns}) USING delta "
            "TBLPROPERTIES ('delta.enableTypeWidening' = 'true', "
            "'delta.feature.timestampNtz' = 'supported')"
        )
        disagreements = []
        for i, (source, target) in enumerate(PAIRS):
            try:
                spark.sql(f"ALTER TABLE delta.`{table_path}` ALTER COLUMN c{i} TYPE {target}")
                delta_accepts = True
            except (
                Exception
            ) as exc:  # Delta raises AnalysisException subclasses for refused changes
                print(source, target, str(exc).splitlines()[0][:300])
                delta_accepts = False
            if delta_accepts != is_widening(parse_type(source), parse_type(target)):
                disagreements.append((source, target, delta_accepts))
        assert disagreements == [], repr(disagreements)
