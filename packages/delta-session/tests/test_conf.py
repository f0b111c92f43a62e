"""Where the jars come from (Maven through Ivy, or a local folder) and the settings built on it."""

from __future__ import annotations

from pathlib import Path

import pytest

from delta_session import (
    DEFAULT_IVY_DIR,
    IVY_DIR_ENV,
    JARS_DIR_ENV,
    JarsDirError,
    delta_conf,
    delta_coordinate,
    hadoop_aws_coordinate,
    jar_conf,
    s3a_conf,
)
from delta_session import _versions as versions

DELTA_JAR = "io.delta_delta-spark_4.2_2.13-4.4.0.jar"


@pytest.fixture
def no_jars_dir(monkeypatch: pytest.MonkeyPatch) -> None:
    """Resolve from Maven (no DELTA_JARS_DIR) into the default Ivy cache."""
    monkeypatch.delenv(JARS_DIR_ENV, raising=False)
    monkeypatch.delenv(IVY_DIR_ENV, raising=False)


def jars_folder(folder: Path, *names: str) -> Path:
    """Make a folder holding empty files with these jar names."""
    folder.mkdir(exist_ok=True)
    for name in names:
        (folder / name).write_bytes(b"")
    return folder


@pytest.mark.usefixtures("no_jars_dir")
class TestFromMaven:
    """Without DELTA_JARS_DIR the coordinates are resolved from Maven into a reused Ivy cache."""

    def test_default_ivy_cache_is_the_shared_one(self) -> None:
        """The default cache is the one the workspace's tests already keep warm."""
        assert Path.home() / ".cache" / "pipeline-testkit" / "ivy" == DEFAULT_IVY_DIR
        assert jar_conf() == {
            "spark.jars.packages": delta_coordinate(),
            "spark.jars.ivy": str(DEFAULT_IVY_DIR),
        }

    def test_ivy_dir_and_packages(self, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
        """DELTA_IVY_DIR moves the cache; extra packages follow the Delta coordinate."""
        monkeypatch.setenv(IVY_DIR_ENV, str(tmp_path / "ivy"))
        conf = jar_conf([hadoop_aws_coordinate()])
        assert conf["spark.jars.ivy"] == str(tmp_path / "ivy")
        assert conf["spark.jars.packages"].split(",") == [
            delta_coordinate(),
            "org.apache.hadoop:hadoop-aws:3.5.0",
        ]


class TestFromJarsDir:
    """With DELTA_JARS_DIR every jar there goes on the classpath, after a completeness check."""

    def test_all_jars_of_the_folder_are_used(
        self, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
    ) -> None:
        """A folder with the delta-spark jar puts all its jars, sorted, into spark.jars."""
        folder = jars_folder(tmp_path / "jars", DELTA_JAR, "b-dep.jar", "notes.txt")
        monkeypatch.setenv(JARS_DIR_ENV, str(folder))
        assert jar_conf() == {
            "spark.jars": f"{folder / 'b-dep.jar'},{folder / DELTA_JAR}",
        }

    def test_missing_delta_jar_names_artifact_and_fix(
        self, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
    ) -> None:
        """A folder without a delta-spark jar is refused, naming the artifact and both fixes."""
        folder = jars_folder(tmp_path / "jars", "other.jar")
        monkeypatch.setenv(JARS_DIR_ENV, str(folder))
        with pytest.raises(JarsDirError) as err:
            jar_conf()
        message = str(err.value)
        assert f"{JARS_DIR_ENV}={folder} holds no delta-spark jar ({delta_coordinate()})" in message
        assert f"unset {JARS_DIR_ENV}" in message

    def test_missing_extra_package_is_named(
        self, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
    ) -> None:
        """An extra package (hadoop-aws) without its jar in the folder is named."""
        folder = jars_folder(tmp_path / "jars", DELTA_JAR)
        monkeypatch.setenv(JARS_DIR_ENV, str(folder))
        with pytest.raises(
            JarsDirError, match=r"holds no hadoop-aws jar \(org.apache.hadoop:hadoop-aws"
        ):
            jar_conf([hadoop_aws_coordinate()])
        jars_folder(folder, "hadoop-aws-3.5.0.jar")
        assert "hadoop-aws-3.5.0.jar" in jar_conf([hadoop_aws_coordinate()])["spark.jars"]

    def test_jars_decide_when_the_pip_pair_has_no_maven_jar(
        self, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
    ) -> None:
        """Offline, a pip pair without a Maven jar is not refused: the folder's jars are used."""
        monkeypatch.setattr(versions, "installed_versions", lambda: ("4.2.0", "4.4.1"))
        folder = jars_folder(tmp_path / "jars", DELTA_JAR)
        monkeypatch.setenv(JARS_DIR_ENV, str(folder))
        assert jar_conf() == {"spark.jars": str(folder / DELTA_JAR)}
        monkeypatch.setenv(JARS_DIR_ENV, str(jars_folder(tmp_path / "empty")))
        with pytest.raises(JarsDirError, match=r"delta-spark jar \(the delta-spark jar matching"):
            jar_conf()


@pytest.mark.usefixtures("no_jars_dir")
class TestDeltaConf:
    """The full settings: Delta's extension and catalog, the jars, then the caller's settings."""

    def test_extension_catalog_and_jars(self) -> None:
        """Without a caller's settings: extension, catalog and the jar settings."""
        assert delta_conf() == {
            "spark.sql.extensions": "io.delta.sql.DeltaSparkSessionExtension",
            "spark.sql.catalog.spark_catalog": "org.apache.spark.sql.delta.catalog.DeltaCatalog",
            **jar_conf(),
        }

    def test_caller_lists_are_added_and_other_settings_win(self) -> None:
        """Packages and extensions are appended (no duplicates); any other key is replaced."""
        conf = delta_conf(
            conf={
                "spark.jars.packages": f"g:a:1,{delta_coordinate()}",
                "spark.sql.extensions": "com.example.Ext",
                "spark.sql.catalog.spark_catalog": "com.example.Catalog",
                "spark.app.name": "mine",
            }
        )
        assert conf["spark.jars.packages"] == f"{delta_coordinate()},g:a:1"
        assert conf["spark.sql.extensions"] == (
            "io.delta.sql.DeltaSparkSessionExtension,com.example.Ext"
        )
        assert conf["spark.sql.catalog.spark_catalog"] == "com.example.Catalog"
        assert conf["spark.app.name"] == "mine"

    def test_caller_jars_without_ours_are_taken_as_given(self) -> None:
        """A list setting we do not set ourselves (spark.jars here) is the caller's value."""
        assert delta_conf(conf={"spark.jars": "/x.jar"})["spark.jars"] == "/x.jar"


class TestS3aConf:
    """Settings for s3a:// on AWS or an S3-compatible server; the secret stays out of them."""

    def test_local_server(self) -> None:
        """An http endpoint gets path-style access, no TLS, a fixed region, env credentials."""
        assert s3a_conf("http://127.0.0.1:9000") == {
            "spark.hadoop.fs.s3a.endpoint.region": "us-east-1",
            "spark.hadoop.fs.s3a.aws.credentials.provider": (
                "software.amazon.awssdk.auth.credentials.EnvironmentVariableCredentialsProvider"
            ),
            "spark.hadoop.fs.s3a.endpoint": "http://127.0.0.1:9000",
            "spark.hadoop.fs.s3a.connection.ssl.enabled": "false",
            "spark.hadoop.fs.s3a.path.style.access": "true",
        }

    def test_aws_itself_keeps_s3a_defaults(self) -> None:
        """Without an endpoint nothing about addressing or TLS is set; the default chain stays."""
        assert s3a_conf(region="eu-west-1", credentials_from_env=False) == {
            "spark.hadoop.fs.s3a.endpoint.region": "eu-west-1",
        }

    def test_tls_endpoint_with_virtual_hosts(self) -> None:
        """An https endpoint keeps TLS on; path-style can be turned off explicitly."""
        conf = s3a_conf("https://s3.example.com", path_style_access=False)
        assert conf["spark.hadoop.fs.s3a.connection.ssl.enabled"] == "true"
        assert conf["spark.hadoop.fs.s3a.path.style.access"] == "false"
