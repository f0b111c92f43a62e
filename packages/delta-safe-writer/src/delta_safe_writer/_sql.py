"""Spark SQL text: quoted identifiers, string and timestamp literals, table references."""

from __future__ import annotations

import datetime as dt

from pyspark.sql.types import TimestampType


def quote(column: str) -> str:
    """Backtick-quote a column name for SQL expressions."""
    return "`" + column.replace("`", "``") + "`"


def string_literal(text: str) -> str:
    """A SQL string literal holding ``text`` exactly (quotes and backslashes escaped)."""
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def timestamp_literal(value: dt.datetime | dt.date) -> str:
    """SQL for the TIMESTAMP ``sf.lit(value).cast("timestamp")`` gives, as an expression.

    A datetime becomes the same epoch microseconds PySpark would send for it (naive values in
    the Python process's local time zone, aware ones by their offset); a date becomes its
    midnight in the session time zone, as the cast does.
    """
    if isinstance(value, dt.datetime):
        return f"TIMESTAMP_MICROS({TimestampType().toInternal(value)})"
    return f"CAST(DATE'{value.isoformat()}' AS TIMESTAMP)"


def table_reference(name: str, *, is_path: bool) -> str:
    """How SQL names a table: ``delta.`path``` for a path, the catalog name as given."""
    if is_path:
        return f"delta.{quote(name)}"
    return name
