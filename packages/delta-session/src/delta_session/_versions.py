"""Which Delta jar (Maven coordinate) goes with the installed pyspark / delta-spark pair.

pip resolves ``delta-spark`` and ``pyspark`` from their Python metadata alone, and that metadata
allows pairs for which Maven Central serves no jar: delta-spark 4.4.1 is on PyPI but no
``delta-spark_*:4.4.1`` jar exists, and delta-spark 4.3.x allows pyspark 4.2 only through
ranges that have no ``delta-spark_4.2_2.13:4.3.x`` artifact. The table below records what Maven
Central serves, so a pair that cannot work is refused before a JVM starts, with the versions to
install instead.
"""

from __future__ import annotations

import importlib.metadata
import re
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType

from delta_session.errors import IncompatibleVersionsError, SessionStartError

#: delta-spark version -> Spark minor versions Maven Central serves a ``delta-spark`` jar for.
#: Read from ``io.delta:delta-spark_<spark>_2.13/maven-metadata.xml`` (and ``delta-spark_2.13``
#: for 4.0.x, which has no Spark suffix) on repo1.maven.org. An empty tuple: on PyPI, no jar.
DELTA_JARS: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {
        "4.0.0": ("4.0",),
        "4.0.1": ("4.0",),
        "4.1.0": ("4.0", "4.1"),
        "4.2.0": ("4.0", "4.1"),
        "4.3.0": ("4.0", "4.1"),
        "4.3.1": ("4.0", "4.1"),
        "4.4.0": ("4.0", "4.1", "4.2"),
        "4.4.1": (),
    }
)
#: Delta releases before this one publish one jar per Scala version, without a Spark suffix.
_FIRST_SUFFIXED = (4, 1, 0)
_DEFAULT_SCALA = "2.13"


def _version_tuple(version: str) -> tuple[int, ...]:
    """``"4.4.0"`` -> ``(4, 4, 0)``; a pre-release tail (``4.4.0rc1``) is dropped."""
    release = re.split(r"[a-z]", version.lower(), maxsplit=1)[0]
    return tuple(int(n) for n in re.findall(r"\d+", release)[:3])


def _minor(version: str) -> str:
    return ".".join(version.split(".")[:2])


def installed_versions() -> tuple[str, str]:
    """Return the installed ``(pyspark, delta-spark)`` versions.

    Raises:
        SessionStartError: pyspark or delta-spark is not installed.
    """
    found = []
    for dist in ("pyspark", "delta-spark"):
        try:
            found.append(importlib.metadata.version(dist))
        except importlib.metadata.PackageNotFoundError:
            raise SessionStartError(
                f"{dist} is not installed in this environment ({_python()}). "
                "Install delta-session with pip so that its dependencies come along: "
                "pip install delta-session"
            ) from None
    return found[0], found[1]


def _python() -> str:
    import sys

    return sys.executable


def pyspark_home() -> Path:
    """Return the folder of the installed pyspark package (its ``jars/`` and ``bin/``)."""
    import pyspark

    return Path(pyspark.__file__).parent


def scala_version(home: Path | None = None) -> str:
    """Return the Scala binary version (``2.13``) of the installed pyspark's jars."""
    jars = sorted((home or pyspark_home()).joinpath("jars").glob("scala-library-*.jar"))
    if jars:
        match = re.match(r"scala-library-(\d+\.\d+)", jars[0].name)
        if match:
            return match.group(1)
    return _DEFAULT_SCALA


def _install_hint(spark_minor: str) -> str:
    """The newest pair Maven Central serves, preferring the installed Spark minor version."""
    releases = sorted(DELTA_JARS, key=_version_tuple, reverse=True)
    for delta in releases:
        if spark_minor in DELTA_JARS[delta]:
            return f"pip install 'delta-spark=={delta}' (keeps pyspark {spark_minor})"
    newest = next(d for d in releases if DELTA_JARS[d])
    spark = max(DELTA_JARS[newest], key=_version_tuple)
    major, minor = (int(p) for p in spark.split("."))
    return (
        f"pip install 'pyspark>={spark},<{major}.{minor + 1}' 'delta-spark=={newest}' "
        f"(no Delta release has a jar for Spark {spark_minor} yet)"
    )


def delta_coordinate(pyspark_version: str | None = None, delta_version: str | None = None) -> str:
    """Return the Maven coordinate of the Delta jar for a pyspark / delta-spark pair.

    Args:
        pyspark_version: pyspark version; the installed one when None.
        delta_version: delta-spark version; the installed one when None.

    Returns:
        A coordinate such as ``io.delta:delta-spark_4.2_2.13:4.4.0``. A delta-spark release
        newer than the table :data:`DELTA_JARS` gets the name Delta's own
        ``configure_spark_with_delta_pip`` would use.

    Raises:
        IncompatibleVersionsError: Maven Central serves no jar for this pair; the message says
            which versions to install.
    """
    from_installed = pyspark_version is None
    if pyspark_version is None or delta_version is None:
        installed_spark, installed_delta = installed_versions()
        pyspark_version = pyspark_version or installed_spark
        delta_version = delta_version or installed_delta
    spark_minor = _minor(pyspark_version)
    scala = scala_version() if from_installed else _DEFAULT_SCALA
    release = ".".join(str(n) for n in _version_tuple(delta_version))
    known = DELTA_JARS.get(release)
    if known is not None and spark_minor not in known:
        served = f"jars for Spark {', '.join(known)} only" if known else "no jar at all (PyPI only)"
        raise IncompatibleVersionsError(
            f"pyspark {pyspark_version} with delta-spark {delta_version} cannot work: Maven "
            f"Central serves delta-spark {release} {served}, so the Delta jar for Spark "
            f"{spark_minor} cannot be downloaded. Fix: {_install_hint(spark_minor)}.",
            pyspark_version=pyspark_version,
            delta_version=delta_version,
        )
    if _version_tuple(release) < _FIRST_SUFFIXED:
        return f"io.delta:delta-spark_{scala}:{release}"
    return f"io.delta:delta-spark_{spark_minor}_{scala}:{release}"


def hadoop_version(home: Path | None = None) -> str:
    """Return the Hadoop version bundled with the installed pyspark (``3.5.0`` in pyspark 4.2.0).

    Raises:
        SessionStartError: pyspark has no Hadoop client jar (a thin ``pyspark-client`` install).
    """
    folder = (home or pyspark_home()) / "jars"
    for jar in sorted(folder.glob("hadoop-client-api-*.jar")):
        match = re.match(r"hadoop-client-api-(\d+\.\d+\.\d+)\.jar$", jar.name)
        if match:
            return match.group(1)
    raise SessionStartError(
        f"No hadoop-client-api jar in {folder}: this pyspark has no bundled Hadoop (a "
        "'pyspark-client' install?). S3 through s3a needs the full 'pyspark' package."
    )


def hadoop_aws_coordinate(home: Path | None = None) -> str:
    """Return the ``hadoop-aws`` coordinate matching pyspark's bundled Hadoop, for ``s3a://``.

    hadoop-aws must be the same version as the Hadoop jars in pyspark's ``jars/`` folder; it
    brings the AWS SDK v2 ``bundle`` jar (about 690 MB for Hadoop 3.5.0) on first resolution.

    Returns:
        A coordinate such as ``org.apache.hadoop:hadoop-aws:3.5.0``.
    """
    return f"org.apache.hadoop:hadoop-aws:{hadoop_version(home)}"
