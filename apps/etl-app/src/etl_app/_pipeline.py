"""The bronze -> silver -> gold pipeline, composed from the four libraries' public APIs.

- bronze: each new input file is one batch, appended with ingestion columns and the batch id as
  Delta ``txnVersion`` (delta-safe-writer), after its schema drift against the registered bronze
  schema (schema-registry) is measured and handled by policy;
- silver: each pending bronze batch of each source (:class:`~etl_app.TableSpec`) is typed,
  gated (dq-gates: rejected rows go to a quarantine table with their reasons), de-duplicated and
  written (merge upsert or SCD2 history), reconciled term by term from independent counts
  (before the commit what is known then, after it against Delta's commit metrics, rolled back
  on a mismatch);
- gold: revenue per day and country is rewritten for exactly the order dates the batches'
  silver commits changed (read from the change data feed of those commits), reading only those
  date partitions; customer lifetime value is updated for the customers those commits touched
  with one MERGE.

Every stage is timed and counted with etl-metrics; metrics go to a Pushgateway or a textfile.
"""

from __future__ import annotations

import contextlib
import functools
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pyspark import StorageLevel

from delta_safe_writer import SafeDeltaWriter, WriteContext, WriteResult
from dq_gates import Gate, GateResult, ResultsHistory
from etl_app import _input as inp
from etl_app import _lake, _observe, _storage
from etl_app import _transform as tr
from etl_app._report import RunReport, TableStep
from etl_app._specs import DEFAULT_SPECS, Stage, TableSpec, WriteMode
from etl_app._state import Batch, Ledger
from etl_app.errors import (
    HistoryValidationError,
    InputError,
    InputReconciliationError,
    ReconciliationError,
    SchemaDriftError,
)
from etl_metrics import (
    EtlMetrics,
    bound_context,
    configure_logging,
    get_logger,
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

SCD2_COLUMNS = ("valid_from", "valid_to", "is_current")
#: Drift kinds that break a silver / gold contract (nullability is not enforced by Spark).
CONTRACT_KINDS = {"missing_column", "extra_column", "type_mismatch"}
#: Commits of a silver table searched for a batch's earlier commit (a rerun after a crash).
HISTORY_WINDOW = 50
#: Newest commits of a gold table read for the last gold run id (the newest carries it).
GOLD_HISTORY_WINDOW = 5
#: The gates' results history (one row per gate run), relative to the data root.
DQ_HISTORY = "_dq_history"

log = get_logger("etl_app")


@contextlib.contextmanager
def _cached(df: DataFrame) -> Iterator[DataFrame]:
    """Persist ``df`` for the block (memory, then disk) and release it on the way out."""
    cached = df.persist(StorageLevel.MEMORY_AND_DISK)
    try:
        yield cached
    finally:
        cached.unpersist()


def new_run_id() -> str:
    """Return a unique run id that sorts in start order (``20240101T120000123Z-1a2b3c4d``).

    Milliseconds are part of it: two runs started within one second (a bronze-only run
    followed by a silver run, say) must still sort, and so list, in the order they ran.
    """
    now = datetime.now(UTC)
    return f"{now:%Y%m%dT%H%M%S}{now.microsecond // 1000:03d}Z-{uuid.uuid4().hex[:8]}"


def commit_rows(mode: WriteMode, metrics: Mapping[str, str]) -> int | None:
    """Rows of the source a silver commit consumed, from Delta's ``operationMetrics``.

    A MERGE reports ``numSourceRows``. The SCD2 MERGE's source holds each changed key twice
    (one row closes the current version, one inserts the new one), and Delta counts the closes
    as ``numTargetRowsMatchedUpdated``, so its batch rows are the difference. A commit that
    created the table reports ``numOutputRows``. None when the metrics have none of these.
    """

    def metric(name: str) -> int | None:
        value = metrics.get(name)
        return None if value is None else int(value)

    source = metric("numSourceRows")
    if source is not None:
        if mode is WriteMode.SCD2:
            return source - (metric("numTargetRowsMatchedUpdated") or 0)
        return source
    return metric("numOutputRows")


@dataclass
class _SilverCheck:
    """The silver write in flight: what its commit must hold (read by the post-write hook)."""

    spec: TableSpec
    target: str
    batch: Batch
    counts: dict[str, int]


class Pipeline:
    """One run of the pipeline against one data root.

    Args:
        config: Validated configuration.
        spark: Session to use (the caller owns it).
        run_id: Run id; a new one when None.
        metrics: Metrics to record into; a fresh registry when None (so runs in one process do
            not add up).
        specs: The sources and how each flows to silver (the bundled customers and orders by
            default). Gold needs sources named ``customers`` (SCD2) and ``orders``.
        progress: Called with one line per stage and per table write as the run goes (the
            command line prints them); None for silence.

    Raises:
        ValueError: Two specs share a name.
    """

    def __init__(
        self,
        config: AppConfig,
        spark: SparkSession,
        *,
        run_id: str | None = None,
        metrics: EtlMetrics | None = None,
        specs: Sequence[TableSpec] = DEFAULT_SPECS,
        progress: Callable[[str], None] | None = None,
    ) -> None:
        names = [s.name for s in specs]
        if len(set(names)) != len(names):
            raise ValueError(f"table specs must have distinct names, got {names}")
        self.config = config
        self.spark = spark
        self.specs = tuple(specs)
        self.run_id = run_id or new_run_id()
        self.metrics = metrics or EtlMetrics()
        self.job = config.job.name
        self.env = config.job.env
        self.root = _output_root(config)
        self.registry = SchemaRegistry(config.schemas_dir())
        self.writer = SafeDeltaWriter(spark, app_id=self.job)
        # Only bronze may gain columns, and only under the ``evolve`` drift policy.
        self.bronze_writer = SafeDeltaWriter(
            spark,
            app_id=self.job,
            allow_schema_evolution=config.schemas.drift_policy == "evolve",
        )
        self._ledger: Ledger | None = None
        self._deferred: list[Exception] = []
        # Set by run(): gold, later in this run, starts by saving the ledger.
        self._gold_saves_ledger = False
        self._written: dict[str, tuple[str, int]] = {}
        self._check: _SilverCheck | None = None
        self._layout_checked: set[str] = set()
        self.progress = progress or _observe.silent
        self.report = RunReport(
            run_id=self.run_id,
            job=self.job,
            env=self.env,
            stages=Stage.FULL.value,
            output_root=self.root,
        )

    @property
    def ledger(self) -> Ledger:
        """The batch ledger table under the data root, read on first use.

        Raises:
            LedgerError: The ledger (or the JSON ledger being migrated) is corrupt.
        """
        if self._ledger is None:
            self._ledger = Ledger.load(self.spark, self.root)
        return self._ledger

    # -- paths and writers ------------------------------------------------------------------

    def table_path(self, layer: str, table: str) -> str:
        """Location of a Delta table under the data root (``silver/orders``)."""
        return _storage.join(self.root, layer, table)

    def app_id(self, source: str, batch_id: int, attempt: int = 0) -> str:
        """Delta ``txnAppId`` of a batch's writes: one per (job, source, batch, attempt).

        One app id per batch makes Delta's idempotency exact: a write is skipped only when
        THIS batch committed before, never because another run committed a higher batch id
        first (with one app id per job, ``txnVersion`` 1 is skipped once 2 committed).
        """
        suffix = f"#attempt-{attempt}" if attempt else ""
        return f"{self.job}/{source}/{batch_id}{suffix}"

    def silver_writer(
        self, spec: TableSpec, attempt: int = 0, batch_id: int | None = None
    ) -> SafeDeltaWriter:
        """The writer of ``spec``'s silver table: reconciles each commit, rolls back on failure.

        Its post-write hooks check the commit's row count against the de-duplication's (and,
        for SCD2, the history of the keys written); a failing hook restores the version before
        the write. A rolled-back commit keeps its Delta transaction id, so attempt ``n > 0``
        of a batch writes under its own app id (``<job>#attempt-<n>``).
        """
        hooks: list[Callable[[WriteContext], object]] = [self._reconcile_commit]
        if spec.mode is WriteMode.SCD2:
            hooks.append(functools.partial(self._audit_history, spec))
        app_id = (
            self.app_id(spec.name, batch_id, attempt)
            if batch_id is not None
            else (self.job if attempt == 0 else f"{self.job}#attempt-{attempt}")
        )
        return SafeDeltaWriter(
            self.spark, app_id=app_id, post_hooks=hooks, rollback_on_failure=True
        )

    def gold_writer(self, run: int) -> SafeDeltaWriter:
        """The writer of gold run ``run``: its own app id (``<job>/gold/<run>``).

        Gold run ids are allocated atomically in the ledger; with one app id per run, a run
        that commits after a newer one is not skipped by Delta as already seen.
        """
        return SafeDeltaWriter(self.spark, app_id=f"{self.job}/gold/{run}")

    @property
    def dimension_writer(self) -> SafeDeltaWriter:
        """The silver writer of the first SCD2 source (its history is audited after each commit)."""
        return self.silver_writer(next(s for s in self.specs if s.mode is WriteMode.SCD2))

    def _spec(self, name: str) -> TableSpec:
        for spec in self.specs:
            if spec.name == name:
                return spec
        raise InputError(
            f"gold needs a source named {name!r}; the pipeline has "
            f"{', '.join(s.name for s in self.specs)}"
        )

    # -- run --------------------------------------------------------------------------------

    def run(self, stages: str | Stage = Stage.FULL) -> RunReport:
        """Run the requested stages and finish with metrics, summary and JSON report.

        Args:
            stages: ``full``, ``bronze``, ``silver`` or ``gold``.

        Returns:
            The run report (also written as JSON under ``<root>/reports``).

        Raises:
            ConfigError: ``stages`` names no stage (before anything runs).
            EtlAppError: A run-time check failed (drift policy, reconciliation, ...).
            GateFailedError: A data-quality gate with a ``fail`` action tripped.
        """
        requested = Stage.parse(stages)
        self.report.stages = requested.value
        started = time.perf_counter()
        self.report.started_at = datetime.now(UTC).isoformat()
        bodies = {Stage.BRONZE: self._bronze, Stage.SILVER: self._silver, Stage.GOLD: self._gold}
        self._gold_saves_ledger = Stage.GOLD in requested.selected()
        try:
            with (
                bound_context(job=self.job, env=self.env, run_id=self.run_id),
                self.metrics.track_job_execution(self.job, self.env),
            ):
                log.info("run_started", stages=requested.value, output_root=self.root)
                for stage in requested.selected():
                    self._stage(stage.value, bodies[stage])
                # A source's refused batch did not stop the other sources (nor gold).
                self._raise_deferred()
                started_metrics = time.perf_counter()
                self._record_table_metrics()
                self.report.stage_durations_s["table_metrics"] = round(
                    time.perf_counter() - started_metrics, 3
                )
            self.report.status = "success"
        except Exception as exc:
            # An object store that could not be reached is named as such (endpoint, never a
            # secret), and Spark's failures lose their JVM stack frames: the report and the
            # log line are read by people and shipped to log stores.
            storage = _storage.storage_failure(
                exc, self.spark, [self.config.input_location(), self.root]
            )
            self.report.status = "failed"
            self.report.error = _observe.describe_error(storage or exc)
            log.error("run_failed", error=self.report.error)  # noqa: TRY400 - one line, no trace
            if storage is not None:
                raise storage from exc
            raise
        finally:
            self.report.duration_s = round(time.perf_counter() - started, 3)
            self.report.finished_at = datetime.now(UTC).isoformat()
            # The report first (the data outcome stands whatever happens to the metrics), then
            # the metrics, then the report again with the metrics outcome.
            self._write_report_of_run()
            self._publish_metrics()
            self._write_report_of_run()
            log.info("run_finished", status=self.report.status, seconds=self.report.duration_s)
        return self.report

    def _write_report_of_run(self) -> None:
        """Write the report; on a failed run a report that cannot be written is only logged.

        The run's own error is what the caller needs (the report often fails for the same
        reason, an unreachable object store), so it must not be replaced by the report's.
        """
        try:
            self._write_report()
        except Exception as exc:
            if self.report.status != "failed":
                raise
            log.error("report_not_written", error=_observe.describe_error(exc))  # noqa: TRY400

    def _raise_deferred(self) -> None:
        if self._deferred:
            raise self._deferred[0]

    def _write_report(self) -> None:
        """The JSON report under ``<root>/reports``: a local file, or through Spark on a URI."""
        local = _storage.local_path(self.root)
        if local is not None:
            self.report.write(local / "reports" / f"run-{self.run_id}.json")
            return
        import json

        text = json.dumps(self.report.to_dict(), default=str)
        target = _storage.join(self.root, "reports", f"run-{self.run_id}.json")
        frame = self.spark.createDataFrame([(text,)], "value STRING").coalesce(1)
        frame.write.mode("overwrite").text(target)
        self.report.report_path = target

    def _stage(self, stage: str, body: Callable[[], None]) -> None:
        started = time.perf_counter()
        self.progress(f"{stage}: started")
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
        self.progress(f"{stage}: done in {self.report.stage_durations_s[stage]:.1f}s")

    # -- bronze -----------------------------------------------------------------------------

    def _input(self, spec: TableSpec) -> SourceConfig:
        """The spec's input files: ``input.<name>`` when the config has it, else its default."""
        configured = getattr(self.config.input, spec.name, None)
        return configured if isinstance(configured, type(spec.input)) else spec.input

    def _bronze(self) -> None:
        # Every source's files are listed before anything is ingested: a listing failure
        # stops the stage before it writes (or saves) anything.
        input_dir = self.config.input_location()
        listed = [(spec, self._input(spec)) for spec in self.specs]
        files = {spec.name: self._list_input(input_dir, spec, s) for spec, s in listed}
        todo = [(spec, settings, file) for spec, settings in listed for file in files[spec.name]]
        with self._ledger_saved():
            # Every new file's batch id is allocated in one ledger MERGE, before any ingest.
            batches = self.ledger.register_all(
                [
                    (
                        spec.name,
                        file,
                        functools.partial(
                            _storage.content_hash, self.spark, file.path, file.length
                        ),
                    )
                    for spec, _, file in todo
                ],
                self.run_id,
            )
            for (spec, settings, file), batch in zip(todo, batches, strict=True):
                if batch.bronze_rows is None:
                    self._ingest(spec, settings, file, batch)

    def _list_input(
        self, input_dir: str, spec: TableSpec, settings: SourceConfig
    ) -> list[_storage.InputFile]:
        try:
            files = _storage.list_files(self.spark, input_dir, settings.pattern)
        except FileNotFoundError:
            raise InputError(
                f"input folder {input_dir} does not exist; set input.dir in the config or "
                "pass --input (etl-app generate-sample --out DIR writes sample files)"
            ) from None
        if not files:
            log.warning("no_input_files", source=spec.name, pattern=settings.pattern)
        return files

    @contextlib.contextmanager
    def _ledger_saved(self) -> Iterator[None]:
        """Save the ledger once when the stage ends, and on the way out of a failing one.

        A stage saves the ledger once, not after every batch: each ledger save is a MERGE
        (about a second, a dozen Spark jobs on a small table), and a batch whose commit the
        ledger missed is found again on the rerun (its write is idempotent and the skipped
        write is checked to be that batch's). Saving on the way out keeps a later batch's
        failure from costing the earlier batches that rerun. When gold runs later in the same
        run, a stage that succeeded leaves its save to gold, which saves before anything else:
        bronze's and silver's batches then cost one MERGE, not two.
        """
        try:
            yield
        except BaseException:
            try:
                self.ledger.save()
            except Exception as exc:  # the run reports the first failure, not this one
                log.warning("ledger_save_failed", error=_observe.describe_error(exc))
            raise
        if not self._gold_saves_ledger:
            self.ledger.save()

    def _ingest(
        self, spec: TableSpec, settings: SourceConfig, file: _storage.InputFile, batch: Batch
    ) -> None:
        if file.length == 0:
            # An empty file is a 0-row batch (Spark infers no columns from it: no drift).
            read = inp.empty_input(self.spark, self._raw_columns(spec), settings.format)
        else:
            read = inp.read_input(self.spark, file.path, settings.format)
        try:
            self._ingest_rows(spec, file, batch, read)
        finally:
            read.release()

    def _raw_columns(self, spec: TableSpec) -> list[str]:
        registered = self.registry.get(spec.bronze)
        return [f for f in registered.field_names if f not in tr.INGESTION_COLUMNS]

    def _ingest_rows(
        self, spec: TableSpec, file: _storage.InputFile, batch: Batch, read: inp.InputBatch
    ) -> None:
        subject = spec.bronze
        registered = self.registry.get(subject)
        raw = read.rows
        raw_columns = self._raw_columns(spec)
        actual = tr.add_ingestion_columns(
            raw, source_file=file.path, run_id=self.run_id, batch_id=batch.batch_id
        )
        drift = detect_drift(registered, actual.schema)
        columns = self._apply_drift_policy(
            subject=subject,
            file=file.path,
            registered=registered,
            drift=drift,
            raw_columns=raw_columns,
            raw=raw,
        )
        bronze = tr.add_ingestion_columns(
            tr.conform_to_columns(raw, columns),
            source_file=batch.file,
            run_id=self.run_id,
            batch_id=batch.batch_id,
        )
        target = self.table_path("bronze", spec.name)
        writer = SafeDeltaWriter(
            self.spark,
            app_id=self.app_id(spec.name, batch.batch_id),
            allow_schema_evolution=self.bronze_writer.allow_schema_evolution,
        )
        result = writer.append(bronze, target, batch_id=batch.batch_id, run_id=self.run_id)
        if result.skipped:
            rows = self._bronze_batch_rows(spec, batch, target, result)
        else:
            rows = _rows_written(result)
        unreadable = self._land_unreadable(spec, file, batch, read)
        self._reconcile_input(spec, file, batch, read, bronze=rows, unreadable=unreadable)
        self.ledger.mark_done(Stage.BRONZE, batch, rows=rows)
        self._record_write("bronze", subject, result, rows, batch.batch_id)
        self.metrics.record_records_processed(self.job, "bronze", subject, rows)

    def _bronze_batch_rows(
        self, spec: TableSpec, batch: Batch, target: str, result: WriteResult
    ) -> int:
        """Rows of a batch whose bronze append was skipped, checked to be THIS batch's.

        Skipped means an empty input (no commit) or Delta's transaction id of this batch is
        already in the table (the append committed in an earlier run whose ledger update was
        lost). In the second case the rows of ``batch_id`` in bronze must come from this
        batch's file; anything else is refused instead of being counted as this batch.

        Raises:
            InputError: Bronze holds rows of this batch id from another file.
        """
        if result.source_rows == 0 or not _lake.exists(self.spark, target):
            return 0
        found = (
            self.spark.read.format("delta")
            .load(target)
            .filter(f"batch_id = {batch.batch_id}")
            .groupBy("source_file")
            .count()
            .collect()
        )
        files = {str(r["source_file"]): int(r["count"]) for r in found}
        if set(files) - {batch.file}:
            raise InputError(
                f"{spec.bronze} batch {batch.batch_id}: Delta skipped the append of "
                f"{batch.file} as already committed, but bronze holds the batch's rows from "
                f"{sorted(files)}; the ledger {self.ledger.location} and bronze disagree about "
                f"which file is batch {batch.batch_id}. Nothing was written. List the batches "
                "with `etl-app batches list` and compare them with the bronze table."
            )
        return sum(files.values())

    def _land_unreadable(
        self, spec: TableSpec, file: _storage.InputFile, batch: Batch, read: inp.InputBatch
    ) -> int:
        """Append the file's unreadable records (raw text, reason) to their quarantine table."""
        if not read.unreadable_count:
            return 0
        target = self.table_path("quarantine", f"{spec.name}_unreadable")
        rows = inp.unreadable_rows(
            read.unreadable, source_file=file.path, run_id=self.run_id, batch_id=batch.batch_id
        )
        writer = SafeDeltaWriter(
            self.spark, app_id=self.app_id(f"{spec.name}_unreadable", batch.batch_id)
        )
        result = writer.append(rows, target, batch_id=batch.batch_id, run_id=self.run_id)
        if result.skipped:
            # Committed by an earlier, interrupted run: count the batch's rows there.
            count = (
                self.spark.read.format("delta")
                .load(target)
                .filter(f"batch_id = {batch.batch_id}")
                .count()
            )
        else:
            count = _rows_written(result)
        self._record_write(
            "bronze", f"quarantine.{spec.name}_unreadable", result, count, batch.batch_id
        )
        self.metrics.record_records_failed(self.job, "bronze", spec.bronze, count)
        return count

    def _reconcile_input(
        self,
        spec: TableSpec,
        file: _storage.InputFile,
        batch: Batch,
        read: inp.InputBatch,
        *,
        bronze: int,
        unreadable: int,
    ) -> None:
        """The file's records must all be in bronze or in the unreadable table."""
        checks = inp.input_checks(read.records, bronze, unreadable, read.lines)
        failed = [name for name, expected, actual in checks if expected != actual]
        counts = {"records": read.records, "bronze": bronze, "unreadable": unreadable}
        if read.lines is not None:
            counts["lines"] = read.lines
        reasons = (
            sorted({r["reason"] for r in read.unreadable.select("reason").distinct().collect()})
            if unreadable
            else []
        )
        self.report.inputs.append(
            {
                "table": spec.bronze,
                "file": file.path,
                "batch_id": batch.batch_id,
                **counts,
                "reasons": reasons,
                "ok": not failed,
            }
        )
        if failed:
            raise InputReconciliationError(file.path, counts, failed[0])

    def _apply_drift_policy(
        self,
        *,
        subject: str,
        file: str,
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
                "file": file,
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
        log.warning("schema_drift", table=subject, file=file, policy=policy, drift=summary)
        if policy == "evolve":
            extra = [c for c in raw.columns if c not in raw_columns]
            return raw_columns + extra
        return raw_columns

    # -- silver -----------------------------------------------------------------------------

    def _silver(self) -> None:
        with self._ledger_saved():
            for spec in self.specs:
                self._silver_source(spec)

    def _silver_source(self, spec: TableSpec) -> None:
        pending = self.ledger.pending(Stage.SILVER, spec.name)
        if pending:
            self._check_layout(spec)
            gate = self._gate(spec.name)
            for batch in pending:
                try:
                    self._silver_batch(spec, gate, batch)
                except Exception as exc:
                    # A refused batch stops its own source (later batches wait, in order) but
                    # not the other sources nor gold; the run still fails with this error.
                    log.error(  # noqa: TRY400 - one line, no trace
                        "silver_batch_refused",
                        table=spec.silver,
                        batch_id=batch.batch_id,
                        error=_observe.describe_error(exc),
                        way_out=f"etl-app batches skip {spec.name} {batch.batch_id} --reason ...",
                    )
                    self.metrics.record_error(self.job, "silver", exc)
                    self._deferred.append(exc)
                    break

    def _check_layout(self, spec: TableSpec) -> None:
        """Refuse a silver table in an older layout (once per table and run)."""
        if spec.name not in self._layout_checked:
            _lake.check_layout(self.spark, spec, self.table_path("silver", spec.name))
            self._layout_checked.add(spec.name)

    def _gate(self, table: str) -> Gate:
        path = self.config.gates_dir() / f"silver.{table}.yaml"
        if not path.exists():
            raise InputError(f"no gate definition for silver.{table}: expected {path}")
        # Every gate run is recorded under the data root; anomaly checks read it back.
        history = _storage.join(self.root, DQ_HISTORY)
        self.report.dq_history = history
        return Gate.from_yaml(path, history=ResultsHistory(history))

    def _silver_batch(self, spec: TableSpec, gate: Gate, batch: Batch) -> None:
        path = self.table_path("bronze", spec.name)
        if _lake.exists(self.spark, path):
            bronze = self.spark.read.format("delta").load(path)
        else:
            # A missing upstream table reads as empty (a first batch of 0 rows).
            bronze = self.spark.createDataFrame([], self.registry.get(spec.bronze).to_spark())
        bronze = bronze.filter(f"batch_id = {batch.batch_id}")
        gated: GateResult = gate.run(
            spec.typing(bronze),
            table=spec.silver,
            batch_id=str(batch.batch_id),
            run_id=self.run_id,
        )
        try:
            self._write_silver(spec, batch, gated)
        finally:
            gated.release()

    def _write_silver(self, spec: TableSpec, batch: Batch, gated: GateResult) -> None:
        subject = spec.silver
        self.report.gates.append({"table": subject, "batch_id": batch.batch_id, **gated.to_dict()})
        _observe.record_gate(self.metrics, self.job, subject, gated)
        self.report.anomalies.extend(
            {"table": subject, "batch_id": batch.batch_id, **a.to_dict()}
            for a in gated.anomalies_found
        )
        quarantined = self._write_quarantine(spec, gated, batch)
        # The de-duplication ranks each key's rows once (persisted); its own counts of the
        # rows it keeps and removes come from one aggregation over that ranking.
        ranking = tr.rank_per_key(gated.valid.select(*spec.columns), spec.key, spec.order_by)
        with _cached(ranking) as ranked:
            kept, duplicates = tr.dedup_counts(ranked)
            latest = tr.latest_rows(ranked)
            self._check_contract(
                subject, latest, managed=SCD2_COLUMNS if spec.mode is WriteMode.SCD2 else ()
            )
            counts = {
                "bronze": int(batch.bronze_rows or 0),
                "gate_in": gated.rows_in,
                "gate_valid": gated.rows_valid,
                "gate_quarantined": gated.rows_quarantined,
                "gate_dropped": gated.rows_dropped,
                "quarantined": quarantined,
                "dedup_kept": kept,
                "duplicates_dropped": duplicates,
                # Until the commit: the rows about to be written.
                "silver": kept,
            }
            self._reconcile_before_commit(spec, batch, counts)
            result, version = self._write_latest(spec, batch, latest, counts)
        self.report.reconciliation.append(
            {"table": subject, "batch_id": batch.batch_id, **counts, "ok": True}
        )
        self._record_write("silver", subject, result, kept, batch.batch_id)
        self.metrics.record_records_processed(self.job, "silver", subject, counts["silver"])
        self.metrics.record_records_failed(self.job, "silver", subject, quarantined)
        self.ledger.mark_done(Stage.SILVER, batch, counts=counts, version=version)

    def _reconcile_before_commit(
        self, spec: TableSpec, batch: Batch, counts: dict[str, int]
    ) -> None:
        """Check every term known before the silver commit; stop before writing on a mismatch.

        The gate must have read the batch's bronze rows; the quarantine commit must hold the
        rows the gate quarantined; the de-duplication must have seen the rows the gate let
        through (kept + duplicates). Together: bronze = kept + duplicates + quarantined +
        dropped by the gate.
        """
        checks = (
            ("gate_in == bronze", counts["bronze"], counts["gate_in"]),
            ("quarantined == gate_quarantined", counts["gate_quarantined"], counts["quarantined"]),
            (
                "dedup_kept + duplicates_dropped == gate_valid",
                counts["gate_valid"],
                counts["dedup_kept"] + counts["duplicates_dropped"],
            ),
        )
        for check, expected, actual in checks:
            if expected != actual:
                self._fail_reconciliation(spec, batch, counts, check, expected - actual)

    def _fail_reconciliation(
        self,
        spec: TableSpec,
        batch: Batch,
        counts: dict[str, int],
        check: str,
        missing: int,
        *,
        rolled_back: bool = False,
    ) -> None:
        self.report.reconciliation.append(
            {"table": spec.silver, "batch_id": batch.batch_id, **counts, "ok": False}
        )
        raise ReconciliationError(
            spec.silver,
            batch.batch_id,
            counts,
            check=check,
            missing=missing,
            rolled_back=rolled_back,
        )

    def _write_latest(
        self, spec: TableSpec, batch: Batch, latest: DataFrame, counts: dict[str, int]
    ) -> tuple[WriteResult, int | None]:
        """Write the de-duplicated batch; return the result and the version holding it."""
        target = self.table_path("silver", spec.name)
        if not _lake.exists(self.spark, target):
            schema = self.registry.get(spec.silver).to_spark()
            _lake.create_table(
                self.spark,
                spec,
                target,
                schema,
                deletion_vectors=spec.deletion_vectors and self.config.output.deletion_vectors,
            )
        for _ in range(2):
            writer = self.silver_writer(spec, batch.silver_attempt, batch.batch_id)
            self._check = _SilverCheck(spec, target, batch, counts)
            try:
                result = self._write_spec(writer, spec, batch, latest, target)
            except Exception:
                self.ledger.mark_failed(Stage.SILVER, [batch])
                self.ledger.save()
                raise
            finally:
                self._check = None
            if not result.skipped:
                return result, result.version
            commit, rolled_back = self._batch_commit(target, batch, writer.app_id)
            if commit is None:
                # No commit: an empty batch, or (SCD2) nothing changed. The writer counted
                # the rows it was given (SCD2); an empty merge source has none.
                counts["silver"] = int(result.source_rows or 0)
                self._reconcile_commit_counts(spec, batch, counts, rolled_back=False)
                return result, None
            if rolled_back:
                # Committed by an earlier run and rolled back before its ledger update: that
                # transaction id is spent, write again under the next attempt's.
                self.ledger.mark_failed(Stage.SILVER, [batch])
                self.ledger.save()
                continue
            # Committed by an earlier run that stopped before its ledger update.
            counts["silver"] = commit_rows(spec.mode, commit.get("operationMetrics") or {}) or 0
            self._reconcile_commit_counts(spec, batch, counts, rolled_back=False)
            return result, int(commit["version"])
        raise AssertionError(
            "unreachable: a rolled-back batch is rewritten once"
        )  # pragma: no cover

    def _write_spec(
        self,
        writer: SafeDeltaWriter,
        spec: TableSpec,
        batch: Batch,
        latest: DataFrame,
        target: str,
    ) -> WriteResult:
        if spec.mode is WriteMode.SCD2:
            return writer.scd2_merge(
                latest,
                target,
                [spec.key],
                tracked_columns=list(spec.tracked),
                effective_at=spec.order_by,
                batch_id=batch.batch_id,
                run_id=self.run_id,
            )
        return writer.merge(
            latest,
            target,
            [spec.key],
            prune_by_key_range=spec.keys_grow,
            batch_id=batch.batch_id,
            run_id=self.run_id,
        )

    def _batch_commit(
        self, target: str, batch: Batch, app_id: str | None
    ) -> tuple[dict[str, Any] | None, bool]:
        """Find the batch's earlier commit by its metadata; say whether it was rolled back."""
        commits = self.writer.history(target, limit=HISTORY_WINDOW)
        for index, commit in enumerate(commits):
            meta = commit["writer_metadata"]
            if (
                meta.get("batch_id") == batch.batch_id
                and meta.get("app_id") == app_id
                and "rolled_back_version" not in meta
            ):
                newer = commits[:index]
                rolled_back = any(
                    c["writer_metadata"].get("rolled_back_version") == commit["version"]
                    for c in newer
                )
                return commit, rolled_back
        return None, False

    def _reconcile_commit(self, context: WriteContext) -> None:
        """Post-write hook: the silver commit must hold exactly the rows the dedup kept."""
        check = self._check
        if check is None or context.result is None or context.target != check.target:
            return
        rows = commit_rows(check.spec.mode, context.result.metrics)
        check.counts["silver"] = rows if rows is not None else -1
        self._reconcile_commit_counts(check.spec, check.batch, check.counts, rolled_back=True)

    def _reconcile_commit_counts(
        self, spec: TableSpec, batch: Batch, counts: dict[str, int], *, rolled_back: bool
    ) -> None:
        if counts["silver"] != counts["dedup_kept"]:
            self._fail_reconciliation(
                spec,
                batch,
                counts,
                "silver == dedup_kept",
                counts["dedup_kept"] - counts["silver"],
                rolled_back=rolled_back,
            )

    def _audit_history(self, spec: TableSpec, context: WriteContext) -> None:
        """Post-write hook: the history of the keys just written must satisfy every SCD2 rule.

        Only those keys are checked (``validate_scd2(..., only_keys=...)``): the other keys'
        history did not change.
        """
        history = self.spark.read.format("delta").load(context.target)
        keys: Any = context.df.select(spec.key) if context.df is not None else None
        report = validate_scd2(history, [spec.key], only_keys=keys)
        if not report.is_valid:
            raise HistoryValidationError(
                spec.silver,
                {str(rule): count for rule, count in report.violations.items() if count},
                str(report),
            )

    def _write_quarantine(self, spec: TableSpec, gated: GateResult, batch: Batch) -> int:
        writer = SafeDeltaWriter(self.spark, app_id=self.app_id(spec.name, batch.batch_id))
        result = writer.append(
            gated.quarantine,
            self.table_path("quarantine", spec.name),
            batch_id=batch.batch_id,
            run_id=self.run_id,
        )
        if result.skipped and result.source_rows is None:
            # Committed by an earlier, interrupted run: count the batch's rows there.
            rows = (
                self.spark.read.format("delta")
                .load(self.table_path("quarantine", spec.name))
                .filter(f"batch_id = {batch.batch_id}")
                .count()
            )
        else:
            rows = _rows_written(result)
        self._record_write("silver", spec.quarantine, result, rows, batch.batch_id)
        return rows

    # -- gold -------------------------------------------------------------------------------

    def _gold(self) -> None:
        # Bronze's and silver's batches of this run (their stages leave the save to gold),
        # then what other runs may have moved on since this run read the ledger.
        self.ledger.save()
        self.ledger.refresh()
        legacy = bool(self.ledger.gold_dates or self.ledger.gold_clv)
        if not self.ledger.pending(Stage.GOLD) and not legacy:
            log.info("gold_up_to_date")
            return
        tables = [self.table_path("gold", t) for t in ("daily_revenue", "customer_lifetime_value")]
        work = self.ledger.gold_work(
            after=max(self._last_gold_run(t) for t in tables), run_id=self.run_id
        )
        orders, customers = self._spec("orders"), self._spec("customers")
        for spec in (orders, customers):
            self._check_layout(spec)
        for run, batches in work:
            done = [b for bs in batches.values() for b in bs]
            try:
                self._gold_run(run, orders, customers, batches)
            except Exception:
                self.ledger.mark_failed(Stage.GOLD, done)
                self.ledger.save()
                raise
            for batch in done:
                self.ledger.mark_done(Stage.GOLD, batch)
            self.ledger.gold_dates = set()
            self.ledger.gold_clv = False
            self.ledger.save()

    def _last_gold_run(self, target: str) -> int:
        """The newest gold run id (``txnVersion``) this job committed to ``target``, or 0."""
        if not _lake.exists(self.spark, target):
            return 0
        ids = [
            c["writer_metadata"].get("batch_id")
            for c in self.writer.history(target, limit=GOLD_HISTORY_WINDOW)
            if c["writer_metadata"].get("app_id") == self.job
            or str(c["writer_metadata"].get("app_id")).startswith(f"{self.job}/gold/")
        ]
        return max((i for i in ids if isinstance(i, int)), default=0)

    def _changes(self, spec: TableSpec, batches: Iterable[Batch]) -> DataFrame | None:
        """The change data feed rows of the batches' silver commits (each version on its own)."""
        versions = sorted({b.silver_version for b in batches if b.silver_version is not None})
        if not versions:
            return None
        path = self.table_path("silver", spec.name)
        reads = [
            self.spark.read.format("delta")
            .option("readChangeFeed", "true")
            .option("startingVersion", v)
            .option("endingVersion", v)
            .load(path)
            for v in versions
        ]
        return functools.reduce(lambda a, b: a.unionByName(b), reads)

    def _gold_run(
        self,
        run: int,
        orders: TableSpec,
        customers: TableSpec,
        batches: Mapping[str, list[Batch]],
    ) -> None:
        """Fold the batches' silver changes into gold, as gold write batch ``run``."""
        clv_path = self.table_path("gold", "customer_lifetime_value")
        exists = _lake.exists(self.spark, clv_path)
        gold_clv = self.spark.read.format("delta").load(clv_path) if exists else None
        with contextlib.ExitStack() as cache:
            order_changes = self._changes(orders, batches.get(orders.name, []))
            # The changes are read twice (their dates, then the lifetime value's deltas) only
            # when the lifetime value is merged. A rebuild reads all of silver instead, and
            # caching every changed row (a first load's million) to read their dates once
            # cost more than reading the date column alone.
            merged = gold_clv is not None and not self._clv_needs_rebuild(gold_clv)
            if order_changes is not None and merged:
                order_changes = cache.enter_context(_cached(order_changes))
            dates = {date.fromisoformat(d) for d in self.ledger.gold_dates}
            if order_changes is not None:
                dates |= {
                    r["order_date"]
                    for r in order_changes.select("order_date").distinct().collect()
                    if r["order_date"] is not None
                }
            if dates:
                touched = [d.isoformat() for d in sorted(dates)]
                with _observe.gold_errors("gold.daily_revenue", "order_date", touched):
                    self._gold_revenue(run, sorted(dates))
            with _observe.gold_errors("gold.customer_lifetime_value", "customer_id", []):
                self._gold_clv(
                    run, customers, batches.get(customers.name, []), order_changes, gold_clv
                )

    def _clv_needs_rebuild(self, gold: DataFrame) -> bool:
        """Whether the existing gold lifetime value is built again from all of silver.

        It is when it was written before ``revenue_days`` (gold v1: rebuilt once, with the
        new column), or when etl-app 0.1 left gold lifetime value work behind; otherwise the
        batch's changes are merged into it. With no table yet, it is built too.
        """
        return tr.REVENUE_DAYS not in gold.columns or self.ledger.gold_clv

    def _gold_revenue(self, run: int, dates: list[date]) -> None:
        # Silver orders are partitioned by order date: only those dates' files are read.
        orders = self.spark.read.format("delta").load(self.table_path("silver", "orders"))
        revenue = tr.daily_revenue(orders, dates)
        self._check_contract("gold.daily_revenue", revenue)
        # One call creates the table partitioned by the column later runs replace by, and
        # allow_empty makes a run whose touched dates lost every revenue order delete
        # their old rows instead of skipping the write.
        result = self.gold_writer(run).overwrite_partitions(
            revenue,
            self.table_path("gold", "daily_revenue"),
            tr.dates_predicate("order_date", dates),
            partition_by=["order_date"],
            allow_empty=True,
            batch_id=run,
            run_id=self.run_id,
        )
        self._record_write("gold", "gold.daily_revenue", result, None, None)
        self.report.gold_dates = [d.isoformat() for d in dates]

    def _gold_clv(
        self,
        run: int,
        customers: TableSpec,
        customer_batches: list[Batch],
        order_changes: DataFrame | None,
        gold: DataFrame | None,
    ) -> None:
        from pyspark.sql import functions as F  # noqa: N812

        target = self.table_path("gold", "customer_lifetime_value")
        orders_path = self.table_path("silver", "orders")
        customers_path = self.table_path("silver", customers.name)
        customer_changes = self._changes(customers, customer_batches)
        if gold is None or self._clv_needs_rebuild(gold):
            # A table written before revenue_days (gold v1) is rebuilt with the new column.
            stale = gold is not None and tr.REVENUE_DAYS not in gold.columns
            if not (
                _lake.exists(self.spark, orders_path) and _lake.exists(self.spark, customers_path)
            ):
                return
            # No table yet, a v1 table, or gold work left by etl-app 0.1: build it from all
            # of silver.
            clv = tr.customer_lifetime_value(
                self.spark.read.format("delta").load(orders_path),
                self.spark.read.format("delta").load(customers_path),
            )
            self._check_contract("gold.customer_lifetime_value", clv)
            result = self.gold_writer(run).overwrite(
                clv,
                target,
                allow_full_overwrite=True,
                overwrite_schema=stale,
                batch_id=run,
                run_id=self.run_id,
            )
            self._record_write("gold", "gold.customer_lifetime_value", result, None, None)
            if gold is None and result.version is not None and self.config.output.deletion_vectors:
                # Keyed by customer like silver customers: see TableSpec.deletion_vectors.
                # This write created the table (without them): no need to describe it first.
                _lake.switch_on_deletion_vectors(self.spark, target)
            return
        deltas = tr.clv_changes(order_changes) if order_changes is not None else None
        touched_parts = [
            d.select("customer_id") for d in (deltas, customer_changes) if d is not None
        ]
        if not touched_parts:
            return
        touched_ids = functools.reduce(lambda a, b: a.unionByName(b), touched_parts).distinct()
        with contextlib.ExitStack() as cache:
            touched = cache.enter_context(
                _cached(touched_ids.filter(F.col("customer_id").isNotNull()))
            )
            current = gold.join(F.broadcast(touched), "customer_id", "left_semi")
            totals = cache.enter_context(_cached(tr.clv_update(touched, current, deltas)))
            recount = [
                int(r["customer_id"])
                for r in totals.filter("_recount").select("customer_id").collect()
            ]
            exact = totals
            if recount:
                orders = self.spark.read.format("delta").load(orders_path)
                exact = tr.clv_recount(totals, orders, recount)
            silver_customers = self.spark.read.format("delta").load(customers_path)
            silver_customers = silver_customers.join(
                F.broadcast(touched), "customer_id", "left_semi"
            )
            # The MERGE's source plan holds its inputs more than once: cached, they are
            # computed once (a recount's read of every file of silver orders, too).
            rows = cache.enter_context(_cached(tr.clv_rows(exact, silver_customers)))
            self._check_contract("gold.customer_lifetime_value", rows)
            result = self.gold_writer(run).merge(
                rows,
                target,
                ["customer_id"],
                delete_when="s.order_count = 0",
                batch_id=run,
                run_id=self.run_id,
            )
        self._record_write("gold", "gold.customer_lifetime_value", result, None, None)

    # -- bookkeeping ------------------------------------------------------------------------

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
        self.progress(_observe.progress_line(self.report.steps[-1]))

    def _record_table_metrics(self) -> None:
        """Size, files and versions of every table written in this run (Delta's own numbers)."""
        sizes = _lake.table_sizes(self.spark, dict(self._written.values()))
        for table, (target, version) in self._written.items():
            self.metrics.record_delta_table_metrics(
                table,
                size_bytes=float(sizes[target].size_bytes),
                files=sizes[target].files,
                versions=version + 1,
            )

    def _publish_metrics(self) -> None:
        """Deliver the metrics (never raises) and record the outcome in the report."""
        # The textfile is a local file: on a URI data root it goes under the working folder.
        local = _storage.local_path(self.root) or Path(".")
        outcome = _observe.publish_metrics(
            self.config.metrics, job=self.job, env=self.env, root=local, metrics=self.metrics
        )
        self.report.metrics = outcome.to_dict()
        self.report.metrics_sink = outcome.describe()
        if not outcome.ok:
            log.warning("metrics_not_delivered", sink=outcome.sink, error=outcome.error)


def _output_root(config: AppConfig) -> str:
    """The data root as a URI or absolute path (plain paths relative to the working folder)."""
    return _storage.resolve(config.output.root)


def _rows_written(result: WriteResult) -> int:
    return int((result.rows_inserted or 0) + (result.rows_updated or 0))


def run_pipeline(
    config: AppConfig,
    *,
    spark: SparkSession,
    stages: str | Stage = Stage.FULL,
    run_id: str | None = None,
    metrics: EtlMetrics | None = None,
    progress: Callable[[str], None] | None = None,
) -> RunReport:
    """Run the pipeline with an existing SparkSession.

    Args:
        config: Validated configuration.
        spark: Session with Delta Lake (see ``build_spark_session``).
        stages: ``full``, ``bronze``, ``silver`` or ``gold`` (or a :class:`Stage`).
        run_id: Run id; generated when None.
        metrics: Where to record metrics; a fresh registry when None.
        progress: Called with one line per stage and table write (see :class:`Pipeline`).

    Returns:
        The run report (written under ``<root>/reports`` even when the run fails).

    Raises:
        ConfigError: ``stages`` names no stage (exit code 2 on the command line).
    """
    requested = Stage.parse(stages)
    configure_logging(fmt=config.logging.format, level=config.logging.level)
    pipeline = Pipeline(config, spark, run_id=run_id, metrics=metrics, progress=progress)
    return pipeline.run(requested)


def migrate_lake(config: AppConfig, *, spark: SparkSession) -> list[_lake.Migration]:
    """Bring the silver tables of a lake written by etl-app 0.1 to the current layout.

    Silver orders are rewritten partitioned by ``order_date`` (one commit, row count checked
    against Delta's ``numOutputRows``; the old version stays in the history), and the change
    data feed is enabled on every silver table. With ``output.deletion_vectors`` on, silver
    customers and gold customer lifetime value get deletion vectors (tables created by
    earlier versions of etl-app have none). Tables already in the layout are left alone, so
    running it twice is harmless.

    Args:
        config: Validated configuration (its ``output.root`` is the lake).
        spark: Session with Delta Lake.

    Returns:
        What was done, per silver table (then gold lifetime value, with deletion vectors on).
    """
    root = _output_root(config)
    vectors = config.output.deletion_vectors
    steps = [
        _lake.migrate(
            spark,
            spec,
            _storage.join(root, "silver", spec.name),
            deletion_vectors=spec.deletion_vectors and vectors,
        )
        for spec in DEFAULT_SPECS
    ]
    if vectors:
        steps.append(
            _lake.enable_deletion_vectors(
                spark,
                "gold.customer_lifetime_value",
                _storage.join(root, "gold", "customer_lifetime_value"),
            )
        )
    return steps
