import json
import time
import urllib.parse
from pathlib import Path
from typing import Any

import pytest

from etl_app import load_config, run_pipeline

pytestmark = [pytest.mark.integration, pytest.mark.spark]

POLL_TIMEOUT_S = 60.0


@pytest.fixture(scope="module")
def pushed_run(
    spark: object, pushgateway: Any, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, object]:
    """Run the pipeline on the bundled sample with the real Pushgateway configured."""
    folder = tmp_path_factory.mktemp("etl")
    config_file = folder / "etl.yaml"
    config_file.write_text(
        f"output: {{root: {folder / 'out'}}}\n"
        "metrics:\n"
        f"  pushgateway: {{url: '{pushgateway.url}', grouping_key: {{instance: it}}}}\n"
    )
    config = load_config(config_file, "local")
    report = run_pipeline(config, spark=spark)  # type: ignore[arg-type]
    return json.loads(Path(report.report_path).read_text())


class TestPushgateway:
    def test_run_pushes_its_metrics_to_the_gateway(
        self, pushed_run: dict[str, object], pushgateway: Any
    ) -> None:
        """After a run the gateway exposes the job's execution, records and stage metrics."""
        assert pushed_run["status"] == "success"
        assert pushed_run["metrics_sink"] == f"pushgateway {pushgateway.url}"
        exposed = pushgateway.get("/metrics")
        lines = [line for line in exposed.splitlines() if 'job="etl-app"' in line]
        executions = {
            line.split("{")[1].split("}")[0]: line.rsplit(" ", 1)[1]
            for line in lines
            if line.startswith("etl_job_executions_total{")
        }
        assert executions['env="local",instance="it",job="etl-app",status="success"'] == "1"
        assert (
            executions.get('env="local",instance="it",job="etl-app",status="failure"', "0") == "0"
        )
        assert any(
            line.startswith("etl_records_processed_total{")
            and 'table="silver.orders"' in line
            and line.endswith(" 8")
            for line in lines
        )
        assert any(line.startswith("etl_stage_duration_seconds_count{") for line in lines)


class TestPrometheus:
    def test_prometheus_scrapes_the_pushed_job_metrics(
        self, pushed_run: dict[str, object], prometheus: Any
    ) -> None:
        """A Prometheus scraping the gateway ingests etl_job_executions_total for the job."""
        query = urllib.parse.quote('etl_job_executions_total{job="etl-app",status="success"}')
        deadline = time.monotonic() + POLL_TIMEOUT_S
        result: list[dict[str, object]] = []
        while time.monotonic() < deadline:
            answer = json.loads(prometheus.get(f"/api/v1/query?query={query}"))
            assert answer["status"] == "success"
            result = answer["data"]["result"]
            if result:
                break
            time.sleep(0.5)
        assert result, f"Prometheus did not ingest the metric within {POLL_TIMEOUT_S}s"
        sample = result[0]
        assert sample["metric"]["env"] == "local"  # type: ignore[index]
        assert float(sample["value"][1]) == 1.0  # type: ignore[index]
