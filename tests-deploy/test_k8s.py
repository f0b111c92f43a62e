"""k8s/: the kustomize overlays render, validate and pass Pod Security "restricted".

Everything is checked as kustomize renders it (``kustomize build``, the real binary): core objects
with ``kubernetes-validate --strict``, the Spark Operator objects against the CRDs vendored in
tests-deploy/vendor/spark-operator. Their openAPIV3Schema is checked with jsonschema after closing
every object schema the way ``kubectl --validate=strict`` does: an unknown field is an error, not
silently pruned.
"""

from __future__ import annotations

import copy
import functools
import re
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
K8S = ROOT / "k8s"
CRDS = Path(__file__).resolve().parent / "vendor" / "spark-operator"
MONITORING = ROOT / "monitoring"
OVERLAYS = ["overlays/dev", "overlays/prod", "overlays/onprem"]
#: Overlays keeping the lake on the object store (components/lake-s3).
OBJECT_STORE = ["overlays/dev", "overlays/prod", "run"]
RENDERED = ["base", *OVERLAYS, "run"]
SPARK_KINDS = {"SparkApplication", "ScheduledSparkApplication"}
NAMESPACES = {"etl", "monitoring"}

Run = Callable[..., subprocess.CompletedProcess[str]]
Docs = tuple[dict[str, Any], ...]
Render = Callable[[str], Docs]


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
    # libyaml when present: the CRDs are 13,000 lines each.
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    crd = yaml.load(path.read_text(), Loader=loader)
    (version,) = [v for v in crd["spec"]["versions"] if v["name"] == "v1beta2"]
    schema: dict[str, Any] = _strict(version["schema"]["openAPIV3Schema"])
    return schema


def _errors(document: dict[str, Any]) -> list[str]:
    validator = jsonschema.Draft4Validator(_crd_schema(document["kind"]))
    return [
        f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
        for e in validator.iter_errors(document)
    ]


def _one(docs: Docs, kind: str, name: str | None = None) -> dict[str, Any]:
    (doc,) = [d for d in docs if d["kind"] == kind and name in (None, d["metadata"]["name"])]
    return doc


def _spark_spec(doc: dict[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = doc["spec"]
    return spec["template"] if doc["kind"] == "ScheduledSparkApplication" else spec


# ---- Pod Security "restricted" ----------------------------------------------------------------

# Volume types the restricted profile allows (everything else, e.g. hostPath, is refused).
RESTRICTED_VOLUMES = {
    "configMap",
    "csi",
    "downwardAPI",
    "emptyDir",
    "ephemeral",
    "persistentVolumeClaim",
    "projected",
    "secret",
}


def _pod_specs(doc: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any], list[dict[str, Any]]]]:
    """(where, pod-level security context, container security contexts) of each pod a doc makes.

    Spark Operator objects: the driver and the executor, whose ``podSecurityContext`` and
    ``securityContext`` the operator's webhook puts on the pod and its container. Workloads: the
    pod template. Volumes are returned in the pod-level dict under ``__volumes``.
    """
    name = f"{doc['kind']}/{doc['metadata']['name']}"
    if doc["kind"] in SPARK_KINDS:
        spec = _spark_spec(doc)
        for role in ("driver", "executor"):
            pod = {**spec[role].get("podSecurityContext", {}), "__volumes": spec.get("volumes", [])}
            yield f"{name} {role}", pod, [spec[role].get("securityContext", {})]
    elif doc["kind"] in {"Deployment", "StatefulSet", "DaemonSet", "Job"}:
        spec = doc["spec"]["template"]["spec"]
        pod = {
            **spec.get("securityContext", {}),
            "__volumes": spec.get("volumes", []),
            "__host": [k for k in ("hostNetwork", "hostPID", "hostIPC") if spec.get(k)],
        }
        containers = spec["containers"] + spec.get("initContainers", [])
        yield name, pod, [c.get("securityContext", {}) for c in containers]


def restricted_violations(doc: dict[str, Any]) -> list[str]:  # noqa: PLR0912 - one per rule
    """What in ``doc``'s pods Pod Security "restricted" (plus our read-only root rule) refuses."""
    problems = []
    for where, pod, containers in _pod_specs(doc):
        if pod.get("__host"):
            problems.append(f"{where}: host namespaces {pod['__host']}")
        for volume in pod["__volumes"]:
            kinds = set(volume) - {"name"}
            if not kinds <= RESTRICTED_VOLUMES:
                problems.append(f"{where}: volume {volume['name']} of type {kinds}")
        for i, ctx in enumerate(containers):
            at = f"{where} container {i}"
            if not (ctx.get("runAsNonRoot") or pod.get("runAsNonRoot")):
                problems.append(f"{at}: runAsNonRoot not true")
            if 0 in (ctx.get("runAsUser"), pod.get("runAsUser")):
                problems.append(f"{at}: runs as uid 0")
            seccomp = (ctx.get("seccompProfile") or pod.get("seccompProfile") or {}).get("type")
            if seccomp not in {"RuntimeDefault", "Localhost"}:
                problems.append(f"{at}: seccompProfile {seccomp}")
            if ctx.get("allowPrivilegeEscalation") is not False:
                problems.append(f"{at}: allowPrivilegeEscalation not false")
            if ctx.get("privileged"):
                problems.append(f"{at}: privileged")
            caps = ctx.get("capabilities", {})
            if "ALL" not in caps.get("drop", []):
                problems.append(f"{at}: capabilities not dropped (ALL)")
            if set(caps.get("add", [])) - {"NET_BIND_SERVICE"}:
                problems.append(f"{at}: adds capabilities {caps['add']}")
            if ctx.get("readOnlyRootFilesystem") is not True:
                problems.append(f"{at}: root filesystem writable")
    return problems


class TestRender:
    """The overlays render with kustomize."""

    @pytest.mark.parametrize("folder", RENDERED)
    def test_kustomization_renders(self, kustomize: Render, folder: str) -> None:
        """Each kustomization builds; every namespaced object lands in etl or monitoring."""
        docs = kustomize(folder)
        assert docs
        for doc in docs:
            if doc["kind"] != "Namespace":
                assert doc["metadata"]["namespace"] in NAMESPACES, doc["metadata"]

    @pytest.mark.parametrize("folder", OVERLAYS)
    def test_overlay_deploys_the_pipeline_and_its_monitoring(
        self, kustomize: Render, folder: str
    ) -> None:
        """Each overlay holds the schedule, the lake's storage and the four monitoring workloads."""
        docs = kustomize(folder)
        kinds = {(d["kind"], d["metadata"]["name"]) for d in docs}
        assert ("ScheduledSparkApplication", "etl-pipeline-nightly") in kinds
        on_volume = ("PersistentVolumeClaim", "etl-lake") in kinds
        template = _one(docs, "ScheduledSparkApplication")["spec"]["template"]
        on_bucket = "spark.hadoop.fs.s3a.endpoint" in template["sparkConf"]
        assert on_volume != on_bucket, "exactly one storage: the bucket or the volume"
        assert on_volume == (folder == "overlays/onprem")
        for app in ("pushgateway", "prometheus", "alertmanager", "grafana"):
            assert ("Deployment", app) in kinds
            assert ("Service", app) in kinds
        assert "SparkApplication" not in {kind for kind, _ in kinds}
        assert "Secret" not in {kind for kind, _ in kinds}

    def test_overlays_differ_as_documented(self, kustomize: Render) -> None:
        """Dev suspends the schedule on the main image; prod runs a released tag with a TSDB PVC."""
        dev = _one(kustomize("overlays/dev"), "ScheduledSparkApplication")
        prod_docs = kustomize("overlays/prod")
        prod = _one(prod_docs, "ScheduledSparkApplication")
        assert dev["spec"]["suspend"] is True
        assert dev["spec"]["template"]["image"].endswith(":main")
        assert prod["spec"].get("suspend", False) is False
        assert re.search(r":\d+\.\d+\.\d+$", prod["spec"]["template"]["image"])
        prometheus = _one(prod_docs, "Deployment", "prometheus")["spec"]["template"]["spec"]
        claims = {
            v["persistentVolumeClaim"]["claimName"]
            for v in prometheus["volumes"]
            if "persistentVolumeClaim" in v
        }
        assert claims == {"prometheus-data"}
        assert _one(prod_docs, "PersistentVolumeClaim", "prometheus-data")


class TestValidation:
    """Schemas: kubernetes-validate for core objects, the vendored CRDs for Spark objects."""

    @pytest.mark.parametrize("folder", RENDERED)
    def test_core_objects_pass_strict_validation(
        self, run: Run, kustomize: Render, folder: str, tmp_path: Path
    ) -> None:
        """Every rendered non-Spark object passes kubernetes-validate --strict."""
        core = [d for d in kustomize(folder) if d["kind"] not in SPARK_KINDS]
        path = tmp_path / "core.yaml"
        path.write_text(yaml.safe_dump_all(core))
        result = run("kubernetes-validate", "--strict", path)
        assert result.returncode == 0, result.stdout + result.stderr
        assert result.stdout.count("passed") == len(core)

    def test_strict_validation_rejects_an_unknown_field(
        self, run: Run, kustomize: Render, tmp_path: Path
    ) -> None:
        """The validator is live: a misspelt field in a Deployment fails."""
        deployment = copy.deepcopy(_one(kustomize("base"), "Deployment", "pushgateway"))
        deployment["spec"]["template"]["spec"]["containers"][0]["imagePullPolicyy"] = "Always"
        bad = tmp_path / "bad.yaml"
        bad.write_text(yaml.safe_dump(deployment))
        result = run("kubernetes-validate", "--strict", bad)
        assert result.returncode != 0

    @pytest.mark.parametrize("folder", RENDERED)
    def test_spark_objects_match_the_crd_schema(self, kustomize: Render, folder: str) -> None:
        """Every rendered Spark object validates against its CRD's v1beta2 schema, strictly."""
        spark = [d for d in kustomize(folder) if d["kind"] in SPARK_KINDS]
        assert spark
        for document in spark:
            assert document["apiVersion"] == "sparkoperator.k8s.io/v1beta2"
            assert _errors(document) == []

    def test_schema_rejects_unknown_fields_and_bad_enums(self, kustomize: Render) -> None:
        """The schema check is live: a misspelt field and an unknown application type fail."""
        document = _one(kustomize("run"), "SparkApplication")
        typo = copy.deepcopy(document)
        typo["spec"]["driver"]["memmory"] = "2g"
        assert any("memmory" in error for error in _errors(typo))
        bad_type = copy.deepcopy(document)
        bad_type["spec"]["type"] = "Pyton"
        assert any(error.startswith("spec/type") for error in _errors(bad_type))


class TestPodSecurity:
    """Pod Security "restricted" on every pod spec, enforced by both namespaces."""

    @pytest.mark.parametrize("folder", RENDERED)
    def test_every_pod_spec_is_restricted(self, kustomize: Render, folder: str) -> None:
        """Spark driver and executor and every monitoring pod pass "restricted", root read-only."""
        docs = kustomize(folder)
        pods = [where for doc in docs for where, _, _ in _pod_specs(doc)]
        assert pods
        assert [p for doc in docs for p in restricted_violations(doc)] == []

    def test_the_check_catches_each_violation(self, kustomize: Render) -> None:
        """The check is live: no seccomp, root, escalation, capabilities, hostPath: all flagged."""
        app = copy.deepcopy(_one(kustomize("run"), "SparkApplication"))
        del app["spec"]["driver"]["podSecurityContext"]["seccompProfile"]
        del app["spec"]["driver"]["securityContext"]["seccompProfile"]
        app["spec"]["executor"]["securityContext"]["allowPrivilegeEscalation"] = True
        app["spec"]["executor"]["securityContext"]["readOnlyRootFilesystem"] = False
        problems = restricted_violations(app)
        assert any("driver" in p and "seccompProfile" in p for p in problems)
        assert any("executor" in p and "allowPrivilegeEscalation" in p for p in problems)
        assert any("executor" in p and "root filesystem" in p for p in problems)
        deployment = copy.deepcopy(_one(kustomize("base"), "Deployment", "grafana"))
        spec = deployment["spec"]["template"]["spec"]
        spec["securityContext"]["runAsUser"] = 0
        spec["containers"][0]["securityContext"]["capabilities"] = {"add": ["SYS_ADMIN"]}
        spec["volumes"].append({"name": "host", "hostPath": {"path": "/"}})
        spec["hostNetwork"] = True
        problems = restricted_violations(deployment)
        assert any("uid 0" in p for p in problems)
        assert any("capabilities not dropped" in p for p in problems)
        assert any("adds capabilities" in p for p in problems)
        assert any("hostPath" in p for p in problems)
        assert any("host namespaces" in p for p in problems)

    def test_namespaces_enforce_restricted(self, kustomize: Render) -> None:
        """Both namespaces carry the Pod Security admission label enforcing "restricted"."""
        namespaces = {
            d["metadata"]["name"]: d for d in kustomize("base") if d["kind"] == "Namespace"
        }
        assert set(namespaces) == NAMESPACES
        for namespace in namespaces.values():
            labels = namespace["metadata"]["labels"]
            assert labels["pod-security.kubernetes.io/enforce"] == "restricted"

    def test_read_only_roots_get_scratch_space(self, kustomize: Render) -> None:
        """Spark pods have emptyDir /tmp and home; the monitoring servers their data folders."""
        spec = _spark_spec(_one(kustomize("run"), "SparkApplication"))
        volumes = {v["name"]: v for v in spec["volumes"]}
        for role in ("driver", "executor"):
            mounts = {m["mountPath"]: m["name"] for m in spec[role]["volumeMounts"]}
            assert "emptyDir" in volumes[mounts["/tmp"]]
            assert "emptyDir" in volumes[mounts["/app"]]
        for doc in kustomize("base"):
            if doc["kind"] == "Deployment":
                pod = doc["spec"]["template"]["spec"]
                writable = {v["name"] for v in pod["volumes"] if "emptyDir" in v}
                mounts = pod["containers"][0]["volumeMounts"]
                assert any(m["name"] in writable for m in mounts), doc["metadata"]["name"]

    def test_readme_says_the_operator_webhook_is_required(self) -> None:
        """Without the webhook, security contexts and volumes are silently dropped: say so."""
        text = (K8S / "README.md").read_text()
        assert re.search(r"mutating webhook.*must be enabled", text, re.S | re.I)


class TestMonitoringWiring:
    """The addresses the app and the monitoring configs use exist in the rendered cluster."""

    def _services(self, docs: Docs) -> dict[tuple[str, str], set[int]]:
        return {
            (d["metadata"]["name"], d["metadata"]["namespace"]): {
                p["port"] for p in d["spec"]["ports"]
            }
            for d in docs
            if d["kind"] == "Service"
        }

    @pytest.mark.parametrize("folder", OVERLAYS)
    def test_app_pushgateway_address_is_a_service(self, kustomize: Render, folder: str) -> None:
        """The app config's Pushgateway URL (name.namespace.svc:port) names a rendered Service."""
        docs = kustomize(folder)
        config = yaml.safe_load(_one(docs, "ConfigMap", "etl-app-config")["data"]["config.yaml"])
        url = config["envs"]["k8s"]["metrics"]["pushgateway"]["url"]
        match = re.fullmatch(r"http://([\w-]+)\.([\w-]+)\.svc(?:\.cluster\.local)?:(\d+)", url)
        assert match is not None, url
        name, namespace, port = match.groups()
        assert int(port) in self._services(docs)[(name, namespace)]

    def test_monitoring_configs_point_at_services(self, kustomize: Render) -> None:
        """Prometheus' targets, Grafana's data source: Services of the monitoring namespace."""
        docs = kustomize("base")
        services = self._services(docs)
        prometheus = yaml.safe_load((MONITORING / "prometheus" / "prometheus.yml").read_text())
        targets = [
            t
            for job in prometheus["scrape_configs"]
            if job["job_name"] in {"pushgateway", "alertmanager"}
            for s in job["static_configs"]
            for t in s["targets"]
        ]
        targets += prometheus["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"]
        source = yaml.safe_load(
            (MONITORING / "grafana" / "provisioning" / "datasources" / "prometheus.yml").read_text()
        )["datasources"][0]
        targets.append(source["url"].removeprefix("http://"))
        for target in targets:
            host, port = target.split(":")
            assert int(port) in services[(host, "monitoring")], target

    def test_config_maps_hold_the_checked_files(self, kustomize: Render) -> None:
        """The monitoring ConfigMaps carry monitoring/'s files byte for byte."""
        docs = kustomize("base")
        maps = {
            d["metadata"]["name"].rsplit("-", 1)[0]: d["data"]
            for d in docs
            if d["kind"] == "ConfigMap" and d["metadata"]["namespace"] == "monitoring"
        }
        assert (
            maps["prometheus-config"]["prometheus.yml"]
            == (MONITORING / "prometheus" / "prometheus.yml").read_text()
        )
        assert (
            maps["prometheus-config"]["etl_alerts.yml"]
            == (MONITORING / "prometheus" / "rules" / "etl_alerts.yml").read_text()
        )
        assert (
            maps["alertmanager-config"]["alertmanager.yml"]
            == (MONITORING / "alertmanager" / "alertmanager.yml").read_text()
        )
        assert (
            maps["grafana-dashboards"]["etl_overview.json"]
            == (MONITORING / "grafana" / "dashboards" / "etl_overview.json").read_text()
        )

    def test_mounts_put_files_where_the_configs_look(self, kustomize: Render) -> None:
        """Rules land under rules/, templates under templates/, dashboards at the provider path."""
        docs = kustomize("base")

        def files(name: str) -> dict[str, str]:
            """Container path -> ConfigMap key for a Deployment's config map items."""
            pod = _one(docs, "Deployment", name)["spec"]["template"]["spec"]
            volumes = {v["name"]: v for v in pod["volumes"]}
            out = {}
            for mount in pod["containers"][0]["volumeMounts"]:
                source = volumes[mount["name"]].get("configMap")
                for item in (source or {}).get("items", []):
                    out[f"{mount['mountPath']}/{item['path']}"] = item["key"]
            return out

        assert files("prometheus") == {
            "/etc/prometheus/prometheus.yml": "prometheus.yml",
            "/etc/prometheus/rules/etl_alerts.yml": "etl_alerts.yml",
        }
        assert yaml.safe_load((MONITORING / "prometheus" / "prometheus.yml").read_text())[
            "rule_files"
        ] == ["rules/*.yml"]
        assert files("alertmanager")["/etc/alertmanager/templates/etl.tmpl"] == "etl.tmpl"
        grafana = files("grafana")
        assert grafana["/etc/grafana/provisioning/dashboards/etl.yml"] == "dashboards.yml"
        assert grafana["/etc/grafana/provisioning/datasources/prometheus.yml"] == "datasources.yml"
        provider = yaml.safe_load(
            (MONITORING / "grafana" / "provisioning" / "dashboards" / "etl.yml").read_text()
        )["providers"][0]
        pod = _one(docs, "Deployment", "grafana")["spec"]["template"]["spec"]
        mounts = {m["mountPath"]: m["name"] for m in pod["containers"][0]["volumeMounts"]}
        dashboards = {v["name"]: v for v in pod["volumes"]}[mounts[provider["options"]["path"]]]
        assert dashboards["configMap"]["name"].startswith("grafana-dashboards")


class TestSparkApplications:
    """The one-off run and the nightly schedule."""

    def test_schedule_runs_exactly_the_one_off_application(self, kustomize: Render) -> None:
        """The nightly template is the rendered one-off spec, storage included.

        Storage comes from a component the overlays add, so the comparison is with prod's
        schedule, whose only other changes are its image tag and executor count.
        """
        scheduled = _one(kustomize("overlays/prod"), "ScheduledSparkApplication")["spec"]
        one_off = copy.deepcopy(_one(kustomize("run"), "SparkApplication")["spec"])
        one_off["image"] = scheduled["template"]["image"]
        one_off["executor"]["instances"] = scheduled["template"]["executor"]["instances"]
        assert scheduled["template"] == one_off
        base = _one(kustomize("base"), "ScheduledSparkApplication")["spec"]["template"]
        assert "spark.hadoop.fs.s3a.endpoint" not in base["sparkConf"]
        assert "volumes" in base
        assert all(v["name"] != "lake" for v in base["volumes"])
        assert scheduled["concurrencyPolicy"] == "Forbid"
        assert re.fullmatch(r"\S+ \S+ \S+ \S+ \S+", scheduled["schedule"])

    def test_application_runs_the_full_pipeline_through_spark_main(self, kustomize: Render) -> None:
        """The driver runs spark_main.py with `run --config <mounted> --env k8s --cmd full`."""
        spec = _one(kustomize("run"), "SparkApplication")["spec"]
        assert spec["type"] == "Python"
        assert spec["mainApplicationFile"] == "local:///opt/etl-app/spark_main.py"
        assert "/opt/etl-app/" in (ROOT / "docker" / "Dockerfile").read_text()
        args = spec["arguments"]
        assert args[0] == "run"
        assert args[args.index("--cmd") + 1] == "full"
        assert args[args.index("--env") + 1] == "k8s"
        mounts = {m["name"]: m["mountPath"] for m in spec["driver"]["volumeMounts"]}
        assert Path(args[args.index("--config") + 1]).parent == Path(mounts["app-config"])

    def test_volume_storage_lives_in_its_component(self, kustomize: Render) -> None:
        """Only components/lake-pvc names the volume; onprem mounts it and selects env k8s-pvc."""
        outside = [
            path
            for path in K8S.rglob("*.yaml")
            if "lake-pvc" not in path.parts
            and re.search(r"etl-lake\b|name: lake\b", path.read_text())
        ]
        assert outside == []
        docs = kustomize("overlays/onprem")
        spec = _one(docs, "ScheduledSparkApplication")["spec"]["template"]
        volumes = {v["name"]: v for v in spec["volumes"]}
        claim = volumes["lake"]["persistentVolumeClaim"]["claimName"]
        assert _one(docs, "PersistentVolumeClaim")["metadata"]["name"] == claim
        for role in ("driver", "executor"):
            assert {"name": "lake", "mountPath": "/data"} in spec[role]["volumeMounts"]
            assert "AWS_SECRET_ACCESS_KEY" not in {e["name"] for e in spec[role].get("env", [])}
        args = spec["arguments"]
        env = args[args.index("--env") + 1]
        assert env == "k8s-pvc"
        config = yaml.safe_load(_one(docs, "ConfigMap", "etl-app-config")["data"]["config.yaml"])
        assert config["envs"][env]["input"]["dir"].startswith("/data/")
        assert config["envs"][env]["output"]["root"].startswith("/data/")
        assert config["envs"][env]["spark"] == config["envs"]["k8s"]["spark"]

    @pytest.mark.parametrize("folder", OBJECT_STORE)
    def test_lake_is_on_the_object_store(self, kustomize: Render, folder: str) -> None:
        """Driver and executors reach the bucket with S3A settings and Secret-held credentials."""
        docs = kustomize(folder)
        assert "PersistentVolumeClaim" not in {
            d["kind"] for d in docs if d["metadata"].get("namespace") == "etl"
        }
        spec = _spark_spec(
            _one(docs, "SparkApplication" if folder == "run" else "ScheduledSparkApplication")
        )
        conf = spec["sparkConf"]
        assert conf["spark.hadoop.fs.s3a.endpoint"].startswith("https://")
        assert conf["spark.hadoop.fs.s3a.aws.credentials.provider"].endswith(
            "EnvironmentVariableCredentialsProvider"
        )
        assert all(v["name"] != "lake" for v in spec["volumes"])
        for role in ("driver", "executor"):
            env = {e["name"]: e for e in spec[role]["env"]}
            for name, key in (
                ("AWS_ACCESS_KEY_ID", "access-key-id"),
                ("AWS_SECRET_ACCESS_KEY", "secret-access-key"),
            ):
                assert "value" not in env[name]
                assert env[name]["valueFrom"]["secretKeyRef"] == {
                    "name": "etl-s3-credentials",
                    "key": key,
                }
        config = (
            yaml.safe_load(_one(docs, "ConfigMap", "etl-app-config")["data"]["config.yaml"])
            if folder != "run"
            else None
        )
        if config is not None:
            args = spec["arguments"]
            selected = {**config, **config["envs"][args[args.index("--env") + 1]]}
            assert selected["input"]["dir"].startswith("s3a://")
            assert selected["output"]["root"].startswith("s3a://")


class TestWiring:
    """References between the manifests and the image."""

    def test_driver_identity_can_manage_executor_pods(self, kustomize: Render) -> None:
        """The driver's service account is bound to a Role allowing it to create/delete pods."""
        docs = kustomize("base")
        spec = _spark_spec(_one(docs, "ScheduledSparkApplication"))
        account = _one(docs, "ServiceAccount")
        role = _one(docs, "Role")
        binding = _one(docs, "RoleBinding")
        assert spec["driver"]["serviceAccount"] == account["metadata"]["name"]
        assert binding["subjects"] == [
            {"kind": "ServiceAccount", "name": account["metadata"]["name"], "namespace": "etl"}
        ]
        assert binding["roleRef"]["name"] == role["metadata"]["name"]
        (rule,) = role["rules"]
        assert {"pods", "services", "configmaps"} <= set(rule["resources"])
        assert {"create", "delete", "watch"} <= set(rule["verbs"])

    def test_config_defines_the_env_the_application_selects(self, kustomize: Render) -> None:
        """The mounted etl-app config has an overlay for --env k8s with a cluster master."""
        config = yaml.safe_load(
            _one(kustomize("base"), "ConfigMap", "etl-app-config")["data"]["config.yaml"]
        )
        overlay = config["envs"]["k8s"]
        assert overlay["spark"]["master"].startswith("k8s://")
        assert overlay["metrics"]["pushgateway"]["url"].startswith("http://")

    def test_pods_run_as_the_image_user(self, kustomize: Render) -> None:
        """Driver and executor run as the non-root uid the Dockerfile creates."""
        (uid,) = re.findall(r"^USER (\d+):\d+$", (ROOT / "docker" / "Dockerfile").read_text(), re.M)
        spec = _one(kustomize("run"), "SparkApplication")["spec"]
        for role in ("driver", "executor"):
            assert str(spec[role]["podSecurityContext"]["runAsUser"]) == uid


class TestNoSecrets:
    """Secrets stay out of the repository."""

    def test_no_secret_object_is_committed(self) -> None:
        """No manifest under k8s/ defines a Secret: it is created out of band."""
        kinds = {
            doc.get("kind")
            for path in K8S.rglob("*.yaml")
            for doc in yaml.safe_load_all(path.read_text())
            if isinstance(doc, dict)
        }
        assert "Secret" not in kinds

    def test_credentials_come_from_secret_key_refs(self, kustomize: Render) -> None:
        """Credential-looking env vars read a Secret via secretKeyRef, never a literal value."""
        docs = kustomize("overlays/prod")
        envs = _spark_spec(_one(docs, "ScheduledSparkApplication"))["driver"]["env"]
        for doc in docs:
            if doc["kind"] == "Deployment":
                envs += doc["spec"]["template"]["spec"]["containers"][0].get("env", [])
        sensitive = [e for e in envs if re.search(r"PASSWORD|TOKEN|SECRET|KEY", e["name"])]
        assert {e["name"] for e in sensitive} >= {
            "ETL_PUSHGATEWAY_PASSWORD",
            "GF_SECURITY_ADMIN_PASSWORD",
        }
        for var in sensitive:
            assert "value" not in var
            assert var["valueFrom"]["secretKeyRef"]["name"]
