"""Public exceptions raised by :class:`delta_safe_writer.SafeDeltaWriter`.

Every exception derives from :class:`SafeWriteError` and carries what went wrong, on which
table (and column or key sample) and what to do next. Unless stated otherwise the table is
unchanged when one of them is raised, because the check runs before Delta commits anything.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any


class SafeWriteError(Exception):
    """Base class of every error raised by the safe writer.

    Attributes:
        table: The target table (path or catalog name) the write was aimed at.
    """

    def __init__(self, message: str, *, table: str) -> None:
        super().__init__(message)
        self.table = table


class MissingKeyError(SafeWriteError):
    """Merge keys are absent from the source or target, or some source rows have NULL keys.

    Attributes:
        keys: The merge keys asked for.
        missing_columns: Key columns that do not exist (empty when the problem is NULL values).
        null_key_rows: How many source rows have a NULL in at least one key column.
    """

    def __init__(
        self,
        message: str,
        *,
        table: str,
        keys: Sequence[str],
        missing_columns: Sequence[str] = (),
        null_key_rows: int = 0,
    ) -> None:
        super().__init__(message, table=table)
        self.keys = tuple(keys)
        self.missing_columns = tuple(missing_columns)
        self.null_key_rows = null_key_rows


class DuplicateKeyError(SafeWriteError):
    """The source of a merge holds more than one row for some key.

    Attributes:
        keys: The merge keys.
        duplicate_keys: How many distinct key values occur more than once.
        sample: Up to five offending key values with their row counts.
    """

    def __init__(
        self,
        message: str,
        *,
        table: str,
        keys: Sequence[str],
        duplicate_keys: int,
        sample: Sequence[dict[str, Any]],
    ) -> None:
        super().__init__(message, table=table)
        self.keys = tuple(keys)
        self.duplicate_keys = duplicate_keys
        self.sample = tuple(sample)


class DuplicateTargetKeyError(DuplicateKeyError):
    """The target of a merge already holds more than one row for some key of the batch.

    A MERGE would update (or delete) every one of those rows from a single source row, so
    the table would keep its duplicates with new values. Found inside the MERGE job, before
    Delta commits: the table and its history are unchanged. Only the batch's keys are
    checked; duplicates of keys the batch does not touch are left alone.

    Attributes:
        keys: The merge keys.
        duplicate_keys: How many of the batch's key values occur more than once in the table.
        sample: Up to five of them with their row counts in the table.
    """


class SchemaMismatchError(SafeWriteError):
    """The incoming schema changes a column's type, or adds columns without schema evolution.

    Attributes:
        column: The first offending column (for new columns, the first of them).
        table_type: The column's type in the table, or None for a new column.
        incoming_type: The column's type in the incoming DataFrame.
    """

    def __init__(
        self,
        message: str,
        *,
        table: str,
        column: str,
        table_type: str | None,
        incoming_type: str,
    ) -> None:
        super().__init__(message, table=table)
        self.column = column
        self.table_type = table_type
        self.incoming_type = incoming_type


class ConstraintViolationError(SafeWriteError):
    """Delta refused a row that violates a table constraint; nothing was committed.

    Covers CHECK constraints, NOT NULL columns and generated columns (a value given for a
    generated column must equal its generation expression). The Delta exception is chained
    as ``__cause__``.

    Attributes:
        kind: ``"check"``, ``"not_null"`` or ``"generated"``.
        constraint: The constraint's name as Delta reports it (``"Generated Column"`` for a
            generated column, the column name for NOT NULL).
        expression: The constraint's expression (for NOT NULL, ``"<column> IS NOT NULL"``).
        values: The offending row's values Delta reports, by column, as Delta prints them
            (dates as days and timestamps as microseconds since the epoch).
        operation: The writer operation that was refused.
    """

    def __init__(
        self,
        message: str,
        *,
        table: str,
        kind: str,
        constraint: str,
        expression: str,
        values: Mapping[str, str],
        operation: str,
    ) -> None:
        super().__init__(message, table=table)
        self.kind = kind
        self.constraint = constraint
        self.expression = expression
        self.values = dict(values)
        self.operation = operation


class TableNotFoundError(SafeWriteError):
    """The operation needs an existing Delta table and there is none at the target.

    Attributes:
        operation: The writer operation (``restore``, ``history``, ...).
    """

    def __init__(self, message: str, *, table: str, operation: str) -> None:
        super().__init__(message, table=table)
        self.operation = operation


class UnresolvedColumnError(SafeWriteError):
    """A predicate or condition given to the writer names a column Spark cannot resolve.

    Raised before anything is committed; the Spark exception is chained as ``__cause__``.

    Attributes:
        column: The name Spark could not resolve, as Spark reports it.
        argument: The writer argument holding the expression (``replace_where``,
            ``delete_when``, ...), or None when Spark did not say where.
        expression: The expression given in that argument, when known.
        suggestions: Columns Spark proposes instead (may be empty).
        error_class: Spark's error class (e.g. ``UNRESOLVED_COLUMN.WITH_SUGGESTION``).
    """

    def __init__(
        self,
        message: str,
        *,
        table: str,
        column: str,
        argument: str | None,
        expression: str | None,
        suggestions: Sequence[str],
        error_class: str | None,
    ) -> None:
        super().__init__(message, table=table)
        self.column = column
        self.argument = argument
        self.expression = expression
        self.suggestions = tuple(suggestions)
        self.error_class = error_class


class OutOfOrderChangeError(SafeWriteError):
    """An SCD2 change takes effect at or before the start of the key's current version.

    Applying it would close the current row at or before it began, leaving an overlapping or
    zero-length interval in the history. Raised when the MERGE job aborts, before Delta
    commits anything.

    Attributes:
        keys: The business key columns.
        effective_at: The ``effective_at`` argument (a column name, or the literal as text).
        out_of_order_keys: How many current rows (one per key) the batch would close at or
            before their ``valid_from``.
        sample: Up to five of them: key values, ``effective_at`` and the current ``valid_from``
            (``effective_at`` is None for a key closed because it is missing from a snapshot).
    """

    def __init__(
        self,
        message: str,
        *,
        table: str,
        keys: Sequence[str],
        effective_at: str,
        out_of_order_keys: int,
        sample: Sequence[dict[str, Any]],
    ) -> None:
        super().__init__(message, table=table)
        self.keys = tuple(keys)
        self.effective_at = effective_at
        self.out_of_order_keys = out_of_order_keys
        self.sample = tuple(sample)


class UnsafeWriteError(SafeWriteError):
    """An overwrite was refused: unscoped, or with rows outside its ``replace_where`` predicate.

    Attributes:
        predicate: The ``replace_where`` predicate, or None for a full overwrite.
        rows_outside: Rows found outside the predicate (a lower bound when only sampled).
        sample: Up to five offending rows as dictionaries.
    """

    def __init__(
        self,
        message: str,
        *,
        table: str,
        predicate: str | None = None,
        rows_outside: int = 0,
        sample: Sequence[dict[str, Any]] = (),
    ) -> None:
        super().__init__(message, table=table)
        self.predicate = predicate
        self.rows_outside = rows_outside
        self.sample = tuple(sample)


class ConcurrentWriteError(SafeWriteError):
    """Delta kept reporting a concurrent-modification conflict after every retry.

    A failed Delta commit writes nothing, so the table holds only other writers' commits.

    Attributes:
        conflict: Name of the last Delta conflict exception (e.g. ``ConcurrentAppendException``).
        attempts: How many times the write was tried.
    """

    def __init__(self, message: str, *, table: str, conflict: str, attempts: int) -> None:
        super().__init__(message, table=table)
        self.conflict = conflict
        self.attempts = attempts


class ReconciliationError(SafeWriteError):
    """Delta's commit metrics do not add up to the input, so rows were lost or duplicated.

    Raised after the commit; with ``rollback_on_failure`` the table has already been restored
    to the version before the write when you see it.

    Attributes:
        version: The table version whose metrics did not reconcile.
        expected: What the input implies, by metric name.
        actual: What Delta's ``operationMetrics`` reported, by metric name.
    """

    def __init__(
        self,
        message: str,
        *,
        table: str,
        version: int,
        expected: dict[str, int],
        actual: dict[str, int],
    ) -> None:
        super().__init__(message, table=table)
        self.version = version
        self.expected = dict(expected)
        self.actual = dict(actual)


class RollbackError(SafeWriteError):
    """Rolling back a failed write was impossible or unsafe; the table needs a look by hand.

    Attributes:
        version: The version the failed write committed.
    """

    def __init__(self, message: str, *, table: str, version: int) -> None:
        super().__init__(message, table=table)
        self.version = version


class StorageUnavailableError(SafeWriteError):
    """The table's storage (an object store such as S3) could not be reached or refused access.

    Raised when the Delta action (or a read of the table before it) fails because the
    storage endpoint is unreachable, does not answer in time, or rejects the credentials.
    Delta commits by writing one log object at the end, so nothing was committed: the table
    is as it was. The message names the endpoint, never a credential.

    Attributes:
        operation: The writer operation.
        endpoint: The storage endpoint the session is configured to use for the table
            (``fs.s3a.endpoint`` or its per-bucket form for ``s3a://``; the URI's host for
            other schemes); ``"default for the scheme"`` when none is configured.
        reason: What the storage client reported (first line, secrets removed).
    """

    def __init__(
        self, message: str, *, table: str, operation: str, endpoint: str, reason: str
    ) -> None:
        super().__init__(message, table=table)
        self.operation = operation
        self.endpoint = endpoint
        self.reason = reason
