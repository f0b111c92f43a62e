"""Internal test support for the workspace: one local Spark + Delta session, benchmark helpers.

Not published. Every package's tests get the ``spark`` fixture (and friends) from the pytest
plugin registered by this distribution, so no package builds its own session.
"""

from importlib.metadata import version

from pipeline_testkit._bench import BenchScale, Comparison, bench_scale, scaled
from pipeline_testkit._spark import (
    DeltaJarsUnavailableError,
    delta_maven_coordinate,
    local_spark_session,
)

__version__ = version("pipeline-testkit")

__all__ = [
    "BenchScale",
    "Comparison",
    "DeltaJarsUnavailableError",
    "__version__",
    "bench_scale",
    "delta_maven_coordinate",
    "local_spark_session",
    "scaled",
]
