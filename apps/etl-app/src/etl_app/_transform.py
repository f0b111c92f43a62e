"""Plain Spark transformations of the pipeline: reading raw files, typing, dedup, gold aggregates.

No library code here: these are the steps any hand-written pipeline has; the orchestration in
``_pipeline`` wraps them with drift checks, gates, safe writes and metrics.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F  # noqa: N812
from pyspark.sql import types as T  # noqa: N812

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
#: Rank of a row within its key in :func:`rank_per_key` (1: the latest).
RANK_COLUMN = "_rn"
#: Delta change data feed columns.
CHANGE_TYPE = "_change_type"
#: Change rows that add a row version (+1) or take one away (-1).
ADDED = ("insert", "update_postimage")
REMOVED = ("update_preimage", "delete")
CLV_COLUMNS = (
    "customer_id",
    "name",
    "email",
    "country",
    "segment",
    "order_count",
    "lifetime_value",
    "first_order_date",
    "last_order_date",
    "revenue_days",
)
#: Gold lifetime value's revenue orders per order date, oldest first.
REVENUE_DAYS = "revenue_days"
REVENUE_DAYS_TYPE = "array<struct<order_date:date,orders:bigint>>"
#: SCD2-tracked customer attributes: a change in any of them opens a new version.
CUSTOMER_TRACKED = ("name", "email", "country", "segment")


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


#: Timestamps outside this range parse in Spark but cannot be handed to Python safely (a
#: collected year-0001 value fails with "year 0 is out of range"): typing makes them NULL, so
#: the gate quarantines them (``<column>.not_null``). The gates' plausible range (1900..2100 by
#: default, in the gate files) is checked on what remains.
TS_REPRESENTABLE = ("0002-01-01 00:00:00", "9998-12-31 00:00:00")


def _ts(col: str) -> Column:
    ts = F.col(col).try_cast(T.TimestampType())
    low, high = (F.lit(v).cast(T.TimestampType()) for v in TS_REPRESENTABLE)
    return F.when(ts.between(low, high), ts)


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


def rank_per_key(df: DataFrame, key: str, order_by: str) -> DataFrame:
    """Number each key's rows, latest first (``_rn``; ties broken by every other column).

    The de-duplication keeps rank 1; counting ranks 1 and above 1 over this frame gives the
    rows kept and the duplicates removed from the de-duplication's own pass.
    """
    ordering = [F.col(order_by).desc_nulls_last(), *[F.col(c) for c in df.columns if c != key]]
    window = Window.partitionBy(key).orderBy(*ordering)
    return df.withColumn(RANK_COLUMN, F.row_number().over(window))


def latest_rows(ranked: DataFrame) -> DataFrame:
    """The rows :func:`rank_per_key` ranked first, without the rank column."""
    return ranked.filter(F.col(RANK_COLUMN) == 1).drop(RANK_COLUMN)


def dedup_counts(ranked: DataFrame) -> tuple[int, int]:
    """Rows kept and duplicates removed, counted over the ranked frame in one aggregation."""
    row = ranked.agg(
        F.count_if(F.col(RANK_COLUMN) == 1).alias("kept"),
        F.count_if(F.col(RANK_COLUMN) > 1).alias("duplicates"),
    ).first()
    assert row is not None  # a global aggregation always returns one row
    return int(row["kept"]), int(row["duplicates"])


def latest_per_key(df: DataFrame, key: str, order_by: str) -> DataFrame:
    """Keep one row per ``key``: the latest by ``order_by`` (ties broken by every column)."""
    return latest_rows(rank_per_key(df, key, order_by))


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
    return _totals(orders).join(current, "customer_id", "left").select(*CLV_COLUMNS)


def _revenue(orders: DataFrame) -> DataFrame:
    return orders.filter(F.col("status").isin(*REVENUE_STATUSES))


def _totals(orders: DataFrame) -> DataFrame:
    # Per customer and day first: the day counts are the row's revenue_days.
    per_day = (
        _revenue(orders)
        .groupBy("customer_id", "order_date")
        .agg(F.count(F.lit(1)).alias("orders"), F.sum("amount").alias("value"))
    )
    return per_day.groupBy("customer_id").agg(
        F.sum("orders").cast("long").alias("order_count"),
        F.sum("value").cast(T.DecimalType(18, 2)).alias("lifetime_value"),
        F.min("order_date").alias("first_order_date"),
        F.max("order_date").alias("last_order_date"),
        F.array_sort(F.collect_list(_day())).alias(REVENUE_DAYS),
    )


def _day() -> Column:
    # A row without an order date counts, but has no day (as first / last dates ignore it).
    return F.when(F.col("order_date").isNotNull(), F.struct("order_date", "orders"))


def clv_changes(changes: DataFrame) -> DataFrame:
    """Per customer, what a set of silver order changes does to lifetime value.

    ``changes`` are change data feed rows of silver orders (``_change_type`` insert /
    update_preimage / update_postimage / delete). A revenue row added counts +1 order and +amount
    on its order date, one taken away -1 and -amount.

    Returns:
        ``customer_id``, ``d_count``, ``d_value``, ``d_days`` (the net change of revenue orders
        per order date, as ``revenue_days`` entries) and ``removed`` (revenue rows taken away).
    """
    added = F.col(CHANGE_TYPE).isin(*ADDED)
    removed = F.col(CHANGE_TYPE).isin(*REMOVED)
    sign = F.when(added, F.lit(1)).when(removed, F.lit(-1)).otherwise(F.lit(0))
    per_day = (
        _revenue(changes)
        .filter(added | removed)
        .groupBy("customer_id", "order_date")
        .agg(
            F.sum(sign).cast("long").alias("orders"),
            F.sum(sign * F.col("amount")).alias("value"),
            F.count_if(removed).alias("removed"),
        )
    )
    return per_day.groupBy("customer_id").agg(
        F.sum("orders").cast("long").alias("d_count"),
        F.sum("value").alias("d_value"),
        F.collect_list(_day()).alias("d_days"),
        F.sum("removed").cast("long").alias("removed"),
    )


def _day_counts(days: Column) -> Column:
    """``revenue_days`` entries as a map from order date to orders (empty for NULL)."""
    return F.map_from_entries(F.coalesce(days, F.array().cast(REVENUE_DAYS_TYPE)))


def clv_update(touched: DataFrame, current: DataFrame, changes: DataFrame | None) -> DataFrame:
    """New lifetime value totals of the touched customers: current totals plus the changes.

    Counts and values add up exactly, and so do the revenue orders per order date: first and
    last order dates are the oldest and newest day left, whatever the batch took away, with no
    read of the customer's other orders. A day count that would go below zero, or a removal
    for a customer without a current row, means gold and silver disagree: such customers get
    ``_recount``.

    Args:
        touched: ``customer_id`` of every customer whose row may change.
        current: The gold lifetime value rows (at least those of the touched customers).
        changes: :func:`clv_changes` output, or None when no order changed.

    Returns:
        ``customer_id``, ``order_count``, ``lifetime_value``, ``first_order_date``,
        ``last_order_date``, ``revenue_days``, ``_exists`` (a current row exists),
        ``_recount``.
    """
    cur = current.select(
        "customer_id",
        F.col("order_count").alias("c_count"),
        F.col("lifetime_value").alias("c_value"),
        F.col(REVENUE_DAYS).alias("c_days"),
        F.lit(True).alias("_exists"),
    )
    rows = touched.join(cur, "customer_id", "left")
    if changes is not None:
        rows = rows.join(changes, "customer_id", "left")
    else:
        rows = rows.select(
            "*",
            *[
                F.lit(None).cast(t).alias(c)
                for c, t in (
                    ("d_count", "long"),
                    ("d_value", "decimal(18,2)"),
                    ("d_days", REVENUE_DAYS_TYPE),
                    ("removed", "long"),
                )
            ],
        )
    exists = F.coalesce(F.col("_exists"), F.lit(False))
    counts = F.map_zip_with(
        _day_counts(F.col("c_days")),
        _day_counts(F.col("d_days")),
        lambda _, a, b: F.coalesce(a, F.lit(0)) + F.coalesce(b, F.lit(0)),
    )
    days = F.array_sort(
        F.transform(
            F.map_entries(F.map_filter(counts, lambda _, n: n != 0)),
            lambda e: F.struct(e["key"].alias("order_date"), e["value"].alias("orders")),
        )
    )
    dates = F.transform(F.col(REVENUE_DAYS), lambda e: e["order_date"])
    recount = F.exists(F.map_values(counts), lambda n: n < 0) | (
        (F.coalesce(F.col("removed"), F.lit(0)) > 0) & ~exists
    )
    return (
        rows.select(
            "customer_id",
            (F.coalesce(F.col("c_count"), F.lit(0)) + F.coalesce(F.col("d_count"), F.lit(0)))
            .cast("long")
            .alias("order_count"),
            (F.coalesce(F.col("c_value"), F.lit(0)) + F.coalesce(F.col("d_value"), F.lit(0)))
            .cast(T.DecimalType(18, 2))
            .alias("lifetime_value"),
            days.alias(REVENUE_DAYS),
            exists.alias("_exists"),
            recount.alias("_recount"),
        )
        .withColumn("first_order_date", F.array_min(dates))
        .withColumn("last_order_date", F.array_max(dates))
    )


def clv_recount(totals: DataFrame, orders: DataFrame, customer_ids: list[int]) -> DataFrame:
    """Replace the totals of ``customer_ids`` by a recount over their silver orders.

    Args:
        totals: :func:`clv_update` output.
        orders: Silver orders (read for the listed customers only).
        customer_ids: Customers flagged ``_recount``.

    Returns:
        ``totals`` with exact counts, values, dates and revenue days for those customers (0
        orders when none is left).
    """
    exact = _totals(orders.filter(F.col("customer_id").isin(customer_ids))).select(
        "customer_id",
        *[F.col(c).alias(f"x_{c}") for c in CLV_COLUMNS[5:]],
    )
    recount = F.col("_recount")
    return totals.join(exact, "customer_id", "left").select(
        "customer_id",
        F.when(recount, F.coalesce(F.col("x_order_count"), F.lit(0)))
        .otherwise(F.col("order_count"))
        .cast("long")
        .alias("order_count"),
        *[F.when(recount, F.col(f"x_{c}")).otherwise(F.col(c)).alias(c) for c in CLV_COLUMNS[6:]],
        "_exists",
        "_recount",
    )


def clv_rows(totals: DataFrame, customers: DataFrame) -> DataFrame:
    """Rows to MERGE into gold lifetime value: the totals with current customer attributes.

    Customers left without revenue orders keep a row only when one exists (``order_count`` 0:
    the MERGE deletes it); customers that never had one are left out.
    """
    current = customers.filter("is_current").select(
        "customer_id", "name", "email", "country", "segment"
    )
    return (
        totals.filter((F.col("order_count") > 0) | F.col("_exists"))
        .join(current, "customer_id", "left")
        .select(*CLV_COLUMNS)
    )


def dates_predicate(column: str, dates: Iterable[date]) -> str:
    """SQL predicate selecting exactly ``dates`` in ``column`` (for a replaceWhere)."""
    listed = ", ".join(f"DATE'{d.isoformat()}'" for d in sorted(dates))
    return f"{column} IN ({listed})"
