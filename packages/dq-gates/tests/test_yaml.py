"""Gate.from_yaml / Gate.from_dict: the YAML format and its error messages."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from pyspark.sql import SparkSession
from pyspark.sql import types as st

from dq_gates import (
    Action,
    Gate,
    GateConfigError,
    MemoryHistory,
    RelativeChange,
    ResultsHistory,
    SameWeekday,
    StdDevBand,
    Threshold,
    ValueSetChange,
    Verdict,
)
from dq_gates._compile import COMPILED_CHECKS

from .conftest import ORDER_COLUMNS, order

ORDERS_YAML = """
name: orders_bronze_to_silver
default_action: quarantine
columns:
  order_id: {dtype: bigint}
  customer_id:
    dtype: long
    checks:
      - gt: 0
  amount:
    dtype: double
    nullable: true
    checks:
      - ge: 0
      - less_than_or_equal_to: 1000000
  status:
    dtype: string
    checks:
      - isin: [NEW, PAID, SHIPPED, CANCELLED]
  order_ts:
    dtype: timestamp
    nullable: true
    checks: [not_in_future]
  country:
    dtype: string
    nullable: true
    checks:
      - str_length: [2, 2]
unique: [order_id]
actions:
  order_id.unique: fail
  status: drop
thresholds:
  amount: {max_fraction: 0.01}
  "*": {max_rows: 1000}
"""


ALIASES = ["eq", "ne", "gt", "ge", "lt", "le", "between"]


def write(tmp_path: Path, text: str) -> Path:
    """Write a YAML file and return its path."""
    path = tmp_path / "gate.yaml"
    path.write_text(text, encoding="utf-8")
    return path


class TestFromYaml:
    def test_full_example_builds_the_ten_check_gate(self, tmp_path: Path) -> None:
        """The README's YAML builds every check with its action and threshold."""
        gate = Gate.from_yaml(write(tmp_path, ORDERS_YAML))
        assert gate.name == "orders_bronze_to_silver"
        assert len(gate.check_names) == 10
        assert gate.default_action is Action.QUARANTINE
        assert gate.actions == {"order_id.unique": Action.FAIL, "status": Action.DROP}
        assert gate.thresholds["amount"] == Threshold(max_fraction=0.01)
        assert gate.thresholds["*"] == Threshold(max_rows=1000)
        assert gate.schema.columns["order_id"].dtype.type == st.LongType()
        assert gate.schema.columns["amount"].nullable

    @pytest.mark.spark
    def test_yaml_gate_runs(self, spark: SparkSession, tmp_path: Path) -> None:
        """A gate from YAML checks data like one from code: drop, quarantine, counts."""
        gate = Gate.from_yaml(write(tmp_path, ORDERS_YAML))
        df = spark.createDataFrame(
            [order(1), order(2, status="LOST"), order(3, country="USA")], ORDER_COLUMNS
        )
        with gate.run(df) as result:
            assert result.verdict == Verdict.WARNED
            assert (result.rows_valid, result.rows_dropped, result.rows_quarantined) == (1, 1, 1)

    def test_decimal_and_other_dtypes(self) -> None:
        """SQL type names, decimal(p,s) included, map to Spark types."""
        gate = Gate.from_dict(
            {
                "name": "g",
                "columns": {
                    "d": {"dtype": "decimal(10, 2)"},
                    "i": {"dtype": "INT", "required": False},
                    "t": {"dtype": "date", "checks": [{"ge": dt.date(2020, 1, 1)}]},
                    "r": {"checks": [{"in_range": {"min_value": 0, "max_value": 1}}]},
                },
            }
        )
        columns = gate.schema.columns
        assert columns["d"].dtype.type == st.DecimalType(10, 2)
        assert columns["i"].dtype.type == st.IntegerType()
        assert not columns["i"].required
        assert columns["r"].dtype is None


class TestYamlErrors:
    @pytest.mark.parametrize(
        ("text", "message"),
        [
            ("name: g\n", "missing required key 'columns'"),
            ("columns: {a: {}}\n", "missing required key 'name'"),
            ("name: ''\ncolumns: {}\n", "'name' must be a non-empty string"),
            ("name: g\ncolumns: {}\nextra: 1\n", r"unknown key\(s\) \['extra'\]"),
            ("name: g\ncolumns: [a]\n", "columns: expected a mapping, got list"),
            ("name: g\ncolumns: {a: {type: long}}\n", r"columns.a: unknown key\(s\) \['type'\]"),
            ("name: g\ncolumns: {a: {dtype: money}}\n", "columns.a.dtype: unknown dtype 'money'"),
            ("name: g\ncolumns: {a: {nullable: 'yes'}}\n", "columns.a.nullable: expected true"),
            ("name: g\ncolumns: {a: {checks: ge}}\n", "columns.a.checks: expected a list"),
            ("name: g\ncolumns: {a: {checks: [huge]}}\n", r"checks\[0\]: unknown check 'huge'"),
            ("name: g\ncolumns: {a: {checks: [{ge: 1, le: 2}]}}\n", "one-key mapping"),
            ("name: g\ncolumns: {a: {checks: [{in_range: {low: 1}}]}}\n", "rejects arguments"),
            ("name: g\ncolumns: {a: {checks: [{not_in_future: 3}]}}\n", "takes no arguments"),
            ("name: g\ncolumns: {a: {}}\nunique: 3\n", "unique: expected a column name"),
            ("name: g\ncolumns: {a: {}}\nactions: {b: warn}\n", r"actions key\(s\) \['b'\]"),
            ("name: g\ncolumns: {a: {}}\nactions: {a: skip}\n", "action 'skip'"),
            ("name: g\ncolumns: {a: {}}\nthresholds: {a: 5}\n", "expected a mapping"),
            ("name: g\ncolumns: {a: {}}\ndefault_action: maybe\n", "default_action"),
            ("- just\n- a list\n", "expected a mapping, got list"),
            ("name: [unclosed\n", "not valid YAML"),
        ],
    )
    def test_errors_name_file_key_and_expectation(
        self, tmp_path: Path, text: str, message: str
    ) -> None:
        """Each mistake is reported with the file path, the key and what is expected."""
        path = write(tmp_path, text)
        with pytest.raises(GateConfigError, match=message) as info:
            Gate.from_yaml(path)
        assert str(path) in str(info.value)

    def test_missing_file(self, tmp_path: Path) -> None:
        """A missing file is a configuration error naming the path."""
        with pytest.raises(GateConfigError, match="cannot read gate configuration"):
            Gate.from_yaml(tmp_path / "absent.yaml")

    def test_empty_file_needs_keys(self, tmp_path: Path) -> None:
        """An empty file is reported as lacking the required keys."""
        with pytest.raises(GateConfigError, match="missing required key"):
            Gate.from_yaml(write(tmp_path, ""))

    def test_from_dict_names_its_source(self) -> None:
        """from_dict errors use the given source label."""
        config: dict[str, Any] = {"name": "g"}
        with pytest.raises(GateConfigError, match=r"^app\.toml: missing required key"):
            Gate.from_dict(config, source="app.toml")


class TestYamlTypes:
    @pytest.mark.parametrize(
        ("text", "message"),
        [
            ("name: g\ncolumns: {a: {}}\nstrict: 'false'\n", "strict: expected true or false"),
            ("name: g\ncolumns: {a: {}}\nstrict: 0\n", "strict: expected true or false, got 0"),
            ("name: g\ncolumns: {a: {required: 'no'}}\n", "columns.a.required: expected true"),
            ("name: g\ncolumns: {a: {dtype: 5}}\n", "columns.a.dtype: expected a string"),
            ("name: 7\ncolumns: {a: {}}\n", "'name' must be a non-empty string, got 7"),
            ("name: g\ncolumns: {a: {}}\ndefault_action: 1\n", "default_action: expected a string"),
            (
                "name: g\ncolumns: {a: {}}\nthresholds: {a: {max_rows: '5'}}\n",
                "thresholds.a.max_rows: expected an integer, got '5'",
            ),
            (
                "name: g\ncolumns: {a: {}}\nthresholds: {a: {max_rows: true}}\n",
                "thresholds.a.max_rows: expected an integer, got True",
            ),
            (
                "name: g\ncolumns: {a: {}}\nthresholds: {a: {max_rows: -1}}\n",
                "thresholds.a.max_rows: must be >= 0, got -1",
            ),
            (
                "name: g\ncolumns: {a: {}}\nthresholds: {a: {max_fraction: '1%'}}\n",
                "thresholds.a.max_fraction: must be a number between 0 and 1",
            ),
            (
                "name: g\ncolumns: {a: {}}\nthresholds: {a: {}}\n",
                "thresholds.a: a threshold needs max_rows, max_fraction or both",
            ),
            (
                "name: g\ncolumns: {a: {}}\nthresholds: {a: {max_rows: 1, rows: 2}}\n",
                r"thresholds.a: unknown key\(s\) \['rows'\]; "
                r"allowed: \['max_fraction', 'max_rows'\]",
            ),
            ("name: g\ncolumns: {a: {}}\nactions: {a: [warn]}\n", "actions.a: expected a string"),
        ],
    )
    def test_every_key_has_a_type(self, tmp_path: Path, text: str, message: str) -> None:
        """A value of the wrong type is refused, naming its key path and what was given."""
        with pytest.raises(GateConfigError, match=message):
            Gate.from_yaml(write(tmp_path, text))

    def test_strict_false_string_is_not_true(self, tmp_path: Path) -> None:
        """strict: "false" used to be read as true (a non-empty string); now it is refused."""
        with pytest.raises(GateConfigError, match=r"strict: expected true or false, got 'false'"):
            Gate.from_yaml(write(tmp_path, "name: g\ncolumns: {a: {}}\nstrict: 'false'\n"))
        gate = Gate.from_yaml(write(tmp_path, "name: g\ncolumns: {a: {}}\nstrict: false\n"))
        assert gate.schema.strict is False

    def test_all_problems_are_reported_at_once(self, tmp_path: Path) -> None:
        """Every problem of a file is listed in one error, each with its key path."""
        text = """
name: g
strict: "false"
columns:
  a: {nullable: "yes", checks: [huge, {gt: 1}]}
  b: {dtype: money, colour: red}
thresholds:
  a: {max_rows: -1}
actions:
  a: skip
extra: 1
"""
        path = write(tmp_path, text)
        with pytest.raises(GateConfigError) as info:
            Gate.from_yaml(path)
        lines = str(info.value).splitlines()
        assert lines[0] == f"{path}: 8 problems in the gate configuration:"
        assert sorted(lines[1:]) == sorted(
            [
                "  - strict: expected true or false, got 'false'",
                "  - columns.a.nullable: expected true or false, got 'yes'",
                "  - columns.a.checks[0]: unknown check 'huge'; expected one of "
                + str(sorted([*COMPILED_CHECKS, *ALIASES, "not_in_future"])),
                "  - columns.b.dtype: unknown dtype 'money'; expected one of "
                "['bigint', 'binary', 'boolean', 'byte', 'date', 'double', 'float', 'int', "
                "'integer', 'long', 'short', 'smallint', 'string', 'timestamp', "
                "'timestamp_ntz', 'tinyint'] or decimal(p,s)",
                "  - thresholds.a.max_rows: must be >= 0, got -1",
                "  - actions.a: action 'skip' is not one of: warn, drop, quarantine, fail",
                "  - columns.b: unknown key(s) ['colour']; allowed: ['checks', 'dtype', "
                "'nullable', 'required']",
                "  - unknown key(s) ['extra']; allowed: ['actions', 'anomalies', 'columns', "
                "'default_action', 'history', 'name', 'strict', 'thresholds', 'unique']",
            ]
        )


ANOMALY_YAML = """
name: orders
default_action: warn
columns:
  order_id: {dtype: bigint}
  amount: {dtype: double, nullable: true}
  status: {dtype: string}
anomalies:
  - metric: row_count
    strategy: {relative_change: {max_decrease: 0.5}}
    action: fail
  - metric: null_fraction
    column: amount
    strategy: {stddev_band: {k: 3, runs: 30}}
    min_history: 5
  - metric: mean
    column: amount
    strategy: {same_weekday: {max_increase: 1.0, weeks: 4, timezone: Europe/Amsterdam}}
    name: mean_weekly
  - metric: value_set
    column: status
history:
  path: /lake/_dq/history
"""


class TestYamlAnomalies:
    def test_anomalies_and_history_are_read(self, tmp_path: Path) -> None:
        """Each entry becomes an AnomalyCheck; history becomes a ResultsHistory."""
        gate = Gate.from_yaml(write(tmp_path, ANOMALY_YAML))
        assert gate.anomaly_names == [
            "row_count",
            "amount.null_fraction",
            "amount.mean_weekly",
            "status.value_set",
        ]
        row_count, nulls, mean, values = gate.anomalies
        assert row_count.strategy == RelativeChange(max_decrease=0.5)
        assert gate.check_actions["row_count"] is Action.FAIL
        assert gate.check_actions["amount.null_fraction"] is Action.WARN
        assert (nulls.strategy, nulls.min_history) == (StdDevBand(k=3, runs=30), 5)
        assert mean.strategy == SameWeekday(max_increase=1.0, timezone="Europe/Amsterdam")
        assert values.strategy == ValueSetChange()
        assert isinstance(gate.history, ResultsHistory)
        assert (gate.history.path, gate.history.format) == ("/lake/_dq/history", "delta")

    def test_history_argument_overrides_the_file(self, tmp_path: Path) -> None:
        """An app passes its own history (e.g. under its output root) to from_yaml."""
        history = MemoryHistory()
        gate = Gate.from_yaml(write(tmp_path, ANOMALY_YAML), history=history)
        assert gate.history is history

    def test_anomaly_mistakes_are_all_reported(self, tmp_path: Path) -> None:
        """Quarantine on an anomaly, unknown strategy, bad parameter, missing keys: one error."""
        text = """
name: g
columns: {a: {dtype: double}}
anomalies:
  - {metric: row_count, strategy: {relative_change: {max_decrease: 0.5}}, action: quarantine}
  - {metric: mean, column: a, strategy: {moving_average: {}}}
  - {metric: mean, column: a, strategy: {stddev_band: {k: "3"}}}
  - {metric: max, column: a}
  - {column: a, strategy: {relative_change: {max_increase: 1}}}
  - {metric: sum, column: a, strategy: {relative_change: {max_increase: 1}}, min_history: "2"}
history: {path: /h, table: t}
"""
        with pytest.raises(GateConfigError) as info:
            Gate.from_yaml(write(tmp_path, text))
        message = str(info.value)
        for expected in (
            "7 problems",
            "anomalies[0]: anomaly check 'row_count': action 'quarantine' does not apply to a "
            "whole-batch metric",
            "anomalies[1].strategy: unknown strategy 'moving_average'",
            "anomalies[2].strategy: stddev_band: k must be a number > 0, got '3'",
            "anomalies[3]: missing required key 'strategy'",
            "anomalies[4]: missing required key 'metric'",
            "anomalies[5].min_history: expected an integer, got '2'",
            "history: set exactly one of path (a folder) or table (a catalog name)",
        ):
            assert expected in message

    def test_anomalies_need_a_history(self, tmp_path: Path) -> None:
        """Anomaly checks without a history key or argument are refused."""
        text = "name: g\ncolumns: {a: {}}\nanomalies: [{metric: row_count, strategy: "
        text += "{relative_change: {max_decrease: 0.5}}}]\n"
        with pytest.raises(GateConfigError, match="needs a results history"):
            Gate.from_yaml(write(tmp_path, text))

    @pytest.mark.parametrize(
        ("strategy", "message"),
        [
            ("relative_change", "relative_change: set max_increase, max_decrease or both"),
            ("{stddev_band: 3}", "stddev_band: expected a mapping of parameters, got 3"),
            ("{stddev_band: {width: 3}}", "stddev_band rejects parameters {'width': 3}"),
            ("[stddev_band]", "expected a one-key mapping {strategy: {parameter: value}}"),
        ],
    )
    def test_strategy_mistakes(self, tmp_path: Path, strategy: str, message: str) -> None:
        """A strategy is a one-key mapping of its kind to its parameters, checked as such."""
        text = "name: g\ncolumns: {a: {dtype: double}}\nhistory: {table: h}\n"
        text += f"anomalies: [{{metric: mean, column: a, strategy: {strategy}}}]\n"
        with pytest.raises(GateConfigError) as info:
            Gate.from_yaml(write(tmp_path, text))
        assert f"anomalies[0].strategy: {message}" in str(info.value)

    def test_strategy_defaults(self, tmp_path: Path) -> None:
        """A strategy kind without parameters (where it has defaults) takes its defaults."""
        text = "name: g\ncolumns: {a: {dtype: double}}\nhistory: {table: h}\n"
        text += "anomalies: [{metric: mean, column: a, strategy: {stddev_band: }}]\n"
        (check,) = Gate.from_yaml(write(tmp_path, text)).anomalies
        assert check.strategy == StdDevBand()
