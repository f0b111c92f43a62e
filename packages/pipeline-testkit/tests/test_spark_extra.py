"""Without the ``spark`` extra the testkit still imports, and the ``spark`` fixture says why not.

pyspark is installed in this suite's venv, so its absence is simulated by blocking the import
(``sys.modules[name] = None`` makes ``import name`` raise ModuleNotFoundError).
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from pipeline_testkit import SparkExtraMissingError, require_spark_extra

BLOCK_SPARK = "import sys\nsys.modules['pyspark'] = None\nsys.modules['delta'] = None\n"


class TestWithoutSparkExtra:
    def test_testkit_and_plugin_import_without_pyspark(self) -> None:
        """The package, its pytest plugin and the server helpers never import pyspark."""
        code = (
            BLOCK_SPARK
            + "import pipeline_testkit, pipeline_testkit.plugin, pipeline_testkit.servers\n"
            "print('imported', pipeline_testkit.__version__)\n"
        )
        proc = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
        )
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout.startswith("imported 0.1.0")

    @pytest.mark.parametrize("missing", ["pyspark", "delta"])
    def test_require_spark_extra_names_the_missing_module_and_the_fix(
        self, monkeypatch: pytest.MonkeyPatch, missing: str
    ) -> None:
        """A missing pyspark or delta-spark is named, with the extra to declare instead."""
        monkeypatch.setitem(sys.modules, missing, None)
        with pytest.raises(SparkExtraMissingError) as err:
            require_spark_extra()
        assert err.value.name == missing
        assert f"{missing!r} is not installed" in str(err.value)
        assert "'pipeline-testkit[spark]'" in str(err.value)

    def test_spark_fixture_errors_with_the_extra_to_declare(
        self, pytester: pytest.Pytester
    ) -> None:
        """A test asking for ``spark`` without the extra errors at setup with the clear message."""
        pytester.makeconftest(BLOCK_SPARK)
        pytester.makepyfile(
            """
            def test_uses_spark(spark):
                assert False, "never reached"

            def test_without_spark():
                assert 1 + 1 == 2
            """
        )
        result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
        result.assert_outcomes(passed=1, errors=1)
        error_lines = [
            line
            for line in result.outlines
            if line.startswith("E ") and "errors.SparkExtraMissingError:" in line
        ]
        assert error_lines, result.stdout.str()
        assert "Declare 'pipeline-testkit[spark]'" in error_lines[0]
