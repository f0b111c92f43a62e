"""Exceptions the test-support helpers raise, each saying what failed and how to fix it."""

from __future__ import annotations


class DeltaJarsUnavailableError(RuntimeError):
    """The Delta Lake jars could not be loaded, so no Spark session with Delta was started."""


class SparkExtraMissingError(ModuleNotFoundError):
    """pyspark or delta-spark is missing: the dev group lacks ``pipeline-testkit[spark]``."""


class ServerBinaryMissingError(FileNotFoundError):
    """A server or tool binary the tests need is not on ``PATH``; the message names its package."""


class ServerStartError(RuntimeError):
    """A server process exited at start or never answered its readiness check.

    The message holds the command's binary, the address, the exit status and the end of the
    server's log.
    """
