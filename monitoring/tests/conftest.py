"""Fixtures for the monitoring checks: paths, the Prometheus tools, a PromQL metric-name reader."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

MONITORING = Path(__file__).resolve().parents[1]

# The metric families etl-metrics exports (issue 6): the alert rules and dashboards may use these
# and nothing else, so a renamed metric breaks this suite instead of silently blinding an alert.
ETL_METRICS = frozenset(
    {
        "etl_job_executions_total",
        "etl_job_duration_seconds",
        "etl_job_last_success_timestamp",
        "etl_stage_duration_seconds",
        "etl_dq_checks_total",
        "etl_dq_violations_total",
        "etl_records_processed_total",
        "etl_records_failed_total",
        "delta_table_size_bytes",
        "delta_table_versions",
        "delta_table_files",
        "delta_write_duration_seconds",
        "etl_schema_drift_detected_total",
        "etl_memory_usage_bytes",
        "etl_cpu_usage_percent",
        "etl_errors_total",
    }
)
ETL_HISTOGRAMS = frozenset(
    {"etl_job_duration_seconds", "etl_stage_duration_seconds", "delta_write_duration_seconds"}
)
# Series Prometheus or the Pushgateway produce themselves, allowed in platform alerts only.
PLATFORM_METRICS = frozenset({"up"})

_KEYWORDS = frozenset(
    {"and", "or", "unless", "bool", "offset", "by", "without", "on", "ignoring"}
    | {"group_left", "group_right", "inf", "nan", "atan2"}
)
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
_MATCHERS = re.compile(r"\{[^{}]*\}")
_RANGES = re.compile(r"\[[^\[\]]*\]")
_LABEL_LISTS = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)")
_IDENTIFIER = re.compile(r"(?<![\w.:])([A-Za-z_:][\w:]*)(?![\w:]|\s*\()")


def metric_names(expr: str) -> set[str]:
    """Return the metric names a PromQL expression selects (functions and keywords excluded)."""
    text = _STRING.sub('""', expr)
    text = _MATCHERS.sub("", text)
    text = _RANGES.sub("", text)
    text = _LABEL_LISTS.sub("", text)
    return {name for name in _IDENTIFIER.findall(text) if name.lower() not in _KEYWORDS}


def allowed_metric_names() -> frozenset[str]:
    """Metric names a rule or panel may select: the etl-metrics families and histogram series."""
    suffixed = {f"{h}_{s}" for h in ETL_HISTOGRAMS for s in ("bucket", "sum", "count")}
    return (ETL_METRICS - ETL_HISTOGRAMS) | suffixed


def tool_path(name: str) -> str:
    """Find a command-line tool in this interpreter's venv first, then on PATH."""
    local = Path(sys.executable).parent / name
    if local.exists():
        return str(local)
    found = shutil.which(name)
    if found is None:
        pytest.fail(
            f"'{name}' not found on PATH. promtool/amtool/prometheus-alertmanager come from the "
            "Debian packages prometheus and prometheus-alertmanager (nox installs them as root)."
        )
    return found


def run_tool(*args: str | Path) -> subprocess.CompletedProcess[str]:
    """Run a tool, capturing text output, never raising on a non-zero exit."""
    command = [tool_path(str(args[0])), *map(str, args[1:])]
    return subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)


@pytest.fixture
def run() -> Callable[..., subprocess.CompletedProcess[str]]:
    """The tool runner, as a fixture for tests."""
    return run_tool


@pytest.fixture
def promql_metrics() -> Callable[[str], set[str]]:
    """The PromQL metric-name reader, as a fixture for tests."""
    return metric_names


@pytest.fixture
def allowed_metrics() -> frozenset[str]:
    """Metric names the ETL rules and panels may select."""
    return allowed_metric_names()


@pytest.fixture
def platform_metrics() -> frozenset[str]:
    """Series from Prometheus itself that platform alerts may select."""
    return PLATFORM_METRICS


@pytest.fixture(scope="session")
def tool() -> Callable[[str], str]:
    """The tool finder, as a fixture (session-scoped so server fixtures can use it)."""
    return tool_path
