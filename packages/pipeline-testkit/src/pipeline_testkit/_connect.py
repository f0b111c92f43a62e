"""A Spark Connect server with Delta Lake on 127.0.0.1, as a process stopped by its PID.

The command comes from delta-session (:func:`delta_session.connect_server_command`: pyspark's
``spark-submit`` with the Connect server class, Delta's SQL extension, catalog and jars); this
module runs it through :func:`pipeline_testkit.servers.start_server`, which waits until the
gRPC port accepts connections, keeps its output in a log file and stops it by PID.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from pipeline_testkit.servers import RunningServer, port_open, start_server


@dataclass(frozen=True)
class ConnectServer:
    """A running Spark Connect server.

    Attributes:
        server: The process (``pid``, ``log_path``, ``stop()``).
        token: Its authentication token (not in ``repr``).
    """

    server: RunningServer
    token: str = field(repr=False)

    @property
    def port(self) -> int:
        """The gRPC port."""
        return int(self.server.address.rsplit(":", 1)[1])

    @property
    def url(self) -> str:
        """``sc://localhost:<port>/;token=...`` for ``connect_session``."""
        from delta_session import connect_url

        return connect_url(self.port, self.token)

    def stop(self) -> None:
        """Stop the server process by its PID."""
        self.server.stop(timeout=30.0)


def start_connect_server(
    log_dir: Path,
    *,
    master: str = "local[2]",
    packages: Sequence[str] = (),
    conf: Mapping[str, str] | None = None,
    env: Mapping[str, str] | None = None,
    timeout: float = 900.0,
) -> ConnectServer:
    """Start a Spark Connect server with Delta Lake on a free 127.0.0.1 port.

    Args:
        log_dir: Folder for the server's log (Ivy resolution, Spark warnings).
        master: Where its executors run: ``local[2]`` or a standalone cluster's URL.
        packages: Extra Maven coordinates (e.g. hadoop-aws).
        conf: More server settings.
        env: Extra environment for the server (e.g. S3 credentials).
        timeout: Seconds to wait for the port (a first start downloads jars).

    Returns:
        The running server.

    Raises:
        delta_session.DeltaSessionError: Java missing or jars not configurable.
        pipeline_testkit.ServerStartError: The server exited or did not listen in time; the
            message quotes the end of its log.
    """
    from delta_session import CONNECT_TOKEN_ENV, connect_server_command

    token = secrets.token_hex(16)
    probe = connect_server_command(0, master=master, packages=packages, conf=conf)

    def args(address: str) -> list[str]:
        port = int(address.rsplit(":", 1)[1])
        return connect_server_command(port, master=master, packages=packages, conf=conf)[1:]

    server = start_server(
        probe[0],
        args,
        log_dir=log_dir,
        ready=lambda s: port_open(s.address),
        timeout=timeout,
        env={**(env or {}), CONNECT_TOKEN_ENV: token},
    )
    return ConnectServer(server, token)
