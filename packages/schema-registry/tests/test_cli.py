import io
import json
import subprocess
import sys

import pytest

from schema_registry import Field, SchemaRegistry, TableSchema
from schema_registry._cli import main

V1 = TableSchema([Field("id", "bigint", nullable=False), Field("amount", "int")])
V2 = TableSchema([*V1.fields, Field("note", "string")])
BREAKING = TableSchema([Field("id", "bigint", nullable=False), Field("amount", "string")])


def run(*argv: str) -> tuple[int, str]:
    """Run the CLI in-process (reusing the test Spark session); return exit code and stdout."""
    out = io.StringIO()
    code = main(list(argv), out=out)
    return code, out.getvalue()


@pytest.fixture
def registry(tmp_path):
    """A registry holding silver.orders v1 and v2."""
    reg = SchemaRegistry(tmp_path / "schemas")
    reg.register("silver.orders", V1)
    reg.register("silver.orders", V2)
    return reg


class TestDiff:
    def test_identical_files_exit_zero(self, tmp_path):
        """Two equal schema files: no drift, exit 0."""
        V1.dump(tmp_path / "a.yaml")
        V1.dump(tmp_path / "b.yaml")
        code, out = run("diff", str(tmp_path / "a.yaml"), str(tmp_path / "b.yaml"))
        assert code == 0
        assert out.splitlines()[-2:] == ["no schema drift", "OK: no drift"]

    def test_drift_exits_one_unless_compatible_under_mode(self, registry):
        """Any drift exits 1; with --mode only breaking changes do."""
        code, out = run(
            "diff", "--registry", str(registry.folder), "silver.orders@1", "silver.orders"
        )
        assert code == 1
        assert out.splitlines()[4].split() == ["note", "extra_column", "-", "string", "-"]
        assert out.splitlines()[-1] == "FAIL: 1 change(s)"
        assert out.splitlines()[0].startswith("expected: silver.orders v1 (silver.orders@1)")
        code, out = run(
            "diff",
            "--registry",
            str(registry.folder),
            "--mode",
            "full",
            "silver.orders@1",
            "silver.orders@2",
        )
        assert code == 0
        assert out.splitlines()[-1] == "OK: compatible (FULL)"

    def test_breaking_under_mode_and_json(self, registry, tmp_path):
        """A breaking change under --mode exits 1; --json prints a parseable report."""
        BREAKING.dump(tmp_path / "new.yaml")
        code, out = run(
            "diff",
            "--registry",
            str(registry.folder),
            "--mode",
            "BACKWARD",
            "--json",
            "silver.orders",
            str(tmp_path / "new.yaml"),
        )
        assert code == 1
        data = json.loads(out)
        assert data["ok"] is False
        assert data["mode"] == "BACKWARD"
        assert [(c["path"], c["kind"], c["breaking"]) for c in data["changes"]] == [
            ("amount", "type_mismatch", True),
            ("note", "missing_column", False),
        ]
        code, out = run(
            "diff",
            "--registry",
            str(registry.folder),
            "--mode",
            "BACKWARD",
            "silver.orders",
            str(tmp_path / "new.yaml"),
        )
        assert out.splitlines()[-1] == "FAIL: 1 change(s) breaking BACKWARD"

    @pytest.mark.parametrize(
        ("argv", "message"),
        [
            (["diff", "silver.orders", "silver.orders@1"], "pass --registry DIR"),
            (
                ["diff", "--registry", "{reg}", "silver.orders@x", "silver.orders"],
                "must be a number",
            ),
            (
                ["diff", "--registry", "{reg}", "silver.orders@9", "silver.orders"],
                "has no version 9",
            ),
            (
                ["diff", "--registry", "{reg}", "platinum.x", "silver.orders"],
                "invalid subject name",
            ),
            (["diff", "{tmp}/missing.yaml", "{tmp}/missing.yaml"], "cannot read the file"),
        ],
    )
    def test_input_errors_exit_two(self, registry, tmp_path, capsys, argv, message):
        """Bad references and unreadable files exit 2 with the reason on stderr."""
        argv = [a.format(reg=registry.folder, tmp=tmp_path) for a in argv]
        code, out = run(*argv)
        assert code == 2
        assert out == ""
        assert message in capsys.readouterr().err

    def test_usage_errors_exit_two(self, capsys):
        """Missing arguments and unknown modes are usage errors (exit 2); --help exits 0."""
        assert run("diff", "only-one")[0] == 2
        assert run("diff", "a.yaml", "b.yaml", "--mode", "sideways")[0] == 2
        assert run()[0] == 2
        assert run("--help")[0] == 0
        assert "Exit codes: 0 no drift" in capsys.readouterr().out

    def test_console_script_entry_point(self, tmp_path):
        """The module runs as a program and exits with the CLI's code."""
        V1.dump(tmp_path / "a.yaml")
        V2.dump(tmp_path / "b.yaml")
        result = subprocess.run(
            [
                sys.executable,
                "-c",
                "import sys; from schema_registry._cli import main; sys.exit(main())",
                "diff",
                str(tmp_path / "a.yaml"),
                str(tmp_path / "b.yaml"),
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        assert result.returncode == 1
        assert "extra_column" in result.stdout


@pytest.mark.spark
class TestCheck:
    def test_delta_table_matching_and_drifting(self, spark, registry, table_path):
        """Check reads a Delta table's schema: a match exits 0, a drift exits 1."""
        # DataFrame writes make every column nullable; DDL keeps NOT NULL like a real contract.
        spark.sql(
            f"CREATE TABLE delta.`{table_path}` "
            "(id BIGINT NOT NULL, amount INT, note STRING) USING delta"
        )
        code, out = run(
            "check", "silver.orders", "--registry", str(registry.folder), "--table", table_path
        )
        assert code == 0, out
        assert out.splitlines()[1] == f"actual:   table {table_path}"
        code, out = run(
            "check",
            "silver.orders",
            "--registry",
            str(registry.folder),
            "--version",
            "1",
            "--table",
            table_path,
        )
        assert code == 1
        assert "note" in out
        code, _ = run(
            "check",
            "silver.orders",
            "--registry",
            str(registry.folder),
            "--version",
            "1",
            "--table",
            table_path,
            "--mode",
            "FULL",
        )
        assert code == 0

    def test_catalog_table_name(self, spark, registry):
        """A name without a slash is looked up in the catalog."""
        spark.sql("CREATE TABLE orders_v1_cli (id BIGINT NOT NULL, amount INT) USING delta")
        try:
            code, out = run(
                "check",
                "silver.orders",
                "--registry",
                str(registry.folder),
                "--version",
                "1",
                "--table",
                "orders_v1_cli",
            )
        finally:
            spark.sql("DROP TABLE orders_v1_cli")
        assert code == 0, out

    def test_files_ignore_nullability(self, spark, registry, tmp_path):
        """Parquet and CSV files are checked without nullability (Spark reads them nullable)."""
        df = spark.createDataFrame([(1, 2, "x")], V2.to_spark())
        df.write.parquet(str(tmp_path / "data.parquet"))
        code, out = run(
            "check",
            "silver.orders",
            "--registry",
            str(registry.folder),
            "--file",
            str(tmp_path / "data.parquet"),
        )
        assert code == 0, out
        df.write.option("header", "true").csv(str(tmp_path / "data.csv"))
        code, out = run(
            "check",
            "silver.orders",
            "--registry",
            str(registry.folder),
            "--file",
            str(tmp_path / "data.csv"),
            "--json",
        )
        # CSV inference reads small integers as int: id bigint -> int is drift.
        assert code == 1
        assert [c["path"] for c in json.loads(out)["changes"]] == ["id"]

    def test_unreadable_sources_exit_two(self, spark, registry, tmp_path, capsys):
        """A missing table or an unknown file format exits 2 with the reason."""
        code, _ = run(
            "check",
            "silver.orders",
            "--registry",
            str(registry.folder),
            "--table",
            str(tmp_path / "none"),
        )
        assert code == 2
        assert "cannot read the schema" in capsys.readouterr().err
        code, _ = run(
            "check",
            "silver.orders",
            "--registry",
            str(registry.folder),
            "--file",
            str(tmp_path / "x.avro"),
        )
        assert code == 2
        assert "pass --format" in capsys.readouterr().err
