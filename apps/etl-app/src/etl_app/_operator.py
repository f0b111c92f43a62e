"""Operator commands on the batch ledger: list batches, skip a refused one, replay it.

A batch that silver refuses (an out-of-order SCD2 change, a failed gate, a reconciliation
mismatch) stays pending and blocks the later batches of ITS source (they must land in order);
the other sources and gold go on. The way out is explicit and recorded in the ledger table:
``etl-app batches skip <source> <batch> --reason TEXT`` takes it out of silver and gold for good
(its bronze rows stay as the record of what arrived), ``etl-app batches replay`` puts it back.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from etl_app import _storage
from etl_app._state import Ledger

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from etl_app._config import AppConfig


def list_batches(config: AppConfig, spark: SparkSession) -> str:
    """The ledger's batches as a table: source, id, status, bronze rows, silver version, file."""
    ledger = Ledger.load(spark, _storage.resolve(config.output.root))
    lines = [
        f"ledger {ledger.location}",
        f"{'source':<12} {'batch':>5}  {'status':<14} {'bronze':>7}  {'silver v':>8}  file / note",
    ]
    for source, batches in sorted(ledger.sources.items()):
        for batch in batches:
            version = "" if batch.silver_version is None else str(batch.silver_version)
            rows = "" if batch.bronze_rows is None else str(batch.bronze_rows)
            note = f"  (skipped: {batch.skipped})" if batch.skipped else ""
            lines.append(
                f"{source:<12} {batch.batch_id:>5}  {batch.status:<14} {rows:>7}  "
                f"{version:>8}  {batch.file}{note}"
            )
    if len(lines) == 2:
        lines.append("(no batches)")
    return "\n".join(lines)


def skip_batch(
    config: AppConfig, spark: SparkSession, source: str, batch_id: int, reason: str
) -> str:
    """Skip a batch silver has not taken, with a reason; return a one-line confirmation.

    Raises:
        LedgerError: No such batch, it is already in silver, or the reason is empty.
    """
    ledger = Ledger.load(spark, _storage.resolve(config.output.root))
    batch = ledger.skip(source, batch_id, reason)
    ledger.save()
    return (
        f"{source} batch {batch_id} ({batch.file}) skipped: {reason}. Later {source} batches "
        f"go on; undo with `etl-app batches replay {source} {batch_id}`."
    )


def replay_batch(config: AppConfig, spark: SparkSession, source: str, batch_id: int) -> str:
    """Make a skipped batch pending again; return a one-line confirmation.

    Raises:
        LedgerError: No such batch, or it is not skipped.
    """
    ledger = Ledger.load(spark, _storage.resolve(config.output.root))
    ledger.replay(source, batch_id)
    ledger.save()
    return f"{source} batch {batch_id} is pending again: the next run retries it in silver."
