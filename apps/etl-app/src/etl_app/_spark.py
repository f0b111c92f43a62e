"""The app's SparkSession, from delta-session with the app's settings.

delta-session is the one place that knows the Delta jar for the installed pyspark / delta-spark
pair, where jars come from (``DELTA_JARS_DIR``, else Maven Central through the Ivy cache
``DELTA_IVY_DIR``, default ``~/.cache/pipeline-testkit/ivy``, shared with the tests), keeps the
JVM's start-up output in a log file and tells why a start failed. This module maps the app's
:class:`~etl_app._config.SparkConfig` onto it and turns its errors into
:class:`~etl_app.errors.SparkUnavailableError` (exit code 3).
"""

from __future__ import annotations

# shutil: the app's tests simulate a machine without Java through _spark.shutil.which.
import shutil  # noqa: F401
from typing import TYPE_CHECKING

import delta_session
from delta_session import IVY_DIR_ENV, JARS_DIR_ENV
from etl_app.errors import SparkUnavailableError

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from etl_app._config import SparkConfig

__all__ = [
    "IVY_DIR_ENV",
    "JARS_DIR_ENV",
    "build_spark_session",
    "delta_maven_coordinate",
    "jar_conf",
    "unavailable_message",
]


def delta_maven_coordinate() -> str:
    """Return the Maven coordinate of the Delta jar for the installed pyspark and delta-spark.

    Raises:
        SparkUnavailableError: Maven Central serves no Delta jar for the installed pair; the
            message names the versions to install.
    """
    try:
        return delta_session.delta_coordinate()
    except delta_session.DeltaSessionError as exc:
        raise SparkUnavailableError(str(exc)) from exc


def jar_conf() -> dict[str, str]:
    """Return the Spark settings that put the Delta jars on the classpath.

    Raises:
        SparkUnavailableError: ``DELTA_JARS_DIR`` is set but holds no delta-spark jar, or the
            installed pair has no Delta jar on Maven Central.
    """
    try:
        return delta_session.jar_conf()
    except delta_session.DeltaSessionError as exc:
        raise SparkUnavailableError(str(exc)) from exc


def unavailable_message(cause: BaseException) -> str:
    """Explain why Spark with Delta could not start and what to do about it."""
    return str(delta_session.explain_start_failure(cause))


def build_spark_session(config: SparkConfig) -> SparkSession:
    """Start (or reuse) a SparkSession with Delta Lake for the pipeline.

    ``config.remote`` (an ``sc://`` URL) runs against that Spark Connect server with Delta;
    without it ``config.master`` picks the kind: ``local[N]`` (this process), a cluster URL
    such as ``spark://host:7077`` (executors elsewhere, jars shipped to them), or an ``sc://``
    Spark Connect server too. Over Connect the writes go through delta-safe-writer's SQL
    engine (chosen automatically), and the server's own settings decide memory and jars.

    Args:
        config: Master, app name, shuffle partitions, driver memory and extra settings.

    Returns:
        The session (``getOrCreate``: an active session in this process is reused).

    Raises:
        SparkUnavailableError: Java, the network or the Delta jars are unavailable, or the
            version pair has no Delta jar; the message (from delta-session) says which.
    """
    conf = {
        "spark.sql.shuffle.partitions": str(config.shuffle_partitions),
        "spark.databricks.delta.snapshotPartitions": str(config.shuffle_partitions),
        "spark.sql.session.timeZone": "UTC",
        **config.conf,
    }
    master = config.remote or config.master
    try:
        if master.startswith("sc://"):
            return delta_session.connect_session(master, conf=conf)
        conf["spark.driver.memory"] = config.driver_memory
        if master.startswith("local"):
            cores = master[len("local[") : -1] if master.startswith("local[") else "*"
            return delta_session.local_session(cores, app_name=config.app_name, conf=conf)
        return delta_session.cluster_session(master, app_name=config.app_name, conf=conf)
    except delta_session.DeltaSessionError as exc:
        raise SparkUnavailableError(str(exc)) from exc
