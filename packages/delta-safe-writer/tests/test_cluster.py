"""The writer on a standalone cluster (``--spark-cluster``): executors are other processes.

The testkit starts a master and two one-core workers from pyspark's ``spark-class`` on
127.0.0.1; the Delta jars reach the executors through ``spark.jars.packages``. Tables are on a
folder every process of this machine can read (or on the S3 server in ``s3`` runs).
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest
from pyspark.sql import SparkSession
from pyspark.sql import functions as sf
from pyspark.sql.types import LongType

from delta_safe_writer import DuplicateKeyError, SafeDeltaWriter
from pipeline_testkit import StandaloneCluster

pytestmark = [pytest.mark.spark, pytest.mark.cluster]

SCHEMA = "id INT, v STRING"
#: Generous bound for conditions on a loaded machine (never a pass/fail deadline on speed).
WAIT_S = 600.0


def _wait_for(condition: Any, what: str) -> None:
    """Poll ``condition`` until it is true; fail after WAIT_S saying what never happened."""
    deadline = time.monotonic() + WAIT_S
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"gave up after {WAIT_S}s waiting for {what}")
        time.sleep(0.5)


class TestOperationsOnCluster:
    """Append, merge, replaceWhere and SCD2 commit the same results with remote executors."""

    def test_write_path_runs_on_executors(
        self,
        spark: SparkSession,
        writer: SafeDeltaWriter,
        table_path: str,
        table_rows: Any,
        spark_cluster: StandaloneCluster,
    ) -> None:
        """An append then a MERGE on the cluster give the rows and counts a local run gives."""
        assert spark.sparkContext.master == spark_cluster.master_url
        first = writer.append(spark.createDataFrame([(1, "a"), (2, "b")], SCHEMA), table_path)
        merged = writer.merge(
            spark.createDataFrame([(2, "B"), (3, "c")], SCHEMA).repartition(2), table_path, "id"
        )

        assert (first.version, first.rows_inserted) == (0, 2)
        assert (merged.version, merged.rows_updated, merged.rows_inserted) == (1, 1, 1)
        assert table_rows(table_path) == [(1, "a"), (2, "B"), (3, "c")]
        apps = {e["appid"] for w in spark_cluster.worker_status() for e in w.get("executors", [])}
        assert spark.sparkContext.applicationId in apps

    def test_overwrite_partitions_and_duplicate_keys(
        self, spark: SparkSession, writer: SafeDeltaWriter, table_path: str, table_rows: Any
    ) -> None:
        """A replaceWhere overwrite swaps one day; duplicate keys are refused."""
        days = "day STRING, id INT"
        writer.append(
            spark.createDataFrame([("d1", 1), ("d2", 2)], days), table_path, partition_by=["day"]
        )
        writer.overwrite_partitions(
            spark.createDataFrame([("d1", 10)], days), table_path, "day = 'd1'"
        )

        with pytest.raises(DuplicateKeyError):
            writer.merge(spark.createDataFrame([("d3", 5), ("d3", 5)], days), table_path, "id")
        assert table_rows(table_path) == [("d1", 10), ("d2", 2)]


class TestWorkerLoss:
    """A worker killed mid-write: Spark reruns its tasks elsewhere and the table is exact."""

    @pytest.mark.no_connect("reads task attempt numbers through a Python UDF's TaskContext")
    def test_killed_worker_tasks_are_retried(
        self,
        *,
        spark: SparkSession,
        writer: SafeDeltaWriter,
        table_path: str,
        table_rows: Any,
        spark_cluster: StandaloneCluster,
        tmp_path: Path,
    ) -> None:
        """Killing one worker (by PID) during an append leaves every row exactly once."""
        markers = tmp_path / "attempts"
        markers.mkdir()
        folder = str(markers)

        def slow_id(value: int) -> int:
            # Runs on an executor: note the attempt, then hold the task long enough to be hit.
            import os
            import time as _time

            from pyspark import TaskContext

            context = TaskContext.get()
            attempt = context.attemptNumber() if context is not None else -1
            partition = context.partitionId() if context is not None else -1
            name = f"p{partition}-a{attempt}-pid{os.getpid()}"
            with open(os.path.join(folder, name), "w") as handle:
                handle.write(name)
            _time.sleep(4)
            return value

        slow = sf.udf(slow_id, LongType(), useArrow=False)
        rows = 8
        df = spark.range(0, rows, 1, numPartitions=rows).select(
            slow(sf.col("id")).alias("id"), sf.lit("x").alias("v")
        )
        outcome: dict[str, Any] = {}

        def write() -> None:
            try:
                outcome["result"] = writer.append(df, table_path)
            except BaseException as exc:  # reported by the assertion below
                outcome["error"] = exc

        thread = threading.Thread(target=write, daemon=True)
        thread.start()
        # Both executors are inside a task once two attempt markers exist.
        _wait_for(lambda: len(list(markers.iterdir())) >= 2, "both executors to start tasks")
        victim = spark_cluster.workers[0]
        victim.process.kill()
        victim.process.wait(timeout=WAIT_S)
        thread.join(timeout=WAIT_S * 2)

        assert not thread.is_alive(), "the append never finished"
        assert "error" not in outcome, outcome.get("error")
        result = outcome["result"]
        assert (result.rows_inserted, result.source_rows) == (rows, rows)
        assert table_rows(table_path, "id") == [(i,) for i in range(rows)]
        retried = [p.name for p in markers.iterdir() if "-a0-" not in p.name]
        assert retried, f"no task was attempted twice: {sorted(p.name for p in markers.iterdir())}"
