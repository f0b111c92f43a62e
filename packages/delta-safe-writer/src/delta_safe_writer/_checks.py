"""Pre-write checks: schema compatibility, merge keys (missing, NULL, duplicate), predicates."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pyspark.sql import functions as sf

from delta_safe_writer._sql import quote
from delta_safe_writer._types import WIDENINGS_TEXT, is_widening
from delta_safe_writer.errors import (
    DuplicateKeyError,
    DuplicateTargetKeyError,
    MissingKeyError,
    SchemaMismatchError,
    UnsafeWriteError,
)

if TYPE_CHECKING:
    from pyspark.sql import DataFrame
    from pyspark.sql.types import StructType

SAMPLE_SIZE = 5

__all__ = [
    "SAMPLE_SIZE",
    "KeyProfile",
    "SchemaCheck",
    "check_key_columns",
    "check_schema",
    "guard_target_keys",
    "guard_unique_keys",
    "profile_keys",
    "quote",
    "raise_for_bad_keys",
    "raise_for_target_duplicates",
    "raise_outside_predicate",
    "target_key_counts",
]


@dataclass(frozen=True)
class SchemaCheck:
    """What comparing an incoming schema with the table's found acceptable.

    Attributes:
        new_columns: Incoming columns the table lacks (only when evolution is allowed).
        casts: Incoming column -> (incoming type, table type) for the safe widenings the
            write will cast explicitly.
    """

    new_columns: list[str] = field(default_factory=list)
    casts: dict[str, tuple[str, str]] = field(default_factory=dict)


def check_schema(
    incoming: StructType,
    table_schema: StructType,
    *,
    table: str,
    allow_evolution: bool,
    ignore: Sequence[str] = (),
) -> SchemaCheck:
    """Refuse narrowing and unrelated type changes always, new columns unless allowed.

    A column whose incoming type is a safe widening of the table's type (Delta's type
    widening table, see :func:`delta_safe_writer._types.is_widening`) is accepted and listed
    for an explicit cast; nested types must match exactly. Nullability is ignored (Delta
    enforces NOT NULL constraints itself). Column names compare case-insensitively, as
    Spark resolves them.

    Args:
        incoming: Schema of the DataFrame to write.
        table_schema: Schema of the existing table.
        table: Table name for messages.
        allow_evolution: Whether new columns may be added.
        ignore: Incoming columns not compared (columns the writer manages itself).

    Returns:
        The new columns (empty unless ``allow_evolution``) and the casts to apply.

    Raises:
        SchemaMismatchError: A column's type differs other than by a safe widening, or new
            columns without evolution.
    """
    existing = {f.name.lower(): f for f in table_schema.fields}
    skip = {c.lower() for c in ignore}
    result = SchemaCheck()
    for incoming_field in incoming.fields:
        if incoming_field.name.lower() in skip:
            continue
        current = existing.get(incoming_field.name.lower())
        if current is None:
            result.new_columns.append(incoming_field.name)
            continue
        # simpleString ignores nullability but keeps nested field names and element types.
        table_type = current.dataType.simpleString()
        incoming_type = incoming_field.dataType.simpleString()
        if table_type == incoming_type:
            continue
        if is_widening(incoming_field.dataType, current.dataType):
            result.casts[incoming_field.name] = (incoming_type, table_type)
            continue
        raise SchemaMismatchError(
            f"Column '{current.name}' of table {table} is {table_type} but the incoming "
            f"DataFrame has {incoming_type}. Only safe widenings into the table's type are "
            f"cast automatically ({WIDENINGS_TEXT}); a narrowing or unrelated change is "
            f"refused (a MERGE with schema evolution can silently null such a column). Cast "
            f"it first if the values fit, e.g. df.withColumn('{incoming_field.name}', "
            f"sf.col('{incoming_field.name}').cast('{table_type}')).",
            table=table,
            column=current.name,
            table_type=table_type,
            incoming_type=incoming_type,
        )
    if result.new_columns and not allow_evolution:
        first = incoming[result.new_columns[0]]
        raise SchemaMismatchError(
            f"The incoming DataFrame adds column(s) {', '.join(result.new_columns)} that table "
            f"{table} does not have. Drop them, or pass allow_schema_evolution=True to the "
            f"writer to add them to the table.",
            table=table,
            column=result.new_columns[0],
            table_type=None,
            incoming_type=first.dataType.simpleString(),
        )
    return result


def check_key_columns(
    schema: StructType, keys: Sequence[str], *, table: str, where: str = "source"
) -> None:
    """Raise MissingKeyError when a key column is absent from ``schema``."""
    if not keys:
        raise MissingKeyError(
            f"No merge keys given for table {table}; pass the column(s) identifying a row.",
            table=table,
            keys=keys,
        )
    names = {f.name.lower() for f in schema.fields}
    missing = [k for k in keys if k.lower() not in names]
    if missing:
        raise MissingKeyError(
            f"Merge key column(s) {', '.join(missing)} missing from the {where} of a write to "
            f"table {table} (available: {', '.join(schema.fieldNames())}). Fix the keys= "
            f"argument or select the key columns into the DataFrame.",
            table=table,
            keys=keys,
            missing_columns=missing,
        )


@dataclass(frozen=True)
class KeyProfile:
    """What one aggregation over the source's keys found."""

    rows: int
    null_key_rows: int
    duplicate_keys: int


def profile_keys(df: DataFrame, keys: Sequence[str]) -> KeyProfile:
    """Count rows, rows with a NULL key and duplicated key values in ONE Spark job."""
    null_key = sf.lit(False)
    for key in keys:
        null_key = null_key | sf.col(quote(key)).isNull()
    per_key = df.groupBy(*[sf.col(quote(k)) for k in keys]).agg(
        sf.count(sf.lit(1)).alias("_dsw_n"), sf.max(null_key.cast("int")).alias("_dsw_null")
    )
    row = per_key.agg(
        sf.coalesce(sf.sum("_dsw_n"), sf.lit(0)).alias("rows"),
        sf.coalesce(sf.sum(sf.when(sf.col("_dsw_null") == 1, sf.col("_dsw_n"))), sf.lit(0)).alias(
            "null_rows"
        ),
        sf.count(sf.when((sf.col("_dsw_n") > 1) & (sf.col("_dsw_null") == 0), 1)).alias("dups"),
    ).collect()[0]
    return KeyProfile(
        rows=int(row["rows"]), null_key_rows=int(row["null_rows"]), duplicate_keys=int(row["dups"])
    )


def guard_unique_keys(df: DataFrame, keys: Sequence[str], marker: str) -> DataFrame:
    """``df`` unchanged, but failing its Spark job (message ``marker``) on a NULL or repeated key.

    A window counts the rows of each key and ``assert_true`` checks that count and the key's
    non-NULL-ness while the rows stream into the consuming job (the MERGE), so the check
    needs no job of its own and the failed job commits nothing.
    """
    from pyspark.sql import Window

    count_column = "_dsw_key_rows"
    columns = [sf.col(quote(c)) for c in df.columns]
    ok = sf.col(count_column) == 1
    for key in keys:
        ok = ok & sf.col(quote(key)).isNotNull()
    counted = df.withColumn(
        count_column,
        sf.count(sf.lit(1)).over(Window.partitionBy(*[sf.col(quote(k)) for k in keys])),
    )
    return counted.filter(sf.assert_true(ok, sf.lit(marker)).isNull()).select(*columns)


def raise_for_bad_keys(
    df: DataFrame, keys: Sequence[str], profile: KeyProfile, *, table: str
) -> None:
    """Raise MissingKeyError / DuplicateKeyError from a key profile (samples cost one more job).

    Raises:
        MissingKeyError: Some rows have a NULL key.
        DuplicateKeyError: Some key value occurs more than once.
    """
    if profile.null_key_rows:
        raise MissingKeyError(
            f"{profile.null_key_rows} source row(s) have a NULL in merge key(s) "
            f"{', '.join(keys)} for table {table}. NULL never matches in a MERGE, so each run "
            f"would insert them again. Filter them out or fill the keys first.",
            table=table,
            keys=keys,
            null_key_rows=profile.null_key_rows,
        )
    if profile.duplicate_keys:
        not_null = sf.lit(True)
        for key in keys:
            not_null = not_null & sf.col(quote(key)).isNotNull()
        sample_rows = (
            df.filter(not_null)
            .groupBy(*[sf.col(quote(k)) for k in keys])
            .agg(sf.count(sf.lit(1)).alias("rows"))
            .filter(sf.col("rows") > 1)
            .orderBy(sf.col("rows").desc(), *[sf.col(quote(k)) for k in keys])
            .limit(SAMPLE_SIZE)
            .collect()
        )
        sample = [row.asDict() for row in sample_rows]
        raise DuplicateKeyError(
            f"The merge source for table {table} has {profile.duplicate_keys} key value(s) "
            f"occurring more than once on key(s) {', '.join(keys)}; sample (with row counts): "
            f"{sample}. A MERGE would update or insert them ambiguously. Deduplicate the source "
            f"first (e.g. keep the latest row per key with a window function).",
            table=table,
            keys=keys,
            duplicate_keys=profile.duplicate_keys,
            sample=sample,
        )


#: Column the target-key guard counts the table's rows per batch key into.
TARGET_ROWS = "_dsw_target_rows"


def target_key_counts(target: DataFrame, df: DataFrame, keys: Sequence[str]) -> DataFrame:
    """How many rows the table holds for each key of ``df`` that it holds at all.

    A semi-join of the table's key columns on the batch's keys, then a count per key: only
    the table rows matching a batch key are shuffled and counted (the key columns of the
    table are scanned, not aggregated as a whole), so the work follows the batch.
    """
    key_columns = [sf.col(quote(k)) for k in keys]
    batch_keys = df.select(*key_columns)
    matching = target.select(*key_columns).join(batch_keys, on=list(keys), how="left_semi")
    return matching.groupBy(*key_columns).agg(sf.count(sf.lit(1)).alias(TARGET_ROWS))


def guard_target_keys(
    source: DataFrame, target: DataFrame, keys: Sequence[str], marker: str, *, batch: DataFrame
) -> DataFrame:
    """``source`` unchanged, but failing its job (``marker``) on a key the table holds twice.

    The per-key counts of :func:`target_key_counts` (for the keys of ``batch``, the
    unguarded source, so the source's own key window is not computed twice) pass an
    ``assert_true`` that keeps none of them, and that empty branch is unioned onto the
    source: the consuming job (the MERGE, or Delta's materialisation of its source) runs the
    assertion and aborts before Delta commits, without joining anything back to the source.
    """
    counts = target_key_counts(target, batch, keys)
    tripwire = counts.filter(
        sf.assert_true(sf.col(TARGET_ROWS) <= 1, sf.lit(marker)).isNotNull()
    ).select(*[sf.lit(None).cast(f.dataType).alias(f.name) for f in source.schema.fields])
    return source.unionByName(tripwire)


def raise_for_target_duplicates(
    target: DataFrame, df: DataFrame, keys: Sequence[str], *, table: str, rows: str = "row"
) -> None:
    """Raise DuplicateTargetKeyError naming the batch keys the table holds several times.

    Args:
        target: The table's rows to look in (for SCD2, its current rows).
        df: The batch.
        keys: The merge keys.
        table: Table name for the message.
        rows: What the table's rows are called in the message (``row``, ``current row``).

    Raises:
        DuplicateTargetKeyError: Always, when some key is duplicated (else returns).
    """
    duplicated = target_key_counts(target, df, keys).filter(sf.col(TARGET_ROWS) > 1)
    count = duplicated.count()
    if not count:
        return
    sample_rows = (
        duplicated.withColumnRenamed(TARGET_ROWS, "rows")
        .orderBy(sf.col("rows").desc(), *[sf.col(quote(k)) for k in keys])
        .limit(SAMPLE_SIZE)
        .collect()
    )
    sample = [row.asDict() for row in sample_rows]
    raise DuplicateTargetKeyError(
        f"Table {table} already holds more than one {rows} for {count} key value(s) of this "
        f"batch on key(s) {', '.join(keys)}; sample (with the table's row counts): {sample}. "
        f"A MERGE would change every one of those rows from a single source row and keep the "
        f"duplicates. Nothing was committed. Deduplicate the table first (e.g. keep one row "
        f"per key with a window function and overwrite, or DELETE the extra rows).",
        table=table,
        keys=keys,
        duplicate_keys=count,
        sample=sample,
    )


def outside_predicate(df: DataFrame, predicate: str) -> DataFrame:
    """Rows of ``df`` the predicate does not select (NULL counts as not selected)."""
    return df.filter(~sf.coalesce(sf.expr(predicate), sf.lit(False)))


def raise_outside_predicate(
    df: DataFrame, predicate: str, *, table: str, found: Sequence[dict[str, Any]] | None = None
) -> None:
    """Raise UnsafeWriteError for rows outside ``predicate``, with a count and a sample."""
    offending = outside_predicate(df, predicate)
    sample = (
        list(found)
        if found is not None
        else [r.asDict() for r in offending.limit(SAMPLE_SIZE).collect()]
    )
    count = offending.count()
    raise UnsafeWriteError(
        f"Refused overwrite of table {table}: {count} incoming row(s) fall outside "
        f"replace_where {predicate!r}, e.g. {sample}. Writing them would put rows in a range "
        f"this overwrite does not replace. Filter the DataFrame to the predicate or widen the "
        f"predicate.",
        table=table,
        predicate=predicate,
        rows_outside=count,
        sample=sample,
    )
