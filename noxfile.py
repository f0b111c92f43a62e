"""Task entry point for the workspace: tests, benchmarks, lint, typecheck, build, integration, etl.

Every session installs from the one ``uv.lock`` (``uv sync --frozen``) into its own venv, and a
per-package session installs ONLY that package plus its ``dev`` group, so an undeclared import of
a sibling library fails. ``nox -t ci`` runs what CI runs; README.md gives the exact command.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import nox

nox.options.default_venv_backend = "uv"
nox.options.error_on_missing_interpreters = True
nox.needs_version = ">=2025.2.9"

ROOT = Path(__file__).parent
PYTHON = f"{sys.version_info.major}.{sys.version_info.minor}"

# distribution name -> (folder, import name)
PACKAGES: dict[str, tuple[str, str]] = {
    "delta-session": ("packages/delta-session", "delta_session"),
    "pipeline-testkit": ("packages/pipeline-testkit", "pipeline_testkit"),
    "etl-metrics": ("packages/etl-metrics", "etl_metrics"),
    "schema-registry": ("packages/schema-registry", "schema_registry"),
    "dq-gates": ("packages/dq-gates", "dq_gates"),
    "delta-safe-writer": ("packages/delta-safe-writer", "delta_safe_writer"),
    "etl-app": ("apps/etl-app", "etl_app"),
}
PUBLISHED = [name for name in PACKAGES if name != "pipeline-testkit"]
LIBRARIES = ["delta-session", "etl-metrics", "schema-registry", "dq-gates", "delta-safe-writer"]
# Foundation packages (like pyspark) may be depended on by libraries; they install alone too.
FOUNDATIONS = ["delta-session"]
COVERAGE_FLOOR = 90

# Debian packages providing the real servers used by tests (binary -> package).
MONITORING_BINARIES = {
    "prometheus": "prometheus",
    "promtool": "prometheus",
    "prometheus-pushgateway": "prometheus-pushgateway",
    "prometheus-alertmanager": "prometheus-alertmanager",
    "amtool": "prometheus-alertmanager",
}
NEEDS_MONITORING = {"etl-metrics", "etl-app"}
# Go tools the deploy checks run, built from the Go module proxy (binary -> module@version).
GO_TOOLS = {
    "actionlint": "github.com/rhysd/actionlint/cmd/actionlint@v1.7.12",
    "kustomize": "sigs.k8s.io/kustomize/kustomize/v5@v5.7.1",
}
GO_TOOLS_CACHE = ROOT / ".cache" / "go-tools"
# Debian packages the image check needs (binary -> package).
IMAGE_BINARIES = {"buildah": "buildah", "debootstrap": "debootstrap"}


def _sync(session: nox.Session, package: str | None, *groups: str) -> None:
    """Install exactly what the lock file says for ``package`` (or only ``groups``)."""
    args = ["uv", "sync", "--frozen", "--no-progress"]
    args += ["--package", package] if package else ["--no-install-workspace"]
    for group in groups:
        args += ["--only-group" if package is None else "--group", group]
    session.run_install(
        *args,
        env={"UV_PROJECT_ENVIRONMENT": session.virtualenv.location},
        external=True,
    )


def _ensure_debian_binaries(session: nox.Session, binaries: dict[str, str]) -> None:
    """Install missing Debian packages when root (CI, fresh machines), else say what to install."""
    missing = sorted({pkg for binary, pkg in binaries.items() if shutil.which(binary) is None})
    if not missing:
        return
    if hasattr(os, "geteuid") and os.geteuid() == 0 and shutil.which("apt-get"):
        env = {"DEBIAN_FRONTEND": "noninteractive"}
        session.run("apt-get", "update", "-qq", external=True, env=env)
        session.run("apt-get", "install", "-y", "-qq", *missing, external=True, env=env)
        # Debian starts these as services on install; the tests start their own on 127.0.0.1.
        for pkg in missing:
            session.run("sh", "-c", f"service {pkg} stop >/dev/null 2>&1 || true", external=True)
        return
    session.error(
        f"Missing binaries from Debian packages {', '.join(missing)}. Install them with "
        f"'sudo apt-get install -y {' '.join(missing)}' and rerun."
    )


def _install_go_tools(session: nox.Session, tools: dict[str, str]) -> None:
    """Build each Go tool once into .cache/go-tools/<module@version>/ and link it into the venv."""
    bin_dir = Path(session.bin)
    for name, module in tools.items():
        cached = GO_TOOLS_CACHE / module.replace("/", "_") / name
        if not cached.exists():
            if shutil.which("go") is None:
                session.error(
                    f"'{name}' is built from the Go module proxy ({module}) and needs Go 1.24+ "
                    "on PATH (https://go.dev/dl/, or actions/setup-go on GitHub)."
                )
            session.run(
                "go",
                "install",
                module,
                external=True,
                env={"GOBIN": str(cached.parent), "GOFLAGS": "-mod=mod"},
            )
        target = bin_dir / name
        target.unlink(missing_ok=True)
        target.symlink_to(cached)


@nox.session(python=PYTHON, tags=["ci"])
def lint(session: nox.Session) -> None:
    """Ruff lint and format check over the whole repository."""
    _sync(session, None, "lint")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session(python=PYTHON, tags=["ci"])
@nox.parametrize("package", list(PACKAGES), ids=list(PACKAGES))
def typecheck(session: nox.Session, package: str) -> None:
    """Mypy --strict over one package's source, with only that package installed."""
    folder, _ = PACKAGES[package]
    _sync(session, package, "typecheck")
    session.run("mypy", "--config-file", str(ROOT / "pyproject.toml"), f"{folder}/src")


@nox.session(python=PYTHON, tags=["ci"])
@nox.parametrize("package", list(PACKAGES), ids=list(PACKAGES))
def tests(session: nox.Session, package: str) -> None:
    """Run one package's tests with ONLY that package installed; coverage floor 90%."""
    folder, import_name = PACKAGES[package]
    _sync(session, package)
    if package in NEEDS_MONITORING:
        _ensure_debian_binaries(session, MONITORING_BINARIES)
    # coverage wraps pytest (rather than pytest-cov) so modules that pytest imports early, such
    # as the testkit's own plugin, are measured too. Data file per package: sessions can overlap.
    data_file = ROOT / f".coverage.{package}"
    env = {"COVERAGE_FILE": str(data_file)}
    session.run(
        "coverage",
        "run",
        f"--source={import_name}",
        "-m",
        "pytest",
        f"{folder}/tests",
        *session.posargs,
        env=env,
    )
    session.run("coverage", "combine", "-q", env=env)
    session.run("coverage", "report", f"--fail-under={COVERAGE_FLOOR}", env=env)


@nox.session(python=PYTHON, tags=["ci"])
@nox.parametrize("package", PUBLISHED, ids=PUBLISHED)
def benchmarks(session: nox.Session, package: str) -> None:
    """Run one package's benchmarks; sizes from BENCH_SCALE (full by default, tiny in CI)."""
    folder, _ = PACKAGES[package]
    _sync(session, package)
    out = ROOT / ".benchmarks"
    out.mkdir(exist_ok=True)
    session.run(
        "pytest",
        f"{folder}/benchmarks",
        "-p",
        "no:randomly",
        f"--benchmark-json={out / f'{package}.json'}",
        "--benchmark-columns=min,median,max,rounds",
        *session.posargs,
        env={"BENCH_RATIOS_JSON": str(out / f"{package}-ratios.json")},
    )


@nox.session(python=PYTHON, tags=["ci"])
def build(session: nox.Session) -> None:
    """Build every wheel without workspace sources; install each ALONE in a fresh venv and import.

    Proves a user can ``pip install dq-gates`` by itself: the libraries' wheels install with
    only PyPI dependencies, and ``etl-app`` finds its siblings among the built wheels.
    """
    dist = ROOT / "dist"
    shutil.rmtree(dist, ignore_errors=True)
    for package in PUBLISHED:
        folder, _ = PACKAGES[package]
        session.run(
            "uv", "build", "--no-sources", "--wheel", "-q", "-o", str(dist), folder, external=True
        )
    checker = ROOT / "tools" / "check_wheel.py"
    for package in PUBLISHED:
        _, import_name = PACKAGES[package]
        venv = Path(session.create_tmp()) / f"alone-{package}"
        shutil.rmtree(venv, ignore_errors=True)
        session.run("uv", "venv", "-q", "--python", PYTHON, str(venv), external=True)
        python = str(venv / "bin" / "python")
        wheel = next(dist.glob(f"{import_name}-*.whl"))
        find_links = ["--find-links", str(dist)] if package == "etl-app" else []
        session.run(
            "uv", "pip", "install", "-q", "--python", python, *find_links, str(wheel), external=True
        )
        forbidden = (
            [other for other in LIBRARIES if other != package and other not in FOUNDATIONS]
            if package in LIBRARIES
            else []
        )
        if package == "etl-metrics":
            forbidden.append("pyspark")
        session.run(python, str(checker), package, import_name, *forbidden, external=True)


@nox.session(python=PYTHON, tags=["ci"])
def integration(session: nox.Session) -> None:
    """End-to-end tests against real Prometheus, Pushgateway and Alertmanager."""
    _sync(session, "etl-app")
    _ensure_debian_binaries(session, MONITORING_BINARIES)
    session.run("pytest", "tests-integration", *session.posargs)


@nox.session(python=PYTHON, tags=["ci"])
def deploy(session: nox.Session) -> None:
    """Monitoring and deployment checks, each tool installed by this session.

    promtool, amtool and real servers for monitoring/; hadolint; kustomize renders, k8s schemas
    and Pod Security for k8s/; the compose spec; actionlint and the workflow schema.
    """
    # Not _sync(): its --no-install-workspace would drop etl-metrics, which the group names.
    session.run_install(
        "uv",
        "sync",
        "--frozen",
        "--no-progress",
        "--only-group",
        "deploy",
        env={"UV_PROJECT_ENVIRONMENT": session.virtualenv.location},
        external=True,
    )
    _ensure_debian_binaries(session, MONITORING_BINARIES)
    _install_go_tools(session, GO_TOOLS)
    session.run("pytest", "monitoring/tests", "tests-deploy", *session.posargs)


@nox.session(python=False)
def image(session: nox.Session) -> None:
    """Build docker/Dockerfile without a Docker engine and run the image's etl-app on the sample.

    buildah (``--isolation chroot``) on a local Debian bookworm base made with debootstrap, as
    root; see docker/README.md. Not tagged ``ci`` because it needs root, which ``nox -t ci`` does
    not: .ci/run (root) runs it after ``nox -t ci``, and so does the nightly workflow.
    """
    _ensure_debian_binaries(session, IMAGE_BINARIES)
    report = ROOT / ".cache" / "image-check.json"
    report.parent.mkdir(exist_ok=True)
    session.run(
        "bash",
        str(ROOT / "docker" / "buildah-check.sh"),
        external=True,
        env={"ETL_IMAGE_REPORT": str(report)},
    )


# Suites run in the sessions below, which start extra servers: not in the ci tag yet (the lead
# decides after measuring). Each pytest process gets one session of the kind asked for
# (pipeline-testkit's plugin: --spark-connect / --spark-s3 / --spark-cluster); issues 12 and 13
# add the libraries' suites here.
CONNECT_SUITES = {"pipeline-testkit": "packages/pipeline-testkit/tests"}
CLUSTER_SUITES = {"pipeline-testkit": "packages/pipeline-testkit/tests"}


@nox.session(python=PYTHON)
def connect(session: nox.Session) -> None:
    """Spark tests over Spark Connect, against a local Connect server with Delta (127.0.0.1)."""
    for package, suite in CONNECT_SUITES.items():
        _sync(session, package)
        session.run(
            "pytest", suite, "-m", "spark or connect", "--spark-connect", "-rs", *session.posargs
        )


@nox.session(python=PYTHON)
def cluster(session: nox.Session) -> None:
    """Storage and cluster tests: s3a:// on a moto S3 server, then a standalone cluster."""
    for package, suite in CLUSTER_SUITES.items():
        _sync(session, package)
        session.run("pytest", suite, "-m", "s3", "--spark-s3", *session.posargs)
        session.run("pytest", suite, "-m", "cluster", "--spark-cluster", *session.posargs)


@nox.session(python=PYTHON)
def etl(session: nox.Session) -> None:
    """Run the pipeline on the bundled sample data (README's first command).

    Without arguments it runs ``etl-app run``; arguments replace that, so every subcommand is
    reachable: ``nox -s etl -- --help``, ``nox -s etl -- validate-config``, ``nox -s etl -- run
    --cmd bronze``.
    """
    session.log(
        "Installing etl-app from uv.lock. The first time, uv downloads pyspark 4.2.0's source "
        "distribution (about 450 MB; 4.2.0 has no wheel) and builds it: expect several "
        "minutes. Later runs reuse uv's cache and start in seconds."
    )
    # Not _sync(): without --no-progress, uv shows the download and build as they go.
    session.run_install(
        "uv",
        "sync",
        "--frozen",
        "--package",
        "etl-app",
        env={"UV_PROJECT_ENVIRONMENT": session.virtualenv.location},
        external=True,
    )
    session.chdir(ROOT / "apps" / "etl-app")
    session.run("etl-app", *(session.posargs or ["run"]))
