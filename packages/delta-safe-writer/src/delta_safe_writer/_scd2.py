"""SCD Type 2 as one MERGE: the staged-union source and the clauses that close and insert."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from functools import reduce
from typing import TYPE_CHECKING

from pyspark.sql import functions as sf

from delta_safe_writer._checks import SAMPLE_SIZE, quote
from delta_safe_writer.errors import OutOfOrderChangeError

if TYPE_CHECKING:
    from delta.tables import DeltaMergeBuilder, DeltaTable
    from pyspark.sql import Column, DataFrame

EFFECTIVE = "_dsw_effective_at"
PRESENT = "_dsw_present"
#: Message of the assertion that aborts the MERGE job when a change is out of order.
OUT_OF_ORDER_MARKER = "delta-safe-writer: SCD2 change at or before the current valid_from"
MERGE_KEY_PREFIX = "_dsw_merge_key_"

EffectiveAt = dt.datetime | dt.date | str


@dataclass(frozen=True)
class Scd2Columns:
    """Names of the history columns the writer manages."""

    valid_from: str = "valid_from"
    valid_to: str = "valid_to"
    is_current: str = "is_current"

    def all(self) -> tuple[str, str, str]:
        """The three names in table order."""
        return (self.valid_from, self.valid_to, self.is_current)


def effective_column(effective_at: EffectiveAt) -> Column:
    """The validity start as a timestamp column: a source column name or a literal."""
    if isinstance(effective_at, str):
        return sf.col(quote(effective_at)).cast("timestamp")
    return sf.lit(effective_at).cast("timestamp")


def first_load(df: DataFrame, effective_at: EffectiveAt, columns: Scd2Columns) -> DataFrame:
    """Every source row as the current version, for a table that does not exist yet."""
    return df.select(
        *[sf.col(quote(c)) for c in df.columns],
        effective_column(effective_at).alias(columns.valid_from),
        sf.lit(None).cast("timestamp").alias(columns.valid_to),
        sf.lit(True).alias(columns.is_current),
    )


def _changed_condition(tracked: Sequence[str], left: str, right: str) -> str:
    return " OR ".join(f"NOT ({left}.{quote(c)} <=> {right}.{quote(c)})" for c in tracked)


def staged_source(
    df: DataFrame,
    *,
    table: DeltaTable,
    keys: Sequence[str],
    tracked: Sequence[str],
    effective_at: EffectiveAt,
    columns: Scd2Columns,
) -> DataFrame:
    """Source rows keyed for matching, plus unkeyed copies of the changed rows.

    A changed row must both close the current version (matched on its key) and insert a new
    one (not matched): the unkeyed copy never matches, so the same MERGE inserts it.

    The join finding the changed rows also asserts that each change is effective after the
    start of the version it closes: a failing ``assert_true`` aborts the MERGE job before
    Delta commits (message :data:`OUT_OF_ORDER_MARKER`), so the check costs no pass of its own.
    """
    source = df.withColumn(EFFECTIVE, effective_column(effective_at))
    current = table.toDF().filter(sf.col(quote(columns.is_current)))
    on = reduce(
        lambda a, b: a & b,
        [sf.col(f"s.{quote(k)}") == sf.col(f"t.{quote(k)}") for k in keys],
    )
    is_change = sf.expr(_changed_condition(tracked, "s", "t"))
    # Self-contained (not relying on the change filter running first, which the optimiser
    # may reorder); a NULL effective time is not judged here.
    in_order = sf.coalesce(
        ~is_change | (sf.col(f"s.{EFFECTIVE}") > sf.col(f"t.{quote(columns.valid_from)}")),
        sf.lit(True),
    )
    changed = (
        source.alias("s")
        .join(current.alias("t"), on, "inner")
        .filter(is_change)
        .filter(sf.assert_true(in_order, sf.lit(OUT_OF_ORDER_MARKER)).isNull())
        .select("s.*")
    )
    merge_keys = [f"{MERGE_KEY_PREFIX}{i}" for i in range(len(keys))]
    keyed = source.select(
        *[sf.col(quote(k)).alias(m) for k, m in zip(keys, merge_keys, strict=True)], "*"
    )
    unkeyed = changed.select(
        *[
            sf.lit(None).cast(df.schema[k].dataType).alias(m)
            for k, m in zip(keys, merge_keys, strict=True)
        ],
        "*",
    )
    return keyed.unionByName(unkeyed)


def out_of_order_changes(
    df: DataFrame,
    *,
    table: DeltaTable,
    keys: Sequence[str],
    tracked: Sequence[str],
    effective_at: EffectiveAt,
    columns: Scd2Columns,
    close_missing_at: dt.datetime | dt.date | None,
) -> DataFrame:
    """Current rows the batch would close at or before their ``valid_from``, one per key.

    Used to explain an aborted MERGE (the MERGE itself asserts the same rule as it runs).

    A row is out of order when its key's tracked values changed and the change is effective
    at or before the current version's start (closing it would leave a zero-length or
    inverted interval and a new version overlapping the old ones), or, with
    ``close_missing_at``, when its key is absent from the snapshot and it started at or
    after that time. Unchanged rows are never out of order: the MERGE leaves them alone.

    Returns:
        A lazy frame of the key columns, ``effective_at`` (NULL for keys closed as missing)
        and ``current_valid_from``; nothing is computed until it is counted.
    """
    valid_from = sf.col(f"t.{quote(columns.valid_from)}")
    current = table.toDF().filter(sf.col(quote(columns.is_current)))
    if not isinstance(effective_at, str):
        # With one effective time for the batch, only versions starting at or after it can
        # be out of order: filtering first lets Delta skip files by their valid_from stats.
        current = current.filter(
            sf.col(quote(columns.valid_from)) >= effective_column(effective_at)
        )
    wanted = {k.lower(): k for k in tracked} | {k.lower(): k for k in keys}
    source = df.select(
        *[sf.col(quote(c)) for c in wanted.values()],
        effective_column(effective_at).alias(EFFECTIVE),
        sf.lit(True).alias(PRESENT),
    )
    on = reduce(
        lambda a, b: a & b,
        [sf.col(f"s.{quote(k)}") == sf.col(f"t.{quote(k)}") for k in keys],
    )
    present = sf.col(f"s.{PRESENT}").isNotNull()
    late = (
        present
        & (sf.col(f"s.{EFFECTIVE}") <= valid_from)
        & sf.expr(_changed_condition(tracked, "s", "t"))
    )
    how = "inner"
    if close_missing_at is not None:
        how = "left"
        late = late | (~present & (sf.lit(close_missing_at).cast("timestamp") <= valid_from))
    return (
        current.alias("t")
        .join(source.alias("s"), on, how)
        .filter(late)
        .select(
            *[sf.col(f"t.{quote(k)}").alias(k) for k in keys],
            sf.col(f"s.{EFFECTIVE}").alias("effective_at"),
            valid_from.alias("current_valid_from"),
        )
    )


def raise_for_out_of_order(
    late: DataFrame,
    *,
    table: str,
    keys: Sequence[str],
    effective_at: EffectiveAt,
    delete_missing: bool,
) -> None:
    """Count :func:`out_of_order_changes`; when any, sample them (a second job) and raise.

    Raises:
        OutOfOrderChangeError: Some change is effective at or before its key's current
            ``valid_from``.
    """
    count = late.count()
    if not count:
        return
    sample_rows = late.orderBy(*[sf.col(quote(k)) for k in keys]).limit(SAMPLE_SIZE).collect()
    sample = [row.asDict() for row in sample_rows]
    given = effective_at if isinstance(effective_at, str) else effective_at.isoformat()
    missing = (
        " or closes a key missing from the snapshot (effective_at None in the sample)"
        if delete_missing
        else ""
    )
    raise OutOfOrderChangeError(
        f"Refused scd2_merge into table {table}: for {count} key(s) on "
        f"{', '.join(keys)} the batch changes a tracked column{missing} effective at or "
        f"before the valid_from of the key's current row (effective_at={given!r}); sample: "
        f"{sample}. Closing the current row there would leave a zero-length or overlapping "
        f"interval in the history. Nothing was committed. Replay the changes in effective-time "
        f"order (hold back or drop rows older than the loaded version), or rebuild the "
        f"affected keys' history from the full change log.",
        table=table,
        keys=keys,
        effective_at=given,
        out_of_order_keys=count,
        sample=sample,
    )


def scd2_builder(
    table: DeltaTable,
    *,
    staged: DataFrame,
    data_columns: Sequence[str],
    keys: Sequence[str],
    tracked: Sequence[str],
    columns: Scd2Columns,
    close_missing_at: dt.datetime | dt.date | None,
) -> DeltaMergeBuilder:
    """The MERGE closing changed (and optionally missing) current rows and inserting versions."""
    current = quote(columns.is_current)
    on = (
        " AND ".join(f"t.{quote(k)} = s.{MERGE_KEY_PREFIX}{i}" for i, k in enumerate(keys))
        + f" AND t.{current} = true"
    )
    values: dict[str, str | Column] = {quote(c): f"s.{quote(c)}" for c in data_columns}
    values[quote(columns.valid_from)] = f"s.{EFFECTIVE}"
    values[quote(columns.valid_to)] = "CAST(NULL AS TIMESTAMP)"
    values[current] = "true"
    builder = (
        table.alias("t")
        .merge(staged.alias("s"), on)
        .whenMatchedUpdate(
            condition=_changed_condition(tracked, "t", "s"),
            set={quote(columns.valid_to): f"s.{EFFECTIVE}", current: "false"},
        )
        .whenNotMatchedInsert(values=values)
    )
    if close_missing_at is not None:
        close_at = sf.lit(close_missing_at).cast("timestamp")
        is_current = sf.col(f"t.{current}")
        # Closing an absent key at or before its version's start aborts the MERGE job, as
        # an out-of-order change does in the staged source.
        in_order = sf.coalesce(
            ~is_current | (close_at > sf.col(f"t.{quote(columns.valid_from)}")), sf.lit(True)
        )
        builder = builder.whenNotMatchedBySourceUpdate(
            condition=is_current & sf.assert_true(in_order, sf.lit(OUT_OF_ORDER_MARKER)).isNull(),
            set={quote(columns.valid_to): close_at, current: sf.lit(False)},
        )
    return builder
