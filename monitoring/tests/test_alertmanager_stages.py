"""Stage-aware inhibition on a real Alertmanager: an upstream failure mutes downstream stages.

A module of its own, so its Alertmanager holds only these alerts: ``PushgatewayDown`` in the other
module's set would mute every ``ETLJobNotRunning`` and hide what these rules do.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest

SETTLE_TIMEOUT_S = 60.0
# The job whose stages run separately (one Pushgateway group per stage).
PIPELINE = "etl-app"


def _alert(name: str, severity: str, category: str, **labels: str) -> dict[str, Any]:
    return {
        "labels": {"alertname": name, "severity": severity, "category": category, **labels},
        "annotations": {"summary": name},
    }


def _stage_alert(name: str, env: str, stage: str, **labels: str) -> dict[str, Any]:
    severity, category = {
        "ETLJobFailed": ("critical", "pipeline"),
        "ETLJobNotRunning": ("critical", "pipeline"),
        "NoRecordsProcessed": ("warning", "records"),
    }[name]
    return _alert(name, severity, category, job=PIPELINE, env=env, stage=stage, **labels)


# Stages run one at a time (the Airflow DAG): bronze failed in prod, silver failed in dev,
# nothing failed in staging.
STAGE_ALERTS = [
    _stage_alert("ETLJobFailed", "prod", "bronze"),
    _stage_alert("ETLJobNotRunning", "prod", "silver"),
    _stage_alert("ETLJobNotRunning", "prod", "gold"),
    _stage_alert("NoRecordsProcessed", "prod", "silver", table="silver.orders"),
    _stage_alert("ETLJobFailed", "dev", "silver"),
    _stage_alert("ETLJobNotRunning", "dev", "bronze"),
    _stage_alert("ETLJobNotRunning", "dev", "gold"),
    _stage_alert("ETLJobNotRunning", "staging", "silver"),
]


@pytest.fixture(scope="module")
def stage_status(
    alertmanager: str, http: Callable[..., Any]
) -> dict[tuple[str, str, str], dict[str, Any]]:
    """Post STAGE_ALERTS; return (alertname, env, stage) -> status once inhibition applied."""
    http(f"{alertmanager}/api/v2/alerts", STAGE_ALERTS)
    deadline = time.monotonic() + SETTLE_TIMEOUT_S
    while True:
        alerts = [
            a for a in http(f"{alertmanager}/api/v2/alerts") if a["labels"].get("job") == PIPELINE
        ]
        status = {
            (a["labels"]["alertname"], a["labels"]["env"], a["labels"]["stage"]): a["status"]
            for a in alerts
        }
        settled = len(alerts) == len(STAGE_ALERTS) and all(
            s["state"] != "unprocessed" for s in status.values()
        )
        if settled and status[("ETLJobNotRunning", "dev", "gold")]["state"] == "suppressed":
            return status
        if time.monotonic() > deadline:
            pytest.fail(f"alerts did not settle: {status}")
        time.sleep(0.2)


class TestStageInhibition:
    """An upstream stage's failure mutes the downstream stages' consequences, not the reverse."""

    def test_bronze_failure_mutes_silver_and_gold_not_running(
        self, stage_status: dict[Any, Any]
    ) -> None:
        """Failed bronze mutes the (critical) ETLJobNotRunning of silver and gold in that env."""
        assert stage_status[("ETLJobFailed", "prod", "bronze")]["state"] == "active"
        for stage in ("silver", "gold"):
            status = stage_status[("ETLJobNotRunning", "prod", stage)]
            assert status["state"] == "suppressed", stage
            assert status["inhibitedBy"]

    def test_bronze_failure_mutes_no_records_downstream(self, stage_status: dict[Any, Any]) -> None:
        """Silver reading nothing after bronze failed is muted too."""
        assert stage_status[("NoRecordsProcessed", "prod", "silver")]["state"] == "suppressed"

    def test_a_failure_never_mutes_the_stages_before_it(self, stage_status: dict[Any, Any]) -> None:
        """Failed silver mutes gold but not bronze, whose missed run is its own problem."""
        assert stage_status[("ETLJobNotRunning", "dev", "gold")]["state"] == "suppressed"
        assert stage_status[("ETLJobNotRunning", "dev", "bronze")]["state"] == "active"

    def test_a_failure_never_mutes_another_env(self, stage_status: dict[Any, Any]) -> None:
        """Bronze failing in prod leaves staging's silver alert active."""
        assert stage_status[("ETLJobNotRunning", "staging", "silver")]["state"] == "active"
