"""Benchmark data: event-like rows built with Spark expressions, sized by BENCH_SCALE."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as sf


def build_events(spark: SparkSession, start: int, end: int, *, version: int = 0) -> DataFrame:
    """Rows ``start..end-1`` of a 7-column event table; ``version`` changes non-key values."""
    ids = spark.range(start, end)
    return ids.select(
        sf.col("id"),
        sf.pmod(sf.col("id"), sf.lit(50_000)).alias("customer_id"),
        (sf.timestamp_seconds(sf.lit(1_700_000_000) + sf.col("id") * 7)).alias("event_ts"),
        ((sf.pmod(sf.col("id"), sf.lit(10_000)) + version) / 100)
        .cast("decimal(12,2)")
        .alias("amount"),
        sf.element_at(
            sf.array(*[sf.lit(c) for c in ("EUR", "USD", "GBP")]),
            (sf.pmod(sf.col("id"), sf.lit(3)) + 1).cast("int"),
        ).alias("currency"),
        sf.concat(sf.lit("C"), sf.pmod(sf.col("id"), sf.lit(97)).cast("string")).alias("country"),
        sf.sha2(sf.concat_ws(":", sf.col("id").cast("string"), sf.lit(str(version))), 256).alias(
            "payload"
        ),
    )


EventsFactory = Callable[..., DataFrame]


@pytest.fixture
def events(spark: SparkSession) -> EventsFactory:
    """``events(start, end, version=0)``: event rows with ids ``start..end-1``."""
    return lambda start, end, version=0: build_events(spark, start, end, version=version)


@pytest.fixture
def fresh_path(tmp_path_factory: pytest.TempPathFactory) -> Callable[[], str]:
    """A callable returning a new, not yet existing table path on each call.

    Each call deletes the table of the call before (a round is done with it by then): at full
    size every round writes 1M-row tables, which would otherwise pile up to gigabytes.
    """
    counter = iter(range(10**6))
    base = tmp_path_factory.mktemp("bench")
    made: list[Path] = []

    def fresh() -> str:
        while made:
            shutil.rmtree(made.pop(), ignore_errors=True)
        path = base / f"t{next(counter)}"
        made.append(path)
        return str(path)

    return fresh
