import json
import subprocess
import sys
from pathlib import Path

import pytest

from etl_app import __version__
from etl_app._cli import main


class TestArguments:
    def test_help_lists_the_commands(self, capsys: pytest.CaptureFixture[str]) -> None:
        """--help exits 0 and names every command."""
        assert main(["--help"]) == 0
        out = capsys.readouterr().out
        for command in ("run", "generate-sample", "validate-config", "schemas"):
            assert command in out

    def test_version(self, capsys: pytest.CaptureFixture[str]) -> None:
        """--version prints the package version."""
        assert main(["--version"]) == 0
        assert __version__ in capsys.readouterr().out

    @pytest.mark.parametrize(
        ("argv", "expected"),
        [
            ([], "the following arguments are required: COMMAND"),
            (["launch"], "invalid choice: 'launch'"),
            (["run", "--cmd", "platinum"], "invalid choice: 'platinum'"),
            (["generate-sample", "--rows", "many", "--out", "x"], "invalid int value: 'many'"),
            (["generate-sample", "--out", "x"], "the following arguments are required: --rows"),
        ],
    )
    def test_bad_arguments_exit_2_with_usage(
        self, capsys: pytest.CaptureFixture[str], argv: list[str], expected: str
    ) -> None:
        """Bad arguments print usage and the problem to stderr and exit 2."""
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert "usage: etl-app" in err
        assert expected in err

    def test_python_dash_m_runs_the_cli(self) -> None:
        """``python -m etl_app`` is the same CLI as the console script."""
        done = subprocess.run(
            [sys.executable, "-m", "etl_app", "--help"], capture_output=True, text=True, check=False
        )
        assert done.returncode == 0
        assert "generate-sample" in done.stdout


class TestValidateConfig:
    def test_valid_file_prints_the_merged_config(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """A valid file prints 'valid' and the merged settings as JSON."""
        path = tmp_path / "c.yaml"
        path.write_text("envs: {prod: {spark: {master: 'local[4]'}}}\n")
        assert main(["validate-config", "--config", str(path), "--env", "prod"]) == 0
        out = capsys.readouterr().out
        assert f"{path}: valid (env prod)" in out
        settings = json.loads(out.split("\n", 1)[1])
        assert settings["spark"]["master"] == "local[4]"
        assert settings["job"]["env"] == "prod"

    def test_invalid_file_exits_2_naming_the_key(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """An invalid file exits 2 with the key path and no traceback."""
        path = tmp_path / "c.yaml"
        path.write_text("spark: {shuffle_partitions: lots}\n")
        assert main(["validate-config", "--config", str(path)]) == 2
        err = capsys.readouterr().err
        assert "spark.shuffle_partitions: expected an integer, got 'lots'" in err
        assert "Traceback" not in err

    def test_run_with_bad_config_fails_before_spark(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """``run`` with an invalid config exits 2 without starting Spark."""
        import etl_app._cli as cli

        def no_spark(config: object) -> None:
            raise AssertionError("Spark must not start for a bad config")

        monkeypatch.setattr(cli, "build_spark_session", no_spark)
        path = tmp_path / "c.yaml"
        path.write_text("metrics: {pushgateway: {url: 5}}\n")
        assert main(["run", "--config", str(path)]) == 2
        assert "metrics.pushgateway.url: expected a string" in capsys.readouterr().err

    def test_unexpected_error_is_one_line_without_traceback(
        self,
        tmp_path: Path,
        capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        """An unexpected error prints its type and first line, and hints at --traceback."""
        import etl_app._cli as cli

        def explode(config: object) -> None:
            raise RuntimeError("py4j said no\n\tat org.apache.spark.Foo")

        monkeypatch.setattr(cli, "build_spark_session", explode)
        monkeypatch.chdir(tmp_path)  # the default data root (and its logs) is in the cwd
        assert main(["run"]) == 1
        err = capsys.readouterr().err
        assert "run failed: RuntimeError: py4j said no" in err
        assert "org.apache.spark" not in err
        assert "--traceback" in err

    def test_traceback_flag_reraises(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        """--traceback lets the original exception through for debugging."""
        import etl_app._cli as cli

        def explode(config: object) -> None:
            raise RuntimeError("boom")

        monkeypatch.setattr(cli, "build_spark_session", explode)
        monkeypatch.chdir(tmp_path)
        with pytest.raises(RuntimeError, match="boom"):
            main(["run", "--traceback"])


class TestSchemasAndSample:
    def test_schemas_lists_every_subject_with_versions(
        self, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """``schemas`` lists the bundled subjects, their versions and columns."""
        assert main(["schemas"]) == 0
        out = capsys.readouterr().out
        for subject in (
            "bronze.customers",
            "bronze.orders",
            "silver.customers",
            "silver.orders",
            "gold.daily_revenue",
            "gold.customer_lifetime_value",
        ):
            assert f"{subject}  versions v1" in out
        assert "amount             decimal(12,2)" in out

    def test_schemas_of_an_empty_registry(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """An empty registry folder is reported as such."""
        path = tmp_path / "c.yaml"
        path.write_text(f"schemas: {{dir: {tmp_path / 'empty'}}}\n")
        assert main(["schemas", "--config", str(path)]) == 0
        assert "no schemas registered" in capsys.readouterr().out

    def test_generate_sample_writes_files(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """generate-sample writes the four files and says how many rows."""
        assert main(["generate-sample", "--rows", "100", "--out", str(tmp_path)]) == 0
        assert "wrote customers_0001.csv, orders_0001.json" in capsys.readouterr().out
        assert (tmp_path / "orders_0002.json").exists()

    def test_generate_sample_with_too_few_rows_exits_2(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """An out-of-range --rows is a usage error."""
        assert main(["generate-sample", "--rows", "2", "--out", str(tmp_path)]) == 2
        assert "--rows must be at least 10" in capsys.readouterr().err


class TestSparkIndirection:
    def test_build_spark_session_delegates_to_the_app_builder(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """The CLI's builder hook hands the spark settings to etl_app._spark."""
        import etl_app._cli as cli
        import etl_app._spark as spark_module
        from etl_app._config import SparkConfig

        seen: list[object] = []
        monkeypatch.setattr(spark_module, "build_spark_session", lambda c: seen.append(c) or "s")
        settings = SparkConfig(master="local[1]")
        assert cli.build_spark_session(settings) == "s"
        assert seen == [settings]
