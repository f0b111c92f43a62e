"""A real S3 API server on 127.0.0.1 (moto's server mode) for ``s3a://`` tests.

moto (``pipeline-testkit[s3]``) runs as a child process started and stopped by PID through
:func:`pipeline_testkit.servers.start_server`; it speaks the S3 wire protocol, so Hadoop's S3A
client (hadoop-aws) talks to it exactly as to AWS. The credentials are random per run, given to
Spark through the environment and never written to a log or a Spark setting.
"""

from __future__ import annotations

import secrets
import sys
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from pipeline_testkit.servers import RunningServer, start_server

#: Bucket created on start.
DEFAULT_BUCKET = "lake"


def _moto_missing() -> str | None:
    try:
        import moto.server  # noqa: F401
    except ModuleNotFoundError as exc:
        return (
            f"The S3 test server needs moto's server mode, but {exc.name!r} is not installed. "
            "Declare 'pipeline-testkit[spark,s3]' in this package's dev dependency group and "
            "run 'uv lock'."
        )
    return None


@dataclass(frozen=True)
class S3Server:
    """A running S3 API server with one bucket.

    Attributes:
        server: The process (``pid``, ``log_path``, ``stop()``).
        bucket: The bucket created at start.
        env: ``AWS_*`` variables for the S3A client (dummy key pair, region); not in ``repr``.
    """

    server: RunningServer
    bucket: str
    env: Mapping[str, str] = field(repr=False)

    @property
    def endpoint(self) -> str:
        """``http://127.0.0.1:<port>``."""
        return self.server.url

    def url(self, *parts: str) -> str:
        """Return ``s3a://<bucket>/<parts...>``."""
        return "/".join([f"s3a://{self.bucket}", *(p.strip("/") for p in parts)])

    def spark_conf(self) -> dict[str, str]:
        """Spark settings pointing S3A at this server (path-style, plain HTTP, env credentials)."""
        from delta_session import s3a_conf

        return s3a_conf(self.endpoint)

    def create_bucket(self, name: str) -> None:
        """Create another bucket."""
        request = urllib.request.Request(f"{self.endpoint}/{name}", method="PUT")
        with urllib.request.urlopen(request, timeout=30) as response:
            response.read()

    def put(self, key: str, body: bytes) -> None:
        """Store ``body`` as object ``key`` of the bucket (a PutObject call), e.g. an input file."""
        from urllib.parse import quote

        url = f"{self.endpoint}/{self.bucket}/{quote(key.lstrip('/'))}"
        # An explicit type: urllib's default for a body (a form) makes the server parse it
        # as form fields and store an empty object.
        headers = {"Content-Type": "application/octet-stream"}
        request = urllib.request.Request(url, data=body, method="PUT", headers=headers)
        with urllib.request.urlopen(request, timeout=30) as response:
            response.read()

    def keys(self, prefix: str = "") -> list[str]:
        """Return the object keys in the bucket under ``prefix`` (a ListObjectsV2 call)."""
        import re
        from urllib.parse import quote

        query = f"list-type=2&max-keys=1000&prefix={quote(prefix)}"
        with urllib.request.urlopen(f"{self.endpoint}/{self.bucket}?{query}", timeout=30) as r:
            body = r.read().decode("utf-8")
        return re.findall(r"<Key>([^<]+)</Key>", body)

    def stop(self) -> None:
        """Stop the server process by its PID."""
        self.server.stop()


def start_s3_server(
    log_dir: Path, *, bucket: str = DEFAULT_BUCKET, timeout: float = 120.0
) -> S3Server:
    """Start moto's S3 server on a free 127.0.0.1 port and create ``bucket``.

    Args:
        log_dir: Folder for the server's log.
        bucket: Bucket to create.
        timeout: Seconds to wait for the server to answer.

    Returns:
        The running server; call ``stop()`` (or use the ``s3_server`` fixture).

    Raises:
        ModuleNotFoundError: moto is not installed (the message says what to declare).
        pipeline_testkit.ServerStartError: The server did not start.
    """
    missing = _moto_missing()
    if missing is not None:
        raise ModuleNotFoundError(missing, name="moto")

    def args(address: str) -> list[str]:
        host, port = address.rsplit(":", 1)
        return ["-m", "moto.server", "-H", host, "-p", port]

    server = start_server(
        sys.executable,
        args,
        log_dir=log_dir,
        ready_path="/",
        timeout=timeout,
    )
    env = {
        "AWS_ACCESS_KEY_ID": f"testkit{secrets.token_hex(4)}",
        "AWS_SECRET_ACCESS_KEY": secrets.token_hex(20),
        "AWS_REGION": "us-east-1",
        # Never ask an instance metadata service for credentials or region.
        "AWS_EC2_METADATA_DISABLED": "true",
    }
    s3 = S3Server(server, bucket, env)
    try:
        s3.create_bucket(bucket)
    except BaseException:
        server.stop()
        raise
    return s3
