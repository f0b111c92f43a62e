"""A failed pipeline run pages: etl-app -> Pushgateway -> Prometheus (our rules) -> Alertmanager.

etl-app runs for real (public API, the testkit's Spark session) on input whose orders file gained a
column, under ``schemas.drift_policy: fail``: the run fails with SchemaDriftError and pushes its
metrics. A real Prometheus running monitoring/'s config and rules (intervals shortened) fires
ETLJobFailed, which reaches a real Alertmanager with monitoring/'s routes; the Grafana dashboard's
own queries then return that run's data. Every wait is on a condition, with a generous timeout.
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

from etl_app import SchemaDriftError, generate_sample, load_config, run_pipeline
from schema_registry import DriftKind

pytestmark = [pytest.mark.integration, pytest.mark.spark]

MONITORING = Path(__file__).resolve().parents[1] / "monitoring"
DASHBOARD = MONITORING / "grafana" / "dashboards" / "etl_overview.json"
JOB = "etl-drift-it"
ENV = "local"
# Scrape and evaluation run every second; a loaded machine may still take a while.
WAIT_TIMEOUT_S = 180.0
# Grafana's variables as this run sets them, for the dashboard's own queries.
GRAFANA_VARIABLES = {"job": JOB, "env": ENV, "__rate_interval": "1m", "__interval": "15s"}


def _wait_for(what: str, probe: Callable[[], Any]) -> Any:
    """Poll ``probe`` until it returns something truthy; fail naming ``what`` after the timeout."""
    deadline = time.monotonic() + WAIT_TIMEOUT_S
    last: Any = None
    while time.monotonic() < deadline:
        last = probe()
        if last:
            return last
        time.sleep(1.0)
    pytest.fail(f"{what}: not seen within {WAIT_TIMEOUT_S}s (last answer: {last!r})")


def _drifted_input(folder: Path) -> Path:
    """Sample input whose orders files carry a column the registered schema does not have."""
    generate_sample(folder, 10)
    orders = sorted(folder.glob("orders_*.json"))
    assert orders
    for path in orders:
        rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
        path.write_text("".join(json.dumps({**row, "coupon": "SPRING"}) + "\n" for row in rows))
    return folder


@pytest.fixture(scope="module")
def failed_run(
    spark: object,
    pushgateway: Any,
    alerting_prometheus: Any,
    tmp_path_factory: pytest.TempPathFactory,
) -> str:
    """Run the pipeline into a drift failure with the real Pushgateway configured; its error."""
    folder = tmp_path_factory.mktemp("etl-drift")
    config_file = folder / "etl.yaml"
    config_file.write_text(
        yaml.safe_dump(
            {
                "job": {"name": JOB},
                "input": {"dir": str(_drifted_input(folder / "landing"))},
                "output": {"root": str(folder / "out")},
                "schemas": {"drift_policy": "fail"},
                "metrics": {
                    "pushgateway": {"url": pushgateway.url, "grouping_key": {"instance": "it"}}
                },
            }
        )
    )
    config = load_config(config_file, ENV)
    with pytest.raises(SchemaDriftError) as raised:
        run_pipeline(config, spark=spark)  # type: ignore[arg-type]
    return str(raised.value)


def _prometheus_query(prometheus: Any, expr: str) -> list[dict[str, Any]]:
    answer = json.loads(prometheus.get(f"/api/v1/query?query={urllib.parse.quote(expr)}"))
    assert answer["status"] == "success", answer
    result: list[dict[str, Any]] = answer["data"]["result"]
    return result


def _dashboard_query(title: str) -> str:
    """The dashboard's query for a panel (or annotation) title, Grafana variables substituted."""
    dashboard = json.loads(DASHBOARD.read_text())
    exprs = [t["expr"] for p in dashboard["panels"] if p["title"] == title for t in p["targets"]]
    exprs += [a["expr"] for a in dashboard["annotations"]["list"] if a["name"] == title]
    (expr,) = exprs
    return re.sub(r"\$\{?(\w+)\}?", lambda m: GRAFANA_VARIABLES[m.group(1)], expr)


class TestFailedRunAlerts:
    """The failure travels the whole chain and shows on the dashboard."""

    def test_the_run_fails_on_drift(self, failed_run: str) -> None:
        """The drift policy `fail` stops the run with an error naming the drifted table."""
        assert "bronze.orders" in failed_run

    def test_prometheus_fires_etl_job_failed(
        self, failed_run: str, alerting_prometheus: Any
    ) -> None:
        """Our rules fire ETLJobFailed for the run's job and env."""

        def firing() -> list[dict[str, Any]]:
            alerts = json.loads(alerting_prometheus.get("/api/v1/alerts"))["data"]["alerts"]
            return [
                a
                for a in alerts
                if a["labels"]["alertname"] == "ETLJobFailed"
                and a["labels"].get("job") == JOB
                and a["state"] == "firing"
            ]

        (alert,) = _wait_for("ETLJobFailed firing in Prometheus", firing)
        assert alert["labels"]["env"] == ENV
        assert alert["labels"]["severity"] == "critical"

    def test_etl_job_failed_reaches_alertmanager_and_pages(
        self, failed_run: str, alerting_prometheus: Any, alertmanager: Any
    ) -> None:
        """Alertmanager holds ETLJobFailed, active, routed to the on-call receivers."""
        # One `filter` parameter per matcher.
        query = urllib.parse.urlencode(
            [("filter", 'alertname="ETLJobFailed"'), ("filter", f'job="{JOB}"')]
        )

        def received() -> list[dict[str, Any]]:
            answer: list[dict[str, Any]] = json.loads(alertmanager.get(f"/api/v2/alerts?{query}"))
            return answer

        (alert,) = _wait_for("ETLJobFailed in Alertmanager", received)
        assert alert["status"]["state"] == "active"
        assert alert["labels"]["env"] == ENV
        assert alert["annotations"]["summary"] == f"ETL job {JOB} ({ENV}) failed"
        assert {r["name"] for r in alert["receivers"]} == {"pagerduty-oncall", "slack-etl-critical"}

    def test_dashboard_shows_the_failure(self, failed_run: str, alerting_prometheus: Any) -> None:
        """The dashboard's "Job failures" annotation and success rate return this run."""
        failures = _wait_for(
            "dashboard 'Job failures' data",
            lambda: _prometheus_query(alerting_prometheus, _dashboard_query("Job failures")),
        )
        assert [(s["metric"]["job"], s["metric"]["env"]) for s in failures] == [(JOB, ENV)]
        rate = _prometheus_query(alerting_prometheus, _dashboard_query("Job success rate"))
        assert [float(s["value"][1]) for s in rate] == [0.0]

    def test_dashboard_shows_the_drift_by_emitted_kind(
        self, failed_run: str, alerting_prometheus: Any
    ) -> None:
        """The "Schema drift" panel shows bronze.orders' extra column, kinds as DriftKind names."""
        drift = _wait_for(
            "dashboard 'Schema drift' data",
            lambda: _prometheus_query(alerting_prometheus, _dashboard_query("Schema drift")),
        )
        kinds = {s["metric"]["kind"] for s in drift if s["metric"]["table"] == "bronze.orders"}
        assert DriftKind.EXTRA_COLUMN.value in kinds
        assert kinds <= {kind.value for kind in DriftKind}
