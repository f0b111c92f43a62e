"""Why no Spark session with Delta Lake could be had, one exception type per cause.

Every error derives from :class:`DeltaSessionError`, so one ``except`` catches them all; the
subclasses tell the causes apart and their messages say what to do. ``log_path`` names the
file holding the JVM's start-up output (Ivy resolution, Spark warnings) when there is one.
"""

from __future__ import annotations

from pathlib import Path

__all__ = [
    "ArtifactNotFoundError",
    "DeltaSessionError",
    "IncompatibleVersionsError",
    "JarsDirError",
    "JavaNotFoundError",
    "MavenUnreachableError",
    "SessionStartError",
]


class DeltaSessionError(RuntimeError):
    """No Spark session with Delta Lake could be started or reached.

    Attributes:
        log_path: File with the JVM's start-up output, or None when no JVM was started or its
            output went to the console (``quiet=False``).
    """

    def __init__(self, message: str, *, log_path: Path | None = None) -> None:
        super().__init__(message)
        self.log_path = log_path


class IncompatibleVersionsError(DeltaSessionError):
    """The installed pyspark / delta-spark pair has no Delta jar on Maven Central.

    Raised before any JVM starts. The message names the versions to install instead.

    Attributes:
        pyspark_version: The pyspark version checked.
        delta_version: The delta-spark version checked.
    """

    def __init__(
        self,
        message: str,
        *,
        pyspark_version: str,
        delta_version: str,
        log_path: Path | None = None,
    ) -> None:
        super().__init__(message, log_path=log_path)
        self.pyspark_version = pyspark_version
        self.delta_version = delta_version


class JavaNotFoundError(DeltaSessionError):
    """No Java runtime: ``java`` is not on ``PATH`` and ``JAVA_HOME`` names no ``bin/java``."""


class MavenUnreachableError(DeltaSessionError):
    """The jars are not in the Ivy cache and the Maven repository could not be reached."""


class ArtifactNotFoundError(DeltaSessionError):
    """The Maven repository answered, but holds no artifact with this coordinate.

    Attributes:
        coordinates: The unresolved ``group:artifact:version`` coordinates.
    """

    def __init__(
        self, message: str, *, coordinates: tuple[str, ...], log_path: Path | None = None
    ) -> None:
        super().__init__(message, log_path=log_path)
        self.coordinates = coordinates


class JarsDirError(DeltaSessionError):
    """``DELTA_JARS_DIR`` lacks a jar the session needs, or its jars could not be loaded."""


class SessionStartError(DeltaSessionError):
    """Spark did not start for another reason (see the message and the log file)."""
