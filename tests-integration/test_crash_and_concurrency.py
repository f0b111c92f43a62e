"""Crashes and concurrency against the real CLI: SIGKILL at commit points, two runs at once.

Each crash test runs ``python -m etl_app run`` in its own process on a lake that already holds
batch 1, watches the Delta log of one table and SIGKILLs the process as soon as that table's
new commit appears (a real kill right after a real commit; where exactly the process was when
the signal landed varies, which is the point). The rerun (in-process) must leave EVERY table
equal to an uninterrupted run, compared by order-independent checksums of their rows with the
run-time columns (ingestion time, run id) left out.

Slow (a Spark start per subprocess, then two in-process runs): about two minutes per kill
point on the 2-core machine alone; the whole suite took 21 min on 2026-12-03.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pytest
from pyspark.sql import SparkSession

from etl_app import load_config, run_pipeline
from etl_app._resources import resource_path

pytestmark = [pytest.mark.spark, pytest.mark.slow]

#: Generous bound for one subprocess run on a loaded machine (not a performance target).
PROCESS_TIMEOUT_S = 600.0
#: Columns whose values differ between runs by design.
RUN_TIME_COLUMNS = {"ingested_at", "run_id", "_dq_run_id", "_dq_quarantined_at", "source_file"}
TABLES = (
    "bronze/customers",
    "bronze/orders",
    "silver/customers",
    "silver/orders",
    "quarantine/customers",
    "quarantine/orders",
    "gold/daily_revenue",
    "gold/customer_lifetime_value",
)


def write_config(folder: Path, input_dir: Path, out: Path) -> Path:
    """A config reading ``input_dir`` into ``out`` with one local core."""
    config = folder / "etl.yaml"
    config.write_text(
        f"input: {{dir: {input_dir}}}\n"
        f"output: {{root: {out}}}\n"
        "spark: {master: 'local[1]', shuffle_partitions: 2}\n"
    )
    return config


@dataclass(frozen=True)
class Batch1Lake:
    """A lake holding the sample's batch 1, and an input folder holding batches 1 and 2.

    Built once per module; each test copies the lake (:meth:`copy`). The input folder is
    shared: the ledger identifies a file by its path, so copies keep reading the same paths.
    """

    input_dir: Path
    out: Path

    def copy(self, folder: Path) -> tuple[Path, Path]:
        """A copy of the lake under ``folder``; its config and its output root."""
        out = folder / "out"
        shutil.copytree(self.out, out)
        return write_config(folder, self.input_dir, out), out


@pytest.fixture(scope="module")
def batch_1_lake(spark: SparkSession, tmp_path_factory: pytest.TempPathFactory) -> Batch1Lake:
    """The sample's batch 1 run into a lake; batch 2's files then added to the input."""
    folder = tmp_path_factory.mktemp("batch-1")
    input_dir = folder / "input"
    input_dir.mkdir()
    for name in ("customers_0001.csv", "orders_0001.json"):
        shutil.copy(resource_path("sample") / name, input_dir / name)
    config = write_config(folder, input_dir, folder / "out")
    assert run_pipeline(load_config(config), spark=spark).status == "success"
    for name in ("customers_0002.csv", "orders_0002.json"):
        shutil.copy(resource_path("sample") / name, input_dir / name)
    return Batch1Lake(input_dir, folder / "out")


def checksums(spark: SparkSession, out: Path) -> dict[str, Counter[str]]:
    """Per table, the multiset of row digests (order-independent), run-time columns left out."""
    result: dict[str, Counter[str]] = {}
    for table in TABLES:
        path = out / table
        if not (path / "_delta_log").is_dir():
            result[table] = Counter()
            continue
        frame = spark.read.format("delta").load(str(path))
        columns = sorted(c for c in frame.columns if c not in RUN_TIME_COLUMNS)
        result[table] = Counter(
            hashlib.sha256(repr(tuple(row)).encode()).hexdigest()
            for row in frame.select(*columns).collect()
        )
    return result


def commits(table: Path) -> int:
    """Commit files in a table's Delta log."""
    log = table / "_delta_log"
    return len(list(log.glob("*.json"))) if log.is_dir() else 0


def run_and_kill_after_commit(config: Path, table: Path) -> bool:
    """Run the CLI in a subprocess; SIGKILL it once ``table`` has a new commit.

    Returns:
        True when the process was killed, False when it finished first.
    """
    before = commits(table)
    process = subprocess.Popen(
        [sys.executable, "-m", "etl_app", "run", "--config", str(config)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    deadline = time.monotonic() + PROCESS_TIMEOUT_S
    try:
        while process.poll() is None:
            if commits(table) > before:
                os.kill(process.pid, signal.SIGKILL)
                process.wait(timeout=60)
                return True
            if time.monotonic() > deadline:
                pytest.fail(f"etl-app did not commit to {table} within {PROCESS_TIMEOUT_S}s")
            time.sleep(0.05)
        return False
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=60)


@pytest.fixture(scope="module")
def reference(
    spark: SparkSession, batch_1_lake: Batch1Lake, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Counter[str]]:
    """Checksums of every table after batch 1 then batch 2, uninterrupted."""
    config, out = batch_1_lake.copy(tmp_path_factory.mktemp("reference"))
    assert run_pipeline(load_config(config), spark=spark).status == "success"
    return checksums(spark, out)


#: The tables batch 2 commits to, each a kill point: the first write of each kind (bronze
#: append, quarantine append, SCD2 merge, upsert, gold recompute and upsert) and the ledger.
KILL_POINTS = (
    "bronze/customers",
    "bronze/orders",
    "quarantine/orders",
    "silver/customers",
    "silver/orders",
    "_etl_state/batches",
    "gold/daily_revenue",
    "gold/customer_lifetime_value",
)


class TestSigkillAtCommitPoints:
    @pytest.mark.parametrize("table", KILL_POINTS)
    def test_rerun_after_a_kill_equals_the_uninterrupted_run(
        self,
        spark: SparkSession,
        tmp_path: Path,
        batch_1_lake: Batch1Lake,
        reference: dict[str, Counter[str]],
        table: str,
    ) -> None:
        """Killed right after a commit of ``table`` in batch 2, the rerun converges exactly."""
        config, out = batch_1_lake.copy(tmp_path)
        killed = run_and_kill_after_commit(config, out / table)
        assert killed, f"the run finished without a new commit to {table}: no kill point"
        assert run_pipeline(load_config(config), spark=spark).status == "success"
        assert checksums(spark, out) == reference
        again = run_pipeline(load_config(config), spark=spark)
        assert all(step.skipped for step in again.steps), again.steps


class TestConcurrentProcesses:
    def test_two_processes_with_different_files_ingest_both(
        self, spark: SparkSession, tmp_path: Path
    ) -> None:
        """Two CLI processes at once on one lake, each with its own new orders file."""
        out = tmp_path / "out"
        configs = []
        for name, first in (("a", 7000), ("b", 8000)):
            input_dir = tmp_path / name
            input_dir.mkdir()
            (input_dir / f"orders_{first}.json").write_text(
                "".join(
                    f'{{"order_id": "{first + i}", "customer_id": "1", '
                    f'"order_ts": "2024-03-0{1 + i % 2}T10:00:00", "amount": "5.00", '
                    '"status": "completed", "country": "GB"}\n'
                    for i in range(5)
                )
            )
            folder = tmp_path / f"config-{name}"
            folder.mkdir()
            configs.append(write_config(folder, input_dir, out))
        processes = [
            subprocess.Popen(
                [sys.executable, "-m", "etl_app", "run", "--config", str(config)],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for config in configs
        ]
        results = [p.communicate(timeout=PROCESS_TIMEOUT_S) for p in processes]
        assert [p.returncode for p in processes] == [0, 0], results
        silver = spark.read.format("delta").load(str(out / "silver" / "orders"))
        ids = {int(r["order_id"]) for r in silver.select("order_id").collect()}
        assert ids == set(range(7000, 7005)) | set(range(8000, 8005))
        revenue = spark.read.format("delta").load(str(out / "gold" / "daily_revenue"))
        assert sum(int(r["order_count"]) for r in revenue.collect()) == 10
