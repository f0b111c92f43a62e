"""The whole chain on real servers: etl-metrics -> Pushgateway -> Prometheus -> Alertmanager.

A failing job and a healthy one record their metrics with etl-metrics and push them to a real
Pushgateway; a real Prometheus scrapes it with our scrape settings and evaluates our rules every
second; a real Alertmanager applies our inhibitions. All servers listen on 127.0.0.1 only.
"""

from __future__ import annotations

import json
import re
import time
import urllib.parse
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client import CollectorRegistry

from etl_metrics import EtlMetrics, push_metrics_to_gateway

SETTLE_TIMEOUT_S = 30.0
PROMETHEUS_CONFIG = Path(__file__).resolve().parents[1] / "prometheus" / "prometheus.yml"
# Prometheus adds its external labels to the alerts it sends to Alertmanager.
EXTERNAL_LABELS = set(yaml.safe_load(PROMETHEUS_CONFIG.read_text())["global"]["external_labels"])
AlertKey = tuple[str, tuple[tuple[str, str], ...]]

ORDERS = (("job", "orders_etl"), ("stage", "silver"), ("table", "orders"))
ORDERS_CHECK = (("check", "order_id_unique"), ("job", "orders_etl"), ("table", "silver.orders"))
ORDERS_ANOMALY = (("check", "row_count"), ("job", "orders_etl"), ("table", "silver.orders"))
DASHBOARD = Path(__file__).resolve().parents[1] / "grafana" / "dashboards" / "etl_overview.json"
# Alerts the scenario must raise, each with the state Alertmanager must give it: the failed
# orders_etl run is the one page, its data alerts are inhibited; table-level alerts stay active.
EXPECTED: dict[AlertKey, str] = {
    ("ETLJobFailed", (("env", "e2e"), ("job", "orders_etl"))): "active",
    ("HighRecordFailureRate", ORDERS): "suppressed",
    ("CriticalRecordFailureRate", ORDERS): "suppressed",
    ("DataQualityCheckFailed", ORDERS_CHECK): "suppressed",
    ("DataQualityAnomalyDetected", ORDERS_ANOMALY): "suppressed",
    ("CriticalDataQualityViolation", ORDERS_CHECK): "suppressed",
    ("SchemaDriftDetected", (("kind", "extra_column"), ("table", "bronze.orders"))): "active",
    ("DeltaTableTooManyVersions", (("table", "silver.orders"),)): "active",
    ("DeltaTableSmallFiles", (("table", "silver.orders"),)): "active",
}


def _key(labels: dict[str, str]) -> AlertKey:
    """An alert's name and its labels other than those every rule (or Prometheus) adds."""
    own = {"alertname", "severity", "category"} | EXTERNAL_LABELS
    rest = tuple(sorted((k, v) for k, v in labels.items() if k not in own))
    return labels["alertname"], rest


def _failing_orders_run(metrics: EtlMetrics) -> None:
    """Orders_etl records bad data on an unhealthy table, then raises."""
    with metrics.track_job_execution("orders_etl", "e2e"):
        metrics.record_records_processed("orders_etl", "silver", "orders", 1000)
        metrics.record_records_failed("orders_etl", "silver", "orders", 300)
        metrics.record_dq_check(
            "orders_etl",
            "silver.orders",
            "order_id_unique",
            passed=False,
            violations=3,
            severity="fail",
        )
        metrics.record_dq_anomaly(
            "orders_etl",
            "silver.orders",
            "row_count",
            status="anomaly",
            severity="fail",
            value=51.0,
            lower=900.0,
            upper=1100.0,
        )
        metrics.record_schema_drift("bronze.orders", "extra_column")
        metrics.record_delta_table_metrics(
            "silver.orders",
            size_bytes=10 * 1024**3,
            versions=1500,
            files=2048,
            operation="merge",
            write_duration_seconds=12.0,
        )
        raise ValueError("boom")


def _record_scenario(registry: CollectorRegistry) -> None:
    """Orders_etl fails with bad data on an unhealthy table; customers_etl succeeds cleanly."""
    metrics = EtlMetrics(registry)
    with pytest.raises(ValueError, match="boom"):
        _failing_orders_run(metrics)
    with metrics.track_job_execution("customers_etl", "e2e"):
        metrics.record_records_processed("customers_etl", "silver", "customers", 500)
        metrics.record_dq_check("customers_etl", "silver.customers", "email_format", passed=True)
        metrics.record_dq_anomaly(
            "customers_etl",
            "silver.customers",
            "row_count",
            status="ok",
            severity="warn",
            value=500.0,
            lower=400.0,
            upper=600.0,
        )
        metrics.record_dq_anomaly(
            "customers_etl",
            "silver.customers",
            "email.null_fraction",
            status="insufficient_history",
            severity="warn",
            value=0.01,
        )


@pytest.fixture(scope="module")
def chain(
    pushgateway: str, prometheus: str, alertmanager: str, http: Callable[..., Any]
) -> dict[str, dict[AlertKey, dict[str, Any]]]:
    """Push the scenario, then wait until Prometheus fires and Alertmanager has placed them."""
    registry = CollectorRegistry()
    _record_scenario(registry)
    for job in ("orders_etl", "customers_etl"):
        pushed = push_metrics_to_gateway(
            pushgateway, job, grouping_key={"env": "e2e"}, registry=registry, strict=True
        )
        assert pushed
    deadline = time.monotonic() + SETTLE_TIMEOUT_S
    while True:
        rules = http(f"{prometheus}/api/v1/alerts")["data"]["alerts"]
        firing = {_key(a["labels"]): a for a in rules if a["state"] == "firing"}
        received = {_key(a["labels"]): a for a in http(f"{alertmanager}/api/v2/alerts")}
        settled = set(EXPECTED) <= set(firing) and all(
            key in received and received[key]["status"]["state"] == state
            for key, state in EXPECTED.items()
        )
        if settled or time.monotonic() > deadline:
            return {"prometheus": firing, "alertmanager": received}
        time.sleep(0.5)


class TestChain:
    """The rules and routing against what the library really pushes."""

    def test_prometheus_fires_exactly_the_expected_alerts(
        self, chain: dict[str, dict[AlertKey, dict[str, Any]]]
    ) -> None:
        """The scenario fires these alerts and no others (the healthy job raises nothing)."""
        assert set(chain["prometheus"]) == set(EXPECTED)

    def test_alertmanager_keeps_the_failure_and_mutes_its_consequences(
        self, chain: dict[str, dict[AlertKey, dict[str, Any]]]
    ) -> None:
        """Alertmanager shows ETLJobFailed and table alerts active, the job's data alerts muted."""
        states = {key: a["status"]["state"] for key, a in chain["alertmanager"].items()}
        assert {key: states.get(key) for key in EXPECTED} == EXPECTED

    def test_alerts_carry_rendered_annotations(
        self, chain: dict[str, dict[AlertKey, dict[str, Any]]]
    ) -> None:
        """Annotations are rendered from the pushed values (30% failed, 1500 versions)."""
        firing = chain["prometheus"]
        failed = firing[("CriticalRecordFailureRate", ORDERS)]["annotations"]
        assert failed["summary"] == "30% of orders records failed"
        versions = firing[("DeltaTableTooManyVersions", (("table", "silver.orders"),))]
        assert versions["annotations"]["summary"] == "Delta table silver.orders keeps 1500 versions"

    def test_job_less_counters_are_not_double_counted(
        self, chain: dict[str, dict[AlertKey, dict[str, Any]]]
    ) -> None:
        """One drift pushed by two jobs' groups is still reported once (max, not sum)."""
        drift = chain["prometheus"][
            ("SchemaDriftDetected", (("kind", "extra_column"), ("table", "bronze.orders")))
        ]
        assert drift["annotations"]["description"].startswith(
            "The latest run detected 1 schema drift(s) of kind extra_column on bronze.orders"
        )


def _panel_queries(title: str) -> list[str]:
    """The PromQL of a dashboard panel, with the job/env pickers set to "All"."""
    panels = json.loads(DASHBOARD.read_text())["panels"]
    (panel,) = [p for p in panels if p["title"] == title]
    return [re.sub(r"\$\{?(job|env)\}?", ".*", t["expr"]) for t in panel["targets"]]


class TestDashboardOnPushedData:
    """The dashboard's anomaly panels, queried on the real Prometheus, show the pushed runs."""

    def _query(self, prometheus: str, http: Callable[..., Any], expr: str) -> list[Any]:
        url = f"{prometheus}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
        result: list[Any] = http(url)["data"]["result"]
        return result

    def test_anomaly_panels(
        self,
        chain: dict[str, dict[AlertKey, dict[str, Any]]],
        prometheus: str,
        http: Callable[..., Any],
    ) -> None:
        """DQ anomalies lists the failed run's check; the status panel shows the learning one."""
        (anomalies,) = _panel_queries("DQ anomalies")
        rows = self._query(prometheus, http, anomalies)
        assert [(r["metric"]["job"], r["metric"]["check"], r["value"][1]) for r in rows] == [
            ("orders_etl", "row_count", "1")
        ]
        (status,) = _panel_queries("DQ anomaly check status")
        seen = {
            (r["metric"]["job"], r["metric"]["check"], r["metric"]["status"])
            for r in self._query(prometheus, http, status)
        }
        assert seen == {
            ("orders_etl", "row_count", "anomaly"),
            ("customers_etl", "row_count", "ok"),
            ("customers_etl", "email.null_fraction", "insufficient_history"),
        }
        rows_by_target = [
            {
                r["metric"]["job"]: float(r["value"][1])
                for r in self._query(prometheus, http, expr)
                if r["metric"]["check"] == "row_count"
            }
            for expr in _panel_queries("DQ anomaly value and allowed range")
        ]
        assert rows_by_target == [
            {"orders_etl": 51.0, "customers_etl": 500.0},
            {"orders_etl": 900.0, "customers_etl": 400.0},
            {"orders_etl": 1100.0, "customers_etl": 600.0},
        ]
