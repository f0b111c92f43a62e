"""A Spark standalone cluster on 127.0.0.1: one master and N workers, each a process by PID.

Started from pyspark's bundled launcher (``bin/spark-class``) with the deploy classes
``org.apache.spark.deploy.master.Master`` and ``...worker.Worker``, with small memory, through
:func:`pipeline_testkit.servers.start_server`. A session against :attr:`master_url` runs its
tasks in executor processes the workers launch.
"""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipeline_testkit.errors import ServerStartError
from pipeline_testkit.servers import LOOPBACK, RunningServer, free_port, start_server

MASTER_CLASS = "org.apache.spark.deploy.master.Master"
WORKER_CLASS = "org.apache.spark.deploy.worker.Worker"
#: Heap of the master and worker daemons themselves (executors are sized per application).
DAEMON_MEMORY = "256m"


def spark_class() -> str:
    """Return the path of pyspark's ``bin/spark-class`` launcher."""
    import pyspark

    return str(Path(pyspark.__file__).parent / "bin" / "spark-class")


def _get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.loads(response.read().decode("utf-8"))


@dataclass(frozen=True)
class StandaloneCluster:
    """A running standalone cluster.

    Attributes:
        master: The master process; its web UI answers on ``master.url``.
        master_url: ``spark://127.0.0.1:<port>``, for ``cluster_session``.
        workers: The worker processes.
        work_dir: Folder under which each worker keeps its executors' logs
            (``<worker>/<app id>/<executor id>/stderr``).
    """

    master: RunningServer
    master_url: str
    workers: tuple[RunningServer, ...]
    work_dir: Path
    env: Mapping[str, str] = field(default_factory=dict, repr=False)

    def status(self) -> dict[str, Any]:
        """The master's JSON status (``aliveworkers``, ``activeapps``, ...)."""
        result: dict[str, Any] = _get_json(f"{self.master.url}/json/")
        return result

    def worker_status(self) -> list[dict[str, Any]]:
        """Each worker's JSON status (``executors`` with their ``appid``)."""
        return [_get_json(f"{worker.url}/json/") for worker in self.workers]

    def executor_logs(self, app_id: str) -> dict[str, str]:
        """Return each executor's stderr for application ``app_id``, keyed by its path."""
        return {
            str(path): path.read_text(errors="replace")
            for path in sorted(self.work_dir.glob(f"*/{app_id}/*/stderr"))
        }

    def session_conf(self, *, executor_memory: str = "512m") -> dict[str, str]:
        """Settings for a driver in this process: one core per executor, loopback, our Python."""
        import sys

        return {
            "spark.executor.memory": executor_memory,
            "spark.executor.cores": "1",
            "spark.cores.max": str(len(self.workers)),
            "spark.driver.host": LOOPBACK,
            "spark.driver.bindAddress": LOOPBACK,
            "spark.pyspark.python": sys.executable,
            "spark.pyspark.driver.python": sys.executable,
        }

    def stop(self) -> None:
        """Stop the workers, then the master, each by its PID."""
        for worker in self.workers:
            worker.stop()
        self.master.stop()


def start_standalone_cluster(
    log_dir: Path,
    *,
    workers: int = 2,
    worker_memory: str = "1g",
    env: Mapping[str, str] | None = None,
    timeout: float = 300.0,
) -> StandaloneCluster:
    """Start a master and ``workers`` workers (one core each) on 127.0.0.1.

    Args:
        log_dir: Folder for the daemons' logs and the workers' work dirs.
        workers: Number of workers.
        worker_memory: Memory each worker offers to executors.
        env: Extra environment for the daemons, inherited by the executors they launch
            (for example the S3 credentials); never put on a command line.
        timeout: Seconds to wait for each daemon, and for the workers to register.

    Returns:
        The running cluster; call ``stop()`` (or use the ``spark_cluster`` fixture).

    Raises:
        ServerStartError: A daemon did not start, or the workers did not register in time.
    """
    daemon_env = {
        "SPARK_DAEMON_MEMORY": DAEMON_MEMORY,
        "SPARK_LOCAL_IP": LOOPBACK,
        # Fail on a taken port (start_server then retries) instead of binding the next one.
        "SPARK_DAEMON_JAVA_OPTS": "-Dspark.port.maxRetries=0",
        **(env or {}),
    }
    launcher = spark_class()
    rpc: dict[str, int] = {}

    def master_args(address: str) -> Sequence[str]:
        rpc["port"] = free_port()
        ui_port = address.rsplit(":", 1)[1]
        return [MASTER_CLASS, "--host", LOOPBACK, "--port", str(rpc["port"]),
                "--webui-port", ui_port]  # fmt: skip

    master = start_server(
        launcher,
        master_args,
        log_dir=log_dir / "master",
        ready_path="/json/",
        timeout=timeout,
        env=daemon_env,
    )
    master_url = f"spark://{LOOPBACK}:{rpc['port']}"
    work_dir = log_dir / "work"
    started: list[RunningServer] = []
    try:
        for index in range(workers):
            folder = work_dir / f"worker-{index}"

            def worker_args(address: str, folder: Path = folder) -> Sequence[str]:
                ui_port = address.rsplit(":", 1)[1]
                return [WORKER_CLASS, "--host", LOOPBACK, "--cores", "1",
                        "--memory", worker_memory, "--webui-port", ui_port,
                        "--work-dir", str(folder), master_url]  # fmt: skip

            started.append(
                start_server(
                    launcher,
                    worker_args,
                    log_dir=log_dir / f"worker-{index}",
                    ready_path="/json/",
                    timeout=timeout,
                    env=daemon_env,
                )
            )
        cluster = StandaloneCluster(master, master_url, tuple(started), work_dir, daemon_env)
        _wait_for_workers(cluster, workers, timeout)
    except BaseException:
        for worker in started:
            worker.stop()
        master.stop()
        raise
    return cluster


def _wait_for_workers(cluster: StandaloneCluster, expected: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        alive = int(cluster.status().get("aliveworkers", 0))
        if alive >= expected:
            return
        if time.monotonic() >= deadline:
            raise ServerStartError(
                f"Only {alive} of {expected} workers registered with {cluster.master_url} "
                f"within {timeout}s. End of the master's log {cluster.master.log_path}:\n"
                f"{cluster.master.log_tail()}"
            )
        time.sleep(0.5)
