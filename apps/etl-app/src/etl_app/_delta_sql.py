"""Delta operations in Spark SQL, for sessions where delta-spark's ``DeltaTable`` cannot run.

Over Spark Connect, ``DeltaTable`` needs Delta Connect's server plugin, which Maven Central does
not serve for the Spark 4.2 build (``NO_HANDLER_FOR_EXTENSION delta.connect.DeltaRelation``).
Every table operation etl-app needs outside delta-safe-writer (which has its own SQL engine)
has a SQL form here: existence, creation with properties and partitioning, and MERGE with
Delta's metrics. Classic sessions keep the ``DeltaTable`` calls they were tested with.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, Row, SparkSession
    from pyspark.sql.types import StructType

#: Error conditions that mean "no Delta table there" (Spark and Delta error classes).
ABSENT = (
    "DELTA_MISSING_DELTA_TABLE",
    "DELTA_TABLE_NOT_FOUND",
    "PATH_NOT_FOUND",
    "TABLE_OR_VIEW_NOT_FOUND",
)


def is_connect(spark: SparkSession) -> bool:
    """Whether ``spark`` is a Spark Connect session (``pyspark.sql.connect``)."""
    return type(spark).__module__.startswith("pyspark.sql.connect")


def table_ref(path: str) -> str:
    """The SQL name of the Delta table at ``path``."""
    return "delta.`" + path.replace("`", "``") + "`"


def _quote(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


def columns_ddl(schema: StructType) -> str:
    """``schema`` as a CREATE TABLE column list (NOT NULL kept)."""
    return ", ".join(
        f"{_quote(f.name)} {f.dataType.simpleString()}" + ("" if f.nullable else " NOT NULL")
        for f in schema.fields
    )


def exists(spark: SparkSession, path: str) -> bool:
    """Whether a Delta table with a commit exists at ``path`` (``DESCRIBE HISTORY``).

    Raises:
        Exception: Any failure other than "no table there" (an unreachable store, say).
    """
    try:
        spark.sql(f"DESCRIBE HISTORY {table_ref(path)} LIMIT 1").collect()
    except Exception as exc:
        text = str(exc)
        if any(condition in text for condition in ABSENT) or "is not a Delta table" in text:
            return False
        raise
    return True


def create_if_not_exists(
    spark: SparkSession,
    path: str,
    schema: StructType,
    *,
    partition_by: Sequence[str] = (),
    properties: dict[str, str] | None = None,
) -> None:
    """``CREATE TABLE IF NOT EXISTS`` the Delta table at ``path``."""
    statement = f"CREATE TABLE IF NOT EXISTS {table_ref(path)} ({columns_ddl(schema)}) USING delta"
    if partition_by:
        statement += f" PARTITIONED BY ({', '.join(_quote(c) for c in partition_by)})"
    if properties:
        pairs = ", ".join(f"'{k}' = '{v}'" for k, v in properties.items())
        statement += f" TBLPROPERTIES ({pairs})"
    spark.sql(statement)


@contextmanager
def temp_view(frame: DataFrame) -> Iterator[str]:
    """``frame`` as a uniquely named temporary view, dropped on exit."""
    name = f"etl_app_source_{uuid.uuid4().hex}"
    frame.createOrReplaceTempView(name)
    try:
        yield name
    finally:
        frame.sparkSession.catalog.dropTempView(name)


def merge(
    spark: SparkSession, path: str, source: DataFrame, on: str, clauses: str
) -> dict[str, int]:
    """``MERGE INTO`` the table at ``path`` (alias ``t``) from ``source`` (alias ``s``).

    Args:
        spark: Session.
        path: Target table location.
        source: Source rows.
        on: The ON condition.
        clauses: The WHEN clauses, as SQL.

    Returns:
        The metrics row Delta's MERGE returns (``num_inserted_rows``, ``num_updated_rows``,
        ...); empty when it returned none.
    """
    with temp_view(source) as view:
        rows = spark.sql(
            f"MERGE INTO {table_ref(path)} AS t USING {view} AS s ON {on} {clauses}"
        ).collect()
    return merge_metrics(rows)


def merge_metrics(rows: Sequence[Row]) -> dict[str, int]:
    """The counts of the metrics row a Delta MERGE returns (empty when it returned none)."""
    return {k: int(v or 0) for k, v in rows[0].asDict().items()} if rows else {}
