""".github/workflows/: valid GitHub Actions workflows that run the project's one CI entry point."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))

Run = Callable[..., subprocess.CompletedProcess[str]]


class TestWorkflows:
    """GitHub Actions workflows."""

    def test_workflows_match_the_github_schema(self, run: Run) -> None:
        """check-jsonschema's bundled GitHub workflow schema accepts every workflow."""
        assert WORKFLOWS
        result = run("check-jsonschema", "--builtin-schema", "vendor.github-workflows", *WORKFLOWS)
        assert result.returncode == 0, result.stdout + result.stderr

    def test_schema_check_rejects_a_broken_workflow(self, run: Run, tmp_path: Path) -> None:
        """The check is live: a job without runs-on or steps fails."""
        workflow = yaml.safe_load((ROOT / ".github" / "workflows" / "ci.yml").read_text())
        del workflow["jobs"]["ci"]["runs-on"]
        bad = tmp_path / "bad.yml"
        bad.write_text(yaml.safe_dump(workflow))
        result = run("check-jsonschema", "--builtin-schema", "vendor.github-workflows", bad)
        assert result.returncode != 0

    def test_ci_runs_the_ci_script_with_java_17_and_python_311(self) -> None:
        """CI runs `bash .ci/run` (as the README promises) with Java 17 and Python 3.11 set up."""
        workflow = yaml.safe_load((ROOT / ".github" / "workflows" / "ci.yml").read_text())
        steps = workflow["jobs"]["ci"]["steps"]
        runs = [step["run"] for step in steps if "run" in step]
        assert any(command.rstrip().endswith("bash .ci/run") for command in runs)
        withs = {
            step["uses"].split("@")[0]: step.get("with", {}) for step in steps if "uses" in step
        }
        assert withs["actions/setup-java"]["java-version"] == "17"
        assert withs["actions/setup-python"]["python-version"] == "3.11"
        assert workflow["permissions"] == {"contents": "read"}
