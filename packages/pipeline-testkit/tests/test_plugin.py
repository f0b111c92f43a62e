"""The pytest plugin as a user meets it: the compare fixture's verdicts and saved ratios."""

from __future__ import annotations

import json
import subprocess
import sys
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


class TestMissingJars:
    def test_jars_dir_without_delta_classes_raises_clear_error(self, tmp_path: Path) -> None:
        """A jars folder whose delta jar holds no classes gives DeltaJarsUnavailableError."""
        (tmp_path / "io.delta_delta-spark_4.2_2.13-4.4.0.jar").write_bytes(b"")
        code = (
            "from pipeline_testkit import local_spark_session, DeltaJarsUnavailableError\n"
            "try:\n"
            "    local_spark_session()\n"
            "except DeltaJarsUnavailableError as e:\n"
            "    print('ERR', e)\n"
        )
        proc = subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            env={**__import__("os").environ, "DELTA_JARS_DIR": str(tmp_path)},
            timeout=300,
            check=False,
        )
        assert "ERR Spark with Delta Lake could not start" in proc.stdout, proc.stderr[-2000:]
        assert f"DELTA_JARS_DIR={tmp_path}" in proc.stdout
