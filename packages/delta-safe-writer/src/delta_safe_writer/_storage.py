"""Storage failures (object store unreachable, credentials refused) as a typed error.

Hadoop's object-store clients (S3A, ABFS, the GCS connector) report these as Java exceptions
that Spark does not give an error class, so the only public view of them is the text of the
failure chain (classic and Connect sessions alike): the client exception's class name and the
HTTP client's message. The error names the endpoint the session is configured to use, read
from the session's settings (``spark.conf``, which works over Spark Connect too), and never a
credential: known secret values are removed from the client's message before it is quoted.
"""

from __future__ import annotations

import os
import re
from typing import TYPE_CHECKING
from urllib.parse import urlparse

from delta_safe_writer._classify import chain
from delta_safe_writer.errors import StorageUnavailableError

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

#: Text of a storage client failure: unreachable or silent endpoint, refused credentials.
_STORAGE_FAILURE = re.compile(
    r"java\.net\.ConnectException|Connection refused|UnknownHostException|"
    r"Unable to execute HTTP request|ConnectTimeoutException|SocketTimeoutException|"
    r"ApiCallTimeoutException|ApiCallAttemptTimeoutException|AWSClientIOException|"
    r"NoAuthWithAWSException|InvalidAccessKeyId|SignatureDoesNotMatch|"
    r"AccessDeniedException|403 Forbidden|AbfsRestOperationException|"
    r"GoogleJsonResponseException"
)
_S3_SCHEMES = {"s3a", "s3", "s3n"}
#: Session settings holding credentials: their values never reach a message.
_SECRET_CONFS = ("fs.s3a.secret.key", "fs.s3a.session.token", "fs.s3a.access.key")
_SECRET_ENV = ("AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_ACCESS_KEY_ID")
_DEFAULT_ENDPOINT = "default for the scheme"


def _conf(spark: SparkSession, key: str) -> str | None:
    """A session setting as set at runtime (``key``) or at launch (``spark.hadoop.key``)."""
    for name in (key, f"spark.hadoop.{key}"):
        try:
            value = spark.conf.get(name, None)
        except Exception:  # a Connect server refusing to answer: fall back to the default
            value = None
        if value:
            return str(value)
    return None


def endpoint_for(spark: SparkSession, location: str) -> str:
    """The storage endpoint the session uses for ``location``.

    For ``s3a://bucket/...`` the per-bucket ``fs.s3a.bucket.<bucket>.endpoint`` or else
    ``fs.s3a.endpoint`` (runtime or ``spark.hadoop.`` settings); for other URIs (``abfss://``,
    ``gs://``, ``hdfs://``) the URI's authority; a plain path is the local filesystem.
    """
    parsed = urlparse(location)
    scheme = parsed.scheme.lower()
    if scheme in _S3_SCHEMES:
        bucket = parsed.netloc
        return (
            _conf(spark, f"fs.s3a.bucket.{bucket}.endpoint")
            or _conf(spark, "fs.s3a.endpoint")
            or f"{_DEFAULT_ENDPOINT} (AWS S3, bucket {bucket})"
        )
    if len(scheme) > 1 and scheme != "file":
        return f"{scheme}://{parsed.netloc}" if parsed.netloc else _DEFAULT_ENDPOINT
    return "the local filesystem"


def _redact(text: str, spark: SparkSession, location: str) -> str:
    """``text`` with every known credential value replaced by ``***``."""
    secrets = [os.environ.get(name) for name in _SECRET_ENV]
    bucket = urlparse(location).netloc
    for key in _SECRET_CONFS:
        secrets.append(_conf(spark, key))
        if bucket:
            secrets.append(_conf(spark, key.replace("fs.s3a.", f"fs.s3a.bucket.{bucket}.", 1)))
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, "***")
    return text


def storage_error(
    exc: BaseException, *, spark: SparkSession, operation: str, table: str
) -> StorageUnavailableError | None:
    """The typed error when ``exc`` is a storage client failure, else None.

    The writer raises it for its own operations. Callers classify their own reads and
    writes of the same locations with it (for example listing input files on ``s3a://``).

    Args:
        exc: What the Delta action or a read of the table (or location) raised.
        spark: The session (its settings give the endpoint and the secrets to hide).
        operation: The operation that failed, for the message.
        table: The table path or location, as the caller gave it (its scheme and bucket
            pick the endpoint).

    Returns:
        A :class:`StorageUnavailableError` naming the endpoint and the client's reason
        (credentials removed), or None when ``exc`` is not a storage failure.
    """
    for failure in chain(exc):
        text = f"{failure.message}\n{failure.exception}"
        match = _STORAGE_FAILURE.search(text)
        if match is None:
            continue
        line = next(
            (part.strip() for part in text.splitlines() if _STORAGE_FAILURE.search(part)),
            match.group(0),
        )
        reason = _redact(line, spark, table)[:500]
        endpoint = endpoint_for(spark, table)
        return StorageUnavailableError(
            f"{operation} on table {table} failed: its storage endpoint {endpoint} could not "
            f"be reached or refused the request ({reason}). Delta commits last, so nothing "
            f"was committed and the table is as it was. Check the endpoint, the network path "
            f"to it and the credentials the session uses (for s3a: fs.s3a.endpoint, "
            f"AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY), then retry the same call.",
            table=table,
            operation=operation,
            endpoint=endpoint,
            reason=reason,
        )
    return None
