"""The servers behind the session kinds, without Spark.

A real moto S3 server; the Connect and standalone-cluster orchestration driven with stand-in
programs. The real Connect server and cluster run in ``nox -s connect`` / ``nox -s cluster``
(test_delta_roundtrip.py); here the start, readiness, environment and stop logic is checked
with small Python programs that behave like them on the wire (a TCP port, ``/json/`` pages).
"""

from __future__ import annotations

import os
import sys
import time
import urllib.request
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import pytest

from pipeline_testkit import (
    ServerStartError,
    port_open,
    start_connect_server,
    start_s3_server,
    start_standalone_cluster,
)
from pipeline_testkit import _cluster as cluster_module


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


class TestS3Server:
    """moto's S3 server: started with a bucket, reachable on 127.0.0.1, stopped by PID."""

    def test_bucket_objects_and_settings(self, tmp_path: Path) -> None:
        """The bucket exists, objects put through the S3 API are listed, settings point at it."""
        s3 = start_s3_server(tmp_path)
        try:
            assert s3.endpoint.startswith("http://127.0.0.1:")
            assert s3.url("/run-1/", "table") == "s3a://lake/run-1/table"
            s3.put("/run-1/table/part-0.parquet", b"id,name\n1,a\n")
            s3.create_bucket("other")
            assert s3.keys("run-1/") == ["run-1/table/part-0.parquet"]
            # The whole body is stored (a form-typed PUT stores an empty object).
            query = f"{s3.endpoint}/lake?list-type=2&prefix=run-1/"
            with urllib.request.urlopen(query, timeout=30) as listing:
                assert "<Size>12</Size>" in listing.read().decode()
            assert s3.keys("none/") == []
            conf = s3.spark_conf()
            assert conf["spark.hadoop.fs.s3a.endpoint"] == s3.endpoint
            assert conf["spark.hadoop.fs.s3a.path.style.access"] == "true"
            assert set(s3.env) >= {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_REGION"}
            assert s3.env["AWS_SECRET_ACCESS_KEY"] not in repr(s3)
            listing = urllib.request.urlopen(s3.endpoint + "/", timeout=30).read().decode()
            assert "<Name>lake</Name>" in listing
            assert "<Name>other</Name>" in listing
        finally:
            s3.stop()
        assert not _pid_alive(s3.server.pid)

    def test_required_credentials_refuse_every_other_key_pair(self, tmp_path: Path) -> None:
        """After require_credentials only the issued pair is served; the old one is refused."""
        import botocore.exceptions

        s3 = start_s3_server(tmp_path)
        try:
            s3.put("before/a.txt", b"kept")
            secured = s3.require_credentials()
            assert secured.server is s3.server
            assert secured.env["AWS_ACCESS_KEY_ID"] != s3.env["AWS_ACCESS_KEY_ID"]
            assert secured.env["AWS_SECRET_ACCESS_KEY"] not in repr(secured)
            secured.put("after/b.txt", b"new")
            assert secured.keys() == ["after/b.txt", "before/a.txt"]
            with pytest.raises(botocore.exceptions.ClientError, match="InvalidAccessKeyId"):
                s3.keys()
            wrong_secret = replace(
                secured, env={**secured.env, "AWS_SECRET_ACCESS_KEY": "not-the-secret"}
            )
            with pytest.raises(botocore.exceptions.ClientError, match="SignatureDoesNotMatch"):
                wrong_secret.put("after/c.txt", b"refused")
            assert secured.keys("after/") == ["after/b.txt"]
        finally:
            s3.stop()

    def test_without_moto_the_error_says_what_to_declare(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Without moto installed the error names the s3 extra, and nothing is started."""
        monkeypatch.setitem(sys.modules, "moto.server", None)
        monkeypatch.setitem(sys.modules, "moto", None)
        with pytest.raises(ModuleNotFoundError, match=r"pipeline-testkit\[spark,s3\]"):
            start_s3_server(tmp_path / "s3")
        assert not (tmp_path / "s3").exists()


# Behaves like a Spark Connect server on the wire: listens on the port given after
# "spark.connect.grpc.binding.port=", and logs whether it got a token.
CONNECT_STAND_IN = """
import os, socket, sys

key = "spark.connect.grpc.binding.port="
port = next(a.split("=", 1)[1] for a in sys.argv if a.startswith(key))
print("token set:", bool(os.environ.get("SPARK_CONNECT_AUTHENTICATE_TOKEN")), flush=True)
server = socket.create_server(("127.0.0.1", int(port)))
while True:
    server.accept()[0].close()
"""


class TestConnectServer:
    """The Connect server process: delta-session's command, port readiness, token, stop."""

    def test_start_with_token_and_stop(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """It listens on its port, gets the token by environment, and is stopped by PID."""
        import delta_session

        script = tmp_path / "connect.py"
        script.write_text(CONNECT_STAND_IN)
        seen: list[dict[str, object]] = []

        def command(port: int, **kwargs: object) -> list[str]:
            seen.append({"port": port, **kwargs})
            return [
                sys.executable,
                str(script),
                "--conf",
                f"spark.connect.grpc.binding.port={port}",
            ]

        monkeypatch.setattr(delta_session, "connect_server_command", command)
        server = start_connect_server(
            tmp_path / "logs", master="spark://127.0.0.1:7", packages=("g:a:1",), conf={"a": "b"}
        )
        try:
            assert port_open(server.server.address)
            assert server.url == f"sc://localhost:{server.port}/;token={server.token}"
            assert server.token not in repr(server)
            assert seen[-1] == {
                "port": server.port,
                "master": "spark://127.0.0.1:7",
                "packages": ("g:a:1",),
                "conf": {"a": "b"},
            }
        finally:
            server.stop()
        assert not _pid_alive(server.server.pid)
        assert "token set: True" in server.server.log_path.read_text()


# Behaves like spark-class Master / Worker: serves /json/ on its --webui-port. A worker
# registers by writing a file into the master's folder; the master counts them.
CLUSTER_STAND_IN = """#!{python}
import http.server, json, os, pathlib, sys

args = sys.argv[1:]
role = args[0].rsplit(".", 1)[1]
ui = int(args[args.index("--webui-port") + 1])
registry = pathlib.Path({registry!r})
registry.mkdir(exist_ok=True)
if role == "Worker" and {register}:
    work = pathlib.Path(args[args.index("--work-dir") + 1])
    (registry / str(ui)).write_text(args[-1])
    (work / "app-1" / "0").mkdir(parents=True)
    (work / "app-1" / "0" / "stderr").write_text("Finished task 0.0")

class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        if role == "Master":
            body = {{"aliveworkers": len(list(registry.iterdir())), "activeapps": []}}
        else:
            body = {{"executors": [{{"appid": "app-1"}}]}}
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

http.server.HTTPServer(("127.0.0.1", ui), Handler).serve_forever()
"""


@pytest.fixture
def stand_in_cluster(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> object:
    """Make spark_class() a stand-in launcher; ``register=False`` makes workers not register."""

    def install(register: bool = True) -> Path:
        launcher = tmp_path / "spark-class"
        launcher.write_text(
            CLUSTER_STAND_IN.format(
                python=sys.executable, registry=str(tmp_path / "registry"), register=register
            )
        )
        launcher.chmod(0o755)
        monkeypatch.setattr(cluster_module, "spark_class", lambda: str(launcher))
        return launcher

    return install


class TestStandaloneCluster:
    """Master and workers: started in order, registered, inspectable, stopped by PID."""

    def test_start_inspect_stop(self, tmp_path: Path, stand_in_cluster: object) -> None:
        """Two workers register with the master; status, logs and settings are read from them."""
        stand_in_cluster()  # type: ignore[operator]
        cluster = start_standalone_cluster(tmp_path / "c", env={"AWS_REGION": "us-east-1"})
        try:
            assert cluster.master_url.startswith("spark://127.0.0.1:")
            assert cluster.status()["aliveworkers"] == 2
            registered = {p.read_text() for p in (tmp_path / "registry").iterdir()}
            assert registered == {cluster.master_url}
            assert [w["executors"][0]["appid"] for w in cluster.worker_status()] == ["app-1"] * 2
            logs = cluster.executor_logs("app-1")
            assert len(logs) == 2
            assert set(logs.values()) == {"Finished task 0.0"}
            conf = cluster.session_conf()
            assert conf["spark.cores.max"] == "2"
            assert conf["spark.pyspark.python"] == sys.executable
            assert cluster.env["SPARK_DAEMON_MEMORY"] == "256m"
            assert cluster.env["AWS_REGION"] == "us-east-1"
        finally:
            cluster.stop()
        pids = [cluster.master.pid, *(w.pid for w in cluster.workers)]
        assert not [pid for pid in pids if _pid_alive(pid)]

    def test_workers_that_never_register_are_reported(
        self, tmp_path: Path, stand_in_cluster: object, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Workers that start but never register: ServerStartError quoting the master's log.

        The registration wait's clock jumps past its deadline after the first status poll, so
        the test does not wait out the timeout.
        """
        stand_in_cluster(register=False)  # type: ignore[operator]
        polls: list[float] = []

        def monotonic() -> float:
            polls.append(0.0)
            return 0.0 if len(polls) == 1 else 1e9

        monkeypatch.setattr(
            cluster_module, "time", SimpleNamespace(monotonic=monotonic, sleep=time.sleep)
        )
        with pytest.raises(ServerStartError, match="Only 0 of 2 workers registered") as err:
            start_standalone_cluster(tmp_path / "c", timeout=300.0)
        assert "End of the master's log" in str(err.value)
        logs = sorted(p.parent.name for p in (tmp_path / "c").rglob("*.log"))
        assert logs == ["master", "worker-0", "worker-1"]
        assert list((tmp_path / "registry").iterdir()) == []
