"""Real starts, each in its own Python process (one JVM each).

The happy paths, and every cause of failure a user can meet, with the error type and message
they get.

Hermetic: "no network" points Java at a closed proxy port on 127.0.0.1 with an empty Ivy
cache; "no such artifact" resolves from a repository served on 127.0.0.1 that answers 404.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from delta_session import IVY_DIR_ENV, JARS_DIR_ENV, LOG_FILE_ENV
from pipeline_testkit import free_port, start_server

RunPython = Callable[..., subprocess.CompletedProcess[str]]
NO_JARS_DIR = (JARS_DIR_ENV, LOG_FILE_ENV)

ROUND_TRIP = """
import delta_session
from delta_session import {builder}
spark = {builder}({args})
path = {path!r}
spark.range(3).write.format("delta").save(path)
spark.sql(
    f"MERGE INTO delta.`{{path}}` t USING (SELECT 5L AS id) s ON t.id = s.id "
    "WHEN NOT MATCHED THEN INSERT *"
)
print("rows", spark.read.format("delta").load(path).count())
history = spark.sql(f"DESCRIBE HISTORY delta.`{{path}}`").orderBy("version").collect()
print("ops", ",".join(h["operation"] for h in history))
"""

EXPECT_ERROR = """
import delta_session
{patch}
try:
    delta_session.local_session({args})
except delta_session.DeltaSessionError as error:
    print(type(error).__name__)
    print(error)
else:
    print("started")
"""


def pid_alive(pid: int) -> bool:
    """Whether a process with this PID exists."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.mark.spark
class TestStarts:
    """Sessions that start: quiet local mode, and a local Spark Connect server."""

    def test_local_session_is_quiet_and_keeps_the_output_in_its_log(
        self, python: RunPython, tmp_path: Path
    ) -> None:
        """A local session round-trips Delta; Ivy and Spark's output is only in the log file."""
        log = tmp_path / "start.log"
        code = ROUND_TRIP.format(
            builder="local_session", args=f"log_file={str(log)!r}", path=str(tmp_path / "t")
        )
        proc = python(code, drop=NO_JARS_DIR)
        assert proc.returncode == 0, proc.stderr[-3000:]
        assert proc.stdout.splitlines() == ["rows 4", "ops WRITE,MERGE"]
        assert proc.stderr == ""
        text = log.read_text()
        assert "io.delta#delta-spark_4.2_2.13 added as a dependency" in text
        assert "Using Spark's default log4j profile" in text

    def test_local_connect_server_round_trip_then_stopped(
        self, python: RunPython, tmp_path: Path
    ) -> None:
        """connect_session('local[2]') serves Delta SQL over Connect, with a token.

        Its server process is gone once the client process exits.
        """
        code = ROUND_TRIP.format(
            builder="connect_session",
            args=f"'local[2]', log_file={str(tmp_path / 'server.log')!r}",
            path=str(tmp_path / "t"),
        )
        code += """
from pyspark.sql.connect.session import SparkSession as Client
from delta_session import _builders
process, url = _builders._local_server
print("pid", process.pid)
print("client", type(spark).__name__, type(spark).__module__)
try:
    Client.builder.remote(url.split("/;")[0]).create().range(1).collect()
except Exception as error:
    print("without token:", "UNAUTHENTICATED" in str(error))
"""
        proc = python(code, drop=(*NO_JARS_DIR, "SPARK_CONNECT_AUTHENTICATE_TOKEN"))
        assert proc.returncode == 0, proc.stderr[-3000:]
        lines = proc.stdout.splitlines()
        assert lines[:2] == ["rows 4", "ops WRITE,MERGE"]
        assert lines[3:] == [
            "client SparkSession pyspark.sql.connect.session",
            "without token: True",
        ]
        pid = int(lines[2].split()[1])
        assert not pid_alive(pid)
        assert "SparkConnectServer" in (tmp_path / "server.log").read_text()


@pytest.mark.spark
class TestFailures:
    """Each cause of a failed start gets its own error type and a message that says what to do."""

    def test_jars_dir_with_broken_jar(self, python: RunPython, tmp_path: Path) -> None:
        """A DELTA_JARS_DIR whose delta-spark jar holds no classes: JarsDirError naming it."""
        (tmp_path / "io.delta_delta-spark_4.2_2.13-4.4.0.jar").write_bytes(b"")
        proc = python(
            EXPECT_ERROR.format(patch="", args=f"log_file={str(tmp_path / 's.log')!r}"),
            {JARS_DIR_ENV: str(tmp_path)},
        )
        lines = proc.stdout.splitlines()
        assert lines[:1] == ["JarsDirError"], proc.stdout + proc.stderr[-3000:]
        assert f"{JARS_DIR_ENV}={tmp_path}" in lines[1]
        assert "could not start while loading io.delta:delta-spark_4.2_2.13:4.4.0" in lines[1]

    def test_no_network(self, python: RunPython, tmp_path: Path) -> None:
        """Maven unreachable and nothing cached: MavenUnreachableError, not 'no such artifact'."""
        closed = free_port()
        proxy = " ".join(
            f"-D{scheme}.proxyHost=127.0.0.1 -D{scheme}.proxyPort={closed}"
            for scheme in ("http", "https")
        )
        proc = python(
            EXPECT_ERROR.format(patch="", args=f"log_file={str(tmp_path / 's.log')!r}"),
            {IVY_DIR_ENV: str(tmp_path / "ivy"), "JAVA_TOOL_OPTIONS": proxy},
            drop=NO_JARS_DIR,
        )
        lines = proc.stdout.splitlines()
        assert lines[:1] == ["MavenUnreachableError"], proc.stdout + proc.stderr[-3000:]
        assert "could not download io.delta:delta-spark_4.2_2.13:4.4.0" in lines[1]
        assert "repo1.maven.org" in lines[1]
        assert "Connection refused" in lines[1]
        assert f"copy the jars from {tmp_path / 'ivy' / 'jars'}" in lines[1]

    def test_no_such_artifact_for_the_pair(self, python: RunPython, tmp_path: Path) -> None:
        """A pair beyond the table that the repository lacks: ArtifactNotFoundError.

        The message names the delta-spark version to install; the repository was asked and
        answered 404.
        """
        (tmp_path / "repo").mkdir()
        folder = str(tmp_path / "repo")

        def serve(address: str) -> list[str]:
            port = address.rsplit(":", 1)[1]
            return ["-m", "http.server", port, "--bind", "127.0.0.1", "--directory", folder]

        with start_server(
            sys.executable,
            serve,
            log_dir=tmp_path / "repo-log",
            ready_path="/",
        ) as repo:
            settings = tmp_path / "ivysettings.xml"
            settings.write_text(
                '<ivysettings><settings defaultResolver="local-repo"/><resolvers>'
                f'<ibiblio name="local-repo" m2compatible="true" root="{repo.url}/"/>'
                "</resolvers></ivysettings>"
            )
            patch = (
                "from delta_session import _versions\n"
                "_versions.installed_versions = lambda: ('4.2.0', '4.5.0')\n"
            )
            args = f"log_file={str(tmp_path / 's.log')!r}, conf={{'spark.jars.ivySettings': {str(settings)!r}}}"  # noqa: E501
            proc = python(
                EXPECT_ERROR.format(patch=patch, args=args),
                {IVY_DIR_ENV: str(tmp_path / "ivy")},
                drop=NO_JARS_DIR,
            )
            lines = proc.stdout.splitlines()
            assert lines[:1] == ["ArtifactNotFoundError"], proc.stdout + proc.stderr[-3000:]
            assert "127.0.0.1 answered but has no io.delta:delta-spark_4.2_2.13:4.5.0" in lines[1]
            assert "Fix: pip install 'delta-spark==4.4.0' (keeps pyspark 4.2)" in lines[1]
            requests = repo.log_path.read_text()
        pom = "/io/delta/delta-spark_4.2_2.13/4.5.0/delta-spark_4.2_2.13-4.5.0.pom"
        assert f'"HEAD {pom} HTTP/1.1" 404' in requests  # Ivy asks with HEAD first


class TestFailuresBeforeAnyJvm:
    """Failures found before a JVM is started, in this process."""

    def test_no_java(self, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
        """No java and no JAVA_HOME: JavaNotFoundError, and no JVM was tried."""
        import delta_session

        monkeypatch.setenv("PATH", str(tmp_path))
        monkeypatch.delenv("JAVA_HOME", raising=False)
        with pytest.raises(delta_session.JavaNotFoundError, match="Install Java 17"):
            delta_session.local_session()
        with pytest.raises(delta_session.JavaNotFoundError):
            delta_session.connect_server_command(15002)

    def test_pair_without_a_maven_jar(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """An installed pair Maven has no jar for is refused with the versions to install."""
        import delta_session
        from delta_session import _versions

        monkeypatch.delenv(JARS_DIR_ENV, raising=False)
        monkeypatch.setattr(_versions, "installed_versions", lambda: ("4.2.0", "4.4.1"))
        with pytest.raises(delta_session.IncompatibleVersionsError, match=r"delta-spark==4\.4\.0"):
            delta_session.local_session()
