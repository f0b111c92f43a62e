"""The README's examples run as written, in order: the quick start works on Delta.

A reader pastes the README's python blocks into one interpreter. ``local_session()`` returns
the test process's session (the ``spark`` fixture starts it first, with Delta); the S3 block is
compile-only (it needs an S3 endpoint and hadoop-aws), so only its names are checked.
"""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

import pytest
from pyspark.sql import SparkSession

from pipeline_testkit import readme_examples, run_readme_examples

pytestmark = [
    pytest.mark.spark,
    pytest.mark.no_connect("the README's local_session() starts a classic local session"),
]

README = Path(__file__).parents[1] / "README.md"


def test_quick_start_writes_and_merges_a_delta_table(spark: SparkSession, tmp_path: Path) -> None:
    """The quick start writes and merges a Delta table and prints what the README shows."""
    from delta.tables import DeltaTable

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        namespace = run_readme_examples(README, tmp_path)
    # namespace["spark"] is not the quick start's any more: the compile-only S3 block binds it.
    assert "io.delta.sql.DeltaSparkSessionExtension" in spark.conf.get("spark.sql.extensions")
    path = namespace["path"]
    assert DeltaTable.isDeltaTable(spark, path)
    ids = sorted(row.id for row in spark.read.format("delta").load(path).collect())
    assert ids == [0, 1, 2, 5]  # spark.range(3), then the MERGE inserted 5
    assert out.getvalue().splitlines() == ["4", "['MERGE', 'WRITE']"]


def test_only_the_s3_example_is_compile_only() -> None:
    """Every other block runs; the S3 one is marked, since it needs a bucket and hadoop-aws."""
    marked = [example for example in readme_examples(README) if example.compile_only]
    assert len(marked) == 1
    assert "s3a_conf(" in marked[0].code
