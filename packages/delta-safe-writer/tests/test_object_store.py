"""Every writer operation on ``s3a://`` tables of a real S3 API server (``--spark-s3`` runs).

The testkit's ``table_path`` is ``s3a://lake/<test>/table`` on a moto server started on
127.0.0.1; the driver cannot read the Delta log as local files, so each write's commit is
found through Spark (the newest commit file, or Delta's history), never through ``os``.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from pyspark.sql import SparkSession

from delta_safe_writer import SafeDeltaWriter, StorageUnavailableError, WriteContext
from pipeline_testkit import S3Server, free_port

pytestmark = [pytest.mark.spark, pytest.mark.s3]

SCHEMA = "id INT, v STRING"
DAYS = "day STRING, id INT"
T1 = dt.datetime(2024, 1, 1)
T2 = dt.datetime(2024, 2, 1)


def _commit_keys(s3_server: S3Server, table_path: str) -> list[str]:
    """The commit files of a table as object keys on the S3 server."""
    prefix = table_path.split(f"s3a://{s3_server.bucket}/", 1)[1] + "/_delta_log/"
    return sorted(k for k in s3_server.keys(prefix) if k.endswith(".json"))


class TestOperationsOnS3:
    """Each operation commits once on S3 and its result comes from that commit's metrics."""

    def test_append_creates_then_appends(
        self,
        spark: SparkSession,
        writer: SafeDeltaWriter,
        table_path: str,
        table_rows: Any,
        s3_server: S3Server,
    ) -> None:
        """Two appends make versions 0 and 1, as two commit objects in the bucket."""
        first = writer.append(spark.createDataFrame([(1, "a"), (2, "b")], SCHEMA), table_path)
        second = writer.append(spark.createDataFrame([(3, "c")], SCHEMA), table_path)

        assert (first.version, first.rows_inserted, first.source_rows) == (0, 2, 2)
        assert (second.version, second.rows_inserted, second.source_rows) == (1, 1, 1)
        assert table_rows(table_path) == [(1, "a"), (2, "b"), (3, "c")]
        assert [k.rsplit("/", 1)[1] for k in _commit_keys(s3_server, table_path)] == [
            f"{0:020d}.json",
            f"{1:020d}.json",
        ]

    def test_merge_updates_and_inserts(
        self, spark: SparkSession, writer: SafeDeltaWriter, table_path: str, table_rows: Any
    ) -> None:
        """A keyed MERGE on S3 updates the matching key and inserts the new one."""
        writer.append(spark.createDataFrame([(1, "a"), (2, "b")], SCHEMA), table_path)

        result = writer.merge(spark.createDataFrame([(2, "B"), (3, "c")], SCHEMA), table_path, "id")

        assert table_rows(table_path) == [(1, "a"), (2, "B"), (3, "c")]
        assert (result.version, result.rows_updated, result.rows_inserted) == (1, 1, 1)

    def test_overwrite_partitions_replaces_only_the_predicate(
        self, spark: SparkSession, writer: SafeDeltaWriter, table_path: str, table_rows: Any
    ) -> None:
        """A replaceWhere overwrite on S3 swaps day d1 and keeps day d2, counts from the commit."""
        writer.append(
            spark.createDataFrame([("d1", 1), ("d1", 2), ("d2", 3)], DAYS),
            table_path,
            partition_by=["day"],
        )

        result = writer.overwrite_partitions(
            spark.createDataFrame([("d1", 10)], DAYS), table_path, "day = 'd1'"
        )

        assert table_rows(table_path) == [("d1", 10), ("d2", 3)]
        assert (result.rows_inserted, result.rows_deleted) == (1, 2)

    def test_scd2_merge_closes_and_opens_versions(
        self, spark: SparkSession, writer: SafeDeltaWriter, table_path: str
    ) -> None:
        """An SCD2 change on S3 closes the current row and inserts the new version."""
        writer.scd2_merge(
            spark.createDataFrame([(1, "a")], SCHEMA),
            table_path,
            "id",
            tracked_columns=["v"],
            effective_at=T1,
        )

        result = writer.scd2_merge(
            spark.createDataFrame([(1, "A")], SCHEMA),
            table_path,
            "id",
            tracked_columns=["v"],
            effective_at=T2,
        )

        got = sorted(
            tuple(r)
            for r in spark.read.format("delta")
            .load(table_path)
            .select("id", "v", "valid_from", "valid_to", "is_current")
            .collect()
        )
        assert got == [(1, "A", T2, None, True), (1, "a", T1, T2, False)]
        assert result.version == 1

    def test_restore_is_a_new_commit(
        self, spark: SparkSession, writer: SafeDeltaWriter, table_path: str, table_rows: Any
    ) -> None:
        """Restoring version 0 on S3 brings its rows back as version 2."""
        writer.append(spark.createDataFrame([(1, "a")], SCHEMA), table_path)
        writer.append(spark.createDataFrame([(2, "b")], SCHEMA), table_path)

        result = writer.restore(table_path, 0, run_id="undo")

        assert (result.operation, result.version) == ("restore", 2)
        assert table_rows(table_path) == [(1, "a")]
        assert writer.history(table_path, limit=1)[0]["writer_metadata"]["run_id"] == "undo"


class TestRetriesAndRollbackOnS3:
    """Idempotent batch ids and rollback hold on S3 as on a local disk."""

    def test_replayed_batch_is_skipped(
        self,
        spark: SparkSession,
        writer: SafeDeltaWriter,
        table_path: str,
        table_rows: Any,
        table_versions: Any,
    ) -> None:
        """A retried batch id commits nothing the second time and says so."""
        df = spark.createDataFrame([(1, "a")], SCHEMA)
        first = writer.append(df, table_path, batch_id=7)

        again = writer.append(df, table_path, batch_id=7)

        assert first.version == 0
        assert again.skipped
        assert again.version is None
        assert "batch 7" in (again.reason or "")
        assert table_rows(table_path) == [(1, "a")]
        assert table_versions(table_path) == [0]

    def test_failed_post_hook_rolls_back(
        self,
        spark: SparkSession,
        make_writer: Any,
        table_path: str,
        table_rows: Any,
    ) -> None:
        """A post-write check failing after a commit on S3 restores the previous version."""

        def failing(context: WriteContext) -> None:
            raise RuntimeError("post-write check failed")

        make_writer().append(spark.createDataFrame([(1, "a")], SCHEMA), table_path)
        writer = make_writer(post_hooks=[failing])

        with pytest.raises(RuntimeError, match="post-write check failed") as info:
            writer.append(spark.createDataFrame([(2, "b")], SCHEMA), table_path)

        assert table_rows(table_path) == [(1, "a")]
        assert any("restored to version 0" in note for note in info.value.__notes__)


class TestStorageFaults:
    """An unreachable object store gives a typed error naming the endpoint, never a secret."""

    def test_unreachable_endpoint_names_it_and_commits_nothing(
        self, spark: SparkSession, writer: SafeDeltaWriter, s3_server: S3Server
    ) -> None:
        """A bucket routed to a port nobody listens on fails with StorageUnavailableError."""
        bucket = "unreachable"
        endpoint = f"http://127.0.0.1:{free_port()}"
        # Runtime Hadoop settings for that bucket only; one attempt keeps the failure quick.
        confs = {
            f"fs.s3a.bucket.{bucket}.endpoint": endpoint,
            f"fs.s3a.bucket.{bucket}.attempts.maximum": "1",
            f"fs.s3a.bucket.{bucket}.retry.limit": "1",
            f"fs.s3a.bucket.{bucket}.retry.interval": "10ms",
        }
        for key, value in confs.items():
            spark.conf.set(key, value)
        try:
            with pytest.raises(StorageUnavailableError) as info:
                writer.append(spark.createDataFrame([(1, "a")], SCHEMA), f"s3a://{bucket}/t")
        finally:
            for key in confs:
                spark.conf.unset(key)

        error = info.value
        assert error.endpoint == endpoint
        assert error.operation == "append"
        assert endpoint in str(error)
        assert "nothing was committed" in str(error)
        for secret in (s3_server.env["AWS_SECRET_ACCESS_KEY"], s3_server.env["AWS_ACCESS_KEY_ID"]):
            assert secret not in str(error)
            assert secret not in error.reason
