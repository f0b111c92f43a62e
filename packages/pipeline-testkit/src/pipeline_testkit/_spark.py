"""Test-sized Spark sessions with Delta Lake, built on delta-session.

delta-session (a dependency of the ``spark`` extra) knows the Delta jar for the installed
pyspark / delta-spark pair, the jar sources (``DELTA_JARS_DIR``, else Maven through the Ivy cache
``DELTA_IVY_DIR``), quiet start-up and the start errors. What is left here is what tests want:
small settings, a temp warehouse, and which kind of session a test run asks for.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from pipeline_testkit.errors import DeltaJarsUnavailableError, SparkExtraMissingError

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

#: Environment variable selecting the kind of session: ``local`` (default), or a comma
#: separated mix of ``connect``, ``cluster`` and ``s3``.
SPARK_MODE_ENV = "PIPELINE_TESTKIT_SPARK"
_KINDS = ("connect", "cluster", "s3")


def require_spark_extra() -> None:
    """Check that pyspark, delta-spark and delta-session (the ``spark`` extra) are importable.

    Packages that never start Spark (etl-metrics) depend on plain ``pipeline-testkit`` so their
    test venvs prove they run without pyspark; this turns a stray use of the ``spark`` fixture
    there into a message saying what to declare instead of a bare import error.

    Raises:
        SparkExtraMissingError: pyspark, delta-spark or delta-session is missing.
    """
    try:
        import delta  # noqa: F401
        import pyspark  # noqa: F401

        import delta_session  # noqa: F401
    except ModuleNotFoundError as exc:
        raise SparkExtraMissingError(
            f"Spark with Delta Lake needs pyspark, delta-spark and delta-session, but "
            f"{exc.name!r} is not installed in this environment. Declare "
            "'pipeline-testkit[spark]' (not plain 'pipeline-testkit') in this package's dev "
            "dependency group, run 'uv lock' at the repository root and recreate the test venv "
            "(nox without -R).",
            name=exc.name,
        ) from exc


def delta_maven_coordinate() -> str:
    """Return the Maven coordinate of the Delta jar for the installed pyspark and delta-spark.

    Returns:
        A coordinate such as ``io.delta:delta-spark_4.2_2.13:4.4.0`` (from delta-session).
    """
    require_spark_extra()
    from delta_session import delta_coordinate

    return delta_coordinate()


@dataclass(frozen=True)
class SparkMode:
    """Which kind of session the ``spark`` fixture hands out in this test run.

    Attributes:
        connect: A Spark Connect session against a local Connect server with Delta.
        cluster: Executors on a local standalone cluster (master and two workers).
        s3: The session reads and writes ``s3a://`` on a local S3 API server, and
            ``table_path`` is an ``s3a://`` path.
    """

    connect: bool = False
    cluster: bool = False
    s3: bool = False

    @classmethod
    def parse(cls, value: str | None) -> SparkMode:
        """Read ``local`` or a comma-separated mix of ``connect``, ``cluster``, ``s3``.

        Raises:
            ValueError: An unknown word, naming the accepted ones.
        """
        words = {w.strip().lower() for w in (value or "").split(",") if w.strip()}
        unknown = words - {*_KINDS, "local"}
        if unknown:
            raise ValueError(
                f"{SPARK_MODE_ENV}={value!r}: unknown {sorted(unknown)}; use 'local' or a "
                f"comma-separated mix of {', '.join(_KINDS)}"
            )
        return cls(**{kind: kind in words for kind in _KINDS})

    @property
    def kinds(self) -> tuple[str, ...]:
        """The kinds switched on, e.g. ``("cluster", "s3")``; empty for plain local."""
        return tuple(kind for kind in _KINDS if getattr(self, kind))

    def __str__(self) -> str:
        return ",".join(self.kinds) or "local"


def small_conf(warehouse: Path) -> dict[str, str]:
    """Spark settings sized for tests: 2 partitions, no UI, temp warehouse and Derby, UTC.

    Args:
        warehouse: Folder for managed tables and the Derby metastore.

    Returns:
        The settings.
    """
    return {
        "spark.sql.shuffle.partitions": "2",
        "spark.default.parallelism": "2",
        # Delta rebuilds table state with 50 partitions by default: pure overhead on tiny tables.
        "spark.databricks.delta.snapshotPartitions": "2",
        "spark.ui.enabled": "false",
        "spark.sql.warehouse.dir": str(warehouse / "warehouse"),
        "spark.driver.extraJavaOptions": f"-Dderby.system.home={warehouse / 'derby'}",
        "spark.sql.session.timeZone": "UTC",
        "spark.driver.memory": "2g",
    }


def local_spark_session(
    app_name: str = "pipeline-tests",
    *,
    warehouse_dir: str | os.PathLike[str] | None = None,
    extra_conf: dict[str, str] | None = None,
    packages: tuple[str, ...] = (),
    master: str = "local[2]",
    log_file: str | os.PathLike[str] | None = None,
) -> SparkSession:
    """Return a classic SparkSession with Delta Lake, sized for tests.

    Two cores (``local[2]``, or ``master``'s executors), two shuffle partitions, no UI, a
    warehouse and Derby metastore in a temp dir, UTC. The Delta jar comes through delta-session.

    Args:
        app_name: Spark application name.
        warehouse_dir: Folder for managed tables; a fresh temp dir when None.
        extra_conf: More Spark settings, applied last.
        packages: Extra Maven coordinates (e.g. hadoop-aws for ``s3a://``).
        master: ``local[N]`` or a cluster URL such as ``spark://127.0.0.1:7077``.
        log_file: Where the JVM's start-up output goes (delta-session's default when None).

    Returns:
        The active session (``getOrCreate`` semantics: one per process).

    Raises:
        SparkExtraMissingError: pyspark, delta-spark or delta-session is not installed.
        DeltaJarsUnavailableError: Spark with Delta could not start; the message (from
            delta-session) says why: no Java, no network, no such artifact, jars folder.
    """
    import tempfile

    require_spark_extra()
    from delta_session import DeltaSessionError, cluster_session, local_session

    warehouse = Path(warehouse_dir) if warehouse_dir else Path(tempfile.mkdtemp(prefix="wh-"))
    conf = {**small_conf(warehouse), **(extra_conf or {})}
    try:
        if master.startswith("local"):
            cores = master[len("local[") : -1] if master.startswith("local[") else "*"
            return local_session(
                cores, app_name=app_name, packages=packages, conf=conf, log_file=log_file
            )
        return cluster_session(
            master, app_name=app_name, packages=packages, conf=conf, log_file=log_file
        )
    except DeltaSessionError as exc:
        raise DeltaJarsUnavailableError(str(exc)) from exc
