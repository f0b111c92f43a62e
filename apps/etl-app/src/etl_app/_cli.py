"""Command line: ``etl-app run | generate-sample | validate-config | schemas | migrate | batches``.

Errors the app raises on purpose (bad arguments, bad config, a failed gate, ...) are printed as
one clear message with a non-zero exit code; no Spark or Python stack trace reaches the user
unless ``--traceback`` is given.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import tempfile
import traceback
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from etl_app import __version__
from etl_app._config import AppConfig, config_to_dict, load_config
from etl_app._observe import EXIT_METRICS_FAILED, describe_error, redact_config, redact_text
from etl_app._preflight import preflight
from etl_app._specs import Stage
from etl_app._storage import local_path, storage_failure
from etl_app.errors import EtlAppError

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

STAGES = tuple(s.value for s in Stage)
LIBRARIES = {"delta_safe_writer", "dq_gates", "schema_registry", "etl_metrics"}

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="etl-app",
        description="Bronze -> silver -> gold pipeline on Delta Lake with schema checks, "
        "data-quality gates and Prometheus metrics.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def config_args(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--config", help="YAML config file (default: the bundled defaults only)", default=None
        )
        p.add_argument("--env", default="local", help="env overlay to apply (default: local)")

    run = sub.add_parser("run", help="run the pipeline")
    config_args(run)
    run.add_argument(
        "--cmd", choices=STAGES, default="full", help="which stages to run (default: full)"
    )
    run.add_argument("--input", help="input folder (overrides input.dir)")
    run.add_argument("--output", help="data root (overrides output.root)")
    run.add_argument("--traceback", action="store_true", help="show the full error trace")

    gen = sub.add_parser("generate-sample", help="write synthetic customers and orders")
    gen.add_argument("--rows", type=int, required=True, help="batch-1 orders (>= 10)")
    gen.add_argument("--out", required=True, help="output folder")
    gen.add_argument("--seed", type=int, default=7, help="random seed (default 7)")

    val = sub.add_parser("validate-config", help="load and validate a config file")
    config_args(val)

    schemas = sub.add_parser("schemas", help="list the registered schemas and their versions")
    config_args(schemas)

    migrate = sub.add_parser(
        "migrate", help="bring a data root written by etl-app 0.1 to the current table layout"
    )
    config_args(migrate)
    migrate.add_argument("--output", help="data root (overrides output.root)")
    migrate.add_argument("--traceback", action="store_true", help="show the full error trace")

    batches = sub.add_parser("batches", help="list, skip or replay batches of the ledger")
    batch_sub = batches.add_subparsers(dest="action", required=True, metavar="ACTION")
    for name, text in (
        ("list", "list every batch and how far it got"),
        ("skip", "take a refused batch out of silver and gold, with a reason"),
        ("replay", "make a skipped batch pending again"),
    ):
        action = batch_sub.add_parser(name, help=text)
        config_args(action)
        action.add_argument("--output", help="data root (overrides output.root)")
        action.add_argument("--traceback", action="store_true", help="show the full error trace")
        if name != "list":
            action.add_argument("source", help="source name (orders, customers, ...)")
            action.add_argument("batch", type=int, help="batch id (see `batches list`)")
        if name == "skip":
            action.add_argument("--reason", required=True, help="why (kept in the ledger)")
    return parser


def _batches(args: argparse.Namespace, config: AppConfig) -> int:
    from pyspark.sql import SparkSession

    from etl_app import _operator

    config = config.with_overrides(output_root=args.output)
    owned = SparkSession.getActiveSession() is None
    spark: SparkSession | None = None
    try:
        spark = build_spark_session(config.spark)
        if args.action == "list":
            print(_operator.list_batches(config, spark))
        elif args.action == "skip":
            print(_operator.skip_batch(config, spark, args.source, args.batch, args.reason))
        else:
            print(_operator.replay_batch(config, spark, args.source, args.batch))
    finally:
        if owned and spark is not None:
            spark.stop()
    return EXIT_OK


def _run(args: argparse.Namespace, config: AppConfig) -> int:
    config = config.with_overrides(input_dir=args.input, output_root=args.output)
    # Everything that needs no Spark is checked before the (slow) Spark start.
    preflight(config, args.cmd)
    from pyspark.sql import SparkSession

    from etl_app._pipeline import Pipeline
    from etl_metrics import configure_logging

    root = config.output_location()
    logs = _local_log_dir(root)
    _STATE["log_dir"] = str(logs)
    owned = SparkSession.getActiveSession() is None
    spark: SparkSession | None = None
    pipeline: Pipeline | None = None
    try:
        with _spark_log(logs) as log_file:
            _say(f"starting Spark ({config.spark.master}); its output goes to {log_file}")
            spark = build_spark_session(config.spark)
        _say(f"Spark ready; running --cmd {args.cmd} on {root}")
        configure_logging(fmt=config.logging.format, level=config.logging.level)
        pipeline = Pipeline(config, spark, progress=_say)
        report = pipeline.run(args.cmd)
    except BaseException as exc:
        if pipeline is not None and pipeline.report.report_path:
            print(f"run report: {pipeline.report.report_path}", file=sys.stderr)
        if spark is not None and isinstance(exc, Exception):
            locations = [config.input_location(), root]
            unreachable = storage_failure(exc, spark, locations)
            if unreachable is not None:
                raise unreachable from exc
        raise
    finally:
        if owned and spark is not None:
            spark.stop()
    print(report.summary_table())
    print(f"run report: {report.report_path}")
    if report.status != "success":
        return EXIT_FAILED
    if not report.metrics_ok:
        print(
            f"etl-app: warning: the data was committed but the metrics were not delivered: "
            f"{report.metrics_sink}",
            file=sys.stderr,
        )
        if report.metrics.get("strict"):
            return EXIT_METRICS_FAILED
    return EXIT_OK


def _say(line: str) -> None:
    print(line, flush=True)


def _local_log_dir(root: str) -> Path:
    """Where this process keeps its local logs: ``<root>/logs`` for a local data root.

    A data root on object storage gets no local folder named after its URI: the logs go to
    ``<temp>/etl-app/logs`` (an emptyDir in the Kubernetes manifests).
    """
    local = local_path(root)
    if local is not None:
        return local / "logs"
    return Path(tempfile.gettempdir()) / "etl-app" / "logs"


@contextlib.contextmanager
def _spark_log(logs: Path) -> Iterator[str]:
    """Send the JVM's output (Ivy resolution, Spark warnings) to ``<logs>/spark.log``.

    ``DELTA_SESSION_LOG`` wins when set; else it is set while Spark starts (delta-session reads
    it then) and restored afterwards.
    """
    from delta_session import LOG_FILE_ENV

    given = os.environ.get(LOG_FILE_ENV)
    if given:
        yield given
        return
    logs.mkdir(parents=True, exist_ok=True)
    os.environ[LOG_FILE_ENV] = str(logs / "spark.log")
    try:
        yield os.environ[LOG_FILE_ENV]
    finally:
        os.environ.pop(LOG_FILE_ENV, None)


#: Where the current command keeps its logs (set by ``run`` once the data root is known).
_STATE: dict[str, str] = {}


def _migrate(args: argparse.Namespace, config: AppConfig) -> int:
    from pyspark.sql import SparkSession

    from etl_app._pipeline import migrate_lake

    config = config.with_overrides(output_root=args.output)
    owned = SparkSession.getActiveSession() is None
    spark: SparkSession | None = None
    try:
        spark = build_spark_session(config.spark)
        steps = migrate_lake(config, spark=spark)
    finally:
        if owned and spark is not None:
            spark.stop()
    for step in steps:
        if not step.problems:
            print(f"{step.table}: up to date ({step.path})")
            continue
        done = "; ".join(step.problems)
        rewrite = (
            f", rewritten in version {step.version} ({step.rows} rows)"
            if step.version is not None
            else ""
        )
        print(f"{step.table}: migrated ({done}){rewrite}")
    return EXIT_OK


def build_spark_session(config: object) -> SparkSession:
    """Start the app's Spark session (indirection point so tests can hand in their own)."""
    from etl_app._spark import build_spark_session as build

    return build(config)  # type: ignore[arg-type]


def _schemas(config: AppConfig) -> int:
    from etl_app._registry import describe_registry

    print(describe_registry(config.schemas_dir()))
    return EXIT_OK


def _generate(args: argparse.Namespace) -> int:
    from etl_app._sample import generate_sample

    try:
        summary = generate_sample(args.out, args.rows, seed=args.seed)
    except ValueError as exc:
        print(f"etl-app: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    print(
        f"wrote {', '.join(summary.files)} to {summary.out_dir} "
        f"({summary.customers} customers, {summary.orders} order rows)"
    )
    return EXIT_OK


def _dispatch(args: argparse.Namespace) -> int:
    if args.command == "generate-sample":
        return _generate(args)
    config = load_config(args.config, args.env)
    if args.command == "validate-config":
        print(f"{args.config or 'bundled defaults'}: valid (env {args.env})")
        print(json.dumps(redact_config(config_to_dict(config)), indent=2, default=str))
        return EXIT_OK
    if args.command == "schemas":
        return _schemas(config)
    if args.command == "migrate":
        return _migrate(args, config)
    if args.command == "batches":
        return _batches(args, config)
    return _run(args, config)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``etl-app`` console script.

    Args:
        argv: Arguments without the program name (``sys.argv[1:]`` when None).

    Returns:
        The process exit code.
    """
    parser = _parser()
    _STATE.clear()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse already printed usage and the problem
        return int(exc.code or 0)
    try:
        return _dispatch(args)
    except EtlAppError as exc:
        if getattr(args, "traceback", False):
            raise
        print(f"etl-app: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except Exception as exc:
        if getattr(args, "traceback", False):
            raise
        if type(exc).__module__.split(".")[0] in LIBRARIES:
            # The libraries' errors are written for people: what, where, how to fix.
            print(f"etl-app: error: {type(exc).__name__}: {exc}", file=sys.stderr)
            return EXIT_FAILED
        trace = _save_trace(exc)
        print(
            f"etl-app: error: {args.command} failed: {describe_error(exc)}\n"
            f"(full trace in {trace}; or rerun with --traceback)",
            file=sys.stderr,
        )
        return EXIT_FAILED


def _save_trace(exc: BaseException) -> str:
    """Write the full trace of ``exc`` (secrets masked) to a log file; return its path.

    Next to the Spark log when there is one (``<root>/logs/``), else in the temp folder.
    """
    logs = _STATE.get("log_dir")
    folder = Path(logs) if logs else Path(tempfile.gettempdir()) / "etl-app"
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    path = folder / f"error-{stamp}.log"
    text = "".join(traceback.format_exception(exc))
    try:
        folder.mkdir(parents=True, exist_ok=True)
        path.write_text(redact_text(text), encoding="utf-8")
    except OSError as err:
        return f"(not written: {err})"
    return str(path)
