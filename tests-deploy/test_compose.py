"""docker-compose-monitoring.yml: a valid Compose file that starts the stack monitoring/ configures.

No Docker engine runs here, so the stack is checked as data: the Compose specification schema
(check-jsonschema's bundled ``vendor.compose-spec``), and the wiring between the services and the
files in monitoring/ that promtool and amtool check (``monitoring/tests``).
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Callable
from pathlib import Path, PurePosixPath
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
COMPOSE = ROOT / "docker-compose-monitoring.yml"
MONITORING = ROOT / "monitoring"

Run = Callable[..., subprocess.CompletedProcess[str]]

PORTS = {
    "prometheus": 9090,
    "pushgateway": 9091,
    "alertmanager": 9093,
    "grafana": 3000,
    "node-exporter": 9100,
}


def _compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    return data


def _binds(service: str) -> dict[str, Path]:
    """Container path -> repository path of a service's bind mounts from the repository."""
    out = {}
    for volume in _compose()["services"][service].get("volumes", []):
        source, target = volume.split(":")[:2]
        if source.startswith("./"):
            out[target] = ROOT / source
    return out


def _container_file(service: str, path: str) -> Path | None:
    """The repository file a container path of ``service`` resolves to through its bind mounts."""
    wanted = PurePosixPath(path)
    for target, source in _binds(service).items():
        mount = PurePosixPath(target)
        if wanted == mount or mount in wanted.parents:
            return source / wanted.relative_to(mount)
    return None


class TestSchema:
    """The Compose specification."""

    def test_compose_file_matches_the_compose_spec(self, run: Run) -> None:
        """check-jsonschema's bundled Compose specification schema accepts the file."""
        result = run("check-jsonschema", "--builtin-schema", "vendor.compose-spec", COMPOSE)
        assert result.returncode == 0, result.stdout + result.stderr

    def test_schema_check_rejects_a_broken_file(self, run: Run, tmp_path: Path) -> None:
        """The check is live: a healthcheck with an unknown key and a bad port type fail."""
        data = _compose()
        data["services"]["prometheus"]["healthcheck"]["intervall"] = "10s"
        data["services"]["grafana"]["ports"] = [{"target": "three thousand"}]
        bad = tmp_path / "compose.yml"
        bad.write_text(yaml.safe_dump(data))
        result = run("check-jsonschema", "--builtin-schema", "vendor.compose-spec", bad)
        assert result.returncode != 0


class TestServices:
    """What runs and how it is reached."""

    def test_the_five_services_publish_their_usual_ports_on_loopback(self) -> None:
        """Each service publishes its well-known port, on 127.0.0.1 only."""
        services = _compose()["services"]
        assert set(services) == set(PORTS)
        for name, port in PORTS.items():
            assert services[name]["ports"] == [f"127.0.0.1:{port}:{port}"], name

    @pytest.mark.parametrize("service", sorted(PORTS))
    def test_every_service_has_a_health_check_on_its_own_port(self, service: str) -> None:
        """Each service's health check probes an HTTP endpoint of that service."""
        check = _compose()["services"][service]["healthcheck"]
        assert check["test"][0] == "CMD"
        url = check["test"][-1]
        assert re.fullmatch(rf"http://127\.0\.0\.1:{PORTS[service]}/\S+", url), url

    @pytest.mark.parametrize("service", sorted(PORTS))
    def test_images_are_pinned_versions(self, service: str) -> None:
        """Every image names a version tag, never latest or no tag."""
        image = _compose()["services"][service]["image"]
        name, _, tag = image.rpartition(":")
        assert name
        assert re.fullmatch(r"v?\d+\.\d+\.\d+", tag), image

    def test_no_secret_is_written_in_the_file(self) -> None:
        """Grafana's password comes from the environment, Alertmanager's secrets from files."""
        grafana = _compose()["services"]["grafana"]["environment"]
        assert grafana["GF_SECURITY_ADMIN_PASSWORD"].startswith("${GRAFANA_ADMIN_PASSWORD:?")
        secrets = _binds("alertmanager")["/etc/alertmanager/secrets"]
        assert (secrets / ".gitignore").read_text().splitlines()[-2:] == ["*", "!.gitignore"]


class TestMountsAreTheCheckedFiles:
    """Each service runs the files monitoring/tests checks, at the paths their configs name."""

    def test_every_bind_mount_source_exists(self) -> None:
        """Every ./ path the file mounts exists in the repository."""
        for service in PORTS:
            for target, source in _binds(service).items():
                assert source.exists(), f"{service}: {source} for {target}"

    def test_prometheus_runs_the_checked_config_and_rules(self) -> None:
        """The --config.file is monitoring's prometheus.yml; its rule_files glob finds the rules."""
        command = _compose()["services"]["prometheus"]["command"]
        (config_path,) = [c.split("=", 1)[1] for c in command if c.startswith("--config.file=")]
        config = _container_file("prometheus", config_path)
        assert config == MONITORING / "prometheus" / "prometheus.yml"
        rule_files = yaml.safe_load(config.read_text())["rule_files"]
        folder = PurePosixPath(config_path).parent
        found = []
        for pattern in rule_files:
            container = folder / pattern
            host = _container_file("prometheus", str(container.parent))
            assert host is not None, pattern
            found += sorted(host.glob(container.name))
        assert found == [MONITORING / "prometheus" / "rules" / "etl_alerts.yml"]

    def test_prometheus_targets_are_compose_services(self) -> None:
        """Scrape and alerting targets are service:port pairs of this file, or Prometheus itself."""
        config = yaml.safe_load((MONITORING / "prometheus" / "prometheus.yml").read_text())
        targets = [
            t
            for job in config["scrape_configs"]
            for s in job["static_configs"]
            for t in s["targets"]
        ]
        targets += config["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"]
        for target in targets:
            host, port = target.split(":")
            if host == "localhost":
                assert int(port) == PORTS["prometheus"]
            else:
                assert PORTS[host] == int(port), target

    def test_alertmanager_runs_the_checked_config_and_templates(self) -> None:
        """Its config is monitoring's alertmanager.yml; the templates glob and secrets resolve."""
        command = _compose()["services"]["alertmanager"]["command"]
        (config_path,) = [c.split("=", 1)[1] for c in command if c.startswith("--config.file=")]
        config = _container_file("alertmanager", config_path)
        assert config == MONITORING / "alertmanager" / "alertmanager.yml"
        data = yaml.safe_load(config.read_text())
        (pattern,) = data["templates"]
        templates = PurePosixPath(config_path).parent / pattern
        host = _container_file("alertmanager", str(templates.parent))
        assert host is not None
        assert sorted(host.glob(templates.name)) == [
            MONITORING / "alertmanager" / "templates" / "etl.tmpl"
        ]
        secret_files = {
            value
            for receiver in data["receivers"]
            for configs in receiver.values()
            if isinstance(configs, list)
            for entry in configs
            for key, value in entry.items()
            if key.endswith("_file")
        }
        secret_files.add(data["global"]["smtp_auth_password_file"])
        assert secret_files
        for path in secret_files:
            source = _container_file("alertmanager", path)
            assert source is not None, path
            assert source.parent == MONITORING / "alertmanager" / "secrets"

    def test_grafana_provisions_the_checked_dashboards_and_datasource(self) -> None:
        """Provisioning is monitoring/grafana/provisioning; the provider's path holds the JSON."""
        assert _container_file("grafana", "/etc/grafana/provisioning") == (
            MONITORING / "grafana" / "provisioning"
        )
        provider = yaml.safe_load(
            (MONITORING / "grafana" / "provisioning" / "dashboards" / "etl.yml").read_text()
        )["providers"][0]
        dashboards = _container_file("grafana", provider["options"]["path"])
        assert dashboards is not None
        assert (dashboards / "etl_overview.json").is_file()
        source = yaml.safe_load(
            (MONITORING / "grafana" / "provisioning" / "datasources" / "prometheus.yml").read_text()
        )["datasources"][0]
        host, port = source["url"].removeprefix("http://").split(":")
        assert PORTS[host] == int(port)
