"""Prometheus config and ETL alert rules: promtool accepts them; unit tests pin each alert."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

MONITORING = Path(__file__).resolve().parents[1]
PROMETHEUS = MONITORING / "prometheus"
RULES = PROMETHEUS / "rules" / "etl_alerts.yml"
RULE_TESTS = sorted((PROMETHEUS / "tests").glob("*_test.yml"))

Run = Callable[..., subprocess.CompletedProcess[str]]


def _alert_rules() -> list[dict[str, Any]]:
    groups = yaml.safe_load(RULES.read_text())["groups"]
    return [rule for group in groups for rule in group["rules"] if "alert" in rule]


ALERTS = _alert_rules()
ALERT_NAMES = [rule["alert"] for rule in ALERTS]


def _rule_test_cases() -> list[dict[str, Any]]:
    cases = []
    for path in RULE_TESTS:
        for test in yaml.safe_load(path.read_text())["tests"]:
            cases.extend(test.get("alert_rule_test", []))
    return cases


class TestPrometheusConfig:
    def test_promtool_accepts_config_and_its_rule_files(self, run: Run) -> None:
        """The config passes promtool check config, which also loads every rule file it names."""
        result = run("promtool", "check", "config", PROMETHEUS / "prometheus.yml")
        assert result.returncode == 0, result.stdout + result.stderr
        assert "etl_alerts.yml" in result.stdout + result.stderr
        assert f"{len(ALERTS)} rules found" in result.stdout + result.stderr

    def test_pushgateway_scrape_keeps_pushed_job_labels(self) -> None:
        """The Pushgateway is scraped with honor_labels so pushed job labels survive."""
        config = yaml.safe_load((PROMETHEUS / "prometheus.yml").read_text())
        jobs = {job["job_name"]: job for job in config["scrape_configs"]}
        assert jobs["pushgateway"]["honor_labels"] is True
        assert all(
            job.get("honor_labels") is not True
            for name, job in jobs.items()
            if name != "pushgateway"
        )

    def test_alerts_are_sent_to_alertmanager(self) -> None:
        """Prometheus sends alerts to the Alertmanager it also scrapes."""
        config = yaml.safe_load((PROMETHEUS / "prometheus.yml").read_text())
        targets = config["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"]
        assert targets == ["alertmanager:9093"]


# The reference system's alert names: operators' routes, silences and runbooks key on them.
REFERENCE_ALERTS = frozenset(
    {
        "ETLJobFailed",
        "ETLJobSlowExecution",
        "ETLJobNotRunning",
        "DataQualityCheckFailed",
        "HighDataQualityViolations",
        "CriticalDataQualityViolation",
        "SchemaDriftDetected",
        "DeltaTableSizeExceeded",
        "DeltaTableTooManyVersions",
        "SlowDeltaWrite",
        "HighMemoryUsage",
        "HighErrorRate",
        "HighRecordFailureRate",
        "NoRecordsProcessed",
    }
)


class TestAlertRules:
    def test_reference_alert_names_all_exist(self) -> None:
        """All fourteen reference alert names are defined (extra alerts may sit beside them)."""
        assert REFERENCE_ALERTS - set(ALERT_NAMES) == set()

    def test_promtool_accepts_rules(self, run: Run) -> None:
        """The rules pass promtool check rules, which parses every expression and template."""
        result = run("promtool", "check", "rules", RULES)
        assert result.returncode == 0, result.stdout + result.stderr

    def test_alert_names_are_unique(self) -> None:
        """Each alert name appears once, so routes and inhibitions address one rule."""
        assert len(ALERT_NAMES) == len(set(ALERT_NAMES))

    @pytest.mark.parametrize("rule", ALERTS, ids=ALERT_NAMES)
    def test_alert_carries_routing_labels_and_annotations(self, rule: dict[str, Any]) -> None:
        """Every alert has the severity/category used for routing and the three annotations."""
        assert rule["labels"]["severity"] in {"critical", "warning"}
        assert rule["labels"]["category"] in {
            "pipeline",
            "data_quality",
            "records",
            "schema",
            "delta",
            "resource",
            "platform",
        }
        assert set(rule["annotations"]) == {"summary", "description", "runbook_url"}

    @pytest.mark.parametrize("rule", ALERTS, ids=ALERT_NAMES)
    def test_runbook_url_points_at_a_runbook_section(self, rule: dict[str, Any]) -> None:
        """The runbook_url anchor names a heading of monitoring/README.md for that alert."""
        path, _, anchor = rule["annotations"]["runbook_url"].partition("#")
        assert path == "monitoring/README.md"
        assert anchor == rule["alert"].lower()
        headings = re.findall(r"^#+\s+(\S+)\s*$", (MONITORING / "README.md").read_text(), re.M)
        assert rule["alert"] in headings

    @pytest.mark.parametrize("rule", ALERTS, ids=ALERT_NAMES)
    def test_expression_uses_only_exported_metrics(
        self,
        rule: dict[str, Any],
        promql_metrics: Callable[[str], set[str]],
        allowed_metrics: frozenset[str],
        platform_metrics: frozenset[str],
    ) -> None:
        """ETL alerts select only etl-metrics names; only platform alerts read Prometheus' own."""
        names = promql_metrics(rule["expr"])
        allowed = (
            allowed_metrics | platform_metrics
            if rule["labels"]["category"] == "platform"
            else allowed_metrics
        )
        assert names, f"no metric found in {rule['expr']!r}"
        assert names <= allowed, names - allowed


class TestAlertUnitTests:
    def test_promtool_unit_tests_pass(self, run: Run) -> None:
        """Every promtool unit test (firing times, labels, annotations) passes."""
        result = run("promtool", "test", "rules", *RULE_TESTS)
        assert result.returncode == 0, result.stdout + result.stderr
        assert result.stdout.count("SUCCESS") == len(RULE_TESTS)

    @pytest.mark.parametrize("name", ALERT_NAMES)
    def test_every_alert_is_seen_firing(self, name: str) -> None:
        """Each alert has a unit test case in which it fires with exact labels and annotations."""
        firing = [
            case
            for case in _rule_test_cases()
            if case["alertname"] == name and case.get("exp_alerts")
        ]
        assert firing, f"no promtool case expects {name} to fire"
        assert all("exp_annotations" in alert for case in firing for alert in case["exp_alerts"])

    @pytest.mark.parametrize("name", ALERT_NAMES)
    def test_every_alert_is_seen_quiet(self, name: str) -> None:
        """Each alert also has a case pinning that it does NOT fire (healthy, pending, resolved)."""
        quiet = [
            case
            for case in _rule_test_cases()
            if case["alertname"] == name and not case.get("exp_alerts")
        ]
        assert quiet, f"no promtool case expects {name} to stay quiet"

    def test_a_wrong_expectation_fails(self, run: Run, tmp_path: Path) -> None:
        """The unit tests really compare: a case expecting another severity makes promtool fail."""
        suite = yaml.safe_load((PROMETHEUS / "tests" / "jobs_test.yml").read_text())
        suite["rule_files"] = [str(RULES)]
        case = suite["tests"][0]["alert_rule_test"][1]
        assert case["alertname"] == "ETLJobFailed"
        case["exp_alerts"][0]["exp_labels"]["severity"] = "warning"
        broken = tmp_path / "broken_test.yml"
        broken.write_text(yaml.safe_dump(suite))
        result = run("promtool", "test", "rules", broken)
        assert result.returncode != 0
        assert 'severity="critical"' in result.stdout + result.stderr


class TestMetricNameReader:
    def test_reads_selectors_not_functions_labels_or_keywords(
        self, promql_metrics: Callable[[str], set[str]]
    ) -> None:
        """The reader keeps metric names and drops functions, label lists, strings and durations."""
        expr = (
            'histogram_quantile(0.95, sum by (job, le) (rate(a_bucket{job=~"x|y"}[5m] offset 1d)))'
            " / on (job) group_left (env) b_total > 1e9 and time() - c < 26 * 3600"
        )
        assert promql_metrics(expr) == {"a_bucket", "b_total", "c"}

    def test_unknown_metric_is_reported(
        self, promql_metrics: Callable[[str], set[str]], allowed_metrics: frozenset[str]
    ) -> None:
        """A misspelt metric is outside the allowed set, so the rule checks above would fail."""
        names = promql_metrics("sum(etl_job_execution_total) > 0")
        assert names - allowed_metrics == {"etl_job_execution_total"}
