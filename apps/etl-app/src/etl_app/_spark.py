"""The app's SparkSession: local mode (configurable master) with Delta Lake.

The Delta jars are resolved the same way as the test plugin does (``DELTA_JARS_DIR``, else Maven
Central through the Ivy cache ``DELTA_IVY_DIR``, default ``~/.cache/pipeline-testkit/ivy``), so
tests and the app download them once.
"""

from __future__ import annotations

import importlib.metadata
import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

from etl_app.errors import SparkUnavailableError

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from etl_app._config import SparkConfig

JARS_DIR_ENV = "DELTA_JARS_DIR"
IVY_DIR_ENV = "DELTA_IVY_DIR"
DEFAULT_IVY_DIR = Path.home() / ".cache" / "pipeline-testkit" / "ivy"
SCALA_VERSION = "2.13"


def delta_maven_coordinate() -> str:
    """Return the Maven coordinate of the Delta jar matching installed pyspark and delta-spark."""
    import pyspark

    delta_version = importlib.metadata.version("delta-spark")
    spark_minor = ".".join(pyspark.__version__.split(".")[:2])
    return f"io.delta:delta-spark_{spark_minor}_{SCALA_VERSION}:{delta_version}"


def _ivy_dir() -> Path:
    return Path(os.environ.get(IVY_DIR_ENV, str(DEFAULT_IVY_DIR))).expanduser()


def jar_conf() -> dict[str, str]:
    """Return the Spark settings that put the Delta jars on the classpath.

    Raises:
        SparkUnavailableError: ``DELTA_JARS_DIR`` is set but holds no delta-spark jar.
    """
    jars_dir = os.environ.get(JARS_DIR_ENV)
    if jars_dir:
        jars = sorted(Path(jars_dir).expanduser().glob("*.jar"))
        if not any("delta-spark" in j.name for j in jars):
            raise SparkUnavailableError(
                f"{JARS_DIR_ENV}={jars_dir} holds no delta-spark jar. Put the jars of "
                f"{delta_maven_coordinate()} and its dependencies there, or unset "
                f"{JARS_DIR_ENV} to resolve them from Maven Central."
            )
        return {"spark.jars": ",".join(str(j) for j in jars)}
    return {"spark.jars.packages": delta_maven_coordinate(), "spark.jars.ivy": str(_ivy_dir())}


def unavailable_message(cause: BaseException) -> str:
    """Explain why Spark with Delta could not start and what to do about it."""
    if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        return (
            "Spark could not start: no 'java' on PATH and JAVA_HOME is unset. Install Java 17 "
            "(e.g. 'apt-get install -y openjdk-17-jre-headless') and retry."
        )
    coordinate = delta_maven_coordinate()
    where = (
        f"the jars in {JARS_DIR_ENV}={os.environ[JARS_DIR_ENV]}"
        if os.environ.get(JARS_DIR_ENV)
        else f"Maven Central into the Ivy cache {_ivy_dir()}"
    )
    first_line = str(cause).strip().splitlines()[0] if str(cause).strip() else ""
    return (
        f"Spark with Delta Lake could not start while loading {coordinate} from {where} "
        f"({type(cause).__name__}: {first_line}). Without network access, copy the jars once "
        f"from a connected machine ({_ivy_dir() / 'jars'}) and set {JARS_DIR_ENV}=/that/folder."
    )


def build_spark_session(config: SparkConfig) -> SparkSession:
    """Start (or reuse) a SparkSession with Delta Lake for the pipeline.

    Args:
        config: Master, app name, shuffle partitions, driver memory and extra settings.

    Returns:
        The session (``getOrCreate``: an active session in this process is reused).

    Raises:
        SparkUnavailableError: Java or the Delta jars are unavailable; the message says what to do.
    """
    from pyspark.sql import SparkSession

    conf = {
        "spark.master": config.master,
        "spark.app.name": config.app_name,
        "spark.sql.extensions": "io.delta.sql.DeltaSparkSessionExtension",
        "spark.sql.catalog.spark_catalog": "org.apache.spark.sql.delta.catalog.DeltaCatalog",
        "spark.sql.shuffle.partitions": str(config.shuffle_partitions),
        "spark.databricks.delta.snapshotPartitions": str(config.shuffle_partitions),
        "spark.ui.showConsoleProgress": "false",
        "spark.sql.session.timeZone": "UTC",
        "spark.driver.memory": config.driver_memory,
        **jar_conf(),
        **config.conf,
    }
    builder = SparkSession.builder
    for key, value in conf.items():
        builder = builder.config(key, value)
    try:
        spark = builder.getOrCreate()
        # Instantiating the Delta catalog fails here, with our message, when the jars are missing.
        spark.sql("SHOW DATABASES").collect()
    except Exception as exc:
        raise SparkUnavailableError(unavailable_message(exc)) from exc
    spark.sparkContext.setLogLevel("ERROR")
    return spark
