"""Fixtures starting REAL Prometheus and Pushgateway servers (Debian packages) on 127.0.0.1.

The testkit's ``start_server`` gives each a free port and a log file, polls it until ready
(bounded) and stops it by PID at the end; a missing binary fails with the apt-get command that
installs it.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

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
