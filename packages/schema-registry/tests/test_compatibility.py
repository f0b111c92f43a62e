"""Compatibility verdicts must match the rule tables documented in the package README."""

import itertools
import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from schema_registry_strategies import PRIMITIVE_NAMES, nested_schemas, replace_at, struct_locations

from schema_registry import (
    CharType,
    Compatibility,
    DecimalType,
    Field,
    PrimitiveType,
    TableSchema,
    VarcharType,
    check_compatibility,
    is_widening,
    parse_type,
)

README = Path(__file__).parents[1] / "README.md"


def _table(header_start: str) -> list[list[str]]:
    """Rows of the README markdown table whose header row starts with ``header_start``."""
    lines = README.read_text(encoding="utf-8").splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"| {header_start} |"))
    rows = []
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        rows.append([cell.strip() for cell in line.strip("|").split("|")])
    return rows


RULES = {
    row[0]: {"BACKWARD": row[1], "FORWARD": row[2], "FULL": row[3]}
    for row in _table("change (old -> new)")
}
WIDENINGS = {row[0]: row[1] for row in _table("from")}

# A widening and a narrowing pair per documented widening row, and unrelated pairs.
WIDEN_PAIRS = [
    ("tinyint", "bigint"),
    ("smallint", "int"),
    ("int", "bigint"),
    ("int", "double"),
    ("int", "decimal(12,2)"),
    ("bigint", "decimal(20,0)"),
    ("float", "double"),
    ("date", "timestamp_ntz"),
    ("decimal(10,2)", "decimal(12,2)"),
    ("decimal(10,2)", "decimal(11,3)"),
    ("varchar(5)", "string"),
    ("char(3)", "varchar(3)"),
    ("varchar(5)", "varchar(9)"),
]
UNRELATED_PAIRS = [
    ("int", "string"),
    ("bigint", "double"),
    ("int", "float"),
    ("date", "timestamp"),
    ("timestamp", "timestamp_ntz"),
    ("decimal(10,2)", "decimal(12,1)"),
    ("boolean", "int"),
    ("string", "binary"),
]


def _mutate(schema: TableSchema, rule: str, data: st.DataObject) -> TableSchema:
    """Apply the change a README row describes at a random nesting level."""
    locations = list(struct_locations(schema.fields))
    _, fields, rebuild = data.draw(st.sampled_from(locations))
    index = data.draw(st.integers(0, len(fields) - 1))
    target = fields[index]
    new_name = "added_col"
    if rule == "add a nullable column":
        new = (*fields, Field(new_name, "string", nullable=True))
    elif rule == "add a NOT NULL column":
        new = (*fields, Field(new_name, "string", nullable=False))
    elif rule.startswith("drop a"):
        base = replace_at(fields, index, target.replace(nullable=rule == "drop a nullable column"))
        # The drop is applied to a schema where the dropped field has the row's nullability.
        schema = TableSchema(rebuild(base))
        new = tuple(f for i, f in enumerate(base) if i != index)
    elif rule in ("widen a type", "narrow a type", "change to an unrelated type"):
        pairs = UNRELATED_PAIRS if rule == "change to an unrelated type" else WIDEN_PAIRS
        before, after = data.draw(st.sampled_from(pairs))
        if rule == "narrow a type":
            before, after = after, before
        base = replace_at(fields, index, target.replace(type=before))
        schema = TableSchema(rebuild(base))
        new = replace_at(fields, index, target.replace(type=after))
    elif rule.startswith(("loosen", "tighten")):
        loosen = rule.startswith("loosen")
        base = replace_at(fields, index, target.replace(nullable=not loosen))
        schema = TableSchema(rebuild(base))
        new = replace_at(fields, index, target.replace(nullable=loosen))
    elif rule == "reorder columns":
        new = tuple(reversed(fields))
    elif rule == "change only the case of a name":
        new = replace_at(fields, index, target.replace(name=target.name.upper()))
    else:  # pragma: no cover - a README row without a test mapping must fail loudly
        raise AssertionError(f"README rule {rule!r} has no mutation in this test")
    return schema, TableSchema(rebuild(new))


class TestDocumentedRuleTable:
    def test_readme_lists_every_rule(self):
        """The README table has the rows this test knows how to apply."""
        assert len(RULES) == 11
        assert all(v in ("yes", "no") for row in RULES.values() for v in row.values())

    @settings(max_examples=150)
    @given(nested_schemas, st.sampled_from(sorted(RULES)), st.data())
    def test_verdicts_match_the_readme(self, schema, rule, data):
        """For each documented change, BACKWARD/FORWARD/FULL verdicts equal the README's."""
        old, new = _mutate(schema, rule, data)
        for mode, verdict in RULES[rule].items():
            compatible = not check_compatibility(old, new, mode)
            assert compatible == (verdict == "yes"), (rule, mode, old, new)
            transitive = Compatibility(f"{mode}_TRANSITIVE")
            assert (not check_compatibility(old, new, transitive)) == compatible
        assert not check_compatibility(old, new, Compatibility.NONE)


def _widens_per_readme(source: str, target: str) -> bool:
    """Decide a primitive widening from the README's widening table alone."""
    for row, targets in WIDENINGS.items():
        if row == source:
            return target in [t.strip() for t in targets.split(",")]
    return False


class TestWideningTable:
    def test_primitive_widenings_are_exactly_the_documented_ones(self):
        """Across all parameterless types, is_widening agrees with the README table."""
        for source, target in itertools.product(PRIMITIVE_NAMES, repeat=2):
            expected = source == target or _widens_per_readme(source, target)
            assert is_widening(PrimitiveType(source), PrimitiveType(target)) == expected, (
                source,
                target,
            )

    @given(st.integers(1, 38), st.integers(0, 38), st.integers(1, 38), st.integers(0, 38))
    def test_decimal_widening(self, p1, s1, p2, s2):
        """decimal(p,s) widens to decimal(p+k1,s+k2) with k1 >= k2 >= 0, as the README says."""
        if s1 > p1 or s2 > p2:
            return
        k1, k2 = p2 - p1, s2 - s1
        assert is_widening(DecimalType(p1, s1), DecimalType(p2, s2)) == (k1 >= k2 >= 0)
        assert WIDENINGS["decimal(p,s)"] == "decimal(p+k1,s+k2) with k1 >= k2 >= 0"

    @given(st.sampled_from(["tinyint", "smallint", "int", "bigint"]), st.integers(1, 38), st.data())
    def test_integral_to_decimal_needs_the_integer_digits(self, source, precision, data):
        """An integral type widens to a decimal with the README's minimum integer digits."""
        scale = data.draw(st.integers(0, precision))
        minimum = int(WIDENINGS[source].rsplit(">=", 1)[1])
        widens = is_widening(PrimitiveType(source), DecimalType(precision, scale))
        assert widens == (precision - scale >= minimum)

    @given(st.integers(1, 50), st.integers(1, 50))
    def test_string_family(self, n, m):
        """Char and varchar widen to a varchar at least as long and to string, not back."""
        assert is_widening(VarcharType(n), VarcharType(m)) == (m >= n)
        assert is_widening(CharType(n), VarcharType(m)) == (m >= n)
        assert is_widening(VarcharType(n), parse_type("string"))
        assert is_widening(CharType(n), parse_type("string"))
        assert is_widening(CharType(n), CharType(m)) == (n == m)
        assert not is_widening(VarcharType(n), CharType(n))
        assert not is_widening(parse_type("string"), VarcharType(n))

    def test_readme_explains_lossy_conversions(self):
        """The README names the lossy numeric conversions that are not widenings."""
        text = README.read_text(encoding="utf-8")
        assert "`bigint -> double`" in text
        assert not is_widening(parse_type("bigint"), parse_type("double"))


class TestCompatibilityEnum:
    @pytest.mark.parametrize(
        ("mode", "backward", "forward", "transitive"),
        [
            ("NONE", False, False, False),
            ("backward", True, False, False),
            ("Forward_Transitive", False, True, True),
            ("FULL", True, True, False),
            ("FULL_TRANSITIVE", True, True, True),
        ],
    )
    def test_flags(self, mode, backward, forward, transitive):
        """Each mode parses case-insensitively and says which directions it checks."""
        parsed = Compatibility.parse(mode)
        assert (parsed.backward, parsed.forward, parsed.transitive) == (
            backward,
            forward,
            transitive,
        )

    def test_unknown_mode_lists_valid_ones(self):
        """An unknown mode name is refused with the list of modes."""
        with pytest.raises(ValueError, match="use one of NONE, BACKWARD"):
            Compatibility.parse("sideways")

    def test_names_are_confluent_names(self):
        """The modes are exactly Confluent's seven."""
        assert {m.value for m in Compatibility} == {
            "NONE",
            "BACKWARD",
            "BACKWARD_TRANSITIVE",
            "FORWARD",
            "FORWARD_TRANSITIVE",
            "FULL",
            "FULL_TRANSITIVE",
        }
        assert re.fullmatch(r"[A-Z_]+", Compatibility.FULL.value)
