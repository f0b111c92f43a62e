"""Settings for ``s3a://`` paths (Hadoop's S3A client, from ``hadoop-aws``)."""

from __future__ import annotations

#: S3A reads the key pair from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (never from conf).
ENV_CREDENTIALS = "software.amazon.awssdk.auth.credentials.EnvironmentVariableCredentialsProvider"


def s3a_conf(
    endpoint: str | None = None,
    *,
    region: str = "us-east-1",
    path_style_access: bool | None = None,
    credentials_from_env: bool = True,
) -> dict[str, str]:
    """Return the Spark settings for reading and writing ``s3a://bucket/...`` paths.

    Pass them as ``conf`` together with ``packages=[hadoop_aws_coordinate()]`` (the S3A
    client is not in pyspark). The secret never goes into Spark's configuration: with
    ``credentials_from_env`` S3A reads ``AWS_ACCESS_KEY_ID`` / ``AWS_SECRET_ACCESS_KEY`` (and
    ``AWS_SESSION_TOKEN``) from the environment of the driver and of each executor.

    Args:
        endpoint: An S3-compatible server such as ``http://127.0.0.1:9000`` (MinIO, moto,
            Ceph); None for AWS S3 itself.
        region: Signing region; set explicitly so the AWS SDK never asks an instance
            metadata service for it.
        path_style_access: ``http://host/bucket/key`` addressing; default True with an
            ``endpoint`` (most S3-compatible servers need it), else S3A's default.
        credentials_from_env: Use only the environment variables for credentials; False keeps
            S3A's default chain (which includes instance roles on EC2 / EKS).

    Returns:
        ``spark.hadoop.fs.s3a.*`` settings.
    """
    conf = {"spark.hadoop.fs.s3a.endpoint.region": region}
    if credentials_from_env:
        conf["spark.hadoop.fs.s3a.aws.credentials.provider"] = ENV_CREDENTIALS
    if endpoint is not None:
        conf["spark.hadoop.fs.s3a.endpoint"] = endpoint
        conf["spark.hadoop.fs.s3a.connection.ssl.enabled"] = str(
            endpoint.startswith("https://")
        ).lower()
        if path_style_access is None:
            path_style_access = True
    if path_style_access is not None:
        conf["spark.hadoop.fs.s3a.path.style.access"] = str(path_style_access).lower()
    return conf
