"""Plain Spark transformations of the pipeline: reading raw files, typing, dedup, gold aggregates.

No library code here: these are the steps any hand-written pipeline has; the orchestration in
``_pipeline`` wraps them with drift checks, gates, safe writes and metrics.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from typing import TYPE_CHECKING

from pyspark.sql import Column, DataFrame, SparkSession, Window
from pyspark.sql import functions as F  # noqa: N812
from pyspark.sql import types as T  # noqa: N812

if TYPE_CHECKING:
    from etl_app._config import SourceFormat

#: Ingestion columns added to every bronze row.
INGESTION_COLUMNS = ("ingested_at", "source_file", "run_id", "batch_id")
#: Order statuses that count as revenue in gold.
REVENUE_STATUSES = ("completed", "shipped")

CUSTOMER_KEY = "customer_id"
ORDER_KEY = "order_id"
SILVER_CUSTOMER_COLUMNS = (
    "customer_id",
    "name",
    "email",
    "country",
    "segment",
    "updated_at",
    "batch_id",
)
SILVER_ORDER_COLUMNS = (
    "order_id",
    "customer_id",
    "order_ts",
    "order_date",
    "amount",
    "status",
    "country",
    "batch_id",
)
#: SCD2-tracked customer attributes: a change in any of them opens a new version.
CUSTOMER_TRACKED = ("name", "email", "country", "segment")


def read_raw(spark: SparkSession, path: str, fmt: SourceFormat) -> DataFrame:
    """Read one raw file with every column as a string (typing happens in silver).

    Args:
        spark: Session.
        path: File (or folder of part files).
        fmt: ``csv`` with a header row, or ``json`` lines.

    Returns:
        The raw rows; bad values survive as text so they can be quarantined with a reason.
    """
    if fmt == "csv":
        return spark.read.option("header", True).option("mode", "PERMISSIVE").csv(path)
    return spark.read.option("primitivesAsString", True).json(path)


def conform_to_columns(df: DataFrame, columns: Iterable[str]) -> DataFrame:
    """Select ``columns`` as strings in that order; missing ones become NULL."""
    present = set(df.columns)
    return df.select(
        *[
            (F.col(c).cast("string") if c in present else F.lit(None).cast("string")).alias(c)
            for c in columns
        ]
    )


def add_ingestion_columns(
    df: DataFrame, *, source_file: str, run_id: str, batch_id: int
) -> DataFrame:
    """Append ``ingested_at``, ``source_file``, ``run_id`` and ``batch_id``."""
    return df.select(
        "*",
        F.current_timestamp().alias("ingested_at"),
        F.lit(source_file).alias("source_file"),
        F.lit(run_id).alias("run_id"),
        F.lit(batch_id).cast("long").alias("batch_id"),
    )


def _ts(col: str) -> Column:
    return F.col(col).try_cast(T.TimestampType())


def type_customers(bronze: DataFrame) -> DataFrame:
    """Cast bronze customers to their silver types (unparsable values become NULL)."""
    return bronze.select(
        F.col("customer_id").try_cast(T.LongType()).alias("customer_id"),
        F.trim("name").alias("name"),
        F.lower(F.trim("email")).alias("email"),
        F.upper(F.trim("country")).alias("country"),
        F.lower(F.trim("segment")).alias("segment"),
        _ts("updated_at").alias("updated_at"),
        F.col("batch_id"),
    )


def type_orders(bronze: DataFrame) -> DataFrame:
    """Cast bronze orders to their silver types (unparsable values become NULL).

    ``amount_raw`` keeps the original text so a quarantined row shows what arrived.
    """
    return bronze.select(
        F.col("order_id").try_cast(T.LongType()).alias("order_id"),
        F.col("customer_id").try_cast(T.LongType()).alias("customer_id"),
        _ts("order_ts").alias("order_ts"),
        F.to_date(_ts("order_ts")).alias("order_date"),
        F.col("amount").try_cast(T.DecimalType(12, 2)).alias("amount"),
        F.lower(F.trim("status")).alias("status"),
        F.upper(F.trim("country")).alias("country"),
        F.col("amount").alias("amount_raw"),
        F.col("batch_id"),
    )


def latest_per_key(df: DataFrame, key: str, order_by: str) -> DataFrame:
    """Keep one row per ``key``: the latest by ``order_by`` (ties broken by every column)."""
    ordering = [F.col(order_by).desc_nulls_last(), *[F.col(c) for c in df.columns if c != key]]
    window = Window.partitionBy(key).orderBy(*ordering)
    return df.withColumn("_rn", F.row_number().over(window)).filter("_rn = 1").drop("_rn")


def daily_revenue(orders: DataFrame, dates: Iterable[date]) -> DataFrame:
    """Revenue and order count per order date and country, for the given dates only."""
    return (
        orders.filter(F.col("order_date").isin(sorted(dates)))
        .filter(F.col("status").isin(*REVENUE_STATUSES))
        .groupBy("order_date", "country")
        .agg(
            F.count(F.lit(1)).alias("order_count"),
            F.sum("amount").cast(T.DecimalType(18, 2)).alias("revenue"),
        )
    )


def customer_lifetime_value(orders: DataFrame, customers: DataFrame) -> DataFrame:
    """Lifetime value per customer over revenue orders, with current customer attributes."""
    current = customers.filter("is_current").select(
        "customer_id", "name", "email", "country", "segment"
    )
    totals = (
        orders.filter(F.col("status").isin(*REVENUE_STATUSES))
        .groupBy("customer_id")
        .agg(
            F.count(F.lit(1)).alias("order_count"),
            F.sum("amount").cast(T.DecimalType(18, 2)).alias("lifetime_value"),
            F.min("order_date").alias("first_order_date"),
            F.max("order_date").alias("last_order_date"),
        )
    )
    return totals.join(current, "customer_id", "left").select(
        "customer_id",
        "name",
        "email",
        "country",
        "segment",
        "order_count",
        "lifetime_value",
        "first_order_date",
        "last_order_date",
    )


def dates_predicate(column: str, dates: Iterable[date]) -> str:
    """SQL predicate selecting exactly ``dates`` in ``column`` (for a replaceWhere)."""
    listed = ", ".join(f"DATE'{d.isoformat()}'" for d in sorted(dates))
    return f"{column} IN ({listed})"
