"""Shared fixtures: writers (engine from DSW_TEST_ENGINE), catalog table names, table readers.

``DSW_TEST_ENGINE=sql`` runs every writer the tests build on the Spark SQL engine (the one
Spark Connect sessions use); the default, ``auto``, is delta-spark's ``DeltaTable`` API on
the classic test session. ``test_engines.py`` runs both engines in every run.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from pyspark.sql import DataFrame, SparkSession

from delta_safe_writer import SafeDeltaWriter


def read(spark: SparkSession, target: str) -> DataFrame:
    """The current content of a Delta table given by path or catalog name."""
    if "/" in target:
        return spark.read.format("delta").load(target)
    return spark.table(target)


def rows(spark: SparkSession, target: str, *columns: str) -> list[tuple[Any, ...]]:
    """The table's rows as sorted tuples (optionally only some columns)."""
    frame = read(spark, target)
    if columns:
        frame = frame.select(*columns)
    return sorted(tuple(r) for r in frame.collect())


def versions(spark: SparkSession, target: str) -> list[int]:
    """All committed versions, oldest first."""
    ref = f"delta.`{target}`" if "/" in target else target
    return sorted(r["version"] for r in spark.sql(f"DESCRIBE HISTORY {ref}").collect())


def detail(spark: SparkSession, target: str) -> Any:
    """The ``DESCRIBE DETAIL`` row of a path or catalog table (SQL: works over Connect too)."""
    ref = f"delta.`{target}`" if "/" in target else target
    return spark.sql(f"DESCRIBE DETAIL {ref}").collect()[0]


def is_delta_table(spark: SparkSession, path: str) -> bool:
    """Whether ``path`` holds a Delta table, like ``DeltaTable.isDeltaTable``, through SQL."""
    from pyspark.errors import AnalysisException

    try:
        return bool(detail(spark, path)["format"] == "delta")
    except AnalysisException:
        return False


#: The engine every writer built through the fixtures uses.
ENGINE = os.environ.get("DSW_TEST_ENGINE", "auto")
MakeWriter = Callable[..., SafeDeltaWriter]


@pytest.fixture
def make_writer(spark: SparkSession) -> MakeWriter:
    """Build a writer on the test session with the engine under test: ``make_writer(**options)``."""

    def make(**options: Any) -> SafeDeltaWriter:
        options.setdefault("engine", ENGINE)
        return SafeDeltaWriter(spark, **options)

    return make


@pytest.fixture
def writer(make_writer: MakeWriter) -> SafeDeltaWriter:
    """A writer with an app id, input row counting and millisecond backoffs."""
    return make_writer(
        app_id="tests",
        retry_backoff_s=0.01,
        max_backoff_s=0.05,
        count_input_rows=True,
    )


@pytest.fixture
def table_name(spark: SparkSession) -> Iterator[str]:
    """A unique catalog table name in the default database, dropped afterwards."""
    name = f"dsw_{uuid.uuid4().hex[:12]}"
    yield name
    spark.sql(f"DROP TABLE IF EXISTS {name}")


Rows = Callable[..., list[tuple[Any, ...]]]
Versions = Callable[[str], list[int]]


@pytest.fixture
def table_rows(spark: SparkSession) -> Rows:
    """Read a table's rows as sorted tuples: ``table_rows(target, *columns)``."""
    return lambda target, *columns: rows(spark, target, *columns)


@pytest.fixture
def table_versions(spark: SparkSession) -> Versions:
    """List a table's committed versions, oldest first: ``table_versions(target)``."""
    return lambda target: versions(spark, target)
