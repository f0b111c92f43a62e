"""What a write returns (:class:`WriteResult`) and what hooks receive (:class:`WriteContext`)."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pyspark.sql import DataFrame


def _metric(metrics: Mapping[str, str], *names: str) -> int | None:
    """Sum the named metrics that Delta reported, or None when it reported none of them."""
    values = [int(metrics[name]) for name in names if metrics.get(name) is not None]
    return sum(values) if values else None


@dataclass(frozen=True)
class WriteResult:
    """Outcome of one safe write, with row counts taken from Delta's commit metrics.

    Attributes:
        operation: ``append``, ``merge``, ``overwrite``, ``overwrite_partitions``,
            ``scd2_merge`` or ``restore``.
        target: The table path or catalog name written to.
        version: The table version this write committed, or None when skipped.
        skipped: True when nothing was committed (empty input, batch already committed,
            nothing to change).
        reason: Why the write was skipped, else None.
        rows_inserted: Rows added (``numTargetRowsInserted``; for plain writes ``numOutputRows``
            minus ``numCopiedRows``).
        rows_updated: Rows updated in place (``numTargetRowsUpdated``).
        rows_deleted: Rows deleted (``numTargetRowsDeleted`` / ``numDeletedRows``).
        rows_copied: Unchanged rows Delta rewrote (``numTargetRowsCopied`` / ``numCopiedRows``).
        rows_output: Rows in the files the commit added (``numOutputRows``; for a DELETE,
            the ``numCopiedRows`` it rewrote).
        source_rows: Rows in the input, when known without an extra scan.
        duration_s: Wall-clock seconds for the whole call, checks included.
        attempts: How many commit attempts were made (more than 1 after conflicts).
        batch_id: The idempotency batch id given, if any.
        run_id: The run id given, if any.
        metrics: Delta's raw ``operationMetrics`` for the commit (strings, as Delta reports).
        timestamp_ms: The commit's timestamp in milliseconds since the epoch, exactly as
            ``DESCRIBE HISTORY`` reports it for ``version`` (the commit file's modification
            time, or its in-commit timestamp when the table has them), so it can be used with
            ``TIMESTAMP AS OF``; None when skipped. See :attr:`committed_at`.
        casts: Incoming columns the writer cast to the table's wider type, as
            ``{column: (incoming type, table type)}`` (e.g. ``{"n": ("int", "bigint")}``).
    """

    operation: str
    target: str
    version: int | None
    skipped: bool = False
    reason: str | None = None
    rows_inserted: int | None = None
    rows_updated: int | None = None
    rows_deleted: int | None = None
    rows_copied: int | None = None
    rows_output: int | None = None
    source_rows: int | None = None
    duration_s: float = 0.0
    attempts: int = 1
    batch_id: int | None = None
    run_id: str | None = None
    metrics: Mapping[str, str] = field(default_factory=dict)
    timestamp_ms: int | None = None
    casts: Mapping[str, tuple[str, str]] = field(default_factory=dict)

    @property
    def committed_at(self) -> dt.datetime | None:
        """The commit timestamp as a timezone-aware UTC datetime (None when skipped)."""
        if self.timestamp_ms is None:
            return None
        seconds, millis = divmod(self.timestamp_ms, 1000)
        return dt.datetime.fromtimestamp(seconds, dt.UTC).replace(microsecond=millis * 1000)

    @classmethod
    def from_metrics(
        cls,
        operation: str,
        target: str,
        version: int,
        metrics: Mapping[str, str],
        **extra: Any,
    ) -> WriteResult:
        """Build a result for a commit from its ``operationMetrics``.

        Args:
            operation: The writer operation name.
            target: Table path or catalog name.
            version: The committed version.
            metrics: Delta's ``operationMetrics`` map of that commit.
            **extra: Any other field (``source_rows``, ``attempts``, ...).

        Returns:
            The result, with row counts read from whichever metrics Delta reported.
        """
        inserted = _metric(metrics, "numTargetRowsInserted")
        output = _metric(metrics, "numOutputRows")
        if inserted is None and output is not None:
            # A replaceWhere on non-partition columns rewrites files: copied rows are output
            # again without being new.
            inserted = output - (_metric(metrics, "numCopiedRows") or 0)
        if inserted is None and output is None and "numDeletedRows" in metrics:
            # A DELETE reports no output rows: the files it adds hold only copied rows.
            inserted = 0
            output = _metric(metrics, "numCopiedRows") or 0
        return cls(
            operation=operation,
            target=target,
            version=version,
            rows_inserted=inserted,
            rows_updated=_metric(metrics, "numTargetRowsUpdated", "numUpdatedRows"),
            rows_deleted=_metric(metrics, "numTargetRowsDeleted", "numDeletedRows"),
            rows_copied=_metric(metrics, "numTargetRowsCopied", "numCopiedRows"),
            rows_output=output,
            metrics=dict(metrics),
            **extra,
        )

    def replace(self, **changes: Any) -> WriteResult:
        """Return a copy with some fields changed (the result itself is immutable)."""
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """Return the result as plain JSON-serialisable values (for logs and metrics)."""
        data = dataclasses.asdict(self)
        data["metrics"] = dict(self.metrics)
        data["casts"] = {column: list(types) for column, types in self.casts.items()}
        return data


@dataclass(frozen=True)
class WriteContext:
    """What a pre-write or post-write hook is given.

    Attributes:
        operation: The writer operation name (``append``, ``merge``, ...).
        target: The table path or catalog name.
        df: The DataFrame being written (None for ``restore``).
        result: None for pre-write hooks; the committed write's result for post-write hooks.
        batch_id: The idempotency batch id given, if any.
        run_id: The run id given, if any.
    """

    operation: str
    target: str
    df: DataFrame | None
    result: WriteResult | None = None
    batch_id: int | None = None
    run_id: str | None = None


#: A hook: any callable taking a :class:`WriteContext`. Raising aborts (pre) or rolls back (post).
Hook = Callable[[WriteContext], object]
