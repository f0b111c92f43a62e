"""SafeDeltaWriter: the public face; each method plans one operation and runs the protocol."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any

from delta_safe_writer._append import plan_append
from delta_safe_writer._engine import ENGINES, select_engine
from delta_safe_writer._merge import plan_merge
from delta_safe_writer._overwrite import plan_overwrite, plan_overwrite_partitions
from delta_safe_writer._protocol import Call, execute, typed
from delta_safe_writer._restore import plan_restore
from delta_safe_writer._result import Hook, WriteResult
from delta_safe_writer._scd2 import EffectiveAt, Scd2Columns, plan_scd2
from delta_safe_writer._table import Table, parse_user_metadata

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

    from delta_safe_writer._engine import Engine


class SafeDeltaWriter:
    """Delta Lake writes that refuse to silently lose or duplicate data.

    Every write checks its input before Delta commits (schema, merge keys, overwrite scope,
    emptiness), retries Delta's concurrent-modification conflicts with bounded jittered
    backoff, tags the commit with JSON ``userMetadata``, reads its row counts back from the
    commit's ``operationMetrics``, reconciles them with the input and runs post-write hooks,
    restoring the previous version when one of those fails (``rollback_on_failure``).
    Delta's own refusals (constraints, missing tables, unresolved columns) come back as
    typed :class:`~delta_safe_writer.errors.SafeWriteError` subclasses.

    Args:
        spark: The SparkSession to write with (classic or Spark Connect).
        app_id: Application id for idempotent writes (Delta's ``txnAppId``). Required when a
            write passes ``batch_id``.
        max_retries: Retries after a Delta commit conflict (0 disables retrying).
        retry_backoff_s: First backoff delay; doubles per retry, with jitter.
        max_backoff_s: Cap on a single backoff delay.
        rollback_on_failure: Restore the version before the write when reconciliation or a
            post-write hook fails after the commit.
        pre_hooks: Callables run with a :class:`WriteContext` after the checks, right before
            the commit; raising aborts the write.
        post_hooks: Callables run with the committed write's context; raising rolls back (see
            ``rollback_on_failure``) and re-raises.
        allow_schema_evolution: Let writes add new columns to the table (narrowing and
            unrelated type changes are always refused; safe widenings are cast).
        reconcile: Check that Delta's commit metrics add up to the input.
        count_input_rows: For ``append``, ``overwrite`` and ``overwrite_partitions``, count
            the input rows during the write itself (a Spark ``Observation``, no extra pass)
            and reconcile Delta's ``numOutputRows`` with them. Off by default: the observed
            aggregate slows the write job itself (about 20% on a narrow 1M-row append in the
            benchmarks). MERGE-based operations always reconcile, from the key check.
        check_target_keys: Make ``merge`` refuse, before committing, a batch whose keys the
            table already holds more than once (a semi-join of the table's key columns on
            the batch's keys inside the MERGE job). The scan is skipped when the table's
            newest commit is this writer's merge with the check (or its creation by
            ``merge``), which records the keys as unique. Switch it off only for tables
            whose keys are unique by construction: reconciliation then still catches such a
            MERGE, but after its commit (rolled back).
        engine: ``"auto"`` (default): Spark SQL on a Spark Connect session, delta-spark's
            ``DeltaTable`` API otherwise; ``"delta"`` or ``"sql"`` to choose. Both give the
            same behaviour and results; ``"sql"`` needs no Delta Connect server plugin.

    Raises:
        ValueError: ``max_retries`` is negative, a backoff is not positive, or ``engine`` is
            unknown.
    """

    def __init__(
        self,
        spark: SparkSession,
        *,
        app_id: str | None = None,
        max_retries: int = 3,
        retry_backoff_s: float = 0.5,
        max_backoff_s: float = 8.0,
        rollback_on_failure: bool = True,
        pre_hooks: Iterable[Hook] = (),
        post_hooks: Iterable[Hook] = (),
        allow_schema_evolution: bool = False,
        reconcile: bool = True,
        count_input_rows: bool = False,
        check_target_keys: bool = True,
        engine: str = "auto",
    ) -> None:
        if max_retries < 0:
            raise ValueError(f"max_retries must be >= 0, got {max_retries}")
        if retry_backoff_s <= 0 or max_backoff_s <= 0:
            raise ValueError(
                f"retry_backoff_s and max_backoff_s must be positive, got {retry_backoff_s} "
                f"and {max_backoff_s}"
            )
        if engine not in ENGINES:
            raise ValueError(f"engine must be one of {', '.join(ENGINES)}, got {engine!r}")
        self.spark = spark
        self.app_id = app_id
        self.max_retries = max_retries
        self.retry_backoff_s = retry_backoff_s
        self.max_backoff_s = max_backoff_s
        self.rollback_on_failure = rollback_on_failure
        self.pre_hooks: tuple[Hook, ...] = tuple(pre_hooks)
        self.post_hooks: tuple[Hook, ...] = tuple(post_hooks)
        self.allow_schema_evolution = allow_schema_evolution
        self.reconcile = reconcile
        self.count_input_rows = count_input_rows
        self.check_target_keys = check_target_keys
        self.engine: Engine = select_engine(spark, engine)
        self._sleep: Callable[[float], None] = time.sleep

    # ------------------------------------------------------------------ public operations

    def append(
        self,
        df: DataFrame,
        target: str,
        *,
        partition_by: Sequence[str] | None = None,
        batch_id: int | None = None,
        run_id: str | None = None,
    ) -> WriteResult:
        """Append ``df`` to ``target``, creating the table when it does not exist.

        Besides the write, costs a schema read and one commit lookup (see the README); a
        ``limit 1`` job on ``df`` only when the table is created (an empty append to an
        existing table makes no Delta commit by itself). With ``count_input_rows`` the input
        rows are counted during the write and reconciled with ``numOutputRows``. Columns of
        a narrower type than the table's (a safe widening such as ``int`` into ``bigint``)
        are cast explicitly and listed in ``WriteResult.casts``.

        Args:
            df: Rows to append.
            target: Table path or catalog name.
            partition_by: Partition columns when the table is created; for an existing table
                they must equal the table's partitioning.
            batch_id: Idempotency batch number (Delta ``txnVersion``; needs ``app_id``).
                A batch at or below the last committed one for ``app_id`` is skipped.
            run_id: Free-form run identifier recorded in the commit's ``userMetadata``.

        Returns:
            The committed write, or a skipped result (empty input, batch already committed).

        Raises:
            SchemaMismatchError: A narrowing or unrelated type change, new columns without
                schema evolution, or a partitioning different from the table's.
            ConstraintViolationError: A row violates a CHECK, NOT NULL or generated-column
                constraint; nothing was committed.
            ConcurrentWriteError: Delta conflicts persisted through every retry.
            ReconciliationError: Delta wrote a different number of rows than ``df`` holds.
        """
        call = self._start("append", target, df, batch_id, run_id)
        return execute(self, call, lambda: plan_append(self, call, df, partition_by))

    def overwrite(
        self,
        df: DataFrame,
        target: str,
        *,
        allow_full_overwrite: bool = False,
        overwrite_schema: bool = False,
        batch_id: int | None = None,
        run_id: str | None = None,
    ) -> WriteResult:
        """Replace the whole table with ``df`` in one atomic Delta commit, only when allowed.

        Args:
            df: The table's new content.
            target: Table path or catalog name.
            allow_full_overwrite: Must be True: a full overwrite is refused otherwise.
            overwrite_schema: Replace the table's schema with ``df``'s too (Delta's
                ``overwriteSchema``: columns may be dropped, added or change type). Needs
                ``allow_full_overwrite``; recorded in the commit's ``userMetadata``.
            batch_id: Idempotency batch number (see :meth:`append`).
            run_id: Run identifier recorded in ``userMetadata``.

        Returns:
            The committed write, or skipped for an empty input (which would empty the table).

        Raises:
            UnsafeWriteError: ``allow_full_overwrite`` is False; nothing is read or written.
            SchemaMismatchError: Without ``overwrite_schema``: a narrowing or unrelated type
                change, or new columns without schema evolution.
            ConstraintViolationError: A row violates a table constraint.
            ConcurrentWriteError: Delta conflicts persisted through every retry.
            ReconciliationError: Delta wrote a different number of rows than ``df`` holds.
        """
        call = self._start("overwrite", target, df, batch_id, run_id)
        return execute(
            self,
            call,
            lambda: plan_overwrite(
                self,
                call,
                df,
                allow_full_overwrite=allow_full_overwrite,
                overwrite_schema=overwrite_schema,
            ),
        )

    def overwrite_partitions(
        self,
        df: DataFrame,
        target: str,
        replace_where: str,
        *,
        partition_by: Sequence[str] | None = None,
        allow_empty: bool = False,
        batch_id: int | None = None,
        run_id: str | None = None,
    ) -> WriteResult:
        """Atomically replace exactly the rows ``replace_where`` selects with ``df``.

        Every incoming row must satisfy the predicate (a NULL result counts as outside). The
        check runs inside the write job itself (no extra scan); only when it fails does a
        second job count and sample the offending rows for the error. A predicate on a
        column only the table has (a generated column such as ``d DATE GENERATED ALWAYS AS
        (CAST(ts AS DATE))``) is checked by Delta on the rows as it writes them, and a row
        outside it raises the same error.

        An empty ``df`` is skipped unless ``allow_empty=True``: then the rows the predicate
        selects are removed in ONE Delta ``DELETE`` commit (e.g. a gold date whose source
        rows all disappeared), with the same batch idempotency, metadata, retries, hooks and
        rollback as a replacement. Its ``rows_deleted`` comes from Delta's ``numDeletedRows``.

        Args:
            df: The replacement rows.
            target: Table path or catalog name.
            replace_where: SQL predicate selecting the rows to replace, e.g.
                ``"event_date = '2024-01-01'"``.
            partition_by: Partition columns when the write creates the table (a path table
                in the same commit as the rows; a catalog table, as in :meth:`append`, gets a
                metadata-only CREATE TABLE commit first); for an existing table they must
                equal the table's partitioning. None or empty asks for nothing.
            allow_empty: Let an empty ``df`` delete the selected rows instead of being
                skipped. Without it an empty input makes no commit.
            batch_id: Idempotency batch number (see :meth:`append`).
            run_id: Run identifier recorded in ``userMetadata``.

        Returns:
            The committed write, or skipped (empty input without ``allow_empty``, an empty
            input for a table that does not exist, no row matching an empty replacement,
            batch already committed).

        Raises:
            UnsafeWriteError: The predicate is blank, or rows fall outside it; the table is
                unchanged.
            UnresolvedColumnError: The predicate names a column neither ``df`` nor the
                table has.
            ConstraintViolationError: A row violates a table constraint (reported as the
                constraint, not as a scope problem).
            SchemaMismatchError: A narrowing or unrelated type change, new columns without
                schema evolution, or a ``partition_by`` different from the table's.
            ValueError: ``partition_by`` names a column ``df`` does not have.
            ConcurrentWriteError: Delta conflicts persisted through every retry.
            ReconciliationError: Delta wrote a different number of rows than ``df`` holds, or
                an empty replacement's commit reports inserted rows.
        """
        call = self._start("overwrite_partitions", target, df, batch_id, run_id)
        return execute(
            self,
            call,
            lambda: plan_overwrite_partitions(
                self,
                call,
                df,
                replace_where=replace_where,
                partition_by=partition_by,
                allow_empty=allow_empty,
            ),
        )

    def merge(
        self,
        df: DataFrame,
        target: str,
        keys: str | Sequence[str],
        *,
        update_columns: Sequence[str] | None = None,
        delete_when: str | None = None,
        prune_by_key_range: bool = False,
        batch_id: int | None = None,
        run_id: str | None = None,
    ) -> WriteResult:
        """Upsert ``df`` into ``target`` on ``keys`` (update matches, insert the rest).

        The source's keys are checked inside the MERGE job itself: a window counting the
        rows per key and an ``assert_true`` on that count and on NULL keys abort the job
        before Delta commits, so the check costs no pass of its own. With
        ``check_target_keys`` (the default) the same job also refuses a batch whose keys the
        table already holds more than once, from a semi-join of the table's key columns on
        the batch's keys (it scans the table's key columns, as the MERGE's own match does,
        but aggregates only the rows matching the batch); the scan is skipped when the
        table's newest commit is this writer's checked merge on the same keys, which leaves
        them unique (its user metadata says so: ``unique_keys``). Only when a check fires do a
        count job and a sample job run, to name the offending keys. Afterwards inserted +
        updated + deleted must equal the commit's ``numSourceRows``. An empty source makes
        Delta commit nothing. Creating a missing table from the source checks the keys with
        one aggregation first. Source columns narrower than the table's are cast (see
        ``WriteResult.casts``).

        Args:
            df: Source rows, at most one per key.
            target: Table path or catalog name (created from ``df`` when missing).
            keys: Column(s) identifying a row in both source and target.
            update_columns: Columns to update on a match (default: all source columns).
            delete_when: SQL condition over aliases ``s`` (source) and ``t`` (target); matched
                rows satisfying it are deleted instead of updated.
            prune_by_key_range: Add each key's lowest and highest batch value to the match
                condition (``t.k >= min AND t.k <= max``, implied by ``t.k = s.k``, so the
                result is the same) and to the target-key check, so Delta's data skipping
                reads only the files whose key statistics overlap the batch. Costs one
                aggregation over the batch; pays off when keys grow with time (sequence or
                dated ids) and a batch's keys fall in few files. Integer, decimal, string,
                date and timestamp keys are ranged; others are left as they are.
            batch_id: Idempotency batch number (see :meth:`append`).
            run_id: Run identifier recorded in ``userMetadata``.

        Returns:
            The committed write, or skipped (empty input, batch already committed).

        Raises:
            MissingKeyError: A key column is missing or some source keys are NULL.
            DuplicateKeyError: Some key occurs more than once in the source.
            DuplicateTargetKeyError: The table holds some key of the batch more than once.
            SchemaMismatchError: A narrowing or unrelated type change, or new columns
                without schema evolution.
            UnresolvedColumnError: ``delete_when`` names an unknown column.
            ConstraintViolationError: A row violates a table constraint.
            ConcurrentWriteError: Delta conflicts persisted through every retry.
            ReconciliationError: The commit's counts do not add up to the source rows.
        """
        key_list = [keys] if isinstance(keys, str) else list(keys)
        call = self._start("merge", target, df, batch_id, run_id)
        return execute(
            self,
            call,
            lambda: plan_merge(
                self,
                call,
                df,
                key_list,
                update_columns=update_columns,
                delete_when=delete_when,
                prune_by_key_range=prune_by_key_range,
            ),
        )

    def scd2_merge(
        self,
        df: DataFrame,
        target: str,
        keys: str | Sequence[str],
        *,
        tracked_columns: Sequence[str],
        effective_at: EffectiveAt,
        delete_missing: bool = False,
        valid_from_column: str = "valid_from",
        valid_to_column: str = "valid_to",
        current_column: str = "is_current",
        batch_id: int | None = None,
        run_id: str | None = None,
    ) -> WriteResult:
        """Apply ``df`` as SCD Type 2 history in one MERGE commit.

        For a key whose tracked columns changed, the current row is closed
        (``valid_to = effective_at``, ``is_current = false``) and a new current version is
        inserted; new keys are inserted; unchanged rows are left alone. With
        ``delete_missing`` the source is a full snapshot: current rows whose key is absent
        are closed. Columns not in ``tracked_columns`` are stored with new versions but a
        change in them alone does not create one.

        History only moves forward: a change effective at or before the ``valid_from`` of
        its key's current row (a late or replayed change) is refused with
        :class:`~delta_safe_writer.errors.OutOfOrderChangeError` before anything is committed,
        because closing the current row there would leave a zero-length or overlapping
        interval. That includes a change effective exactly at ``valid_from``. A row whose
        tracked values equal the current ones is no change, whatever its time: left alone.
        With ``delete_missing``, closing an absent key at or before its ``valid_from`` is
        refused the same way. A key of the batch with several current rows in the table is
        refused too (:class:`~delta_safe_writer.errors.DuplicateTargetKeyError`).

        Costs: one aggregation over the source keys (as :meth:`merge`), then the MERGE,
        whose staged source joins the source with the table's current rows; the order and
        current-row checks are assertions inside that join (no pass of their own). Only when
        one fails, a count job and a sample job for the error.

        Args:
            df: Source rows, at most one per key, without the history columns.
            target: Table path or catalog name (created with all rows current when missing).
            keys: Business key column(s).
            tracked_columns: Columns whose change starts a new version.
            effective_at: When the change takes effect: a datetime/date for the whole batch,
                or the name of a timestamp/date column of ``df``.
            delete_missing: Treat ``df`` as a full snapshot and close current rows whose key
                is absent (needs a datetime/date ``effective_at``).
            valid_from_column: Name of the validity start column.
            valid_to_column: Name of the validity end column (NULL while current).
            current_column: Name of the boolean current-version flag.
            batch_id: Idempotency batch number (see :meth:`append`).
            run_id: Run identifier recorded in ``userMetadata``.

        Returns:
            The committed write, or skipped (empty input, batch already committed, or no
            tracked column changed so Delta made no commit).

        Raises:
            ValueError: Bad arguments (no tracked columns, history columns in ``df``,
                ``delete_missing`` with a column ``effective_at``).
            MissingKeyError: A key column is missing or some source keys are NULL.
            DuplicateKeyError: Some key occurs more than once in the source.
            DuplicateTargetKeyError: Some key of the batch has several current rows.
            OutOfOrderChangeError: A change (or, with ``delete_missing``, a close) is
                effective at or before its key's current ``valid_from``.
            SchemaMismatchError: A narrowing or unrelated type change, new columns without
                schema evolution, or a target lacking the history columns.
            ConcurrentWriteError: Delta conflicts persisted through every retry.
            ReconciliationError: The commit's counts are inconsistent with the source.
        """
        key_list = [keys] if isinstance(keys, str) else list(keys)
        columns = Scd2Columns(valid_from_column, valid_to_column, current_column)
        call = self._start("scd2_merge", target, df, batch_id, run_id)
        return execute(
            self,
            call,
            lambda: plan_scd2(
                self,
                call,
                df,
                key_list,
                tracked_columns=tracked_columns,
                effective_at=effective_at,
                delete_missing=delete_missing,
                columns=columns,
            ),
        )

    def restore(self, target: str, version: int, *, run_id: str | None = None) -> WriteResult:
        """Restore ``target`` to an earlier ``version`` (a new commit; history is kept).

        Args:
            target: Table path or catalog name.
            version: The version whose content to restore.
            run_id: Run identifier recorded in ``userMetadata``.

        Returns:
            The RESTORE commit; row fields are None (Delta reports files, see ``metrics``).

        Raises:
            TableNotFoundError: There is no Delta table at ``target``.
            ConcurrentWriteError: Delta conflicts persisted through every retry.
        """
        call = self._start("restore", target, None, None, run_id)
        return execute(self, call, lambda: plan_restore(call, version))

    def history(self, target: str, limit: int | None = None) -> list[dict[str, Any]]:
        """Return ``target``'s commits, newest first, with this writer's metadata decoded.

        Args:
            target: Table path or catalog name.
            limit: How many of the newest commits (all when None).

        Returns:
            One dict per commit: ``version``, ``timestamp`` and ``timestamp_ms``,
            ``operation``, ``operationParameters``, ``operationMetrics``, ``userMetadata``
            (raw) and ``writer_metadata`` (decoded JSON, empty for commits made by others).

        Raises:
            TableNotFoundError: There is no Delta table at ``target``.
        """
        call = self._start("history", target, None, None, None)
        try:
            commits = call.table.history(limit)
        except Exception as exc:
            error = typed(call, exc)
            if error is None:
                raise
            raise error from exc
        for commit in commits:
            commit["writer_metadata"] = parse_user_metadata(commit.get("userMetadata"))
        return commits

    # ------------------------------------------------------------------ helpers

    def _start(
        self,
        operation: str,
        target: str,
        df: DataFrame | None,
        batch_id: int | None,
        run_id: str | None,
    ) -> Call:
        if batch_id is not None:
            if self.app_id is None:
                raise ValueError(
                    f"{operation} to {target} got batch_id={batch_id} but the writer has no "
                    f"app_id; build it with SafeDeltaWriter(spark, app_id='your-job') so Delta "
                    f"can tell this job's batches apart."
                )
            if isinstance(batch_id, bool) or not isinstance(batch_id, int) or batch_id < 0:
                raise ValueError(
                    f"batch_id must be a non-negative int (Delta txnVersion), got {batch_id!r}"
                )
        return Call(
            operation=operation,
            table=Table(self.spark, target, self.engine),
            df=df,
            batch_id=batch_id,
            run_id=run_id,
            app_id=self.app_id,
        )
