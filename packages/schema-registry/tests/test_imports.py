import subprocess
import sys

import schema_registry


class TestImportPath:
    def test_core_does_not_import_pyspark(self):
        """Importing the package and using the core leaves pyspark unimported."""
        code = (
            "import sys, schema_registry as sr\n"
            "s = sr.TableSchema([sr.Field('id', 'bigint')])\n"
            "sr.detect_drift(s, sr.TableSchema.from_yaml(s.to_yaml()))\n"
            "assert 'pyspark' not in sys.modules, sorted(m for m in sys.modules if 'spark' in m)\n"
        )
        result = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=False
        )
        assert result.returncode == 0, result.stderr

    def test_public_api_is_sorted_and_complete(self):
        """__all__ is sorted and holds the names the issue promises."""
        assert schema_registry.__all__ == sorted(schema_registry.__all__)
        for name in (
            "SchemaRegistry",
            "TableSchema",
            "Field",
            "Compatibility",
            "detect_drift",
            "DriftReport",
            "validate_scd2",
            "validate_scd2_schema",
            "Scd2Report",
        ):
            assert name in schema_registry.__all__
        assert schema_registry.__version__ == "0.1.0"
