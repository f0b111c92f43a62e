"""Keep the JVM's start-up output in a log file, and turn a failed start into a clear error."""

from __future__ import annotations

import os
import re
import shutil
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from delta_session._conf import JARS_DIR_ENV, describe_delta_jar, ivy_dir, jars_dir
from delta_session._versions import _install_hint, _minor, installed_versions
from delta_session.errors import (
    ArtifactNotFoundError,
    DeltaSessionError,
    JarsDirError,
    JavaNotFoundError,
    MavenUnreachableError,
    SessionStartError,
)

#: Environment variable naming the log file for the JVM's start-up output.
LOG_FILE_ENV = "DELTA_SESSION_LOG"
_TAIL_LINES = 15
# Ivy: "unresolved dependency: io.delta#delta-spark_4.2_2.13;4.4.1: not found"
_UNRESOLVED = re.compile(r"unresolved dependency: ([^#\s]+)#([^;\s]+);([^:\s\]]+): not found")
# Ivy: "Server access error at url https://repo1.maven.org/... (java.net.ConnectException: ...)"
_ACCESS_ERROR = re.compile(r"Server access error at url (\S+) \(([^)]*)\)")
# Ivy: "Host repos.spark-packages.org not found. url=..." (DNS gives no address).
_UNKNOWN_HOST = re.compile(r"Host (\S+) not found\. url=")
_URL_HOST = re.compile(r"https?://([^/\s:)]+)")
_NETWORK_WORDS = (
    "UnknownHostException",
    "ConnectException",
    "NoRouteToHostException",
    "SocketTimeoutException",
    "Network is unreachable",
    "Connection refused",
    "SSLHandshakeException",
)
_MISSING_CLASS = ("ClassNotFound", "NoClassDefFound", "DeltaCatalog", "DeltaSparkSessionExtension")


def default_log_file() -> Path:
    """Return ``$DELTA_SESSION_LOG``, else ``<temp dir>/delta-session/spark-<pid>.log``."""
    value = os.environ.get(LOG_FILE_ENV)
    if value:
        return Path(value).expanduser()
    return Path(tempfile.gettempdir()) / "delta-session" / f"spark-{os.getpid()}.log"


def java_problem() -> str | None:
    """Return why no Java runtime can be found, or None when one is there."""
    java_home = os.environ.get("JAVA_HOME")
    if java_home:
        if (Path(java_home) / "bin" / "java").exists():
            return None
        return (
            f"JAVA_HOME={java_home} holds no bin/java. Point JAVA_HOME at a Java 17 (or 21) "
            "installation, or unset it to use the 'java' on PATH."
        )
    if shutil.which("java") is not None:
        return None
    return (
        "Spark could not start: no 'java' on PATH and JAVA_HOME is unset. Install Java 17 "
        "(e.g. 'apt-get install -y openjdk-17-jre-headless', or 'brew install openjdk@17') "
        "and retry."
    )


def require_java() -> None:
    """Raise :class:`JavaNotFoundError` when no Java runtime can be found."""
    problem = java_problem()
    if problem is not None:
        raise JavaNotFoundError(problem)


@contextmanager
def output_to(log_file: Path | None) -> Iterator[None]:
    """Send this process's stdout and stderr (fds 1 and 2) to ``log_file`` inside the block.

    A JVM started inside the block inherits the file as its console, so Ivy's resolution report
    and Spark's warnings land there for the JVM's whole life. ``None`` changes nothing.
    """
    if log_file is None:
        yield
        return
    log_file.parent.mkdir(parents=True, exist_ok=True)
    sys.stdout.flush()
    sys.stderr.flush()
    saved = (os.dup(1), os.dup(2))
    try:
        with log_file.open("ab") as log:
            os.dup2(log.fileno(), 1)
            os.dup2(log.fileno(), 2)
        yield
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        os.close(saved[0])
        os.close(saved[1])


def read_log(log_file: Path | None, offset: int = 0) -> str:
    """Return what the log file gained after ``offset`` (empty when there is no file)."""
    if log_file is None:
        return ""
    try:
        with log_file.open("rb") as log:
            log.seek(offset)
            return log.read().decode("utf-8", errors="replace")
    except FileNotFoundError:
        return ""


def log_size(log_file: Path | None) -> int:
    """Return the log file's size now (where this start's output will begin)."""
    try:
        return log_file.stat().st_size if log_file is not None else 0
    except FileNotFoundError:
        return 0


def _host(url: str) -> str:
    match = _URL_HOST.match(url)
    return match.group(1) if match else url


def first_line(cause: BaseException) -> str:
    text = str(cause).strip()
    return text.splitlines()[0] if text else ""


def _tail(log: str) -> str:
    lines = [line for line in log.strip().splitlines() if line.strip()]
    return "\n".join(lines[-_TAIL_LINES:])


def _see_log(log_file: Path | None) -> str:
    return f" Full start-up output: {log_file}." if log_file is not None else ""


def explain_start_failure(
    cause: BaseException, *, log_file: Path | None = None, log_offset: int = 0
) -> DeltaSessionError:
    """Classify why Spark with Delta did not start and return the matching error (not raised).

    The causes told apart: no Java; ``DELTA_JARS_DIR`` jars that could not be loaded; Maven
    unreachable (no network, proxy, firewall); an artifact Maven does not have (a version pair
    that does not exist); anything else. The JVM's output in ``log_file`` (Ivy's resolution
    report) is what separates the two Maven cases.

    Args:
        cause: The exception the start raised.
        log_file: File holding the JVM's output, if it was captured.
        log_offset: Where this start's output begins in ``log_file``.

    Returns:
        The error to raise, with a message saying what failed and what to do.
    """
    java = java_problem()
    if java is not None:
        return JavaNotFoundError(java, log_path=log_file)
    log = read_log(log_file, log_offset)
    detail = f"{type(cause).__name__}: {first_line(cause)}"
    delta_jar = describe_delta_jar()
    folder = jars_dir()
    if folder is not None:
        return JarsDirError(
            f"Spark with Delta Lake could not start while loading {delta_jar} from the jars in "
            f"{JARS_DIR_ENV}={folder} ({detail}). Check that folder holds the jars of "
            f"{delta_jar} and its dependencies, complete and unmodified (copy them again from "
            f"{ivy_dir() / 'jars'} on a connected machine), or unset {JARS_DIR_ENV} to "
            f"download them from Maven Central.{_see_log(log_file)}",
            log_path=log_file,
        )
    unresolved = tuple(dict.fromkeys(":".join(m) for m in _UNRESOLVED.findall(log)))
    failed = {
        _host(url): why
        for url, why in _ACCESS_ERROR.findall(log)
        if any(word in why for word in _NETWORK_WORDS)
    }
    failed.update(dict.fromkeys(_UNKNOWN_HOST.findall(log), "unknown host"))
    answered = sorted(set(_URL_HOST.findall(log)) - set(failed))
    if unresolved and failed and not answered:
        hosts = ", ".join(sorted(failed))
        return MavenUnreachableError(
            f"Spark could not download {', '.join(unresolved)}: no repository could be "
            f"reached ({hosts}: {next(iter(failed.values()))}). This is a network problem, not "
            f"a missing artifact: connect this machine to Maven Central (or set the proxy for "
            f"Java, e.g. JAVA_TOOL_OPTIONS='-Dhttps.proxyHost=... -Dhttps.proxyPort=...'), or "
            f"copy the jars from {ivy_dir() / 'jars'} on a connected machine and set "
            f"{JARS_DIR_ENV}=/that/folder.{_see_log(log_file)}",
            log_path=log_file,
        )
    if unresolved:
        pyspark_version, delta_version = installed_versions()
        hint = (
            f" Fix: {_install_hint(_minor(pyspark_version))}."
            if any(c.startswith("io.delta:") for c in unresolved)
            else " Check the versions in the coordinates you passed."
        )
        where = ", ".join(answered) or "the repository"
        return ArtifactNotFoundError(
            f"{where} answered but has no {', '.join(unresolved)} (installed: pyspark "
            f"{pyspark_version}, delta-spark {delta_version}). No such artifact exists; other "
            f"versions are the fix, not the network.{hint}{_see_log(log_file)}",
            coordinates=unresolved,
            log_path=log_file,
        )
    if any(word in log or word in str(cause) for word in _MISSING_CLASS):
        where = f"Maven Central into the Ivy cache {ivy_dir()}"
        return SessionStartError(
            f"Spark with Delta Lake could not start while loading {delta_jar} from {where} "
            f"({detail}): the Delta classes are not on the classpath. Delete the cached "
            f"{ivy_dir()} to download them again.{_see_log(log_file)}",
            log_path=log_file,
        )
    tail = _tail(log)
    return SessionStartError(
        f"Spark with Delta Lake could not start while loading {delta_jar} from Maven Central "
        f"into the Ivy cache {ivy_dir()} ({detail}). Without network access, copy the jars "
        f"once from a connected machine ({ivy_dir() / 'jars'}) and set "
        f"{JARS_DIR_ENV}=/that/folder.{_see_log(log_file)}"
        + (f"\nEnd of the start-up output:\n{tail}" if tail else ""),
        log_path=log_file,
    )
