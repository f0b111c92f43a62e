"""k8s/: plain objects pass kubernetes-validate --strict, Spark Operator objects their CRD schema.

The SparkApplication CRDs come from ../shared/vendor/spark-operator (or SPARK_OPERATOR_CRDS).
Their openAPIV3Schema is checked with jsonschema after closing every object schema the way
``kubectl --validate=strict`` does: an unknown field is an error, not silently pruned.
"""

from __future__ import annotations

import copy
import functools
import os
import re
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
K8S = ROOT / "k8s"
CRDS = Path(
    os.environ.get("SPARK_OPERATOR_CRDS", str(ROOT.parent / "shared" / "vendor" / "spark-operator"))
)
PLAIN = ["namespace.yaml", "rbac.yaml", "config.yaml", "storage.yaml"]
SPARK = {
    "SparkApplication": "spark-application.yaml",
    "ScheduledSparkApplication": "scheduled-spark-application.yaml",
}

Run = Callable[..., subprocess.CompletedProcess[str]]


def _load(name: str) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all((K8S / name).read_text()) if doc]


def _one(name: str) -> dict[str, Any]:
    (doc,) = _load(name)
    return doc


def _strict(schema: Any) -> Any:
    """Close object schemas (no unknown fields) and map Kubernetes extensions to JSON Schema."""
    if isinstance(schema, list):
        return [_strict(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    out = {key: _strict(value) for key, value in schema.items()}
    if out.pop("x-kubernetes-int-or-string", False):
        out.pop("type", None)
        out["anyOf"] = [{"type": "integer"}, {"type": "string"}]
    preserve = out.pop("x-kubernetes-preserve-unknown-fields", False)
    if "properties" in out and "additionalProperties" not in out and not preserve:
        out["additionalProperties"] = False
    return out


@functools.cache
def _crd_schema(kind: str) -> dict[str, Any]:
    path = CRDS / f"sparkoperator.k8s.io_{kind.lower()}s.yaml"
    if not path.exists():
        pytest.fail(
            f"{path} not found: the Spark Operator CRDs are vendored in ../shared/vendor/"
            "spark-operator; set SPARK_OPERATOR_CRDS to the folder holding them."
        )
    # libyaml when present: the CRDs are 13,000 lines each.
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    crd = yaml.load(path.read_text(), Loader=loader)
    (version,) = [v for v in crd["spec"]["versions"] if v["name"] == "v1beta2"]
    schema: dict[str, Any] = _strict(version["schema"]["openAPIV3Schema"])
    return schema


def _errors(kind: str, document: dict[str, Any]) -> list[str]:
    validator = jsonschema.Draft4Validator(_crd_schema(kind))
    return [
        f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
        for e in validator.iter_errors(document)
    ]


class TestPlainObjects:
    """Core Kubernetes objects."""

    def test_plain_manifests_pass_strict_validation(self, run: Run) -> None:
        """Namespace, RBAC, ConfigMap and PVC pass kubernetes-validate --strict."""
        result = run("kubernetes-validate", "--strict", *(K8S / name for name in PLAIN))
        assert result.returncode == 0, result.stdout + result.stderr
        assert result.stdout.count("passed") == 6

    def test_strict_validation_rejects_an_unknown_field(self, run: Run, tmp_path: Path) -> None:
        """The validator is live: a misspelt field in a Role fails."""
        docs = _load("rbac.yaml")
        docs[1]["rules"][0]["verb"] = docs[1]["rules"][0].pop("verbs")
        bad = tmp_path / "rbac.yaml"
        bad.write_text(yaml.safe_dump_all(docs))
        result = run("kubernetes-validate", "--strict", bad)
        assert result.returncode != 0


class TestSparkOperatorObjects:
    """SparkApplication and ScheduledSparkApplication."""

    @pytest.mark.parametrize(("kind", "name"), SPARK.items(), ids=list(SPARK))
    def test_manifest_matches_the_crd_schema(self, kind: str, name: str) -> None:
        """The manifest validates against its CRD's v1beta2 schema, unknown fields rejected."""
        document = _one(name)
        assert document["apiVersion"] == "sparkoperator.k8s.io/v1beta2"
        assert document["kind"] == kind
        assert _errors(kind, document) == []

    def test_schema_rejects_unknown_fields_and_bad_enums(self) -> None:
        """The schema check is live: a misspelt field and an unknown application type fail."""
        document = _one("spark-application.yaml")
        typo = copy.deepcopy(document)
        typo["spec"]["driver"]["memmory"] = "2g"
        assert any("memmory" in error for error in _errors("SparkApplication", typo))
        bad_type = copy.deepcopy(document)
        bad_type["spec"]["type"] = "Pyton"
        assert any(error.startswith("spec/type") for error in _errors("SparkApplication", bad_type))

    def test_schedule_runs_exactly_the_one_off_application(self) -> None:
        """The nightly template is the SparkApplication's spec, so the two cannot drift apart."""
        scheduled = _one("scheduled-spark-application.yaml")["spec"]
        assert scheduled["template"] == _one("spark-application.yaml")["spec"]
        assert scheduled["concurrencyPolicy"] == "Forbid"
        assert re.fullmatch(r"\S+ \S+ \S+ \S+ \S+", scheduled["schedule"])

    def test_application_runs_the_full_pipeline_through_spark_main(self) -> None:
        """The driver runs spark_main.py with `run --config <mounted> --env k8s --cmd full`."""
        spec = _one("spark-application.yaml")["spec"]
        assert spec["type"] == "Python"
        assert spec["mainApplicationFile"] == "local:///opt/etl-app/spark_main.py"
        assert "/opt/etl-app/" in (ROOT / "docker" / "Dockerfile").read_text()
        args = spec["arguments"]
        assert args[0] == "run"
        assert args[args.index("--cmd") + 1] == "full"
        assert args[args.index("--env") + 1] == "k8s"
        mounts = {m["name"]: m["mountPath"] for m in spec["driver"]["volumeMounts"]}
        assert Path(args[args.index("--config") + 1]).parent == Path(mounts["app-config"])


class TestWiring:
    """References between the manifests and the image."""

    def test_driver_identity_can_manage_executor_pods(self) -> None:
        """The driver's service account is bound to a Role allowing it to create/delete pods."""
        spec = _one("spark-application.yaml")["spec"]
        account, role, binding = _load("rbac.yaml")
        assert spec["driver"]["serviceAccount"] == account["metadata"]["name"]
        assert binding["subjects"] == [
            {"kind": "ServiceAccount", "name": account["metadata"]["name"], "namespace": "etl"}
        ]
        assert binding["roleRef"]["name"] == role["metadata"]["name"]
        (rule,) = role["rules"]
        assert {"pods", "services", "configmaps"} <= set(rule["resources"])
        assert {"create", "delete", "watch"} <= set(rule["verbs"])

    def test_volumes_reference_objects_defined_here(self) -> None:
        """The ConfigMap and PVC the pods mount are defined in k8s/, in the same namespace."""
        app = _one("spark-application.yaml")
        volumes = {v["name"]: v for v in app["spec"]["volumes"]}
        assert volumes["app-config"]["configMap"]["name"] == _one("config.yaml")["metadata"]["name"]
        claim = volumes["lake"]["persistentVolumeClaim"]["claimName"]
        assert claim == _one("storage.yaml")["metadata"]["name"]
        namespaces = {doc["metadata"].get("namespace") for n in PLAIN[1:] for doc in _load(n)}
        assert (
            namespaces
            == {app["metadata"]["namespace"]}
            == {_one("namespace.yaml")["metadata"]["name"]}
        )

    def test_config_defines_the_env_the_application_selects(self) -> None:
        """The mounted etl-app config has an overlay for --env k8s with a cluster master."""
        config = yaml.safe_load(_one("config.yaml")["data"]["config.yaml"])
        overlay = config["envs"]["k8s"]
        assert overlay["spark"]["master"].startswith("k8s://")
        assert overlay["metrics"]["pushgateway"]["url"].startswith("http://")

    def test_pods_run_as_the_image_user(self) -> None:
        """Driver and executor run as the non-root uid the Dockerfile creates."""
        (uid,) = re.findall(r"^USER (\d+):\d+$", (ROOT / "docker" / "Dockerfile").read_text(), re.M)
        spec = _one("spark-application.yaml")["spec"]
        for role in ("driver", "executor"):
            context = spec[role]["podSecurityContext"]
            assert context["runAsNonRoot"] is True
            assert str(context["runAsUser"]) == uid
            assert spec[role]["securityContext"]["allowPrivilegeEscalation"] is False

    def test_kustomization_lists_the_scheduled_deployment(self) -> None:
        """Applying the kustomization creates every object except the one-off SparkApplication."""
        resources = yaml.safe_load((K8S / "kustomization.yaml").read_text())["resources"]
        manifests = {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml"}
        assert set(resources) == manifests - {"spark-application.yaml"}


class TestNoSecrets:
    """Secrets stay out of the repository."""

    def test_no_secret_object_is_committed(self) -> None:
        """No manifest defines a Secret: it is created out of band."""
        kinds = {doc["kind"] for path in K8S.glob("*.yaml") for doc in _load(path.name)}
        assert "Secret" not in kinds

    def test_credentials_come_from_secret_key_refs(self) -> None:
        """Credential-looking env vars read a Secret via secretKeyRef, never a literal value."""
        spec = _one("spark-application.yaml")["spec"]
        env = spec["driver"]["env"]
        sensitive = [e for e in env if re.search(r"PASSWORD|TOKEN|SECRET|KEY|USERNAME", e["name"])]
        assert sensitive
        for var in sensitive:
            assert "value" not in var
            assert var["valueFrom"]["secretKeyRef"]["name"] == "etl-pushgateway-auth"
        names = {e["name"] for e in env}
        assert {"ETL_PUSHGATEWAY_USERNAME", "ETL_PUSHGATEWAY_PASSWORD"} <= names
