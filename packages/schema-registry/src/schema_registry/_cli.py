"""``schema-registry`` command line: ``diff`` two schemas, ``check`` a table or file.

Exit codes: 0 no drift (or, with ``--mode``, nothing breaking), 1 drift (or breaking changes),
2 usage or input error.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from schema_registry._compat import Compatibility
from schema_registry._drift import DriftReport, detect_drift
from schema_registry._model import TableSchema
from schema_registry._registry import SchemaRegistry
from schema_registry.errors import SchemaRegistryError

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

__all__ = ["main"]

EXIT_OK = 0
EXIT_DRIFT = 1
EXIT_ERROR = 2
_FILE_FORMATS = {".parquet": "parquet", ".csv": "csv", ".json": "json", ".jsonl": "json"}


class _InputError(Exception):
    """A problem with what the user passed; printed, then exit code 2."""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="schema-registry",
        description="Compare table schemas and check tables against registered schemas.",
        epilog="Exit codes: 0 no drift (with --mode: nothing breaking), 1 drift (with --mode: "
        "breaking changes), 2 usage or input error.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def common(sub: argparse.ArgumentParser) -> None:
        sub.add_argument(
            "--mode",
            type=Compatibility.parse,
            help="only fail on changes breaking this compatibility mode (BACKWARD, FORWARD, "
            "FULL, ..., NONE); default: fail on any drift",
        )
        sub.add_argument("--check-order", action="store_true", help="report column order changes")
        sub.add_argument("--case-sensitive", action="store_true", help="match column names exactly")
        sub.add_argument("--json", action="store_true", help="print the report as JSON")

    diff = commands.add_parser(
        "diff",
        help="show the drift between two schemas",
        description="OLD and NEW are schema files, or NAME[@VERSION] in --registry.",
    )
    diff.add_argument("old", metavar="OLD", help="expected schema: file or NAME[@VERSION]")
    diff.add_argument("new", metavar="NEW", help="actual schema: file or NAME[@VERSION]")
    diff.add_argument("--registry", metavar="DIR", help="registry folder for NAME[@VERSION]")
    common(diff)

    check = commands.add_parser(
        "check",
        help="check a Delta table or a data file against a registered schema (starts Spark)",
    )
    check.add_argument("name", metavar="NAME", help="subject, e.g. silver.orders")
    check.add_argument("--registry", metavar="DIR", required=True, help="registry folder")
    check.add_argument("--version", type=int, help="registered version (default: latest)")
    source = check.add_mutually_exclusive_group(required=True)
    source.add_argument("--table", metavar="PATH_OR_NAME", help="Delta table path or table name")
    source.add_argument(
        "--file", metavar="PATH", help="data file or folder (.parquet, .csv, .json)"
    )
    check.add_argument(
        "--format", choices=sorted(set(_FILE_FORMATS.values())), help="format of --file"
    )
    common(check)
    return parser


def _load_ref(ref: str, registry: str | None) -> TableSchema:
    path = Path(ref)
    if path.suffix in (".yaml", ".yml") or path.exists():
        return TableSchema.load(path)
    if registry is None:
        raise _InputError(
            f"{ref!r} is not a schema file; to name a registered schema pass --registry DIR "
            "and NAME[@VERSION], e.g. silver.orders@2"
        )
    name, _, version = ref.partition("@")
    if version and not version.isdigit():
        raise _InputError(f"{ref!r}: the version after '@' must be a number, e.g. {name}@2")
    return SchemaRegistry(registry).get(name, int(version) if version else None)


def _spark_session() -> SparkSession:
    """Reuse the active SparkSession, else start a local one with Delta Lake (delta-session).

    delta-session picks the Delta jar Maven Central serves for the installed pyspark /
    delta-spark, honours ``DELTA_JARS_DIR`` on air-gapped hosts, keeps the JVM's start-up output
    in a log file and says why a start failed.
    """
    try:
        from pyspark.sql import SparkSession

        import delta_session
    except ImportError:
        raise _InputError(
            "'check' needs Spark with Delta Lake: pip install \"schema-registry[spark]\""
        ) from None
    active = SparkSession.getActiveSession()
    if active is not None:
        return active
    try:
        return delta_session.local_session("*", app_name="schema-registry-check")
    except delta_session.DeltaSessionError as exc:
        raise _InputError(f"'check' could not start Spark: {exc}") from exc


def _file_format(file: str, given: str | None) -> str:
    file_format = given or _FILE_FORMATS.get(Path(file).suffix.lower())
    if file_format is None:
        raise _InputError(
            f"cannot tell the format of {file!r} from its extension; pass --format "
            f"({', '.join(sorted(set(_FILE_FORMATS.values())))})"
        )
    return file_format


def _observed_schema(args: argparse.Namespace) -> tuple[TableSchema, str, bool]:
    """Read the schema of --table or --file; returns (schema, label, nullability reliable)."""
    spark = _spark_session()
    try:
        if args.table is not None:
            target = args.table
            looks_like_path = "/" in target or "\\" in target or Path(target).exists()
            df = spark.read.format("delta").load(target) if looks_like_path else spark.table(target)
            return TableSchema.from_spark(df.schema), f"table {target}", True
        path = Path(args.file)
        file_format = _file_format(args.file, args.format)
        reader = spark.read.format(file_format)
        if file_format == "csv":
            reader = reader.option("header", "true").option("inferSchema", "true")
        df = reader.load(str(path))
        # Spark reads every file-source column as nullable, so nullability says nothing there.
        return TableSchema.from_spark(df.schema), f"{file_format} file {args.file}", False
    except _InputError:
        raise
    except Exception as exc:  # Spark raises AnalysisException & co. for bad paths and names
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else repr(exc)
        raise _InputError(f"cannot read the schema: {type(exc).__name__}: {first_line}") from exc


def _emit(
    report: DriftReport,
    mode: Compatibility | None,
    out: TextIO,
    *,
    as_json: bool,
    expected_label: str,
    actual_label: str,
) -> int:
    failed = report.is_breaking(mode) if mode is not None else report.has_drift
    if as_json:
        payload: dict[str, Any] = {
            "expected": expected_label,
            "actual": actual_label,
            "ok": not failed,
            **report.to_dict(mode),
        }
        out.write(json.dumps(payload, indent=2, default=str) + "\n")
    else:
        out.write(f"expected: {expected_label}\nactual:   {actual_label}\n")
        out.write(report.format(mode) + "\n")
        if not failed:
            verdict = "OK: no drift" if not report.has_drift else f"OK: compatible ({mode})"
        elif mode is None:
            verdict = f"FAIL: {len(report.changes)} change(s)"
        else:
            verdict = f"FAIL: {len(report.breaking_changes(mode))} change(s) breaking {mode}"
        out.write(verdict + "\n")
    return EXIT_DRIFT if failed else EXIT_OK


def _label(schema: TableSchema, ref: str) -> str:
    if schema.name is not None and schema.version is not None:
        return f"{schema.name} v{schema.version} ({ref})"
    return ref


def main(argv: Sequence[str] | None = None, *, out: TextIO | None = None) -> int:
    """Run the CLI.

    Args:
        argv: Arguments without the program name (default: ``sys.argv[1:]``).
        out: Where reports go (default: standard output); errors go to standard error.

    Returns:
        The exit code: 0 no drift / compatible, 1 drift / breaking, 2 usage or input error.
    """
    out = out or sys.stdout
    try:
        args = _parser().parse_args(argv)
    except SystemExit as exc:  # argparse exits 2 on usage errors and 0 after --help
        return int(exc.code or 0)
    mode: Compatibility | None = args.mode
    try:
        if args.command == "diff":
            old = _load_ref(args.old, args.registry)
            new = _load_ref(args.new, args.registry)
            labels = (_label(old, args.old), _label(new, args.new))
            nullability = True
        else:
            old = SchemaRegistry(args.registry).get(args.name, args.version)
            new, actual_label, nullability = _observed_schema(args)
            labels = (_label(old, args.registry), actual_label)
        report = detect_drift(
            old,
            new,
            check_order=args.check_order,
            case_sensitive=args.case_sensitive,
            check_nullability=nullability,
        )
    except (SchemaRegistryError, _InputError) as exc:
        sys.stderr.write(f"schema-registry: error: {exc}\n")
        return EXIT_ERROR
    return _emit(
        report,
        mode,
        out,
        as_json=args.json,
        expected_label=labels[0],
        actual_label=labels[1],
    )


if __name__ == "__main__":  # pragma: no cover - exercised through the console script
    raise SystemExit(main())
