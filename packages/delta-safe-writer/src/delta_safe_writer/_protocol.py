"""The one write protocol every operation runs: plan, attempt with retry, commit, verify.

An operation module turns its arguments into a :class:`Plan` (running its pre-write checks
while doing so): the Delta action for one attempt, the metrics it expects in the commit, and
how to explain a failure of its own checks. :func:`execute` does the rest, the same way for
every operation: typed errors for Delta's failures, pre-write hooks, retries of commit
conflicts with backoff, idempotency and metadata (through :class:`Call`), the commit lookup,
reconciliation, post-write hooks and the rollback when one of those fails.
"""

from __future__ import annotations

import json
import random
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib.metadata import version as _dist_version
from typing import TYPE_CHECKING, Any

from delta_safe_writer._classify import classify, conflict_name
from delta_safe_writer._result import WriteContext, WriteResult
from delta_safe_writer._storage import storage_error
from delta_safe_writer._table import (
    TXN_APP_ID_CONF,
    TXN_VERSION_CONF,
    USER_METADATA_CONF,
    Table,
    now_ms,
    session_confs,
)
from delta_safe_writer.errors import (
    ConcurrentWriteError,
    ReconciliationError,
    RollbackError,
    SafeWriteError,
)

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, Observation

    from delta_safe_writer._writer import SafeDeltaWriter

#: The ``writer`` entry of every commit's user metadata: ``delta-safe-writer/<version>``.
WRITER_NAME = "delta-safe-writer"
WRITER = f"{WRITER_NAME}/{_dist_version(WRITER_NAME)}"


def metric(metrics: Mapping[str, str], name: str) -> int:
    """One ``operationMetrics`` value as an int (0 when Delta did not report it)."""
    return int(metrics.get(name) or 0)


def first_line(exc: BaseException) -> str:
    """The first line of an exception's text (its class name when it has none)."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


@dataclass
class Call:
    """One public call: identity, timing, idempotency and the metadata of its commits.

    Attributes:
        operation: The writer operation name.
        table: The target.
        df: The input DataFrame (None for ``restore``).
        batch_id: Delta ``txnVersion`` of the call, if any.
        run_id: Free-form run id for the metadata.
        app_id: Delta ``txnAppId`` of the writer.
        expressions: SQL text taken from the call's arguments, by argument name (used to
            say which one a Spark resolution error is about).
    """

    operation: str
    table: Table
    df: DataFrame | None
    batch_id: int | None
    run_id: str | None
    app_id: str | None
    expressions: dict[str, str] = field(default_factory=dict)
    started: float = field(default_factory=time.perf_counter)
    started_ms: int = field(default_factory=now_ms)
    write_id: str = field(default_factory=lambda: uuid.uuid4().hex)

    def user_metadata(self, *, write_id_suffix: str = "", **extra: Any) -> str:
        """The JSON ``userMetadata`` of a commit of this call."""
        data: dict[str, Any] = {"writer": WRITER, "operation": self.operation}
        if self.app_id is not None:
            data["app_id"] = self.app_id
        if self.batch_id is not None:
            data["batch_id"] = self.batch_id
        if self.run_id is not None:
            data["run_id"] = self.run_id
        data.update(extra)
        data["write_id"] = self.write_id + write_id_suffix
        return json.dumps(data, sort_keys=True)

    def writer_options(self, **metadata: Any) -> dict[str, str]:
        """DataFrameWriter options carrying the metadata and, with a batch id, the txn."""
        options = {"userMetadata": self.user_metadata(**metadata)}
        if self.batch_id is not None:
            options["txnAppId"] = str(self.app_id)
            options["txnVersion"] = str(self.batch_id)
        return options

    @contextmanager
    def confs(
        self, *, txn: bool = True, write_id_suffix: str = "", **metadata: Any
    ) -> Iterator[None]:
        """Session confs carrying metadata (and txn) for a MERGE / DELETE / RESTORE / CREATE.

        Such commands take no writer options; the confs are set for the block only and the
        previous values restored after, under a process-wide lock.
        """
        with_txn = txn and self.batch_id is not None
        confs = {
            USER_METADATA_CONF: self.user_metadata(write_id_suffix=write_id_suffix, **metadata),
            TXN_APP_ID_CONF: self.app_id if with_txn else None,
            TXN_VERSION_CONF: str(self.batch_id) if with_txn else None,
        }
        with session_confs(self.table.spark, confs):
            yield

    def elapsed(self) -> float:
        """Seconds since the call started."""
        return time.perf_counter() - self.started

    def context(self, result: WriteResult | None = None) -> WriteContext:
        """What a hook receives."""
        return WriteContext(
            operation=self.operation,
            target=self.table.name,
            df=self.df,
            result=result,
            batch_id=self.batch_id,
            run_id=self.run_id,
        )

    def skipped(self, reason: str, source_rows: int | None = None) -> WriteResult:
        """A result for a call that commits nothing."""
        return WriteResult(
            operation=self.operation,
            target=self.table.name,
            version=None,
            skipped=True,
            reason=reason,
            source_rows=source_rows,
            duration_s=self.elapsed(),
            attempts=0,
            batch_id=self.batch_id,
            run_id=self.run_id,
        )


@dataclass(frozen=True)
class Expectation:
    """What reconciliation compares: numbers implied by the input vs Delta's metrics."""

    expected: dict[str, int]
    actual: dict[str, int]
    rule: str


@dataclass
class Plan:
    """An operation ready to commit: its checks have passed.

    Attributes:
        action: One attempt of the Delta action (raises on failure, commits on success).
        expect: Builds the reconciliation from the committed result (None: nothing to check).
        diagnose: Called with a failed attempt's exception; raises a typed error when the
            failure is one of the plan's own in-job checks, else returns.
        source_rows: Rows in the input when known up front.
        source_metric: ``operationMetrics`` name holding the input rows (e.g.
            ``numSourceRows``), when Delta counts them.
        observation: Counts the input during the write (``count_input_rows``).
        hooks: Whether pre- and post-write hooks run.
        no_commit: The skip reason when Delta made no commit.
        casts: Incoming column -> (incoming type, table type) cast by the plan.
    """

    action: Callable[[], None]
    expect: Callable[[WriteResult], Expectation | None] | None = None
    diagnose: Callable[[BaseException], None] | None = None
    source_rows: int | None = None
    source_metric: str | None = None
    observation: Observation | None = None
    hooks: bool = True
    no_commit: str = "nothing to change: Delta made no commit"
    casts: Mapping[str, tuple[str, str]] = field(default_factory=dict)


def typed(call: Call, exc: BaseException) -> SafeWriteError | None:
    """The typed error for a Delta failure of this call, if it maps to one.

    Delta's own failures first; else a storage client failure (endpoint unreachable,
    credentials refused) becomes a :class:`StorageUnavailableError` naming the endpoint.
    """
    error = classify(
        exc, operation=call.operation, table=call.table.name, expressions=call.expressions
    )
    if error is not None:
        return error
    return storage_error(
        exc, spark=call.table.spark, operation=call.operation, table=call.table.name
    )


def execute(
    writer: SafeDeltaWriter, call: Call, build: Callable[[], Plan | WriteResult]
) -> WriteResult:
    """Plan, attempt (with retries), find the commit, reconcile, run hooks, roll back.

    Args:
        writer: Settings (retries, hooks, rollback, reconcile) and the sleep function.
        call: The call.
        build: Runs the operation's checks and returns its plan, or a skipped result.

    Returns:
        The committed write, or a skipped result.
    """
    try:
        planned = build()
    except SafeWriteError:
        raise
    except Exception as exc:
        error = typed(call, exc)
        if error is None:
            raise
        raise error from exc
    if isinstance(planned, WriteResult):
        return planned
    if planned.hooks:
        for hook in writer.pre_hooks:
            hook(call.context())
    attempts = _attempt(writer, call, planned)
    result = _committed(call, planned, attempts)
    if result.skipped:
        return result
    try:
        if writer.reconcile:
            _reconcile(planned, result)
        if planned.hooks:
            for hook in writer.post_hooks:
                hook(call.context(result))
    except Exception as exc:
        if writer.rollback_on_failure:
            rollback(call, result.version or 0, exc)
        raise
    return result.replace(duration_s=call.elapsed())


def _committed(call: Call, plan: Plan, attempts: int) -> WriteResult:
    """The result of the call's commit, found by its write id; skipped when there is none."""
    commit = call.table.find_commit(call.write_id, call.started_ms)
    if commit is None:
        reason = plan.no_commit
        if call.batch_id is not None:
            reason = (
                f"batch {call.batch_id} of app {call.app_id!r} is already committed to "
                f"{call.table.name} (Delta txn), or {plan.no_commit}"
            )
        return call.skipped(reason, plan.source_rows)
    metrics = commit.get("operationMetrics") or {}
    source_rows = plan.source_rows
    if plan.observation is not None:
        # Safe to wait on: the commit exists, so the observed write job has finished.
        source_rows = int(plan.observation.get["rows"])
    elif plan.source_metric is not None:
        source_rows = metric(metrics, plan.source_metric)
    return WriteResult.from_metrics(
        call.operation,
        call.table.name,
        int(commit["version"]),
        metrics,
        source_rows=source_rows,
        duration_s=call.elapsed(),
        attempts=attempts,
        batch_id=call.batch_id,
        run_id=call.run_id,
        timestamp_ms=int(commit["timestamp_ms"]),
        casts=dict(plan.casts),
    )


def _reconcile(plan: Plan, result: WriteResult) -> None:
    """Compare the plan's expected metrics with the commit's.

    Raises:
        ReconciliationError: They differ.
    """
    expectation = plan.expect(result) if plan.expect is not None else None
    if expectation is None or expectation.expected == expectation.actual:
        return
    raise ReconciliationError(
        f"{result.operation} version {result.version} of table {result.target} does not "
        f"reconcile: expected {expectation.expected} from the input, Delta's "
        f"operationMetrics say {expectation.actual}. Rule: {expectation.rule}.",
        table=result.target,
        version=result.version or 0,
        expected=expectation.expected,
        actual=expectation.actual,
    )


def _attempt(writer: SafeDeltaWriter, call: Call, plan: Plan) -> int:
    """Run the action, retrying Delta commit conflicts; typed errors for the rest."""
    tries = writer.max_retries + 1
    for number in range(1, tries + 1):
        try:
            plan.action()
        except Exception as exc:
            conflict = conflict_name(exc)
            if conflict is None:
                if plan.diagnose is not None:
                    try:
                        plan.diagnose(exc)
                    except SafeWriteError as diagnosed:
                        raise diagnosed from exc
                error = typed(call, exc)
                if error is None:
                    raise
                raise error from exc
            if number == tries:
                raise ConcurrentWriteError(
                    f"{call.operation} on table {call.table.name} failed after {tries} "
                    f"attempt(s): Delta kept reporting {conflict} ({first_line(exc)}). Another "
                    f"writer changed the data this write read; nothing of this write was "
                    f"committed. Retry later, raise max_retries, or make concurrent writers "
                    f"touch disjoint partitions.",
                    table=call.table.name,
                    conflict=conflict,
                    attempts=tries,
                ) from exc
            ceiling = min(writer.max_backoff_s, writer.retry_backoff_s * 2 ** (number - 1))
            writer._sleep(ceiling / 2 + random.uniform(0, ceiling / 2))
        else:
            return number
    raise AssertionError("unreachable")  # pragma: no cover


def rollback(call: Call, version: int, cause: Exception) -> None:
    """Undo the call's commit ``version`` when it is still the newest; note it on ``cause``.

    Raises:
        RollbackError: Others committed after ``version``: restoring would discard them.
    """
    table = call.table
    latest = table.latest_version()
    if latest != version:
        raise RollbackError(
            f"Could not roll back {call.operation} version {version} of table {table.name}: "
            f"versions {version + 1}..{latest} were committed by others since, and "
            f"restoring would discard them. Inspect the history and restore by hand "
            f"(SafeDeltaWriter.restore(target, {version - 1})) if appropriate.",
            table=table.name,
            version=version,
        ) from cause
    with call.confs(txn=False, rolled_back_version=version):
        if version == 0:
            # Delta cannot restore to before the table existed: unpublish the rows instead.
            table.engine.delete(table, None)
            cause.add_note(
                f"delta-safe-writer: table {table.name} was created by this write; all its "
                f"rows were deleted to roll it back."
            )
        else:
            table.engine.restore(table, version - 1)
            cause.add_note(
                f"delta-safe-writer: table {table.name} restored to version {version - 1} "
                f"(rolled back version {version})."
            )
