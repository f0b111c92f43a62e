"""Airflow DAG: the bronze -> silver -> gold pipeline as three SparkApplications, nightly.

Each task submits the SparkApplication rendered from ``k8s/run`` (``kubectl kustomize k8s/run``:
the spec with its storage) to the Kubeflow Spark Operator with its stage as ``--cmd``
(``etl-app run ... --cmd bronze|silver|gold``) and waits for it; a stage starts only when the
previous one succeeded. Needs apache-airflow-providers-cncf-kubernetes and a Kubernetes
connection ``kubernetes_default`` allowed to manage SparkApplications in the ``etl`` namespace.
Deploy the rendered manifest beside the DAG as ``spark-application.yaml``, or point
``ETL_SPARK_APPLICATION`` at it. Use either this DAG or the nightly ScheduledSparkApplication of
``k8s/base`` (suspend it in your overlay), not both.
"""

from __future__ import annotations

import copy
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml
from airflow.providers.cncf.kubernetes.operators.spark_kubernetes import SparkKubernetesOperator

try:
    from airflow.sdk import DAG
except ImportError:  # Airflow 2
    from airflow import DAG

STAGES = ("bronze", "silver", "gold")
MANIFEST = Path(
    os.environ.get(
        "ETL_SPARK_APPLICATION", str(Path(__file__).resolve().with_name("spark-application.yaml"))
    )
)


def stage_application(manifest: dict[str, Any], stage: str) -> dict[str, Any]:
    """Return a copy of the SparkApplication manifest that runs only ``stage``.

    Args:
        manifest: The SparkApplication rendered from k8s/run.
        stage: ``bronze``, ``silver`` or ``gold``.

    Returns:
        The manifest named ``etl-pipeline-<stage>`` with ``--cmd <stage>`` as argument.

    Raises:
        ValueError: The manifest's arguments carry no ``--cmd`` to replace.
    """
    app = copy.deepcopy(manifest)
    args: list[str] = app["spec"]["arguments"]
    if "--cmd" not in args[:-1]:
        raise ValueError(
            f"{MANIFEST}: spec.arguments {args} has no '--cmd VALUE'; the DAG sets the stage "
            "through it. Restore '--cmd full' in the manifest."
        )
    args[args.index("--cmd") + 1] = stage
    app["metadata"]["name"] = f"etl-pipeline-{stage}"
    app["metadata"].setdefault("labels", {})["etl.stage"] = stage
    return app


with DAG(
    dag_id="etl_pipeline",
    description="bronze -> silver -> gold on Delta Lake via the Spark Operator",
    schedule="0 2 * * *",
    start_date=datetime(2026, 1, 1, tzinfo=UTC),
    catchup=False,
    max_active_runs=1,
    default_args={"retries": 2, "retry_delay": timedelta(minutes=10)},
    tags=["etl", "spark", "delta"],
) as dag:
    base = yaml.safe_load(MANIFEST.read_text())
    previous = None
    for name in STAGES:
        task = SparkKubernetesOperator(
            task_id=name,
            namespace=base["metadata"]["namespace"],
            # A YAML string is accepted as well as a path; it is rendered as a Jinja template.
            application_file=yaml.safe_dump(stage_application(base, name), sort_keys=False),
            kubernetes_conn_id="kubernetes_default",
            get_logs=True,
            delete_on_termination=True,
        )
        if previous is not None:
            previous >> task
        previous = task
