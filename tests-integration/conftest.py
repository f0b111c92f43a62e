"""Fixtures starting REAL Prometheus and Pushgateway servers (Debian packages) on 127.0.0.1.

Each server gets a free port and a temp folder, is polled until ready (bounded), and is stopped
by PID at the end. Missing binaries fail with the apt-get command that installs them.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

READY_TIMEOUT_S = 30.0


def free_port() -> int:
    """Return a TCP port that is free on 127.0.0.1 right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def http_get(url: str, timeout: float = 5.0) -> str:
    """GET ``url`` and return the body as text."""
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return str(response.read().decode("utf-8"))


@dataclass
class Server:
    """A started server process and its address."""

    name: str
    process: subprocess.Popen[bytes]
    address: str
    log: Path

    @property
    def url(self) -> str:
        """Base URL of the server."""
        return f"http://{self.address}"

    def get(self, path: str) -> str:
        """GET ``path`` (``/metrics``) from the server and return the body."""
        return http_get(f"{self.url}{path}")


def _binary(name: str, package: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(
            f"'{name}' is not installed: run 'apt-get install -y {package}' (nox -s integration "
            "does it when run as root)"
        )
    return path


def _start(name: str, argv: list[str], address: str, log: Path) -> Server:
    with log.open("wb") as out:
        process = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT)
    server = Server(name, process, address, log)
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"{name} exited with {process.returncode}: {log.read_text()[-2000:]}")
        try:
            http_get(f"{server.url}/-/ready", timeout=1.0)
        except (urllib.error.URLError, OSError):
            time.sleep(0.2)
        else:
            return server
    _stop(server)
    pytest.fail(
        f"{name} not ready on {address} after {READY_TIMEOUT_S}s: {log.read_text()[-2000:]}"
    )


def _stop(server: Server) -> None:
    server.process.terminate()
    try:
        server.process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        server.process.kill()
        server.process.wait(timeout=10)


@pytest.fixture(scope="session")
def pushgateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A real Pushgateway on a free 127.0.0.1 port."""
    binary = _binary("prometheus-pushgateway", "prometheus-pushgateway")
    folder = tmp_path_factory.mktemp("pushgateway")
    address = f"127.0.0.1:{free_port()}"
    server = _start(
        "pushgateway",
        [binary, f"--web.listen-address={address}"],
        address,
        folder / "pushgateway.log",
    )
    yield server
    _stop(server)


@pytest.fixture(scope="session")
def prometheus(pushgateway: Server, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A real Prometheus scraping the Pushgateway every second (honor_labels, as advised)."""
    binary = _binary("prometheus", "prometheus")
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
    address = f"127.0.0.1:{free_port()}"
    server = _start(
        "prometheus",
        [
            binary,
            f"--config.file={config}",
            f"--storage.tsdb.path={folder / 'data'}",
            f"--web.listen-address={address}",
        ],
        address,
        folder / "prometheus.log",
    )
    yield server
    _stop(server)
