"""airflow/dags/etl_pipeline.py: valid Python, and it submits bronze -> silver -> gold in order.

Airflow itself is too heavy to install for this, so the DAG is imported against small stand-ins
for ``DAG`` and ``SparkKubernetesOperator`` that record what the file builds.
"""

from __future__ import annotations

import ast
import importlib.util
import sys
import types
from pathlib import Path
from typing import Any, ClassVar

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
DAG_FILE = ROOT / "airflow" / "dags" / "etl_pipeline.py"
OPERATOR_MODULE = "airflow.providers.cncf.kubernetes.operators.spark_kubernetes"


class FakeDAG:
    """Records the DAG's arguments; used as a context manager like Airflow's."""

    last: FakeDAG | None = None

    def __init__(self, **kwargs: Any) -> None:
        self.kwargs = kwargs
        FakeDAG.last = self

    def __enter__(self) -> FakeDAG:
        return self

    def __exit__(self, *exc: object) -> None:
        return None


class FakeOperator:
    """Records operator arguments and ``>>`` edges."""

    created: ClassVar[list[FakeOperator]] = []

    def __init__(self, **kwargs: Any) -> None:
        self.kwargs = kwargs
        self.downstream: list[FakeOperator] = []
        FakeOperator.created.append(self)

    def __rshift__(self, other: FakeOperator) -> FakeOperator:
        self.downstream.append(other)
        return other


@pytest.fixture(scope="module")
def manifest(tmp_path_factory: pytest.TempPathFactory, kustomize: Any) -> Path:
    """The SparkApplication rendered from k8s/run (with its storage), as deployed beside the DAG."""
    (app,) = [doc for doc in kustomize("run") if doc["kind"] == "SparkApplication"]
    path = tmp_path_factory.mktemp("dags") / "spark-application.yaml"
    path.write_text(yaml.safe_dump(app, sort_keys=False))
    return path


def _load_dag(
    monkeypatch: pytest.MonkeyPatch, manifest: Path, *, airflow3: bool
) -> types.ModuleType:
    """Import the DAG file against the stand-ins (Airflow 3 ``airflow.sdk`` layout or Airflow 2)."""
    monkeypatch.setenv("ETL_SPARK_APPLICATION", str(manifest))
    FakeOperator.created = []
    FakeDAG.last = None
    airflow = types.ModuleType("airflow")
    if airflow3:
        sdk = types.ModuleType("airflow.sdk")
        sdk.DAG = FakeDAG  # type: ignore[attr-defined]
        monkeypatch.setitem(sys.modules, "airflow.sdk", sdk)
    else:
        airflow.DAG = FakeDAG  # type: ignore[attr-defined]
        monkeypatch.setitem(sys.modules, "airflow.sdk", None)
    operators = types.ModuleType(OPERATOR_MODULE)
    operators.SparkKubernetesOperator = FakeOperator  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "airflow", airflow)
    monkeypatch.setitem(sys.modules, OPERATOR_MODULE, operators)
    spec = importlib.util.spec_from_file_location("etl_pipeline_dag", DAG_FILE)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class TestSource:
    """The DAG file as source."""

    def test_dag_file_is_valid_python_importing_the_spark_operator(self) -> None:
        """The file parses and imports SparkKubernetesOperator from the cncf.kubernetes provider."""
        tree = ast.parse(DAG_FILE.read_text(), filename=str(DAG_FILE))
        imports = {
            (node.module, alias.name)
            for node in ast.walk(tree)
            if isinstance(node, ast.ImportFrom)
            for alias in node.names
        }
        assert (OPERATOR_MODULE, "SparkKubernetesOperator") in imports


class TestDag:
    """The DAG the file builds."""

    @pytest.mark.parametrize("airflow3", [True, False], ids=["airflow3", "airflow2"])
    def test_dag_is_nightly_without_catchup(
        self, monkeypatch: pytest.MonkeyPatch, manifest: Path, airflow3: bool
    ) -> None:
        """The DAG etl_pipeline runs nightly, one run at a time, without backfilling."""
        _load_dag(monkeypatch, manifest, airflow3=airflow3)
        assert FakeDAG.last is not None
        kwargs = FakeDAG.last.kwargs
        assert kwargs["dag_id"] == "etl_pipeline"
        assert kwargs["schedule"] == "0 2 * * *"
        assert kwargs["catchup"] is False
        assert kwargs["max_active_runs"] == 1
        assert kwargs["default_args"]["retries"] >= 1

    def test_stages_run_in_order(self, monkeypatch: pytest.MonkeyPatch, manifest: Path) -> None:
        """Tasks bronze, silver, gold exist and each starts only after the previous one."""
        _load_dag(monkeypatch, manifest, airflow3=True)
        tasks = {task.kwargs["task_id"]: task for task in FakeOperator.created}
        assert list(tasks) == ["bronze", "silver", "gold"]
        assert tasks["bronze"].downstream == [tasks["silver"]]
        assert tasks["silver"].downstream == [tasks["gold"]]
        assert tasks["gold"].downstream == []

    def test_each_task_submits_the_manifest_for_its_stage(
        self, monkeypatch: pytest.MonkeyPatch, manifest: Path
    ) -> None:
        """Each task submits the rendered k8s/run manifest unchanged but for its name and --cmd."""
        _load_dag(monkeypatch, manifest, airflow3=True)
        base = yaml.safe_load(manifest.read_text())
        for task in FakeOperator.created:
            stage = task.kwargs["task_id"]
            submitted = yaml.safe_load(task.kwargs["application_file"])
            args = submitted["spec"]["arguments"]
            assert args[args.index("--cmd") + 1] == stage
            assert submitted["metadata"]["name"] == f"etl-pipeline-{stage}"
            assert task.kwargs["namespace"] == base["metadata"]["namespace"]
            expected = yaml.safe_load(manifest.read_text())
            expected["spec"]["arguments"] = args
            expected["metadata"]["name"] = submitted["metadata"]["name"]
            expected["metadata"]["labels"]["etl.stage"] = stage
            assert submitted == expected
            assert "{{" not in task.kwargs["application_file"]

    def test_submitted_manifest_carries_the_lake_storage(
        self, monkeypatch: pytest.MonkeyPatch, manifest: Path
    ) -> None:
        """What the tasks submit reaches the lake bucket from driver and executors (rendered in)."""
        _load_dag(monkeypatch, manifest, airflow3=True)
        for task in FakeOperator.created:
            spec = yaml.safe_load(task.kwargs["application_file"])["spec"]
            assert spec["sparkConf"]["spark.hadoop.fs.s3a.endpoint"]
            for role in ("driver", "executor"):
                env = {e["name"]: e for e in spec[role]["env"]}
                assert env["AWS_SECRET_ACCESS_KEY"]["valueFrom"]["secretKeyRef"]["name"]
                assert "value" not in env["AWS_SECRET_ACCESS_KEY"]

    def test_manifest_without_cmd_is_rejected_with_a_fix(
        self, monkeypatch: pytest.MonkeyPatch, manifest: Path
    ) -> None:
        """A manifest whose arguments lost --cmd fails loudly, saying what to restore."""
        module = _load_dag(monkeypatch, manifest, airflow3=True)
        app = yaml.safe_load(manifest.read_text())
        app["spec"]["arguments"] = ["run", "--env", "k8s"]
        with pytest.raises(ValueError, match="--cmd full"):
            module.stage_application(app, "gold")
