"""Pure-Python pieces (no JVM): results, schema comparison, addressing, metadata, options."""

from __future__ import annotations

import json

import pytest
from pyspark.sql.types import (
    ArrayType,
    IntegerType,
    LongType,
    StringType,
    StructField,
    StructType,
)

from delta_safe_writer import SafeDeltaWriter, SchemaMismatchError, WriteResult
from delta_safe_writer._checks import check_schema, quote
from delta_safe_writer._table import is_path, parse_user_metadata

MERGE_METRICS = {
    "numSourceRows": "10",
    "numTargetRowsInserted": "4",
    "numTargetRowsUpdated": "5",
    "numTargetRowsDeleted": "1",
    "numTargetRowsCopied": "90",
    "numOutputRows": "99",
}


class TestWriteResult:
    def test_merge_metrics_map_to_row_fields(self) -> None:
        """MERGE metrics fill inserted/updated/deleted/copied/output from their Delta names."""
        result = WriteResult.from_metrics("merge", "t", 3, MERGE_METRICS, source_rows=10)

        assert (result.rows_inserted, result.rows_updated, result.rows_deleted) == (4, 5, 1)
        assert (result.rows_copied, result.rows_output, result.source_rows) == (90, 99, 10)
        assert not result.skipped

    def test_write_metrics_count_copied_rows_apart(self) -> None:
        """For a replaceWhere WRITE, inserted = numOutputRows - numCopiedRows."""
        metrics = {"numOutputRows": "7", "numCopiedRows": "2", "numDeletedRows": "3"}
        result = WriteResult.from_metrics("overwrite_partitions", "t", 1, metrics)

        assert (result.rows_inserted, result.rows_output, result.rows_copied) == (5, 7, 2)
        assert result.rows_deleted == 3
        assert result.rows_updated is None

    def test_delete_metrics_insert_nothing(self) -> None:
        """A DELETE reports no output rows: inserted is 0 and output is its copied rows."""
        metrics = {"numDeletedRows": "3", "numCopiedRows": "2", "numRemovedFiles": "1"}
        result = WriteResult.from_metrics("overwrite_partitions", "t", 2, metrics)

        assert (result.rows_deleted, result.rows_inserted) == (3, 0)
        assert (result.rows_output, result.rows_copied) == (2, 2)

    def test_restore_metrics_leave_rows_unknown(self) -> None:
        """A RESTORE reports files, not rows: every row field stays None."""
        result = WriteResult.from_metrics("restore", "t", 4, {"numRestoredFiles": "2"})

        assert result.rows_inserted is None
        assert result.rows_output is None
        assert result.metrics == {"numRestoredFiles": "2"}

    def test_to_dict_and_replace(self) -> None:
        """to_dict is JSON-ready; replace returns a changed copy of the frozen result."""
        result = WriteResult.from_metrics("merge", "t", 3, MERGE_METRICS)
        later = result.replace(duration_s=2.5)

        assert json.loads(json.dumps(result.to_dict()))["metrics"]["numSourceRows"] == "10"
        assert later.duration_s == 2.5
        assert result.duration_s == 0.0
        with pytest.raises(AttributeError):
            result.version = 9  # type: ignore[misc]


def schema(*fields: tuple[str, object]) -> StructType:
    """A StructType from (name, type) pairs."""
    return StructType([StructField(name, kind) for name, kind in fields])  # type: ignore[arg-type]


class TestCheckSchema:
    def test_same_schema_with_other_case_and_nullability_passes(self) -> None:
        """Names compare case-insensitively and nullability is ignored."""
        table = StructType([StructField("ID", IntegerType(), nullable=False)])
        incoming = StructType([StructField("id", IntegerType(), nullable=True)])

        check = check_schema(incoming, table, table="t", allow_evolution=False)

        assert (check.new_columns, check.casts) == ([], {})

    def test_widening_is_cast_explicitly(self) -> None:
        """Int into a bigint column is accepted and listed as a cast, not silently passed."""
        check = check_schema(
            schema(("n", IntegerType()), ("v", StringType())),
            schema(("n", LongType()), ("v", StringType())),
            table="t",
            allow_evolution=False,
        )

        assert check.casts == {"n": ("int", "bigint")}
        assert check.new_columns == []

    def test_narrowing_is_refused_naming_the_widenings(self) -> None:
        """Bigint into an int column is refused, the message listing what would be accepted."""
        with pytest.raises(SchemaMismatchError, match="int but the incoming DataFrame has bigint"):
            check_schema(
                schema(("n", LongType())),
                schema(("n", IntegerType())),
                table="t",
                allow_evolution=True,
            )

    def test_nested_type_change_is_named(self) -> None:
        """A changed element type inside an array names the column and both types."""
        with pytest.raises(SchemaMismatchError) as info:
            check_schema(
                schema(("tags", ArrayType(IntegerType()))),
                schema(("tags", ArrayType(StringType()))),
                table="t",
                allow_evolution=False,
            )
        assert (info.value.table_type, info.value.incoming_type) == ("array<string>", "array<int>")

    def test_new_columns_listed_with_evolution(self) -> None:
        """With evolution allowed the new columns are returned; ignored columns are skipped."""
        incoming = schema(("id", IntegerType()), ("extra", StringType()), ("meta", StringType()))
        table = schema(("id", IntegerType()))

        check = check_schema(incoming, table, table="t", allow_evolution=True, ignore=["META"])

        assert check.new_columns == ["extra"]


class TestAddressingAndMetadata:
    @pytest.mark.parametrize(
        ("target", "expected"),
        [
            ("/data/t", True),
            ("s3://bucket/t", True),
            ("./t", True),
            ("C:\\lake\\t", True),
            ("sales.orders", False),
            ("orders", False),
        ],
    )
    def test_path_or_catalog_name(self, target: str, expected: bool) -> None:
        """Anything with a slash or scheme is a path; dotted names are catalog tables."""
        assert is_path(target) is expected

    @pytest.mark.parametrize("raw", [None, "", "not json", "[1, 2]"])
    def test_foreign_user_metadata_decodes_to_empty(self, raw: str | None) -> None:
        """UserMetadata not written by this library decodes to an empty dict."""
        assert parse_user_metadata(raw) == {}

    def test_quote_escapes_backticks(self) -> None:
        """Column names are backtick-quoted with embedded backticks doubled."""
        assert quote("a`b c") == "`a``b c`"


class TestWriterOptions:
    @pytest.mark.parametrize(
        "options",
        [{"max_retries": -1}, {"retry_backoff_s": 0}, {"max_backoff_s": -1.0}],
    )
    def test_invalid_retry_options(self, options: dict[str, float]) -> None:
        """Negative retries and non-positive backoffs are refused at construction."""
        with pytest.raises(ValueError, match=r"max_retries|backoff"):
            SafeDeltaWriter(None, **options)  # type: ignore[arg-type]

    def test_unscoped_overwrite_refused_before_touching_spark(self) -> None:
        """Overwrite without allow_full_overwrite fails without any Spark call."""
        from delta_safe_writer import UnsafeWriteError

        writer = SafeDeltaWriter(None)  # type: ignore[arg-type]
        with pytest.raises(UnsafeWriteError, match="overwrite_partitions") as info:
            writer.overwrite(None, "/data/t")  # type: ignore[arg-type]
        assert info.value.table == "/data/t"
