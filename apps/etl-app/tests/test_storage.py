"""URIs, listing and hashing input through Spark, a table exists when it has a commit."""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from delta.tables import DeltaTable
from pyspark.errors import PySparkException
from pyspark.sql import SparkSession

from etl_app import _lake, _storage
from etl_app._specs import ORDERS
from etl_app._state import LEDGER_TABLE, Ledger


class TestLocations:
    @pytest.mark.parametrize(
        ("location", "uri"),
        [
            ("s3a://bucket/landing", True),
            ("file:///data/in", True),
            ("abfss://c@acct.dfs.core.windows.net/x", True),
            ("/data/in", False),
            ("relative/in", False),
            ("C:/data", False),
        ],
    )
    def test_scheme_makes_a_uri(self, location: str, uri: bool) -> None:
        """A location with ``scheme://`` is a URI; anything else is a path."""
        assert _storage.is_uri(location) is uri

    def test_resolve_keeps_uris_and_anchors_paths(self, tmp_path: Path) -> None:
        """URIs pass through (no trailing slash); relative paths are resolved against a base."""
        assert _storage.resolve("s3a://bucket/lake/") == "s3a://bucket/lake"
        assert _storage.resolve("out", tmp_path) == str(tmp_path / "out")
        assert _storage.resolve(tmp_path / "x") == str(tmp_path / "x")

    def test_join_and_local_path(self) -> None:
        """Joining keeps the scheme; only plain paths and file: URIs have a local path."""
        assert _storage.join("s3a://b/lake/", "silver", "orders") == "s3a://b/lake/silver/orders"
        assert _storage.join("/lake", "_etl_state/batches") == "/lake/_etl_state/batches"
        assert _storage.local_path("file:///lake/x") == Path("/lake/x")
        assert _storage.local_path("file:/lake/x") == Path("/lake/x")
        assert _storage.local_path("/lake") == Path("/lake")
        assert _storage.local_path("s3a://b/lake") is None


@pytest.mark.spark
class TestListingThroughSpark:
    def test_files_are_listed_by_pattern_with_size_and_time_for_paths_and_uris(
        self, spark: SparkSession, tmp_path: Path
    ) -> None:
        """Only matching files, sorted, with length and mtime; a file:// URI lists the same."""
        (tmp_path / "orders_0002.json").write_text("{}\n")
        (tmp_path / "orders_0001.json").write_text("")
        (tmp_path / "customers_0001.csv").write_text("a\n")
        listed = _storage.list_files(spark, str(tmp_path), "orders_*.json")
        assert [(f.name, f.length) for f in listed] == [
            ("orders_0001.json", 0),
            ("orders_0002.json", 3),
        ]
        mtime = (tmp_path / "orders_0002.json").stat().st_mtime * 1000
        assert abs(listed[1].modified_ms - mtime) < 2000
        assert listed[0].path.startswith("file:")
        as_uri = _storage.list_files(spark, tmp_path.as_uri(), "orders_*.json")
        assert as_uri == listed
        assert _storage.list_files(spark, str(tmp_path), "products_*.csv") == []

    def test_missing_folder_and_content_hash(self, spark: SparkSession, tmp_path: Path) -> None:
        """A missing folder is FileNotFoundError; the hash is SHA-256 of the bytes Spark read."""
        with pytest.raises(FileNotFoundError):
            _storage.list_files(spark, str(tmp_path / "nope"), "*.csv")
        (tmp_path / "a.csv").write_bytes(b"x,y\n1,2\n")
        (tmp_path / "e.csv").write_bytes(b"")
        assert _storage.content_hash(spark, str(tmp_path / "a.csv")) == (
            hashlib.sha256(b"x,y\n1,2\n").hexdigest()
        )
        assert _storage.content_hash(spark, str(tmp_path / "e.csv"), 0) == (
            hashlib.sha256(b"").hexdigest()
        )
        with pytest.raises(FileNotFoundError):
            _storage.content_hash(spark, str(tmp_path / "missing.csv"))

    def test_content_hash_streams_local_files_and_asks_spark_otherwise(
        self, spark: SparkSession, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A local file of several blocks is hashed from disk; another length is left to Spark."""
        data = bytes(range(256)) * 9000  # 2.2 MiB: more than one 1 MiB block
        (tmp_path / "big.json").write_bytes(data)
        expected = hashlib.sha256(data).hexdigest()
        uri = (tmp_path / "big.json").as_uri()
        # Streamed from disk: no Spark job runs (an input file of any size fits).
        jobs: list[object] = []
        monkeypatch.setattr(type(spark.read), "format", lambda *a: jobs.append(a))
        assert _storage.content_hash(spark, uri, len(data)) == expected
        assert _storage.content_hash(spark, str(tmp_path / "big.json")) == expected
        assert jobs == []
        monkeypatch.undo()
        # Not the listed file (another length: e.g. a Connect server's disk): Spark reads it.
        assert _storage.content_hash(spark, uri, len(data) + 1) == expected

    def test_a_table_exists_when_it_has_a_commit(self, spark: SparkSession, tmp_path: Path) -> None:
        """No folder, or a _delta_log without a commit file: no table; after a commit: a table."""
        target = tmp_path / "t"
        assert not _lake.exists(spark, str(target))
        (target / "_delta_log").mkdir(parents=True)
        assert not _lake.exists(spark, str(target))
        spark.range(1).write.format("delta").mode("append").save(str(target))
        assert _lake.exists(spark, str(target))
        assert _lake.exists(spark, target.as_uri())


def _added(table: Path, version: int) -> tuple[int, int]:
    """Bytes and count of the data files a commit added, read from its log entry."""
    entry = table / "_delta_log" / f"{version:020d}.json"
    adds = [json.loads(line)["add"] for line in entry.read_text().splitlines() if '"add"' in line]
    return sum(int(a["size"]) for a in adds), len(adds)


def _grown(spark: SparkSession, table: Path) -> Path:
    """A table of two commits, one data file each."""
    spark.range(10).coalesce(1).write.format("delta").save(str(table))
    spark.range(10).coalesce(1).write.format("delta").mode("append").save(str(table))
    return table


class TestTableSizes:
    def test_sizes_at_the_written_version_come_from_one_read_of_the_checksums(
        self, spark: SparkSession, tmp_path: Path
    ) -> None:
        """Each table's size and files at the version asked for, a ``file:`` URI as well."""
        grown, small = _grown(spark, tmp_path / "grown"), tmp_path / "small"
        spark.range(30).repartition(3).write.format("delta").save(str(small))
        sizes = _lake.table_sizes(spark, {str(grown): 0, small.as_uri(): 0})
        assert sizes[str(grown)] == _lake.TableSize(*_added(grown, 0))
        assert sizes[small.as_uri()] == _lake.TableSize(*_added(small, 0))
        assert sizes[small.as_uri()].files == 3
        newest = _lake.table_sizes(spark, {str(grown): 1})[str(grown)]
        detail = spark.sql(f"DESCRIBE DETAIL delta.`{grown}`").collect()[0]
        assert newest == _lake.TableSize(detail["sizeInBytes"], detail["numFiles"])
        assert newest.files == 2

    def test_a_table_without_its_checksum_is_described_at_its_newest_version(
        self, spark: SparkSession, tmp_path: Path
    ) -> None:
        """No checksum (another writer's commit): DESCRIBE DETAIL answers, for every table."""
        grown, bare = _grown(spark, tmp_path / "grown"), tmp_path / "bare"
        spark.range(4).coalesce(1).write.format("delta").save(str(bare))
        (bare / "_delta_log" / f"{0:020d}.crc").unlink()
        sizes = _lake.table_sizes(spark, {str(grown): 0, str(bare): 0})
        assert sizes[str(bare)] == _lake.TableSize(*_added(bare, 0))
        # Described, so at its newest version (1), not the version asked for.
        assert sizes[str(grown)].files == 2
        assert _lake.table_sizes(spark, {}) == {}


def _temp_first_commit(table: Path, writer: str) -> Path:
    """A commit-less ``_delta_log`` holding only a first commit's temp file, as Delta names it."""
    log = table / "_delta_log"
    log.mkdir(parents=True)
    temp = log / f".00000000000000000000.json.{writer}.tmp"
    temp.write_text("{}")
    return temp


class TestCreateTableBesideAnotherRun:
    """A commit-less ``_delta_log``: another run's creation in progress, or a crash's leftover."""

    SCHEMA = "order_id BIGINT, order_date DATE"

    def _schema(self, spark: SparkSession) -> Any:
        return spark.createDataFrame([], self.SCHEMA).schema

    def test_a_log_being_written_is_waited_for_not_removed(
        self, spark: SparkSession, tmp_path: Path
    ) -> None:
        """A fresh temp commit file: the other run's table is waited for and kept as it wrote it."""
        target = tmp_path / "orders"
        in_flight = _temp_first_commit(target, "other-run")

        def other_run() -> None:
            time.sleep(2)
            spark.createDataFrame([(7, None)], self.SCHEMA).write.format("delta").partitionBy(
                "order_date"
            ).mode("append").save(str(target))

        thread = threading.Thread(target=other_run)
        thread.start()
        try:
            _lake.create_table(spark, ORDERS, str(target), self._schema(spark))
        finally:
            thread.join()

        # The other run's log was left alone and its commit is the table's only one.
        assert in_flight.exists()
        history = spark.sql(f"DESCRIBE HISTORY delta.`{target}`").collect()
        assert [h["operation"] for h in history] == ["WRITE"]
        rows = spark.read.format("delta").load(str(target)).collect()
        assert [r["order_id"] for r in rows] == [7]

    def test_an_old_leftover_is_removed_at_once_and_the_table_created(
        self, spark: SparkSession, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A temp commit file older than a minute is a crash's leftover: no wait, new table."""
        target = tmp_path / "orders"
        leftover = _temp_first_commit(target, "crashed")
        old = time.time() - 2 * _lake.IN_FLIGHT_S
        os.utime(leftover, (old, old))
        # Record waits on this module only: patching time.sleep itself would also catch the
        # sleeps of other threads in the process (a background poller spun 2M times once).
        waits: list[str] = []
        monkeypatch.setattr(_lake, "wait_for_table", lambda _spark, path, *_: waits.append(path))

        _lake.create_table(spark, ORDERS, str(target), self._schema(spark))

        assert waits == []
        assert not leftover.exists()
        assert _lake.exists(spark, str(target))
        assert _lake.layout_problems(spark, ORDERS, str(target)) == []


def _commit_later(write: Any, delay_s: float = 2.0) -> threading.Thread:
    """Start ``write`` in a thread after ``delay_s``: another run's first commit landing."""

    def later() -> None:
        time.sleep(delay_s)
        write()

    thread = threading.Thread(target=later)
    thread.start()
    return thread


class TestCreationRace:
    """Delta refuses ``CREATE`` where another writer's files are but its commit is not yet.

    Delta 4.x reports it as ``DELTA_TABLE_NOT_FOUND`` (a log without a commit) or
    ``DELTA_MISSING_DELTA_TABLE`` (data files without a log): the run then waits for that commit
    and goes on with the other run's table.
    """

    SCHEMA = "order_id BIGINT, order_date DATE"

    @pytest.mark.parametrize("left", ["temp commit", "empty log", "data file"])
    def test_delta_refuses_a_location_holding_another_writers_files(
        self, spark: SparkSession, tmp_path: Path, left: str
    ) -> None:
        """The race itself, unhandled: each error ``is_creation_race`` must recognise."""
        target = tmp_path / "t"
        if left == "temp commit":
            _temp_first_commit(target, "other-run")
        elif left == "empty log":
            (target / "_delta_log").mkdir(parents=True)
        else:
            target.mkdir()
            (target / "part-00000.snappy.parquet").write_bytes(b"PAR1")
        schema = spark.createDataFrame([], self.SCHEMA).schema
        with pytest.raises(PySparkException, match="DELTA_") as caught:
            DeltaTable.createIfNotExists(spark).location(str(target)).addColumns(schema).execute()
        assert _lake.is_creation_race(caught.value), caught.value

    def test_silver_table_waits_for_the_data_files_of_a_first_write(
        self, spark: SparkSession, tmp_path: Path
    ) -> None:
        """Another run's first append has written its data file, not its commit: wait for it."""
        target = tmp_path / "orders"
        target.mkdir()
        data = spark.createDataFrame([(7, None)], self.SCHEMA)
        data.write.parquet(str(tmp_path / "staged"))
        staged = next((tmp_path / "staged").glob("part-*.parquet"))
        staged.rename(target / staged.name)

        def other_run() -> None:
            data.write.format("delta").partitionBy("order_date").mode("append").save(str(target))

        thread = _commit_later(other_run)
        try:
            _lake.create_table(
                spark, ORDERS, str(target), spark.createDataFrame([], self.SCHEMA).schema
            )
        finally:
            thread.join()

        history = spark.sql(f"DESCRIBE HISTORY delta.`{target}`").collect()
        assert [h["operation"] for h in history] == ["WRITE"]
        rows = spark.read.format("delta").load(str(target)).collect()
        assert [r["order_id"] for r in rows] == [7]

    def test_ledger_waits_for_another_runs_ledger_creation(
        self, spark: SparkSession, tmp_path: Path
    ) -> None:
        """Two runs creating the batch ledger at once: the second goes on with the first's."""
        location = tmp_path / LEDGER_TABLE
        in_flight = _temp_first_commit(location, "other-run")
        other = spark.createDataFrame(
            [("orders", 1, "ab" * 32, "orders_0001.json", "other-run", "{}", None)],
            "source STRING, batch_id BIGINT, sha256 STRING, file STRING, "
            "registered_by STRING, state STRING, updated_at TIMESTAMP",
        )
        thread = _commit_later(
            lambda: other.write.format("delta").mode("append").save(str(location))
        )
        try:
            Ledger.load(spark, str(tmp_path)).save()
        finally:
            thread.join()

        assert in_flight.exists()
        history = spark.sql(f"DESCRIBE HISTORY delta.`{location}`").collect()
        assert [h["operation"] for h in history] == ["WRITE"]
        assert [b.batch_id for b in Ledger.load(spark, str(tmp_path)).sources["orders"]] == [1]


class _Conf:
    def __init__(self, values: dict[str, str]) -> None:
        self.values = values

    def get(self, key: str, default: str | None = None) -> str | None:
        return self.values.get(key, default)


class _Session:
    """The part of a session storage classification reads: its settings."""

    def __init__(self, values: dict[str, str]) -> None:
        self.conf = _Conf(values)


def _spark_failure(text: str) -> Exception:
    """An exception of the kind Spark raises (its class lives in a pyspark module)."""
    kind = type("SparkException", (Exception,), {"__module__": "pyspark.errors.exceptions"})
    return kind(text)


class TestStorageFailure:
    SESSION = _Session(
        {
            "spark.hadoop.fs.s3a.endpoint": "http://lake-store:9000",
            "spark.hadoop.fs.s3a.bucket.raw.endpoint": "http://raw-store:9000",
        }
    )

    def test_an_unreachable_store_names_the_endpoint_of_the_failing_location(self) -> None:
        """The bucket the failure names picks the endpoint; exit code 3 like Spark unavailable."""
        from etl_app.errors import StorageUnavailableError

        exc = _spark_failure(
            "Py4JJavaError: listing s3a://raw/landing failed\n"
            "Caused by: java.net.ConnectException: Connection refused"
        )
        locations = ["s3a://raw/landing", "s3a://lake/tables"]
        error = _storage.storage_failure(exc, self.SESSION, locations)  # type: ignore[arg-type]
        assert isinstance(error, StorageUnavailableError)
        assert error.exit_code == 3
        assert error.endpoint == "http://raw-store:9000"
        assert "http://raw-store:9000 could not be reached" in str(error)
        assert "Connection refused" in str(error)

        unnamed = _spark_failure("java.net.UnknownHostException: lake-store")
        error = _storage.storage_failure(unnamed, self.SESSION, locations)  # type: ignore[arg-type]
        assert error is not None
        assert error.endpoint == "http://lake-store:9000"

    def test_the_writers_storage_error_keeps_its_endpoint(self) -> None:
        """delta-safe-writer already classified its write: its endpoint is reported."""
        from delta_safe_writer import StorageUnavailableError as WriterError

        exc = WriterError(
            "merge failed", table="s3a://lake/t", operation="merge",
            endpoint="http://lake-store:9000", reason="Connection refused",
        )  # fmt: skip
        error = _storage.storage_failure(exc, self.SESSION, ["s3a://lake/t"])  # type: ignore[arg-type]
        assert error is not None
        assert error.endpoint == "http://lake-store:9000"

    def test_other_failures_are_not_storage(self) -> None:
        """A Python error's 'Connection refused' (a metrics push) or a Spark analysis error."""
        session = self.SESSION
        python_error = ConnectionRefusedError("[Errno 111] Connection refused")
        assert _storage.storage_failure(python_error, session, ["s3a://lake/t"]) is None  # type: ignore[arg-type]
        analysis = _spark_failure("[UNRESOLVED_COLUMN] amount cannot be resolved")
        assert _storage.storage_failure(analysis, session, ["s3a://lake/t"]) is None  # type: ignore[arg-type]


class TestRemoteHashLimit:
    def test_a_remote_file_over_sparks_binary_file_limit_is_refused_by_name(self) -> None:
        """Beyond what Spark reads as one value: a clear InputError before any Spark job."""
        from etl_app.errors import InputError

        session = _Session({"spark.sql.sources.binaryFile.maxLength": "1000"})
        with pytest.raises(InputError) as info:
            _storage.content_hash(session, "s3a://lake/in/orders.json", 1001)  # type: ignore[arg-type]
        message = str(info.value)
        assert "s3a://lake/in/orders.json has 1001 bytes" in message
        assert "at most 1000 bytes" in message
        assert "Split the file" in message
        assert info.value.exit_code == 2

    def test_without_a_setting_the_limit_is_sparks_ceiling(self) -> None:
        """2 GiB - 1 byte, the largest Java array: a 3 GiB object is refused."""
        from etl_app.errors import InputError

        with pytest.raises(InputError, match="at most 2147483647 bytes"):
            _storage.content_hash(_Session({}), "s3a://lake/in/big.json", 3 << 30)  # type: ignore[arg-type]
