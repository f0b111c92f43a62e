"""Grafana dashboard: its panels exist, query only etl-metrics names and parse as PromQL."""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

MONITORING = Path(__file__).resolve().parents[1]
GRAFANA = MONITORING / "grafana"
DASHBOARD = GRAFANA / "dashboards" / "etl_overview.json"

Run = Callable[..., subprocess.CompletedProcess[str]]

# The panels the overview promises (monitoring/README.md lists them).
EXPECTED_PANELS = {
    "Job success rate",
    "Last success age",
    "Error rate",
    "Job duration p50 / p95",
    "Stage duration p95",
    "Records processed / failed",
    "Record failure ratio",
    "DQ violations by check",
    "DQ checks failing",
    "Schema drift",
    "DQ anomalies",
    "DQ anomaly check status",
    "DQ anomaly value and allowed range",
    "Delta table size",
    "Delta table versions",
    "Delta table files / average file size",
    "Delta write duration p95",
    "Memory",
    "CPU",
}
_GRAFANA_VARIABLE = re.compile(r"\$\{?(\w+)\}?")
_GRAFANA_INTERVALS = {"__rate_interval": "5m", "__interval": "1m", "__range": "1d"}


def _dashboard() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return data


def _panels() -> list[dict[str, Any]]:
    return [p for p in _dashboard()["panels"] if p["type"] != "row"]


def _queries() -> list[tuple[str, str]]:
    """(where, PromQL) for every panel target and annotation of the dashboard."""
    queries = [(f"{p['title']}/{t['refId']}", t["expr"]) for p in _panels() for t in p["targets"]]
    queries += [(f"annotation {a['name']}", a["expr"]) for a in _dashboard()["annotations"]["list"]]
    return queries


def _as_promql(expr: str) -> str:
    """Replace Grafana variables: intervals by durations, label filters by a match-all regex."""
    return _GRAFANA_VARIABLE.sub(lambda m: _GRAFANA_INTERVALS.get(m.group(1), ".*"), expr)


QUERIES = _queries()


class TestLayout:
    def test_dashboard_has_the_promised_panels(self) -> None:
        """Every panel the README promises exists, each with at least one query."""
        titles = {p["title"] for p in _panels()}
        assert titles == EXPECTED_PANELS
        assert all(p["targets"] for p in _panels())

    def test_panel_ids_are_unique_and_panels_do_not_overlap(self) -> None:
        """Grafana needs unique ids; overlapping grid positions would hide panels."""
        panels = _dashboard()["panels"]
        assert len({p["id"] for p in panels}) == len(panels)
        cells: set[tuple[int, int]] = set()
        for panel in panels:
            pos = panel["gridPos"]
            assert pos["x"] + pos["w"] <= 24, panel["title"]
            area = {
                (x, y)
                for x in range(pos["x"], pos["x"] + pos["w"])
                for y in range(pos["y"], pos["y"] + pos["h"])
            }
            assert not area & cells, f"{panel['title']} overlaps another panel"
            cells |= area

    def test_anomaly_panels_read_the_anomaly_metrics(
        self, promql_metrics: Callable[[str], set[str]]
    ) -> None:
        """The DQ anomaly panels show anomalies, statuses, and value with its allowed range."""
        panels = {p["title"]: p for p in _panels()}

        def names(title: str) -> set[str]:
            return {n for t in panels[title]["targets"] for n in promql_metrics(t["expr"])}

        assert names("DQ anomalies") == {"etl_dq_anomalies_total"}
        assert names("DQ anomaly check status") == {"etl_dq_anomaly_checks_total"}
        assert names("DQ anomaly value and allowed range") == {
            "etl_dq_anomaly_value",
            "etl_dq_anomaly_lower_bound",
            "etl_dq_anomaly_upper_bound",
        }

    def test_queries_use_the_datasource_variable(self) -> None:
        """Panels query the selected Prometheus, so the dashboard works in any Grafana."""
        variables = {v["name"]: v for v in _dashboard()["templating"]["list"]}
        assert variables["datasource"]["query"] == "prometheus"
        for panel in _panels():
            assert panel["datasource"]["uid"] == "${datasource}", panel["title"]

    def test_job_and_env_variables_come_from_etl_metrics(
        self, promql_metrics: Callable[[str], set[str]]
    ) -> None:
        """The job/env pickers list the label values of etl_job_executions_total."""
        variables = {v["name"]: v for v in _dashboard()["templating"]["list"]}
        for name in ("env", "job"):
            query = variables[name]["query"]["query"]
            match = re.fullmatch(r"label_values\((.*), (\w+)\)", query)
            assert match is not None, query
            assert promql_metrics(_as_promql(match.group(1))) == {"etl_job_executions_total"}
            assert match.group(2) == name


class TestQueries:
    @pytest.mark.parametrize(("where", "expr"), QUERIES, ids=[q[0] for q in QUERIES])
    def test_query_selects_only_exported_metrics(
        self,
        where: str,
        expr: str,
        promql_metrics: Callable[[str], set[str]],
        allowed_metrics: frozenset[str],
    ) -> None:
        """Each query reads etl-metrics names (histograms via _bucket/_sum/_count) and no others."""
        names = promql_metrics(_as_promql(expr))
        assert names, where
        assert names <= allowed_metrics, names - allowed_metrics

    def test_every_query_parses_as_promql(self, run: Run, tmp_path: Path) -> None:
        """Every query parses in promtool (as a recording rule), Grafana variables substituted."""
        rules = [
            {"record": f"dashboard:query_{i}", "expr": _as_promql(expr)}
            for i, (_, expr) in enumerate(QUERIES)
        ]
        path = tmp_path / "dashboard_rules.yml"
        path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
        result = run("promtool", "check", "rules", path)
        assert result.returncode == 0, result.stdout + result.stderr
        assert f"{len(rules)} rules found" in result.stdout

    def test_a_broken_query_is_rejected(self, run: Run, tmp_path: Path) -> None:
        """The parse check is real: an unbalanced query makes promtool fail."""
        broken = {"record": "dashboard:broken", "expr": "sum by (job (etl_errors_total)"}
        path = tmp_path / "broken_rules.yml"
        path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": [broken]}]}))
        result = run("promtool", "check", "rules", path)
        assert result.returncode != 0


class TestProvisioning:
    def test_dashboard_provider_points_where_dashboards_are_mounted(self) -> None:
        """The file provider loads from the folder the README mounts the dashboards at."""
        provider = yaml.safe_load((GRAFANA / "provisioning" / "dashboards" / "etl.yml").read_text())
        (entry,) = provider["providers"]
        assert entry["type"] == "file"
        assert entry["options"]["path"] == "/var/lib/grafana/dashboards"

    def test_datasource_is_the_monitoring_prometheus(self) -> None:
        """The provisioned data source is the Prometheus that loads the ETL rules."""
        sources = yaml.safe_load(
            (GRAFANA / "provisioning" / "datasources" / "prometheus.yml").read_text()
        )["datasources"]
        (source,) = sources
        assert source["type"] == "prometheus"
        assert source["url"] == "http://prometheus:9090"
        assert source["isDefault"] is True
