"""Fixtures for the monitoring checks: paths, the Prometheus tools, a PromQL metric-name reader."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from pipeline_testkit.servers import find_binary, start_server

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
        "etl_dq_anomaly_checks_total",
        "etl_dq_anomalies_total",
        "etl_dq_anomaly_value",
        "etl_dq_anomaly_lower_bound",
        "etl_dq_anomaly_upper_bound",
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
    """Find a command-line tool in this interpreter's venv first, then on PATH.

    Raises:
        ServerBinaryMissingError: Not found; the message names the Debian package to install.
    """
    local = Path(sys.executable).parent / name
    if local.exists():
        return str(local)
    return find_binary(name)


def run_tool(*args: str | Path) -> subprocess.CompletedProcess[str]:
    """Run a tool, capturing text output, never raising on a non-zero exit."""
    command = [tool_path(str(args[0])), *map(str, args[1:])]
    return subprocess.run(command, capture_output=True, text=True, timeout=600, check=False)


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


def http_json(url: str, body: Any = None) -> Any:
    """GET ``url`` (POST ``body`` as JSON when given); return parsed JSON, else the text."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=5) as response:
        text = response.read().decode()
    return json.loads(text) if text.strip().startswith(("[", "{")) else text


@pytest.fixture(scope="session")
def http() -> Callable[..., Any]:
    """The JSON HTTP helper, as a fixture."""
    return http_json


def serve(binary: str, args: Callable[[str], list[str]], log_dir: Path) -> Iterator[str]:
    """Start ``binary`` on a free 127.0.0.1 port, yield its base URL once ready, stop it by PID.

    Args:
        binary: Executable name, looked up on PATH.
        args: Given ``127.0.0.1:<port>``, the command-line arguments.
        log_dir: Folder for the server's log, quoted if it fails to start.
    """
    with start_server(binary, args, log_dir=log_dir, timeout=20) as server:
        yield server.url


@pytest.fixture(scope="module")
def alertmanager(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real Alertmanager running our routes and inhibitions, without integrations.

    Receivers keep their names but lose their Slack/PagerDuty configs, so nothing leaves the
    machine; routing and inhibition are what is under test. One instance per test module.
    """
    workdir = tmp_path_factory.mktemp("alertmanager")
    config = yaml.safe_load((MONITORING / "alertmanager" / "alertmanager.yml").read_text())
    config["receivers"] = [{"name": r["name"]} for r in config["receivers"]]
    config.pop("templates")
    (workdir / "alertmanager.yml").write_text(yaml.safe_dump(config))
    yield from serve(
        "prometheus-alertmanager",
        lambda address: [
            f"--config.file={workdir / 'alertmanager.yml'}",
            f"--storage.path={workdir / 'data'}",
            f"--web.listen-address={address}",
            "--cluster.listen-address=",
            "--log.level=warn",
        ],
        workdir,
    )


@pytest.fixture(scope="module")
def pushgateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real Pushgateway (in memory only), one per test module."""
    yield from serve(
        "prometheus-pushgateway",
        lambda address: [
            f"--web.listen-address={address}",
            "--persistence.file=",
            "--log.level=warn",
        ],
        tmp_path_factory.mktemp("pushgateway"),
    )


@pytest.fixture(scope="module")
def prometheus(
    tmp_path_factory: pytest.TempPathFactory, pushgateway: str, alertmanager: str
) -> Iterator[str]:
    """A real Prometheus running OUR config, pointed at the local gateway and Alertmanager.

    monitoring/prometheus/prometheus.yml is kept as is (rule files, honor_labels) except for the
    addresses and a 1s scrape/evaluation interval, so a test sees alerts within seconds.
    """
    workdir = tmp_path_factory.mktemp("prometheus")
    config = yaml.safe_load((MONITORING / "prometheus" / "prometheus.yml").read_text())
    config["global"].update(scrape_interval="1s", evaluation_interval="1s")
    config["rule_files"] = [str(MONITORING / "prometheus" / p) for p in config["rule_files"]]
    host = {"pushgateway": pushgateway, "alertmanager": alertmanager}
    for job in config["scrape_configs"]:
        if job["job_name"] in host:
            job["static_configs"] = [{"targets": [host[job["job_name"]].removeprefix("http://")]}]
    config["scrape_configs"] = [j for j in config["scrape_configs"] if j["job_name"] in host]
    manager = config["alerting"]["alertmanagers"][0]
    manager["static_configs"] = [{"targets": [alertmanager.removeprefix("http://")]}]
    (workdir / "prometheus.yml").write_text(yaml.safe_dump(config))
    yield from serve(
        "prometheus",
        lambda address: [
            f"--config.file={workdir / 'prometheus.yml'}",
            f"--storage.tsdb.path={workdir / 'data'}",
            f"--web.listen-address={address}",
            "--log.level=warn",
        ],
        workdir,
    )
