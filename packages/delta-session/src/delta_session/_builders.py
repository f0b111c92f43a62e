"""Start a Spark session with Delta Lake: local, on a cluster master, or over Spark Connect."""

from __future__ import annotations

import atexit
import os
import secrets
import socket
import subprocess
import time
import urllib.parse
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from delta_session._conf import DELTA_SQL_CONF, delta_conf
from delta_session._diagnose import (
    default_log_file,
    explain_start_failure,
    first_line,
    log_size,
    output_to,
    read_log,
    require_java,
)
from delta_session._versions import pyspark_home
from delta_session.errors import SessionStartError

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

#: The Spark Connect server's main class, in the ``spark-connect`` jar pyspark ships.
CONNECT_SERVER_CLASS = "org.apache.spark.sql.connect.service.SparkConnectServer"
#: Environment variable a Spark Connect server reads its authentication token from.
CONNECT_TOKEN_ENV = "SPARK_CONNECT_AUTHENTICATE_TOKEN"
_DELTA_EXTENSION = DELTA_SQL_CONF["spark.sql.extensions"]
_LOOPBACK = "127.0.0.1"
_DEFAULT_CONNECT_PORT = 15002

# This process's local Connect server (see connect_session("local[N]")): process and URL.
_local_server: tuple[subprocess.Popen[bytes], str] | None = None


def _log_target(log_file: str | os.PathLike[str] | None, quiet: bool) -> Path | None:
    if not quiet:
        return None
    return Path(log_file).expanduser() if log_file is not None else default_log_file()


def _has_delta(spark: SparkSession) -> bool:
    extensions = spark.conf.get("spark.sql.extensions", None) or ""
    return _DELTA_EXTENSION in extensions


def _start_classic(
    master: str,
    *,
    app_name: str,
    packages: Sequence[str],
    conf: Mapping[str, str] | None,
    log_file: str | os.PathLike[str] | None,
    quiet: bool,
) -> SparkSession:
    require_java()
    settings = {
        "spark.master": master,
        "spark.app.name": app_name,
        "spark.ui.showConsoleProgress": "false",
        **delta_conf(packages, conf),
    }
    from pyspark.sql import SparkSession

    builder = SparkSession.builder
    for key, value in settings.items():
        builder = builder.config(key, value)
    log = _log_target(log_file, quiet)
    offset = log_size(log)
    try:
        with output_to(log):
            spark = builder.getOrCreate()
            # Instantiates the Delta catalog: fails here, not in the first query, without jars.
            spark.sql("SHOW DATABASES").collect()
    except Exception as exc:
        raise explain_start_failure(exc, log_file=log, log_offset=offset) from exc
    if not _has_delta(spark):
        raise SessionStartError(
            "A SparkSession without Delta's SQL extension is already active in this process, "
            "and Spark hands it back instead of starting a new one. Stop it first "
            "(spark.stop()), or build it with delta_session.delta_conf().",
            log_path=log,
        )
    return spark


def local_session(
    cores: int | str = 2,
    *,
    app_name: str = "delta-session",
    packages: Sequence[str] = (),
    conf: Mapping[str, str] | None = None,
    log_file: str | os.PathLike[str] | None = None,
    quiet: bool = True,
) -> SparkSession:
    """Start (or return this process's) local-mode SparkSession with Delta Lake.

    The Delta jar matching the installed pyspark / delta-spark comes from ``DELTA_JARS_DIR``
    when set, else from Maven Central through the Ivy cache ``DELTA_IVY_DIR`` (default
    ``~/.cache/pipeline-testkit/ivy``), downloaded once and reused offline.

    Args:
        cores: Worker threads, ``local[cores]``: a number or ``"*"``.
        app_name: Spark application name.
        packages: Extra Maven coordinates, e.g. ``[hadoop_aws_coordinate()]`` for ``s3a://``.
        conf: More Spark settings, applied last (see :func:`delta_conf`).
        log_file: Where the JVM's console output goes; default ``$DELTA_SESSION_LOG`` or
            ``<temp dir>/delta-session/spark-<pid>.log``.
        quiet: Keep Ivy's report and Spark's warnings in ``log_file``; False prints them.

    Returns:
        The session. Spark keeps one per process: a second call returns the first session.

    Raises:
        DeltaSessionError: No session could be started; the subclass says why (no Java, Maven
            unreachable, no such artifact for this version pair, jars folder incomplete).
    """
    return _start_classic(
        f"local[{cores}]",
        app_name=app_name,
        packages=packages,
        conf=conf,
        log_file=log_file,
        quiet=quiet,
    )


def cluster_session(
    master: str,
    *,
    app_name: str = "delta-session",
    packages: Sequence[str] = (),
    conf: Mapping[str, str] | None = None,
    log_file: str | os.PathLike[str] | None = None,
    quiet: bool = True,
) -> SparkSession:
    """Start a SparkSession with Delta Lake whose executors run on a cluster.

    The driver runs in this process (client mode); the Delta jar (and ``packages``) are
    resolved here and shipped to the executors by Spark, so the cluster needs no Delta install.

    Args:
        master: Cluster manager URL: ``spark://host:port`` (standalone), ``yarn`` or
            ``k8s://https://host:port``.
        app_name: Spark application name.
        packages: Extra Maven coordinates, shipped to the executors as well.
        conf: More Spark settings (executor memory and cores, ...), applied last.
        log_file: Where the JVM's console output goes (see :func:`local_session`).
        quiet: Keep Ivy's report and Spark's warnings in ``log_file``.

    Returns:
        The session.

    Raises:
        ValueError: ``master`` is a local or Spark Connect URL (use the matching builder).
        DeltaSessionError: No session could be started; the subclass says why.
    """
    if master.startswith(("local", "sc://")):
        builder = "local_session()" if master.startswith("local") else "connect_session()"
        raise ValueError(
            f"cluster_session() takes a cluster master URL, not {master!r}: use {builder}"
        )
    return _start_classic(
        master, app_name=app_name, packages=packages, conf=conf, log_file=log_file, quiet=quiet
    )


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((_LOOPBACK, 0))
        return int(sock.getsockname()[1])


def connect_url(port: int, token: str | None = None) -> str:
    """Return the ``sc://`` URL of a Spark Connect server on this machine.

    Args:
        port: The server's gRPC port.
        token: Its authentication token, if it has one.

    Returns:
        ``sc://localhost:<port>`` (``localhost``: pyspark sends a token without TLS only there),
        with ``/;token=...`` appended when a token is given.
    """
    return f"sc://localhost:{port}" + (f"/;token={token}" if token else "")


def _port_open(port: int, host: str = _LOOPBACK, timeout: float = 2.0) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def _require_listening(url: str) -> None:
    """Fail at once when nothing accepts connections at an ``sc://`` URL's host and port.

    The Connect client itself retries an unreachable server for at least ten minutes.
    """
    parsed = urllib.parse.urlparse("http://" + url[len("sc://") :].split("/;", maxsplit=1)[0])
    host, port = parsed.hostname or "localhost", parsed.port or _DEFAULT_CONNECT_PORT
    if not _port_open(port, host, timeout=30.0):
        shown = url.split("/;", maxsplit=1)[0]
        raise SessionStartError(
            f"Nothing accepts connections at {host}:{port} (from {shown}): start the Spark "
            "Connect server there (see delta_session.connect_server_command()), or check the "
            "host and port."
        )


def _stop(process: subprocess.Popen[bytes]) -> None:
    """Terminate a server process by its PID, killing it when it outlives 30 s."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=30)


def _start_local_server(
    master: str,
    *,
    app_name: str,
    packages: Sequence[str],
    conf: Mapping[str, str] | None,
    log_file: str | os.PathLike[str] | None,
    quiet: bool,
    timeout: float,
) -> str:
    """Start a Connect server process with Delta on a free loopback port; return its URL."""
    global _local_server  # noqa: PLW0603 - one server per process, reused like the JVM
    if _local_server is not None and _local_server[0].poll() is None:
        return _local_server[1]
    log = _log_target(log_file, quiet)
    token = secrets.token_hex(16)
    env = {**os.environ, CONNECT_TOKEN_ENV: token}
    for _attempt in range(3):
        port = _free_port()
        command = connect_server_command(
            port, master=master, app_name=app_name, packages=packages, conf=conf
        )
        offset = log_size(log)
        with output_to(log):
            process = subprocess.Popen(command, stdin=subprocess.DEVNULL, env=env)
        atexit.register(_stop, process)
        deadline = time.monotonic() + timeout
        while process.poll() is None and not _port_open(port):
            if time.monotonic() > deadline:
                _stop(process)
                raise SessionStartError(
                    f"The Spark Connect server (PID {process.pid}) did not listen on "
                    f"127.0.0.1:{port} within {timeout:.0f} s; it was stopped."
                    + (f" Its output: {log}." if log else ""),
                    log_path=log,
                )
            time.sleep(0.5)
        if process.poll() is None:
            url = connect_url(port, token)
            _local_server = (process, url)
            return url
        output = read_log(log, offset)
        if "Address already in use" not in output:
            break
    raise explain_start_failure(
        RuntimeError(f"the Spark Connect server exited with status {process.returncode}"),
        log_file=log,
        log_offset=offset,
    )


def connect_session(
    remote: str = "local[2]",
    *,
    app_name: str = "delta-session",
    packages: Sequence[str] = (),
    conf: Mapping[str, str] | None = None,
    log_file: str | os.PathLike[str] | None = None,
    quiet: bool = True,
    check_delta: bool = True,
    timeout: float = 900.0,
) -> SparkSession:
    """Return a Spark Connect session whose server has Delta Lake.

    ``remote`` is either the ``sc://`` URL of a running server (started with the settings of
    :func:`delta_conf`, e.g. by :func:`connect_server_command`), or a local master such as
    ``local[2]``: then a Connect server with Delta's SQL extension, catalog and jars starts as
    a child process (pyspark's ``spark-submit``) on a free 127.0.0.1 port with a random token,
    and is stopped by its PID when this process exits; later calls reuse it.

    Delta's Python ``DeltaTable`` API needs Delta Connect's server plugin, which Maven Central
    does not serve for Spark 4.2; use Delta through SQL (``MERGE INTO``, ``DESCRIBE HISTORY``,
    ``RESTORE``) and ``DataFrame.write.format("delta")`` over Connect.

    Args:
        remote: ``sc://host:port[/;token=...]``, or ``local[N]`` for a local server.
        app_name: Application name of the local server.
        packages: Extra Maven coordinates for the local server (ignored for ``sc://``).
        conf: For a local server, its settings; for ``sc://``, session settings sent to the
            server.
        log_file: Where the local server's output goes (see :func:`local_session`).
        quiet: Keep the local server's output in ``log_file``; False prints it.
        check_delta: Fail when the server's ``spark.sql.extensions`` lacks Delta's extension
            (turn off for servers with Delta built in, such as Databricks).
        timeout: Seconds a local server may take to listen (the first start downloads jars).

    Returns:
        The Spark Connect session.

    Raises:
        ValueError: ``remote`` is neither ``sc://...`` nor ``local...``.
        DeltaSessionError: The server could not be started or reached, or it has no Delta.
    """
    try:
        import pyspark.sql.connect.session  # noqa: F401 - checks the client's dependencies
    except ImportError as exc:
        raise SessionStartError(
            f"connect_session() needs Spark Connect's Python client ({exc}). Install it with "
            "pip install 'delta-session[connect]'."
        ) from exc
    if remote.startswith("local"):
        url = _start_local_server(
            remote,
            app_name=app_name,
            packages=packages,
            conf=conf,
            log_file=log_file,
            quiet=quiet,
            timeout=timeout,
        )
        settings: Mapping[str, str] = {}
    elif remote.startswith("sc://"):
        url, settings = remote, conf or {}
        _require_listening(url)
    else:
        raise ValueError(
            f"connect_session() takes an sc:// URL or a local master such as 'local[2]', not "
            f"{remote!r}; for a cluster master use cluster_session()"
        )
    from pyspark.sql import SparkSession

    builder = SparkSession.builder.remote(url)
    for key, value in settings.items():
        builder = builder.config(key, value)
    shown = url.split("/;")[0]
    try:
        spark = builder.getOrCreate()
        has_delta = _has_delta(spark)  # the first call that reaches the server
    except Exception as exc:
        raise SessionStartError(
            f"The Spark Connect server at {shown} could not be reached "
            f"({type(exc).__name__}: {first_line(exc)}). Check that it runs and listens "
            "there, and that the token matches."
        ) from exc
    if check_delta and not has_delta:
        raise SessionStartError(
            f"The Spark Connect server at {shown} has no Delta Lake: its spark.sql.extensions "
            f"lacks {_DELTA_EXTENSION}. Start it with delta_session.connect_server_command() "
            "(or the settings of delta_session.delta_conf()), or pass check_delta=False for a "
            "server with Delta built in."
        )
    return spark


def connect_server_command(
    port: int,
    *,
    host: str = _LOOPBACK,
    master: str = "local[2]",
    app_name: str = "delta-connect-server",
    packages: Sequence[str] = (),
    conf: Mapping[str, str] | None = None,
) -> list[str]:
    """Return the command that runs a Spark Connect server with Delta Lake in the foreground.

    It runs pyspark's bundled ``spark-submit`` with the Connect server class from pyspark's
    ``spark-connect`` jar, Delta's SQL extension and catalog, and the jars of :func:`jar_conf`.
    Start it with :mod:`subprocess` (its output is the server log), pass a token in the
    ``SPARK_CONNECT_AUTHENTICATE_TOKEN`` environment variable rather than on the command line,
    connect with ``connect_session(connect_url(port, token))``, and stop it by its PID.

    Args:
        port: gRPC port to listen on.
        host: Address to bind; keep the loopback default unless clients are remote.
        master: Where the server's executors run: ``local[N]`` or a cluster URL.
        app_name: Spark application name of the server.
        packages: Extra Maven coordinates.
        conf: More server settings, applied last (see :func:`delta_conf`).

    Returns:
        The argument list, starting with the ``spark-submit`` path.

    Raises:
        DeltaSessionError: Java is missing, or the jars cannot be configured.
    """
    require_java()
    settings = {
        "spark.log.level": "WARN",
        "spark.connect.grpc.binding.address": host,
        "spark.connect.grpc.binding.port": str(port),
        "spark.ui.showConsoleProgress": "false",
        **delta_conf(packages, conf),
    }
    command = [
        str(pyspark_home() / "bin" / "spark-submit"),
        "--class",
        CONNECT_SERVER_CLASS,
        "--master",
        master,
        "--name",
        app_name,
    ]
    for key, value in settings.items():
        command += ["--conf", f"{key}={value}"]
    return [*command, "spark-internal"]
