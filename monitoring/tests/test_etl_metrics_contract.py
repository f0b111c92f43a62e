"""The metric names and buckets the rules and dashboard assume are what etl-metrics exports."""

from __future__ import annotations

from pathlib import Path

import yaml

from etl_metrics import CATALOGUE, DELTA_WRITE_DURATION_BUCKETS, JOB_DURATION_BUCKETS

RULES = Path(__file__).resolve().parents[1] / "prometheus" / "rules" / "etl_alerts.yml"


def _threshold(alert: str) -> float:
    """The number after the last '>' of an alert's expression."""
    groups = yaml.safe_load(RULES.read_text())["groups"]
    (rule,) = [r for g in groups for r in g["rules"] if r.get("alert") == alert]
    return float(rule["expr"].rsplit(">", 1)[1])


class TestCatalogue:
    """The library's catalogue against the names this folder's checks allow."""

    def test_exported_names_are_the_allowed_names(self, allowed_metrics: frozenset[str]) -> None:
        """Every family etl-metrics registers, histograms as _bucket/_sum/_count, is allowed."""
        exported = set()
        for spec in CATALOGUE:
            suffixes = ("_bucket", "_sum", "_count") if spec.kind == "histogram" else ("",)
            exported |= {spec.name + suffix for suffix in suffixes}
        assert exported == allowed_metrics

    def test_label_names_used_by_the_rules_exist(self) -> None:
        """The labels the rules group by are labels of the metrics they read."""
        labels = {spec.name: set(spec.labels) for spec in CATALOGUE}
        assert {"job", "env", "status"} <= labels["etl_job_executions_total"]
        assert {"job", "env"} <= labels["etl_job_last_success_timestamp"]
        assert {"job", "table", "check", "result"} <= labels["etl_dq_checks_total"]
        assert {"job", "table", "check", "severity"} <= labels["etl_dq_violations_total"]
        assert {"job", "stage", "table"} <= labels["etl_records_failed_total"]
        assert {"table", "operation"} <= labels["delta_write_duration_seconds"]
        assert {"table", "kind"} <= labels["etl_schema_drift_detected_total"]


class TestBuckets:
    """Histogram thresholds sit on bucket boundaries, so the interpolated p95 is exact."""

    def test_job_duration_threshold_is_a_bucket_boundary(self) -> None:
        """ETLJobSlow's 3600s is a boundary of etl_job_duration_seconds."""
        assert _threshold("ETLJobSlow") in JOB_DURATION_BUCKETS

    def test_delta_write_threshold_is_a_bucket_boundary(self) -> None:
        """DeltaWriteSlow's 600s is a boundary of delta_write_duration_seconds."""
        assert _threshold("DeltaWriteSlow") in DELTA_WRITE_DURATION_BUCKETS
