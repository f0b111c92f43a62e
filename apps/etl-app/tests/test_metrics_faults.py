"""Metrics faults never cost a committed run its report; secrets never reach an output.

Unit tests cover config validation, publishing outcomes, redaction and exit codes without
Spark; the Spark tests run the pipeline with an unwritable textfile, then with a Pushgateway
URL holding credentials that nothing listens on, and a batch with a sudden drop in orders.
"""

from __future__ import annotations

import contextlib
import io
import json
import shutil
import socket
from pathlib import Path
from typing import Any

import pytest

import etl_app._cli as cli
from etl_app import ConfigError, RunReport, load_config
from etl_app._config import MetricsConfig, PushgatewayConfig
from etl_app._observe import (
    EXIT_METRICS_FAILED,
    MetricsOutcome,
    describe_error,
    publish_metrics,
    redact_config,
)
from etl_app._resources import resource_path
from etl_metrics import EtlMetrics

SECRET = "s3cr3t-Pa55"


def closed_port() -> int:
    """A local TCP port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def config_problems(tmp_path: Path, text: str) -> list[str]:
    """The problems config validation reports for ``text``."""
    path = tmp_path / "c.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    return caught.value.problems


class TestConfigRefusesWhatFailsLater:
    """Values the Pushgateway or Spark would refuse are config errors naming their key path."""

    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            (
                "metrics: {pushgateway: {grouping_key: {job: other}}}",
                "metrics.pushgateway.grouping_key: grouping_key must not contain 'job'",
            ),
            (
                "metrics: {pushgateway: {grouping_key: {__name: x}}}",
                "metrics.pushgateway.grouping_key: grouping_key",
            ),
            (
                "metrics: {pushgateway: {grouping_key: {data-center: x}}}",
                "is not a valid Prometheus label name",
            ),
            ("spark: {shuffle_partitions: -1}", "spark.shuffle_partitions: must be at least 1"),
            ("spark: {shuffle_partitions: 0}", "spark.shuffle_partitions: must be at least 1"),
            ("spark: {driver_memory: lots}", "spark.driver_memory: expected a JVM memory size"),
            ("spark: {master: 'local[0]'}", "spark.master: expected local"),
            (
                "spark: {conf: {spark.sql.shuffle.partitions: '-1'}}",
                "spark.conf.spark.sql.shuffle.partitions: must be a whole number >= 1",
            ),
            (
                "metrics: {pushgateway: {deadline_s: 0}}",
                "metrics.pushgateway.deadline_s: must be > 0",
            ),
            (
                "metrics: {pushgateway: {timeout_s: -1.0}}",
                "metrics.pushgateway.timeout_s: must be > 0",
            ),
        ],
    )
    def test_refused_with_key_path(self, tmp_path: Path, text: str, expected: str) -> None:
        """Each bad value is one problem line starting with its key path."""
        problems = config_problems(tmp_path, text)
        assert any(expected in p for p in problems), problems

    def test_valid_spark_and_push_settings_pass(self, tmp_path: Path) -> None:
        """Plausible values (cluster master, 512m, a grouping label, a deadline) are accepted."""
        path = tmp_path / "c.yaml"
        path.write_text(
            "spark: {master: 'spark://h:7077', driver_memory: 512m, shuffle_partitions: 1}\n"
            "metrics: {pushgateway: {grouping_key: {instance: a}, deadline_s: 12}}\n"
        )
        config = load_config(path)
        assert config.metrics.pushgateway.deadline_s == 12
        assert config.spark.master == "spark://h:7077"


class TestPublishMetrics:
    """Publishing returns an outcome; it never raises, whatever the sink does."""

    def test_unwritable_textfile_is_an_outcome_not_an_exception(self, tmp_path: Path) -> None:
        """A textfile whose folder is a file gives ok=False with the OS error."""
        (tmp_path / "metrics").write_text("not a folder")
        outcome = publish_metrics(
            MetricsConfig(), job="j", env="e", root=tmp_path, metrics=EtlMetrics()
        )
        assert not outcome.ok
        assert outcome.sink == "textfile"
        assert outcome.error is not None
        assert "Error" in outcome.error

    def test_textfile_written(self, tmp_path: Path) -> None:
        """With a writable root the textfile is written and the outcome says where."""
        outcome = publish_metrics(
            MetricsConfig(), job="j", env="e", root=tmp_path, metrics=EtlMetrics()
        )
        assert outcome.ok
        assert Path(outcome.target).is_file()

    def test_gateway_down_masks_credentials(self, tmp_path: Path) -> None:
        """A refused push is reported with the URL's password masked, and the push is bounded."""
        url = f"http://etl:{SECRET}@127.0.0.1:{closed_port()}"
        config = MetricsConfig(
            pushgateway=PushgatewayConfig(url=url, timeout_s=2.0, deadline_s=3.0, strict=True)
        )
        outcome = publish_metrics(config, job="j", env="e", root=tmp_path, metrics=EtlMetrics())
        assert not outcome.ok
        assert outcome.strict
        assert outcome.attempts >= 1
        assert SECRET not in json.dumps(outcome.to_dict())
        assert SECRET not in outcome.describe()
        assert "etl:***@127.0.0.1" in outcome.target


class TestRedaction:
    """Secrets are masked in the report, the summary and the printed configuration."""

    def test_report_and_summary_mask_url_credentials(self, tmp_path: Path) -> None:
        """A gateway URL with a password appears masked in the JSON report and the summary."""
        report = RunReport(run_id="r", job="j", env="e", stages="full", output_root="/o")
        report.metrics_sink = f"pushgateway http://u:{SECRET}@gw:9091 (FAILED)"
        report.error = f"push to http://u:{SECRET}@gw:9091 failed"
        report.write(tmp_path / "r.json")
        assert SECRET not in (tmp_path / "r.json").read_text()
        assert SECRET not in report.summary_table()
        assert "http://u:***@gw:9091" in report.summary_table()

    def test_validate_config_masks_secrets(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """validate-config masks the URL password and secret-looking spark.conf values."""
        path = tmp_path / "c.yaml"
        path.write_text(
            f"metrics: {{pushgateway: {{url: 'http://u:{SECRET}@gw:9091', "
            "grouping_key: {instance: a}}}\n"
            f"spark: {{conf: {{spark.hadoop.fs.s3a.secret.key: {SECRET}, "
            f"spark.hadoop.fs.azure.account.key.acct: {SECRET}x, spark.sql.ansi.enabled: true}}}}\n"
        )
        assert cli.main(["validate-config", "--config", str(path)]) == 0
        out = capsys.readouterr().out
        assert SECRET not in out
        settings = json.loads(out.split("\n", 1)[1])
        assert settings["metrics"]["pushgateway"]["url"] == "http://u:***@gw:9091"
        assert settings["metrics"]["pushgateway"]["grouping_key"] == {"instance": "a"}
        assert settings["spark"]["conf"]["spark.sql.ansi.enabled"] == "true"
        assert settings["spark"]["conf"]["spark.hadoop.fs.s3a.secret.key"] == "[REDACTED]"

    def test_redact_config_leaves_the_input_alone(self) -> None:
        """redact_config returns a copy; the configuration it was given keeps its values."""
        data: dict[str, Any] = {"metrics": {"pushgateway": {"url": f"http://u:{SECRET}@g"}}}
        assert redact_config(data)["metrics"]["pushgateway"]["url"] == "http://u:***@g"
        assert data["metrics"]["pushgateway"]["url"] == f"http://u:{SECRET}@g"


class FakeJavaError(Exception):
    """Shaped like a Py4JJavaError / PySpark error: an error class and a multi-line message."""

    def getCondition(self) -> str:  # noqa: N802 - PySpark's method name
        """The Spark error class."""
        return "DELTA_FAKE_CONDITION"


class TestSparkErrorsOnTheCommandLine:
    """A Spark error shows its class and whole message; the full trace goes to a log file."""

    def test_describe_keeps_message_lines_and_drops_frames(self) -> None:
        """Every message line is kept, JVM frames are dropped, the error class is shown."""
        exc = FakeJavaError(
            "An error occurred while calling o57.save.\n"
            ": org.apache.spark.SparkIllegalArgumentException: bad partition value\n"
            "  for column order_date: 0001-01-01\n"
            "\tat org.apache.spark.sql.Foo.bar(Foo.scala:12)\n"
            "\t... 42 more\n"
        )
        text = describe_error(exc)
        assert text.startswith("FakeJavaError [DELTA_FAKE_CONDITION]: ")
        assert "bad partition value" in text
        assert "for column order_date: 0001-01-01" in text
        assert "Foo.scala" not in text
        assert "42 more" not in text

    def test_cli_prints_class_message_and_log_file(
        self,
        tmp_path: Path,
        capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        """Run shows the error class and second message line, and writes the full trace."""

        def explode(config: object) -> None:
            raise FakeJavaError("first line\nsecond line of the message\n\tat org.Foo(F.java:1)")

        monkeypatch.setattr(cli, "build_spark_session", explode)
        monkeypatch.setenv("DELTA_SESSION_LOG", str(tmp_path / "spark.log"))
        assert cli.main(["run", "--output", str(tmp_path / "out")]) == 1
        err = capsys.readouterr().err
        assert "[DELTA_FAKE_CONDITION]" in err
        assert "second line of the message" in err
        assert "F.java" not in err
        logs = list((tmp_path / "out" / "logs").glob("error-*.log"))
        assert len(logs) == 1
        assert "F.java" in logs[0].read_text()


class TestGoldErrors:
    """Any failure of a gold computation names the table, the column and the values."""

    def test_spark_failure_becomes_gold_write_error(self) -> None:
        """An empty-message Spark error still says which table, column and dates failed."""
        from etl_app._observe import gold_errors
        from etl_app.errors import GoldWriteError

        with (
            pytest.raises(GoldWriteError) as caught,
            gold_errors("gold.daily_revenue", "order_date", ["0001-01-01", "2024-01-01"]),
        ):
            raise FakeJavaError("java.lang.IllegalArgumentException: ")
        text = str(caught.value)
        assert text.startswith("gold.daily_revenue: computing or writing order_date in [")
        assert "0001-01-01, 2024-01-01" in text
        assert "[DELTA_FAKE_CONDITION]" in text
        assert caught.value.exit_code == 1

    def test_app_errors_pass_through(self) -> None:
        """The app's own errors (a contract check, say) are not rewrapped."""
        from etl_app._observe import gold_errors
        from etl_app.errors import SchemaDriftError

        with pytest.raises(SchemaDriftError), gold_errors("gold.x", "c", []):
            raise SchemaDriftError("contract")


class _FakeSpark:
    def stop(self) -> None:
        """Nothing to stop."""


def _fake_pipeline(metrics: dict[str, Any]) -> type:
    class FakePipeline:
        def __init__(self, config: Any, spark: Any, *, progress: Any = None) -> None:
            self.report = RunReport(run_id="r", job="j", env="e", stages="full", output_root="o")
            self.progress = progress

        def run(self, stages: str) -> RunReport:
            self.progress("bronze: started")
            self.report.status = "success"
            self.report.metrics = metrics
            self.report.metrics_sink = MetricsOutcome(**metrics).describe()
            self.report.report_path = "o/reports/run-r.json"
            return self.report

    return FakePipeline


class TestExitCodes:
    """The exit code reflects the data; strict metrics mode adds code 4 for undelivered metrics."""

    @pytest.mark.parametrize(
        ("strict", "code"), [(False, 0), (True, EXIT_METRICS_FAILED)], ids=["lenient", "strict"]
    )
    def test_committed_data_with_failed_metrics(
        self,
        tmp_path: Path,
        capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch,
        strict: bool,
        code: int,
    ) -> None:
        """Data committed, metrics failed: exit 0 (warning on stderr), or 4 with strict."""
        import etl_app._pipeline as pipeline

        metrics = {
            "ok": False,
            "sink": "pushgateway",
            "target": "http://gw:9091",
            "error": "URLError: refused",
            "strict": strict,
        }
        monkeypatch.setattr(pipeline, "Pipeline", _fake_pipeline(metrics))
        monkeypatch.setattr(cli, "build_spark_session", lambda config: _FakeSpark())
        assert cli.main(["run", "--output", str(tmp_path / "out")]) == code
        captured = capsys.readouterr()
        assert "data was committed but the metrics were not delivered" in captured.err
        assert "run report: o/reports/run-r.json" in captured.out
        assert "bronze: started" in captured.out


# -- Spark: the pipeline with faulty metrics sinks and a sudden drop in orders -----------------


def _run(spark: Any, config: Path, metrics: EtlMetrics) -> RunReport:
    from etl_app._pipeline import run_pipeline

    return run_pipeline(load_config(config), spark=spark, metrics=metrics)


def _sample(metrics: EtlMetrics, name: str, **labels: str) -> float | None:
    value = metrics.registry.get_sample_value(name, labels)
    return None if value is None else float(value)


@pytest.fixture(scope="module")
def runs(spark: Any, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Sample batch 1 with an unwritable textfile; then one order, pushed to a closed port."""
    base = tmp_path_factory.mktemp("faults")
    inputs, root = base / "in", base / "out"
    inputs.mkdir()
    root.mkdir()
    (root / "metrics").write_text("a file where the textfile's folder should be")
    sample = resource_path("sample")
    for name in ("customers_0001.csv", "orders_0001.json"):
        shutil.copy(sample / name, inputs / name)
    first_config = base / "first.yaml"
    first_config.write_text(f"input: {{dir: {inputs}}}\noutput: {{root: {root}}}\n")
    first_metrics = EtlMetrics()
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        first = _run(spark, first_config, first_metrics)
    # One order instead of eleven: a sudden drop.
    lines = (sample / "orders_0001.json").read_text().splitlines()
    (inputs / "orders_0003.json").write_text(lines[0].replace("1001", "1301") + "\n")
    second_config = base / "second.yaml"
    second_config.write_text(
        f"input: {{dir: {inputs}}}\noutput: {{root: {root}}}\n"
        f"metrics: {{pushgateway: {{url: 'http://etl:{SECRET}@127.0.0.1:{closed_port()}', "
        "timeout_s: 2.0, deadline_s: 4.0}}\n"
    )
    second_metrics = EtlMetrics()
    second = _run(spark, second_config, second_metrics)
    return {
        "first": first,
        "second": second,
        "second_metrics": second_metrics,
        "root": root,
        "spark": spark,
    }


@pytest.mark.spark
class TestFaultyMetricsAndAnomaly:
    """Committed runs keep their report when metrics fail; a drop in orders is an anomaly."""

    def test_report_written_with_both_outcomes(self, runs: dict[str, Any]) -> None:
        """The unwritable textfile fails the metrics, not the data; the report says both."""
        report = json.loads(Path(runs["first"].report_path).read_text())
        assert report["status"] == "success"
        assert report["metrics"]["ok"] is False
        assert report["metrics"]["sink"] == "textfile"
        assert "Error" in report["metrics"]["error"]
        assert "FAILED" in runs["first"].summary_table()

    def test_failed_push_is_reported_without_the_password(self, runs: dict[str, Any]) -> None:
        """A push to a closed port is a metrics failure; no output holds the password."""
        second = runs["second"]
        text = Path(second.report_path).read_text()
        report = json.loads(text)
        assert report["status"] == "success"
        assert report["metrics"]["ok"] is False
        assert report["metrics"]["sink"] == "pushgateway"
        assert SECRET not in text
        assert SECRET not in second.summary_table()
        assert "etl:***@127.0.0.1" in report["metrics"]["target"]

    def test_drop_in_orders_is_an_anomaly_in_the_report(self, runs: dict[str, Any]) -> None:
        """The 1-order batch after an 11-order batch is a row_count anomaly (action warn)."""
        first, second = runs["first"], runs["second"]
        assert first.anomalies == []
        found = [(a["table"], a["check"], a["value"]) for a in second.anomalies]
        assert found == [("silver.orders", "row_count", 1.0)]
        assert "anomaly: silver.orders batch 2 row_count (warn)" in second.summary_table()
        assert second.dq_history == str(runs["root"] / "_dq_history")
        assert "gate results history:" in second.summary_table()

    def test_anomaly_recorded_as_anomaly_metric_not_as_check(self, runs: dict[str, Any]) -> None:
        """etl_dq_anomalies_total counts it; etl_dq_checks_total has no row_count series."""
        metrics = runs["second_metrics"]
        labels = {"job": "etl-app", "table": "silver.orders", "check": "row_count"}
        assert _sample(metrics, "etl_dq_anomalies_total", **labels, severity="warn") == 1.0
        assert _sample(metrics, "etl_dq_anomaly_value", **labels) == 1.0
        for result in ("pass", "fail"):
            assert _sample(metrics, "etl_dq_checks_total", **labels, result=result) is None

    def test_history_table_holds_both_orders_runs(self, runs: dict[str, Any]) -> None:
        """The results history under the data root has the orders gate's runs, anomaly included."""
        from dq_gates import ResultsHistory

        history = ResultsHistory(str(runs["root"] / "_dq_history")).read(runs["spark"])
        rows = history.where("table = 'silver.orders'").orderBy("batch_id").collect()
        assert [r["batch_id"] for r in rows] == ["1", "2"]
        statuses = [[a["status"] for a in r["anomalies"]] for r in rows]
        assert statuses == [["insufficient_history"], ["anomaly"]]
