"""The bronze -> silver -> gold pipeline, composed from the four libraries' public APIs.

- bronze: each new input file is one batch, appended with ingestion columns and the batch id as
  Delta ``txnVersion`` (delta-safe-writer), after its schema drift against the registered bronze
  schema (schema-registry) is measured and handled by policy;
- silver: each pending bronze batch is typed, gated (dq-gates: rejected rows go to a quarantine
  table with their reasons), de-duplicated and written (customers SCD2, orders upsert), then
  reconciled: bronze rows == silver + quarantined + duplicates dropped;
- gold: revenue per day and country is rewritten for exactly the dates the run touched
  (``overwrite_partitions``); customer lifetime value is rebuilt atomically.

Every stage is timed and counted with etl-metrics; metrics go to a Pushgateway or a textfile.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pyspark import StorageLevel

from delta_safe_writer import SafeDeltaWriter, WriteContext, WriteResult
from dq_gates import Gate, GateResult
from etl_app import _transform as tr
from etl_app._report import RunReport, TableStep
from etl_app._state import Batch, Ledger
from etl_app.errors import (
    HistoryValidationError,
    InputError,
    ReconciliationError,
    SchemaDriftError,
)
from etl_metrics import (
    EtlMetrics,
    bound_context,
    configure_logging,
    get_logger,
    push_metrics_to_gateway,
    write_textfile,
)
from schema_registry import (
    Compatibility,
    DriftReport,
    SchemaRegistry,
    TableSchema,
    detect_drift,
    validate_scd2,
)

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

    from etl_app._config import AppConfig, SourceConfig

SOURCES = ("customers", "orders")
SCD2_COLUMNS = ("valid_from", "valid_to", "is_current")
#: Drift kinds that break a silver / gold contract (nullability is not enforced by Spark).
CONTRACT_KINDS = {"missing_column", "extra_column", "type_mismatch"}
STAGE_ORDER = ("bronze", "silver", "gold")

log = get_logger("etl_app")


def new_run_id() -> str:
    """Return a unique run id that sorts in start order (``20240101T120000123Z-1a2b3c4d``).

    Milliseconds are part of it: two runs started within one second (a bronze-only run
    followed by a silver run, say) must still sort, and so list, in the order they ran.
    """
    now = datetime.now(UTC)
    return f"{now:%Y%m%dT%H%M%S}{now.microsecond // 1000:03d}Z-{uuid.uuid4().hex[:8]}"


class Pipeline:
    """One run of the pipeline against one data root.

    Args:
        config: Validated configuration.
        spark: Session to use (the caller owns it).
        run_id: Run id; a new one when None.
        metrics: Metrics to record into; a fresh registry when None (so runs in one process do
            not add up).
    """

    def __init__(
        self,
        config: AppConfig,
        spark: SparkSession,
        *,
        run_id: str | None = None,
        metrics: EtlMetrics | None = None,
    ) -> None:
        self.config = config
        self.spark = spark
        self.run_id = run_id or new_run_id()
        self.metrics = metrics or EtlMetrics()
        self.job = config.job.name
        self.env = config.job.env
        self.root = config.output_root()
        self.registry = SchemaRegistry(config.schemas_dir())
        self.writer = SafeDeltaWriter(spark, app_id=self.job)
        # Write-audit-publish for the SCD2 dimension: the history is validated right after the
        # commit and the writer restores the previous version when it is invalid.
        self.dimension_writer = SafeDeltaWriter(
            spark, app_id=self.job, post_hooks=[self._audit_history], rollback_on_failure=True
        )
        # Only bronze may gain columns, and only under the ``evolve`` drift policy.
        self.bronze_writer = SafeDeltaWriter(
            spark,
            app_id=self.job,
            allow_schema_evolution=config.schemas.drift_policy == "evolve",
        )
        self.ledger = Ledger.load(self.root)
        self._written: dict[str, tuple[str, int]] = {}
        self.report = RunReport(
            run_id=self.run_id,
            job=self.job,
            env=self.env,
            stages="full",
            output_root=str(self.root),
        )

    # -- paths ------------------------------------------------------------------------------

    def table_path(self, layer: str, table: str) -> str:
        """Path of a Delta table under the data root (``silver/orders``)."""
        return str(self.root / layer / table)

    def _exists(self, path: str) -> bool:
        return (Path(path) / "_delta_log").is_dir()

    # -- run --------------------------------------------------------------------------------

    def run(self, stages: str = "full") -> RunReport:
        """Run the requested stages and finish with metrics, summary and JSON report.

        Args:
            stages: ``full``, ``bronze``, ``silver`` or ``gold``.

        Returns:
            The run report (also written as JSON under ``<root>/reports``).

        Raises:
            EtlAppError: A run-time check failed (drift policy, reconciliation, ...).
            GateFailedError: A data-quality gate with a ``fail`` action tripped.
        """
        self.report.stages = stages
        selected = STAGE_ORDER if stages == "full" else (stages,)
        started = time.perf_counter()
        self.report.started_at = datetime.now(UTC).isoformat()
        try:
            with (
                bound_context(job=self.job, env=self.env, run_id=self.run_id),
                self.metrics.track_job_execution(self.job, self.env),
            ):
                log.info("run_started", stages=stages, output_root=str(self.root))
                for stage in selected:
                    self._stage(stage, getattr(self, f"_{stage}"))
                started_metrics = time.perf_counter()
                self._record_table_metrics()
                self.report.stage_durations_s["table_metrics"] = round(
                    time.perf_counter() - started_metrics, 3
                )
            self.report.status = "success"
        except Exception as exc:
            self.report.status = "failed"
            self.report.error = f"{type(exc).__name__}: {exc}"
            log.error("run_failed", error=self.report.error)  # noqa: TRY400 - one line, no trace
            raise
        finally:
            self.report.duration_s = round(time.perf_counter() - started, 3)
            self.report.finished_at = datetime.now(UTC).isoformat()
            self._publish_metrics()
            self.report.write(self.root / "reports" / f"run-{self.run_id}.json")
            log.info("run_finished", status=self.report.status, seconds=self.report.duration_s)
        return self.report

    def _stage(self, stage: str, body: Callable[[], None]) -> None:
        started = time.perf_counter()
        with (
            bound_context(stage=stage),
            self.metrics.track_stage_duration(self.job, stage, self.env),
        ):
            try:
                body()
            except Exception as exc:
                self.metrics.record_error(self.job, stage, exc)
                raise
        self.report.stage_durations_s[stage] = round(time.perf_counter() - started, 3)

    # -- bronze -----------------------------------------------------------------------------

    def _bronze(self) -> None:
        input_dir = self.config.input_dir()
        if not input_dir.is_dir():
            raise InputError(
                f"input folder {input_dir} does not exist; set input.dir in the config or pass "
                "--input (etl-app generate-sample --out DIR writes sample files)"
            )
        for source in SOURCES:
            settings: SourceConfig = getattr(self.config.input, source)
            files = sorted(input_dir.glob(settings.pattern))
            if not files:
                log.warning("no_input_files", source=source, pattern=settings.pattern)
            for file in files:
                batch = self.ledger.register(source, file, self.run_id)
                self.ledger.save()
                if batch.bronze_rows is None:
                    self._ingest(source, settings, file, batch)

    def _ingest(self, source: str, settings: SourceConfig, file: Path, batch: Batch) -> None:
        subject = f"bronze.{source}"
        registered = self.registry.get(subject)
        raw = tr.read_raw(self.spark, str(file), settings.format)
        raw_columns = [f for f in registered.field_names if f not in tr.INGESTION_COLUMNS]
        actual = tr.add_ingestion_columns(
            raw, source_file=str(file), run_id=self.run_id, batch_id=batch.batch_id
        )
        drift = detect_drift(registered, actual.schema)
        columns = self._apply_drift_policy(
            subject=subject,
            file=file,
            registered=registered,
            drift=drift,
            raw_columns=raw_columns,
            raw=raw,
        )
        bronze = tr.add_ingestion_columns(
            tr.conform_to_columns(raw, columns),
            source_file=str(file),
            run_id=self.run_id,
            batch_id=batch.batch_id,
        )
        target = self.table_path("bronze", source)
        result = self.bronze_writer.append(
            bronze, target, batch_id=batch.batch_id, run_id=self.run_id
        )
        if result.skipped:
            # The append committed in an earlier run whose ledger update was lost: count it.
            rows = (
                self.spark.read.format("delta")
                .load(target)
                .filter(f"batch_id = {batch.batch_id}")
                .count()
            )
        else:
            rows = _rows_written(result)
        batch.bronze_rows = rows
        self.ledger.save()
        self._record_write("bronze", subject, result, rows, batch.batch_id)
        self.metrics.record_records_processed(self.job, "bronze", subject, rows)

    def _apply_drift_policy(
        self,
        *,
        subject: str,
        file: Path,
        registered: TableSchema,
        drift: DriftReport,
        raw_columns: list[str],
        raw: DataFrame,
    ) -> list[str]:
        """Return the raw columns to ingest after applying the configured drift policy."""
        if not drift.has_drift:
            return raw_columns
        policy = self.config.schemas.drift_policy
        for change in drift.changes:
            self.metrics.record_schema_drift(subject, change.kind.value)
        summary = "; ".join(str(c) for c in drift.changes)
        self.report.drift.append(
            {
                "table": subject,
                "file": str(file),
                "policy": policy,
                "summary": summary,
                "changes": drift.to_dict(Compatibility.BACKWARD)["changes"],
            }
        )
        if policy == "fail":
            raise SchemaDriftError(
                f"{file} drifted from {subject} v{registered.version}: {summary}. Fix the "
                "source, register a new schema version, or set schemas.drift_policy to "
                "'warn' (ignore extra columns) or 'evolve' (add them to bronze)."
            )
        log.warning("schema_drift", table=subject, file=str(file), policy=policy, drift=summary)
        if policy == "evolve":
            extra = [c for c in raw.columns if c not in raw_columns]
            return raw_columns + extra
        return raw_columns

    # -- silver -----------------------------------------------------------------------------

    def _silver(self) -> None:
        for source in SOURCES:
            for batch in self.ledger.pending_silver(source):
                self._silver_batch(source, batch)

    def _gate(self, table: str) -> Gate:
        path = self.config.gates_dir() / f"silver.{table}.yaml"
        if not path.exists():
            raise InputError(f"no gate definition for silver.{table}: expected {path}")
        return Gate.from_yaml(path)

    def _silver_batch(self, source: str, batch: Batch) -> None:
        subject = f"silver.{source}"
        bronze = (
            self.spark.read.format("delta")
            .load(self.table_path("bronze", source))
            .filter(f"batch_id = {batch.batch_id}")
        )
        typed = tr.type_customers(bronze) if source == "customers" else tr.type_orders(bronze)
        gated: GateResult = self._gate(source).run(typed)
        try:
            self._write_silver(source, subject, batch, gated)
        finally:
            gated.release()

    def _write_silver(self, source: str, subject: str, batch: Batch, gated: GateResult) -> None:
        self._persisted: list[DataFrame] = []
        try:
            self._write_silver_rows(source, subject, batch, gated)
        finally:
            for df in self._persisted:
                df.unpersist()

    def _dedup(self, df: DataFrame, key: str, order_by: str) -> DataFrame:
        """Return the latest row per key, persisted for the reads that follow.

        The writer's key check, the touched dates and the write itself all read it; the window
        must not be recomputed for each.
        """
        deduped = tr.latest_per_key(df, key, order_by).persist(StorageLevel.MEMORY_AND_DISK)
        self._persisted.append(deduped)
        return deduped

    def _write_silver_rows(
        self, source: str, subject: str, batch: Batch, gated: GateResult
    ) -> None:
        self.report.gates.append({"table": subject, "batch_id": batch.batch_id, **gated.to_dict()})
        for check in gated.checks:
            self.metrics.record_dq_check(
                self.job,
                subject,
                check.name,
                passed=check.passed,
                violations=check.rows_failed or 0,
                severity=check.action.value,
            )
        quarantined = self._write_quarantine(source, gated, batch)
        target = self.table_path("silver", source)
        if source == "customers":
            deduped = self._dedup(
                gated.valid.select(*tr.SILVER_CUSTOMER_COLUMNS), tr.CUSTOMER_KEY, "updated_at"
            )
            self._check_contract(subject, deduped, managed=SCD2_COLUMNS)
            result = self.dimension_writer.scd2_merge(
                deduped,
                target,
                [tr.CUSTOMER_KEY],
                tracked_columns=list(tr.CUSTOMER_TRACKED),
                effective_at="updated_at",
                batch_id=batch.batch_id,
                run_id=self.run_id,
            )
        else:
            deduped = self._dedup(
                gated.valid.select(*tr.SILVER_ORDER_COLUMNS), tr.ORDER_KEY, "order_ts"
            )
            self._check_contract(subject, deduped)
            self.ledger.gold_dates |= self._touched_dates(deduped, target)
            result = self.writer.merge(
                deduped, target, [tr.ORDER_KEY], batch_id=batch.batch_id, run_id=self.run_id
            )
        self.ledger.gold_clv = True
        silver_rows = result.source_rows if result.source_rows is not None else deduped.count()
        counts = {
            "bronze": int(batch.bronze_rows or 0),
            "gate_in": gated.rows_in,
            "silver": silver_rows,
            "quarantined": quarantined,
            "gate_dropped": gated.rows_dropped,
            "duplicates_dropped": gated.rows_valid - silver_rows,
        }
        ok = (
            counts["gate_in"] == counts["bronze"]
            and counts["bronze"]
            == (silver_rows + quarantined + gated.rows_dropped + counts["duplicates_dropped"])
            and quarantined == gated.rows_quarantined
        )
        self.report.reconciliation.append(
            {"table": subject, "batch_id": batch.batch_id, **counts, "ok": ok}
        )
        self._record_write("silver", subject, result, silver_rows, batch.batch_id)
        self.metrics.record_records_processed(self.job, "silver", subject, silver_rows)
        self.metrics.record_records_failed(self.job, "silver", subject, quarantined)
        if not ok:
            raise ReconciliationError(subject, batch.batch_id, counts)
        batch.silver_done = True
        batch.counts = counts
        self.ledger.save()

    def _write_quarantine(self, source: str, gated: GateResult, batch: Batch) -> int:
        result = self.writer.append(
            gated.quarantine,
            self.table_path("quarantine", source),
            batch_id=batch.batch_id,
            run_id=self.run_id,
        )
        if result.skipped and result.source_rows is None:
            # Committed by an earlier, interrupted run: the batch's rows are already there.
            rows = gated.rows_quarantined
        else:
            rows = _rows_written(result)
        self._record_write("silver", f"quarantine.{source}", result, rows, batch.batch_id)
        return rows

    def _touched_dates(self, incoming: DataFrame, silver_path: str) -> set[str]:
        """Order dates of the incoming rows plus the current dates of the orders they update."""
        dates = incoming.select("order_date")
        if self._exists(silver_path):
            current = self.spark.read.format("delta").load(silver_path)
            dates = dates.unionByName(
                current.join(incoming.select(tr.ORDER_KEY), tr.ORDER_KEY, "left_semi").select(
                    "order_date"
                )
            )
        return {
            r["order_date"].isoformat()
            for r in dates.distinct().collect()
            if r["order_date"] is not None
        }

    # -- gold -------------------------------------------------------------------------------

    def _gold(self) -> None:
        orders_path = self.table_path("silver", "orders")
        if not self.ledger.gold_dates and not self.ledger.gold_clv:
            log.info("gold_up_to_date")
            return
        orders = self.spark.read.format("delta").load(orders_path)
        if self.ledger.gold_dates:
            dates = sorted(date.fromisoformat(d) for d in self.ledger.gold_dates)
            revenue = tr.daily_revenue(orders, dates)
            self._check_contract("gold.daily_revenue", revenue)
            # One call creates the table partitioned by the column later runs replace by, and
            # allow_empty makes a run whose touched dates lost every revenue order delete
            # their old rows instead of skipping the write.
            result = self.writer.overwrite_partitions(
                revenue,
                self.table_path("gold", "daily_revenue"),
                tr.dates_predicate("order_date", dates),
                partition_by=["order_date"],
                allow_empty=True,
                run_id=self.run_id,
            )
            self._record_write("gold", "gold.daily_revenue", result, None, None)
            self.report.gold_dates = [d.isoformat() for d in dates]
        if self.ledger.gold_clv:
            customers = self.spark.read.format("delta").load(self.table_path("silver", "customers"))
            clv = tr.customer_lifetime_value(orders, customers)
            self._check_contract("gold.customer_lifetime_value", clv)
            result = self.writer.overwrite(
                clv,
                self.table_path("gold", "customer_lifetime_value"),
                allow_full_overwrite=True,
                run_id=self.run_id,
            )
            self._record_write("gold", "gold.customer_lifetime_value", result, None, None)
        self.ledger.gold_dates = set()
        self.ledger.gold_clv = False
        self.ledger.save()

    # -- bookkeeping ------------------------------------------------------------------------

    def _audit_history(self, context: WriteContext) -> None:
        """Post-write hook: the dimension's whole history must satisfy every SCD2 rule."""
        history = self.spark.read.format("delta").load(context.target)
        report = validate_scd2(history, [tr.CUSTOMER_KEY])
        if not report.is_valid:
            raise HistoryValidationError(
                "silver.customers",
                {str(rule): count for rule, count in report.violations.items() if count},
                str(report),
            )

    def _check_contract(
        self, subject: str, df: DataFrame, *, managed: tuple[str, ...] = ()
    ) -> None:
        """Refuse to write a frame whose columns or types differ from the registered schema.

        Only ``df.schema`` is read (no Spark job). Nullability is not compared: Spark marks
        computed columns nullable even where the gates guarantee values. ``managed`` columns
        are added by the writer (SCD2 history) and may be absent from ``df``.
        """
        registered = self.registry.get(subject)
        problems = [
            str(change)
            for change in detect_drift(registered, df.schema)
            if change.kind.value in CONTRACT_KINDS
            and not (change.kind.value == "missing_column" and change.path in managed)
        ]
        if problems:
            raise SchemaDriftError(
                f"{subject}: the data about to be written does not match its registered "
                f"contract v{registered.version} in {self.registry.folder}: "
                f"{'; '.join(problems)}. Register a new version of {subject} (compatible with "
                "its mode) together with the transformation change."
            )

    def _record_write(
        self,
        stage: str,
        table: str,
        result: WriteResult,
        rows_in: int | None,
        batch_id: int | None,
    ) -> None:
        written = _rows_written(result)
        self.report.steps.append(
            TableStep(
                stage=stage,
                table=table,
                operation=result.operation,
                rows_in=written if rows_in is None else rows_in,
                rows_written=written,
                version=None if result.skipped else result.version,
                batch_id=batch_id,
                skipped=(result.reason or "skipped") if result.skipped else None,
                seconds=round(result.duration_s, 3),
            )
        )
        self.metrics.record_delta_table_metrics(
            table, operation=result.operation, write_duration_seconds=result.duration_s
        )
        if result.version is not None:
            self._written[table] = (result.target, result.version)

    def _record_table_metrics(self) -> None:
        """Size, files and versions of every table written in this run (Delta's own numbers)."""

        def detail(target: str) -> Any:
            return self.spark.sql(f"DESCRIBE DETAIL delta.`{target}`").collect()[0]

        # Each DESCRIBE DETAIL is a small, latency-bound job: run them side by side.
        tables = list(self._written.items())
        with ThreadPoolExecutor(max_workers=4) as pool:
            details = list(pool.map(detail, [target for _, (target, _) in tables]))
        for (table, (_, version)), row in zip(tables, details, strict=True):
            self.metrics.record_delta_table_metrics(
                table,
                size_bytes=float(row["sizeInBytes"]),
                files=int(row["numFiles"]),
                versions=version + 1,
            )

    def _publish_metrics(self) -> None:
        gateway = self.config.metrics.pushgateway
        if gateway.url:
            ok = push_metrics_to_gateway(
                gateway.url,
                self.job,
                grouping_key={"env": self.env, **gateway.grouping_key},
                registry=self.metrics.registry,
                timeout=gateway.timeout_s,
                strict=gateway.strict,
            )
            self.report.metrics_sink = f"pushgateway {gateway.url}" + ("" if ok else " (FAILED)")
        else:
            path = write_textfile(self.root / self.config.metrics.textfile, self.metrics.registry)
            self.report.metrics_sink = f"textfile {path}"


def _rows_written(result: WriteResult) -> int:
    return int((result.rows_inserted or 0) + (result.rows_updated or 0))


def run_pipeline(
    config: AppConfig,
    *,
    spark: SparkSession,
    stages: str = "full",
    run_id: str | None = None,
    metrics: EtlMetrics | None = None,
) -> RunReport:
    """Run the pipeline with an existing SparkSession.

    Args:
        config: Validated configuration.
        spark: Session with Delta Lake (see ``build_spark_session``).
        stages: ``full``, ``bronze``, ``silver`` or ``gold``.
        run_id: Run id; generated when None.
        metrics: Where to record metrics; a fresh registry when None.

    Returns:
        The run report.
    """
    configure_logging(fmt=config.logging.format, level=config.logging.level)
    return Pipeline(config, spark, run_id=run_id, metrics=metrics).run(stages)
