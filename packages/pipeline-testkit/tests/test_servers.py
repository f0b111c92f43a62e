"""Real server processes on 127.0.0.1: start, readiness, log capture, errors, stop by PID.

The servers here are small Python programs run by this interpreter, so the suite needs no
Debian package; the Prometheus binaries go through the same code in the etl-metrics,
integration and deploy suites.
"""

from __future__ import annotations

import os
import signal
import socket
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace

import pytest

from pipeline_testkit import (
    RunningServer,
    ServerBinaryMissingError,
    ServerStartError,
    find_binary,
    free_port,
    port_open,
    servers,
    start_server,
)
from pipeline_testkit.servers import DEBIAN_PACKAGES

PYTHON = sys.executable

# Answers 200 on any path when the request carries the expected Authorization header, else 401.
# Ignoring SIGTERM is switched on by a third argument, to exercise the kill fallback.
AUTH_SERVER = """
import http.server, signal, sys

host, port = sys.argv[1].rsplit(":", 1)
if len(sys.argv) > 2:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)

class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        ok = self.headers.get("Authorization") == "Basic dGVzdA=="
        body = b"hello" if ok else b"denied"
        self.send_response(200 if ok else 401)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

http.server.HTTPServer((host, int(port)), Handler).serve_forever()
"""

# First start: behaves like a server whose port was just taken; later starts serve.
PORT_RACE_SERVER = """
import http.server, sys
from pathlib import Path

marker = Path(sys.argv[2])
if not marker.exists() or sys.argv[3] == "always":
    marker.write_text("taken")
    print(f"listen tcp {sys.argv[1]}: bind: address already in use", flush=True)
    sys.exit(1)
host, port = sys.argv[1].rsplit(":", 1)
http.server.HTTPServer((host, int(port)), http.server.SimpleHTTPRequestHandler).serve_forever()
"""

AUTH = {"Authorization": "Basic dGVzdA=="}


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _http_server_args(folder: Path) -> Callable[[str], list[str]]:
    def args(address: str) -> list[str]:
        port = address.rsplit(":", 1)[1]
        return ["-m", "http.server", port, "--bind", "127.0.0.1", "--directory", str(folder)]

    return args


@pytest.fixture
def auth_script(tmp_path: Path) -> Path:
    """The header-checking server program, written to a file."""
    path = tmp_path / "auth_server.py"
    path.write_text(AUTH_SERVER)
    return path


class TestFreePort:
    def test_port_can_be_bound_on_loopback(self) -> None:
        """The returned port is free: a socket binds to it on 127.0.0.1."""
        port = free_port()
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind(("127.0.0.1", port))
            assert sock.getsockname()[1] == port


class TestFindBinary:
    def test_present_binary_resolves_to_its_path(self) -> None:
        """An executable on PATH (or given by path) resolves to its full path."""
        assert find_binary(PYTHON) == PYTHON

    def test_missing_monitoring_binary_names_the_apt_package(
        self, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
    ) -> None:
        """A missing amtool names Debian's prometheus-alertmanager and the apt-get command."""
        monkeypatch.setenv("PATH", str(tmp_path))
        with pytest.raises(ServerBinaryMissingError) as err:
            find_binary("amtool")
        message = str(err.value)
        assert "'amtool' is not on PATH" in message
        assert "apt-get install -y prometheus-alertmanager" in message

    def test_explicit_package_wins(self, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
        """A caller-named package is the one the message tells to install."""
        monkeypatch.setenv("PATH", str(tmp_path))
        with pytest.raises(ServerBinaryMissingError, match="apt-get install -y my-server-pkg"):
            find_binary("my-server", package="my-server-pkg")

    def test_unknown_binary_says_to_put_it_on_path(
        self, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
    ) -> None:
        """A binary with no known package gets a generic how-to, not a made-up package."""
        monkeypatch.setenv("PATH", str(tmp_path))
        with pytest.raises(ServerBinaryMissingError, match="install it and put it on PATH"):
            find_binary("no-such-server")

    def test_every_prometheus_binary_has_a_package(self) -> None:
        """The servers and tools the suites run all map to their Debian package."""
        assert dict(DEBIAN_PACKAGES) == {
            "prometheus": "prometheus",
            "promtool": "prometheus",
            "prometheus-pushgateway": "prometheus-pushgateway",
            "prometheus-alertmanager": "prometheus-alertmanager",
            "amtool": "prometheus-alertmanager",
        }

    def test_start_server_with_missing_binary_starts_nothing(
        self, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
    ) -> None:
        """start_server fails on a missing binary before creating any log or process."""
        monkeypatch.setenv("PATH", str(tmp_path / "bin"))
        with pytest.raises(ServerBinaryMissingError, match="prometheus-pushgateway"):
            start_server("prometheus-pushgateway", lambda _: [], log_dir=tmp_path / "logs")
        assert not (tmp_path / "logs").exists()


class TestRunningServer:
    def test_serves_on_loopback_until_stopped(self, tmp_path: Path) -> None:
        """The server answers on its 127.0.0.1 URL inside the block and its PID is gone after."""
        (tmp_path / "www").mkdir()
        (tmp_path / "www" / "hello.txt").write_text("hi there")
        with start_server(
            PYTHON,
            _http_server_args(tmp_path / "www"),
            log_dir=tmp_path / "logs",
            ready_path="/",
        ) as server:
            assert server.address.startswith("127.0.0.1:")
            assert server.url == f"http://{server.address}"
            assert server.get("/hello.txt") == "hi there"
            assert server.running
            assert _pid_alive(server.pid)
            pid = server.pid
        assert server.process.returncode == -signal.SIGTERM
        assert not _pid_alive(pid)
        # http.server logs each request to stderr, which lands in the captured log.
        assert "GET /hello.txt" in server.log_path.read_text()
        assert server.log_path.parent == tmp_path / "logs"

    def test_readiness_request_carries_the_headers(self, tmp_path: Path, auth_script: Path) -> None:
        """A server requiring auth becomes ready with ready_headers and answers authorised GETs."""
        with start_server(
            PYTHON,
            lambda address: [str(auth_script), address],
            log_dir=tmp_path,
            ready_headers=AUTH,
            timeout=20,
        ) as server:
            assert server.get("/anything", AUTH) == "hello"

    def test_not_ready_in_time_is_stopped_and_reported(
        self, tmp_path: Path, auth_script: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A server that never answers the readiness path successfully is stopped, then named.

        The clock start_server reads stands still until the server has logged a refused
        readiness request, then jumps past the deadline: the timeout fires only after there is
        a 401 to quote, however long the server takes to start on a loaded machine.
        """
        log = tmp_path / f"{Path(PYTHON).name}-1.log"
        refused = '"GET /-/ready HTTP/1.1" 401'

        def monotonic() -> float:
            answered = log.exists() and refused in log.read_text(errors="replace")
            return 1_000.0 if answered else 0.0

        monkeypatch.setattr(servers, "time", SimpleNamespace(monotonic=monotonic, sleep=time.sleep))
        with pytest.raises(ServerStartError) as err:
            start_server(
                PYTHON, lambda address: [str(auth_script), address], log_dir=tmp_path, timeout=1.0
            )
        message = str(err.value)
        assert "did not answer /-/ready successfully within 1.0s" in message
        assert "on 127.0.0.1:" in message
        # The 401 answers are logged by the server: its log is quoted.
        assert refused in message

    def test_exit_at_start_reports_status_and_log(self, tmp_path: Path) -> None:
        """A process that dies at start raises with its exit status and the end of its log."""
        program = "import sys; print('error: bad --config.file', flush=True); sys.exit(3)"
        with pytest.raises(ServerStartError) as err:
            start_server(PYTHON, lambda _: ["-c", program], log_dir=tmp_path)
        message = str(err.value)
        assert f"({PYTHON})" in message
        assert "exited with status 3 at start" in message
        assert "error: bad --config.file" in message
        # Not a port race: no second start was made.
        assert sorted(p.name for p in tmp_path.iterdir()) == [f"{Path(PYTHON).name}-1.log"]

    def test_silent_exit_says_the_log_is_empty(self, tmp_path: Path) -> None:
        """A process that dies without output still gets a message, marking the log empty."""
        with pytest.raises(ServerStartError, match=r"status 0 at start.*\n\(empty\)"):
            start_server(PYTHON, lambda _: ["-c", "pass"], log_dir=tmp_path)

    def test_port_taken_at_bind_is_retried_on_a_new_port(self, tmp_path: Path) -> None:
        """When the probed port was taken before the server bound it, a new port is tried."""
        script = tmp_path / "race.py"
        script.write_text(PORT_RACE_SERVER)
        marker = tmp_path / "marker"
        with start_server(
            PYTHON,
            lambda address: [str(script), address, str(marker), "once"],
            log_dir=tmp_path / "logs",
            ready_path="/",
        ) as server:
            assert server.log_path.name.endswith("-2.log")
            first_log = (tmp_path / "logs" / server.log_path.name.replace("-2", "-1")).read_text()
            assert "address already in use" in first_log

    def test_port_race_gives_up_after_the_attempts(self, tmp_path: Path) -> None:
        """A port that is always taken fails after ``attempts`` starts, quoting the last log."""
        script = tmp_path / "race.py"
        script.write_text(PORT_RACE_SERVER)
        with pytest.raises(ServerStartError, match="address already in use") as err:
            start_server(
                PYTHON,
                lambda address: [str(script), address, str(tmp_path / "m"), "always"],
                log_dir=tmp_path / "logs",
                attempts=2,
            )
        assert "-2.log" in str(err.value)
        assert len(list((tmp_path / "logs").iterdir())) == 2

    def test_stop_kills_a_server_that_ignores_sigterm(
        self, tmp_path: Path, auth_script: Path
    ) -> None:
        """A server outliving SIGTERM past the timeout is killed, so no process is left."""
        server = start_server(
            PYTHON,
            lambda address: [str(auth_script), address, "ignore-term"],
            log_dir=tmp_path,
            ready_headers=AUTH,
        )
        server.stop(timeout=0.5)
        assert server.process.returncode == -signal.SIGKILL
        assert not _pid_alive(server.pid)

    def test_stop_after_exit_is_a_no_op(self, tmp_path: Path) -> None:
        """Stopping a process that has already exited keeps its own exit status."""
        server = start_server(PYTHON, _http_server_args(tmp_path), log_dir=tmp_path, ready_path="/")
        os.kill(server.pid, signal.SIGKILL)
        server.process.wait(timeout=10)
        server.stop()
        assert server.process.returncode == -signal.SIGKILL

    def test_log_tail_is_empty_when_the_log_is_gone(self, tmp_path: Path) -> None:
        """A deleted log file reads as an empty tail instead of failing the error path."""
        with start_server(
            PYTHON, _http_server_args(tmp_path), log_dir=tmp_path / "logs", ready_path="/"
        ) as server:
            assert isinstance(server, RunningServer)
            server.log_path.unlink()
            assert server.log_tail() == ""


# Listens on a TCP port without speaking HTTP (like a gRPC server); prints one variable first.
TCP_SERVER = """
import os, socket, sys

print("secret is", os.environ.get("TESTKIT_SECRET"), flush=True)
host, port = sys.argv[1].rsplit(":", 1)
server = socket.create_server((host, int(port)))
while True:
    server.accept()[0].close()
"""


class TestCustomReadiness:
    """Servers that speak no HTTP: a readiness callable, and environment for the process."""

    def test_tcp_server_is_ready_when_its_port_accepts(self, tmp_path: Path) -> None:
        """A ready callable (port_open) replaces the HTTP check; env reaches the process only."""
        script = tmp_path / "tcp.py"
        script.write_text(TCP_SERVER)
        with start_server(
            PYTHON,
            lambda address: [str(script), address],
            log_dir=tmp_path / "logs",
            ready=lambda server: port_open(server.address),
            env={"TESTKIT_SECRET": "s3cr3t"},
        ) as server:
            assert port_open(server.address)
            assert "TESTKIT_SECRET" not in os.environ
        assert "secret is s3cr3t" in server.log_path.read_text()
        assert not port_open(server.address)

    def test_never_ready_names_the_check(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A ready callable that never holds ends in 'did not become ready' with the log."""
        calls: list[int] = []
        log = tmp_path / f"{Path(PYTHON).name}-1.log"

        def monotonic() -> float:
            # The deadline passes once the check ran a few times and the server has logged.
            printed = log.exists() and "waiting" in log.read_text()
            return 1_000.0 if len(calls) >= 3 and printed else 0.0

        def never(server: RunningServer) -> bool:
            calls.append(server.pid)
            return False

        monkeypatch.setattr(servers, "time", SimpleNamespace(monotonic=monotonic, sleep=time.sleep))
        with pytest.raises(ServerStartError, match=r"did not become ready within 5\.0s") as err:
            start_server(
                PYTHON,
                lambda _: ["-c", "import time; print('waiting', flush=True); time.sleep(600)"],
                log_dir=tmp_path,
                ready=never,
                timeout=5.0,
            )
        assert len(calls) >= 3
        assert not _pid_alive(calls[0])
        assert str(err.value).endswith("waiting\n")

    def test_port_open_on_a_closed_port(self) -> None:
        """Nothing listening: port_open is False."""
        assert not port_open(f"127.0.0.1:{free_port()}")
