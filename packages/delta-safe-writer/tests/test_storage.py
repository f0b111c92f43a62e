"""Storage failures (no JVM): which endpoint an error names, and that secrets never show."""

from __future__ import annotations

from typing import Any

import pytest

from delta_safe_writer import StorageUnavailableError, storage_error
from delta_safe_writer._storage import endpoint_for

SECRET = "s3cr3t-value-never-shown"


class FakeConf:
    """The slice of ``spark.conf`` the storage module reads."""

    def __init__(self, values: dict[str, str]) -> None:
        self.values = values

    def get(self, key: str, default: Any = None) -> Any:
        """The setting, or ``default``."""
        return self.values.get(key, default)


class FakeSpark:
    """A session with only settings."""

    def __init__(self, **values: str) -> None:
        self.conf = FakeConf(dict(values))


def _refused(text: str) -> Exception:
    """An exception like a Py4J one whose JVM cause is a storage client failure."""
    outer = RuntimeError("An error occurred while calling o123.save")
    outer.__cause__ = OSError(text)
    return outer


class TestEndpointFor:
    """The endpoint an error names comes from the session's settings for that location."""

    def test_per_bucket_endpoint_wins(self) -> None:
        """fs.s3a.bucket.<b>.endpoint beats the global fs.s3a.endpoint."""
        spark = FakeSpark(
            **{
                "fs.s3a.bucket.raw.endpoint": "http://minio:9000",
                "spark.hadoop.fs.s3a.endpoint": "http://global:9000",
            }
        )
        assert endpoint_for(spark, "s3a://raw/t") == "http://minio:9000"  # type: ignore[arg-type]
        assert endpoint_for(spark, "s3a://other/t") == "http://global:9000"  # type: ignore[arg-type]

    def test_aws_default_names_the_bucket(self) -> None:
        """Without an endpoint setting the AWS default is said, with the bucket."""
        assert "bucket lake" in endpoint_for(FakeSpark(), "s3://lake/t")  # type: ignore[arg-type]

    def test_other_schemes_name_their_authority(self) -> None:
        """abfss:// and gs:// name the URI's account/bucket; plain paths are local."""
        spark: Any = FakeSpark()
        uri = "abfss://c@acct.dfs.core.windows.net/t"
        assert endpoint_for(spark, uri) == "abfss://c@acct.dfs.core.windows.net"
        assert endpoint_for(spark, "gs://bucket/t") == "gs://bucket"
        assert endpoint_for(spark, "/data/lake/t") == "the local filesystem"
        assert endpoint_for(spark, "file:///data/t") == "the local filesystem"


class TestStorageError:
    """Storage client failures become StorageUnavailableError; others are left alone."""

    def test_connection_refused_is_typed_with_the_endpoint(self) -> None:
        """A refused connection names the configured endpoint and says nothing committed."""
        spark: Any = FakeSpark(**{"spark.hadoop.fs.s3a.endpoint": "http://127.0.0.1:9"})
        exc = _refused(
            "org.apache.hadoop.fs.s3a.AWSClientIOException: getFileStatus on s3a://b/t: "
            "Unable to execute HTTP request: Connect to 127.0.0.1:9 failed: Connection refused"
        )

        error = storage_error(exc, spark=spark, operation="merge", table="s3a://b/t")

        assert isinstance(error, StorageUnavailableError)
        assert error.endpoint == "http://127.0.0.1:9"
        assert (error.table, error.operation) == ("s3a://b/t", "merge")
        assert "Connection refused" in error.reason
        assert "nothing was committed" in str(error)

    def test_secrets_in_the_client_message_are_removed(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Credential values from the environment or settings never reach the error."""
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
        spark: Any = FakeSpark(**{"spark.hadoop.fs.s3a.access.key": "AKIAEXAMPLEKEY"})
        exc = _refused(
            f"java.nio.file.AccessDeniedException: s3a://b/t: 403 Forbidden for key "
            f"AKIAEXAMPLEKEY signed with {SECRET}"
        )

        error = storage_error(exc, spark=spark, operation="append", table="s3a://b/t")

        assert error is not None
        assert SECRET not in str(error)
        assert SECRET not in error.reason
        assert "AKIAEXAMPLEKEY" not in str(error)
        assert "***" in error.reason

    def test_other_failures_are_not_storage_errors(self) -> None:
        """A failure without a storage client's signature is left to the caller."""
        exc = _refused("[DIVIDE_BY_ZERO] Division by zero.")
        assert storage_error(exc, spark=FakeSpark(), operation="append", table="/t") is None  # type: ignore[arg-type]
