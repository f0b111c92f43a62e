"""Start real server binaries (Prometheus, Pushgateway, Alertmanager) on 127.0.0.1 for tests.

Suites keep their own fixtures (flags, config files, auth differ) and build them on
:func:`start_server`: it finds the binary (or says which Debian package provides it), starts
it on a free loopback port with its output captured to a log file, polls a readiness path until
it answers, and stops the process by PID afterwards. A server that dies at start, or never gets
ready, raises :class:`~pipeline_testkit.errors.ServerStartError` with the end of its log.

Example (in a session-scoped fixture)::

    with start_server(
        "prometheus-pushgateway",
        lambda address: [f"--web.listen-address={address}", "--persistence.file="],
        log_dir=tmp_path_factory.mktemp("pushgateway"),
    ) as gateway:
        yield gateway  # gateway.url, gateway.pid, gateway.get("/metrics"), gateway.log_path
"""

from __future__ import annotations

import http.client
import os
import shutil
import socket
import subprocess
import time
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

from pipeline_testkit.errors import ServerBinaryMissingError, ServerStartError

__all__ = [
    "DEBIAN_PACKAGES",
    "LOOPBACK",
    "RunningServer",
    "find_binary",
    "free_port",
    "port_open",
    "start_server",
]

#: The interface every test server binds to: nothing is reachable from outside the machine.
LOOPBACK = "127.0.0.1"

#: Binary name -> the Debian package that provides it (named in the missing-binary error).
DEBIAN_PACKAGES: Mapping[str, str] = MappingProxyType(
    {
        "prometheus": "prometheus",
        "promtool": "prometheus",
        "prometheus-pushgateway": "prometheus-pushgateway",
        "prometheus-alertmanager": "prometheus-alertmanager",
        "amtool": "prometheus-alertmanager",
    }
)

#: How much of a server's log an error quotes.
LOG_TAIL_CHARS = 2000
# What Go servers (and most others) log when the port was taken between probing and binding.
_PORT_TAKEN = "address already in use"

ArgsFor = Callable[[str], Sequence[str]]
ReadyCheck = Callable[["RunningServer"], bool]


def free_port(host: str = LOOPBACK) -> int:
    """Return a TCP port on ``host`` that was free a moment ago.

    Args:
        host: Interface to probe.

    Returns:
        The port number. Another process may take it before the caller binds; see
        :func:`start_server`'s ``attempts``.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def port_open(address: str, timeout: float = 2.0) -> bool:
    """Return whether something accepts TCP connections on ``host:port``.

    Args:
        address: ``127.0.0.1:<port>``.
        timeout: Seconds to wait for the connection.

    Returns:
        True when a connection was accepted (and closed again).
    """
    host, port = address.rsplit(":", 1)
    try:
        with socket.create_connection((host, int(port)), timeout=timeout):
            return True
    except OSError:
        return False


def find_binary(name: str, *, package: str | None = None) -> str:
    """Return the path of an executable on ``PATH``.

    Args:
        name: Executable name (or path).
        package: Debian package that provides it; defaults to :data:`DEBIAN_PACKAGES`.

    Returns:
        The executable's path.

    Raises:
        ServerBinaryMissingError: It is not on ``PATH``; the message names the apt package.
    """
    found = shutil.which(name)
    if found is not None:
        return found
    package = package or DEBIAN_PACKAGES.get(Path(name).name)
    if package is None:
        how = "install it and put it on PATH"
    else:
        how = (
            f"install Debian's package {package} ('apt-get install -y {package}'; "
            "the nox sessions that need it do this when run as root)"
        )
    raise ServerBinaryMissingError(f"'{name}' is not on PATH: {how}.")


@dataclass(frozen=True)
class RunningServer:
    """A server process started by :func:`start_server`; as a context manager, stopped on exit.

    Attributes:
        name: The binary's name, used in messages.
        address: ``127.0.0.1:<port>`` it listens on.
        process: The process; stop it with :meth:`stop`.
        log_path: File holding the process's stdout and stderr.
    """

    name: str
    address: str
    process: subprocess.Popen[bytes]
    log_path: Path

    @property
    def url(self) -> str:
        """Base URL, ``http://127.0.0.1:<port>``."""
        return f"http://{self.address}"

    @property
    def pid(self) -> int:
        """Process id."""
        return self.process.pid

    @property
    def running(self) -> bool:
        """Whether the process is still alive."""
        return self.process.poll() is None

    def log_tail(self, chars: int = LOG_TAIL_CHARS) -> str:
        """The last ``chars`` characters of the server's output."""
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except FileNotFoundError:
            return ""

    def get(self, path: str, headers: Mapping[str, str] | None = None, timeout: float = 5.0) -> str:
        """GET ``path`` (such as ``/metrics``) and return the body as text.

        Args:
            path: Path below :attr:`url`, with its leading slash.
            headers: Request headers (for example ``Authorization``).
            timeout: Seconds to wait for the answer.

        Returns:
            The response body.

        Raises:
            urllib.error.HTTPError: The server answered with an error status.
            OSError: The server could not be reached.
        """
        request = urllib.request.Request(self.url + path, headers=dict(headers or {}))
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return str(response.read().decode("utf-8"))

    def __enter__(self) -> RunningServer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def stop(self, timeout: float = 10.0) -> None:
        """Terminate the process (SIGTERM to its PID), killing it if it outlives ``timeout``."""
        if self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=timeout)


def _http_ready(server: RunningServer, ready_path: str, headers: Mapping[str, str]) -> bool:
    try:
        server.get(ready_path, headers, timeout=1.0)
    except (OSError, http.client.HTTPException):
        # Refused, reset or a 503 while it loads: not ready yet.
        return False
    return True


def _wait_ready(server: RunningServer, ready: ReadyCheck, what: str, timeout: float) -> str | None:
    """Poll ``ready`` until it holds; else say why it did not (exited, or not in time)."""
    deadline = time.monotonic() + timeout
    while True:
        status = server.process.poll()
        if status is not None:
            return f"exited with status {status} at start"
        if ready(server):
            return None
        if time.monotonic() >= deadline:
            return f"did not {what} within {timeout}s"
        time.sleep(0.05)


def start_server(
    binary: str,
    args: ArgsFor,
    *,
    log_dir: Path,
    ready_path: str = "/-/ready",
    ready_headers: Mapping[str, str] | None = None,
    timeout: float = 30.0,
    package: str | None = None,
    attempts: int = 3,
    ready: ReadyCheck | None = None,
    env: Mapping[str, str] | None = None,
) -> RunningServer:
    """Start ``binary`` on a free 127.0.0.1 port and return once it answers ``ready_path``.

    Use the result as a context manager (``with start_server(...) as server:``) to stop it by
    PID at the end of the block, or call :meth:`~RunningServer.stop` yourself.

    Args:
        binary: Executable name, looked up on ``PATH``.
        args: Given the ``127.0.0.1:<port>`` address, the command-line arguments.
        log_dir: Folder for the log file(s) capturing stdout and stderr.
        ready_path: Path that answers with a success status once the server is ready.
        ready_headers: Headers for the readiness request (for a server requiring auth).
        timeout: Seconds to wait for readiness.
        package: Debian package providing ``binary``, for the missing-binary message
            (defaults to :data:`DEBIAN_PACKAGES`).
        attempts: Starts to try when the port was taken between probing and binding.
        ready: Readiness check used instead of the HTTP GET of ``ready_path``, for servers
            that speak no HTTP (e.g. ``lambda s: port_open(s.address)`` for gRPC).
        env: Environment variables added to this process's for the server (credentials
            belong here, not in ``args``, which other users can see in the process list).

    Returns:
        The ready server.

    Raises:
        ServerBinaryMissingError: ``binary`` is not on ``PATH``.
        ServerStartError: The process exited at start or was not ready within ``timeout``;
            the message quotes the end of its log.
    """
    executable = find_binary(binary, package=package)
    name = Path(binary).name
    headers = dict(ready_headers or {})

    def http_ready(server: RunningServer) -> bool:
        return _http_ready(server, ready_path, headers)

    log_dir.mkdir(parents=True, exist_ok=True)
    attempt = 0
    while True:
        attempt += 1
        address = f"{LOOPBACK}:{free_port()}"
        log_path = log_dir / f"{name}-{attempt}.log"
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                [executable, *args(address)],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env={**os.environ, **env} if env else None,
            )
        server = RunningServer(name, address, process, log_path)
        if ready is None:
            problem = _wait_ready(server, http_ready, f"answer {ready_path} successfully", timeout)
        else:
            problem = _wait_ready(server, ready, "become ready", timeout)
        if problem is None:
            return server
        server.stop()
        tail = server.log_tail()
        if attempt < attempts and _PORT_TAKEN in tail.lower():
            continue
        raise ServerStartError(
            f"{name} ({executable}) on {address} {problem}. "
            f"End of its log {log_path}:\n{tail or '(empty)'}"
        )
