"""``spark.remote`` runs the pipeline against a Spark Connect server, with a classic run's tables.

Runs only over Connect (``--spark-connect``): the testkit's Connect server is the remote. Both
runs are the real command line in a child process on the same input: the classic one starts
its own local Spark, the Connect one gets no Java on its PATH (so it cannot have started a
local JVM) and the server's URL in its config file, its token in the environment.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest
from _app_runs import TABLES, checksums, named_reports, report_status, run_app
from pyspark.sql import SparkSession

from etl_app._resources import resource_path
from pipeline_testkit import ConnectServer

pytestmark = [pytest.mark.spark, pytest.mark.connect]


class TestRemoteRun:
    """A config with ``spark.remote`` runs the whole pipeline over Connect, like a classic run."""

    def test_tables_equal_a_classic_run_by_row_checksums(
        self, spark: SparkSession, connect_server: ConnectServer, tmp_path: Path
    ) -> None:
        """Both batches over Connect give every table the rows of a classic local run."""
        input_dir = tmp_path / "input"
        input_dir.mkdir()
        sample = resource_path("sample")
        for name in ("customers_0001.csv", "orders_0001.json"):
            shutil.copy(sample / name, input_dir / name)
        remote = f"sc://localhost:{connect_server.port}"
        classic_cfg = tmp_path / "classic.yaml"
        classic_cfg.write_text(
            f"input: {{dir: {input_dir}}}\noutput: {{root: {tmp_path / 'classic'}}}\n"
            "spark: {master: 'local[1]', shuffle_partitions: 2, driver_memory: 1g}\n"
        )
        connect_cfg = tmp_path / "connect.yaml"
        connect_cfg.write_text(
            f"input: {{dir: {input_dir}}}\noutput: {{root: {tmp_path / 'connect'}}}\n"
            f"spark: {{remote: '{remote}', shuffle_partitions: 2}}\n"
        )
        token_env = "SPARK_CONNECT_AUTHENTICATE_TOKEN"
        # pyspark marks this process as a Connect client (SPARK_CONNECT_MODE_ENABLED, ...);
        # the classic child must not inherit that.
        connect_vars = {"SPARK_REMOTE", "SPARK_LOCAL_REMOTE", "SPARK_CONNECT_MODE_ENABLED"}
        classic_env = {
            k: v for k, v in os.environ.items() if k != token_env and k not in connect_vars
        }
        # No java on PATH, no JAVA_HOME: a local session could not start, only a Connect client.
        thin_env = {
            **{k: v for k, v in classic_env.items() if k != "JAVA_HOME"},
            "PATH": str(Path(sys.executable).parent),
            token_env: connect_server.token,
        }

        outputs = []
        for batch in ("0001", "0002"):
            if batch == "0002":
                for name in ("customers_0002.csv", "orders_0002.json"):
                    shutil.copy(sample / name, input_dir / name)
            run_app(classic_cfg, classic_env)
            outputs.append(run_app(connect_cfg, thin_env))

        for output in outputs:
            named = named_reports(output)
            assert len(named) == 1, output
            assert report_status(spark, named[0]) == "success"
        for table in TABLES:
            classic_cols, classic_rows = checksums(spark, tmp_path / "classic" / table)
            connect_cols, connect_rows = checksums(spark, tmp_path / "connect" / table)
            assert connect_cols == classic_cols, table
            assert classic_rows, f"{table}: the classic run wrote no rows"
            assert connect_rows == classic_rows, table
