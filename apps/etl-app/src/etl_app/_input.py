"""Reading an input file exactly: every record lands in bronze or, unreadable, aside with a reason.

Spark's defaults change data silently: a quoted newline splits a CSV record in two, bytes
that are not UTF-8 become U+FFFD, a malformed JSON line becomes a row of NULLs. Here:

- CSV is read with ``multiLine`` and explicit quote and escape (``"``, doubled inside a
  field, as RFC 4180 writes it), every column a string (the header's names), and
  ``mode=PERMISSIVE`` with a corrupt-record column: a record with the wrong number of fields
  keeps its raw text there.
- JSON lines are read with ``primitivesAsString`` (a number keeps its digits: ``10.005``
  stays ``10.005``) and the same corrupt-record column: a malformed line keeps its text.
- Both are decoded as UTF-8, and a record holding U+FFFD (the decoder's mark for bytes that
  are not UTF-8) is unreadable, never silently altered.

Unreadable records go to ``quarantine/<source>_unreadable`` with their raw text, the reason,
the file and the batch id. The records are counted once by the reader (readable and not);
for JSON lines also by a plain text reader (non-blank lines): the file's records must equal
bronze rows + unreadable records, each counted by its own commit.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pyspark import StorageLevel
from pyspark.sql import functions as F  # noqa: N812
from pyspark.sql import types as T  # noqa: N812

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame, SparkSession

    from etl_app._config import SourceFormat

#: Column Spark fills with a record's raw text when it cannot parse it.
CORRUPT = "_corrupt_record"
#: Columns of the unreadable records' table.
UNREADABLE_COLUMNS = ("source_file", "raw_record", "reason", "run_id", "batch_id", "quarantined_at")
#: Why a record was set aside.
REASON_MALFORMED = {
    "csv": "malformed CSV record (wrong number of fields or unbalanced quotes)",
    "json": "malformed JSON line",
}
REASON_ENCODING = "bytes that are not valid UTF-8 (shown as U+FFFD in raw_record)"
REPLACEMENT = "\ufffd"


@dataclass
class InputBatch:
    """One input file, read.

    Attributes:
        rows: The readable records, every column a string (no corrupt-record column).
        unreadable: The others: ``raw_record`` and ``reason`` (plus ingestion columns once
            :func:`unreadable_rows` is applied).
        records: Records the reader found, readable or not.
        unreadable_count: How many of them are unreadable.
        lines: JSON lines only: non-blank lines counted by a plain text reader.
    """

    rows: DataFrame
    unreadable: DataFrame
    records: int
    unreadable_count: int
    lines: int | None
    _parsed: DataFrame

    def release(self) -> None:
        """Free the persisted parse of the file."""
        self._parsed.unpersist()


def csv_reader_options() -> dict[str, str]:
    """The CSV reader's options (all explicit; see the module docstring)."""
    return {
        "header": "true",
        "multiLine": "true",
        "quote": '"',
        "escape": '"',
        "encoding": "UTF-8",
        "mode": "PERMISSIVE",
        "columnNameOfCorruptRecord": CORRUPT,
    }


def json_reader_options() -> dict[str, str]:
    """The JSON lines reader's options (all explicit; see the module docstring)."""
    return {
        "primitivesAsString": "true",
        "encoding": "UTF-8",
        "mode": "PERMISSIVE",
        "columnNameOfCorruptRecord": CORRUPT,
    }


def _parse(spark: SparkSession, path: str, fmt: SourceFormat) -> DataFrame:
    if fmt == "csv":
        header = spark.read.option("header", "true").option("encoding", "UTF-8").csv(path)
        schema = T.StructType(
            [T.StructField(c, T.StringType()) for c in header.columns]
            + [T.StructField(CORRUPT, T.StringType())]
        )
        return spark.read.schema(schema).options(**csv_reader_options()).csv(path)
    return spark.read.options(**json_reader_options()).json(path)


def _not_utf8(columns: list[str]) -> Column:
    """True when any of ``columns`` holds bytes that are not UTF-8, or U+FFFD.

    The CSV reader decodes with Java's charset, which turns bad bytes into U+FFFD; the JSON
    reader keeps a malformed line's bytes as they were. Both are caught.
    """
    if not columns:
        return F.lit(False)
    tests = [
        F.coalesce(~F.is_valid_utf8(F.col(c)) | F.col(c).contains(REPLACEMENT), F.lit(False))
        for c in columns
    ]
    return functools.reduce(lambda a, b: a | b, tests)


def read_input(spark: SparkSession, path: str, fmt: SourceFormat) -> InputBatch:
    """Read one input file exactly; split readable and unreadable records; count them.

    Args:
        spark: Session.
        path: The file.
        fmt: ``csv`` (with header) or ``json`` (JSON lines).

    Returns:
        The readable rows, the unreadable ones with raw text and reason, and the counts. The
        parse is persisted: call :meth:`InputBatch.release` when done.
    """
    parsed = _parse(spark, path, fmt)
    columns = [c for c in parsed.columns if c != CORRUPT]
    corrupt = F.col(CORRUPT).isNotNull() if CORRUPT in parsed.columns else F.lit(False)
    bad_bytes = _not_utf8(parsed.columns)
    # Delta stores valid UTF-8 only: bad bytes in the raw text are shown as U+FFFD.
    raw = (
        F.make_valid_utf8(F.col(CORRUPT))
        if CORRUPT in parsed.columns
        else F.lit(None).cast("string")
    )
    readable_json = F.to_json(F.struct(*[F.col(c) for c in columns])) if columns else F.lit("{}")
    # The raw text is kept for unreadable records only: serialising every readable row too
    # would double what the persisted parse holds, for a column nothing reads.
    flagged = parsed.select(
        *[F.col(c) for c in columns],
        F.coalesce(raw, F.when(bad_bytes, readable_json)).alias("raw_record"),
        F.when(bad_bytes, F.lit(REASON_ENCODING))
        .when(corrupt, F.lit(REASON_MALFORMED[fmt]))
        .alias("reason"),
    ).persist(StorageLevel.MEMORY_AND_DISK)
    counts = flagged.agg(
        F.count(F.lit(1)).alias("records"),
        F.count_if(F.col("reason").isNotNull()).alias("unreadable"),
    ).first()
    assert counts is not None  # a global aggregation always returns one row
    lines = None
    if fmt == "json":
        lines = spark.read.text(path).filter(F.trim(F.col("value")) != "").count()
    return InputBatch(
        rows=flagged.filter(F.col("reason").isNull()).select(*columns),
        unreadable=flagged.filter(F.col("reason").isNotNull()).select("raw_record", "reason"),
        records=int(counts["records"]),
        unreadable_count=int(counts["unreadable"]),
        lines=lines,
        _parsed=flagged,
    )


def empty_input(spark: SparkSession, columns: list[str], fmt: SourceFormat) -> InputBatch:
    """A 0-byte file as a 0-row batch with the registered raw columns (nothing to read)."""
    rows = spark.createDataFrame([], ", ".join(f"`{c}` STRING" for c in columns))
    unreadable = spark.createDataFrame([], "raw_record STRING, reason STRING")
    return InputBatch(
        rows=rows,
        unreadable=unreadable,
        records=0,
        unreadable_count=0,
        lines=0 if fmt == "json" else None,
        _parsed=rows,
    )


def unreadable_rows(
    unreadable: DataFrame, *, source_file: str, run_id: str, batch_id: int
) -> DataFrame:
    """The unreadable records as rows of ``quarantine/<source>_unreadable``."""
    return unreadable.select(
        F.lit(source_file).alias("source_file"),
        "raw_record",
        "reason",
        F.lit(run_id).alias("run_id"),
        F.lit(batch_id).cast("long").alias("batch_id"),
        F.current_timestamp().alias("quarantined_at"),
    )


def input_checks(
    records: int, bronze: int, unreadable: int, lines: int | None
) -> list[tuple[str, int, int]]:
    """The input reconciliation's checks: (name, expected, actual), each from its own count."""
    checks = [("records == bronze + unreadable", records, bronze + unreadable)]
    if lines is not None:
        checks.append(("lines == records", lines, records))
    return checks
