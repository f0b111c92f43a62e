"""Alertmanager config: amtool accepts it, routes reach the right receiver, inhibitions hold."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

MONITORING = Path(__file__).resolve().parents[1]
CONFIG = MONITORING / "alertmanager" / "alertmanager.yml"
RULES = MONITORING / "prometheus" / "rules" / "etl_alerts.yml"
SETTLE_TIMEOUT_S = 60.0

Run = Callable[..., subprocess.CompletedProcess[str]]


def _receivers(run: Run, *labels: str) -> list[str]:
    result = run("amtool", "config", "routes", "test", f"--config.file={CONFIG}", *labels)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout.strip().split(",")


class TestConfig:
    def test_amtool_accepts_config(self, run: Run) -> None:
        """The config passes amtool check-config, templates included."""
        result = run("amtool", "check-config", CONFIG)
        assert result.returncode == 0, result.stdout + result.stderr
        assert "1 templates" in result.stdout
        assert "6 inhibit rules" in result.stdout

    def test_no_secret_is_inline(self) -> None:
        """Slack URLs and PagerDuty keys are only referenced as files, never written inline."""
        config = yaml.safe_load(CONFIG.read_text())
        slack = [c for r in config["receivers"] for c in r.get("slack_configs", [])]
        pager = [c for r in config["receivers"] for c in r.get("pagerduty_configs", [])]
        assert slack
        assert pager
        assert all("api_url" not in c and c["api_url_file"].startswith("/etc/") for c in slack)
        assert all("routing_key" not in c and "service_key" not in c for c in pager)
        assert all(c["routing_key_file"].startswith("/etc/") for c in pager)
        assert "hooks.slack.com" not in CONFIG.read_text()
        assert "smtp_auth_password" not in config["global"]
        assert config["global"]["smtp_auth_password_file"].startswith("/etc/")

    def test_every_receiver_is_reachable(self) -> None:
        """Every receiver defined is the target of some route (no dead configuration)."""
        config = yaml.safe_load(CONFIG.read_text())
        routed = {config["route"]["receiver"]} | {r["receiver"] for r in config["route"]["routes"]}
        assert routed == {r["name"] for r in config["receivers"]}


class TestRoutes:
    @pytest.mark.parametrize(
        ("labels", "expected"),
        [
            (
                ["alertname=ETLJobFailed", "severity=critical", "category=pipeline", "job=orders"],
                ["pagerduty-oncall", "slack-etl-critical"],
            ),
            (
                [
                    "alertname=CriticalDataQualityViolation",
                    "severity=critical",
                    "category=data_quality",
                ],
                ["pagerduty-oncall", "slack-etl-critical"],
            ),
            (
                ["alertname=DataQualityCheckFailed", "severity=warning", "category=data_quality"],
                ["slack-data-quality"],
            ),
            (
                [
                    "alertname=DataQualityAnomalyDetected",
                    "severity=warning",
                    "category=data_quality",
                ],
                ["slack-data-quality"],
            ),
            (
                ["alertname=DeltaTableSmallFiles", "severity=warning", "category=delta"],
                ["slack-platform"],
            ),
            (
                ["alertname=HighMemoryUsage", "severity=warning", "category=resource"],
                ["slack-platform"],
            ),
            (
                ["alertname=ETLMetricsAbsent", "severity=warning", "category=platform"],
                ["slack-platform"],
            ),
            (
                ["alertname=HighRecordFailureRate", "severity=warning", "category=records"],
                ["slack-etl-alerts"],
            ),
            (["alertname=SomethingUnlabelled"], ["email-default"]),
        ],
        ids=[
            "critical-pages",
            "critical-dq-pages",
            "dq-warning",
            "dq-anomaly-warning",
            "delta-warning",
            "resource-warning",
            "platform-warning",
            "records-warning",
            "fallback",
        ],
    )
    def test_alert_reaches_expected_receivers(
        self, run: Run, labels: list[str], expected: list[str]
    ) -> None:
        """Each label set resolves (amtool) to exactly the expected receivers, in order."""
        assert _receivers(run, *labels) == expected

    def test_every_rule_severity_and_category_is_routed_to_a_team(self, run: Run) -> None:
        """Each alert rule's labels route to a named team receiver, criticals to PagerDuty."""
        groups = yaml.safe_load(RULES.read_text())["groups"]
        for rule in (r for g in groups for r in g["rules"]):
            labels = [f"alertname={rule['alert']}"]
            labels += [f"{k}={v}" for k, v in rule["labels"].items()]
            receivers = _receivers(run, *labels)
            if rule["labels"]["severity"] == "critical":
                assert receivers == ["pagerduty-oncall", "slack-etl-critical"], rule["alert"]
            else:
                assert len(receivers) == 1
                assert receivers[0].startswith("slack-"), rule["alert"]


def _alert(name: str, severity: str, category: str, **labels: str) -> dict[str, Any]:
    return {
        "labels": {"alertname": name, "severity": severity, "category": category, **labels},
        "annotations": {"summary": name},
    }


# What the rules would raise together when orders_etl fails and the gateway is down.
LIVE_ALERTS = [
    _alert("ETLJobFailed", "critical", "pipeline", job="orders_etl", env="prod"),
    _alert("HighRecordFailureRate", "warning", "records", job="orders_etl", table="orders"),
    _alert(
        "CriticalDataQualityViolation",
        "critical",
        "data_quality",
        job="orders_etl",
        table="orders",
        check="order_id_unique",
    ),
    _alert(
        "CriticalDataQualityViolation",
        "critical",
        "data_quality",
        job="customers_etl",
        table="customers",
        check="customer_id_unique",
    ),
    _alert(
        "DataQualityCheckFailed",
        "warning",
        "data_quality",
        job="customers_etl",
        table="customers",
        check="email_format",
    ),
    _alert(
        "DataQualityAnomalyDetected",
        "warning",
        "data_quality",
        job="orders_etl",
        table="orders",
        check="row_count",
    ),
    _alert("DeltaTableTooManyVersions", "warning", "delta", table="silver.orders"),
    _alert("PushgatewayDown", "critical", "platform", job="pushgateway"),
    _alert("ETLMetricsAbsent", "warning", "platform"),
]


@pytest.fixture(scope="module")
def live_status(
    alertmanager: str, http: Callable[..., Any]
) -> dict[tuple[str, str], dict[str, Any]]:
    """Post LIVE_ALERTS and return each one's status once Alertmanager has processed them all."""
    http(f"{alertmanager}/api/v2/alerts", LIVE_ALERTS)
    deadline = time.monotonic() + SETTLE_TIMEOUT_S
    while True:
        alerts = http(f"{alertmanager}/api/v2/alerts")
        status = {
            (a["labels"]["alertname"], a["labels"].get("job", "")): a["status"] for a in alerts
        }
        settled = len(alerts) == len(LIVE_ALERTS) and all(
            s["state"] != "unprocessed" for s in status.values()
        )
        # Inhibition needs the sources in the inhibitor's cache: wait for the first effect.
        if settled and status[("HighRecordFailureRate", "orders_etl")]["state"] == "suppressed":
            return status
        if time.monotonic() > deadline:
            pytest.fail(f"alerts did not settle: {status}")
        time.sleep(0.2)


class TestInhibition:
    def test_failed_job_suppresses_its_warnings(self, live_status: dict[Any, Any]) -> None:
        """A critical ETLJobFailed silences the same job's warning-level data alerts."""
        assert live_status[("HighRecordFailureRate", "orders_etl")]["state"] == "suppressed"

    def test_failed_job_suppresses_its_critical_data_alerts(
        self, live_status: dict[Any, Any]
    ) -> None:
        """A failed run also silences its own critical DQ alert: the failure is the one page."""
        assert live_status[("CriticalDataQualityViolation", "orders_etl")]["state"] == "suppressed"
        assert live_status[("ETLJobFailed", "orders_etl")]["state"] == "active"

    def test_failed_job_suppresses_its_anomaly_alert(self, live_status: dict[Any, Any]) -> None:
        """A batch anomaly of a failed run waits for the rerun, like its other data alerts."""
        assert live_status[("DataQualityAnomalyDetected", "orders_etl")]["state"] == "suppressed"

    def test_other_jobs_are_not_suppressed(self, live_status: dict[Any, Any]) -> None:
        """Alerts of a different job stay active; only its own critical silences its warning."""
        assert live_status[("CriticalDataQualityViolation", "customers_etl")]["state"] == "active"
        assert live_status[("DataQualityCheckFailed", "customers_etl")]["state"] == "suppressed"

    def test_table_alerts_without_job_stay_active(self, live_status: dict[Any, Any]) -> None:
        """Delta table alerts carry no job label, so no job's critical alert silences them."""
        assert live_status[("DeltaTableTooManyVersions", "")]["state"] == "active"

    def test_gateway_down_suppresses_missing_metrics(self, live_status: dict[Any, Any]) -> None:
        """PushgatewayDown explains absent ETL metrics, so ETLMetricsAbsent is silenced."""
        assert live_status[("ETLMetricsAbsent", "")]["state"] == "suppressed"
        assert live_status[("PushgatewayDown", "pushgateway")]["state"] == "active"
