"""Pieces the operation modules share: DataFrame writes, input counting, common checks."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from pyspark.sql import functions as sf

from delta_safe_writer._protocol import Call, Expectation, Plan
from delta_safe_writer.errors import SchemaMismatchError

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, DataFrameWriter, Observation
    from pyspark.sql.types import StructType

    from delta_safe_writer._result import WriteResult


def dataframe_writer(
    df: DataFrame, mode: str, call: Call, *, evolve: bool, **metadata: Any
) -> DataFrameWriter:
    """A Delta DataFrameWriter carrying the call's metadata and txn options."""
    writer = df.write.format("delta").mode(mode).options(**call.writer_options(**metadata))
    if evolve:
        writer = writer.option("mergeSchema", "true")
    return writer


def save(
    call: Call,
    writer: DataFrameWriter,
    *,
    exists: bool,
    schema: StructType,
    partition_by: Sequence[str] | None = None,
) -> None:
    """Run a DataFrame write on the call's table, creating a missing catalog table first.

    ``saveAsTable`` on a missing table runs CREATE TABLE AS SELECT, which neither reports the
    observed row count nor honours the txn options: the table is created (its own
    metadata-only commit, without the batch's txn) and then written at its location.
    """
    table = call.table
    if table.is_path:
        table.engine.save(writer, table.name)
        return
    if not exists:
        with call.confs(txn=False, write_id_suffix="-create", phase="create"):
            table.engine.create_table(table, schema, partition_by)
    table.engine.save(writer, table.location())


def observe(df: DataFrame, enabled: bool) -> tuple[DataFrame, Observation | None]:
    """``df`` counting its rows as the write runs (no extra pass), when ``enabled``."""
    if not enabled:
        return df, None
    from pyspark.sql import Observation

    observation = Observation()
    return df.observe(observation, sf.count(sf.lit(1)).alias("rows")), observation


def expect_input_rows(result: WriteResult) -> Expectation:
    """A plain write must add exactly the observed input rows (copies of rewritten rows aside)."""
    return Expectation(
        expected={"numOutputRows-numCopiedRows": int(result.source_rows or 0)},
        actual={"numOutputRows-numCopiedRows": int(result.rows_inserted or 0)},
        rule=(
            "Delta must write exactly the rows of the input DataFrame (rows it copied from "
            "rewritten files aside)"
        ),
    )


def check_partitioning(call: Call, partition_by: Sequence[str]) -> None:
    """Refuse a ``partition_by`` that differs from an existing table's partitioning."""
    table = call.table
    current = table.engine.partition_columns(table)
    if [c.lower() for c in current] != [c.lower() for c in partition_by]:
        raise SchemaMismatchError(
            f"Table {table.name} is partitioned by {current or 'nothing'} but the write "
            f"asks for partition_by={list(partition_by)}. Drop partition_by for an "
            f"existing table, or write to a new table.",
            table=table.name,
            column=", ".join(partition_by),
            table_type=", ".join(current) or None,
            incoming_type=", ".join(partition_by),
        )


def check_columns_exist(df: DataFrame, columns: Sequence[str], target: str, argument: str) -> None:
    """Refuse an argument naming columns the DataFrame does not have."""
    names = {c.lower() for c in df.columns}
    missing = [c for c in columns if c.lower() not in names]
    if missing:
        raise ValueError(
            f"{argument} names column(s) {', '.join(missing)} that the DataFrame written "
            f"to {target} does not have (it has {', '.join(df.columns)})."
        )


def create_plan(call: Call, df: DataFrame, *, source_rows: int, **metadata: Any) -> Plan:
    """First write of a merge-like operation: create the table from the source rows.

    ``metadata`` goes into the commit's user metadata (e.g. the keys the source was checked on).
    """

    def action() -> None:
        save(
            call,
            dataframe_writer(df, "append", call, evolve=False, **metadata),
            exists=False,
            schema=df.schema,
        )

    def expect(result: WriteResult) -> Expectation:
        return Expectation(
            expected={"numOutputRows": source_rows},
            actual={"numOutputRows": int(result.rows_output or 0)},
            rule="creating the table must write every source row",
        )

    return Plan(action=action, expect=expect, source_rows=source_rows)
