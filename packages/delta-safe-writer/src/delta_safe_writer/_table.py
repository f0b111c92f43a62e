"""Table addressing (path or catalog name), commit lookup in the history, session conf scoping."""

from __future__ import annotations

import json
import os
import re
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession
    from pyspark.sql.types import StructType

    from delta_safe_writer._engine import Engine

#: Session confs Delta reads for idempotent DML (MERGE/UPDATE/DELETE) and commit user metadata.
TXN_APP_ID_CONF = "spark.databricks.delta.write.txnAppId"
TXN_VERSION_CONF = "spark.databricks.delta.write.txnVersion"
USER_METADATA_CONF = "spark.databricks.delta.commitInfo.userMetadata"

# Commit timestamps come from the committing driver's or the storage's clock; allow this much
# skew before concluding that a commit older than the call start cannot be ours.
_CLOCK_SKEW_MS = 5 * 60 * 1000
_HISTORY_COLUMNS = (
    "version",
    "timestamp",
    "operation",
    "operationParameters",
    "operationMetrics",
    "userMetadata",
)

# How many of the newest commit files the local lookup reads before leaving it to the history.
_LOCAL_LOOKUP_FILES = 16
# How many earlier commit files the local lookup consults to give a commit the timestamp
# Delta's history gives it (Delta's own "potentially unmonotonized" window).
_MONOTONIZE_WINDOW = 100
_COMMIT_FILE = re.compile(r"^(\d{20})\.json$")

# Session confs are shared by every thread using the SparkSession; Delta reads them when the
# command runs and commits. One lock per process keeps two writes from seeing each other's
# txn id or metadata.
_SESSION_CONF_LOCK = threading.RLock()


def is_path(target: str) -> bool:
    """Tell a storage path (``/data/t``, ``s3://b/t``, ``./t``) from a catalog name (``db.t``)."""
    return "/" in target or "\\" in target or "://" in target


def epoch_ms(value: datetime) -> int:
    """Milliseconds since the epoch of a collected Spark timestamp, exactly (no float rounding).

    PySpark turns a TIMESTAMP into a naive datetime in the process's local time zone; aware
    datetimes are taken as they are.
    """
    whole = value.replace(microsecond=0)
    if whole.tzinfo is None:
        seconds = int(whole.timestamp())
    else:
        seconds = int(whole.astimezone(UTC).timestamp())
    return seconds * 1000 + value.microsecond // 1000


class Table:
    """A Delta table addressed by path or by catalog name, read and written through an engine.

    Args:
        spark: The session.
        name: Path or catalog name, as the caller gave it.
        engine: How Delta is reached (delta-spark's API or Spark SQL); chosen from the
            session when not given.
    """

    def __init__(self, spark: SparkSession, name: str, engine: Engine | None = None) -> None:
        if engine is None:
            from delta_safe_writer._engine import select_engine

            engine = select_engine(spark, "auto")
        self.spark = spark
        self.name = name
        self.engine = engine

    @property
    def is_path(self) -> bool:
        """True when addressed by storage path."""
        return is_path(self.name)

    def schema(self) -> StructType | None:
        """The table's current schema, or None when there is no Delta table."""
        return self.engine.schema(self)

    def exists(self) -> bool:
        """Whether a Delta table is already there."""
        return self.schema() is not None

    def frame(self) -> DataFrame:
        """The table's current rows as a DataFrame (nothing is read until it runs)."""
        return self.engine.frame(self)

    def location(self) -> str:
        """The storage location of the table (for catalog tables, from DESCRIBE DETAIL)."""
        if self.is_path:
            return self.name
        return self.engine.location(self)

    def history(self, limit: int | None) -> list[dict[str, Any]]:
        """The newest ``limit`` commits (all when None), newest first, as dictionaries."""
        commits = []
        for row in self.engine.history(self, limit):
            commit = {name: row[name] for name in _HISTORY_COLUMNS}
            commit["timestamp_ms"] = epoch_ms(row["timestamp"])
            commits.append(commit)
        return commits

    def latest_version(self) -> int:
        """The newest committed version."""
        return int(self.history(1)[0]["version"])

    def find_commit(self, write_id: str, started_ms: int) -> dict[str, Any] | None:
        """Find the commit whose user metadata carries ``write_id``, or None if none was made.

        A table on a filesystem this process can read gets its newest commit files read
        directly (the Delta log is a documented JSON format), which takes a millisecond where
        the history takes about 100 ms of driver work per call. The history stays the
        authority: when the commit is not found that way (object stores, a Spark Connect
        server on another machine, commits not yet published to the log folder), it is
        searched. The newest commit is read first and the window widens only while other
        writers' commits made after the call started could hide ours.
        """
        local = self._find_local_commit(write_id)
        if local is not None:
            return local
        limit = 1
        while True:
            commits = self.history(limit)
            for commit in commits:
                if parse_user_metadata(commit.get("userMetadata")).get("write_id") == write_id:
                    return commit
            if len(commits) < limit or commits[-1]["timestamp_ms"] < started_ms - _CLOCK_SKEW_MS:
                return None
            limit *= 10

    def newest_commit_metadata(self) -> dict[str, Any]:
        """The writer's JSON user metadata of the table's newest commit ({} when it has none).

        Read from the newest commit file when the Delta log is a local folder (a millisecond),
        else from the history's newest entry.
        """
        log_dir = self._local_log_dir()
        if log_dir is not None:
            try:
                versions = commit_versions(log_dir)
                if versions:
                    info = read_commit_info(log_dir / f"{versions[0]:020d}.json")
                    return parse_user_metadata(info.get("userMetadata") if info else None)
            except (OSError, ValueError):
                pass  # A log being cleaned up or a file mid-write: the history answers instead.
        commits = self.history(1)
        return parse_user_metadata(commits[0].get("userMetadata")) if commits else {}

    def _local_log_dir(self) -> Path | None:
        if not self.is_path:
            return None
        parsed = urlparse(self.name)
        if parsed.scheme == "file":
            local = parsed.path
        elif parsed.scheme and len(parsed.scheme) > 1:
            return None  # s3://, abfss://, hdfs://...: not this process's filesystem
        else:
            local = self.name
        log_dir = Path(local) / "_delta_log"
        return log_dir if log_dir.is_dir() else None

    def _find_local_commit(self, write_id: str) -> dict[str, Any] | None:
        """Search the newest commit files of a locally readable Delta log for ``write_id``."""
        log_dir = self._local_log_dir()
        if log_dir is None:
            return None
        try:
            versions = commit_versions(log_dir)
            for position, version in enumerate(versions[:_LOCAL_LOOKUP_FILES]):
                info = read_commit_info(log_dir / f"{version:020d}.json")
                if info is None:
                    continue
                if parse_user_metadata(info.get("userMetadata")).get("write_id") == write_id:
                    older = versions[position : position + _MONOTONIZE_WINDOW + 1]
                    return commit_from_info(version, info, history_timestamp(log_dir, older, info))
        except (OSError, ValueError):
            # A log being cleaned up or a file mid-write: the history answers instead.
            return None
        return None


def commit_versions(log_dir: Path) -> list[int]:
    """The versions of the commit files in a local Delta log folder, newest first.

    Raises:
        OSError: The folder cannot be listed.
    """
    return sorted(
        (int(m.group(1)) for m in map(_COMMIT_FILE.match, os.listdir(log_dir)) if m),
        reverse=True,
    )


def history_timestamp(log_dir: Path, versions: list[int], info: Mapping[str, Any]) -> int:
    """The timestamp Delta's history reports for ``versions[0]``, from the local log.

    Delta 4.4 (``DeltaHistoryManager``) takes a commit's timestamp from its
    ``inCommitTimestamp`` when in-commit timestamps are enabled, and otherwise from the
    commit file's modification time, not from ``commitInfo.timestamp`` (which is taken
    before the commit is written, seconds earlier on a loaded machine). Modification times
    are then made strictly increasing by version: a commit not after its predecessor gets
    the predecessor's time plus one millisecond. This repeats that over the commits before
    it in the local listing (newest first in ``versions``, at most ``_MONOTONIZE_WINDOW``).

    Raises:
        OSError: A commit file vanished (log cleanup); the caller asks the history instead.
    """
    if info.get("inCommitTimestamp") is not None:
        return int(info["inCommitTimestamp"])
    chronological = sorted(versions)
    # Versions must be contiguous for Delta's rule to apply from the oldest one onwards.
    start = len(chronological) - 1
    while start > 0 and chronological[start - 1] == chronological[start] - 1:
        start -= 1
    timestamp: int | None = None
    for version in chronological[start:]:
        modified = os.stat(log_dir / f"{version:020d}.json").st_mtime_ns // 1_000_000
        timestamp = modified if timestamp is None or modified > timestamp else timestamp + 1
    if timestamp is None:  # pragma: no cover - versions always holds the commit itself
        raise OSError("no commit file to read a timestamp from")
    return timestamp


def read_commit_info(path: Path) -> dict[str, Any] | None:
    """The ``commitInfo`` action of one Delta commit file, or None when it has none.

    Delta writes ``commitInfo`` as the commit's first action, so only the first lines of a
    commit with many ``add`` actions are read.
    """
    with path.open(encoding="utf-8") as lines:
        for line in lines:
            action = json.loads(line)
            if "commitInfo" in action:
                info = action["commitInfo"]
                return info if isinstance(info, dict) else None
    return None


def commit_from_info(version: int, info: Mapping[str, Any], timestamp_ms: int) -> dict[str, Any]:
    """Shape a ``commitInfo`` action like a history row (strings in the maps)."""

    def strings(raw: Any) -> dict[str, str | None] | None:
        if not isinstance(raw, dict):
            return None
        return {k: v if v is None or isinstance(v, str) else json.dumps(v) for k, v in raw.items()}

    return {
        "version": version,
        "timestamp": datetime.fromtimestamp(timestamp_ms // 1000).replace(
            microsecond=timestamp_ms % 1000 * 1000
        ),
        "operation": info.get("operation"),
        "operationParameters": strings(info.get("operationParameters")),
        "operationMetrics": strings(info.get("operationMetrics")),
        "userMetadata": info.get("userMetadata"),
        "timestamp_ms": timestamp_ms,
    }


def parse_user_metadata(raw: str | None) -> dict[str, Any]:
    """Decode the writer's JSON user metadata; anything else gives an empty dict."""
    if not raw:
        return {}
    try:
        decoded = json.loads(raw)
    except ValueError:
        return {}
    return decoded if isinstance(decoded, dict) else {}


@contextmanager
def session_confs(spark: SparkSession, confs: Mapping[str, str | None]) -> Iterator[None]:
    """Set session confs for the duration of the block, restoring previous values after.

    Confs mapped to None are left unset. The previous values are restored (or unset) even when
    the block raises. Holds a process-wide lock meanwhile, so concurrent threads never commit
    with each other's txn id or metadata.
    """
    with _SESSION_CONF_LOCK:
        previous = {key: spark.conf.get(key, None) for key in confs}
        try:
            _apply_confs(spark, confs)
            yield
        finally:
            _apply_confs(spark, previous)


def _apply_confs(spark: SparkSession, confs: Mapping[str, str | None]) -> None:
    """Set each conf, or unset it where the value is None."""
    for key, value in confs.items():
        if value is None:
            spark.conf.unset(key)
        else:
            spark.conf.set(key, value)


def now_ms() -> int:
    """Wall-clock milliseconds since the epoch."""
    return int(time.time() * 1000)
