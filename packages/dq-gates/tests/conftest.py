"""Shared schemas and data builders for dq-gates tests (Spark comes from the testkit plugin)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pandera.pyspark as pa
import pytest
from pyspark.sql import types as st

from dq_gates.checks import not_in_future

ORDER_COLUMNS = st.StructType(
    [
        st.StructField("order_id", st.LongType()),
        st.StructField("customer_id", st.LongType()),
        st.StructField("amount", st.DoubleType()),
        st.StructField("status", st.StringType()),
        st.StructField("order_ts", st.TimestampType()),
        st.StructField("country", st.StringType()),
    ]
)
STATUSES = ["NEW", "PAID", "SHIPPED", "CANCELLED"]
PAST = dt.datetime(2024, 1, 1, 12, 0, 0)
FUTURE = dt.datetime(2999, 1, 1)


def orders_schema() -> Any:
    """The ten-check orders schema of the issue (3 not-null, unique key, 6 value checks)."""
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


def order(  # noqa: PLR0917 - one positional per column keeps test rows short
    order_id: int | None = 1,
    customer_id: int | None = 10,
    amount: float | None = 5.0,
    status: str | None = "NEW",
    order_ts: dt.datetime | None = PAST,
    country: str | None = "US",
) -> tuple[Any, ...]:
    """One valid order row unless an argument says otherwise."""
    return (order_id, customer_id, amount, status, order_ts, country)


@pytest.fixture
def schema() -> Any:
    """A fresh orders schema per test (pandera schemas are mutable)."""
    return orders_schema()
