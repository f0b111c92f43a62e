"""The metric names and buckets the rules and dashboard assume are what etl-metrics exports."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from etl_metrics import CATALOGUE, DELTA_WRITE_DURATION_BUCKETS, JOB_DURATION_BUCKETS
from schema_registry import DriftKind

MONITORING = Path(__file__).resolve().parents[1]
ROOT = MONITORING.parent
RULES = MONITORING / "prometheus" / "rules" / "etl_alerts.yml"
DRIFT_METRIC = "etl_schema_drift_detected_total"
# The drift vocabulary of earlier docs, which nothing emits.
RETIRED_DRIFT_KINDS = ("column_added", "column_removed", "type_changed")


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
        assert {"job", "table", "check", "severity"} <= labels["etl_dq_anomalies_total"]
        assert {"job", "table", "check"} <= labels["etl_dq_anomaly_value"]

    def test_anomaly_labels_match_the_dq_check_labels(self) -> None:
        """Anomaly series carry the same job/table/check labels as the other DQ series."""
        labels = {spec.name: spec.labels for spec in CATALOGUE}
        assert labels["etl_dq_anomalies_total"] == labels["etl_dq_violations_total"]
        assert labels["etl_dq_anomaly_checks_total"][:3] == labels["etl_dq_checks_total"][:3]
        for gauge in ("value", "lower_bound", "upper_bound"):
            assert labels[f"etl_dq_anomaly_{gauge}"] == labels["etl_dq_checks_total"][:3]


class TestBuckets:
    """Histogram thresholds sit on bucket boundaries, so the interpolated p95 is exact."""

    def test_job_duration_threshold_is_a_bucket_boundary(self) -> None:
        """ETLJobSlowExecution's 3600s is a boundary of etl_job_duration_seconds."""
        assert _threshold("ETLJobSlowExecution") in JOB_DURATION_BUCKETS

    def test_delta_write_threshold_is_a_bucket_boundary(self) -> None:
        """SlowDeltaWrite's 600s is a boundary of delta_write_duration_seconds."""
        assert _threshold("SlowDeltaWrite") in DELTA_WRITE_DURATION_BUCKETS


def _drift_kinds_in_rule_tests() -> set[str]:
    """The `kind` label values of every drift series and expected alert in the promtool tests."""
    kinds: set[str] = set()
    for path in (MONITORING / "prometheus" / "tests").glob("*_test.yml"):
        for test in yaml.safe_load(path.read_text())["tests"]:
            for series in test.get("input_series", []):
                if series["series"].startswith(DRIFT_METRIC):
                    kinds |= set(re.findall(r'kind="([^"]*)"', series["series"]))
            for case in test.get("alert_rule_test", []):
                kinds |= {
                    a["exp_labels"]["kind"]
                    for a in case.get("exp_alerts", [])
                    if "kind" in a["exp_labels"]
                }
    return kinds


class TestDriftVocabulary:
    """Alerts, dashboards and docs name drift kinds as schema-registry emits them."""

    def test_rule_tests_use_emitted_drift_kinds(self) -> None:
        """The promtool tests feed and expect `kind` values that DriftKind defines."""
        kinds = _drift_kinds_in_rule_tests()
        assert kinds
        assert kinds <= {kind.value for kind in DriftKind}

    def test_runbook_lists_every_emitted_kind(self) -> None:
        """The SchemaDriftDetected runbook names each DriftKind value, so on-call can read it."""
        readme = (MONITORING / "README.md").read_text()
        runbook = readme.split("### SchemaDriftDetected", 1)[1].split("\n### ", 1)[0]
        assert {kind.value for kind in DriftKind} <= set(re.findall(r"`(\w+)`", runbook))

    def test_no_doc_or_dashboard_names_a_retired_kind(self) -> None:
        """No monitoring file, nor etl-metrics' README or source, names a kind nothing emits."""
        files = [*MONITORING.rglob("*.yml"), *MONITORING.rglob("*.md"), *MONITORING.rglob("*.json")]
        files.append(ROOT / "packages" / "etl-metrics" / "README.md")
        files += (ROOT / "packages" / "etl-metrics" / "src").rglob("*.py")
        for path in files:
            text = path.read_text()
            for retired in RETIRED_DRIFT_KINDS:
                assert retired not in text, f"{path} names {retired}"

    def test_drift_help_text_names_every_emitted_kind(self) -> None:
        """The HELP text Prometheus shows for the drift counter lists each DriftKind value."""
        (spec,) = [s for s in CATALOGUE if s.name == DRIFT_METRIC]
        assert {kind.value for kind in DriftKind} <= set(re.findall(r"\w+", spec.documentation))
