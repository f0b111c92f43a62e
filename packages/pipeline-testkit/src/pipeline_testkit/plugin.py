"""pytest plugin (entry point ``pipeline_testkit``): Spark fixtures and the ``compare`` fixture.

The ``spark`` fixture hands out one session per test process. Which kind is chosen per run,
by options or by ``PIPELINE_TESTKIT_SPARK`` (a comma-separated mix, ``local`` by default):

- ``--spark-connect`` / ``connect``: a Spark Connect session against a Connect server with
  Delta, started on 127.0.0.1 and stopped by PID.
- ``--spark-cluster`` / ``cluster``: a classic session whose executors run on a standalone
  master and two workers started from pyspark's ``spark-class``.
- ``--spark-s3`` / ``s3``: the session has hadoop-aws and S3A pointed at a moto S3 server on
  127.0.0.1, and ``table_path`` is an ``s3a://`` path.

Tests marked ``connect``, ``cluster`` or ``s3`` need that kind and are deselected in runs
without it; tests marked ``no_connect("reason")`` are skipped, with the reason, over Connect.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from pipeline_testkit._bench import BenchScale, Comparison, bench_scale, run_comparison
from pipeline_testkit._spark import SPARK_MODE_ENV, SparkMode

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from pipeline_testkit._cluster import StandaloneCluster
    from pipeline_testkit._connect import ConnectServer
    from pipeline_testkit._s3 import S3Server

_COMPARISONS: list[Comparison] = []
_ENFORCE_ENV = "BENCH_ENFORCE"
_MARKERS = {
    "connect": "needs a Spark Connect session (run with --spark-connect or "
    f"{SPARK_MODE_ENV}=connect; deselected otherwise)",
    "cluster": "needs a standalone Spark cluster (run with --spark-cluster or "
    f"{SPARK_MODE_ENV}=cluster; deselected otherwise)",
    "s3": "needs the S3 test server and an s3a-capable session (run with --spark-s3 or "
    f"{SPARK_MODE_ENV}=s3; deselected otherwise)",
    "no_connect(reason)": "cannot run over Spark Connect: skipped, with the reason, in "
    "--spark-connect runs",
}


def pytest_addoption(parser: pytest.Parser) -> None:
    """Options choosing the kind of Spark session the ``spark`` fixture hands out."""
    group = parser.getgroup("pipeline-testkit", "pipeline-testkit Spark sessions")
    group.addoption(
        "--spark-connect",
        action="store_true",
        help="the spark fixture is a Spark Connect session (local Connect server with Delta)",
    )
    group.addoption(
        "--spark-cluster",
        action="store_true",
        help="the spark fixture runs on a local standalone cluster (master + 2 workers)",
    )
    group.addoption(
        "--spark-s3",
        action="store_true",
        help="the spark fixture reads/writes s3a:// on a local S3 server; table_path is on it",
    )


def pytest_configure(config: pytest.Config) -> None:
    """Register the markers, so ``--strict-markers`` suites can use them."""
    for name, text in _MARKERS.items():
        config.addinivalue_line("markers", f"{name}: {text}")


def spark_mode(config: pytest.Config) -> SparkMode:
    """The kind of session this run asked for: the options, plus ``PIPELINE_TESTKIT_SPARK``.

    Raises:
        pytest.UsageError: The environment variable holds an unknown word.
    """
    try:
        from_env = SparkMode.parse(os.environ.get(SPARK_MODE_ENV))
    except ValueError as exc:
        raise pytest.UsageError(str(exc)) from None
    return SparkMode(
        connect=from_env.connect or bool(config.getoption("spark_connect", False)),
        cluster=from_env.cluster or bool(config.getoption("spark_cluster", False)),
        s3=from_env.s3 or bool(config.getoption("spark_s3", False)),
    )


def pytest_report_header(config: pytest.Config) -> str:
    """Say which kind of Spark session this run uses."""
    return f"pipeline-testkit spark session: {spark_mode(config)}"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Deselect tests needing a session kind this run lacks; skip ``no_connect`` over Connect."""
    mode = spark_mode(config)
    keep: list[pytest.Item] = []
    dropped: list[pytest.Item] = []
    for item in items:
        needs = [kind for kind in mode.__dataclass_fields__ if item.get_closest_marker(kind)]
        if any(not getattr(mode, kind) for kind in needs):
            dropped.append(item)
            continue
        keep.append(item)
        marker = item.get_closest_marker("no_connect")
        if mode.connect and marker is not None:
            reason = marker.kwargs.get("reason") or (marker.args[0] if marker.args else "")
            if not reason:
                raise pytest.UsageError(f"{item.nodeid}: no_connect needs a reason")
            item.add_marker(pytest.mark.skip(reason=f"not over Spark Connect: {reason}"))
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = keep


@pytest.fixture(scope="session", name="spark_mode")
def spark_mode_fixture(request: pytest.FixtureRequest) -> SparkMode:
    """The kind of Spark session this run uses (see the module docstring)."""
    return spark_mode(request.config)


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    """A moto S3 server on 127.0.0.1 with bucket ``lake``, stopped by PID at the end.

    Needs ``pipeline-testkit[s3]``. Its ``env`` holds the random dummy credentials.
    """
    from pipeline_testkit._s3 import start_s3_server

    server = start_s3_server(tmp_path_factory.mktemp("s3"))
    yield server
    server.stop()


@pytest.fixture(scope="session")
def spark_cluster(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[StandaloneCluster]:
    """A standalone master and two 1-core workers on 127.0.0.1, stopped by PID at the end.

    In ``s3`` runs the daemons (and so the executors they launch) get the S3 credentials.
    """
    from pipeline_testkit._cluster import start_standalone_cluster
    from pipeline_testkit._spark import require_spark_extra

    require_spark_extra()
    env = request.getfixturevalue("s3_server").env if spark_mode(request.config).s3 else {}
    cluster = start_standalone_cluster(tmp_path_factory.mktemp("cluster"), env=env)
    yield cluster
    cluster.stop()


@pytest.fixture(scope="session")
def spark(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[SparkSession]:
    """One SparkSession with Delta Lake for the whole test process, of this run's kind.

    Local by default (``local[2]``, 2 shuffle partitions, no UI, temp warehouse); over Spark
    Connect, on a standalone cluster and/or with S3 when the run asks for it (see the module
    docstring). Needs ``pipeline-testkit[spark]``; without it the fixture errors with
    ``SparkExtraMissingError`` saying what to declare.
    """
    from pipeline_testkit._spark import local_spark_session, require_spark_extra

    require_spark_extra()
    if spark_mode(request.config).connect:
        server: ConnectServer = request.getfixturevalue("connect_server")
        yield from _connect_spark(server)
        return
    warehouse = tmp_path_factory.mktemp("spark")
    master, conf, packages, env = _session_settings(request, warehouse)
    saved = {key: os.environ.get(key) for key in env}
    os.environ.update(env)  # the driver JVM inherits them; restored when the session ends
    try:
        session = local_spark_session(
            warehouse_dir=warehouse,
            extra_conf=conf,
            packages=tuple(packages),
            master=master,
            log_file=warehouse / "spark-start.log",
        )
        yield session
        session.stop()
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@pytest.fixture(scope="session")
def connect_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ConnectServer]:
    """The Spark Connect server behind the ``spark`` fixture in ``connect`` runs.

    Started on first use with this run's settings (cluster master, S3), stopped by PID at the
    end. Tests that start their own client (an app given ``sc://`` in its config) use its
    ``url`` or ``port`` and ``token``.
    """
    from pipeline_testkit._connect import start_connect_server
    from pipeline_testkit._spark import require_spark_extra

    require_spark_extra()
    master, conf, packages, env = _session_settings(request, tmp_path_factory.mktemp("spark"))
    server = start_connect_server(
        tmp_path_factory.mktemp("connect"), master=master, packages=packages, conf=conf, env=env
    )
    yield server
    server.stop()


def _session_settings(
    request: pytest.FixtureRequest, warehouse: Path
) -> tuple[str, dict[str, str], list[str], dict[str, str]]:
    """Master, settings, extra packages and environment of this run's session (or server)."""
    from pipeline_testkit._spark import small_conf

    mode = spark_mode(request.config)
    conf = small_conf(warehouse)
    packages: list[str] = []
    env: dict[str, str] = {}
    if mode.s3:
        from delta_session import hadoop_aws_coordinate

        s3: S3Server = request.getfixturevalue("s3_server")
        conf.update(s3.spark_conf())
        packages.append(hadoop_aws_coordinate())
        env.update(s3.env)
    master = "local[2]"
    if mode.cluster:
        cluster: StandaloneCluster = request.getfixturevalue("spark_cluster")
        master = cluster.master_url
        conf.update(cluster.session_conf())
    return master, conf, packages, env


def _connect_spark(server: ConnectServer) -> Iterator[SparkSession]:
    from delta_session import connect_session

    session = connect_session(server.url)
    yield session
    session.stop()


@pytest.fixture
def table_path(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh, not yet existing path for a Delta table: under ``tmp_path``, or on S3.

    In ``s3`` runs it is ``s3a://lake/<test's tmp folder name>/table`` on the S3 test server.
    """
    if spark_mode(request.config).s3:
        s3: S3Server = request.getfixturevalue("s3_server")
        return s3.url(tmp_path.name, "table")
    return str(tmp_path / "table")


CompareFn = Callable[..., Comparison]


@pytest.fixture
def compare(benchmark: Any) -> CompareFn:
    """Measure a candidate against a baseline in the same run and record the ratio.

    Call it as ``compare(name, candidate, baseline, setup=None, rounds=3, target=1.1,
    warmup=1)``. ``warmup`` untimed rounds of the pair run first (JIT compilation and
    first-use caches otherwise land in whichever side runs first). The timed pair runs under
    pytest-benchmark (so JSON output holds the pair's timings) and the medians and ratio land
    in ``extra_info`` and in the terminal summary. At ``BENCH_SCALE=full`` a missed target
    fails the benchmark unless ``BENCH_ENFORCE=0``.
    """

    def _compare(
        name: str,
        candidate: Callable[[], object],
        baseline: Callable[[], object],
        *,
        setup: Callable[[], object] | None = None,
        rounds: int = 3,
        target: float | None = None,
        warmup: int = 1,
    ) -> Comparison:
        for index in range(warmup):
            run_comparison(
                Comparison(name=name, target=None), candidate, baseline, setup, round_index=index
            )
        comparison = Comparison(name=name, target=target)
        counter = iter(range(10**9))

        def one_round() -> None:
            run_comparison(comparison, candidate, baseline, setup, round_index=next(counter))

        benchmark.pedantic(one_round, rounds=rounds, iterations=1, warmup_rounds=0)
        benchmark.extra_info.update(comparison.as_dict())
        _COMPARISONS.append(comparison)
        enforce = os.environ.get(_ENFORCE_ENV, "1") != "0"
        if enforce and bench_scale() is BenchScale.FULL and comparison.meets_target is False:
            pytest.fail(
                f"{name}: ratio {comparison.ratio:.3f} exceeds target {target} "
                f"(candidate {comparison.candidate_median:.4f}s vs baseline "
                f"{comparison.baseline_median:.4f}s)"
            )
        return comparison

    return _compare


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Print every comparison's ratio, and save them next to pytest-benchmark's JSON."""
    if not _COMPARISONS:
        return
    terminalreporter.section(f"baseline comparisons (BENCH_SCALE={bench_scale().value})")
    for c in _COMPARISONS:
        verdict = {None: "", True: "meets target", False: "OVER TARGET"}[c.meets_target]
        terminalreporter.write_line(
            f"{c.name}: ratio {c.ratio:.3f} (candidate {c.candidate_median:.4f}s, baseline "
            f"{c.baseline_median:.4f}s, target {c.target}) {verdict}"
        )
    out = os.environ.get("BENCH_RATIOS_JSON")
    if out:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        Path(out).write_text(json.dumps([c.as_dict() for c in _COMPARISONS], indent=2))
