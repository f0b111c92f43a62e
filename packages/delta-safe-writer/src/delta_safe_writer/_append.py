"""append: add rows, creating the table when missing."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from delta_safe_writer._checks import SchemaCheck, check_schema
from delta_safe_writer._protocol import Call, Plan
from delta_safe_writer._types import cast_columns
from delta_safe_writer._write import (
    check_partitioning,
    dataframe_writer,
    expect_input_rows,
    observe,
    save,
)

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

    from delta_safe_writer._result import WriteResult
    from delta_safe_writer._writer import SafeDeltaWriter


def plan_append(
    writer: SafeDeltaWriter,
    call: Call,
    df: DataFrame,
    partition_by: Sequence[str] | None,
) -> Plan | WriteResult:
    """Check an append (schema, partitioning, emptiness) and plan its write."""
    table_schema = call.table.schema()
    exists = table_schema is not None
    check = SchemaCheck()
    if table_schema is not None:
        check = check_schema(
            df.schema,
            table_schema,
            table=call.table.name,
            allow_evolution=writer.allow_schema_evolution,
        )
        if partition_by:
            check_partitioning(call, partition_by)
    # A plain empty append to an existing table makes no Delta commit, so only a table
    # that would be created, or a batch whose transaction id Delta would commit even with
    # no rows, needs the emptiness job.
    if (not exists or call.batch_id is not None) and df.isEmpty():
        return call.skipped("empty input: nothing to append, no commit made", 0)
    data = cast_columns(df, check.casts)
    observed, observation = observe(data, writer.count_input_rows)

    def action() -> None:
        out = dataframe_writer(observed, "append", call, evolve=bool(check.new_columns))
        if partition_by and not exists:
            out = out.partitionBy(*partition_by)
        save(call, out, exists=exists, schema=data.schema, partition_by=partition_by)

    return Plan(
        action=action,
        expect=expect_input_rows if observation is not None else None,
        observation=observation,
        casts=check.casts,
        no_commit="empty input: nothing to append, Delta made no commit",
    )
