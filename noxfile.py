"""Task entry point for the workspace: tests, benchmarks, lint, typecheck, build, integration, etl.

Every session installs from the one ``uv.lock`` (``uv sync --frozen``) into its own venv, and a
per-package session installs ONLY that package plus its ``dev`` group, so an undeclared import of
a sibling library fails. ``nox -t ci`` runs what CI runs; README.md gives the exact command.
"""

from __future__ import annotations

import json
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
        # Our wheels keep version 0.1.0 from commit to commit, and uv caches a --find-links
        # wheel by its file name (astral-sh/uv#3518): without a refresh, a machine that built
        # an older dq-gates 0.1.0 installs that one beside today's etl-app.
        refresh = [arg for name in PUBLISHED for arg in ("--refresh-package", name)]
        session.run(
            "uv",
            "pip",
            "install",
            "-q",
            "--python",
            python,
            *refresh,
            *find_links,
            str(wheel),
            external=True,
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
    """End-to-end tests against real Prometheus, Pushgateway and Alertmanager, and metrics faults.

    The ``slow`` crash suite (SIGKILL at commit points: a Spark start per subprocess) is left to
    the ``faults`` session, which the nightly workflow runs: it does not fit CI's budget.
    """
    _sync(session, "etl-app")
    _ensure_debian_binaries(session, MONITORING_BINARIES)
    session.run("pytest", "tests-integration", "-m", "not slow", *session.posargs)


@nox.session(python=PYTHON)
def faults(session: nox.Session) -> None:
    """The slow fault suite: SIGKILL at each commit point, two concurrent CLI processes."""
    _sync(session, "etl-app")
    session.run("pytest", "tests-integration", "-m", "slow", "-rs", *session.posargs)


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


# Spark suites over Spark Connect, one pytest process (one local Connect server with Delta on
# 127.0.0.1) per package, in the ci tag. etl-app's whole Spark suite over Connect took 14 minutes
# alone on the 2-core machine (2026-12-04), 27 on a loaded one (2026-12-03): too much beside the
# classic suites in CI's budget. So CI runs its pipeline tests over Connect (both sample batches
# through every layer, reruns, reconciliation, the report; and the `spark.remote` run), and the
# nightly workflow every Spark test of etl-app (CONNECT_SUITE=full). The merge and gate
# benchmarks run too, at BENCH_SCALE=tiny (proof they run over Connect, not figures), in the
# same process as the package's suite.
CONNECT_SUITES: dict[str, list[str]] = {
    "pipeline-testkit": ["packages/pipeline-testkit/tests"],
    "schema-registry": ["packages/schema-registry/tests"],
    "dq-gates": ["packages/dq-gates/tests", "packages/dq-gates/benchmarks/test_bench_gate.py"],
    "delta-safe-writer": [
        "packages/delta-safe-writer/tests",
        "packages/delta-safe-writer/benchmarks/test_bench_merge.py",
    ],
    "etl-app": ["apps/etl-app/tests/test_pipeline.py", "apps/etl-app/tests/test_connect.py"],
}
CONNECT_FULL = {"etl-app": ["apps/etl-app/tests"]}
# package -> (test paths, -m expression of the s3 run, -m expression of the cluster run).
# Libraries mark their object-store / cluster tests ``s3`` / ``cluster``; schema-registry's
# Spark tests are small enough to run whole (its widening check on an s3a:// table).
CLUSTER_SUITES: dict[str, tuple[list[str], str, str]] = {
    "pipeline-testkit": (["packages/pipeline-testkit/tests"], "s3", "cluster"),
    "delta-safe-writer": (["packages/delta-safe-writer/tests"], "s3", "cluster"),
    "dq-gates": (["packages/dq-gates/tests"], "s3", "cluster"),
    "schema-registry": (
        [
            "packages/schema-registry/tests/test_delta_widening.py",
            "packages/schema-registry/tests/test_scd2.py",
        ],
        "spark",
        "spark",
    ),
}


@nox.session(python=PYTHON, tags=["ci"])
@nox.parametrize("package", list(CONNECT_SUITES), ids=list(CONNECT_SUITES))
def connect(session: nox.Session, package: str) -> None:
    """A package's Spark tests (and its merge or gate benchmark, tiny) over Spark Connect.

    Against a local Connect server with Delta on 127.0.0.1. ``CONNECT_SUITE=full`` runs every
    Spark test of etl-app, not only its pipeline tests. Ratios land in
    ``.benchmarks/<package>-connect-ratios.json``.
    """
    out = ROOT / ".benchmarks"
    out.mkdir(exist_ok=True)
    _sync(session, package)
    paths = CONNECT_SUITES[package]
    if os.environ.get("CONNECT_SUITE") == "full":
        paths = CONNECT_FULL.get(package, paths)
    session.run(
        "pytest",
        *paths,
        "-m",
        "spark or connect",
        "--spark-connect",
        "-rs",
        *session.posargs,
        env={
            "BENCH_SCALE": "tiny",
            "BENCH_RATIOS_JSON": str(out / f"{package}-connect-ratios.json"),
        },
    )


@nox.session(python=PYTHON)
def cluster(session: nox.Session) -> None:
    """Storage and cluster tests: s3a:// on a moto S3 server, then a standalone cluster.

    Last, etl-app's pipeline on the cluster with its input and lake on the S3 server (both at
    once, a worker killed during one run), compared with a ``local[2]`` run; and a run whose
    credentials the S3 server refuses.
    """
    for package, (paths, s3_marks, cluster_marks) in CLUSTER_SUITES.items():
        _sync(session, package)
        session.run("pytest", *paths, "-m", s3_marks, "--spark-s3", "-rs", *session.posargs)
        session.run(
            "pytest", *paths, "-m", cluster_marks, "--spark-cluster", "-rs", *session.posargs
        )
    _sync(session, "etl-app")
    session.run(
        "pytest",
        "apps/etl-app/tests/test_object_store.py",
        "-m",
        "s3",
        "--spark-s3",
        "--spark-cluster",
        "-rs",
        *session.posargs,
    )


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


@nox.session(python=PYTHON, tags=["ci"])
def docs(session: nox.Session) -> None:
    """Build the API reference site (mkdocs.yml -> site/) with warnings as errors.

    One page per published distribution: its README as the guide, then mkdocstrings' reference
    of every name in its ``__all__``, read from the sources (nothing installed but the tools).
    """
    _sync(session, None, "docs")
    session.run("mkdocs", "build", "--strict", *session.posargs, env={"NO_MKDOCS_2_WARNING": "1"})


# `readme`: each README's quick start, run as a new user would. pyspark 4.2.x is published as a
# source distribution only (450 MB, minutes to build): its wheel is built once into this folder
# and offered to every venv with --find-links; pip's own cache (shared) holds the downloads.
README_CACHE = ROOT / ".cache" / "readme"
# pyspark 4.2.0 (with delta-spark 4.4.0) and 4.2.1 (dq-gates alone) come as sdists from PyPI.
README_SDIST_ONLY = ["pyspark==4.2.0", "pyspark==4.2.1"]
# Distributions whose wheel depends on a sibling (delta-session, the libraries): only these see
# the freshly built sibling wheels, with --find-links.
README_SIBLINGS = {"schema-registry", "etl-app"}


@nox.session(python=False)
@nox.parametrize("package", PUBLISHED, ids=PUBLISHED)
def readme(session: nox.Session, package: str) -> None:
    """Run one README's quick start in a fresh venv: its wheel installed with plain pip, no lock.

    Builds the wheels without workspace sources, creates a venv with ``python -m venv``, installs
    what the README's ``pip install`` line names (our distributions as the built wheels), records
    ``pip freeze`` in .cache/readme/, then runs the blocks marked ``<!-- quickstart -->`` and
    compares what they print with the output the README shows (tools/readme_quickstart.py).
    """
    folder, _ = PACKAGES[package]
    dist = README_CACHE / "dist"
    shutil.rmtree(dist, ignore_errors=True)
    session.run("uv", "build", "--all-packages", "--no-sources", "--wheel", "-q", "-o", str(dist))
    wheels = [f"{name}={next(dist.glob(PACKAGES[name][1] + '-*.whl'))}" for name in PUBLISHED]
    tool = ROOT / "tools" / "readme_quickstart.py"
    readme_file = ROOT / folder / "README.md"
    out = session.run(
        sys.executable,
        str(tool),
        "install-args",
        str(readme_file),
        *[arg for wheel in wheels for arg in ("--wheel", wheel)],
        silent=True,
    )
    install = json.loads(str(out))
    tmp = Path(session.create_tmp())
    venv = tmp / f"readme-{package}"
    shutil.rmtree(venv, ignore_errors=True)
    session.run(sys.executable, "-m", "venv", str(venv))
    python = str(venv / "bin" / "python")
    wheelhouse = README_CACHE / "wheels"
    for requirement in README_SDIST_ONLY:
        name, version = requirement.split("==")
        if not any(wheelhouse.glob(f"{name}-{version}-*.whl")):
            session.log(
                f"Building {requirement}'s wheel from its source distribution, once for every "
                f"README (about 2-5 minutes, 450 MB download) into {wheelhouse}"
            )
            session.run(
                python, "-m", "pip", "wheel", "--no-deps", "-w", str(wheelhouse), requirement
            )
    links = ["--find-links", str(wheelhouse)]
    if package in README_SIBLINGS:
        links += ["--find-links", str(dist)]
    session.run(python, "-m", "pip", "install", "--progress-bar", "off", *links, *install)
    freeze = session.run(python, "-m", "pip", "freeze", silent=True)
    record = README_CACHE / f"{package}-freeze.txt"
    record.write_text(str(freeze))
    session.log(f"Resolved with plain pip (also in {record}):\n{freeze}")
    workdir = tmp / f"readme-{package}-run"
    shutil.rmtree(workdir, ignore_errors=True)
    session.run(
        sys.executable,
        str(tool),
        "run",
        str(readme_file),
        "--venv",
        str(venv),
        "--workdir",
        str(workdir),
    )


# `nox -s ci` runs every session of the ci tag, in two lanes at once. CI's budget is wall time on
# two cores, and one Spark test process keeps about one core busy (driver-side Python and JVM
# start-up dominate on tiny data), so two lanes finish in far less time than one. The lanes are
# balanced by the session times of a clean-clone run on 2026-12-02 (minutes: etl-app tests 22,
# delta-safe-writer tests 14, integration 5, dq-gates tests 5, the etl-app benchmarks 4, ...),
# plus the Connect sessions, timed alone on 2026-12-04 (delta-safe-writer 7.5, etl-app 5,
# dq-gates 2.3, schema-registry 0.6, the testkit 0.4).
# Lane 1 starts with the testkit's tests, whose Spark sessions fill the Ivy cache with the Delta
# jars; lane 2 starts with the sessions that start no Spark (about 7 minutes), so the two lanes'
# first Spark starts do not resolve into the same cache at the same moment.
CI_LANES: list[list[str]] = [
    [
        "tests(pipeline-testkit)",
        "tests(etl-app)",
        "integration",
        "benchmarks(etl-app)",
        "benchmarks(dq-gates)",
        "connect(delta-safe-writer)",
    ],
    [
        "lint",
        "typecheck",
        "build",
        "deploy",
        "docs",
        *(f"tests({name})" for name in PACKAGES if name not in {"etl-app", "pipeline-testkit"}),
        *(f"benchmarks({name})" for name in PUBLISHED if name not in {"etl-app", "dq-gates"}),
        *(f"connect({name})" for name in CONNECT_SUITES if name != "delta-safe-writer"),
    ],
]
CI_LANE_LOGS = ROOT / ".cache" / "ci-lanes"


@nox.session(python=False)
def ci(session: nox.Session) -> None:
    """Every session of ``nox -t ci``, in two lanes that run at once (README's test command).

    Each lane is one ``nox`` process; its full output goes to .cache/ci-lanes/lane-<n>.log and its
    session summary is printed here. Fails when any session of either lane fails.
    """
    import subprocess

    _check_lanes_cover_the_ci_tag(session)
    CI_LANE_LOGS.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "UV_LOCK_TIMEOUT": os.environ.get("UV_LOCK_TIMEOUT", "1800")}
    nox_command = [sys.executable, "-m", "nox", "-f", str(ROOT / "noxfile.py")]
    running = []
    for number, lane in enumerate(CI_LANES, start=1):
        log_path = CI_LANE_LOGS / f"lane-{number}.log"
        session.log(f"lane {number} ({', '.join(lane)}) -> {log_path}")
        log = log_path.open("w", encoding="utf-8")
        command = [*nox_command, "-s", *lane]
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=ROOT)
        running.append((number, log_path, log, process))
    failed = []
    for number, log_path, log, process in running:
        code = process.wait()
        log.close()
        lines = log_path.read_text(encoding="utf-8", errors="replace").splitlines()
        summary = [line for line in lines if line.startswith("nox > *") or "passed" in line]
        session.log(f"lane {number} exited {code}:\n" + "\n".join(summary[-60:]))
        if code != 0:
            failed.append((number, lines))
            print("\n".join(lines[-200:]))
    # What failed goes last: a CI page that shows only the end of the output still shows it.
    for number, lines in failed:
        session.log(f"lane {number}: what failed\n" + "\n".join(_failure_excerpt(lines)))
    if failed:
        numbers = [number for number, _ in failed]
        session.error(f"lane(s) {numbers} failed; full output in {CI_LANE_LOGS}")


def _failure_excerpt(lines: list[str], limit: int = 80) -> list[str]:
    """The lines of a nox log that say what failed: pytest's failures, coverage, failed commands."""
    marks = ("FAILED ", "ERROR ", "E   ", "Coverage failure", "nox > Command", "nox > * ")
    picked = [line for line in lines if line.startswith(marks) or " failed" in line]
    return picked[-limit:]


def _check_lanes_cover_the_ci_tag(session: nox.Session) -> None:
    """Fail unless the lanes hold every session of the ci tag, once, and no other."""
    import subprocess

    listed = subprocess.run(
        [sys.executable, "-m", "nox", "-f", str(ROOT / "noxfile.py"), "-t", "ci", "-l", "--json"],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    )
    tagged = [entry["session"] for entry in json.loads(listed.stdout)]
    covered = [
        name
        for lane in CI_LANES
        for entry in lane
        for name in tagged
        if name == entry or name.startswith(f"{entry}(")
    ]
    if sorted(covered) != sorted(tagged):
        missing = sorted(set(tagged) - set(covered))
        twice = sorted({name for name in covered if covered.count(name) > 1})
        session.error(f"CI_LANES disagree with the ci tag: missing {missing}, twice {twice}")
