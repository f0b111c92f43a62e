"""The testkit's session settings and kinds, on top of delta-session (no JVM starts here)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from pipeline_testkit import (
    SPARK_MODE_ENV,
    DeltaJarsUnavailableError,
    SparkMode,
    delta_maven_coordinate,
    local_spark_session,
    small_conf,
)

Call = tuple[str, tuple[Any, ...], dict[str, Any]]


class TestDeltaJar:
    """The Delta coordinate is delta-session's, so tests and the app resolve the same jar."""

    def test_coordinate_is_delta_sessions(self) -> None:
        """The testkit's name for it returns delta-session's answer for the installed pair."""
        from delta_session import delta_coordinate

        assert (
            delta_maven_coordinate()
            == delta_coordinate()
            == ("io.delta:delta-spark_4.2_2.13:4.4.0")
        )


class TestSparkMode:
    """PIPELINE_TESTKIT_SPARK: 'local', or a comma-separated mix of connect, cluster, s3."""

    @pytest.mark.parametrize(
        ("value", "kinds"),
        [
            (None, ()),
            ("", ()),
            ("local", ()),
            ("connect", ("connect",)),
            (" S3 , cluster ", ("cluster", "s3")),
            ("connect,cluster,s3", ("connect", "cluster", "s3")),
        ],
    )
    def test_parse(self, value: str | None, kinds: tuple[str, ...]) -> None:
        """Words in any case and order, with spaces, switch their kinds on."""
        mode = SparkMode.parse(value)
        assert mode.kinds == kinds
        assert str(mode) == (",".join(kinds) or "local")

    def test_unknown_word_names_the_accepted_ones(self) -> None:
        """A typo is an error listing the accepted words, not a silent local run."""
        with pytest.raises(ValueError, match=rf"{SPARK_MODE_ENV}='conect'.*connect, cluster, s3"):
            SparkMode.parse("conect")


class TestSmallConf:
    """Settings sized for tests."""

    def test_small_and_isolated(self, tmp_path: Path) -> None:
        """Two partitions, no UI, UTC, warehouse and Derby under the given folder."""
        conf = small_conf(tmp_path)
        assert conf["spark.sql.shuffle.partitions"] == "2"
        assert conf["spark.databricks.delta.snapshotPartitions"] == "2"
        assert conf["spark.ui.enabled"] == "false"
        assert conf["spark.sql.session.timeZone"] == "UTC"
        assert conf["spark.sql.warehouse.dir"] == str(tmp_path / "warehouse")
        assert conf["spark.driver.extraJavaOptions"] == f"-Dderby.system.home={tmp_path / 'derby'}"


class TestLocalSparkSession:
    """local_spark_session hands the right builder the test settings, and wraps its errors."""

    @pytest.fixture
    def calls(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> list[tuple[str, tuple[Any, ...], dict[str, Any]]]:
        """Replace delta-session's builders by recorders."""
        import delta_session

        seen: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = []
        for name in ("local_session", "cluster_session"):

            def record(*args: Any, _name: str = name, **kwargs: Any) -> str:
                seen.append((_name, args, kwargs))
                return "session"

            monkeypatch.setattr(delta_session, name, record)
        return seen

    def test_local_master(self, calls: list[Any], tmp_path: Path) -> None:
        """local[N] goes to local_session with N cores, small settings and the caller's last."""
        result = local_spark_session(
            warehouse_dir=tmp_path, extra_conf={"spark.sql.shuffle.partitions": "3"},
            packages=("g:a:1",), master="local[3]", log_file=tmp_path / "x.log",
        )  # fmt: skip
        assert result == "session"
        name, args, kwargs = calls[0]
        assert (name, args) == ("local_session", ("3",))
        assert kwargs["packages"] == ("g:a:1",)
        assert kwargs["log_file"] == tmp_path / "x.log"
        assert kwargs["conf"]["spark.sql.shuffle.partitions"] == "3"
        assert kwargs["conf"]["spark.ui.enabled"] == "false"

    def test_local_star_and_cluster(self, calls: list[Any]) -> None:
        """'local' means every core; a spark:// master goes to cluster_session."""
        local_spark_session(master="local")
        local_spark_session(master="spark://127.0.0.1:7077")
        assert [(c[0], c[1]) for c in calls] == [
            ("local_session", ("*",)),
            ("cluster_session", ("spark://127.0.0.1:7077",)),
        ]

    def test_start_errors_keep_delta_sessions_message(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A delta-session start error becomes DeltaJarsUnavailableError with the same text."""
        import delta_session

        def fail(*_: Any, **__: Any) -> None:
            raise delta_session.MavenUnreachableError("no repository could be reached")

        monkeypatch.setattr(delta_session, "local_session", fail)
        with pytest.raises(DeltaJarsUnavailableError, match="no repository could be reached") as e:
            local_spark_session()
        assert isinstance(e.value.__cause__, delta_session.MavenUnreachableError)
