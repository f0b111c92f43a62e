"""Table addressing (path or catalog name), commit lookup in the history, session conf scoping."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from delta.tables import DeltaTable
    from pyspark.sql import SparkSession
    from pyspark.sql.types import StructType

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

# Session confs are shared by every thread using the SparkSession; Delta reads them when the
# command runs and commits. One lock per process keeps two writes from seeing each other's
# txn id or metadata.
_SESSION_CONF_LOCK = threading.RLock()


def is_path(target: str) -> bool:
    """Tell a storage path (``/data/t``, ``s3://b/t``, ``./t``) from a catalog name (``db.t``)."""
    return "/" in target or "\\" in target or "://" in target


@dataclass(frozen=True)
class Table:
    """A Delta table addressed by path or by catalog name."""

    spark: SparkSession
    name: str

    @property
    def is_path(self) -> bool:
        """True when addressed by storage path."""
        return is_path(self.name)

    def exists(self) -> bool:
        """Whether a Delta table is already there."""
        from delta.tables import DeltaTable

        if self.is_path:
            return bool(DeltaTable.isDeltaTable(self.spark, self.name))
        return bool(self.spark.catalog.tableExists(self.name))

    def delta(self) -> DeltaTable:
        """The :class:`delta.tables.DeltaTable` handle (fresh snapshot on each call)."""
        from delta.tables import DeltaTable

        if self.is_path:
            return DeltaTable.forPath(self.spark, self.name)
        return DeltaTable.forName(self.spark, self.name)

    def schema(self) -> StructType:
        """The table's current schema."""
        return self.delta().toDF().schema

    def location(self) -> str:
        """The storage location of the table (for catalog tables, from DESCRIBE DETAIL)."""
        if self.is_path:
            return self.name
        return str(self.delta().detail().select("location").collect()[0][0])

    def history(self, limit: int | None) -> list[dict[str, Any]]:
        """The newest ``limit`` commits (all when None), newest first, as dictionaries."""
        commits = []
        # Collected as is: projecting the history DataFrame first costs a plan analysis
        # that measurably slows every write's commit lookup.
        for row in self.delta().history(limit).collect():
            commit = {name: row[name] for name in _HISTORY_COLUMNS}
            commit["timestamp_ms"] = int(row["timestamp"].timestamp() * 1000)
            commits.append(commit)
        return commits

    def latest_version(self) -> int:
        """The newest committed version."""
        return int(self.history(1)[0]["version"])

    def find_commit(self, write_id: str, started_ms: int) -> dict[str, Any] | None:
        """Find the commit whose user metadata carries ``write_id``, or None if none was made.

        Reads the newest commit first and widens the window only while other writers' commits
        made after the call started could hide ours, so the usual cost is one one-commit read.
        """
        limit = 1
        while True:
            commits = self.history(limit)
            for commit in commits:
                if parse_user_metadata(commit.get("userMetadata")).get("write_id") == write_id:
                    return commit
            if len(commits) < limit or commits[-1]["timestamp_ms"] < started_ms - _CLOCK_SKEW_MS:
                return None
            limit *= 10


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
            for key, value in confs.items():
                if value is None:
                    spark.conf.unset(key)
                else:
                    spark.conf.set(key, value)
            yield
        finally:
            for key, value in previous.items():
                if value is None:
                    spark.conf.unset(key)
                else:
                    spark.conf.set(key, value)


def now_ms() -> int:
    """Wall-clock milliseconds since the epoch."""
    return int(time.time() * 1000)
