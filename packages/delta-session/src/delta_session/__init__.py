"""Get a working Spark session with Delta Lake: local, on a cluster, or over Spark Connect.

One job: pick the Delta jar Maven Central really serves for the installed pyspark /
delta-spark pair (or refuse a pair that cannot work, naming the versions to install), put it
(and extra packages such as ``hadoop-aws`` for ``s3a://``) on the classpath from Maven through
a reused Ivy cache or from a local folder (``DELTA_JARS_DIR``), keep the JVM's start-up output
in a log file, and turn a failed start into an error that says why.
"""

from importlib.metadata import version

from delta_session._builders import (
    CONNECT_TOKEN_ENV,
    cluster_session,
    connect_server_command,
    connect_session,
    connect_url,
    local_session,
)
from delta_session._conf import (
    DEFAULT_IVY_DIR,
    IVY_DIR_ENV,
    JARS_DIR_ENV,
    delta_conf,
    jar_conf,
)
from delta_session._diagnose import LOG_FILE_ENV, explain_start_failure
from delta_session._s3 import s3a_conf
from delta_session._versions import DELTA_JARS, delta_coordinate, hadoop_aws_coordinate
from delta_session.errors import (
    ArtifactNotFoundError,
    DeltaSessionError,
    IncompatibleVersionsError,
    JarsDirError,
    JavaNotFoundError,
    MavenUnreachableError,
    SessionStartError,
)

__version__ = version("delta-session")

__all__ = [
    "CONNECT_TOKEN_ENV",
    "DEFAULT_IVY_DIR",
    "DELTA_JARS",
    "IVY_DIR_ENV",
    "JARS_DIR_ENV",
    "LOG_FILE_ENV",
    "ArtifactNotFoundError",
    "DeltaSessionError",
    "IncompatibleVersionsError",
    "JarsDirError",
    "JavaNotFoundError",
    "MavenUnreachableError",
    "SessionStartError",
    "__version__",
    "cluster_session",
    "connect_server_command",
    "connect_session",
    "connect_url",
    "delta_conf",
    "delta_coordinate",
    "explain_start_failure",
    "hadoop_aws_coordinate",
    "jar_conf",
    "local_session",
    "s3a_conf",
]
