"""etl-metrics runs without pyspark: its test venv (dev group included) holds none."""

from __future__ import annotations

import importlib.util
import subprocess
import sys


class TestNoSpark:
    def test_test_environment_has_no_pyspark(self) -> None:
        """The dev group pulls plain pipeline-testkit, not its spark extra: no pyspark here."""
        assert importlib.util.find_spec("pyspark") is None
        assert importlib.util.find_spec("delta") is None

    def test_package_and_testkit_import_with_pyspark_blocked(self) -> None:
        """etl_metrics and the testkit's plugin and server helpers import with pyspark blocked."""
        code = (
            "import sys\n"
            "sys.modules['pyspark'] = None\n"
            "import etl_metrics, pipeline_testkit.plugin, pipeline_testkit.servers\n"
            "print(len(etl_metrics.__all__))\n"
        )
        proc = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
        )
        assert proc.returncode == 0, proc.stderr
        assert int(proc.stdout) > 0
