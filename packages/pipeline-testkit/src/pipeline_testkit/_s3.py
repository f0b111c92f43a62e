"""A real S3 API server on 127.0.0.1 (moto's server mode) for ``s3a://`` tests.

moto (``pipeline-testkit[s3]``) runs as a child process started and stopped by PID through
:func:`pipeline_testkit.servers.start_server`; it speaks the S3 wire protocol, so Hadoop's S3A
client (hadoop-aws) talks to it exactly as to AWS. The credentials are random per run, given to
Spark through the environment and never written to a log or a Spark setting.
"""

from __future__ import annotations

import json
import secrets
import sys
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

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
        self._client("s3").create_bucket(Bucket=name)

    def put(self, key: str, body: bytes) -> None:
        """Store ``body`` as object ``key`` of the bucket (a PutObject call), e.g. an input file."""
        self._client("s3").put_object(Bucket=self.bucket, Key=key.lstrip("/"), Body=body)

    def keys(self, prefix: str = "") -> list[str]:
        """Return the object keys in the bucket under ``prefix`` (ListObjectsV2 calls)."""
        pages = self._client("s3").get_paginator("list_objects_v2")
        return [
            item["Key"]
            for page in pages.paginate(Bucket=self.bucket, Prefix=prefix)
            for item in page.get("Contents", [])
        ]

    def require_credentials(self) -> S3Server:
        """Make the server refuse every request not signed with a key pair it issued.

        Creates an IAM user allowed everything and an access key for it, then turns on moto's
        request authentication for the whole server: from then on a request signed with any
        other key pair (this server's ``env`` included) is refused with ``InvalidAccessKeyId``,
        and a wrong secret with ``SignatureDoesNotMatch``, as AWS does.

        Returns:
            The same running server, its ``env`` holding the issued key pair.
        """
        iam = self._client("iam")
        user = f"testkit-{secrets.token_hex(4)}"
        iam.create_user(UserName=user)
        allow_all = {"Effect": "Allow", "Action": "*", "Resource": "*"}
        document = json.dumps({"Version": "2012-10-17", "Statement": [allow_all]})
        policy = iam.create_policy(PolicyName=f"{user}-all", PolicyDocument=document)
        iam.attach_user_policy(UserName=user, PolicyArn=policy["Policy"]["Arn"])
        issued = iam.create_access_key(UserName=user)["AccessKey"]
        # moto's switch: authenticate every request after the next 0 (its own admin API).
        request = urllib.request.Request(
            f"{self.endpoint}/moto-api/reset-auth",
            data=b"0",
            method="POST",
            headers={"Content-Type": "text/plain"},
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            response.read()
        env = {
            **self.env,
            "AWS_ACCESS_KEY_ID": issued["AccessKeyId"],
            "AWS_SECRET_ACCESS_KEY": issued["SecretAccessKey"],
        }
        return replace(self, env=env)

    def _client(self, service: str) -> Any:
        """A boto3 client of this server signing with ``env``'s key pair (moto brings boto3)."""
        import boto3  # type: ignore[import-untyped]  # moto brings it, with no type stubs

        return boto3.client(
            service,
            endpoint_url=self.endpoint,
            region_name=self.env["AWS_REGION"],
            aws_access_key_id=self.env["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=self.env["AWS_SECRET_ACCESS_KEY"],
        )

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
