"""The README's python blocks run as written, in order, in one interpreter, as a reader pastes them.

The examples push to ``PUSHGATEWAY`` (``127.0.0.1:9091`` unless set): the test points it at a
closed local port, so every push is refused at once and must be reported, never raised.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from etl_metrics import DEFAULT_REGISTRY, REDACTED
from pipeline_testkit import run_readme_examples

README = Path(__file__).parents[1] / "README.md"

JOB = {"job": "orders_etl"}
SILVER = {**JOB, "stage": "silver", "table": "orders"}


def _value(name: str, labels: dict[str, str]) -> float:
    """A sample of the library's default registry, 0 while the series does not exist."""
    return DEFAULT_REGISTRY.get_sample_value(name, labels) or 0.0


def test_readme_examples_run_in_order(
    tmp_path: Path,
    closed_port: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Every block runs; the registries hold what they recorded; refused pushes are reported."""
    monkeypatch.setenv("PUSHGATEWAY", closed_port)
    # The module-level helpers record into the shared default registry: compare with before.
    runs = {
        env: _value("etl_job_executions_total", {**JOB, "env": env, "status": "success"})
        for env in ("dev", "prod")
    }
    processed = _value("etl_records_processed_total", SILVER)

    namespace = run_readme_examples(README, tmp_path)
    captured = capsys.readouterr()

    # The quick start and "Usage in a job": one successful run each (env dev, then prod),
    # 10,000 records each, and the textfile written in the work folder.
    for env, before in runs.items():
        labels = {**JOB, "env": env, "status": "success"}
        assert _value("etl_job_executions_total", labels) == before + 1
    assert _value("etl_records_processed_total", SILVER) == processed + 20_000
    prom = (tmp_path / "metrics" / "orders_etl.prom").read_text()
    assert 'etl_records_processed_total{job="orders_etl",stage="silver",table="orders"}' in prom
    stage_done = [json.loads(line) for line in captured.out.splitlines() if "stage_done" in line]
    assert stage_done[0]["env"] == "dev"

    # Nothing listens at the gateway: every push and delete says so, none raises.
    assert namespace["pushed"] is False
    assert namespace["ok"] is False
    assert namespace["deleted"] is False
    outcome = namespace["outcome"]
    assert not outcome.ok
    assert outcome.gateway == closed_port
    assert outcome.grouping_key == {"env": "prod", "instance": "driver-0"}
    assert namespace["report"]["metrics"] == outcome.to_dict()
    assert namespace["exit_code"] == 0  # strict is false: the metrics outcome does not fail
    assert "pushgateway_unavailable" in captured.err

    # An EtlMetrics of its own: the error and the two anomaly checks are in its registry.
    registry = namespace["metrics"].registry
    error = {**JOB, "stage": "silver", "error_type": "ValueError"}
    assert registry.get_sample_value("etl_errors_total", error) == 1
    mean = {**JOB, "table": "orders", "check": "amount.mean"}
    assert registry.get_sample_value("etl_dq_anomalies_total", {**mean, "severity": "warn"}) == 1
    assert registry.get_sample_value("etl_dq_anomaly_upper_bound", mean) == 24.0
    rows = {**JOB, "table": "orders", "check": "row_count"}
    assert registry.get_sample_value("etl_dq_anomaly_checks_total", {**rows, "status": "ok"}) == 1
    assert registry.get_sample_value("etl_dq_anomalies_total", {**rows, "severity": "fail"}) == 0

    # The redacted configuration printed: the secret is gone, the rest is kept.
    (printed,) = [json.loads(line) for line in captured.out.splitlines() if '"spark"' in line]
    assert printed["spark"] == {"spark.hadoop.fs.s3a.secret.key": REDACTED}
    assert printed["metrics"]["pushgateway"]["url"] == closed_port
    assert "s3cr3t" not in captured.out

    # The resource sampler: a sample at start and one at stop, in the default registry.
    assert namespace["sampler"].samples_taken >= 2  # 2 unless run() took over 5 s
    assert not namespace["sampler"].running
    assert _value("etl_memory_usage_bytes", JOB) > 0
