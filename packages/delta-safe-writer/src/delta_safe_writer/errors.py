"""Public exceptions raised by :class:`delta_safe_writer.SafeDeltaWriter`.

Every exception derives from :class:`SafeWriteError` and carries what went wrong, on which
table (and column or key sample) and what to do next. Unless stated otherwise the table is
unchanged when one of them is raised, because the check runs before Delta commits anything.
"""

from __future__ import annotations

from collections.abc import Sequence
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
