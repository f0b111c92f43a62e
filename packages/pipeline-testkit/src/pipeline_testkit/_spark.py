"""Build a local SparkSession with Delta Lake, resolving the Delta jars once and caching them."""

from __future__ import annotations

import importlib.metadata
import os
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from pipeline_testkit.errors import DeltaJarsUnavailableError, SparkExtraMissingError

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

#: Folder of jar files to use instead of resolving from Maven (air-gapped machines).
JARS_DIR_ENV = "DELTA_JARS_DIR"
#: Where Ivy caches the resolved Delta jars; a later run needs no network.
IVY_DIR_ENV = "DELTA_IVY_DIR"
DEFAULT_IVY_DIR = Path.home() / ".cache" / "pipeline-testkit" / "ivy"
SCALA_VERSION = "2.13"


def require_spark_extra() -> None:
    """Check that pyspark and delta-spark (the testkit's ``spark`` extra) are importable.

    Packages that never start Spark (etl-metrics) depend on plain ``pipeline-testkit`` so their
    test venvs prove they run without pyspark; this turns a stray use of the ``spark`` fixture
    there into a message saying what to declare instead of a bare import error.

    Raises:
        SparkExtraMissingError: pyspark or delta-spark is missing.
    """
    try:
        import delta  # noqa: F401
        import pyspark  # noqa: F401
    except ModuleNotFoundError as exc:
        raise SparkExtraMissingError(
            f"Spark with Delta Lake needs pyspark and delta-spark, but {exc.name!r} is not "
            "installed in this environment. Declare 'pipeline-testkit[spark]' (not plain "
            "'pipeline-testkit') in this package's dev dependency group, run 'uv lock' at the "
            "repository root and recreate the test venv (nox without -R).",
            name=exc.name,
        ) from exc


def delta_maven_coordinate() -> str:
    """Return the Maven coordinate of the Delta jar matching the installed pyspark and delta-spark.

    Returns:
        A coordinate such as ``io.delta:delta-spark_4.2_2.13:4.4.0``.
    """
    import pyspark

    delta_version = importlib.metadata.version("delta-spark")
    spark_minor = ".".join(pyspark.__version__.split(".")[:2])
    return f"io.delta:delta-spark_{spark_minor}_{SCALA_VERSION}:{delta_version}"


def _ivy_dir() -> Path:
    return Path(os.environ.get(IVY_DIR_ENV, str(DEFAULT_IVY_DIR))).expanduser()


def _jar_conf() -> dict[str, str]:
    jars_dir = os.environ.get(JARS_DIR_ENV)
    if jars_dir:
        jars = sorted(Path(jars_dir).expanduser().glob("*.jar"))
        if not any(
            j.name.startswith("io.delta_delta-spark") or "delta-spark" in j.name for j in jars
        ):
            raise DeltaJarsUnavailableError(
                f"{JARS_DIR_ENV}={jars_dir} holds no delta-spark jar. Put the jars of "
                f"{delta_maven_coordinate()} and its dependencies there (for example the 'jars' "
                f"folder of an Ivy cache filled on a connected machine), or unset {JARS_DIR_ENV} "
                "to resolve them from Maven Central."
            )
        return {"spark.jars": ",".join(str(j) for j in jars)}
    return {
        "spark.jars.packages": delta_maven_coordinate(),
        "spark.jars.ivy": str(_ivy_dir()),
    }


def _unavailable_message(cause: BaseException) -> str:
    if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        return (
            "Spark could not start: no 'java' on PATH and JAVA_HOME is unset. "
            "Install Java 17 (e.g. 'apt-get install -y openjdk-17-jre-headless') and retry."
        )
    coordinate = delta_maven_coordinate()
    if os.environ.get(JARS_DIR_ENV):
        where = f"the jars in {JARS_DIR_ENV}={os.environ[JARS_DIR_ENV]}"
    else:
        where = f"Maven Central into the Ivy cache {_ivy_dir()}"
    return (
        f"Spark with Delta Lake could not start while loading {coordinate} from {where} "
        f"({type(cause).__name__}: {cause}). If this machine cannot reach Maven Central, fill a "
        f"folder with the jars once on a connected machine (run the tests there and copy "
        f"{_ivy_dir() / 'jars'}, or 'mvn dependency:copy-dependencies' of {coordinate}) and "
        f"set {JARS_DIR_ENV}=/path/to/that/folder."
    )


def local_spark_session(
    app_name: str = "pipeline-tests",
    *,
    warehouse_dir: str | os.PathLike[str] | None = None,
    extra_conf: dict[str, str] | None = None,
) -> SparkSession:
    """Return a local-mode SparkSession with Delta Lake enabled, sized for tests.

    Two cores, two shuffle partitions, no UI, a warehouse and Derby metastore in a temp dir.
    The Delta jars come from ``DELTA_JARS_DIR`` when set, else from Maven Central through an
    Ivy cache (``DELTA_IVY_DIR``, default ``~/.cache/pipeline-testkit/ivy``) reused offline.

    Args:
        app_name: Spark application name.
        warehouse_dir: Folder for managed tables; a fresh temp dir when None.
        extra_conf: More Spark settings, applied last.

    Returns:
        The active session (``getOrCreate`` semantics: one per process).

    Raises:
        SparkExtraMissingError: pyspark or delta-spark is not installed (no ``spark`` extra).
        DeltaJarsUnavailableError: Java or the Delta jars could not be loaded; the message says
            which artifact and how to point at local jar files.
    """
    require_spark_extra()
    from pyspark.errors import PySparkRuntimeError
    from pyspark.sql import SparkSession

    warehouse = Path(warehouse_dir) if warehouse_dir else Path(tempfile.mkdtemp(prefix="wh-"))
    conf = {
        "spark.master": "local[2]",
        "spark.app.name": app_name,
        "spark.sql.extensions": "io.delta.sql.DeltaSparkSessionExtension",
        "spark.sql.catalog.spark_catalog": "org.apache.spark.sql.delta.catalog.DeltaCatalog",
        "spark.sql.shuffle.partitions": "2",
        "spark.default.parallelism": "2",
        # Delta rebuilds table state with 50 partitions by default: pure overhead on tiny tables.
        "spark.databricks.delta.snapshotPartitions": "2",
        "spark.ui.enabled": "false",
        "spark.ui.showConsoleProgress": "false",
        "spark.sql.warehouse.dir": str(warehouse / "warehouse"),
        "spark.driver.extraJavaOptions": f"-Dderby.system.home={warehouse / 'derby'}",
        "spark.sql.session.timeZone": "UTC",
        "spark.driver.memory": "2g",
        **_jar_conf(),
        **(extra_conf or {}),
    }
    builder = SparkSession.builder
    for key, value in conf.items():
        builder = builder.config(key, value)
    try:
        spark = builder.getOrCreate()
        # Loading the catalog instantiates DeltaCatalog: fail here, with our message, when the
        # Delta classes did not make it onto the classpath.
        spark.sql("SHOW DATABASES").collect()
    except PySparkRuntimeError as exc:
        raise DeltaJarsUnavailableError(_unavailable_message(exc)) from exc
    except Exception as exc:
        if "ClassNotFound" in str(exc) or "NoClassDefFound" in str(exc):
            raise DeltaJarsUnavailableError(_unavailable_message(exc)) from exc
        raise
    spark.sparkContext.setLogLevel("ERROR")
    return spark
