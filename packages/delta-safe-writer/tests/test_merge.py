"""merge: upsert semantics, key checks before writing, reconciliation, naive-upsert property."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pyspark.sql import SparkSession

from delta_safe_writer import (
    DuplicateKeyError,
    DuplicateTargetKeyError,
    MissingKeyError,
    ReconciliationError,
    SafeDeltaWriter,
    SchemaMismatchError,
)

pytestmark = pytest.mark.spark

SCHEMA = "id INT, v STRING, n INT"


class TestMergeUpsert:
    def test_updates_matches_and_inserts_new_keys(
        self, spark: SparkSession, writer: SafeDeltaWriter, table_path: str, table_rows
    ) -> None:
        """Matched keys are updated, new keys inserted, counts come from the MERGE metrics."""
        writer.append(spark.createDataFrame([(1, "a", 1), (2, "b", 2)], SCHEMA), table_path)
        source = spark.createDataFrame([(2, "B", 20), (3, "c", 3)], SCHEMA)

        result = writer.merge(source, table_path, keys=["id"])

        assert table_rows(table_path) == [(1, "a", 1), (2, "B", 20), (3, "c", 3)]
        assert result.operation == "merge"
        assert result.version == 1
        assert (result.rows_inserted, result.rows_updated, result.rows_deleted) == (1, 1, 0)
        assert result.source_rows == 2
        assert result.metrics["numSourceRows"] == "2"

    def test_update_columns_leaves_other_columns(
        self, spark: SparkSession, writer: SafeDeltaWriter, table_path: str, table_rows
    ) -> None:
        """With update_columns only those columns change on a match; inserts take all."""
        writer.append(spark.createDataFrame([(1, "a", 1)], SCHEMA), table_path)
        source = spark.createDataFrame([(1, "A", 100), (2, "b", 2)], SCHEMA)

        writer.merge(source, table_path, keys="id", update_columns=["n"])

        assert table_rows(table_path) == [(1, "a", 100), (2, "b", 2)]

    def test_delete_when_deletes_matched_rows(
        self, spark: SparkSession, writer: SafeDeltaWriter, table_path: str, table_rows
    ) -> None:
        """Matched rows meeting delete_when are deleted and counted; the rest update."""
        writer.append(spark.createDataFrame([(1, "a", 1), (2, "b", 2)], SCHEMA), table_path)
        source = spark.createDataFrame([(1, "gone", 0), (2, "B", 20)], SCHEMA)

        result = writer.merge(source, table_path, keys=["id"], delete_when="s.v = 'gone'")

        assert table_rows(table_path) == [(2, "B", 20)]
        assert (result.rows_deleted, result.rows_updated, result.rows_inserted) == (1, 1, 0)

    def test_missing_table_is_created(
        self, spark: SparkSession, writer: SafeDeltaWriter, table_name: str, table_rows
    ) -> None:
        """Merging into a missing catalog table creates it with the source rows."""
        result = writer.merge(spark.createDataFrame([(1, "a", 1)], SCHEMA), table_name, ["id"])

        assert result.version == 1
        assert result.rows_inserted == 1
        assert table_rows(table_name) == [(1, "a", 1)]

    def test_composite_keys(
        self, spark: SparkSession, writer: SafeDeltaWriter, table_path: str, table_rows
    ) -> None:
        """Keys made of several columns match on all of them."""
        writer.append(spark.createDataFrame([(1, "a", 1), (1, "b", 2)], SCHEMA), table_path)
        writer.merge(spark.createDataFrame([(1, "b", 20)], SCHEMA), table_path, ["id", "v"])

        assert table_rows(table_path) == [(1, "a", 1), (1, "b", 20)]

    def test_new_column_with_schema_evolution(
        self, make_writer, spark: SparkSession, table_path: str, table_rows
    ) -> None:
        """With allow_schema_evolution a MERGE adds the source's new column."""
        evolving = make_writer(allow_schema_evolution=True)
        evolving.append(spark.createDataFrame([(1, "a", 1)], SCHEMA), table_path)
        wider = spark.createDataFrame([(1, "a", 1, True)], SCHEMA + ", flag BOOLEAN")

        evolving.merge(wider, table_path, ["id"])

        assert table_rows(table_path, "id", "flag") == [(1, True)]


class TestMergeRefusesBadKeys:
    def test_duplicate_keys_raise_with_sample(
        self, spark: SparkSession, writer: SafeDeltaWriter, table_path: str, table_versions
    ) -> None:
        """Duplicate source keys raise DuplicateKeyError naming table, keys and samples."""
        writer.append(spark.createDataFrame([(1, "a", 1)], SCHEMA), table_path)
        source = spark.createDataFrame(
            [(1, "x", 1), (1, "y", 2), (1, "z", 3), (2, "p", 1), (2, "q", 2), (3, "r", 1)],
            SCHEMA,
        )

        with pytest.raises(DuplicateKeyError, match=r"2 key value\(s\).*key\(s\) id") as info:
            writer.merge(source, table_path, ["id"])
        assert info.value.table == table_path
        assert info.value.keys == ("id",)
        assert info.value.duplicate_keys == 2
        assert info.value.sample == ({"id": 1, "rows": 3}, {"id": 2, "rows": 2})
        assert table_versions(table_path) == [0]

    def test_duplicates_among_new_keys_are_refused_inside_the_merge(
        self, spark: SparkSession, writer: SafeDeltaWriter, table_path: str, table_versions
    ) -> None:
        """Duplicated keys that match no target row (Delta would insert both) are refused too."""
        writer.append(spark.createDataFrame([(1, "a", 1)], SCHEMA), table_path)
        source = spark.createDataFrame([(1, "b", 2), (7, "x", 1), (7, "y", 2)], SCHEMA)

        with pytest.raises(DuplicateKeyError) as info:
            writer.merge(source, table_path, ["id"])
        assert info.value.sample == ({"id": 7, "rows": 2},)
        assert table_versions(table_path) == [0]
        assert writer.merge(source.filter("v != 'y'"), table_path, ["id"]).rows_inserted == 1

    def test_null_keys_raise_missing_key_error(
        self, spark: SparkSession, writer: SafeDeltaWriter, table_path: str, table_versions
    ) -> None:
        """NULL keys would be inserted again on every run: MissingKeyError, nothing written."""
        writer.append(spark.createDataFrame([(1, "a", 1)], SCHEMA), table_path)
        source = spark.createDataFrame([(None, "x", 1), (None, "y", 2), (2, "b", 2)], SCHEMA)

        with pytest.raises(MissingKeyError, match="2 source row") as info:
            writer.merge(source, table_path, ["id"])
        assert info.value.null_key_rows == 2
        assert table_versions(table_path) == [0]

    def test_key_missing_from_source(
        self, spark: SparkSession, writer: SafeDeltaWriter, table_path: str
    ) -> None:
        """A key column absent from the source is named in the error."""
        with pytest.raises(MissingKeyError, match=r"customer_id missing from the source") as info:
            writer.merge(spark.createDataFrame([(1, "a", 1)], SCHEMA), table_path, "customer_id")
        assert info.value.missing_columns == ("customer_id",)

    def test_key_missing_from_target(
        self, spark: SparkSession, writer: SafeDeltaWriter, table_path: str
    ) -> None:
        """A key column absent from the target table is named in the error."""
        writer.append(spark.createDataFrame([(1, "a")], "id INT, v STRING"), table_path)
        with pytest.raises(MissingKeyError, match="missing from the target table"):
            writer.merge(spark.createDataFrame([(1, "a", 1)], SCHEMA), table_path, ["n"])

    def test_no_keys(self, spark: SparkSession, writer: SafeDeltaWriter, table_path: str) -> None:
        """An empty key list is refused."""
        with pytest.raises(MissingKeyError, match="No merge keys"):
            writer.merge(spark.createDataFrame([(1, "a", 1)], SCHEMA), table_path, [])

    def test_unknown_update_column(
        self, spark: SparkSession, writer: SafeDeltaWriter, table_path: str
    ) -> None:
        """update_columns naming a column the source lacks is refused before any job."""
        writer.append(spark.createDataFrame([(1, "a", 1)], SCHEMA), table_path)
        with pytest.raises(ValueError, match="update_columns names column"):
            writer.merge(
                spark.createDataFrame([(1, "a", 1)], SCHEMA),
                table_path,
                ["id"],
                update_columns=["nope"],
            )

    def test_type_change_refused(
        self, spark: SparkSession, writer: SafeDeltaWriter, table_path: str
    ) -> None:
        """A MERGE whose source changes a column type is refused, naming the column."""
        writer.append(spark.createDataFrame([(1, "a", 1)], SCHEMA), table_path)
        with pytest.raises(SchemaMismatchError, match="Column 'n'"):
            writer.merge(
                spark.createDataFrame([(1, "a", "x")], "id INT, v STRING, n STRING"),
                table_path,
                ["id"],
            )


class TestMergeSkipsAndIdempotency:
    def test_empty_source_is_skipped(
        self, spark: SparkSession, writer: SafeDeltaWriter, table_path: str, table_versions
    ) -> None:
        """An empty source makes no commit."""
        writer.append(spark.createDataFrame([(1, "a", 1)], SCHEMA), table_path)
        result = writer.merge(spark.createDataFrame([], SCHEMA), table_path, ["id"])

        assert result.skipped
        assert "empty input" in (result.reason or "")
        assert table_versions(table_path) == [0]

    def test_rerun_of_batch_is_skipped(
        self, spark: SparkSession, writer: SafeDeltaWriter, table_path: str, table_versions
    ) -> None:
        """The same app id and batch id merged twice commits once (Delta txn via SQL confs)."""
        writer.append(spark.createDataFrame([(1, "a", 1)], SCHEMA), table_path)
        source = spark.createDataFrame([(1, "b", 2)], SCHEMA)

        first = writer.merge(source, table_path, ["id"], batch_id=10, run_id="r1")
        second = writer.merge(source, table_path, ["id"], batch_id=10, run_id="r2")

        assert first.version == 1
        assert second.skipped
        assert "batch 10" in (second.reason or "")
        assert table_versions(table_path) == [0, 1]
        meta = writer.history(table_path, limit=1)[0]["writer_metadata"]
        assert (meta["batch_id"], meta["run_id"]) == (10, "r1")

    def test_confs_are_restored_after_the_call(
        self, spark: SparkSession, writer: SafeDeltaWriter, table_path: str
    ) -> None:
        """The txn and metadata session confs are unset after a merge, even after an error."""
        writer.append(spark.createDataFrame([(1, "a", 1)], SCHEMA), table_path)
        writer.merge(spark.createDataFrame([(1, "b", 2)], SCHEMA), table_path, ["id"], batch_id=1)
        with pytest.raises(Exception, match="UNRESOLVED"):
            writer.merge(
                spark.createDataFrame([(1, "c", 3)], SCHEMA),
                table_path,
                ["id"],
                delete_when="s.nope = 1",
                batch_id=2,
            )

        for key in (
            "spark.databricks.delta.write.txnAppId",
            "spark.databricks.delta.write.txnVersion",
            "spark.databricks.delta.commitInfo.userMetadata",
        ):
            assert spark.conf.get(key, None) is None


class TestMergeReconciliation:
    def test_duplicate_target_keys_are_refused_before_the_commit(
        self, spark: SparkSession, writer: SafeDeltaWriter, table_path: str, table_rows
    ) -> None:
        """A batch key the table holds twice is refused inside the MERGE: no commit, no restore."""
        spark.createDataFrame([(1, "a", 1), (1, "a2", 1), (2, "b", 2)], SCHEMA).write.format(
            "delta"
        ).save(table_path)

        with pytest.raises(DuplicateTargetKeyError, match="already holds more than one") as info:
            writer.merge(
                spark.createDataFrame([(1, "b", 2), (3, "c", 3)], SCHEMA), table_path, ["id"]
            )

        assert info.value.keys == ("id",)
        assert info.value.duplicate_keys == 1
        assert info.value.sample == ({"id": 1, "rows": 2},)
        assert isinstance(info.value, DuplicateKeyError)
        assert table_rows(table_path) == [(1, "a", 1), (1, "a2", 1), (2, "b", 2)]
        assert [h["operation"] for h in writer.history(table_path)] == ["WRITE"]

    def test_duplicates_of_keys_outside_the_batch_are_left_alone(
        self, spark: SparkSession, writer: SafeDeltaWriter, table_path: str, table_rows
    ) -> None:
        """Only the batch's keys are checked: a duplicate the MERGE does not touch is no error."""
        spark.createDataFrame([(1, "a", 1), (1, "a2", 1), (2, "b", 2)], SCHEMA).write.format(
            "delta"
        ).save(table_path)

        result = writer.merge(spark.createDataFrame([(2, "B", 20)], SCHEMA), table_path, ["id"])

        assert result.rows_updated == 1
        assert table_rows(table_path) == [(1, "a", 1), (1, "a2", 1), (2, "B", 20)]

    def test_duplicate_target_keys_fail_reconciliation_and_roll_back(
        self, make_writer, spark: SparkSession, table_path: str, table_rows
    ) -> None:
        """Without the target key check, a doubly updated key fails reconciliation: rollback."""
        spark.createDataFrame([(1, "a", 1), (1, "a2", 1)], SCHEMA).write.format("delta").save(
            table_path
        )
        writer = make_writer(check_target_keys=False)

        with pytest.raises(ReconciliationError, match="does not reconcile") as info:
            writer.merge(spark.createDataFrame([(1, "b", 2)], SCHEMA), table_path, ["id"])
        assert info.value.expected["inserted+updated+deleted"] == 1
        assert info.value.actual["inserted+updated+deleted"] == 2
        assert table_rows(table_path) == [(1, "a", 1), (1, "a2", 1)]
        assert "restored to version 0" in "".join(getattr(info.value, "__notes__", []))

    def test_reconciliation_can_be_switched_off(
        self, make_writer, spark: SparkSession, table_path: str, table_rows
    ) -> None:
        """With reconcile=False and no target key check the merge commits as Delta decides."""
        spark.createDataFrame([(1, "a", 1), (1, "a2", 1)], SCHEMA).write.format("delta").save(
            table_path
        )
        lax = make_writer(reconcile=False, check_target_keys=False)
        result = lax.merge(spark.createDataFrame([(1, "b", 2)], SCHEMA), table_path, ["id"])

        assert result.rows_updated == 2
        assert table_rows(table_path) == [(1, "b", 2), (1, "b", 2)]


class TestKeysKnownUnique:
    """A table whose newest commit is this writer's checked MERGE needs no target-key scan."""

    def test_checked_merges_record_their_keys_unique(
        self, spark: SparkSession, make_writer, table_path: str
    ) -> None:
        """Creation and checked merges record the keys; a merge without the check does not."""
        writer = make_writer()
        writer.merge(spark.createDataFrame([(1, "a", 1)], SCHEMA), table_path, ["ID"])
        created = writer.history(table_path, 1)[0]["writer_metadata"]
        writer.merge(spark.createDataFrame([(2, "b", 2)], SCHEMA), table_path, ["id"])
        merged = writer.history(table_path, 1)[0]["writer_metadata"]
        make_writer(check_target_keys=False).merge(
            spark.createDataFrame([(3, "c", 3)], SCHEMA), table_path, ["id"]
        )
        unchecked = writer.history(table_path, 1)[0]["writer_metadata"]

        assert created["unique_keys"] == ["id"]
        assert merged["unique_keys"] == ["id"]
        assert merged["operation"] == "merge"
        assert "unique_keys" not in unchecked

    def test_the_writers_own_log_is_trusted_and_reconciliation_backs_it(
        self, spark: SparkSession, writer: SafeDeltaWriter, table_path: str, table_rows
    ) -> None:
        """No pre-commit refusal after a checked merge; a forged commit is still rolled back.

        A commit that copies the writer's metadata while adding a duplicate key makes the
        next merge skip the table scan (the log says the keys are unique): Delta then updates
        both rows, reconciliation sees one update too many and the merge is restored.
        """
        writer.merge(spark.createDataFrame([(1, "a", 1), (2, "b", 2)], SCHEMA), table_path, ["id"])
        metadata = writer.history(table_path, 1)[0]["userMetadata"]
        spark.createDataFrame([(1, "forged", 9)], SCHEMA).write.format("delta").mode(
            "append"
        ).option("userMetadata", metadata).save(table_path)

        with pytest.raises(ReconciliationError, match="does not reconcile") as info:
            writer.merge(spark.createDataFrame([(1, "x", 5)], SCHEMA), table_path, ["id"])

        assert not isinstance(info.value, DuplicateKeyError)
        assert info.value.actual["inserted+updated+deleted"] == 2
        assert table_rows(table_path) == [(1, "a", 1), (1, "forged", 9), (2, "b", 2)]
        assert [h["operation"] for h in writer.history(table_path, 2)] == ["RESTORE", "MERGE"]

    def test_another_writers_commit_brings_the_check_back(
        self, spark: SparkSession, writer: SafeDeltaWriter, table_path: str, table_rows
    ) -> None:
        """After a commit the writer did not check, a duplicated key is refused before commit."""
        writer.merge(spark.createDataFrame([(1, "a", 1), (2, "b", 2)], SCHEMA), table_path, ["id"])
        spark.createDataFrame([(1, "dup", 9)], SCHEMA).write.format("delta").mode("append").save(
            table_path
        )
        before = len(writer.history(table_path))

        with pytest.raises(DuplicateTargetKeyError):
            writer.merge(spark.createDataFrame([(1, "x", 5)], SCHEMA), table_path, ["id"])

        assert len(writer.history(table_path)) == before
        assert table_rows(table_path) == [(1, "a", 1), (1, "dup", 9), (2, "b", 2)]

    def test_a_catalog_table_reads_its_newest_commit_from_the_history(
        self, spark: SparkSession, writer: SafeDeltaWriter, table_name: str, table_rows
    ) -> None:
        """By name (no local log folder to read), the history says whether the keys are known."""
        writer.merge(spark.createDataFrame([(1, "a", 1)], SCHEMA), table_name, ["id"])
        spark.createDataFrame([(1, "dup", 9)], SCHEMA).write.format("delta").mode(
            "append"
        ).saveAsTable(table_name)
        with pytest.raises(DuplicateTargetKeyError):
            writer.merge(spark.createDataFrame([(1, "x", 5)], SCHEMA), table_name, ["id"])
        spark.sql(f"DELETE FROM {table_name} WHERE v = 'dup'")
        # DELETE is not the writer's commit: the check runs (and passes) and marks the keys.
        writer.merge(spark.createDataFrame([(1, "y", 6)], SCHEMA), table_name, ["id"])
        writer.merge(spark.createDataFrame([(2, "b", 2)], SCHEMA), table_name, ["id"])

        assert table_rows(table_name) == [(1, "y", 6), (2, "b", 2)]
        assert writer.history(table_name, 1)[0]["writer_metadata"]["unique_keys"] == ["id"]


keyed_rows = st.dictionaries(st.integers(0, 12), st.integers(0, 3), max_size=8)


class TestMergeMatchesNaiveUpsert:
    @settings(
        max_examples=15,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture],
    )
    @given(initial=keyed_rows, batch=keyed_rows)
    def test_property_equals_python_upsert(
        self,
        *,
        spark: SparkSession,
        writer: SafeDeltaWriter,
        tmp_path_factory: pytest.TempPathFactory,
        initial: dict[int, int],
        batch: dict[int, int],
    ) -> None:
        """For any table and unique-key batch, the result equals dict.update and counts add up."""
        path = str(tmp_path_factory.mktemp("prop") / "t")
        schema = "id INT, n INT"
        spark.createDataFrame(sorted(initial.items()), schema).write.format("delta").save(path)

        result = writer.merge(spark.createDataFrame(sorted(batch.items()), schema), path, ["id"])

        expected = dict(initial)
        expected.update(batch)
        actual = sorted(tuple(r) for r in spark.read.format("delta").load(path).collect())
        assert actual == sorted(expected.items())
        if batch:
            assert result.rows_updated == len(batch.keys() & initial.keys())
            assert result.rows_inserted == len(batch.keys() - initial.keys())
        else:
            assert result.skipped


target_rows = st.lists(st.tuples(st.integers(0, 6), st.integers(0, 3)), max_size=8)


class TestTargetKeyCheckMatchesReference:
    @settings(
        max_examples=10,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture],
    )
    @given(initial=target_rows, batch=keyed_rows)
    def test_property_refuses_exactly_batches_touching_duplicated_keys(
        self,
        *,
        spark: SparkSession,
        writer: SafeDeltaWriter,
        tmp_path_factory: pytest.TempPathFactory,
        initial: list[tuple[int, int]],
        batch: dict[int, int],
    ) -> None:
        """Refused iff the table holds a batch key twice; else equal to a Python upsert."""
        path = str(tmp_path_factory.mktemp("dups") / "t")
        schema = "id INT, n INT"
        spark.createDataFrame(initial, schema).write.format("delta").save(path)
        held = {key: sum(1 for k, _ in initial if k == key) for key in batch}
        duplicated = sorted(key for key, count in held.items() if count > 1)
        source = spark.createDataFrame(sorted(batch.items()), schema)

        def table() -> list[tuple[int, int]]:
            return sorted(tuple(r) for r in spark.read.format("delta").load(path).collect())

        if duplicated:
            with pytest.raises(DuplicateTargetKeyError) as info:
                writer.merge(source, path, ["id"])
            assert info.value.duplicate_keys == len(duplicated)
            assert sorted(s["id"] for s in info.value.sample) == duplicated[:5]
            assert table() == sorted(initial)
            assert len(writer.history(path)) == 1
            return
        writer.merge(source, path, ["id"])
        expected = [(k, n) for k, n in initial if k not in batch] + list(batch.items())
        assert table() == sorted(expected)
