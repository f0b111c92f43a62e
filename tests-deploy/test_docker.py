"""docker/: the Dockerfile lints clean and is wired right; the entrypoint dispatches correctly."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCKER = ROOT / "docker"
DOCKERFILE = DOCKER / "Dockerfile"
ENTRYPOINT = DOCKER / "entrypoint.sh"

Run = Callable[..., subprocess.CompletedProcess[str]]


def _instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of the Dockerfile, continuation lines joined, comments dropped."""
    logical: list[str] = []
    pending = ""
    for line in DOCKERFILE.read_text().splitlines():
        if line.lstrip().startswith("#") or not line.strip():
            continue
        pending += line.rstrip().removesuffix("\\") + " "
        if not line.rstrip().endswith("\\"):
            logical.append(pending.strip())
            pending = ""
    return [(text.split(None, 1)[0].upper(), text.split(None, 1)[1]) for text in logical]


def _stages() -> list[list[tuple[str, str]]]:
    stages: list[list[tuple[str, str]]] = []
    for instruction in _instructions():
        if instruction[0] == "FROM":
            stages.append([])
        if stages:
            stages[-1].append(instruction)
    return stages


def _pattern_regex(pattern: str) -> re.Pattern[str]:
    """Docker ignore glob -> regex: ``**/`` any folders, ``*`` / ``?`` within one name."""
    out = ""
    i = 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out, i = out + "(?:.*/)?", i + 3
        elif pattern.startswith("**", i):
            out, i = out + ".*", i + 2
        elif pattern[i] == "*":
            out, i = out + "[^/]*", i + 1
        elif pattern[i] == "?":
            out, i = out + "[^/]", i + 1
        else:
            out, i = out + re.escape(pattern[i]), i + 1
    return re.compile(out)


def _ignored(path: str) -> bool:
    """Whether docker/Dockerfile.dockerignore excludes ``path``.

    Docker's rules: patterns apply in order and the last match wins; a pattern matching a folder
    applies to everything under it.
    """
    lines = (DOCKER / "Dockerfile.dockerignore").read_text().splitlines()
    patterns = [line.strip() for line in lines if line.strip() and not line.startswith("#")]
    parts = path.split("/")
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    ignored = False
    for pattern in patterns:
        negate = pattern.startswith("!")
        regex = _pattern_regex(pattern.removeprefix("!").rstrip("/"))
        if any(regex.fullmatch(prefix) for prefix in prefixes):
            ignored = not negate
    return ignored


class TestHadolint:
    """Hadolint on the Dockerfile."""

    def test_dockerfile_passes_hadolint(self, run: Run) -> None:
        """Hadolint reports nothing at any level for docker/Dockerfile."""
        result = run("hadolint", "--no-color", DOCKERFILE)
        assert result.returncode == 0, result.stdout + result.stderr

    def test_hadolint_flags_an_unpinned_root_image(self, run: Run, tmp_path: Path) -> None:
        """The lint is live: an unpinned base image and a root user are reported."""
        bad = tmp_path / "Dockerfile"
        bad.write_text('FROM python:latest\nRUN pip install uv\nUSER root\nCMD ["etl-app"]\n')
        result = run("hadolint", "--no-color", bad)
        assert result.returncode != 0
        assert "DL3007" in result.stdout
        assert "DL3013" in result.stdout


class TestImageLayout:
    """What the image contains and how it starts."""

    def test_base_images_are_pinned_tags(self) -> None:
        """Every FROM resolves to a versioned tag, never latest or a bare name."""
        text = DOCKERFILE.read_text()
        (default,) = re.findall(r"^ARG PYTHON_IMAGE=(\S+)$", text, re.M)
        assert re.fullmatch(r"python:3\.11\.\d+-slim-bookworm", default)
        for stage in _stages():
            assert stage[0][1].split()[0] == "${PYTHON_IMAGE}"

    def test_build_stage_installs_the_locked_app_without_dev_tools(self) -> None:
        """The build stage installs etl-app from uv.lock (frozen), no dev group, no editables."""
        runs = [args for name, args in _stages()[0] if name == "RUN"]
        syncs = [args for args in runs if args.startswith("uv sync")]
        assert len(syncs) == 2
        assert all("--frozen" in s and "--no-dev" in s and "--package etl-app" in s for s in syncs)
        assert "--no-install-workspace" in syncs[0]
        assert "--no-editable" in syncs[1]
        assert any(re.search(r"uv==\d+\.\d+\.\d+", args) for args in runs)

    def test_runtime_stage_has_java_17_and_runs_as_non_root(self) -> None:
        """The runtime stage installs Java 17 and ends as a numeric non-root user."""
        runtime = _stages()[-1]
        assert any("openjdk-17-jre-headless" in args for name, args in runtime if name == "RUN")
        users = [args for name, args in runtime if name == "USER"]
        assert users
        assert users[-1].split(":")[0] not in {"0", "root"}
        assert users[-1].split(":")[0].isdigit()

    def test_entrypoint_is_the_dispatcher_under_tini(self) -> None:
        """ENTRYPOINT runs docker/entrypoint.sh under tini, so `docker run IMAGE run ...` works."""
        (entry,) = [args for name, args in _stages()[-1] if name == "ENTRYPOINT"]
        assert entry == '["/usr/bin/tini", "--", "/opt/etl-app/entrypoint.sh"]'

    def test_copied_sources_exist_and_survive_the_ignore_file(self) -> None:
        """Every COPY source from the context exists and is not excluded by the .dockerignore."""
        sources = []
        for stage in _stages():
            for name, args in stage:
                if name == "COPY" and not args.startswith("--from"):
                    sources += args.split()[:-1]
        assert sources
        for source in sources:
            assert (ROOT / source).exists(), source
            assert not _ignored(source.rstrip("/")), source

    def test_ignore_file_keeps_tests_and_caches_out(self) -> None:
        """Tests, benchmarks, caches and unrelated folders never reach the build context."""
        for path in (
            "packages/dq-gates/tests/test_gate.py",
            "apps/etl-app/benchmarks/test_bench_pipeline.py",
            "packages/etl-metrics/src/etl_metrics/__pycache__/x.pyc",
            "monitoring/README.md",
            ".git/HEAD",
        ):
            assert _ignored(path), path
        assert not _ignored("packages/dq-gates/src/dq_gates/__init__.py")


def _fake_bin(directory: Path, name: str) -> None:
    """A stand-in command that prints its name and arguments, one per line."""
    script = directory / name
    script.write_text(f'#!/usr/bin/env bash\necho "{name}"\nprintf "%s\\n" "$@"\n')
    script.chmod(0o755)


@pytest.fixture
def fake_env(tmp_path: Path) -> dict[str, str]:
    """PATH with fake etl-app and java, and a SPARK_HOME with a fake spark-submit."""
    bin_dir = tmp_path / "bin"
    spark_bin = tmp_path / "spark" / "bin"
    bin_dir.mkdir()
    spark_bin.mkdir(parents=True)
    _fake_bin(bin_dir, "etl-app")
    _fake_bin(bin_dir, "java")
    _fake_bin(spark_bin, "spark-submit")
    return {
        "PATH": f"{bin_dir}:/usr/bin:/bin",
        "SPARK_HOME": str(tmp_path / "spark"),
        "HOME": str(tmp_path),
    }


def _entrypoint(env: dict[str, str], *args: str) -> list[str]:
    result = subprocess.run(
        ["bash", str(ENTRYPOINT), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=30,
        check=False,
        cwd=env["HOME"],
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.splitlines()


class TestEntrypoint:
    """docker/entrypoint.sh dispatch."""

    def test_other_arguments_go_to_the_etl_app_cli(self, fake_env: dict[str, str]) -> None:
        """`docker run IMAGE run --env k8s --cmd gold` runs `etl-app run --env k8s --cmd gold`."""
        out = _entrypoint(fake_env, "run", "--env", "k8s", "--cmd", "gold")
        assert out == ["etl-app", "run", "--env", "k8s", "--cmd", "gold"]

    def test_driver_runs_spark_submit_in_client_mode(self, fake_env: dict[str, str]) -> None:
        """A Spark-on-Kubernetes driver pod runs spark-submit in client mode bound to its pod IP."""
        env = {**fake_env, "SPARK_DRIVER_BIND_ADDRESS": "10.1.2.3"}
        out = _entrypoint(env, "driver", "--properties-file", "/opt/spark/conf/p", "app.py", "run")
        assert out == [
            "spark-submit",
            "--conf",
            "spark.driver.bindAddress=10.1.2.3",
            "--conf",
            "spark.executorEnv.SPARK_DRIVER_POD_IP=10.1.2.3",
            "--deploy-mode",
            "client",
            "--properties-file",
            "/opt/spark/conf/p",
            "app.py",
            "run",
        ]

    def test_executor_starts_the_kubernetes_executor_backend(
        self, fake_env: dict[str, str]
    ) -> None:
        """An executor pod starts the executor backend from the env Spark sets, JVM opts ordered."""
        env = {
            **fake_env,
            "SPARK_JAVA_OPT_0": "-Dspark.a=1",
            "SPARK_JAVA_OPT_1": "-Dspark.b=2",
            "SPARK_JAVA_OPT_10": "-Dspark.k=11",
            "SPARK_EXECUTOR_MEMORY": "2g",
            "SPARK_DRIVER_URL": "spark://CoarseGrainedScheduler@driver:7078",
            "SPARK_EXECUTOR_ID": "3",
            "SPARK_EXECUTOR_CORES": "1",
            "SPARK_APPLICATION_ID": "spark-app-1",
            "SPARK_EXECUTOR_POD_IP": "10.1.2.4",
            "SPARK_EXECUTOR_POD_NAME": "etl-exec-3",
        }
        out = _entrypoint(env, "executor")
        spark_home = fake_env["SPARK_HOME"]
        assert out == [
            "java",
            "-Dspark.a=1",
            "-Dspark.b=2",
            "-Dspark.k=11",
            "-Xms2g",
            "-Xmx2g",
            "-cp",
            f"{spark_home}/conf:{spark_home}/jars/*:{fake_env['HOME']}",
            "org.apache.spark.scheduler.cluster.k8s.KubernetesExecutorBackend",
            "--driver-url",
            "spark://CoarseGrainedScheduler@driver:7078",
            "--executor-id",
            "3",
            "--cores",
            "1",
            "--app-id",
            "spark-app-1",
            "--hostname",
            "10.1.2.4",
            "--resourceProfileId",
            "0",
            "--podName",
            "etl-exec-3",
        ]

    def test_executor_without_its_environment_fails_loudly(self, fake_env: dict[str, str]) -> None:
        """Outside Kubernetes (no SPARK_DRIVER_URL ...) the executor mode stops with an error."""
        result = subprocess.run(
            ["bash", str(ENTRYPOINT), "executor"],
            capture_output=True,
            text=True,
            env=fake_env,
            timeout=30,
            check=False,
        )
        assert result.returncode != 0
        assert "unbound variable" in result.stderr


class TestSparkMain:
    """docker/spark_main.py, the SparkApplication main file."""

    def test_spark_main_hands_arguments_to_python_m_etl_app(self, tmp_path: Path) -> None:
        """spark_main.py runs the etl_app module as __main__ with the application arguments."""
        package = tmp_path / "etl_app"
        package.mkdir()
        (package / "__init__.py").write_text("")
        (package / "__main__.py").write_text(
            "import sys\nprint(__name__, sys.argv[1:])\nsys.exit(7)\n"
        )
        result = subprocess.run(
            [sys.executable, str(DOCKER / "spark_main.py"), "run", "--cmd", "silver"],
            capture_output=True,
            text=True,
            env={**os.environ, "PYTHONPATH": str(tmp_path)},
            timeout=30,
            check=False,
        )
        assert result.stdout.strip() == "__main__ ['run', '--cmd', 'silver']"
        assert result.returncode == 7


FAKE_PYSPARK = """
import json, os
from pathlib import Path

class _Builder:
    def __init__(self):
        self.conf = {}
    def master(self, value):
        self.conf["master"] = value
        return self
    def config(self, key, value):
        self.conf[key] = value
        return self
    def getOrCreate(self):
        # What the JVM would see: the environment at launch and the session conf.
        Path(os.environ["FAKE_SPARK_RECORD"]).write_text(json.dumps(
            {"env": {k: os.environ.get(k) for k in ("SPARK_LOCAL_IP", "SPARK_LOCAL_HOSTNAME")},
             "conf": self.conf}))
        jars = Path(self.conf["spark.jars.ivy"]) / "jars"
        jars.mkdir(parents=True)
        (jars / "io.delta_delta-spark_2.13-4.4.0.jar").write_text("jar")
        (jars / "io.delta_delta-storage-4.4.0.jar").write_text("jar")
        return self
    def stop(self):
        pass

class SparkSession:
    builder = _Builder()
"""


class TestFetchDeltaJars:
    """docker/fetch_delta_jars.py, the build-time jar fetch."""

    def test_binds_spark_to_loopback_before_the_jvm_starts(self, tmp_path: Path) -> None:
        """The driver gets 127.0.0.1 from the environment, so an unresolvable hostname is no issue.

        Spark looks up its own address while loading its config (before any session conf
        applies); in a build container whose hostname does not resolve that raised
        UnknownHostException. A stand-in pyspark records what the JVM would be started with.
        """
        fake = tmp_path / "site" / "pyspark"
        fake.mkdir(parents=True)
        (fake / "__init__.py").write_text("")
        (fake / "sql.py").write_text(FAKE_PYSPARK)
        record = tmp_path / "record.json"
        code = (
            "import sys, importlib.metadata as m\n"
            "m.version = lambda name: {'pyspark': '4.2.0', 'delta-spark': '4.4.0'}[name]\n"
            f"sys.argv = ['fetch', {str(tmp_path / 'jars')!r}]\n"
            f"exec(compile(open({str(DOCKER / 'fetch_delta_jars.py')!r}).read(), 'fetch', 'exec'),"
            " {'__name__': '__main__'})\n"
        )
        env = {
            key: value
            for key, value in os.environ.items()
            if key not in {"SPARK_LOCAL_IP", "SPARK_LOCAL_HOSTNAME"}
        }
        result = subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            env={**env, "PYTHONPATH": str(tmp_path / "site"), "FAKE_SPARK_RECORD": str(record)},
            timeout=60,
            check=False,
        )
        assert result.returncode == 0, result.stderr
        seen = json.loads(record.read_text())
        assert seen["env"] == {"SPARK_LOCAL_IP": "127.0.0.1", "SPARK_LOCAL_HOSTNAME": "localhost"}
        assert seen["conf"]["spark.driver.bindAddress"] == "127.0.0.1"
        assert seen["conf"]["spark.jars.packages"] == "io.delta:delta-spark_4.2_2.13:4.4.0"
        copied = sorted(p.name for p in (tmp_path / "jars").iterdir())
        assert copied == ["io.delta_delta-spark_2.13-4.4.0.jar", "io.delta_delta-storage-4.4.0.jar"]


class TestBuildahCheck:
    """docker/buildah-check.sh, what `nox -s image` runs."""

    def test_script_is_valid_bash_building_from_a_local_base(self) -> None:
        """The script parses, builds with chroot isolation from a base passed as build arg."""
        script = DOCKER / "buildah-check.sh"
        result = subprocess.run(
            ["bash", "-n", str(script)], capture_output=True, text=True, timeout=30, check=False
        )
        assert result.returncode == 0, result.stderr
        text = script.read_text()
        assert '--isolation "$ISOLATION"' in text
        assert "ISOLATION=chroot" in text
        assert '--build-arg PYTHON_IMAGE="$BASE_IMAGE"' in text
        assert "debootstrap --variant=minbase" in text
        assert "openjdk-17-jre-headless" in text
        assert re.search(r"run --env local --cmd full", text)
