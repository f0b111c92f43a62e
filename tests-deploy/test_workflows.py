""".github/workflows/: valid workflows for CI, the image, releases, nightly runs and security scans.

Two validators: the GitHub workflow JSON schema (check-jsonschema's bundled
``vendor.github-workflows``) and actionlint (expressions, action inputs, job dependencies, shell
scripts; nox's deploy session builds it from the Go module proxy). Then what each workflow must do.
"""

from __future__ import annotations

import ast
import re
import shlex
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
WORKFLOWS = ROOT / ".github" / "workflows"
FILES = sorted(WORKFLOWS.glob("*.yml"))
PUBLISHED = [
    "delta-session",
    "delta-safe-writer",
    "schema-registry",
    "dq-gates",
    "etl-metrics",
    "etl-app",
]

Run = Callable[..., subprocess.CompletedProcess[str]]


def _workflow(name: str) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((WORKFLOWS / f"{name}.yml").read_text())
    # YAML 1.1 reads the key `on` as True.
    data["on"] = data.pop(True, data.get("on"))
    return data


def _steps(workflow: dict[str, Any], job: str) -> list[dict[str, Any]]:
    steps: list[dict[str, Any]] = workflow["jobs"][job]["steps"]
    return steps


def _uses(workflow: dict[str, Any], job: str) -> dict[str, dict[str, Any]]:
    """Action name (without @ref) -> its `with` block, for one job."""
    return {
        s["uses"].split("@")[0]: s.get("with", {}) for s in _steps(workflow, job) if "uses" in s
    }


class TestValidators:
    """Schema and actionlint."""

    def test_workflows_match_the_github_schema(self, run: Run) -> None:
        """check-jsonschema's bundled GitHub workflow schema accepts every workflow."""
        assert {p.stem for p in FILES} >= {"ci", "image", "release", "nightly", "security"}
        result = run("check-jsonschema", "--builtin-schema", "vendor.github-workflows", *FILES)
        assert result.returncode == 0, result.stdout + result.stderr

    def test_schema_check_rejects_a_broken_workflow(self, run: Run, tmp_path: Path) -> None:
        """The check is live: a job without runs-on or steps fails."""
        workflow = yaml.safe_load((WORKFLOWS / "ci.yml").read_text())
        del workflow["jobs"]["ci"]["runs-on"]
        bad = tmp_path / "bad.yml"
        bad.write_text(yaml.safe_dump(workflow))
        result = run("check-jsonschema", "--builtin-schema", "vendor.github-workflows", bad)
        assert result.returncode != 0

    def test_actionlint_passes(self, run: Run) -> None:
        """Actionlint reports nothing for any workflow."""
        result = run("actionlint", "-no-color", *FILES)
        assert result.returncode == 0, result.stdout + result.stderr

    def test_actionlint_catches_an_unknown_output_and_a_bad_needs(
        self, run: Run, tmp_path: Path
    ) -> None:
        """Actionlint is live: a reference to an undefined step output and job fail."""
        workflow = yaml.safe_load((WORKFLOWS / "release.yml").read_text())
        workflow["jobs"]["publish"]["needs"] = "biuld"
        workflow["jobs"]["build"]["outputs"]["distribution"] = "${{ steps.nope.outputs.x }}"
        folder = tmp_path / ".github" / "workflows"
        folder.mkdir(parents=True)
        bad = folder / "release.yml"
        bad.write_text(yaml.safe_dump(workflow, sort_keys=False))
        result = run("actionlint", "-no-color", bad)
        assert result.returncode != 0
        assert "biuld" in result.stdout
        assert "nope" in result.stdout


class TestEveryWorkflow:
    """Rules all workflows follow."""

    @pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
    def test_concurrency_group_and_read_only_default(self, path: Path) -> None:
        """Each workflow has a concurrency group and read-only default permissions."""
        workflow = _workflow(path.stem)
        assert workflow["concurrency"]["group"]
        assert workflow["permissions"] == {"contents": "read"}

    @pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
    def test_jobs_have_timeouts(self, path: Path) -> None:
        """Every job is bounded in time (90 minutes at most, the CI budget)."""
        for name, job in _workflow(path.stem)["jobs"].items():
            assert 0 < job["timeout-minutes"] <= 90, name


class TestCi:
    """ci.yml: the one CI entry point."""

    def test_ci_runs_the_ci_script_with_java_17_python_311_and_go(self) -> None:
        """CI runs `bash .ci/run` with Java 17, Python 3.11 and Go (for actionlint, kustomize)."""
        workflow = _workflow("ci")
        runs = [step["run"] for step in _steps(workflow, "ci") if "run" in step]
        assert any(command.rstrip().endswith("bash .ci/run") for command in runs)
        withs = _uses(workflow, "ci")
        assert withs["actions/setup-java"]["java-version"] == "17"
        assert withs["actions/setup-python"]["python-version"] == "3.11"
        assert "actions/setup-go" in withs

    def test_nothing_is_downloaded_beside_the_clone(self) -> None:
        """No step fetches files with curl or wget: everything the tests read is in the repo."""
        for path in FILES:
            assert not re.search(r"\b(curl|wget)\b", path.read_text()), path.name


class TestImage:
    """image.yml: multi-arch build, pushed to GHCR on main and on tags."""

    def test_triggers_on_main_and_app_tags(self) -> None:
        """Pushes to main and etl-app-v* tags build and push; pull requests only build."""
        push = _workflow("image")["on"]["push"]
        assert push["branches"] == ["main"]
        assert push["tags"] == ["etl-app-v*"]

    def test_builds_multi_arch_with_buildx_and_qemu_and_pushes_to_ghcr(self) -> None:
        """QEMU + buildx build amd64 and arm64 from docker/Dockerfile and push to ghcr.io."""
        workflow = _workflow("image")
        uses = _uses(workflow, "image")
        assert "docker/setup-qemu-action" in uses
        assert "docker/setup-buildx-action" in uses
        assert uses["docker/login-action"]["registry"] == "ghcr.io"
        build = uses["docker/build-push-action"]
        assert build["file"] == "docker/Dockerfile"
        assert "linux/amd64,linux/arm64" in build["platforms"]
        assert build["push"] == "${{ github.event_name != 'pull_request' }}"
        assert workflow["env"]["IMAGE"].startswith("ghcr.io/")
        assert workflow["jobs"]["image"]["permissions"]["packages"] == "write"


class TestRelease:
    """release.yml: one distribution per tag, trusted publishing."""

    def _script(self) -> str:
        steps = _steps(_workflow("release"), "build")
        (step,) = [s for s in steps if s.get("id") == "which"]
        script: str = step["run"]
        return script

    def _parse(self, tag: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
        """Run the workflow's tag-parsing step in bash, as GitHub would, from the repo root."""
        output = tmp_path / "output"
        output.write_text("")
        return subprocess.run(
            ["bash", "-e", "-c", self._script()],
            cwd=ROOT,
            env={
                "TAG": tag,
                "GITHUB_OUTPUT": str(output),
                # setup-python puts `python` first on PATH; this venv's python plays that part.
                "PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin",
            },
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    def test_triggers_on_distribution_version_tags(self) -> None:
        """Tags <distribution>-v<version> start it."""
        assert _workflow("release")["on"]["push"]["tags"] == ["*-v[0-9]*"]

    @pytest.mark.parametrize("distribution", PUBLISHED)
    def test_tag_selects_the_one_distribution(self, distribution: str, tmp_path: Path) -> None:
        """Each published distribution's tag (at its pyproject version) resolves to its folder."""
        folder = ROOT / ("apps" if distribution == "etl-app" else "packages") / distribution
        version = re.search(r'^version = "([^"]+)"', (folder / "pyproject.toml").read_text(), re.M)
        assert version is not None
        result = self._parse(f"{distribution}-v{version.group(1)}", tmp_path)
        assert result.returncode == 0, result.stdout + result.stderr
        outputs = dict(
            line.split("=", 1) for line in (tmp_path / "output").read_text().splitlines()
        )
        assert outputs == {
            "distribution": distribution,
            "folder": str(folder.relative_to(ROOT)),
        }

    def test_wrong_version_or_unknown_distribution_is_refused(self, tmp_path: Path) -> None:
        """A tag whose version is not the pyproject's, or naming the testkit, stops the release."""
        wrong = self._parse("dq-gates-v99.0.0", tmp_path)
        assert wrong.returncode != 0
        assert "pyproject.toml says" in wrong.stdout
        internal = self._parse("pipeline-testkit-v0.1.0", tmp_path)
        assert internal.returncode != 0
        assert "no published distribution" in internal.stdout

    def test_builds_one_distribution_and_publishes_with_trusted_publishing(self) -> None:
        """One folder is built; PyPI publishing uses OIDC, no stored token."""
        workflow = _workflow("release")
        builds = [s["run"] for s in _steps(workflow, "build") if "uv build" in s.get("run", "")]
        (build,) = builds
        assert shlex.split(build)[-1] == "${{ steps.which.outputs.folder }}"
        assert "--no-sources" in build
        publish = workflow["jobs"]["publish"]
        assert publish["permissions"] == {"id-token": "write"}
        assert publish["environment"]["name"] == "pypi"
        (step,) = [s for s in publish["steps"] if "pypi-publish" in s.get("uses", "")]
        assert "password" not in step.get("with", {})


def test_published_list_matches_the_noxfile() -> None:
    """The workflows cover exactly the distributions the noxfile builds and publishes."""
    tree = ast.parse((ROOT / "noxfile.py").read_text())
    packages = next(
        node.value
        for node in tree.body
        if isinstance(node, ast.AnnAssign)
        and isinstance(node.target, ast.Name)
        and node.target.id == "PACKAGES"
    )
    assert isinstance(packages, ast.Dict)
    names = {ast.literal_eval(key) for key in packages.keys if key is not None}
    assert set(PUBLISHED) == names - {"pipeline-testkit"}


class TestScheduledAndSecurity:
    """nightly.yml and security.yml."""

    def test_nightly_runs_ci_and_the_image_check_on_a_schedule(self) -> None:
        """A cron schedule runs .ci/run as root, which builds and runs the image (nox -s image)."""
        workflow = _workflow("nightly")
        assert workflow["on"]["schedule"][0]["cron"]
        commands = [s.get("run", "") for job in workflow["jobs"] for s in _steps(workflow, job)]
        assert any(c.rstrip().endswith("bash .ci/run") and c.startswith("sudo") for c in commands)
        script = (ROOT / ".ci" / "run").read_text()
        assert re.search(r"^\s*nox -s image\b", script, re.M)

    def test_nightly_runs_what_ci_leaves_out(self) -> None:
        """Crash, S3 + cluster suites, README quick starts, all of etl-app over Connect: nightly."""
        workflow = _workflow("nightly")
        steps = [s for job in workflow["jobs"] for s in _steps(workflow, job)]
        commands = [s.get("run", "") for s in steps]
        for session in ("faults", "readme", "connect", "cluster"):
            assert any(re.search(rf"\bnox -s {session}$", c.strip()) for c in commands), session
        # CI runs etl-app's pipeline tests over Connect; the nightly run takes its whole suite.
        connect = [s for s in steps if s.get("run", "").strip().endswith("nox -s connect")]
        assert [s.get("env", {}).get("CONNECT_SUITE") for s in connect] == ["full"]

    def test_ci_script_runs_the_readme_test_command(self) -> None:
        """.ci/run runs exactly the test command README.md gives (its nox part)."""
        readme = (ROOT / "README.md").read_text()
        commands = re.findall(r"^python3 -m pip install -q nox uv && (.+)$", readme, re.M)
        assert len(commands) == 2, commands
        test_command = commands[1]
        script = (ROOT / ".ci" / "run").read_text()
        assert re.search(rf"^{re.escape(test_command)}\b", script, re.M), test_command

    def test_security_runs_bandit_and_audits_the_lock(self) -> None:
        """Bandit scans the published sources; uv audit checks uv.lock; weekly as well."""
        workflow = _workflow("security")
        assert workflow["on"]["schedule"][0]["cron"]
        commands = [s.get("run", "") for job in workflow["jobs"] for s in _steps(workflow, job)]
        assert any(c.startswith("uv audit --frozen") for c in commands)
        (bandit,) = [c for c in commands if c.startswith("bandit ")]
        for distribution in PUBLISHED:
            assert distribution in bandit

    def test_the_bandit_scan_passes_on_the_sources(self, run: Run) -> None:
        """The workflow's exact bandit command passes here, so the scan is green on main."""
        workflow = _workflow("security")
        (command,) = [
            s["run"] for s in _steps(workflow, "bandit") if s.get("run", "").startswith("bandit ")
        ]
        result = run(*shlex.split(command), cwd=ROOT)
        assert result.returncode == 0, result.stdout + result.stderr
        assert "No issues identified." in result.stdout
