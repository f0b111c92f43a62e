"""The first run as a person sees it: fast errors before Spark, every subcommand reachable.

None of these start Spark: what can be checked without it is checked before it starts.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import etl_app._cli as cli
from etl_app._preflight import preflight
from etl_app.errors import InputError


def no_spark(config: object) -> None:
    """Stands in for the Spark builder: reaching it is the failure."""
    raise AssertionError("Spark must not start")


class TestChecksBeforeSpark:
    """Missing folders and an unwritable data root exit 2 before Spark starts."""

    def test_missing_input_folder_exits_2_without_spark(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Run --input on a missing folder names it and exits 2; Spark never starts."""
        monkeypatch.setattr(cli, "build_spark_session", no_spark)
        missing = tmp_path / "nowhere"
        code = cli.main(["run", "--input", str(missing), "--output", str(tmp_path / "o")])
        assert code == 2
        err = capsys.readouterr().err
        assert f"input folder {missing} does not exist" in err
        assert "generate-sample" in err
        assert "Traceback" not in err

    def test_unwritable_output_exits_2_without_spark(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A data root below a regular file cannot be created: exit 2 naming it."""
        monkeypatch.setattr(cli, "build_spark_session", no_spark)
        blocker = tmp_path / "file"
        blocker.write_text("x")
        assert cli.main(["run", "--output", str(blocker / "out")]) == 2
        err = capsys.readouterr().err
        assert f"data root {blocker / 'out'} is not writable" in err

    def test_missing_gates_folder_is_reported_for_silver(self, tmp_path: Path) -> None:
        """A silver run with a gates folder that does not exist fails the preflight."""
        from etl_app import load_config

        path = tmp_path / "c.yaml"
        path.write_text(f"gates: {{dir: {tmp_path / 'no-gates'}}}\noutput: {{root: {tmp_path}}}\n")
        with pytest.raises(InputError, match=r"gates folder .* does not exist"):
            preflight(load_config(path), "silver")

    def test_gold_only_needs_no_input_folder(self, tmp_path: Path) -> None:
        """A gold run does not read input: a missing input folder is not its problem."""
        from etl_app import load_config

        path = tmp_path / "c.yaml"
        path.write_text(f"input: {{dir: {tmp_path / 'none'}}}\noutput: {{root: {tmp_path}}}\n")
        preflight(load_config(path), "gold")
        assert not list(tmp_path.glob(".etl-app-probe-*"))


class SparkReachedError(Exception):
    """Raised by the stand-in Spark builder: the run got past every check before Spark."""


def spark_reached(config: object) -> None:
    """Stands in for the Spark builder: reaching it means every check before Spark passed."""
    raise SparkReachedError("the preflight let the run through")


class TestObjectStoreLocations:
    """URIs are not local folders: object-store input and data root are left to Spark."""

    def test_s3a_input_and_root_reach_spark_without_local_folders(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """No "does not exist" for s3a:// input, no local folder named after the URI."""
        import tempfile

        monkeypatch.chdir(tmp_path)
        monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
        monkeypatch.setattr(cli, "build_spark_session", spark_reached)
        code = cli.main(["run", "--input", "s3a://lake/landing", "--output", "s3a://lake/tables"])
        err = capsys.readouterr().err
        assert code == 1
        assert "SparkReachedError" in err
        assert "does not exist" not in err
        assert not (tmp_path / "s3a:").exists()
        # The Spark log and the saved trace go to the local temp folder instead.
        assert list((tmp_path / "tmp" / "etl-app" / "logs").glob("error-*.log"))

    def test_an_unreachable_store_exits_3_naming_the_endpoint_never_the_secret(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Spark's connection failure on the input listing: exit 3, endpoint named, no secret."""
        import tempfile

        from pyspark.sql import SparkSession

        import etl_app._pipeline as pipeline_module

        secret = "wJalrXUtnFEMI-not-a-real-key"
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", secret)
        monkeypatch.chdir(tmp_path)
        monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
        failure = type("Py4JJavaError", (Exception,), {"__module__": "py4j.protocol"})

        class Session:
            class conf:  # noqa: N801 - stands in for the session's conf attribute
                @staticmethod
                def get(key: str, default: str | None = None) -> str | None:
                    known = {"spark.hadoop.fs.s3a.endpoint": "http://store.internal:9000"}
                    return known.get(key, default)

            stopped = False

            def stop(self) -> None:
                Session.stopped = True

        class Pipeline:
            def __init__(self, *args: object, **kwargs: object) -> None:
                self.report = type("Report", (), {"report_path": ""})()

            def run(self, cmd: str) -> None:
                raise failure(
                    "An error occurred while listing s3a://lake/landing\n"
                    "Caused by: org.apache.hadoop.fs.s3a.AWSClientIOException: "
                    f"Unable to execute HTTP request (key {secret}): "
                    "Connect to store.internal:9000 failed: Connection refused"
                )

        monkeypatch.setattr(cli, "build_spark_session", lambda config: Session())
        monkeypatch.setattr(pipeline_module, "Pipeline", Pipeline)
        # The CLI stops only a session it started: another test's may be active here.
        monkeypatch.setattr(SparkSession, "getActiveSession", staticmethod(lambda: None))
        code = cli.main(["run", "--input", "s3a://lake/landing", "--output", "s3a://lake/tables"])
        err = capsys.readouterr().err
        assert code == 3
        assert "storage endpoint http://store.internal:9000 could not be reached" in err
        assert "Connection refused" in err
        assert secret not in err
        assert Session.stopped

    def test_missing_file_uri_input_is_reported_before_spark(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A file:// URI is a local folder: checked like a path, named as the path."""
        monkeypatch.setattr(cli, "build_spark_session", no_spark)
        missing = tmp_path / "nowhere"
        code = cli.main(["run", "--input", f"file://{missing}", "--output", str(tmp_path / "o")])
        assert code == 2
        assert f"input folder {missing} does not exist" in capsys.readouterr().err

    def test_existing_file_uri_input_passes(self, tmp_path: Path) -> None:
        """The config keeps a URI input as given, and an existing file:// folder passes."""
        from etl_app import load_config

        (tmp_path / "in").mkdir()
        config = load_config().with_overrides(
            input_dir=f"file://{tmp_path / 'in'}/", output_root=str(tmp_path / "out")
        )
        assert config.input_location() == f"file://{tmp_path / 'in'}"
        preflight(config, "bronze")
        uri = load_config().with_overrides(input_dir="s3a://b/in", output_root="gs://b/lake")
        assert (uri.input_location(), uri.output_location()) == ("s3a://b/in", "gs://b/lake")


class TestEverySubcommandReachable:
    """Each subcommand has its own help (``nox -s etl -- <command> --help`` reaches it)."""

    @pytest.mark.parametrize(
        "command", ["run", "generate-sample", "validate-config", "schemas", "migrate"]
    )
    def test_subcommand_help(self, command: str, capsys: pytest.CaptureFixture[str]) -> None:
        """``etl-app <command> --help`` exits 0 with that command's usage."""
        assert cli.main([command, "--help"]) == 0
        assert f"usage: etl-app {command}" in capsys.readouterr().out
