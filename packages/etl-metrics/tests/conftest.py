"""Fixtures: fresh metric sets, a real Pushgateway started by PID, and tiny loopback HTTP stubs."""

from __future__ import annotations

import base64
import http.server
import socket
import ssl
import subprocess
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import structlog
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from etl_metrics import EtlMetrics
from pipeline_testkit.servers import RunningServer, free_port, start_server

READY_TIMEOUT_S = 15.0

# Test-only credentials for the basic-auth Pushgateway; the bcrypt hash below is of this password
# (made with crypt.crypt(password, crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=16))).
GATEWAY_USER = "etl"
GATEWAY_PASSWORD = "etl-test-pass"
GATEWAY_PASSWORD_BCRYPT = "$2b$04$exowcbVBf6aE/PwNQP4zv.CkClizq1I15WV4WiWxLVWGUgTxqRr/G"


@pytest.fixture
def metrics() -> EtlMetrics:
    """A metric set in a registry of its own, so tests never see each other's values."""
    return EtlMetrics(CollectorRegistry())


@pytest.fixture(autouse=True)
def _reset_structlog() -> Iterator[None]:
    """Every test starts and ends with structlog's defaults and no bound context."""
    structlog.reset_defaults()
    structlog.contextvars.clear_contextvars()
    yield
    structlog.reset_defaults()
    structlog.contextvars.clear_contextvars()


@dataclass
class Pushgateway:
    """A running Pushgateway process, with helpers reading what was pushed."""

    server: RunningServer

    @property
    def address(self) -> str:
        """``127.0.0.1:<port>``, as the push functions take it."""
        return self.server.address

    @property
    def url(self) -> str:
        """Base URL."""
        return self.server.url

    def samples(self, headers: dict[str, str] | None = None) -> list[Sample]:
        """The pushed samples (etl_*, delta_* and push_time_seconds) the gateway exposes."""
        text = self.server.get("/metrics", headers)
        return [
            sample
            for family in text_string_to_metric_families(text)
            for sample in family.samples
            if sample.name.startswith(("etl_", "delta_", "push_time_seconds"))
        ]

    def value(self, name: str, **labels: str) -> float | None:
        """The value of the one sample with this name whose labels include ``labels``."""
        found = [
            s.value
            for s in self.samples()
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items())
        ]
        assert len(found) <= 1, f"{name}{labels} matched {len(found)} samples"
        return found[0] if found else None

    def wipe(self) -> None:
        """Delete every group (admin API)."""
        request = urllib.request.Request(self.url + "/api/v1/admin/wipe", method="PUT")
        with urllib.request.urlopen(request, timeout=5) as response:
            assert response.status == 202


def _pushgateway(
    folder: Path, extra_args: list[str], headers: dict[str, str]
) -> Iterator[Pushgateway]:
    """Run an in-memory Pushgateway with the admin API on, stopped by PID at the end."""
    with start_server(
        "prometheus-pushgateway",
        lambda address: [
            f"--web.listen-address={address}",
            "--persistence.file=",
            "--web.enable-admin-api",
            "--log.level=warn",
            *extra_args,
        ],
        log_dir=folder,
        ready_headers=headers,
        timeout=READY_TIMEOUT_S,
    ) as server:
        yield Pushgateway(server)


@pytest.fixture(scope="session")
def _shared_pushgateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pushgateway]:
    yield from _pushgateway(tmp_path_factory.mktemp("pushgateway"), [], {})


@pytest.fixture
def pushgateway(_shared_pushgateway: Pushgateway) -> Pushgateway:
    """The real Pushgateway on 127.0.0.1 (one process per session), emptied for this test."""
    _shared_pushgateway.wipe()
    return _shared_pushgateway


@pytest.fixture(scope="session")
def auth_pushgateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pushgateway]:
    """A real Pushgateway that requires basic auth (user ``etl``, the test password)."""
    folder = tmp_path_factory.mktemp("pushgateway-auth")
    config = folder / "web.yml"
    config.write_text(f"basic_auth_users:\n  {GATEWAY_USER}: {GATEWAY_PASSWORD_BCRYPT}\n")
    token = base64.b64encode(f"{GATEWAY_USER}:{GATEWAY_PASSWORD}".encode()).decode()
    yield from _pushgateway(
        folder, [f"--web.config.file={config}"], {"Authorization": f"Basic {token}"}
    )


@pytest.fixture(scope="session")
def gateway_credentials() -> tuple[str, str]:
    """User name and password accepted by ``auth_pushgateway``."""
    return GATEWAY_USER, GATEWAY_PASSWORD


@dataclass
class StubServer:
    """A loopback HTTP server: scripted statuses first, then ``status``; records requests."""

    address: str
    status: int
    script: list[int] = field(default_factory=list)
    requests: list[tuple[str, str, dict[str, str]]] = field(default_factory=list)


@pytest.fixture
def stub_server(request: pytest.FixtureRequest) -> Iterator[StubServer]:
    """A local http.server on 127.0.0.1 answering with ``status`` (parametrize indirectly)."""
    status = int(getattr(request, "param", 200))
    server_state = StubServer(address="", status=status)

    class Handler(http.server.BaseHTTPRequestHandler):
        def _answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            if length:
                self.rfile.read(length)
            server_state.requests.append((self.command, self.path, dict(self.headers.items())))
            script = server_state.script
            self.send_response(script.pop(0) if script else server_state.status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        do_GET = do_PUT = do_POST = do_DELETE = _answer  # noqa: N815

        def log_message(self, format: str, *args: object) -> None:
            """Keep the test output quiet."""

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    server_state.address = f"127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server_state
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


@pytest.fixture
def silent_server() -> Iterator[str]:
    """An address that accepts TCP connections (kernel backlog) but never answers."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        yield f"127.0.0.1:{sock.getsockname()[1]}"


@pytest.fixture
def closed_port() -> str:
    """An address with nothing listening (connection refused)."""
    return f"127.0.0.1:{free_port()}"


# How long the trickling gateway would go on answering: minutes, far beyond any bound tested.
TRICKLE_FOR_S = 600.0
TRICKLE_EVERY_S = 0.5


@dataclass
class TricklingServer:
    """A loopback gateway that answers one byte at a time and never finishes its answer."""

    address: str
    connections: int = 0


def _trickle_forever(
    scheme: str,
    wrap: Callable[[socket.socket], socket.socket] | None = None,
    at_once: bytes = b"",
) -> Iterator[TricklingServer]:
    """Serve the trickling answer on 127.0.0.1 until the test ends (``wrap``: TLS).

    ``at_once`` is sent as soon as a client connects; the rest of the answer trickles.
    """
    stop = threading.Event()
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    listener.settimeout(0.2)
    state = TricklingServer(address=f"{scheme}127.0.0.1:{listener.getsockname()[1]}")
    threads: list[threading.Thread] = []
    answer = b"HTTP/1.1 200 OK\r\nX-Trickle: "

    def trickle(raw: socket.socket) -> None:
        try:
            conn = raw if wrap is None else wrap(raw)
        except OSError:  # the client gave up during the TLS handshake
            raw.close()
            return
        with conn:
            if at_once:
                try:
                    conn.sendall(at_once)
                except OSError:
                    return
            ends = time.monotonic() + TRICKLE_FOR_S
            position = 0
            while time.monotonic() < ends and not stop.wait(TRICKLE_EVERY_S):
                byte = answer[position : position + 1] or b"a"
                position += 1
                try:
                    conn.sendall(byte)
                except OSError:  # the client hung up: what a bounded push does
                    return

    def accept() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            conn.settimeout(READY_TIMEOUT_S)
            state.connections += 1
            worker = threading.Thread(target=trickle, args=(conn,), daemon=True)
            threads.append(worker)
            worker.start()

    acceptor = threading.Thread(target=accept, daemon=True)
    acceptor.start()
    yield state
    stop.set()
    acceptor.join(timeout=5)
    listener.close()
    for worker in threads:
        worker.join(timeout=5)


@pytest.fixture
def trickling_server() -> Iterator[TricklingServer]:
    """A raw socket server on 127.0.0.1 sending one byte of an HTTP answer every 0.5 s.

    Each connection gets ``HTTP/1.1 200 OK`` and then an endless header line, byte by byte,
    for up to ten minutes: every single read completes quickly, the answer never does.
    """
    yield from _trickle_forever("")


@pytest.fixture
def status_then_trickling_server() -> Iterator[TricklingServer]:
    """Like ``trickling_server``, but ``HTTP/1.1 200 OK`` arrives at once; the headers never end.

    A client that stops reading when its time is up sees a success status line and a cut-off
    header block: that is no complete answer, and no evidence the gateway stored anything.
    """
    yield from _trickle_forever("", at_once=b"HTTP/1.1 200 OK\r\nX-Trickle: ")


@pytest.fixture
def tls_trickling_server(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[TricklingServer]:
    """The trickling server over TLS (``https://``), its self-signed certificate trusted.

    The certificate for 127.0.0.1 is made with the ``openssl`` command and trusted through
    ``SSL_CERT_FILE``, which Python's default TLS context reads.
    """
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
            "-keyout", str(key), "-out", str(cert), "-subj", "/CN=127.0.0.1",
            "-addext", "subjectAltName=IP:127.0.0.1",
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )  # fmt: skip
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    yield from _trickle_forever("https://", lambda raw: context.wrap_socket(raw, server_side=True))
