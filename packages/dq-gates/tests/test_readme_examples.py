"""The README's python blocks run as written, in order, in one interpreter, as a reader pastes them.

The quick start's ``SparkSession.builder...getOrCreate()`` returns the test process' session
(the ``spark`` fixture, started first). Relative paths in the examples land in ``tmp_path``.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from pyspark.sql import SparkSession

from pipeline_testkit import run_readme_examples

pytestmark = [
    pytest.mark.spark,
    pytest.mark.no_connect("the README's quick start builds a classic local session"),
]

README = Path(__file__).parents[1] / "README.md"


def test_readme_examples_run_in_order(
    spark: SparkSession,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Every block runs; the gates made the rows, files and history the examples say."""
    caplog.set_level(logging.INFO, logger="orders_etl")
    namespace = run_readme_examples(README, tmp_path)
    printed = capsys.readouterr().out.splitlines()

    # The quick start: its gate's verdict and counts, as its shown output says.
    assert printed[0] == "warned 4 2 1"
    assert namespace["spark"] is spark  # getOrCreate() returned the running session

    # "Declaring a gate in code": valid rows and the quarantine written as parquet in the
    # work folder, the bad status dropped, the bad country only warned.
    silver = spark.read.parquet(str(tmp_path / "lake" / "silver" / "orders"))
    assert sorted(r.order_id for r in silver.collect()) == [1, 4, 5, 6]
    quarantine = spark.read.parquet(str(tmp_path / "lake" / "quarantine" / "orders"))
    rows = quarantine.collect()
    assert [(r.order_id, r._dq_failed_checks) for r in rows] == [
        (2, ["amount.greater_than_or_equal_to"])
    ]
    assert rows[0]._dq_gate == "orders_bronze_to_silver"
    (gate_log,) = [r for r in caplog.records if r.name == "orders_etl" and r.msg == "gate"]
    assert (gate_log.verdict, gate_log.rows_valid, gate_log.rows_quarantined) == ("warned", 4, 1)
    assert gate_log.rows_dropped == 1

    # Anomaly checks: the first run only records (every check insufficient_history) and
    # appends one row to the parquet results history, which the last example reads back.
    result = namespace["result"]
    assert result.table == "silver.orders"
    assert result.verdict.value == "warned"
    assert {a.name: a.status for a in result.anomalies} == {
        "row_count": "insufficient_history",
        "amount.null_fraction": "insufficient_history",
        "amount.mean": "insufficient_history",
        "customer_id.distinct_count": "insufficient_history",
        "status.value_set": "insufficient_history",
    }
    assert result.anomalies_found == []
    assert result.metrics["row_count"] == 6
    runs = namespace["runs"].collect()
    assert [(r.batch_id, r.verdict, r.rows_in) for r in runs] == [("2026-03-18", "warned", 6)]
    assert (tmp_path / "lake" / "_dq" / "history").is_dir()
