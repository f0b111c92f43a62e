from pathlib import Path

import pytest

from etl_app import SparkUnavailableError, _spark
from etl_app._config import SparkConfig


class TestJarConf:
    def test_default_resolves_delta_from_maven_into_the_shared_ivy_cache(
        self, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
    ) -> None:
        """Without DELTA_JARS_DIR the Delta coordinate is resolved into DELTA_IVY_DIR."""
        monkeypatch.delenv(_spark.JARS_DIR_ENV, raising=False)
        monkeypatch.setenv(_spark.IVY_DIR_ENV, str(tmp_path))
        conf = _spark.jar_conf()
        assert conf == {
            "spark.jars.packages": _spark.delta_maven_coordinate(),
            "spark.jars.ivy": str(tmp_path),
        }

    def test_coordinate_matches_installed_pyspark_and_delta(self) -> None:
        """The coordinate pairs the installed pyspark minor version with delta-spark's version."""
        import importlib.metadata

        import pyspark

        minor = ".".join(pyspark.__version__.split(".")[:2])
        delta = importlib.metadata.version("delta-spark")
        assert _spark.delta_maven_coordinate() == f"io.delta:delta-spark_{minor}_2.13:{delta}"

    def test_default_ivy_dir_is_the_testkit_cache(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Tests and the app share ~/.cache/pipeline-testkit/ivy, so jars download once."""
        monkeypatch.delenv(_spark.JARS_DIR_ENV, raising=False)
        monkeypatch.delenv(_spark.IVY_DIR_ENV, raising=False)
        expected = Path.home() / ".cache" / "pipeline-testkit" / "ivy"
        assert _spark.jar_conf()["spark.jars.ivy"] == str(expected)

    def test_local_jars_folder_is_used_as_is(
        self, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
    ) -> None:
        """DELTA_JARS_DIR with a delta-spark jar puts every jar there on the classpath."""
        for name in ("io.delta_delta-spark_2.13-4.4.0.jar", "other.jar"):
            (tmp_path / name).write_bytes(b"")
        monkeypatch.setenv(_spark.JARS_DIR_ENV, str(tmp_path))
        jars = _spark.jar_conf()["spark.jars"].split(",")
        assert [Path(j).name for j in jars] == ["io.delta_delta-spark_2.13-4.4.0.jar", "other.jar"]

    def test_jars_folder_without_delta_is_refused(
        self, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
    ) -> None:
        """A DELTA_JARS_DIR lacking delta-spark fails with the artifact and the fix named."""
        monkeypatch.setenv(_spark.JARS_DIR_ENV, str(tmp_path))
        with pytest.raises(SparkUnavailableError, match="holds no delta-spark jar"):
            _spark.jar_conf()


class TestUnavailableMessage:
    def test_missing_java_says_install_java(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """With no java and no JAVA_HOME the message says to install Java 17."""
        monkeypatch.setattr(_spark.shutil, "which", lambda _: None)
        monkeypatch.delenv("JAVA_HOME", raising=False)
        assert "Install Java 17" in _spark.unavailable_message(RuntimeError("boom"))

    def test_jar_problem_names_coordinate_and_offline_fix(
        self, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
    ) -> None:
        """A jar failure names the coordinate, the source and DELTA_JARS_DIR as the fix."""
        monkeypatch.setenv(_spark.JARS_DIR_ENV, str(tmp_path))
        message = _spark.unavailable_message(RuntimeError("ClassNotFound: x\nmore"))
        assert _spark.delta_maven_coordinate() in message
        assert f"{_spark.JARS_DIR_ENV}={tmp_path}" in message
        assert "ClassNotFound: x" in message
        assert "more" not in message
        monkeypatch.delenv(_spark.JARS_DIR_ENV)
        assert "Maven Central" in _spark.unavailable_message(RuntimeError(""))


class TestBuildSession:
    def test_start_failure_becomes_spark_unavailable(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Any failure to start Spark is turned into SparkUnavailableError with guidance."""
        from pyspark.sql import SparkSession

        def fail(self: object) -> None:
            raise RuntimeError("Java gateway process exited")

        monkeypatch.setattr(type(SparkSession.builder), "getOrCreate", fail)
        with pytest.raises(SparkUnavailableError, match="could not start") as info:
            _spark.build_spark_session(SparkConfig())
        assert info.value.exit_code == 3
