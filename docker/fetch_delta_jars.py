"""Download the Delta Lake jars matching the installed pyspark and delta-spark into a folder.

Runs once at image build time (``python fetch_delta_jars.py /opt/delta-jars``): a local Spark
session resolves ``io.delta:delta-spark_<spark minor>_2.13:<delta-spark version>`` and its
dependencies through Ivy, and the resolved jars are copied out, so containers start offline
(etl-app reads them from ``DELTA_JARS_DIR``).
"""

from __future__ import annotations

import importlib.metadata
import os
import shutil
import sys
import tempfile
from pathlib import Path

SCALA_VERSION = "2.13"


def delta_coordinate() -> str:
    """Return the Maven coordinate of the Delta jar for the installed pyspark / delta-spark."""
    spark_minor = ".".join(importlib.metadata.version("pyspark").split(".")[:2])
    delta = importlib.metadata.version("delta-spark")
    return f"io.delta:delta-spark_{spark_minor}_{SCALA_VERSION}:{delta}"


def fetch(target: Path) -> list[Path]:
    """Resolve the Delta jars through Ivy and copy them into ``target``; return the copies."""
    from pyspark.sql import SparkSession

    # A build container's hostname often does not resolve: Spark would fail at start with
    # java.net.UnknownHostException looking up its own address, before any conf applies. Bind the
    # driver to loopback (the JVM reads this from the environment); nothing here needs more.
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    os.environ.setdefault("SPARK_LOCAL_HOSTNAME", "localhost")
    with tempfile.TemporaryDirectory() as ivy:
        spark = (
            SparkSession.builder.master("local[1]")
            .config("spark.jars.packages", delta_coordinate())
            .config("spark.jars.ivy", ivy)
            .config("spark.ui.enabled", "false")
            .config("spark.driver.bindAddress", "127.0.0.1")
            .config("spark.driver.host", "127.0.0.1")
            .getOrCreate()
        )
        spark.stop()
        jars = sorted((Path(ivy) / "jars").glob("*.jar"))
        if not any(jar.name.startswith("io.delta_delta-spark") for jar in jars):
            raise SystemExit(f"Ivy resolved no delta-spark jar for {delta_coordinate()}: {jars}")
        target.mkdir(parents=True, exist_ok=True)
        return [Path(shutil.copy2(jar, target)) for jar in jars]


if __name__ == "__main__":
    if len(sys.argv) != 2:
        raise SystemExit("usage: python fetch_delta_jars.py TARGET_DIR")
    for path in fetch(Path(sys.argv[1])):
        print(path)
