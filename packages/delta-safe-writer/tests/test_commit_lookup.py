"""Finding the writer's own commit: the local Delta-log read agrees with DESCRIBE HISTORY."""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path
from typing import Any

import pytest
from pyspark.sql import SparkSession

from delta_safe_writer import SafeDeltaWriter
from delta_safe_writer._table import Table, epoch_ms, history_timestamp, parse_user_metadata

pytestmark = pytest.mark.spark

SCHEMA = "id INT, v STRING"
COMPARED = ("version", "operation", "operationParameters", "operationMetrics", "userMetadata")


def history_commit(table: Table, write_id: str) -> dict[str, Any]:
    """The commit carrying ``write_id`` as DeltaTable.history reports it."""
    for commit in table.history(None):
        if parse_user_metadata(commit["userMetadata"]).get("write_id") == write_id:
            return commit
    raise AssertionError(f"no commit with write_id {write_id}")


class TestLocalLogLookup:
    def test_every_operation_reads_the_same_commit_as_the_history(
        self, spark: SparkSession, writer: SafeDeltaWriter, table_path: str
    ) -> None:
        """Every operation's commit read from the log equals the history, timestamp exactly."""
        results = [
            writer.append(spark.createDataFrame([(1, "a"), (2, "b")], SCHEMA), table_path),
            writer.merge(spark.createDataFrame([(2, "B"), (3, "c")], SCHEMA), table_path, ["id"]),
            writer.overwrite_partitions(
                spark.createDataFrame([(1, "z")], SCHEMA), table_path, "id = 1"
            ),
            writer.restore(table_path, 1),
        ]
        table = Table(spark, table_path)

        history = table.history(None)
        write_ids = [parse_user_metadata(c["userMetadata"])["write_id"] for c in history]
        assert len(write_ids) == 4
        for write_id in write_ids:
            local = table._find_local_commit(write_id)
            expected = history_commit(table, write_id)
            assert local is not None
            assert {k: local[k] for k in COMPARED} == {k: expected[k] for k in COMPARED}
            assert local["timestamp_ms"] == expected["timestamp_ms"]
        described = {
            r["version"]: r["timestamp"]
            for r in spark.sql(f"DESCRIBE HISTORY delta.`{table_path}`").collect()
        }
        for result in results:
            assert result.timestamp_ms == epoch_ms(described[result.version])
            assert result.committed_at == described[result.version].astimezone(dt.UTC)

    def test_file_uri_is_read_locally(
        self, spark: SparkSession, writer: SafeDeltaWriter, table_path: str
    ) -> None:
        """A file:// table URI finds its commit in the local log, with the right version."""
        uri = Path(table_path).as_uri()
        writer.append(spark.createDataFrame([(1, "a")], SCHEMA), uri)
        result = writer.append(spark.createDataFrame([(2, "b")], SCHEMA), uri)
        table = Table(spark, uri)

        write_id = parse_user_metadata(table.history(1)[0]["userMetadata"])["write_id"]
        local = table._find_local_commit(write_id)

        assert local is not None
        assert local["version"] == result.version == 1

    def test_unknown_write_id_is_left_to_the_history(
        self, spark: SparkSession, writer: SafeDeltaWriter, table_path: str
    ) -> None:
        """A write id in none of the newest log files gives None, so the history is asked."""
        writer.append(spark.createDataFrame([(1, "a")], SCHEMA), table_path)

        assert Table(spark, table_path)._find_local_commit("not-a-write-id") is None
        assert Table(spark, table_path).find_commit("not-a-write-id", 0) is None


class TestLocalLogFallbacks:
    @pytest.mark.parametrize(
        "target", ["s3://bucket/t", "abfss://c@acct.dfs.core.windows.net/t", "db.table"]
    )
    def test_remote_and_catalog_tables_are_not_read_locally(
        self, spark: SparkSession, target: str
    ) -> None:
        """Object stores and catalog names have no local log folder to read."""
        assert Table(spark, target)._local_log_dir() is None

    def test_a_folder_without_a_delta_log_is_not_read(
        self, spark: SparkSession, tmp_path: Path
    ) -> None:
        """A path with no _delta_log folder (table not created yet) is not read locally."""
        assert Table(spark, str(tmp_path))._local_log_dir() is None

    def test_a_half_written_commit_file_falls_back(
        self, spark: SparkSession, tmp_path: Path
    ) -> None:
        """A commit file that is not valid JSON (mid-write) makes the local read give up."""
        log = tmp_path / "_delta_log"
        log.mkdir()
        (log / f"{0:020d}.json").write_text('{"commitInfo": {"timestamp": 1, "userMet')

        assert Table(spark, str(tmp_path))._find_local_commit("w") is None

    def test_a_commit_without_commit_info_is_skipped(
        self, spark: SparkSession, tmp_path: Path
    ) -> None:
        """Commit files without a commitInfo action (other writers) are passed over."""
        log = tmp_path / "_delta_log"
        log.mkdir()
        ours = '{"commitInfo": {"timestamp": 5, "operation": "WRITE", "userMetadata": '
        ours += '"{\\"write_id\\": \\"w\\"}", "operationMetrics": {"numOutputRows": "3"}}}\n'
        (log / f"{0:020d}.json").write_text(ours)
        (log / f"{1:020d}.json").write_text('{"add": {"path": "f.parquet"}}\n')
        (log / f"{1:020d}.crc").write_text("{}")

        found = Table(spark, str(tmp_path))._find_local_commit("w")

        assert found is not None
        assert (found["version"], found["operationMetrics"]) == (0, {"numOutputRows": "3"})


def commit_file(log: Path, version: int, modified_ms: int, info: dict[str, Any]) -> None:
    """Write a one-action commit file with the given modification time."""
    path = log / f"{version:020d}.json"
    path.write_text(json.dumps({"commitInfo": info}) + "\n")
    os.utime(path, ns=(modified_ms * 1_000_000, modified_ms * 1_000_000))


class TestHistoryTimestamp:
    def test_file_modification_time_not_commit_info_timestamp(self, tmp_path: Path) -> None:
        """Without in-commit timestamps Delta's history shows the file's modification time."""
        commit_file(tmp_path, 0, 1_700_000_005_123, {"timestamp": 1_700_000_000_000})

        info = {"timestamp": 1_700_000_000_000}
        assert history_timestamp(tmp_path, [0], info) == 1_700_000_005_123

    def test_in_commit_timestamp_wins(self, tmp_path: Path) -> None:
        """A commit carrying inCommitTimestamp is reported with it, whatever the file time."""
        info = {"timestamp": 1, "inCommitTimestamp": 1_700_000_000_777}
        commit_file(tmp_path, 0, 1_700_000_009_000, info)

        assert history_timestamp(tmp_path, [0], info) == 1_700_000_000_777

    def test_times_not_after_the_previous_commit_are_monotonized(self, tmp_path: Path) -> None:
        """Like Delta, a commit no later than its predecessor gets the predecessor's time + 1 ms."""
        for version, modified in enumerate([1_000, 5_000, 5_000, 4_000, 9_000]):
            commit_file(tmp_path, version, modified, {})

        timestamps = [history_timestamp(tmp_path, list(range(v, -1, -1)), {}) for v in range(5)]

        assert timestamps == [1_000, 5_000, 5_001, 5_002, 9_000]

    def test_a_gap_in_the_versions_starts_over(self, tmp_path: Path) -> None:
        """Only the contiguous run of versions before the commit is monotonized."""
        commit_file(tmp_path, 3, 8_000, {})
        commit_file(tmp_path, 5, 2_000, {})
        commit_file(tmp_path, 6, 1_500, {})

        assert history_timestamp(tmp_path, [6, 5, 3], {}) == 2_001
