"""The builders' arguments, the Connect server command, and the local server's start paths.

The local server is played by stand-in programs here, so no JVM starts.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import pytest

import delta_session
from delta_session import (
    CONNECT_TOKEN_ENV,
    SessionStartError,
    cluster_session,
    connect_server_command,
    connect_session,
    connect_url,
    delta_coordinate,
)
from delta_session import _builders as builders


@pytest.fixture(autouse=True)
def maven_jars(monkeypatch: pytest.MonkeyPatch) -> None:
    """Jars from Maven, and no local Connect server left from another test."""
    monkeypatch.delenv(delta_session.JARS_DIR_ENV, raising=False)
    monkeypatch.setattr(builders, "_local_server", None)


class TestArguments:
    """Each builder takes its own kind of URL and says which builder fits another."""

    @pytest.mark.parametrize(
        ("master", "hint"), [("local[2]", "local_session()"), ("sc://h:1", "connect_session()")]
    )
    def test_cluster_session_refuses_other_urls(self, master: str, hint: str) -> None:
        """cluster_session() with a local or Connect URL names the builder to use instead."""
        with pytest.raises(ValueError, match="takes a cluster master URL") as err:
            cluster_session(master)
        assert f"not {master!r}: use {hint}" in str(err.value)

    def test_connect_session_refuses_a_cluster_master(self) -> None:
        """connect_session() takes sc:// or local[N]; a cluster URL points to cluster_session."""
        with pytest.raises(ValueError, match="use cluster_session"):
            connect_session("spark://127.0.0.1:7077")

    def test_connect_without_its_client_libraries(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Without pyspark's Connect client installed, the error names the extra to install."""
        monkeypatch.setitem(sys.modules, "pyspark.sql.connect.session", None)
        with pytest.raises(SessionStartError, match=r"pip install 'delta-session\[connect\]'"):
            connect_session("sc://localhost:15002")

    def test_connect_to_nothing_fails_at_once(self) -> None:
        """An sc:// URL where nothing listens fails now, not after the client's retries."""
        port = builders._free_port()
        with pytest.raises(SessionStartError) as err:
            connect_session(f"sc://localhost:{port}/;token=abc")
        assert f"Nothing accepts connections at localhost:{port}" in str(err.value)
        assert "abc" not in str(err.value)


class _Conf:
    def __init__(self, values: dict[str, str]) -> None:
        self.values = values

    def get(self, key: str, default: str | None = None) -> str | None:
        return self.values.get(key, default)


class _Session:
    def __init__(self, extensions: str) -> None:
        self.conf = _Conf({"spark.sql.extensions": extensions})


class _Builder:
    def __init__(self, session: _Session | Exception) -> None:
        self.session = session
        self.url = ""
        self.settings: dict[str, str] = {}

    def remote(self, url: str) -> _Builder:
        self.url = url
        return self

    def config(self, key: str, value: str) -> _Builder:
        self.settings[key] = value
        return self

    def getOrCreate(self) -> _Session:  # noqa: N802 - pyspark's name
        if isinstance(self.session, Exception):
            raise self.session
        return self.session


@pytest.fixture
def fake_remote(monkeypatch: pytest.MonkeyPatch) -> Any:
    """Replace pyspark's builder by a stand-in and make every port look open."""
    from pyspark.sql import SparkSession

    def install(session: _Session | Exception) -> _Builder:
        builder = _Builder(session)
        monkeypatch.setattr(SparkSession, "builder", builder)
        monkeypatch.setattr(builders, "_port_open", lambda *a, **k: True)
        return builder

    return install


class TestConnectChecks:
    """connect_session() checks the server it reached has Delta, or says it is unreachable."""

    def test_server_with_delta(self, fake_remote: Any) -> None:
        """A server whose extensions include Delta's is accepted; settings are sent along."""
        builder = fake_remote(_Session("io.delta.sql.DeltaSparkSessionExtension"))
        spark = connect_session("sc://host:1", conf={"spark.sql.shuffle.partitions": "2"})
        assert spark is builder.session
        assert builder.url == "sc://host:1"
        assert builder.settings == {"spark.sql.shuffle.partitions": "2"}

    def test_server_without_delta(self, fake_remote: Any) -> None:
        """A server without Delta's extension is refused, unless the check is turned off."""
        fake_remote(_Session("com.example.Other"))
        with pytest.raises(SessionStartError, match="has no Delta Lake"):
            connect_session("sc://host:1/;token=secret")
        assert connect_session("sc://host:1", check_delta=False) is not None

    def test_unreachable_server_hides_the_token(self, fake_remote: Any) -> None:
        """A server that does not answer is named by host and port, never with the token."""
        fake_remote(ConnectionError("UNAVAILABLE: failed to connect\ndetails"))
        with pytest.raises(SessionStartError) as err:
            connect_session("sc://host:1/;token=secret")
        message = str(err.value)
        assert "sc://host:1 could not be reached (ConnectionError: UNAVAILABLE" in message
        assert "secret" not in message
        assert "details" not in message


class TestServerCommand:
    """The command that runs a Connect server with Delta: pyspark's spark-submit, our settings."""

    def test_command(self) -> None:
        """spark-submit from pyspark, the Connect server class, binding and Delta settings."""
        command = connect_server_command(15123, master="spark://127.0.0.1:7077", conf={"a": "b"})
        assert Path(command[0]).name == "spark-submit"
        assert os.access(command[0], os.X_OK)
        assert command[1:7] == [
            "--class",
            "org.apache.spark.sql.connect.service.SparkConnectServer",
            "--master",
            "spark://127.0.0.1:7077",
            "--name",
            "delta-connect-server",
        ]
        assert command[-1] == "spark-internal"
        confs = dict(c.split("=", 1) for c in command[8:-1:2])
        assert command[7:-1:2] == ["--conf"] * len(confs)
        assert confs["spark.connect.grpc.binding.address"] == "127.0.0.1"
        assert confs["spark.connect.grpc.binding.port"] == "15123"
        assert confs["spark.sql.extensions"] == "io.delta.sql.DeltaSparkSessionExtension"
        assert confs["spark.jars.packages"] == delta_coordinate()
        assert confs["a"] == "b"

    def test_url(self) -> None:
        """The URL uses localhost (pyspark sends a token without TLS only there)."""
        assert connect_url(15002) == "sc://localhost:15002"
        assert connect_url(15002, "t0k") == "sc://localhost:15002/;token=t0k"


SERVE = "import http.server, sys; http.server.HTTPServer(('127.0.0.1', int(sys.argv[1])), http.server.BaseHTTPRequestHandler).serve_forever()"  # noqa: E501
PORT_TAKEN = "import sys; print('java.net.BindException: Address already in use'); sys.exit(1)"


@pytest.fixture
def stand_in(monkeypatch: pytest.MonkeyPatch) -> Any:
    """Make the local server a Python stand-in program: ``program`` gets the port as argv[1]."""
    calls: list[list[str]] = []

    def use(program: str) -> list[list[str]]:
        def command(port: int, **_: object) -> list[str]:
            calls.append([sys.executable, "-c", program, str(port)])
            return calls[-1]

        monkeypatch.setattr(builders, "connect_server_command", command)
        return calls

    return use


class TestLocalServer:
    """The local Connect server process: started once, retried on a taken port, reported."""

    def start(self, tmp_path: Path, timeout: float = 600.0) -> str:
        """Start the local server with its log in ``tmp_path``; return its URL."""
        return builders._start_local_server(
            "local[2]",
            app_name="t",
            packages=(),
            conf=None,
            log_file=tmp_path / "server.log",
            quiet=True,
            timeout=timeout,
        )

    def test_started_once_with_a_token_then_reused(self, stand_in: Any, tmp_path: Path) -> None:
        """The server listens on its port with a token; a second call reuses it."""
        calls = stand_in(SERVE)
        url = self.start(tmp_path)
        process, _ = builders._local_server or (None, "")
        assert process is not None
        try:
            port = int(calls[0][-1])
            assert url.startswith(f"sc://localhost:{port}/;token=")
            assert len(url.split("token=")[1]) == 32
            assert self.start(tmp_path) == url
            assert len(calls) == 1
        finally:
            builders._stop(process)
        assert process.poll() is not None

    def test_port_taken_is_retried_then_reported(self, stand_in: Any, tmp_path: Path) -> None:
        """'Address already in use' is retried on new ports, three times, then reported."""
        calls = stand_in(PORT_TAKEN)
        with pytest.raises(SessionStartError, match="exited with status 1") as err:
            self.start(tmp_path)
        assert len(calls) == 3
        assert err.value.log_path == tmp_path / "server.log"

    def test_exit_is_reported_at_once(self, stand_in: Any, tmp_path: Path) -> None:
        """A server that dies for another reason is not retried."""
        calls = stand_in("import sys; print('boom'); sys.exit(2)")
        with pytest.raises(SessionStartError, match="exited with status 2"):
            self.start(tmp_path)
        assert len(calls) == 1

    def test_never_listening_is_stopped(self, stand_in: Any, tmp_path: Path) -> None:
        """A server that never listens is stopped after the timeout and reported."""
        stand_in("import time; time.sleep(600)")
        with pytest.raises(SessionStartError, match=r"did not listen .* it was stopped"):
            self.start(tmp_path, timeout=0.5)

    def test_token_goes_through_the_environment(
        self, stand_in: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """The token reaches the server in its environment, not on its command line."""
        program = (
            "import os, sys, http.server; "
            f"print('token', os.environ.get({CONNECT_TOKEN_ENV!r}), flush=True); "
            "http.server.HTTPServer(('127.0.0.1', int(sys.argv[1])), "
            "http.server.BaseHTTPRequestHandler).serve_forever()"
        )
        calls = stand_in(program)
        url = self.start(tmp_path)
        process, _ = builders._local_server or (None, "")
        assert process is not None
        builders._stop(process)
        token = url.split("token=")[1]
        assert f"token {token}" in (tmp_path / "server.log").read_text()
        assert not any(token in arg for arg in calls[0])
