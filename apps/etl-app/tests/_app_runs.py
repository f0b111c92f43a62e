"""Helpers for tests that run the real command line in a child process and compare its tables.

Imported by the tests in this folder (pytest puts it on ``sys.path``); not a test module.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as sf

TABLES = (
    "bronze/customers",
    "bronze/orders",
    "silver/customers",
    "silver/orders",
    "quarantine/customers",
    "quarantine/orders",
    "gold/daily_revenue",
    "gold/customer_lifetime_value",
)
#: Columns whose values depend on when and under which run id a row was written.
RUN_TIME_COLUMNS = frozenset(
    {"ingested_at", "run_id", "updated_at", "quarantined_at", "_dq_run_id", "_dq_quarantined_at"}
)
#: Generous: a child process starting a JVM on a loaded two-core machine.
RUN_TIMEOUT_S = 1800


def start_app(
    config: Path,
    env: dict[str, str],
    *,
    cwd: Path | None = None,
    command: tuple[str, ...] = ("run",),
) -> subprocess.Popen[str]:
    """Start ``python -m etl_app <command> --config <config>``; :func:`finish_app` ends it.

    ``cwd`` is the child's working folder (where a URI data root's local files, such as the
    textfile metrics, go).
    """
    return subprocess.Popen(
        [sys.executable, "-m", "etl_app", *command, "--config", str(config)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=cwd,
    )


def finish_app(process: subprocess.Popen[str], *, exit_code: int = 0) -> str:
    """Wait for a started run; return its output. Fails the test unless it exits ``exit_code``."""
    try:
        stdout, stderr = process.communicate(timeout=RUN_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        process.kill()
        stdout, stderr = process.communicate()
    output = stdout + stderr
    assert process.returncode == exit_code, output
    return output


def run_app(
    config: Path,
    env: dict[str, str],
    *,
    exit_code: int = 0,
    cwd: Path | None = None,
    command: tuple[str, ...] = ("run",),
) -> str:
    """Run the command line to the end (:func:`start_app`, :func:`finish_app`); its output."""
    return finish_app(start_app(config, env, cwd=cwd, command=command), exit_code=exit_code)


def named_reports(output: str) -> list[str]:
    """The report locations a run printed (``run report: <path>``; log lines may follow)."""
    return [
        line.removeprefix("run report: ")
        for line in output.splitlines()
        if line.startswith("run report: ")
    ]


def report_status(spark: SparkSession, location: str) -> str:
    """The ``status`` of a run report: a local JSON file, or a text folder on a URI root."""
    if "://" not in location:
        return str(json.loads(Path(location).read_text())["status"])
    lines = [row["value"] for row in spark.read.text(location).collect()]
    assert len(lines) == 1, lines
    return str(json.loads(lines[0])["status"])


#: Columns naming an input file: runs reading the same files from two places compare names.
FILE_COLUMNS = frozenset({"source_file"})


def _comparable(spark: SparkSession, location: str | Path, file_names_only: bool) -> DataFrame:
    frame = spark.read.format("delta").load(str(location))
    columns = sorted(c for c in frame.columns if c not in RUN_TIME_COLUMNS)
    return frame.select(
        *(
            sf.element_at(sf.split(c, "/"), -1).alias(c)
            if file_names_only and c in FILE_COLUMNS
            else sf.col(c)
            for c in columns
        )
    )


def checksums(
    spark: SparkSession, location: str | Path, *, file_names_only: bool = False
) -> tuple[list[str], list[str]]:
    """Sorted SHA-256 of each row (JSON of its columns, run-time columns left out).

    ``file_names_only`` compares the input files' names, not their locations (a run on
    ``s3a://bucket/landing`` against one on a local folder).
    """
    frame = _comparable(spark, location, file_names_only)
    hashed = frame.select(sf.sha2(sf.to_json(sf.struct(*frame.columns)), 256).alias("h"))
    return sorted(frame.columns), sorted(row["h"] for row in hashed.collect())


def differing_columns(
    spark: SparkSession, left: str | Path, right: str | Path, *, file_names_only: bool = False
) -> dict[str, tuple[list[str], list[str]]]:
    """For a failure message: each column whose sorted values differ, with both value lists."""
    a = _comparable(spark, left, file_names_only)
    b = _comparable(spark, right, file_names_only)
    found: dict[str, tuple[list[str], list[str]]] = {}
    for column in a.columns:
        values_a = sorted(str(r[0]) for r in a.select(column).collect())
        values_b = sorted(str(r[0]) for r in b.select(column).collect())
        if values_a != values_b:
            found[column] = (values_a[:5], values_b[:5])
    return found


def history(spark: SparkSession, path: Path | str) -> list[Any]:
    """A Delta table's commits, newest first (SQL: works over Spark Connect too)."""
    return spark.sql(f"DESCRIBE HISTORY delta.`{path}`").collect()


def detail(spark: SparkSession, path: Path | str) -> Any:
    """A Delta table's DESCRIBE DETAIL row (SQL: works over Spark Connect too)."""
    return spark.sql(f"DESCRIBE DETAIL delta.`{path}`").collect()[0]
