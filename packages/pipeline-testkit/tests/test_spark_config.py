"""Jar resolution settings and the error a user sees when the Delta jars are missing."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline_testkit import DeltaJarsUnavailableError, delta_maven_coordinate
from pipeline_testkit._spark import _jar_conf, _unavailable_message


class TestJarResolution:
    def test_coordinate_matches_installed_versions(self) -> None:
        """The Maven coordinate names the pyspark minor version and the delta-spark version."""
        import importlib.metadata

        import pyspark

        minor = ".".join(pyspark.__version__.split(".")[:2])
        delta = importlib.metadata.version("delta-spark")
        assert delta_maven_coordinate() == f"io.delta:delta-spark_{minor}_2.13:{delta}"

    def test_default_resolves_from_maven_into_ivy_cache(
        self, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
    ) -> None:
        """Without a jars folder, Spark resolves the coordinate into the configured Ivy cache."""
        monkeypatch.delenv("DELTA_JARS_DIR", raising=False)
        monkeypatch.setenv("DELTA_IVY_DIR", str(tmp_path / "ivy"))
        conf = _jar_conf()
        assert conf == {
            "spark.jars.packages": delta_maven_coordinate(),
            "spark.jars.ivy": str(tmp_path / "ivy"),
        }

    def test_jars_dir_is_used_when_set(
        self, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
    ) -> None:
        """A DELTA_JARS_DIR with the delta-spark jar replaces Maven resolution by local files."""
        for name in ("io.delta_delta-spark_4.2_2.13-4.4.0.jar", "b-dep.jar"):
            (tmp_path / name).write_bytes(b"")
        monkeypatch.setenv("DELTA_JARS_DIR", str(tmp_path))
        conf = _jar_conf()
        assert set(conf) == {"spark.jars"}
        assert conf["spark.jars"].split(",") == [
            str(tmp_path / "b-dep.jar"),
            str(tmp_path / "io.delta_delta-spark_4.2_2.13-4.4.0.jar"),
        ]

    def test_jars_dir_without_delta_jar_names_the_artifact(
        self, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
    ) -> None:
        """A jars folder lacking delta-spark is refused with the artifact and the fix named."""
        (tmp_path / "other.jar").write_bytes(b"")
        monkeypatch.setenv("DELTA_JARS_DIR", str(tmp_path))
        with pytest.raises(DeltaJarsUnavailableError) as err:
            _jar_conf()
        assert delta_maven_coordinate() in str(err.value)
        assert "DELTA_JARS_DIR" in str(err.value)

    def test_failure_message_names_artifact_and_local_jars_option(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """When Spark cannot start, the message names the artifact and how to use local jars."""
        monkeypatch.delenv("DELTA_JARS_DIR", raising=False)
        message = _unavailable_message(RuntimeError("gateway exited"))
        assert delta_maven_coordinate() in message
        assert "DELTA_JARS_DIR=" in message
        assert "gateway exited" in message

    def test_failure_message_without_java(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """With no java on PATH and no JAVA_HOME, the message says to install Java 17."""
        monkeypatch.setenv("PATH", "/nonexistent")
        monkeypatch.delenv("JAVA_HOME", raising=False)
        assert "Install Java 17" in _unavailable_message(RuntimeError("x"))
