"""Metrics and storage faults around a real run: the data outcome stands, nothing leaks.

Pushgateways that are down, answer 500, answer slowly or trickle their answer one byte at a
time are small local HTTP servers on 127.0.0.1 (a real Pushgateway cannot be made to misbehave).
Each run is the app's command line, in-process, with the test's Spark session.
"""

from __future__ import annotations

import contextlib
import io
import json
import socket
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

import etl_app._cli as cli
from etl_app._resources import resource_path

pytestmark = [pytest.mark.integration, pytest.mark.spark]

SECRET = "pw-8c1f5e"
#: Generous bound on what a bounded push may take beyond its deadline on a loaded machine.
SLACK_S = 30.0


class _Misbehaving(BaseHTTPRequestHandler):
    """Answers every push the way the server's ``mode`` says."""

    server: _Gateway

    def do_PUT(self) -> None:
        """Same as POST."""
        self.do_POST()

    def do_POST(self) -> None:
        """Read the push, then misbehave."""
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.server.hits += 1
        mode = self.server.mode
        if mode == "500":
            self.send_response(500)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if mode == "slow":
            self.server.stop.wait(60)
            return
        # trickle: a whole, valid answer, one byte every second (about 40 s in all).
        answer = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"
        with contextlib.suppress(OSError):
            for byte in answer:
                if self.server.stop.wait(1.0):
                    return
                self.wfile.write(bytes([byte]))
                self.wfile.flush()

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet."""


class _Gateway(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, mode: str) -> None:
        super().__init__(("127.0.0.1", 0), _Misbehaving)
        self.mode = mode
        self.hits = 0
        self.stop = threading.Event()

    @property
    def url(self) -> str:
        return f"http://etl:{SECRET}@127.0.0.1:{self.server_address[1]}"


@contextlib.contextmanager
def gateway(mode: str) -> Iterator[_Gateway]:
    """A misbehaving gateway on a free port, stopped (and its handlers released) at the end."""
    server = _Gateway(mode)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.stop.set()
        server.shutdown()
        server.server_close()
        thread.join(timeout=30)


def closed_url() -> str:
    """A gateway URL with credentials where nothing listens."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://etl:{SECRET}@127.0.0.1:{port}"


def run_cli(spark: Any, argv: list[str]) -> tuple[int, str, str]:
    """The CLI in-process with the test's session: exit code, stdout, stderr."""
    out, err = io.StringIO(), io.StringIO()
    with (
        pytest.MonkeyPatch.context() as mp,
        contextlib.redirect_stdout(out),
        contextlib.redirect_stderr(err),
    ):
        mp.setattr(cli, "build_spark_session", lambda config: spark)
        code = cli.main(argv)
    return code, out.getvalue(), err.getvalue()


def config_file(folder: Path, push: str, *, strict: bool = False, extra: str = "") -> Path:
    """A config with the sample input, a data root under ``folder`` and a gateway ``push``."""
    path = folder / "etl.yaml"
    path.write_text(
        f"input: {{dir: {resource_path('sample')}}}\n"
        f"output: {{root: {folder / 'out'}}}\n"
        f"metrics: {{pushgateway: {{url: '{push}', timeout_s: 1.0, deadline_s: 4.0, "
        f"strict: {'true' if strict else 'false'}}}}}\n" + extra
    )
    return path


def report_of(stdout: str) -> dict[str, Any]:
    """The run report named on the last line of stdout."""
    path = stdout.strip().splitlines()[-1].removeprefix("run report: ")
    return dict(json.loads(Path(path).read_text()))


class TestGatewayFaults:
    """Whatever the gateway does, the data outcome and report stand; the push is bounded."""

    def test_gateway_down(self, spark: Any, tmp_path: Path) -> None:
        """Nothing listens: exit 0, the report says metrics failed, the summary says so."""
        code, out, err = run_cli(
            spark, ["run", "--config", str(config_file(tmp_path, closed_url()))]
        )
        assert code == 0
        report = report_of(out)
        assert report["status"] == "success"
        assert report["metrics"]["ok"] is False
        assert "metrics were not delivered" in err
        assert "(FAILED)" in out

    def test_gateway_down_strict_exits_4_after_committing(self, spark: Any, tmp_path: Path) -> None:
        """With strict, a committed run whose metrics failed exits 4; the data is in silver."""
        config = config_file(tmp_path, closed_url(), strict=True)
        code, out, _ = run_cli(spark, ["run", "--config", str(config)])
        assert code == 4
        report = report_of(out)
        assert report["status"] == "success"
        assert (tmp_path / "out" / "silver" / "orders" / "_delta_log").is_dir()

    def test_gateway_answering_500_is_retried_then_reported(
        self, spark: Any, tmp_path: Path
    ) -> None:
        """A 500 answer is retried (3 attempts) and reported as HTTP 500; the run succeeds."""
        with gateway("500") as gw:
            config = config_file(tmp_path, gw.url)
            code, out, _ = run_cli(spark, ["run", "--config", str(config), "--cmd", "gold"])
            hits = gw.hits
        assert code == 0
        metrics = report_of(out)["metrics"]
        assert metrics["ok"] is False
        assert "HTTP 500" in metrics["error"]
        assert metrics["attempts"] == hits == 3

    @pytest.mark.parametrize("mode", ["slow", "trickle"])
    def test_slow_or_trickling_gateway_cannot_hold_the_job(
        self, spark: Any, tmp_path: Path, mode: str
    ) -> None:
        """A gateway that never finishes its answer is cut off by the whole-push deadline (4 s)."""
        with gateway(mode) as gw:
            config = config_file(tmp_path, gw.url)
            code, out, _ = run_cli(spark, ["run", "--config", str(config), "--cmd", "gold"])
        assert code == 0
        metrics = report_of(out)["metrics"]
        assert metrics["ok"] is False
        # Unbounded, the slow answer would take 60 s and the trickled one about 40 s.
        assert metrics["seconds"] <= 4.0 + SLACK_S


class TestStorageFaults:
    """An unwritable output is refused before Spark; a full metrics disk is a metrics failure."""

    def test_unwritable_output_exits_2_before_spark(self, tmp_path: Path) -> None:
        """A data root below a regular file: exit 2 naming it, Spark never asked for."""
        blocker = tmp_path / "file"
        blocker.write_text("x")

        def no_spark(config: object) -> None:
            raise AssertionError("Spark must not start")

        out, err = io.StringIO(), io.StringIO()
        with (
            pytest.MonkeyPatch.context() as mp,
            contextlib.redirect_stdout(out),
            contextlib.redirect_stderr(err),
        ):
            mp.setattr(cli, "build_spark_session", no_spark)
            code = cli.main(["run", "--output", str(blocker / "out")])
        assert code == 2
        assert "is not writable" in err.getvalue()

    def test_full_filesystem_for_the_textfile(self, spark: Any, tmp_path: Path) -> None:
        """The metrics folder on a full tmpfs: the run succeeds, the report says ENOSPC."""
        root = tmp_path / "out"
        with full_tmpfs(root / "metrics"):
            config = tmp_path / "etl.yaml"
            config.write_text(f"output: {{root: {root}}}\n")
            code, out, err = run_cli(spark, ["run", "--config", str(config), "--cmd", "gold"])
        assert code == 0
        metrics = report_of(out)["metrics"]
        assert metrics["sink"] == "textfile"
        assert metrics["ok"] is False
        assert "No space left on device" in metrics["error"]
        assert "metrics were not delivered" in err


@contextlib.contextmanager
def full_tmpfs(folder: Path) -> Iterator[None]:
    """Mount a 64 KiB tmpfs at ``folder`` and fill it; skip when this process may not mount."""
    folder.mkdir(parents=True)
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(folder)],
        capture_output=True,
        text=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root): {mounted.stderr.strip()}")
    try:
        with contextlib.suppress(OSError), (folder / "filler").open("wb") as filler:
            while True:
                filler.write(b"\0" * 4096)
                filler.flush()
        yield
    finally:
        subprocess.run(["umount", str(folder)], check=False)


class TestSecretsInEveryOutput:
    """A URL password and secret-looking Spark settings appear in no output."""

    def test_no_output_holds_the_secret(self, spark: Any, tmp_path: Path) -> None:
        """stdout, stderr, the run report, validate-config and the error log are all masked."""
        extra = f"spark: {{conf: {{spark.hadoop.fs.s3a.secret.key: {SECRET}}}}}\n"
        config = config_file(tmp_path, closed_url(), extra=extra)
        code, out, err = run_cli(spark, ["run", "--config", str(config), "--cmd", "gold"])
        assert code == 0
        report_path = out.strip().splitlines()[-1].removeprefix("run report: ")
        shown, err_shown = out, err
        code, validated, _ = run_cli(spark, ["validate-config", "--config", str(config)])
        assert code == 0
        texts = {
            "stdout": shown,
            "stderr": err_shown,
            "report": Path(report_path).read_text(),
            "validate-config": validated,
        }
        assert "etl:***@127.0.0.1" in texts["report"]
        for name, text in texts.items():
            assert SECRET not in text, name
