"""The Spark settings of a Delta-enabled session: SQL extension, catalog and jars."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

from delta_session._versions import delta_coordinate
from delta_session.errors import DeltaSessionError, JarsDirError

#: Environment variable naming a folder of jar files used instead of Maven (air-gapped hosts).
JARS_DIR_ENV = "DELTA_JARS_DIR"
#: Environment variable naming the Ivy cache the jars are resolved into.
IVY_DIR_ENV = "DELTA_IVY_DIR"
#: Default Ivy cache; shared with the workspace's test kit so its cache stays warm.
DEFAULT_IVY_DIR = Path.home() / ".cache" / "pipeline-testkit" / "ivy"

#: Delta's SQL extension and catalog: MERGE INTO, DESCRIBE HISTORY, ``delta.`path``` tables.
DELTA_SQL_CONF: Mapping[str, str] = {
    "spark.sql.extensions": "io.delta.sql.DeltaSparkSessionExtension",
    "spark.sql.catalog.spark_catalog": "org.apache.spark.sql.delta.catalog.DeltaCatalog",
}
# Settings whose values are comma-separated lists: a caller's entries are added to ours.
_LISTS = ("spark.jars.packages", "spark.jars", "spark.sql.extensions")


def ivy_dir() -> Path:
    """Return the Ivy cache folder: ``$DELTA_IVY_DIR``, else ``~/.cache/pipeline-testkit/ivy``."""
    return Path(os.environ.get(IVY_DIR_ENV) or DEFAULT_IVY_DIR).expanduser()


def jars_dir() -> Path | None:
    """Return ``$DELTA_JARS_DIR`` as a path, or None when unset or empty."""
    value = os.environ.get(JARS_DIR_ENV)
    return Path(value).expanduser() if value else None


def _artifact_stem(coordinate: str) -> str:
    """``io.delta:delta-spark_4.2_2.13:4.4.0`` -> ``delta-spark`` (what its jar name holds)."""
    parts = coordinate.split(":")
    artifact = parts[1] if len(parts) > 1 else parts[0]
    return artifact.split("_")[0]


def describe_delta_jar() -> str:
    """The Delta coordinate for messages, or a description when the pair has none."""
    try:
        return delta_coordinate()
    except DeltaSessionError:
        return "the delta-spark jar matching your pyspark"


def jar_conf(packages: Sequence[str] = ()) -> dict[str, str]:
    """Return the settings that put the Delta jar (and ``packages``) on Spark's classpath.

    With ``DELTA_JARS_DIR`` set, every ``*.jar`` in that folder goes into ``spark.jars`` (no
    network); the folder must hold a ``delta-spark`` jar and one per extra package. Otherwise the
    coordinates go into ``spark.jars.packages``, resolved from Maven Central into the Ivy cache
    :func:`ivy_dir` once and reused offline afterwards.

    Args:
        packages: Extra Maven coordinates, e.g. :func:`~delta_session.hadoop_aws_coordinate`.

    Returns:
        ``{"spark.jars": ...}`` or ``{"spark.jars.packages": ..., "spark.jars.ivy": ...}``.

    Raises:
        JarsDirError: ``DELTA_JARS_DIR`` is set but lacks a jar the session needs.
        IncompatibleVersionsError: Maven Central has no Delta jar for the installed pair.
    """
    folder = jars_dir()
    if folder is None:
        coordinates = [delta_coordinate(), *packages]
        return {"spark.jars.packages": ",".join(coordinates), "spark.jars.ivy": str(ivy_dir())}
    jars = sorted(folder.glob("*.jar"))
    wanted = {"delta-spark": describe_delta_jar()}
    wanted.update({_artifact_stem(p): p for p in packages})
    missing = {stem: c for stem, c in wanted.items() if not any(stem in j.name for j in jars)}
    if missing:
        named = ", ".join(f"{stem} jar ({coordinate})" for stem, coordinate in missing.items())
        raise JarsDirError(
            f"{JARS_DIR_ENV}={folder} holds no {named}. Put the jars of "
            f"{', '.join(missing.values())} and their dependencies there (for example the "
            f"'jars' folder of an Ivy cache filled on a connected machine, "
            f"{ivy_dir() / 'jars'}), or unset {JARS_DIR_ENV} to download them from Maven "
            "Central."
        )
    return {"spark.jars": ",".join(str(j) for j in jars)}


def delta_conf(
    packages: Sequence[str] = (), conf: Mapping[str, str] | None = None
) -> dict[str, str]:
    """Return every setting a session needs for Delta Lake: extension, catalog and jars.

    Use it to start a session or server yourself (``spark-submit --conf``, a notebook
    builder). ``conf`` comes last and wins, except that entries for ``spark.jars.packages``,
    ``spark.jars`` and ``spark.sql.extensions`` are appended to ours.

    Args:
        packages: Extra Maven coordinates to put on the classpath.
        conf: More Spark settings.

    Returns:
        The settings, ready for ``SparkSession.builder.config(key, value)``.

    Raises:
        JarsDirError: ``DELTA_JARS_DIR`` is set but lacks a jar the session needs.
        IncompatibleVersionsError: Maven Central has no Delta jar for the installed pair.
    """
    settings = {**DELTA_SQL_CONF, **jar_conf(packages)}
    for key, value in (conf or {}).items():
        if key in _LISTS and settings.get(key):
            ours = settings[key].split(",")
            settings[key] = ",".join([*ours, *(v for v in value.split(",") if v not in ours)])
        else:
            settings[key] = value
    return settings
