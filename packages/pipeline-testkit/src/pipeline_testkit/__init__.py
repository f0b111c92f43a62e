"""Internal test support for the workspace: local Spark + Delta, benchmarks, real servers.

Not published. Every package's tests get the ``spark`` fixture (and friends) from the pytest
plugin registered by this distribution, so no package builds its own session. Spark needs the
``spark`` extra (``pipeline-testkit[spark]``); without it nothing here imports pyspark.
:mod:`pipeline_testkit.servers` starts real server binaries (Prometheus, Pushgateway,
Alertmanager) on 127.0.0.1 for suites that test against them.
"""

from importlib.metadata import version

from pipeline_testkit._bench import BenchScale, Comparison, bench_scale, scaled
from pipeline_testkit._spark import (
    delta_maven_coordinate,
    local_spark_session,
    require_spark_extra,
)
from pipeline_testkit.errors import (
    DeltaJarsUnavailableError,
    ServerBinaryMissingError,
    ServerStartError,
    SparkExtraMissingError,
)
from pipeline_testkit.servers import (
    RunningServer,
    find_binary,
    free_port,
    start_server,
)

__version__ = version("pipeline-testkit")

__all__ = [
    "BenchScale",
    "Comparison",
    "DeltaJarsUnavailableError",
    "RunningServer",
    "ServerBinaryMissingError",
    "ServerStartError",
    "SparkExtraMissingError",
    "__version__",
    "bench_scale",
    "delta_maven_coordinate",
    "find_binary",
    "free_port",
    "local_spark_session",
    "require_spark_extra",
    "scaled",
    "start_server",
]
