"""append: table creation, commit metadata, counts from operationMetrics, schema guard, skips."""

from __future__ import annotations

import json

import pytest
from pyspark.sql import SparkSession

from delta_safe_writer import SafeDeltaWriter, SchemaMismatchError

from .conftest import is_delta_table

pytestmark = pytest.mark.spark

SCHEMA = "id INT, v STRING"


class TestAppendCreatesAndAppends:
    def test_creates_missing_table_then_appends(
        self, spark: SparkSession, writer: SafeDeltaWriter, table_path: str, table_rows
    ) -> None:
        """The first append creates the table (version 0), the next adds version 1."""
        first = writer.append(spark.createDataFrame([(1, "a"), (2, "b")], SCHEMA), table_path)
        second = writer.append(spark.createDataFrame([(3, "c")], SCHEMA), table_path)

        assert (first.version, second.version) == (0, 1)
        assert (first.rows_inserted, first.rows_output, first.source_rows) == (2, 2, 2)
        assert (second.rows_inserted, second.source_rows) == (1, 1)
        assert first.operation == "append"
        assert not first.skipped
        assert first.metrics["numOutputRows"] == "2"
        assert table_rows(table_path) == [(1, "a"), (2, "b"), (3, "c")]

    def test_catalog_table_by_name(
        self, spark: SparkSession, writer: SafeDeltaWriter, table_name: str, table_rows
    ) -> None:
        """A catalog name (no '/') is created (CREATE TABLE, then the rows) and appended to."""
        first = writer.append(spark.createDataFrame([(1, "a")], SCHEMA), table_name)
        result = writer.append(spark.createDataFrame([(2, "b")], SCHEMA), table_name)

        assert (first.version, first.rows_inserted, first.source_rows) == (1, 1, 1)
        assert result.version == 2
        operations = [h["operation"] for h in writer.history(table_name)]
        assert operations == ["WRITE", "WRITE", "CREATE TABLE"]
        assert result.target == table_name
        assert spark.catalog.tableExists(table_name)
        assert table_rows(table_name) == [(1, "a"), (2, "b")]

    def test_partition_by_on_creation(
        self, spark: SparkSession, writer: SafeDeltaWriter, table_path: str
    ) -> None:
        """partition_by partitions a new table; the same partitioning is accepted later."""
        df = spark.createDataFrame([(1, "a"), (2, "b")], SCHEMA)
        writer.append(df, table_path, partition_by=["v"])
        writer.append(df, table_path, partition_by=["v"])

        detail = spark.sql(f"DESCRIBE DETAIL delta.`{table_path}`").collect()[0]
        assert list(detail["partitionColumns"]) == ["v"]

    def test_other_partitioning_of_existing_table_is_refused(
        self, spark: SparkSession, writer: SafeDeltaWriter, table_path: str, table_versions
    ) -> None:
        """Asking an existing table for another partitioning raises before writing."""
        df = spark.createDataFrame([(1, "a")], SCHEMA)
        writer.append(df, table_path, partition_by=["v"])

        with pytest.raises(SchemaMismatchError, match=r"partitioned by \['v'\].*partition_by"):
            writer.append(df, table_path, partition_by=["id"])
        assert table_versions(table_path) == [0]


class TestAppendInputCounting:
    def test_default_writer_does_not_count_input(
        self, make_writer, spark: SparkSession, table_path: str
    ) -> None:
        """Without count_input_rows the input size is unknown; counts still come from Delta."""
        result = make_writer().append(
            spark.createDataFrame([(1, "a"), (2, "b")], SCHEMA), table_path
        )

        assert result.source_rows is None
        assert result.rows_inserted == 2


class TestAppendCommitMetadata:
    def test_user_metadata_carries_app_batch_and_run(
        self, spark: SparkSession, writer: SafeDeltaWriter, table_path: str
    ) -> None:
        """The commit's userMetadata is JSON with app id, batch id, run id and operation."""
        result = writer.append(
            spark.createDataFrame([(1, "a")], SCHEMA), table_path, batch_id=7, run_id="run-42"
        )

        commit = spark.sql(f"DESCRIBE HISTORY delta.`{table_path}`").collect()[0]
        meta = json.loads(commit["userMetadata"])
        assert commit["version"] == result.version
        assert meta["app_id"] == "tests"
        assert meta["batch_id"] == 7
        assert meta["run_id"] == "run-42"
        assert meta["operation"] == "append"
        assert meta["writer"].startswith("delta-safe-writer/")

    def test_result_to_dict_is_plain_data(
        self, spark: SparkSession, writer: SafeDeltaWriter, table_path: str
    ) -> None:
        """to_dict gives JSON-serialisable fields including the raw metrics."""
        result = writer.append(spark.createDataFrame([(1, "a")], SCHEMA), table_path, run_id="r")
        data = result.to_dict()

        assert json.loads(json.dumps(data))["rows_inserted"] == 1
        assert data["run_id"] == "r"
        assert data["metrics"]["numOutputRows"] == "1"
        assert data["duration_s"] > 0


class TestAppendSkips:
    def test_empty_input_makes_no_commit(
        self, spark: SparkSession, writer: SafeDeltaWriter, table_path: str, table_versions
    ) -> None:
        """An empty DataFrame is skipped with a reason and leaves no new version."""
        writer.append(spark.createDataFrame([(1, "a")], SCHEMA), table_path)
        result = writer.append(spark.createDataFrame([], SCHEMA), table_path)

        assert result.skipped
        assert result.version is None
        assert "empty input" in (result.reason or "")
        assert table_versions(table_path) == [0]

    def test_empty_input_with_batch_id_makes_no_commit(
        self, spark: SparkSession, writer: SafeDeltaWriter, table_path: str, table_versions
    ) -> None:
        """An empty batch is skipped too: Delta would otherwise commit its transaction id."""
        writer.append(spark.createDataFrame([(1, "a")], SCHEMA), table_path, batch_id=1)
        result = writer.append(spark.createDataFrame([], SCHEMA), table_path, batch_id=2)

        assert result.skipped
        assert "empty input" in (result.reason or "")
        assert table_versions(table_path) == [0]

    def test_empty_input_does_not_create_table(
        self, spark: SparkSession, writer: SafeDeltaWriter, table_path: str
    ) -> None:
        """An empty first append does not create the table either."""
        result = writer.append(spark.createDataFrame([], SCHEMA), table_path)

        assert result.skipped
        assert not is_delta_table(spark, table_path)

    def test_same_batch_twice_is_a_no_op(
        self, spark: SparkSession, writer: SafeDeltaWriter, table_path: str, table_rows
    ) -> None:
        """Re-running batch 3 is skipped; an older batch too; a newer batch lands."""
        df = spark.createDataFrame([(1, "a")], SCHEMA)
        first = writer.append(df, table_path, batch_id=3)
        again = writer.append(df, table_path, batch_id=3)
        older = writer.append(df, table_path, batch_id=2)
        newer = writer.append(df, table_path, batch_id=4)

        assert first.version == 0
        assert again.skipped
        assert again.version is None
        assert "batch 3" in (again.reason or "")
        assert "already committed" in (again.reason or "")
        assert older.skipped
        assert newer.version == 1
        assert table_rows(table_path) == [(1, "a"), (1, "a")]

    def test_batch_id_needs_app_id(self, make_writer, spark: SparkSession, table_path: str) -> None:
        """A batch id without an app id is refused: Delta needs both to deduplicate."""
        plain = make_writer()
        with pytest.raises(ValueError, match="no app_id"):
            plain.append(spark.createDataFrame([(1, "a")], SCHEMA), table_path, batch_id=1)

    @pytest.mark.parametrize("batch_id", [-1, True, "3"])
    def test_batch_id_must_be_a_non_negative_int(
        self, spark: SparkSession, writer: SafeDeltaWriter, table_path: str, batch_id: object
    ) -> None:
        """Delta's txnVersion is a non-negative long; anything else is refused up front."""
        with pytest.raises(ValueError, match="non-negative int"):
            writer.append(
                spark.createDataFrame([(1, "a")], SCHEMA),
                table_path,
                batch_id=batch_id,  # type: ignore[arg-type]
            )


class TestAppendSchemaGuard:
    def test_new_column_refused_without_evolution(
        self, spark: SparkSession, writer: SafeDeltaWriter, table_path: str, table_versions
    ) -> None:
        """An extra column raises SchemaMismatchError naming it; the table is unchanged."""
        writer.append(spark.createDataFrame([(1, "a")], SCHEMA), table_path)
        wider = spark.createDataFrame([(2, "b", 1.5)], "id INT, v STRING, score DOUBLE")

        with pytest.raises(SchemaMismatchError, match="score") as info:
            writer.append(wider, table_path)
        assert info.value.column == "score"
        assert info.value.table_type is None
        assert table_versions(table_path) == [0]

    def test_new_column_added_with_evolution(
        self, make_writer, spark: SparkSession, table_path: str, table_rows
    ) -> None:
        """With allow_schema_evolution the new column is added and old rows read NULL."""
        evolving = make_writer(allow_schema_evolution=True)
        evolving.append(spark.createDataFrame([(1, "a")], SCHEMA), table_path)
        evolving.append(
            spark.createDataFrame([(2, "b", 1.5)], "id INT, v STRING, score DOUBLE"), table_path
        )

        assert table_rows(table_path, "id", "score") == [(1, None), (2, 1.5)]

    def test_type_change_refused_even_with_evolution(
        self, make_writer, spark: SparkSession, table_path: str, table_versions
    ) -> None:
        """A changed type names the column, the table type and the incoming type."""
        evolving = make_writer(allow_schema_evolution=True)
        evolving.append(spark.createDataFrame([(1, "a")], SCHEMA), table_path)

        with pytest.raises(SchemaMismatchError, match=r"'v'.*string.*int") as info:
            evolving.append(spark.createDataFrame([(2, 5)], "id INT, v INT"), table_path)
        assert (info.value.column, info.value.table_type, info.value.incoming_type) == (
            "v",
            "string",
            "int",
        )
        assert table_versions(table_path) == [0]
