"""scd2_merge: SCD Type 2 as one MERGE (a staged-union source, clauses that close and insert)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from functools import reduce
from typing import TYPE_CHECKING

from pyspark.sql import functions as sf

from delta_safe_writer._checks import (
    SAMPLE_SIZE,
    SchemaCheck,
    check_key_columns,
    check_schema,
    profile_keys,
    raise_for_bad_keys,
    raise_for_target_duplicates,
)
from delta_safe_writer._classify import user_raised
from delta_safe_writer._engine import MergeClause, MergeSpec
from delta_safe_writer._protocol import Call, Expectation, Plan, metric
from delta_safe_writer._sql import quote, string_literal, timestamp_literal
from delta_safe_writer._types import cast_columns
from delta_safe_writer._write import check_columns_exist, create_plan
from delta_safe_writer.errors import OutOfOrderChangeError, SchemaMismatchError

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame

    from delta_safe_writer._result import WriteResult
    from delta_safe_writer._writer import SafeDeltaWriter

EFFECTIVE = "_dsw_effective_at"
PRESENT = "_dsw_present"
#: Message of the assertion that aborts the MERGE job when a change is out of order.
OUT_OF_ORDER_MARKER = "delta-safe-writer: SCD2 change at or before the current valid_from"
#: Message of the assertion that aborts the MERGE job when a key has several current rows.
DUPLICATE_CURRENT_MARKER = "delta-safe-writer: SCD2 key with several current rows in the table"
CURRENT_ROWS = "_dsw_current_rows"
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
    # The same SQL the MERGE's NOT MATCHED BY SOURCE clause uses for the batch time.
    return sf.expr(timestamp_literal(effective_at))


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
    table: DataFrame,
    keys: Sequence[str],
    tracked: Sequence[str],
    effective_at: EffectiveAt,
    columns: Scd2Columns,
) -> DataFrame:
    """Source rows keyed for matching, plus unkeyed copies of the changed rows.

    A changed row must both close the current version (matched on its key) and insert a new
    one (not matched): the unkeyed copy never matches, so the same MERGE inserts it.

    The join finding the changed rows also asserts, for every matched key, that the table
    holds exactly one current row for it (message :data:`DUPLICATE_CURRENT_MARKER`; a key
    with two current rows would close both, or keep one of them current beside the new
    version) and that each change is effective after the start of the version it closes
    (:data:`OUT_OF_ORDER_MARKER`). A failing ``assert_true`` aborts the MERGE job before
    Delta commits, so the checks cost no pass of their own.
    """
    from pyspark.sql import Window

    source = df.withColumn(EFFECTIVE, effective_column(effective_at))
    current = table.filter(sf.col(quote(columns.is_current)))
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
    matched = source.alias("s").join(current.alias("t"), on, "inner")
    per_key = Window.partitionBy(*[sf.col(f"s.{quote(k)}") for k in keys])
    counted = matched.withColumn(CURRENT_ROWS, sf.count(sf.lit(1)).over(per_key))
    # One expression, evaluated left to right for every matched row: both assertions run
    # before the change filter decides, whatever order the optimiser gives the filters.
    changed = counted.filter(
        sf.coalesce(
            sf.assert_true(sf.col(CURRENT_ROWS) == 1, sf.lit(DUPLICATE_CURRENT_MARKER)),
            sf.assert_true(in_order, sf.lit(OUT_OF_ORDER_MARKER)),
            is_change,
        )
    ).select("s.*")
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
    table: DataFrame,
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
    current = table.filter(sf.col(quote(columns.is_current)))
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


def scd2_spec(
    *,
    staged: DataFrame,
    data_columns: Sequence[str],
    keys: Sequence[str],
    tracked: Sequence[str],
    columns: Scd2Columns,
    close_missing_at: dt.datetime | dt.date | None,
    schema_evolution: bool,
) -> MergeSpec:
    """The MERGE closing changed (and optionally missing) current rows and inserting versions."""
    current = quote(columns.is_current)
    on = (
        " AND ".join(f"t.{quote(k)} = s.{MERGE_KEY_PREFIX}{i}" for i, k in enumerate(keys))
        + f" AND t.{current} = true"
    )
    values = {quote(c): f"s.{quote(c)}" for c in data_columns}
    values[quote(columns.valid_from)] = f"s.{EFFECTIVE}"
    values[quote(columns.valid_to)] = "CAST(NULL AS TIMESTAMP)"
    values[current] = "true"
    clauses = [
        MergeClause(
            "update",
            _changed_condition(tracked, "t", "s"),
            {quote(columns.valid_to): f"s.{EFFECTIVE}", current: "false"},
        ),
        MergeClause("insert", assignments=values),
    ]
    if close_missing_at is not None:
        close_at = timestamp_literal(close_missing_at)
        valid_from = f"t.{quote(columns.valid_from)}"
        # Closing an absent key at or before its version's start aborts the MERGE job, as
        # an out-of-order change does in the staged source.
        in_order = f"coalesce(NOT t.{current} OR {close_at} > {valid_from}, true)"
        clauses.append(
            MergeClause(
                "source_update",
                f"t.{current} AND assert_true({in_order}, "
                f"{string_literal(OUT_OF_ORDER_MARKER)}) IS NULL",
                {quote(columns.valid_to): close_at, current: "false"},
            )
        )
    return MergeSpec(staged, on, clauses, schema_evolution=schema_evolution)


def check_arguments(
    df: DataFrame,
    *,
    target: str,
    tracked_columns: Sequence[str],
    effective_at: EffectiveAt,
    delete_missing: bool,
    columns: Scd2Columns,
) -> None:
    """Refuse inconsistent SCD2 arguments before anything runs.

    Raises:
        ValueError: No tracked columns, unknown columns, history columns in ``df``, or
            ``delete_missing`` with a column ``effective_at``.
        TypeError: ``effective_at`` is neither a datetime, a date nor a column name.
    """
    if not tracked_columns:
        raise ValueError(
            f"scd2_merge into {target} needs tracked_columns: the columns whose change "
            f"starts a new version."
        )
    check_columns_exist(df, tracked_columns, target, "tracked_columns")
    clash = [c for c in columns.all() if c.lower() in {n.lower() for n in df.columns}]
    if clash:
        raise ValueError(
            f"The DataFrame for scd2_merge into {target} already has history column(s) "
            f"{', '.join(clash)}; the writer manages them. Drop them from the source."
        )
    if isinstance(effective_at, str):
        check_columns_exist(df, [effective_at], target, "effective_at")
        if delete_missing:
            raise ValueError(
                f"scd2_merge into {target} with delete_missing=True needs effective_at "
                f"as a datetime: rows closed because their key is missing have no source "
                f"row to take column {effective_at!r} from."
            )
    elif not isinstance(effective_at, dt.date):
        raise TypeError(
            f"effective_at must be a datetime, a date or a column name, got {effective_at!r}"
        )


def plan_scd2(
    writer: SafeDeltaWriter,
    call: Call,
    df: DataFrame,
    keys: Sequence[str],
    *,
    tracked_columns: Sequence[str],
    effective_at: EffectiveAt,
    delete_missing: bool,
    columns: Scd2Columns,
) -> Plan | WriteResult:
    """Check an SCD2 batch (arguments, keys, schema, history columns) and plan its MERGE."""
    target = call.table.name
    check_arguments(
        df,
        target=target,
        tracked_columns=tracked_columns,
        effective_at=effective_at,
        delete_missing=delete_missing,
        columns=columns,
    )
    check_key_columns(df.schema, keys, table=target)
    table_schema = call.table.schema()
    check = SchemaCheck()
    if table_schema is not None:
        check_key_columns(table_schema, keys, table=target, where="target table")
        missing = [c for c in columns.all() if c not in table_schema.fieldNames()]
        if missing:
            raise SchemaMismatchError(
                f"Table {target} has no SCD2 history column(s) {', '.join(missing)}. Point "
                f"valid_from_column/valid_to_column/current_column at its columns, or "
                f"write SCD2 history to a new table.",
                table=target,
                column=missing[0],
                table_type=None,
                incoming_type="(history column)",
            )
        check = check_schema(
            df.schema, table_schema, table=target, allow_evolution=writer.allow_schema_evolution
        )
    profile = profile_keys(df, keys)
    if profile.rows == 0:
        return call.skipped(
            "empty input: nothing to merge (an empty snapshot never closes rows), no commit made",
            0,
        )
    raise_for_bad_keys(df, keys, profile, table=target)
    if table_schema is None:
        return create_plan(call, first_load(df, effective_at, columns), source_rows=profile.rows)
    source = cast_columns(df, check.casts)
    close_at = effective_at if delete_missing and not isinstance(effective_at, str) else None

    def action() -> None:
        staged = staged_source(
            source,
            table=call.table.frame(),
            keys=keys,
            tracked=tracked_columns,
            effective_at=effective_at,
            columns=columns,
        )
        spec = scd2_spec(
            staged=staged,
            data_columns=df.columns,
            keys=keys,
            tracked=tracked_columns,
            columns=columns,
            close_missing_at=close_at,
            schema_evolution=bool(check.new_columns),
        )
        with call.confs():
            call.table.engine.merge(call.table, spec)

    def expect(result: WriteResult) -> Expectation:
        metrics = result.metrics
        changed = metric(metrics, "numSourceRows") - profile.rows
        inserted = metric(metrics, "numTargetRowsInserted")
        closed = metric(metrics, "numTargetRowsMatchedUpdated")
        new_keys = inserted - changed
        expected_new = min(max(new_keys, 0), profile.rows - max(changed, 0))
        return Expectation(
            expected={"closed versions": max(changed, 0), "new keys": expected_new, "deleted": 0},
            actual={
                "closed versions": closed,
                "new keys": new_keys,
                "deleted": metric(metrics, "numTargetRowsDeleted"),
            },
            rule=(
                "each changed key must close exactly one current row and insert one version, "
                "each new key insert one row; otherwise the table holds several current rows "
                "for a key"
            ),
        )

    def diagnose(exc: BaseException) -> None:
        # Nothing was committed: explain which keys (a count and a sample job).
        if user_raised(exc, DUPLICATE_CURRENT_MARKER):
            current = call.table.frame().filter(sf.col(quote(columns.is_current)))
            raise_for_target_duplicates(current, df, keys, table=target, rows="current row")
        if user_raised(exc, OUT_OF_ORDER_MARKER):
            late = out_of_order_changes(
                source,
                table=call.table.frame(),
                keys=keys,
                tracked=tracked_columns,
                effective_at=effective_at,
                columns=columns,
                close_missing_at=close_at,
            )
            raise_for_out_of_order(
                late,
                table=target,
                keys=keys,
                effective_at=effective_at,
                delete_missing=delete_missing,
            )

    return Plan(
        action=action,
        expect=expect,
        diagnose=diagnose,
        source_rows=profile.rows,
        casts=check.casts,
    )
