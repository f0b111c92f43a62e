"""Gate configuration: actions, thresholds and the checks a schema compiles to (no Spark job)."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pandera.pyspark as pa
import pytest
from pyspark.sql import types as st

from dq_gates import (
    Action,
    Gate,
    GateCheckTypeError,
    GateConfigError,
    Threshold,
    UncompiledCheckWarning,
)
from dq_gates._compile import SUPPORTED_TYPES, CheckKind, specs_from_schema
from dq_gates._config import resolve
from dq_gates.checks import spark_check


class TestAction:
    def test_parse_is_case_insensitive(self) -> None:
        """Actions are read from strings regardless of case and surrounding spaces."""
        assert Action.parse(" Quarantine ", "here") is Action.QUARANTINE
        assert Action.parse(Action.DROP, "here") is Action.DROP

    def test_unknown_action_names_where_and_choices(self) -> None:
        """An unknown action says where it came from and lists the valid ones."""
        with pytest.raises(GateConfigError, match=r"actions\['x'\]: action 'skip' is not one of"):
            Action.parse("skip", "actions['x']")


class TestThreshold:
    def test_rows_and_fraction_limits_are_strict_upper_bounds(self) -> None:
        """A limit trips only when failing rows are more than max_rows or the fraction is over."""
        assert not Threshold(max_rows=2).exceeded(2, 10)
        assert Threshold(max_rows=2).exceeded(3, 10)
        assert not Threshold(max_fraction=0.1).exceeded(1, 10)
        assert Threshold(max_fraction=0.1).exceeded(2, 10)
        assert Threshold(max_rows=100, max_fraction=0.1).exceeded(2, 10)
        assert not Threshold(max_fraction=0.0).exceeded(0, 0)

    def test_needs_a_limit(self) -> None:
        """A threshold without any limit is rejected."""
        with pytest.raises(GateConfigError, match="needs max_rows, max_fraction or both"):
            Threshold()

    @pytest.mark.parametrize(
        ("kwargs", "message"),
        [
            ({"max_rows": -1}, "max_rows must be an integer >= 0"),
            ({"max_rows": True}, "max_rows must be an integer >= 0"),
            ({"max_fraction": 1.5}, "max_fraction must be a number between 0 and 1"),
            ({"max_fraction": "1%"}, "max_fraction must be a number between 0 and 1"),
        ],
    )
    def test_bad_limits_are_rejected(self, kwargs: dict[str, Any], message: str) -> None:
        """Negative, boolean, out-of-range or non-numeric limits are rejected with the value."""
        with pytest.raises(GateConfigError, match=message):
            Threshold(**kwargs)

    def test_parse_accepts_mappings_and_rejects_other_shapes(self) -> None:
        """Thresholds come from mappings with known keys only."""
        assert Threshold.parse({"max_rows": 3}, "t") == Threshold(max_rows=3)
        with pytest.raises(GateConfigError, match=r"t: unknown threshold key\(s\) \['rows'\]"):
            Threshold.parse({"rows": 3}, "t")
        with pytest.raises(GateConfigError, match="t: expected a mapping"):
            Threshold.parse(3, "t")
        with pytest.raises(GateConfigError, match="t: max_rows must be"):
            Threshold.parse({"max_rows": -3}, "t")

    def test_describe_and_to_dict(self) -> None:
        """A threshold renders as short text and as a JSON-ready mapping."""
        t = Threshold(max_rows=10, max_fraction=0.01)
        assert t.describe() == "max 10 rows / max 1.00%"
        assert t.to_dict() == {"max_rows": 10, "max_fraction": 0.01}


class TestResolve:
    def test_column_check_key_wins_over_column_key(self) -> None:
        """``column.check`` is looked up before ``column``."""
        mapping = {"amount": "warn", "amount.ge": "drop"}
        assert resolve(mapping, "amount", "ge") == "drop"
        assert resolve(mapping, "amount", "le") == "warn"
        assert resolve(mapping, None, "custom") is None


class TestSchemaCompilation:
    def test_checks_are_named_column_dot_check_in_declaration_order(self, schema: Any) -> None:
        """Not-null comes from nullable=False, uniqueness from unique=, then value checks."""
        gate = Gate("g", schema)
        assert gate.check_names == [
            "order_id.not_null",
            "customer_id.not_null",
            "customer_id.greater_than",
            "amount.greater_than_or_equal_to",
            "amount.less_than_or_equal_to",
            "status.not_null",
            "status.isin",
            "order_ts.not_in_future",
            "country.str_length",
            "order_id.unique",
        ]

    def test_model_config_unique_is_read(self) -> None:
        """A DataFrameModel's Config.unique becomes a uniqueness check."""

        class Model(pa.DataFrameModel):
            a: st.LongType() = pa.Field(nullable=True)  # type: ignore[valid-type]
            b: st.LongType() = pa.Field(nullable=True)  # type: ignore[valid-type]

            class Config:
                unique = ["a", "b"]  # noqa: RUF012 - pandera reads a plain class attribute

        assert Gate("g", Model).check_names == ["a,b.unique"]

    def test_same_check_twice_gets_a_numbered_name(self) -> None:
        """Two checks of the same kind on one column get distinct names."""
        schema = pa.DataFrameSchema(
            {"s": pa.Column(st.StringType(), [pa.Check.str_length(1), pa.Check.str_length(2)])}
        )
        assert Gate("g", schema).check_names[1:] == ["s.str_length", "s.str_length_2"]

    def test_custom_name_is_kept(self) -> None:
        """A user-supplied check name is the result name, and it still compiles."""
        schema = pa.DataFrameSchema(
            {"a": pa.Column(st.LongType(), pa.Check.ge(0, name="non_negative"), nullable=True)}
        )
        (spec,) = specs_from_schema("g", schema)
        assert spec.name == "a.non_negative"
        assert spec.kind is CheckKind.ROW
        assert spec.builtin == "greater_than_or_equal_to"

    def test_vectorized_custom_check_warns_and_goes_to_pandera(self) -> None:
        """A custom check that is not element-wise warns, naming it, and runs through pandera."""
        schema = pa.DataFrameSchema(
            {
                "a": pa.Column(
                    st.LongType(), pa.Check(lambda df: True, name="my_rule"), nullable=True
                )
            }
        )
        with pytest.warns(UncompiledCheckWarning, match=r"check 'my_rule' on column 'a'.*pandera"):
            specs = specs_from_schema("g", schema)
        assert specs[0].kind is CheckKind.PANDERA

    def test_element_wise_custom_check_warns_and_becomes_a_udf(self) -> None:
        """An element-wise check warns, naming it, and runs as a Python UDF in the pass."""
        schema = pa.DataFrameSchema(
            {
                "a": pa.Column(
                    st.LongType(),
                    pa.Check(lambda x: x % 2 == 0, element_wise=True, name="even"),
                    nullable=True,
                )
            }
        )
        with pytest.warns(UncompiledCheckWarning, match=r"check 'even' on column 'a'.*UDF"):
            (spec,) = specs_from_schema("g", schema)
        assert (spec.kind, spec.builtin) == (CheckKind.ROW, "udf")

    def test_regex_columns_are_rejected(self) -> None:
        """Regex column names cannot be compiled to literal columns and are refused."""
        schema = pa.DataFrameSchema({"a_.*": pa.Column(st.LongType(), regex=True)})
        with pytest.raises(GateConfigError, match="regex column"):
            Gate("g", schema)


class TestGateConfiguration:
    def test_schema_must_be_a_pandera_schema(self) -> None:
        """Anything but a DataFrameSchema or DataFrameModel is refused."""
        with pytest.raises(GateConfigError, match="got dict"):
            Gate("g", {"a": 1})

    def test_unknown_action_key_lists_known_names(self, schema: Any) -> None:
        """A typo in an actions key is caught at construction, with the names that exist."""
        with pytest.raises(GateConfigError, match=r"actions key\(s\) \['amont'\] name no check"):
            Gate("g", schema, actions={"amont": "warn"})

    def test_unknown_threshold_key_is_rejected_but_star_is_allowed(self, schema: Any) -> None:
        """Threshold keys must name a check or column; ``*`` is the gate-wide limit."""
        Gate("g", schema, thresholds={"*": {"max_rows": 1}})
        with pytest.raises(GateConfigError, match=re.escape("thresholds key(s) ['nope']")):
            Gate("g", schema, thresholds={"nope": {"max_rows": 1}})

    def test_pandera_evaluated_check_cannot_drop_or_quarantine(self) -> None:
        """A check without row flags cannot remove rows, and the error says what to do."""
        schema = pa.DataFrameSchema(
            {"a": pa.Column(st.LongType(), pa.Check(lambda df: True, name="rule"), nullable=True)}
        )
        with (
            pytest.warns(UncompiledCheckWarning),
            pytest.raises(GateConfigError, match=r"cannot quarantine rows.*'warn' or 'fail'"),
        ):
            Gate("g", schema, default_action="quarantine")

    def test_bad_default_action(self, schema: Any) -> None:
        """An unknown default action is rejected with the gate name."""
        with pytest.raises(GateConfigError, match="gate 'g': default_action"):
            Gate("g", schema, default_action="explode")


class TestRaiseWarning:
    def test_raise_warning_check_takes_the_warn_action(self) -> None:
        """A raise_warning=True check is downgraded to warn, as pandera does."""
        schema = pa.DataFrameSchema(
            {"a": pa.Column(st.LongType(), [pa.Check.gt(0, raise_warning=True), pa.Check.lt(9)])}
        )
        actions = Gate("g", schema).check_actions
        assert actions["a.greater_than"] is Action.WARN
        assert actions["a.less_than"] is Action.FAIL
        assert actions["a.not_null"] is Action.FAIL

    def test_explicit_action_entry_wins_over_raise_warning(self) -> None:
        """An actions entry for the check (or its column) beats raise_warning."""
        check = pa.Check.gt(0, raise_warning=True)
        schema = pa.DataFrameSchema({"a": pa.Column(st.LongType(), check, nullable=True)})
        by_check = Gate("g", schema, actions={"a.greater_than": "quarantine"}).check_actions
        assert by_check["a.greater_than"] is Action.QUARANTINE
        by_column = Gate("g", schema, actions={"a": "fail"}).check_actions
        assert by_column["a.greater_than"] is Action.FAIL

    def test_raise_warning_applies_to_uncompiled_checks(self) -> None:
        """A custom check pandera evaluates also warns instead of failing."""
        rule = pa.Check(lambda df: True, name="rule", raise_warning=True)
        with pytest.warns(UncompiledCheckWarning):
            gate = Gate("g", pa.DataFrameSchema(checks=[rule]))
        assert gate.check_actions["rule"] is Action.WARN


class TestCheckColumnTypes:
    @pytest.mark.parametrize(
        ("dtype", "check", "name", "shown"),
        [
            (st.LongType(), pa.Check.str_startswith("1"), "str_startswith", "bigint"),
            (st.IntegerType(), pa.Check.str_length(1, 2), "str_length", "int"),
            (st.StringType(), pa.Check.gt(5), "greater_than", "string"),
            (st.StringType(), pa.Check.in_range(1, 5), "in_range", "string"),
            (st.BooleanType(), pa.Check.in_range(0, 1), "in_range", "boolean"),
            (st.BooleanType(), pa.Check.isin([True]), "isin", "boolean"),
            (st.BinaryType(), pa.Check.le(3), "less_than_or_equal_to", "binary"),
            (st.DateType(), pa.Check.str_matches("2"), "str_matches", "date"),
        ],
    )
    def test_unsupported_column_type_is_refused_when_the_gate_is_built(
        self, dtype: st.DataType, check: Any, name: str, shown: str
    ) -> None:
        """A built-in on a declared column type pandera refuses is a typed error at build."""
        schema = pa.DataFrameSchema({"v": pa.Column(dtype, check, nullable=True)})
        with pytest.raises(GateCheckTypeError) as info:
            Gate("g", schema)
        (problem,) = info.value.problems
        assert (problem.column, problem.check, problem.dtype) == ("v", name, shown)
        assert problem.supported == SUPPORTED_TYPES[name]
        message = str(info.value)
        assert f"check {name!r} on column 'v' of type {shown}" in message
        assert ", ".join(SUPPORTED_TYPES[name]) in message
        assert isinstance(info.value, GateConfigError)

    def test_every_problem_is_listed(self) -> None:
        """Two refused checks on two columns are reported together."""
        schema = pa.DataFrameSchema(
            {
                "n": pa.Column(st.LongType(), pa.Check.str_endswith("x")),
                "s": pa.Column(st.StringType(), [pa.Check.isin(["a"]), pa.Check.lt(3)]),
            }
        )
        with pytest.raises(GateCheckTypeError) as info:
            Gate("g", schema)
        assert [(p.column, p.check) for p in info.value.problems] == [
            ("n", "str_endswith"),
            ("s", "less_than"),
        ]

    @pytest.mark.parametrize(
        ("dtype", "check"),
        [
            (st.DecimalType(12, 2), pa.Check.ge(0)),
            (st.ByteType(), pa.Check.in_range(0, 3)),
            (st.BooleanType(), pa.Check.eq(True)),
            (st.DateType(), pa.Check.isin([dt.date(2024, 1, 1)])),
            (st.TimestampType(), pa.Check.lt(dt.datetime(2030, 1, 1))),
            (st.BinaryType(), pa.Check.notin([b"x"])),
        ],
    )
    def test_supported_types_are_accepted(self, dtype: st.DataType, check: Any) -> None:
        """Types pandera accepts (any decimal precision, dates, binary) build fine."""
        Gate("g", pa.DataFrameSchema({"v": pa.Column(dtype, check, nullable=True)}))

    def test_custom_checks_have_no_type_rule(self) -> None:
        """spark_check and not_in_future are the user's own predicates: not type-checked."""
        even = spark_check("even", lambda c: c % 2 == 0)
        schema = pa.DataFrameSchema({"v": pa.Column(st.StringType(), even, nullable=True)})
        assert Gate("g", schema).check_names == ["v.even"]
