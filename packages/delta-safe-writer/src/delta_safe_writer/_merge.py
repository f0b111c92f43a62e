"""merge: key-checked upsert, the source's and the table's keys checked inside the MERGE job."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from delta_safe_writer._checks import (
    check_key_columns,
    check_schema,
    guard_target_keys,
    guard_unique_keys,
    profile_keys,
    raise_for_bad_keys,
    raise_for_target_duplicates,
)
from delta_safe_writer._classify import has_condition, user_raised
from delta_safe_writer._engine import MergeClause, MergeSpec
from delta_safe_writer._protocol import WRITER_NAME, Call, Expectation, Plan, metric
from delta_safe_writer._prune import key_range
from delta_safe_writer._sql import quote
from delta_safe_writer._types import cast_columns
from delta_safe_writer._write import check_columns_exist, create_plan

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

    from delta_safe_writer._result import WriteResult
    from delta_safe_writer._table import Table
    from delta_safe_writer._writer import SafeDeltaWriter

BAD_KEY_MARKER = "delta-safe-writer: NULL or duplicated merge key in the source"
TARGET_KEY_MARKER = "delta-safe-writer: merge key held by several rows of the target"
MULTIPLE_MATCHES = "DELTA_MULTIPLE_SOURCE_ROW_MATCHING_TARGET_ROW_IN_MERGE"
#: User-metadata entry of a commit after which the writer knows the table's keys are unique.
UNIQUE_KEYS = "unique_keys"


def key_marker(keys: Sequence[str]) -> list[str]:
    """The ``unique_keys`` value for ``keys`` (lower case, sorted: order does not matter)."""
    return sorted(k.lower() for k in keys)


def keys_known_unique(table: Table, keys: Sequence[str]) -> bool:
    """Whether the table's newest commit is this writer's, made with ``keys`` known unique.

    Such a commit created the table from a source checked for unique keys, or merged a
    source checked for unique keys into a table whose keys were checked (or known) unique:
    a MERGE on the key updates or deletes the one row of a key and inserts only keys the
    table does not hold, so the keys stay unique until another kind of commit comes.
    """
    metadata = table.newest_commit_metadata()
    return str(metadata.get("writer", "")).startswith(f"{WRITER_NAME}/") and metadata.get(
        UNIQUE_KEYS
    ) == key_marker(keys)


def plan_merge(
    writer: SafeDeltaWriter,
    call: Call,
    df: DataFrame,
    keys: Sequence[str],
    *,
    update_columns: Sequence[str] | None,
    delete_when: str | None,
    prune_by_key_range: bool = False,
) -> Plan | WriteResult:
    """Check a merge (keys, schema) and plan the MERGE with its in-job key guards."""
    target = call.table.name
    check_key_columns(df.schema, keys, table=target)
    if delete_when:
        call.expressions["delete_when"] = delete_when
    table_schema = call.table.schema()
    if table_schema is None:
        if update_columns is not None:
            check_columns_exist(df, update_columns, target, "update_columns")
        profile = profile_keys(df, keys)
        if profile.rows == 0:
            return call.skipped("empty input: nothing to merge, no commit made", 0)
        raise_for_bad_keys(df, keys, profile, table=target)
        return create_plan(call, df, source_rows=profile.rows, **{UNIQUE_KEYS: key_marker(keys)})
    check_key_columns(table_schema, keys, table=target, where="target table")
    check = check_schema(
        df.schema, table_schema, table=target, allow_evolution=writer.allow_schema_evolution
    )
    if update_columns is not None:
        check_columns_exist(df, update_columns, target, "update_columns")
    cast = cast_columns(df, check.casts)
    source = guard_unique_keys(cast, keys, BAD_KEY_MARKER)
    condition = " AND ".join(f"t.{quote(k)} = s.{quote(k)}" for k in keys)
    clauses: list[MergeClause] = []
    if delete_when:
        clauses.append(MergeClause("delete", delete_when))
    if update_columns is None:
        clauses.append(MergeClause("update_all"))
    else:
        clauses.append(
            MergeClause("update", assignments={quote(c): f"s.{quote(c)}" for c in update_columns})
        )
    clauses.append(MergeClause("insert_all"))

    # The range costs one aggregation over the batch (once, not per conflict retry); it pays
    # when it lets Delta skip most of the table's files (keys that grow with time).
    scope = key_range(cast, keys) if prune_by_key_range else None

    def action() -> None:
        guarded = source
        # Read again on every attempt: a conflict retry means another commit came since.
        if writer.check_target_keys and not keys_known_unique(call.table, keys):
            table_keys = call.table.frame()
            if scope is not None:
                table_keys = table_keys.filter(scope.predicate())
            guarded = guard_target_keys(source, table_keys, keys, TARGET_KEY_MARKER, batch=cast)
        on = condition if scope is None else f"{condition} AND {scope.predicate('t')}"
        spec = MergeSpec(guarded, on, clauses, schema_evolution=bool(check.new_columns))
        # Without the target check the writer cannot vouch for the table's keys afterwards.
        marker: dict[str, Any] = {UNIQUE_KEYS: key_marker(keys)} if writer.check_target_keys else {}
        with call.confs(**marker):
            call.table.engine.merge(call.table, spec)

    def expect(result: WriteResult) -> Expectation:
        metrics = result.metrics
        touched = (
            metric(metrics, "numTargetRowsInserted")
            + metric(metrics, "numTargetRowsUpdated")
            + metric(metrics, "numTargetRowsDeleted")
        )
        return Expectation(
            expected={"inserted+updated+deleted": int(result.source_rows or 0)},
            actual={"inserted+updated+deleted": touched},
            rule=(
                "each source row must insert, update or delete exactly one target row; more "
                "means the target holds duplicate keys"
            ),
        )

    def diagnose(exc: BaseException) -> None:
        # Nothing was committed: name the offending keys (a count and a sample job).
        if user_raised(exc, BAD_KEY_MARKER) or has_condition(exc, MULTIPLE_MATCHES):
            raise_for_bad_keys(df, keys, profile_keys(df, keys), table=target)
        if user_raised(exc, TARGET_KEY_MARKER):
            raise_for_target_duplicates(call.table.frame(), df, keys, table=target)

    return Plan(
        action=action,
        expect=expect,
        diagnose=diagnose,
        source_metric="numSourceRows",
        casts=check.casts,
        no_commit="empty input: nothing to merge, Delta made no commit",
    )
