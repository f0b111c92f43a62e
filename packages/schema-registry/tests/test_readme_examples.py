"""The README's examples run as written, in order: the quick start, then the SCD2 checks.

A reader pastes the README's python blocks into one interpreter. The SCD2 block's
``local_session()`` returns the test process's session (the ``spark`` fixture starts it first).
"""

from __future__ import annotations

import contextlib
import io
from pathlib import Path
from typing import Any, NamedTuple

import pytest
from pyspark.sql import SparkSession

from pipeline_testkit import run_readme_examples
from schema_registry import Compatibility, Scd2Rule

pytestmark = [
    pytest.mark.spark,
    pytest.mark.no_connect("the README's local_session() starts a classic local session"),
]

README = Path(__file__).parents[1] / "README.md"


class Run(NamedTuple):
    """One run of the README: its namespace after the last block, and what it printed."""

    namespace: dict[str, Any]
    printed: list[str]


@pytest.fixture(scope="module")
def readme(spark: SparkSession, tmp_path_factory: pytest.TempPathFactory) -> Run:
    """Run the README once for this module, in a fresh folder, after the session started."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        namespace = run_readme_examples(README, tmp_path_factory.mktemp("readme"))
    return Run(namespace, out.getvalue().splitlines())


def test_quick_start_registers_two_versions_and_refuses_the_breaking_one(readme: Run) -> None:
    """The registry holds v1 and v2; the drift does not break BACKWARD; v3 is refused."""
    namespace = readme.namespace
    registry = namespace["registry"]
    assert registry.versions("silver.orders") == [1, 2]
    assert registry.compatibility("silver.orders") is Compatibility.BACKWARD
    assert readme.printed[:2] == [
        "1 BACKWARD [1]",
        "schema drift: 3 change(s) (1 type_mismatch, 1 missing_column, 1 extra_column)",
    ]
    assert "breaks BACKWARD: False" in readme.printed
    refusal = "schema for 'silver.orders' breaks its BACKWARD compatibility with 1 change(s):"
    assert refusal in readme.printed


def test_only_keys_scopes_the_verdict_to_the_batch_keys(spark: SparkSession, readme: Run) -> None:
    """The batch's keys are valid; the whole history has key 3's gap, which the README names."""
    namespace = readme.namespace
    assert namespace["spark"] is spark
    full = namespace["validate_scd2"](namespace["history"], ["customer_id"])
    assert not full.is_valid
    assert {rule: n for rule, n in full.violations.items() if n} == {Scd2Rule.GAP: 1}
    assert [row["customer_id"] for row in full.samples[Scd2Rule.GAP]] == [3]
    # The README prints the scoped verdict (is_valid, rows, keys), then the full report.
    verdict = readme.printed.index("SCD2 history INVALID: 5 rows, 3 keys")
    assert readme.printed[verdict - 1] == "True 3 2"
    assert any(line.strip().startswith("e.g. customer_id=3") for line in readme.printed)


def test_composite_key_tuples_select_those_keys_only(readme: Run) -> None:
    """Tuples in keys order select (k1, 1) and (k2, 3); (k2, 4)'s two current rows are left out."""
    namespace = readme.namespace
    report = namespace["report"]
    assert report.is_valid
    assert (report.rows, report.keys) == (3, 2)
    assert readme.printed[-1] == "True 3 2"
    full = namespace["validate_scd2"](namespace["regions"], ["k", "region"])
    assert full.violations[Scd2Rule.CURRENT_ROW_COUNT] == 1
    assert full.violations[Scd2Rule.OVERLAP] == 1
