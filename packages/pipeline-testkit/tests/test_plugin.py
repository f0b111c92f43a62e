"""The pytest plugin as a user meets it.

The compare fixture's verdicts and saved ratios; which tests run, and with which session, for
each kind of Spark run.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

SLOW_CANDIDATE = """
import time

def test_slow(compare):
    compare("slow vs fast", lambda: time.sleep(0.02), lambda: None, rounds=2, target=1.1)
"""


class TestCompareFixture:
    def test_missed_target_fails_at_full_scale(
        self, pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """At BENCH_SCALE=full a ratio over target fails the benchmark and names both timings."""
        monkeypatch.setenv("BENCH_SCALE", "full")
        monkeypatch.delenv("BENCH_ENFORCE", raising=False)
        pytester.makepyfile(SLOW_CANDIDATE)
        result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
        result.assert_outcomes(failed=1)
        result.stdout.fnmatch_lines(["*slow vs fast: ratio * exceeds target 1.1*"])

    def test_tiny_scale_reports_without_failing(
        self, pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
    ) -> None:
        """At tiny scale the ratio is reported and saved to BENCH_RATIOS_JSON, not enforced."""
        out = tmp_path / "ratios" / "r.json"
        monkeypatch.setenv("BENCH_SCALE", "tiny")
        monkeypatch.setenv("BENCH_RATIOS_JSON", str(out))
        pytester.makepyfile(SLOW_CANDIDATE)
        result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
        result.assert_outcomes(passed=1)
        result.stdout.fnmatch_lines(["*baseline comparisons (BENCH_SCALE=tiny)*", "*OVER TARGET*"])
        saved = json.loads(out.read_text())
        assert [r["comparison"] for r in saved] == ["slow vs fast"]
        assert saved[0]["meets_target"] is False
        assert saved[0]["ratio"] > 1.1


MARKED_TESTS = """
import pytest

def test_plain():
    pass

@pytest.mark.connect
def test_connect_only():
    pass

@pytest.mark.cluster
def test_cluster_only():
    pass

@pytest.mark.s3
def test_s3_only():
    pass

@pytest.mark.no_connect("uses the JVM")
def test_classic_only():
    pass
"""


class TestSelection:
    """Tests needing a session kind run only in runs of that kind; no_connect skips over Connect."""

    def test_local_run_deselects_the_gated_tests(
        self, pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A plain run runs unmarked and no_connect tests and deselects the three gated ones."""
        monkeypatch.delenv("PIPELINE_TESTKIT_SPARK", raising=False)
        pytester.makepyfile(MARKED_TESTS)
        result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
        result.assert_outcomes(passed=2, deselected=3)
        result.stdout.fnmatch_lines(["pipeline-testkit spark session: local"])

    def test_connect_run(self, pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
        """--spark-connect runs connect tests and skips no_connect ones, giving the reason."""
        monkeypatch.delenv("PIPELINE_TESTKIT_SPARK", raising=False)
        pytester.makepyfile(MARKED_TESTS)
        result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-rs", "--spark-connect")
        result.assert_outcomes(passed=2, skipped=1, deselected=2)
        result.stdout.fnmatch_lines(["*not over Spark Connect: uses the JVM*"])

    def test_environment_selects_kinds(
        self, pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """PIPELINE_TESTKIT_SPARK=cluster,s3 runs the cluster and s3 tests."""
        monkeypatch.setenv("PIPELINE_TESTKIT_SPARK", "cluster,s3")
        pytester.makepyfile(MARKED_TESTS)
        result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
        result.assert_outcomes(passed=4, deselected=1)
        result.stdout.fnmatch_lines(["pipeline-testkit spark session: cluster,s3"])

    def test_unknown_kind_is_a_usage_error(
        self, pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A typo in PIPELINE_TESTKIT_SPARK stops the run with the accepted words."""
        monkeypatch.setenv("PIPELINE_TESTKIT_SPARK", "clutser")
        pytester.makepyfile(MARKED_TESTS)
        result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
        assert result.ret == pytest.ExitCode.USAGE_ERROR
        assert (
            "unknown ['clutser']; use 'local' or a comma-separated mix of connect, cluster, s3"
            in (result.stderr.str())
        )

    def test_no_connect_needs_a_reason(
        self, pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """no_connect without a reason is refused in a Connect run, naming the test."""
        monkeypatch.delenv("PIPELINE_TESTKIT_SPARK", raising=False)
        pytester.makepyfile("import pytest\n@pytest.mark.no_connect\ndef test_x():\n    pass\n")
        result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--spark-connect")
        assert result.ret == pytest.ExitCode.USAGE_ERROR
        result.stderr.fnmatch_lines(["*test_x: no_connect needs a reason*"])


# Stand-ins for the servers and builders, recording how the spark fixture wires them.
WIRING_CONFTEST = """
import json, os
import delta_session
import pipeline_testkit._cluster as cluster_module
import pipeline_testkit._connect as connect_module
import pipeline_testkit._s3 as s3_module
import pipeline_testkit._spark as spark_module

EVENTS = []


class Stoppable:
    def __init__(self, name, **fields):
        self.name = name
        self.__dict__.update(fields)

    def stop(self):
        EVENTS.append(f"stop {self.name}")


class S3(Stoppable):
    bucket = "lake"
    env = {"AWS_ACCESS_KEY_ID": "k", "AWS_SECRET_ACCESS_KEY": "s"}

    def url(self, *parts):
        return "/".join(["s3a://lake", *parts])

    def spark_conf(self):
        return {"s3.endpoint": "http://127.0.0.1:1"}


def start_s3_server(log_dir, **_):
    EVENTS.append("start s3")
    return S3("s3")


def start_standalone_cluster(log_dir, env=None, **_):
    EVENTS.append(f"start cluster env={sorted(env or {})}")
    return Stoppable("cluster", master_url="spark://127.0.0.1:7",
                     session_conf=lambda: {"cluster.conf": "1"})


def start_connect_server(log_dir, master, packages, conf, env):
    EVENTS.append(f"start connect master={master} packages={packages} env={sorted(env)}")
    EVENTS.append(f"server conf {sorted(k for k in conf if '.' in k and k[0] in 'cs')}")
    return Stoppable("connect server", url="sc://localhost:9/;token=t")


def connect_session(url):
    EVENTS.append(f"connect to {url}")
    return Stoppable("connect session")


def local_spark_session(**kwargs):
    EVENTS.append(f"local master={kwargs['master']} packages={kwargs['packages']}")
    EVENTS.append(f"local conf {sorted(k for k in kwargs['extra_conf'] if k[0] in 'cs')}")
    EVENTS.append(f"env during start {os.environ.get('AWS_ACCESS_KEY_ID')}")
    return Stoppable("local session")


s3_module.start_s3_server = start_s3_server
cluster_module.start_standalone_cluster = start_standalone_cluster
connect_module.start_connect_server = start_connect_server
spark_module.local_spark_session = local_spark_session
delta_session.connect_session = connect_session


def pytest_sessionfinish(session):
    EVENTS.append(f"env after {os.environ.get('AWS_ACCESS_KEY_ID')}")
    print("EVENTS " + json.dumps(EVENTS))
"""

WIRING_TEST = """
def test_uses(spark, table_path):
    print("TABLE", table_path)
"""


class TestSessionWiring:
    """Each kind of run hands the spark fixture the servers it needs, and stops them all."""

    def run(self, pytester: pytest.Pytester, *options: str) -> tuple[list[str], str]:
        """Run the wiring test with these options; return the recorded events and table path."""
        pytester.makeconftest(WIRING_CONFTEST)
        pytester.makepyfile(WIRING_TEST)
        result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-s", *options)
        result.assert_outcomes(passed=1)
        events = next(line for line in result.outlines if "EVENTS " in line)
        table = next(line for line in result.outlines if "TABLE " in line)
        return json.loads(events.split("EVENTS ", 1)[1]), table.split("TABLE ", 1)[1]

    def test_local(self, pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
        """By default: a local[2] session, no extra jars, a table under the test's tmp folder."""
        monkeypatch.delenv("PIPELINE_TESTKIT_SPARK", raising=False)
        monkeypatch.delenv("AWS_ACCESS_KEY_ID", raising=False)
        events, table = self.run(pytester)
        assert events[0] == "local master=local[2] packages=()"
        assert events[3:] == ["stop local session", "env after None"]
        assert not table.startswith("s3a://")
        assert table.endswith("/table")

    def test_cluster_with_s3(
        self, pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Cluster + S3: each part gets what it needs, and everything is stopped, session first.

        The workers get the S3 credentials, the driver hadoop-aws and both sets of settings;
        the credentials are in the environment only while the session lives; the table is on S3.
        """
        monkeypatch.delenv("PIPELINE_TESTKIT_SPARK", raising=False)
        monkeypatch.delenv("AWS_ACCESS_KEY_ID", raising=False)
        events, table = self.run(pytester, "--spark-s3", "--spark-cluster")
        assert events == [
            "start s3",
            "start cluster env=['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY']",
            "local master=spark://127.0.0.1:7 packages=('org.apache.hadoop:hadoop-aws:3.5.0',)",
            "local conf ['cluster.conf', 's3.endpoint', 'spark.databricks.delta."
            "snapshotPartitions', 'spark.default.parallelism', 'spark.driver.extraJavaOptions', "
            "'spark.driver.memory', 'spark.sql.session.timeZone', 'spark.sql.shuffle.partitions', "
            "'spark.sql.warehouse.dir', 'spark.ui.enabled']",
            "env during start k",
            "stop local session",
            "stop cluster",
            "stop s3",
            "env after None",
        ]
        assert table.startswith("s3a://lake/test_uses")
        assert table.endswith("/table")

    def test_connect_on_cluster(
        self, pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Connect + cluster: the Connect server drives the cluster; the session is its client."""
        monkeypatch.setenv("PIPELINE_TESTKIT_SPARK", "connect,cluster")
        events, table = self.run(pytester)
        assert events[:4] == [
            "start cluster env=[]",
            "start connect master=spark://127.0.0.1:7 packages=[] env=[]",
            events[2],
            "connect to sc://localhost:9/;token=t",
        ]
        assert "cluster.conf" in events[2]
        assert events[4:7] == ["stop connect session", "stop connect server", "stop cluster"]
        assert not table.startswith("s3a://")
