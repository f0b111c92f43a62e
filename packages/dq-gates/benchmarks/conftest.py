"""Benchmark data: synthetic orders written to parquet once per session, clean and dirty."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandera.pyspark as pa
import pytest
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as sf
from pyspark.sql import types as st

from dq_gates.checks import not_in_future
from pipeline_testkit import scaled

STATUSES = ["NEW", "PAID", "SHIPPED", "CANCELLED"]
COUNTRIES = ["US", "DE", "FR", "NL", "GB"]


def orders_schema() -> Any:
    """The issue's ten checks: 3 not-null, unique order_id, six value checks."""
    return pa.DataFrameSchema(
        {
            "order_id": pa.Column(st.LongType(), nullable=False),
            "customer_id": pa.Column(st.LongType(), pa.Check.gt(0), nullable=False),
            "amount": pa.Column(st.DoubleType(), [pa.Check.ge(0), pa.Check.le(1e6)], nullable=True),
            "status": pa.Column(st.StringType(), pa.Check.isin(STATUSES), nullable=False),
            "order_ts": pa.Column(st.TimestampType(), not_in_future(), nullable=True),
            "country": pa.Column(st.StringType(), pa.Check.str_length(2, 2), nullable=True),
        },
        unique=["order_id"],
        name="orders",
    )


def _pick(values: list[str], index: Column) -> Column:
    return sf.element_at(sf.array(*[sf.lit(v) for v in values]), index.cast("int"))


def synthetic_orders(spark: SparkSession, n: int, *, violations: bool) -> DataFrame:
    """``n`` orders; with ``violations`` about 0.1% of rows break each check (one code each)."""
    rid = sf.col("id")
    code = rid % 1000 if violations else sf.lit(-1)
    return spark.range(n).select(
        sf.when(code == 7, rid - 1).when(code == 31, None).otherwise(rid).alias("order_id"),
        sf.when(code == 11, sf.lit(-5))
        .when(code == 37, None)
        .otherwise(rid % 100_000 + 1)
        .alias("customer_id"),
        sf.when(rid % 50 == 3, None)
        .when(code == 13, sf.lit(-1.5))
        .when(code == 17, sf.lit(2e6))
        .otherwise((rid * 7919 % 100_000) / 100.0)
        .alias("amount"),
        sf.when(code == 19, sf.lit("BOGUS"))
        .when(code == 41, None)
        .otherwise(_pick(STATUSES, rid % 4 + 1))
        .alias("status"),
        sf.when(code == 23, sf.timestamp_seconds(sf.lit(4_000_000_000)))
        .otherwise(sf.timestamp_seconds(sf.lit(1_700_000_000) - rid % 10_000_000))
        .alias("order_ts"),
        sf.when(code == 29, sf.lit("USA"))
        .otherwise(_pick(COUNTRIES, rid % 5 + 1))
        .alias("country"),
    )


@pytest.fixture(scope="session")
def order_paths(spark: SparkSession, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Parquet copies of the clean and the dirty orders (5M rows each at full scale)."""
    n = scaled(full=5_000_000, tiny=2_000)
    root = Path(tmp_path_factory.mktemp("orders"))
    paths = {}
    for name, violations in (("clean", False), ("dirty", True)):
        path = str(root / name)
        synthetic_orders(spark, n, violations=violations).write.parquet(path)
        paths[name] = path
    return paths
