"""A failed start is classified from the JVM's output, and that output stays in a log file.

The logs here are excerpts of real Ivy output (spark-submit of pyspark 4.2.0) for the two Maven
cases; the subprocess tests in test_start.py produce them for real.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from delta_session import (
    JARS_DIR_ENV,
    LOG_FILE_ENV,
    ArtifactNotFoundError,
    JarsDirError,
    JavaNotFoundError,
    MavenUnreachableError,
    SessionStartError,
    delta_coordinate,
    explain_start_failure,
)
from delta_session import _diagnose as diagnose

OFFLINE_LOG = """\
:: resolving dependencies :: org.apache.spark#spark-submit-parent-1;1.0
\t\tmodule not found: io.delta#delta-spark_4.2_2.13;4.4.0
\t==== central: tried
\t  https://repo1.maven.org/maven2/io/delta/delta-spark_4.2_2.13/4.4.0/delta-spark_4.2_2.13-4.4.0.pom
\t==== spark-packages: tried
\t  https://repos.spark-packages.org/io/delta/delta-spark_4.2_2.13/4.4.0/delta-spark_4.2_2.13-4.4.0.pom
\t\t::          UNRESOLVED DEPENDENCIES         ::
\t\t:: io.delta#delta-spark_4.2_2.13;4.4.0: not found
:::: ERRORS
\tServer access error at url https://repo1.maven.org/maven2/io/delta/delta-spark_4.2_2.13/4.4.0/delta-spark_4.2_2.13-4.4.0.pom (java.net.ConnectException: Connection refused)
\tServer access error at url https://repos.spark-packages.org/io/delta/delta-spark_4.2_2.13/4.4.0/delta-spark_4.2_2.13-4.4.0.pom (java.net.ConnectException: Connection refused)
Exception in thread "main" java.lang.RuntimeException: [unresolved dependency: io.delta#delta-spark_4.2_2.13;4.4.0: not found]
"""  # noqa: E501

NOT_FOUND_LOG = """\
\tHost repos.spark-packages.org not found. url=https://repos.spark-packages.org/org/apache/hadoop/hadoop-aws/0.0.1/hadoop-aws-0.0.1.pom
\t\tmodule not found: org.apache.hadoop#hadoop-aws;0.0.1
\t==== central: tried
\t  https://repo1.maven.org/maven2/org/apache/hadoop/hadoop-aws/0.0.1/hadoop-aws-0.0.1.pom
\t==== spark-packages: tried
\t  https://repos.spark-packages.org/org/apache/hadoop/hadoop-aws/0.0.1/hadoop-aws-0.0.1.pom
\t\t:: org.apache.hadoop#hadoop-aws;0.0.1: not found
Exception in thread "main" java.lang.RuntimeException: [unresolved dependency: org.apache.hadoop#hadoop-aws;0.0.1: not found]
"""  # noqa: E501

GATEWAY = RuntimeError("[JAVA_GATEWAY_EXITED] Java gateway process exited.\nmore detail")


@pytest.fixture(autouse=True)
def maven_mode(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test starts with Java present and no DELTA_JARS_DIR."""
    monkeypatch.delenv(JARS_DIR_ENV, raising=False)
    monkeypatch.setattr(diagnose, "java_problem", lambda: None)


def write_log(tmp_path: Path, text: str) -> Path:
    """A log file holding ``text`` after an older run's output."""
    path = tmp_path / "spark.log"
    path.write_text("older run: unresolved dependency: x#y;1: not found\n" + text)
    return path


def offset(path: Path) -> int:
    """Where the current run's output starts in ``path`` (after the older run's line)."""
    return len(path.read_text().splitlines()[0]) + 1


class TestMavenCauses:
    """Network trouble and a missing artifact are told apart from Ivy's report."""

    def test_no_network(self, tmp_path: Path) -> None:
        """Every repository refused the connection: MavenUnreachableError, with both ways out."""
        log = write_log(tmp_path, OFFLINE_LOG)
        error = explain_start_failure(GATEWAY, log_file=log, log_offset=offset(log))
        assert isinstance(error, MavenUnreachableError)
        message = str(error)
        assert "could not download io.delta:delta-spark_4.2_2.13:4.4.0" in message
        assert "repo1.maven.org, repos.spark-packages.org" in message
        assert "network problem, not a missing artifact" in message
        assert f"{JARS_DIR_ENV}=/that/folder" in message
        assert error.log_path == log
        assert "x:y:1" not in message  # the older run's line is not this run's output

    def test_no_such_artifact(self, tmp_path: Path) -> None:
        """Maven answered and has no such artifact: ArtifactNotFoundError naming it."""
        log = write_log(tmp_path, NOT_FOUND_LOG)
        error = explain_start_failure(GATEWAY, log_file=log, log_offset=offset(log))
        assert isinstance(error, ArtifactNotFoundError)
        assert error.coordinates == ("org.apache.hadoop:hadoop-aws:0.0.1",)
        message = str(error)
        assert message.startswith("repo1.maven.org answered but has no org.apache.hadoop")
        assert "installed: pyspark 4.2.0, delta-spark 4.4.0" in message
        assert "Check the versions in the coordinates you passed" in message

    def test_missing_delta_artifact_names_the_versions_to_install(self, tmp_path: Path) -> None:
        """A Delta coordinate Maven lacks comes with the delta-spark version that has a jar."""
        text = NOT_FOUND_LOG.replace(
            "org.apache.hadoop#hadoop-aws;0.0.1", "io.delta#delta-spark_4.2_2.13;4.5.0"
        )
        log = write_log(tmp_path, text)
        error = explain_start_failure(GATEWAY, log_file=log, log_offset=offset(log))
        assert isinstance(error, ArtifactNotFoundError)
        assert error.coordinates == ("io.delta:delta-spark_4.2_2.13:4.5.0",)
        assert "Fix: pip install 'delta-spark==4.4.0' (keeps pyspark 4.2)" in str(error)


class TestOtherCauses:
    """Java, the jars folder, classes missing from the cache, and anything else."""

    def test_no_java(self, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
        """No java on PATH and no JAVA_HOME: JavaNotFoundError saying to install Java 17."""
        monkeypatch.undo()
        monkeypatch.setenv("PATH", str(tmp_path))
        monkeypatch.delenv("JAVA_HOME", raising=False)
        error = explain_start_failure(GATEWAY)
        assert isinstance(error, JavaNotFoundError)
        assert "Install Java 17" in str(error)

    def test_java_home_without_java(self, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
        """A JAVA_HOME with no bin/java is named as the problem."""
        monkeypatch.undo()
        monkeypatch.setenv("JAVA_HOME", str(tmp_path))
        with pytest.raises(JavaNotFoundError, match=f"JAVA_HOME={tmp_path} holds no bin/java"):
            diagnose.require_java()

    def test_java_home_with_java(self, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
        """A JAVA_HOME holding bin/java is enough, whatever PATH says."""
        monkeypatch.undo()
        (tmp_path / "bin").mkdir()
        (tmp_path / "bin" / "java").write_text("")
        monkeypatch.setenv("JAVA_HOME", str(tmp_path))
        monkeypatch.setenv("PATH", str(tmp_path / "nothing"))
        diagnose.require_java()

    def test_jars_dir_that_does_not_load(
        self, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
    ) -> None:
        """With DELTA_JARS_DIR set, a failed start blames that folder, quoting the first line."""
        monkeypatch.setenv(JARS_DIR_ENV, str(tmp_path))
        error = explain_start_failure(RuntimeError("ClassNotFound: x\nmore"))
        assert isinstance(error, JarsDirError)
        message = str(error)
        assert message.startswith("Spark with Delta Lake could not start")
        assert f"{JARS_DIR_ENV}={tmp_path}" in message
        assert delta_coordinate() in message
        assert "ClassNotFound: x" in message
        assert "more" not in message

    def test_classes_missing_from_the_ivy_cache(self, tmp_path: Path) -> None:
        """Delta classes missing after resolution point at the Ivy cache to delete."""
        log = write_log(tmp_path, "java.lang.ClassNotFoundException: io.delta.sql.X\n")
        error = explain_start_failure(GATEWAY, log_file=log, log_offset=offset(log))
        assert isinstance(error, SessionStartError)
        assert "the Delta classes are not on the classpath" in str(error)

    def test_anything_else_quotes_the_end_of_the_log(self, tmp_path: Path) -> None:
        """An unknown failure names the artifact, the Ivy cache and quotes the output's end."""
        log = write_log(tmp_path, "\n".join(f"line {i}" for i in range(40)))
        error = explain_start_failure(GATEWAY, log_file=log, log_offset=offset(log))
        message = str(error)
        assert isinstance(error, SessionStartError)
        assert "JAVA_GATEWAY_EXITED" in message
        assert "more detail" not in message
        assert message.endswith("line 39")
        assert "line 24" not in message
        assert f"Full start-up output: {log}." in message

    def test_without_a_log(self) -> None:
        """Without captured output the message still names Maven Central and the fix."""
        message = str(explain_start_failure(RuntimeError("")))
        assert "from Maven Central" in message
        assert "End of the start-up output" not in message


class TestLogFile:
    """The JVM's console goes to a log file, and the process's own console comes back after."""

    def test_output_goes_to_the_file_then_back(
        self, tmp_path: Path, capfd: pytest.CaptureFixture[str]
    ) -> None:
        """Writes to fds 1 and 2 inside the block land in the file (appended), not the console."""
        log = tmp_path / "logs" / "spark.log"
        with diagnose.output_to(log):
            os.write(1, b"from stdout\n")
            os.write(2, b"from stderr\n")
        os.write(1, b"after\n")
        with diagnose.output_to(log):
            os.write(2, b"second start\n")
        assert log.read_text() == "from stdout\nfrom stderr\nsecond start\n"
        assert capfd.readouterr().out == "after\n"

    def test_none_leaves_the_console_alone(self, capfd: pytest.CaptureFixture[str]) -> None:
        """quiet=False passes None: output stays on the console."""
        with diagnose.output_to(None):
            os.write(1, b"visible\n")
        assert capfd.readouterr().out == "visible\n"

    def test_default_file(self, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
        """DELTA_SESSION_LOG picks the file; else one per process under the temp folder."""
        monkeypatch.setenv(LOG_FILE_ENV, str(tmp_path / "x.log"))
        assert diagnose.default_log_file() == tmp_path / "x.log"
        monkeypatch.delenv(LOG_FILE_ENV)
        default = diagnose.default_log_file()
        assert default.name == f"spark-{os.getpid()}.log"
        assert default.parent.name == "delta-session"

    def test_reading_a_missing_log(self, tmp_path: Path) -> None:
        """A log that does not exist reads as empty, with size 0."""
        assert diagnose.read_log(tmp_path / "none.log") == ""
        assert diagnose.read_log(None) == ""
        assert diagnose.log_size(tmp_path / "none.log") == 0
        assert diagnose.log_size(None) == 0
