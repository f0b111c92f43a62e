"""Internal test support for the workspace: Spark + Delta sessions, benchmarks, real servers.

Not published. Every package's tests get the ``spark`` fixture (and friends) from the pytest
plugin registered by this distribution, so no package builds its own session. Sessions come
from delta-session through the ``spark`` extra (``pipeline-testkit[spark]``); without it nothing
here imports pyspark. A run picks local (default), Spark Connect, a standalone cluster and/or S3
(``--spark-connect``, ``--spark-cluster``, ``--spark-s3`` or ``PIPELINE_TESTKIT_SPARK``).
:mod:`pipeline_testkit.servers` starts real server binaries on 127.0.0.1 and stops them by PID.
"""

from importlib.metadata import version

from pipeline_testkit._bench import BenchScale, Comparison, bench_scale, scaled
from pipeline_testkit._cluster import StandaloneCluster, start_standalone_cluster
from pipeline_testkit._connect import ConnectServer, start_connect_server
from pipeline_testkit._files import write_one_file
from pipeline_testkit._readme import (
    ReadmeExample,
    ReadmeExampleError,
    readme_examples,
    run_readme_examples,
)
from pipeline_testkit._s3 import S3Server, start_s3_server
from pipeline_testkit._spark import (
    SPARK_MODE_ENV,
    SparkMode,
    delta_maven_coordinate,
    local_spark_session,
    require_spark_extra,
    small_conf,
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
    port_open,
    start_server,
)

__version__ = version("pipeline-testkit")

__all__ = [
    "SPARK_MODE_ENV",
    "BenchScale",
    "Comparison",
    "ConnectServer",
    "DeltaJarsUnavailableError",
    "ReadmeExample",
    "ReadmeExampleError",
    "RunningServer",
    "S3Server",
    "ServerBinaryMissingError",
    "ServerStartError",
    "SparkExtraMissingError",
    "SparkMode",
    "StandaloneCluster",
    "__version__",
    "bench_scale",
    "delta_maven_coordinate",
    "find_binary",
    "free_port",
    "local_spark_session",
    "port_open",
    "readme_examples",
    "require_spark_extra",
    "run_readme_examples",
    "scaled",
    "small_conf",
    "start_connect_server",
    "start_s3_server",
    "start_server",
    "start_standalone_cluster",
    "write_one_file",
]
