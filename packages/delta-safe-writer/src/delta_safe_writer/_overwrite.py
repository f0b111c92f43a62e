"""overwrite (the whole table, opt-in) and overwrite_partitions (replaceWhere, or a DELETE)."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import nullcontext
from typing import TYPE_CHECKING, Any

from pyspark.sql import functions as sf

from delta_safe_writer._checks import SchemaCheck, check_schema, raise_outside_predicate
from delta_safe_writer._classify import chain, user_raised
from delta_safe_writer._protocol import Call, Expectation, Plan
from delta_safe_writer._table import session_confs
from delta_safe_writer._types import cast_columns
from delta_safe_writer._write import (
    check_columns_exist,
    check_partitioning,
    dataframe_writer,
    expect_input_rows,
    observe,
    save,
)
from delta_safe_writer.errors import UnsafeWriteError

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

    from delta_safe_writer._result import WriteResult
    from delta_safe_writer._writer import SafeDeltaWriter

REPLACE_WHERE_MARKER = "delta-safe-writer: row outside replace_where"
#: Delta's own check that rows written by a replaceWhere overwrite satisfy the predicate.
REPLACE_WHERE_CHECK_CONF = "spark.databricks.delta.replaceWhere.constraintCheck.enabled"


def plan_overwrite(
    writer: SafeDeltaWriter,
    call: Call,
    df: DataFrame,
    *,
    allow_full_overwrite: bool,
    overwrite_schema: bool,
) -> Plan | WriteResult:
    """Check a full overwrite (allowed? schema? empty?) and plan its write."""
    target = call.table.name
    if not allow_full_overwrite:
        raise UnsafeWriteError(
            f"Refused unscoped overwrite of table {target}: it would replace every row. "
            f"Use overwrite_partitions(df, target, replace_where=...) to replace a slice, "
            f"or pass allow_full_overwrite=True if replacing the whole table is intended "
            f"(and overwrite_schema=True to replace its schema too).",
            table=target,
        )
    table_schema = call.table.schema()
    exists = table_schema is not None
    check = SchemaCheck()
    if table_schema is not None and not overwrite_schema:
        check = check_schema(
            df.schema, table_schema, table=target, allow_evolution=writer.allow_schema_evolution
        )
    if df.isEmpty():
        return call.skipped(
            "empty input: a full overwrite would empty the table; no commit made", 0
        )
    data = cast_columns(df, check.casts)
    observed, observation = observe(data, writer.count_input_rows)
    metadata: dict[str, Any] = {"overwrite_schema": True} if overwrite_schema else {}

    def action() -> None:
        out = dataframe_writer(
            observed, "overwrite", call, evolve=bool(check.new_columns), **metadata
        )
        if overwrite_schema:
            out = out.option("overwriteSchema", "true")
        save(call, out, exists=exists, schema=data.schema)

    return Plan(
        action=action,
        expect=expect_input_rows if observation is not None else None,
        observation=observation,
        casts=check.casts,
    )


def _analyse(df: DataFrame, predicate: str, table: str) -> None:
    """Resolve ``predicate`` against ``df``'s columns, raising Spark's error if it cannot.

    The filter is read through a projection: a Spark Connect client hands a bare filter its
    parent's cached schema, so the filter's own schema would pass without the server
    analysing it.

    Raises:
        UnsafeWriteError: The predicate is not a boolean condition.
    """
    try:
        _ = df.filter(sf.expr(predicate)).select(sf.lit(1).alias("replace_where")).schema
    except Exception as exc:
        if any((f.condition or "").endswith("FILTER_NOT_BOOLEAN") for f in chain(exc)):
            raise UnsafeWriteError(
                f"Refused overwrite_partitions of table {table}: replace_where={predicate!r} "
                f"is not a boolean condition. Give the rows to replace as a condition, for "
                f"example \"d = '2024-01-02'\". Nothing was committed.",
                table=table,
                predicate=predicate,
            ) from exc
        raise


def _resolves(df: DataFrame, predicate: str, table: str) -> bool:
    """Whether ``predicate`` resolves against ``df``'s columns (an analysis, no job)."""
    try:
        _analyse(df, predicate, table)
    except Exception as exc:
        if any(
            (f.condition or "").startswith("UNRESOLVED_COLUMN") or f.sql_state == "42703"
            for f in chain(exc)
        ):
            return False
        raise
    return True


def plan_overwrite_partitions(
    writer: SafeDeltaWriter,
    call: Call,
    df: DataFrame,
    *,
    replace_where: str,
    partition_by: Sequence[str] | None,
    allow_empty: bool,
) -> Plan | WriteResult:
    """Check a replaceWhere overwrite and plan it (or the DELETE of an empty replacement).

    The scope check (every incoming row satisfies ``replace_where``; NULL counts as outside)
    is an ``assert_true`` inside the write job. When the predicate names columns only the
    table has (a generated column Delta computes while writing), it cannot be evaluated on
    the incoming rows: Delta's own replaceWhere constraint check, which runs on the rows as
    written, is kept on instead and its refusal mapped to the same ``UnsafeWriteError``.
    """
    target = call.table.name
    if not replace_where or not replace_where.strip():
        raise UnsafeWriteError(
            f"Refused overwrite of table {target} with an empty replace_where: that is an "
            f"unscoped overwrite. Give a predicate, or use overwrite(..., "
            f"allow_full_overwrite=True).",
            table=target,
            predicate=replace_where,
        )
    call.expressions["replace_where"] = replace_where
    if partition_by:
        check_columns_exist(df, partition_by, target, "partition_by")
    table_schema = call.table.schema()
    exists = table_schema is not None
    check = SchemaCheck()
    if table_schema is not None:
        check = check_schema(
            df.schema, table_schema, table=target, allow_evolution=writer.allow_schema_evolution
        )
        if partition_by:
            check_partitioning(call, partition_by)
    data = cast_columns(df, check.casts)
    guard_in_job = _resolves(data, replace_where, target)
    if not guard_in_job:
        # Names a column the DataFrame lacks: fine when the table has it (Delta computes
        # or fills it while writing); otherwise this analysis raises the unresolved column.
        frame = call.table.frame() if exists else data
        _analyse(frame, replace_where, target)
    if df.isEmpty():
        if not allow_empty:
            return call.skipped(
                "empty input: nothing to replace with, no commit made (pass "
                "allow_empty=True to delete the rows replace_where selects)",
                0,
            )
        if not exists:
            return call.skipped(
                f"empty input and table {target} does not exist: no rows to remove, no commit made",
                0,
            )
        return _delete_plan(call, replace_where)
    guarded = data
    if guard_in_job:
        # A failing assert_true aborts the write job before Delta commits: the scope check
        # rides along the write instead of costing its own pass over the data.
        inside = sf.coalesce(sf.expr(replace_where), sf.lit(False))
        guarded = data.filter(sf.assert_true(inside, sf.lit(REPLACE_WHERE_MARKER)).isNull())
    observed, observation = observe(guarded, writer.count_input_rows)
    spark = call.table.spark
    delta_check_off = (
        not guard_in_job and str(spark.conf.get(REPLACE_WHERE_CHECK_CONF, "true")) == "false"
    )

    def action() -> None:
        out = dataframe_writer(observed, "overwrite", call, evolve=bool(check.new_columns))
        if partition_by and not exists:
            out = out.partitionBy(*partition_by)
        scope = (
            session_confs(spark, {REPLACE_WHERE_CHECK_CONF: "true"})
            if delta_check_off
            else nullcontext()
        )
        with scope:
            save(
                call,
                out.option("replaceWhere", replace_where),
                exists=exists,
                schema=data.schema,
                partition_by=partition_by,
            )

    def diagnose(exc: BaseException) -> None:
        if user_raised(exc, REPLACE_WHERE_MARKER):
            raise_outside_predicate(data, replace_where, table=target)

    return Plan(
        action=action,
        expect=expect_input_rows if observation is not None else None,
        diagnose=diagnose,
        observation=observation,
        casts=check.casts,
    )


def _delete_plan(call: Call, predicate: str) -> Plan:
    """An allowed empty replacement: remove the rows ``predicate`` selects in one commit.

    A DELETE rather than an empty replaceWhere overwrite: both commit the removes, but for
    a predicate on partition columns only the DELETE reports ``numDeletedRows``.
    """

    def action() -> None:
        with call.confs(replace_where=predicate):
            call.table.engine.delete(call.table, predicate)

    def expect(result: WriteResult) -> Expectation:
        # The input is empty, so nothing may be inserted: files Delta adds to a DELETE
        # hold only rows copied out of rewritten files. How many rows the predicate
        # selected is known only to Delta (numDeletedRows), not to the empty input.
        return Expectation(
            expected={"rows inserted": 0, "rows updated": 0},
            actual={
                "rows inserted": int(result.rows_inserted or 0),
                "rows updated": int(result.rows_updated or 0),
            },
            rule="an empty replacement only removes rows",
        )

    return Plan(
        action=action,
        expect=expect,
        source_rows=0,
        no_commit="empty input: no rows match replace_where, Delta made no commit",
    )
