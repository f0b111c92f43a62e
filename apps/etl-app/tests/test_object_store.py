"""The pipeline on a standalone cluster with its input and lake on S3, like a ``local[2]`` run.

Runs with ``--spark-s3 --spark-cluster`` (``nox -s cluster``): the testkit's moto S3 server on
127.0.0.1 and a standalone master with two workers (executors in other processes, which get
the S3 credentials from their worker's environment). Every run is the real command line in a
child process with a fresh JVM, as a new pod would be: the ledger and the report are found in
the lake, never on a local disk.
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest
from _app_runs import (
    RUN_TIMEOUT_S,
    TABLES,
    checksums,
    differing_columns,
    finish_app,
    named_reports,
    report_status,
    run_app,
    start_app,
)
from pyspark.sql import SparkSession

from etl_app._resources import resource_path
from pipeline_testkit import S3Server, StandaloneCluster, free_port, start_s3_server

pytestmark = [pytest.mark.spark, pytest.mark.s3]

BATCHES = (
    ("customers_0001.csv", "orders_0001.json"),
    ("customers_0002.csv", "orders_0002.json"),
)


def cluster_config(
    path: Path, s3: S3Server, cluster: StandaloneCluster, run: str, extra: dict[str, str]
) -> Path:
    """A config running against ``cluster`` with input and output under ``s3a://lake/<run>``."""
    from delta_session import hadoop_aws_coordinate

    conf = {
        **cluster.session_conf(),
        **s3.spark_conf(),
        "spark.jars.packages": hadoop_aws_coordinate(),
        **extra,
    }
    lines = "".join(f"    {key}: '{value}'\n" for key, value in conf.items())
    path.write_text(
        f"input: {{dir: '{s3.url(run, 'landing')}'}}\n"
        f"output: {{root: '{s3.url(run, 'lake')}'}}\n"
        f"spark:\n  master: '{cluster.master_url}'\n  shuffle_partitions: 2\n"
        f"  driver_memory: 1g\n  conf:\n{lines}"
    )
    return path


def run_killing_a_worker(
    s3: S3Server, cluster: StandaloneCluster, config: Path, env: dict[str, str], run: str
) -> str:
    """Run the pipeline on ``cluster``; once it has written to the lake, kill worker 2.

    The worker dies by SIGKILL while the driver runs and while it hosts one of the run's two
    executors (whose tasks, and shuffle files, go with it): Spark must run them again on the
    other worker, and the run must end as if nothing happened.
    """
    lake_before = set(s3.keys(f"{run}/lake/"))
    victim = cluster.workers[1]
    process = start_app(config, env, cwd=config.parent)
    deadline = time.monotonic() + RUN_TIMEOUT_S
    while True:
        assert process.poll() is None, finish_app(process)
        assert time.monotonic() < deadline, "the run neither wrote to the lake nor ended"
        hosts_an_executor = bool(cluster.worker_status()[1].get("executors"))
        if hosts_an_executor and set(s3.keys(f"{run}/lake/")) - lake_before:
            break
        time.sleep(0.5)
    victim.process.kill()
    victim.process.wait(timeout=60)
    output = finish_app(process)
    # The master saw the worker go (the run did not just outlive a worker it never used).
    assert int(cluster.status().get("aliveworkers", 0)) == 1, cluster.status()
    return output


@pytest.mark.cluster
class TestClusterOnS3:
    """Two batches, each a new driver process; a third run meets an unreachable endpoint.

    The second batch's cluster run loses a worker (killed) in the middle.
    """

    def test_tables_equal_a_local_run_and_an_unreachable_store_commits_nothing(
        self,
        request: pytest.FixtureRequest,
        s3_server: S3Server,
        spark_cluster: StandaloneCluster,
        tmp_path: Path,
    ) -> None:
        """Every table equals a ``local[2]`` run's, by row checksums; a dead endpoint exits 3."""
        sample = resource_path("sample")
        run = tmp_path.name
        local_input = tmp_path / "input"
        local_input.mkdir()
        local_cfg = tmp_path / "local.yaml"
        local_cfg.write_text(
            f"input: {{dir: {local_input}}}\noutput: {{root: {tmp_path / 'local'}}}\n"
            "spark: {master: 'local[2]', shuffle_partitions: 2, driver_memory: 1g}\n"
        )
        s3_cfg = cluster_config(tmp_path / "cluster.yaml", s3_server, spark_cluster, run, {})
        # The same lake behind a port nobody listens on; one quick attempt per request.
        dead = f"http://127.0.0.1:{free_port()}"
        dead_cfg = cluster_config(
            tmp_path / "dead.yaml",
            s3_server,
            spark_cluster,
            run,
            {
                "spark.hadoop.fs.s3a.endpoint": dead,
                "spark.hadoop.fs.s3a.attempts.maximum": "1",
                "spark.hadoop.fs.s3a.retry.limit": "1",
                "spark.hadoop.fs.s3a.retry.interval": "10ms",
                "spark.hadoop.fs.s3a.connection.establish.timeout": "2s",
            },
        )
        # The local run must not see the S3 test credentials; the S3 runs get them (the
        # executors have them from the workers).
        base_env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        s3_env = {**base_env, **s3_server.env}

        outputs = []
        for number, batch in enumerate(BATCHES, start=1):
            for name in batch:
                shutil.copy(sample / name, local_input / name)
                s3_server.put(f"{run}/landing/{name}", (sample / name).read_bytes())
            if number == 2:
                lake_before = sorted(s3_server.keys(f"{run}/lake/"))
                failed = run_app(dead_cfg, s3_env, exit_code=3, cwd=tmp_path)
                assert dead in failed, failed
                assert "could not be reached" in failed, failed
                for secret in (s3_env["AWS_SECRET_ACCESS_KEY"], s3_env["AWS_ACCESS_KEY_ID"]):
                    assert secret not in failed
                # Nothing written: no data file, no commit, no ledger row, no report.
                assert sorted(s3_server.keys(f"{run}/lake/")) == lake_before
            outputs.append(run_app(local_cfg, base_env, cwd=tmp_path))
            if number == 1:
                outputs.append(run_app(s3_cfg, s3_env, cwd=tmp_path))
            else:
                outputs.append(run_killing_a_worker(s3_server, spark_cluster, s3_cfg, s3_env, run))

        ledger_log = f"{run}/lake/_etl_state/batches/_delta_log/"
        assert any(key.startswith(ledger_log) for key in s3_server.keys(f"{run}/lake/"))
        # The S3 runs' working folder holds no lake state (only the textfile metrics, a local
        # file by design, and the configs and local run's input and lake).
        assert not (tmp_path / "s3a:").exists()
        assert not (tmp_path / "_etl_state").exists()
        # Only now a session in this process: it takes the cluster's cores, which the child
        # drivers needed.
        spark: SparkSession = request.getfixturevalue("spark")
        for output in outputs:
            named = named_reports(output)
            assert len(named) == 1, output
            assert report_status(spark, named[0]) == "success"
        assert [named_reports(o)[0].startswith("s3a://") for o in outputs] == [False, True] * 2
        differing = {}
        for table in TABLES:
            local, remote = tmp_path / "local" / table, s3_server.url(run, "lake", table)
            local_cols, local_rows = checksums(spark, local, file_names_only=True)
            s3_cols, s3_rows = checksums(spark, remote, file_names_only=True)
            assert s3_cols == local_cols, table
            assert local_rows, f"{table}: the local run wrote no rows"
            if s3_rows != local_rows:
                differing[table] = differing_columns(spark, local, remote, file_names_only=True)
        assert not differing, differing


class TestRefusedCredentials:
    """A store that refuses the run's credentials: exit 3, nothing written, the fixed rerun runs."""

    def test_wrong_secret_exits_3_and_the_rerun_with_the_right_one_completes(
        self, tmp_path: Path
    ) -> None:
        """A wrong secret is named as refused (endpoint, never a secret); the lake is unchanged."""
        from delta_session import hadoop_aws_coordinate

        sample = resource_path("sample")
        # A server of its own: authentication stays on for the rest of its life.
        s3 = start_s3_server(tmp_path / "s3").require_credentials()
        try:
            conf = {**s3.spark_conf(), "spark.jars.packages": hadoop_aws_coordinate()}
            lines = "".join(f"    {key}: '{value}'\n" for key, value in conf.items())
            config = tmp_path / "s3.yaml"
            config.write_text(
                f"input: {{dir: '{s3.url('landing')}'}}\noutput: {{root: '{s3.url('lake')}'}}\n"
                "spark:\n  master: 'local[2]'\n  shuffle_partitions: 2\n  driver_memory: 1g\n"
                f"  conf:\n{lines}"
            )
            base_env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
            right = {**base_env, **s3.env}
            wrong = {**right, "AWS_SECRET_ACCESS_KEY": f"wrong{s3.env['AWS_SECRET_ACCESS_KEY']}"}
            for number, batch in enumerate(BATCHES, start=1):
                for name in batch:
                    s3.put(f"landing/{name}", (sample / name).read_bytes())
                if number == 2:
                    lake_before = sorted(s3.keys("lake/"))
                    failed = run_app(config, wrong, exit_code=3, cwd=tmp_path)
                    error = failed.splitlines()[-1]
                    assert error.startswith("etl-app: error: the lake's storage endpoint"), failed
                    assert s3.endpoint in error, failed
                    assert "refused the request" in error, failed
                    assert "Status Code: 403" in error, failed
                    for secret in (wrong["AWS_SECRET_ACCESS_KEY"], right["AWS_SECRET_ACCESS_KEY"]):
                        assert secret not in failed
                    # No data file, no commit, no ledger row, no report.
                    assert sorted(s3.keys("lake/")) == lake_before
                run_app(config, right, cwd=tmp_path)
            ledger = run_app(config, right, cwd=tmp_path, command=("batches", "list"))
            assert ledger.startswith(f"ledger {s3.url('lake')}"), ledger
            rows = [line for line in ledger.splitlines() if line.endswith((".csv", ".json"))]
            files = sorted(row.split()[-1].rsplit("/", 1)[-1] for row in rows)
            assert files == sorted(name for batch in BATCHES for name in batch), ledger
            assert {row.split()[2] for row in rows} == {"done"}, ledger
        finally:
            s3.stop()
