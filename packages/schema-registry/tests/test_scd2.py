from datetime import date, datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from schema_registry import Field, Scd2Rule, TableSchema, validate_scd2, validate_scd2_schema
from schema_registry.errors import Scd2SchemaError, Scd2ValidationError

pytestmark = pytest.mark.spark

COLUMNS = "id string, valid_from date, valid_to date, is_current boolean, name string"
D = date


def _history(spark, rows):
    return spark.createDataFrame(rows, COLUMNS)


GOOD = [
    ("a", D(2024, 1, 1), D(2024, 2, 1), False, "x"),
    ("a", D(2024, 2, 1), None, True, "y"),
    ("b", D(2024, 1, 5), None, True, "z"),
]


def _only(report, rule):
    """Assert that ``rule`` is the only violated rule and return its count."""
    violated = {r for r, n in report.violations.items() if n}
    assert violated == {rule}, report
    return report.violations[rule]


class TestValidHistory:
    def test_clean_history_passes(self, spark):
        """A well-formed history has no violations and reports rows and keys."""
        report = validate_scd2(_history(spark, GOOD), ["id"])
        assert report.is_valid
        assert (report.rows, report.keys) == (3, 2)
        assert report.samples == {}
        assert str(report).startswith("SCD2 history valid: 3 rows, 2 keys")
        report.raise_for_violations()
        assert report.to_dict()["violations"] == dict.fromkeys([r.value for r in Scd2Rule], 0)


class TestEachDefect:
    @pytest.mark.parametrize(
        ("rows", "rule", "count", "sample"),
        [
            (
                [*GOOD, (None, D(2024, 1, 1), None, True, "n")],
                Scd2Rule.NULL_KEY,
                1,
                {"id": None, "valid_from": D(2024, 1, 1)},
            ),
            (
                # 'a' has no current row (its last version is closed and not flagged).
                [("a", D(2024, 1, 1), D(2024, 2, 1), False, "x"), GOOD[2]],
                Scd2Rule.CURRENT_ROW_COUNT,
                1,
                {"id": "a"},
            ),
            (
                # 'a' is closed but flagged current: one current row, but not open.
                [("a", D(2024, 1, 1), D(2024, 2, 1), True, "x"), GOOD[2]],
                Scd2Rule.CURRENT_ROW_NOT_OPEN,
                1,
                {"id": "a", "valid_from": D(2024, 1, 1)},
            ),
            (
                [
                    ("a", D(2024, 1, 1), D(2024, 3, 1), False, "x"),
                    ("a", D(2024, 2, 1), None, True, "y"),
                    GOOD[2],
                ],
                Scd2Rule.OVERLAP,
                1,
                {"id": "a", "valid_from": D(2024, 1, 1)},
            ),
            (
                [
                    ("a", D(2024, 1, 1), D(2024, 1, 20), False, "x"),
                    ("a", D(2024, 2, 1), None, True, "y"),
                    GOOD[2],
                ],
                Scd2Rule.GAP,
                1,
                {"id": "a", "valid_from": D(2024, 1, 1)},
            ),
        ],
    )
    def test_single_defect_is_counted_with_a_sample(self, spark, rows, rule, count, sample):
        """Each hand-built defect is reported under its own rule only, with the offending key."""
        report = validate_scd2(_history(spark, rows), ["id"])
        assert _only(report, rule) == count
        assert report.samples[rule] == [sample]
        assert not report.is_valid
        with pytest.raises(Scd2ValidationError, match=rule.value):
            report.raise_for_violations()

    def test_two_current_rows(self, spark):
        """A key with two current rows is one current_row_count violation (plus the overlap)."""
        rows = [
            ("a", D(2024, 1, 1), None, True, "x"),
            ("a", D(2024, 2, 1), None, True, "y"),
            GOOD[2],
        ]
        report = validate_scd2(_history(spark, rows), ["id"])
        assert report.violations[Scd2Rule.CURRENT_ROW_COUNT] == 1
        # The first open row is followed by another version: an overlap, not a gap.
        assert report.violations[Scd2Rule.OVERLAP] == 1
        assert report.violations[Scd2Rule.GAP] == 0

    def test_inverted_and_null_intervals(self, spark):
        """valid_from after valid_to, equal to it, or NULL is an invalid interval."""
        rows = [
            ("a", D(2024, 3, 1), D(2024, 2, 1), False, "x"),
            ("b", D(2024, 2, 1), D(2024, 2, 1), False, "x"),
            ("c", None, None, True, "x"),
        ]
        report = validate_scd2(_history(spark, rows), ["id"])
        assert report.violations[Scd2Rule.INVALID_INTERVAL] == 3
        assert sorted(s["id"] for s in report.samples[Scd2Rule.INVALID_INTERVAL]) == ["a", "b", "c"]
        text = str(report)
        assert "invalid_interval" in text
        assert "e.g. id=" in text


class TestOptions:
    def test_sentinel_and_derived_current(self, spark):
        """With open_end and is_current=None, the sentinel row is the current one."""
        end = datetime(9999, 12, 31)
        df = spark.createDataFrame(
            [
                ("k1", 1, datetime(2024, 1, 1), datetime(2024, 2, 1)),
                ("k1", 1, datetime(2024, 2, 1), end),
                ("k1", 2, datetime(2024, 1, 1), end),
                ("k2", 2, datetime(2024, 1, 1), datetime(2024, 3, 1)),
            ],
            "k string, region int, start timestamp, stop timestamp",
        )
        report = validate_scd2(
            df, ["k", "region"], valid_from="start", valid_to="stop", is_current=None, open_end=end
        )
        assert Scd2Rule.CURRENT_ROW_NOT_OPEN not in report.violations
        assert _only(report, Scd2Rule.CURRENT_ROW_COUNT) == 1
        assert report.samples[Scd2Rule.CURRENT_ROW_COUNT] == [{"k": "k2", "region": 2}]
        assert report.keys == 3

    def test_sample_size_limits_samples(self, spark):
        """No more than sample_size samples are kept per rule."""
        rows = [(str(i), D(2024, 1, 1), D(2024, 2, 1), False, "x") for i in range(10)]
        report = validate_scd2(_history(spark, rows), ["id"], sample_size=3)
        assert report.violations[Scd2Rule.CURRENT_ROW_COUNT] == 10
        assert len(report.samples[Scd2Rule.CURRENT_ROW_COUNT]) == 3
        assert validate_scd2(_history(spark, rows), ["id"], sample_size=0).samples == {}


def _naive_counts(rows):
    """Reference implementation of the rules in plain Python over (id, from, to, current)."""
    counts = dict.fromkeys(Scd2Rule, 0)
    by_key = {}
    for row in rows:
        if row[0] is None:
            counts[Scd2Rule.NULL_KEY] += 1
        else:
            by_key.setdefault(row[0], []).append(row)
    for versions in by_key.values():
        versions.sort(key=lambda r: (r[1], r[2] is None, r[2]))
        counts[Scd2Rule.CURRENT_ROW_COUNT] += sum(r[3] for r in versions) != 1
        for i, (_, start, end, current) in enumerate(versions):
            counts[Scd2Rule.CURRENT_ROW_NOT_OPEN] += current != (end is None)
            counts[Scd2Rule.INVALID_INTERVAL] += end is not None and start >= end
            if i + 1 < len(versions):
                nxt = versions[i + 1][1]
                counts[Scd2Rule.OVERLAP] += end is None or nxt < end
                counts[Scd2Rule.GAP] += end is not None and nxt > end
    return counts


day = st.integers(1, 6).map(lambda d: D(2024, 1, d))
history_rows = st.lists(
    st.tuples(st.sampled_from(["a", "b", None]), day, st.none() | day, st.booleans()),
    max_size=8,
    unique_by=lambda r: (r[0], r[1], r[2]),
)


class TestAgainstReference:
    @settings(
        max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
    )
    @given(history_rows)
    def test_counts_match_a_naive_reference(self, spark, rows):
        """Counts per rule equal a plain-Python reference on random small histories."""
        df = spark.createDataFrame(
            rows, "id string, valid_from date, valid_to date, is_current boolean"
        )
        report = validate_scd2(df, ["id"])
        assert dict(report.violations) == _naive_counts(rows)
        assert report.rows == len(rows)


key_sets = st.lists(st.sampled_from(["a", "b", "c", None]), max_size=4)


class TestOnlyKeys:
    @settings(
        max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
    )
    @given(history_rows, key_sets, st.booleans())
    def test_scoped_counts_equal_the_reference_restricted_to_the_keys(
        self, spark, rows, chosen, as_frame
    ):
        """Scoped to a key set (values or a DataFrame), counts equal the reference on those keys."""
        df = spark.createDataFrame(
            rows, "id string, valid_from date, valid_to date, is_current boolean"
        )
        scope = spark.createDataFrame([(k, 1) for k in chosen], "id string, extra int")
        report = validate_scd2(df, ["id"], only_keys=scope if as_frame else chosen)
        kept = [r for r in rows if r[0] in set(chosen)]
        assert dict(report.violations) == _naive_counts(kept)
        assert report.rows == len(kept)
        assert report.keys == len({r[0] for r in kept if r[0] is not None})

    def test_other_keys_defects_are_not_reported(self, spark):
        """A defect outside the key set is not seen; the same defect inside it is, with a sample."""
        rows = [*GOOD, ("c", D(2024, 1, 1), D(2024, 2, 1), False, "no current row")]
        df = _history(spark, rows)
        assert validate_scd2(df, ["id"], only_keys=["a", "b"]).is_valid
        scoped = validate_scd2(df, ["id"], only_keys=df.filter("id = 'c'").select("id"))
        assert _only(scoped, Scd2Rule.CURRENT_ROW_COUNT) == 1
        assert scoped.samples[Scd2Rule.CURRENT_ROW_COUNT] == [{"id": "c"}]
        assert (scoped.rows, scoped.keys) == (1, 1)

    def test_multi_column_keys_take_tuples(self, spark):
        """With several key columns the key set holds tuples in key order."""
        df = spark.createDataFrame(
            [
                ("k1", 1, D(2024, 1, 1), None, True),
                ("k1", 2, D(2024, 1, 1), D(2024, 2, 1), False),
                ("k2", 1, D(2024, 1, 1), None, True),
            ],
            "k string, region int, valid_from date, valid_to date, is_current boolean",
        )
        assert validate_scd2(df, ["k", "region"], only_keys=[("k1", 1), ["k2", 1]]).is_valid
        report = validate_scd2(df, ["k", "region"], only_keys=[("k1", 2)])
        assert _only(report, Scd2Rule.CURRENT_ROW_COUNT) == 1
        assert report.samples[Scd2Rule.CURRENT_ROW_COUNT] == [{"k": "k1", "region": 2}]

    def test_empty_key_set_checks_nothing(self, spark):
        """An empty key set checks no row and finds nothing."""
        report = validate_scd2(_history(spark, GOOD), ["id"], only_keys=[])
        assert report.is_valid
        assert (report.rows, report.keys) == (0, 0)

    def test_bad_key_sets_are_refused(self, spark):
        """A key DataFrame without the key columns, or a value of the wrong arity, is an error."""
        df = _history(spark, GOOD)
        with pytest.raises(ValueError, match=r"only_keys has no column 'id' \(it has name\)"):
            validate_scd2(df, ["id"], only_keys=df.select("name"))
        with pytest.raises(ValueError, match=r"only_keys value \('a', 1\) does not match"):
            validate_scd2(df, ["id"], only_keys=[("a", 1)])


class TestSchemaValidation:
    def test_valid_schema_passes(self):
        """A history schema with the default columns passes."""
        schema = TableSchema(
            [
                Field("id", "int"),
                Field("valid_from", "timestamp"),
                Field("valid_to", "timestamp"),
                Field("is_current", "boolean"),
            ]
        )
        validate_scd2_schema(schema, ["id"])

    def test_lists_every_problem(self):
        """Missing, mistyped and conflicting history columns are all listed at once."""
        schema = TableSchema(
            [
                Field("attrs", "map<string,int>"),
                Field("valid_from", "date"),
                Field("valid_to", "timestamp"),
                Field("is_current", "int"),
                Field("ts", "string"),
            ]
        )
        with pytest.raises(Scd2SchemaError) as info:
            validate_scd2_schema(schema, ["id", "attrs", "ts"], valid_from="ts")
        problems = info.value.problems
        assert problems == [
            "business key column 'id' is missing "
            "(columns: attrs, valid_from, valid_to, is_current, ts)",
            "business key column 'attrs' is map<string,int>; map columns cannot be grouped by",
            "valid_from column 'ts' is also a business key; "
            "keys identify the entity, not the version",
            "valid_from column 'ts' is string; expected one of date, timestamp, timestamp_ntz",
            "current-flag column 'is_current' is int; expected boolean",
        ]

    def test_missing_history_columns_and_type_mix(self):
        """Missing columns suggest the option to rename them; mixed time types are refused."""
        schema = TableSchema(
            [Field("id", "int"), Field("valid_from", "date"), Field("valid_to", "timestamp")]
        )
        with pytest.raises(Scd2SchemaError) as info:
            validate_scd2_schema(schema, [], valid_to="valid_to")
        assert info.value.problems == [
            "no business key columns given: pass keys=[...] naming at least one",
            "valid_from is date but valid_to is timestamp; use the same type for both",
            "current-flag column 'is_current' is missing (columns: id, valid_from, valid_to); pass "
            "is_current=None if the table derives the current row from valid_to",
        ]
        with pytest.raises(Scd2SchemaError, match="pass valid_to='<column>'"):
            validate_scd2_schema(
                TableSchema([Field("id", "int"), Field("valid_from", "date")]),
                ["id"],
                is_current=None,
            )

    def test_data_validation_checks_the_schema_first(self, spark):
        """validate_scd2 refuses a DataFrame without history columns before reading data."""
        with pytest.raises(Scd2SchemaError, match="valid_from column 'valid_from' is missing"):
            validate_scd2(spark.createDataFrame([(1,)], "id int"), ["id"])
