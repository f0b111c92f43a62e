"""The Delta jar chosen for a pyspark / delta-spark pair; pairs that cannot work are refused."""

from __future__ import annotations

import importlib.metadata
from pathlib import Path

import pytest

from delta_session import (
    DELTA_JARS,
    IncompatibleVersionsError,
    SessionStartError,
    delta_coordinate,
    hadoop_aws_coordinate,
)
from delta_session import _versions as versions

SPARK_MINORS = ("4.0", "4.1", "4.2", "4.3")
SERVED = [(delta, spark) for delta, sparks in DELTA_JARS.items() for spark in sparks]
NOT_SERVED = [
    (delta, spark)
    for delta, sparks in DELTA_JARS.items()
    for spark in SPARK_MINORS
    if spark not in sparks
]


class TestDeltaCoordinate:
    """Each pair gets the artifact Maven Central serves, named as Delta's own pip helper does."""

    def test_installed_pair(self) -> None:
        """The locked pyspark 4.2.0 / delta-spark 4.4.0 get the Spark-4.2 build of Delta 4.4.0."""
        assert importlib.metadata.version("pyspark") == "4.2.0"
        assert delta_coordinate() == "io.delta:delta-spark_4.2_2.13:4.4.0"

    @pytest.mark.parametrize(("delta", "spark"), SERVED)
    def test_every_served_pair_has_its_spark_build(self, delta: str, spark: str) -> None:
        """Pairs in the table resolve: a Spark-suffixed artifact from 4.1.0 on, none before."""
        coordinate = delta_coordinate(f"{spark}.1", delta)
        if delta.startswith("4.0."):
            assert coordinate == f"io.delta:delta-spark_2.13:{delta}"
        else:
            assert coordinate == f"io.delta:delta-spark_{spark}_2.13:{delta}"

    @pytest.mark.parametrize(("delta", "spark"), NOT_SERVED)
    def test_every_other_pair_is_refused_with_a_pair_that_works(
        self, delta: str, spark: str
    ) -> None:
        """A pair Maven Central has no jar for is refused; the advice names a served pair."""
        with pytest.raises(IncompatibleVersionsError) as err:
            delta_coordinate(f"{spark}.0", delta)
        assert (err.value.pyspark_version, err.value.delta_version) == (f"{spark}.0", delta)
        advice = str(err.value).split("Fix: ", 1)[1]
        advised_delta = advice.split("'delta-spark==", 1)[1].split("'", 1)[0]
        advised_spark = spark if "keeps pyspark" in advice else advice.split(">=")[1].split(",")[0]
        assert advised_spark in DELTA_JARS[advised_delta]

    def test_pypi_only_release_names_the_release_to_install(self) -> None:
        """delta-spark 4.4.1 (PyPI only) with pyspark 4.2 says: install delta-spark 4.4.0."""
        with pytest.raises(IncompatibleVersionsError) as err:
            delta_coordinate("4.2.0", "4.4.1")
        message = str(err.value)
        assert "no jar at all (PyPI only)" in message
        assert "pip install 'delta-spark==4.4.0' (keeps pyspark 4.2)" in message

    def test_spark_without_any_delta_build_names_pyspark_and_delta(self) -> None:
        """Pyspark 4.3 (no Delta build yet) is told to go back to pyspark 4.2 with Delta 4.4.0."""
        with pytest.raises(IncompatibleVersionsError) as err:
            delta_coordinate("4.3.0", "4.4.0")
        message = str(err.value)
        assert "jars for Spark 4.0, 4.1, 4.2 only" in message
        assert "pip install 'pyspark>=4.2,<4.3' 'delta-spark==4.4.0'" in message
        assert "no Delta release has a jar for Spark 4.3 yet" in message

    def test_release_newer_than_the_table_follows_the_naming_convention(self) -> None:
        """A delta-spark release the table does not know yet gets the conventional name."""
        assert delta_coordinate("4.2.1", "4.5.0") == "io.delta:delta-spark_4.2_2.13:4.5.0"

    def test_pre_release_maps_to_its_release(self) -> None:
        """A release candidate is looked up as its release."""
        assert delta_coordinate("4.2.0", "4.4.0rc1") == "io.delta:delta-spark_4.2_2.13:4.4.0"

    def test_missing_distribution_says_how_to_install(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Without delta-spark installed the error names it and the pip command."""

        def version(dist: str) -> str:
            raise importlib.metadata.PackageNotFoundError(dist)

        monkeypatch.setattr(versions.importlib.metadata, "version", version)
        with pytest.raises(SessionStartError, match=r"pyspark is not installed.*pip install"):
            delta_coordinate()


class TestBundledVersions:
    """Versions read from pyspark's own jars folder."""

    def test_hadoop_aws_matches_the_bundled_hadoop_client(self) -> None:
        """hadoop-aws gets the version of the hadoop-client-api jar pyspark ships."""
        jars = versions.pyspark_home() / "jars"
        bundled = [p.name for p in jars.glob("hadoop-client-api-*.jar")]
        assert bundled == ["hadoop-client-api-3.5.0.jar"]
        assert hadoop_aws_coordinate() == "org.apache.hadoop:hadoop-aws:3.5.0"

    def test_versions_come_from_the_jar_names(self, tmp_path: Path) -> None:
        """A pyspark folder with other jars gives their Hadoop and Scala versions."""
        (tmp_path / "jars").mkdir()
        for name in ("hadoop-client-api-3.9.1.jar", "scala-library-2.14.0.jar"):
            (tmp_path / "jars" / name).write_bytes(b"")
        assert hadoop_aws_coordinate(tmp_path) == "org.apache.hadoop:hadoop-aws:3.9.1"
        assert versions.scala_version(tmp_path) == "2.14"

    def test_thin_client_without_hadoop_is_explained(self, tmp_path: Path) -> None:
        """A pyspark without Hadoop jars (pyspark-client) cannot do s3a, and the error says so."""
        (tmp_path / "jars").mkdir()
        with pytest.raises(SessionStartError, match="'pyspark-client' install"):
            hadoop_aws_coordinate(tmp_path)
        assert versions.scala_version(tmp_path) == "2.13"
