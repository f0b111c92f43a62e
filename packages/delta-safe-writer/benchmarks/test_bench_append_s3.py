"""append on S3 (``--spark-s3``): SafeDeltaWriter.append vs raw df.write to an s3a:// table.

On an object store the driver cannot read the Delta log as local files, so the safe append's
commit lookup goes through Delta's history (the newest commit only, while no other writer
commits meanwhile). This measures what that costs against the write itself, on the testkit's
S3 server (moto, 127.0.0.1), in the same run.
"""

from __future__ import annotations

from collections.abc import Callable
from itertools import count
from typing import Any

import pytest
from pyspark.sql import DataFrame, SparkSession

from delta_safe_writer import SafeDeltaWriter
from pipeline_testkit import S3Server, scaled

pytestmark = [pytest.mark.spark, pytest.mark.s3]


def test_bench_append_s3(
    spark: SparkSession,
    compare: Callable[..., Any],
    events: Callable[..., DataFrame],
    s3_server: S3Server,
) -> None:
    """The safe append to an s3a:// table costs <= 5% more than the raw append."""
    rows = scaled(full=1_000_000, tiny=2_000)
    df = events(0, rows)
    seed = events(-10, 0)
    writer = SafeDeltaWriter(spark, app_id="bench")
    tables = count()
    state: dict[str, str] = {}

    def setup() -> None:
        # Untimed: a fresh existing table per call, so both append to the same-size table.
        state["path"] = s3_server.url("bench-append", f"t{next(tables)}")
        seed.write.format("delta").save(state["path"])

    def candidate() -> None:
        result = writer.append(df, state["path"])
        assert result.rows_inserted == rows

    def baseline() -> None:
        df.write.format("delta").mode("append").save(state["path"])

    comparison = compare(
        f"append {rows} rows to s3a://: safe vs raw",
        candidate,
        baseline,
        setup=setup,
        rounds=scaled(full=11, tiny=3),
        target=1.05,
    )
    assert comparison.baseline_median > 0
