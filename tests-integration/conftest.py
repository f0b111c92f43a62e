"""Fixtures starting REAL Prometheus, Pushgateway and Alertmanager (Debian packages) on 127.0.0.1.

The testkit's ``start_server`` gives each a free port and a log file, polls it until ready
(bounded) and stops it by PID at the end; a missing binary fails with the apt-get command that
installs it.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from pipeline_testkit.servers import RunningServer, start_server

READY_TIMEOUT_S = 30.0


@pytest.fixture(scope="session")
def pushgateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """A real Pushgateway on a free 127.0.0.1 port."""
    with start_server(
        "prometheus-pushgateway",
        lambda address: [f"--web.listen-address={address}"],
        log_dir=tmp_path_factory.mktemp("pushgateway"),
        timeout=READY_TIMEOUT_S,
    ) as server:
        yield server


@pytest.fixture(scope="session")
def prometheus(
    pushgateway: RunningServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningServer]:
    """A real Prometheus scraping the Pushgateway every second (honor_labels, as advised)."""
    folder = tmp_path_factory.mktemp("prometheus")
    config = folder / "prometheus.yml"
    config.write_text(
        "global:\n"
        "  scrape_interval: 1s\n"
        "  evaluation_interval: 1s\n"
        "scrape_configs:\n"
        "  - job_name: pushgateway\n"
        "    honor_labels: true\n"
        "    static_configs:\n"
        f"      - targets: ['{pushgateway.address}']\n"
    )
    with start_server(
        "prometheus",
        lambda address: [
            f"--config.file={config}",
            f"--storage.tsdb.path={folder / 'data'}",
            f"--web.listen-address={address}",
        ],
        log_dir=folder,
        timeout=READY_TIMEOUT_S,
    ) as server:
        yield server


MONITORING = Path(__file__).resolve().parents[1] / "monitoring"


@pytest.fixture(scope="session")
def alertmanager(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """A real Alertmanager with monitoring/'s routes and inhibitions, integrations stripped.

    Receivers keep their names but lose their email/Slack/PagerDuty configs, so nothing leaves the
    machine; what arrives and how it is routed is what the tests look at.
    """
    folder = tmp_path_factory.mktemp("alertmanager")
    config = yaml.safe_load((MONITORING / "alertmanager" / "alertmanager.yml").read_text())
    config["receivers"] = [{"name": r["name"]} for r in config["receivers"]]
    config.pop("templates")
    config["global"] = {"resolve_timeout": config["global"]["resolve_timeout"]}
    (folder / "alertmanager.yml").write_text(yaml.safe_dump(config))
    with start_server(
        "prometheus-alertmanager",
        lambda address: [
            f"--config.file={folder / 'alertmanager.yml'}",
            f"--storage.path={folder / 'data'}",
            f"--web.listen-address={address}",
            "--cluster.listen-address=",
        ],
        log_dir=folder,
        timeout=READY_TIMEOUT_S,
    ) as server:
        yield server


@pytest.fixture(scope="session")
def alerting_prometheus(
    pushgateway: RunningServer,
    alertmanager: RunningServer,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[RunningServer]:
    """A real Prometheus running monitoring/'s config and alert rules against the local servers.

    monitoring/prometheus/prometheus.yml as is (rule files, honor_labels, external labels), with
    the local addresses swapped in and 1s scrape and evaluation intervals.
    """
    folder = tmp_path_factory.mktemp("alerting-prometheus")
    config = yaml.safe_load((MONITORING / "prometheus" / "prometheus.yml").read_text())
    config["global"].update(scrape_interval="1s", evaluation_interval="1s")
    config["rule_files"] = [str(MONITORING / "prometheus" / p) for p in config["rule_files"]]
    local = {"pushgateway": pushgateway.address, "alertmanager": alertmanager.address}
    config["scrape_configs"] = [
        {**job, "static_configs": [{"targets": [local[job["job_name"]]]}]}
        for job in config["scrape_configs"]
        if job["job_name"] in local
    ]
    targets = [{"targets": [alertmanager.address]}]
    config["alerting"]["alertmanagers"] = [{"static_configs": targets}]
    (folder / "prometheus.yml").write_text(yaml.safe_dump(config))
    with start_server(
        "prometheus",
        lambda address: [
            f"--config.file={folder / 'prometheus.yml'}",
            f"--storage.tsdb.path={folder / 'data'}",
            f"--web.listen-address={address}",
        ],
        log_dir=folder,
        timeout=READY_TIMEOUT_S,
    ) as server:
        yield server
