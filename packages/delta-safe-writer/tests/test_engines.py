"""Both engines, every operation: the same rows, results and refusals (SQL without DeltaTable)."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from delta.tables import DeltaTable
from pyspark.sql import DataFrame, SparkSession

from delta_safe_writer import (
    DuplicateKeyError,
    DuplicateTargetKeyError,
    OutOfOrderChangeError,
    SafeDeltaWriter,
    UnsafeWriteError,
)
from delta_safe_writer._table import epoch_ms

pytestmark = pytest.mark.spark

SCHEMA = "id INT, v STRING, day STRING"
T1, T2 = dt.datetime(2024, 1, 1), dt.datetime(2024, 2, 1)


def forbid(*_: Any, **__: Any) -> None:
    """Stands in for every DeltaTable entry point while the SQL engine runs."""
    raise AssertionError("the SQL engine must not use delta.tables.DeltaTable")


@pytest.fixture(
    params=[
        pytest.param(
            "delta", marks=pytest.mark.no_connect("DeltaTable needs Delta Connect's server plugin")
        ),
        "sql",
    ]
)
def engine(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """The engine under test; for ``sql`` every DeltaTable entry point raises."""
    if request.param == "sql":
        for name in ("forPath", "forName", "isDeltaTable", "createIfNotExists", "create"):
            monkeypatch.setattr(DeltaTable, name, forbid)
    return str(request.param)


def read_rows(spark: SparkSession, target: str) -> list[tuple[Any, ...]]:
    """Sorted rows of a path or catalog table (without DeltaTable)."""
    frame = spark.read.format("delta").load(target) if "/" in target else spark.table(target)
    return sorted(tuple(r) for r in frame.collect())


def described(spark: SparkSession, target: str) -> dict[int, dict[str, Any]]:
    """DESCRIBE HISTORY by version: operation, timestamp (ms) and decoded userMetadata."""
    ref = f"delta.`{target}`" if "/" in target else target
    return {
        r["version"]: {
            "operation": r["operation"],
            "timestamp_ms": epoch_ms(r["timestamp"]),
            "meta": json.loads(r["userMetadata"]) if r["userMetadata"] else {},
        }
        for r in spark.sql(f"DESCRIBE HISTORY {ref}").collect()
    }


def frame(spark: SparkSession, rows: list[tuple[Any, ...]]) -> DataFrame:
    """A DataFrame of (id, v, day) rows."""
    return spark.createDataFrame(rows, SCHEMA)


class TestEveryOperation:
    def test_path_table_lifecycle(
        self, make_writer, engine: str, spark: SparkSession, table_path: str
    ) -> None:
        """Append, merge, replace, delete, overwrite and restore give the same results."""
        writer: SafeDeltaWriter = make_writer(engine=engine, app_id="engines")
        assert writer.engine.name == engine

        created = writer.append(frame(spark, [(1, "a", "d1"), (2, "b", "d2")]), table_path)
        merged = writer.merge(
            frame(spark, [(1, "gone", "d1"), (2, "B", "d2"), (3, "c", "d2")]),
            table_path,
            ["id"],
            delete_when="s.v = 'gone'",
        )
        replaced = writer.overwrite_partitions(
            frame(spark, [(4, "x", "d2")]), table_path, "day = 'd2'"
        )
        emptied = writer.overwrite_partitions(
            frame(spark, []), table_path, "day = 'd2'", allow_empty=True
        )
        full = writer.overwrite(
            frame(spark, [(7, "q", "d7")]), table_path, allow_full_overwrite=True
        )
        restored = writer.restore(table_path, 2, run_id="undo")

        assert [r.version for r in (created, merged, replaced, emptied, full, restored)] == [
            0,
            1,
            2,
            3,
            4,
            5,
        ]
        assert (created.rows_inserted, created.rows_output) == (2, 2)
        assert (merged.rows_inserted, merged.rows_updated, merged.rows_deleted) == (1, 1, 1)
        assert merged.source_rows == 3
        assert (replaced.rows_inserted, replaced.rows_deleted) == (1, 2)
        assert (emptied.rows_deleted, emptied.rows_inserted) == (1, 0)
        assert full.rows_inserted == 1
        assert read_rows(spark, table_path) == [(4, "x", "d2")]
        history = described(spark, table_path)
        assert [history[v]["operation"] for v in range(6)] == [
            "WRITE",
            "MERGE",
            "WRITE",
            "DELETE",
            "WRITE",
            "RESTORE",
        ]
        for result in (created, merged, replaced, emptied, full, restored):
            assert result.timestamp_ms == history[result.version]["timestamp_ms"]
            assert history[result.version]["meta"]["operation"] == result.operation
        assert history[5]["meta"]["restored_version"] == 2
        assert history[5]["meta"]["run_id"] == "undo"
        commits = writer.history(table_path, limit=2)
        assert [c["version"] for c in commits] == [5, 4]
        assert commits[0]["writer_metadata"]["run_id"] == "undo"
        assert [t.name for t in spark.catalog.listTables() if t.isTemporary] == []

    def test_catalog_table_and_idempotent_batches(
        self, make_writer, engine: str, spark: SparkSession, table_name: str
    ) -> None:
        """A catalog table is created then written; re-run batches are skipped; confs restored."""
        writer = make_writer(engine=engine, app_id="engines")

        first = writer.append(frame(spark, [(1, "a", "d1")]), table_name, batch_id=1)
        again = writer.append(frame(spark, [(1, "a", "d1")]), table_name, batch_id=1)
        merged = writer.merge(frame(spark, [(1, "A", "d1")]), table_name, "id", batch_id=2)
        remerged = writer.merge(frame(spark, [(1, "Z", "d1")]), table_name, "id", batch_id=2)

        assert (first.version, merged.version) == (1, 2)
        assert again.skipped
        assert remerged.skipped
        assert "batch 2" in (remerged.reason or "")
        assert read_rows(spark, table_name) == [(1, "A", "d1")]
        history = described(spark, table_name)
        assert [history[v]["operation"] for v in range(3)] == ["CREATE TABLE", "WRITE", "MERGE"]
        assert history[2]["meta"]["batch_id"] == 2
        for key in (
            "spark.databricks.delta.write.txnAppId",
            "spark.databricks.delta.write.txnVersion",
            "spark.databricks.delta.commitInfo.userMetadata",
        ):
            assert spark.conf.get(key, None) is None

    def test_scd2_and_its_refusals(
        self, make_writer, engine: str, spark: SparkSession, table_path: str
    ) -> None:
        """SCD2 closes and inserts versions; late changes and duplicates are refused."""
        writer = make_writer(engine=engine)
        schema = "id INT, tier STRING"
        writer.scd2_merge(
            spark.createDataFrame([(1, "gold"), (2, "silver")], schema),
            table_path,
            "id",
            tracked_columns=["tier"],
            effective_at=T1,
        )

        result = writer.scd2_merge(
            spark.createDataFrame([(1, "platinum")], schema),
            table_path,
            "id",
            tracked_columns=["tier"],
            effective_at=T2,
            delete_missing=True,
        )
        with pytest.raises(OutOfOrderChangeError):
            writer.scd2_merge(
                spark.createDataFrame([(1, "bronze")], schema),
                table_path,
                "id",
                tracked_columns=["tier"],
                effective_at=T1,
            )

        assert result.version == 1
        assert read_rows(spark, table_path) == [
            (1, "gold", T1, T2, False),
            (1, "platinum", T2, None, True),
            (2, "silver", T1, T2, False),
        ]
        assert sorted(described(spark, table_path)) == [0, 1]

    def test_key_and_scope_refusals_leave_the_table(
        self, make_writer, engine: str, spark: SparkSession, table_path: str
    ) -> None:
        """Duplicate source or target keys and rows outside replace_where commit nothing."""
        writer = make_writer(engine=engine)
        frame(spark, [(1, "a", "d1"), (1, "a2", "d1"), (2, "b", "d2")]).write.format("delta").save(
            table_path
        )

        with pytest.raises(DuplicateKeyError) as source_dups:
            writer.merge(frame(spark, [(2, "x", "d2"), (2, "y", "d2")]), table_path, ["id"])
        with pytest.raises(DuplicateTargetKeyError) as target_dups:
            writer.merge(frame(spark, [(1, "x", "d1")]), table_path, ["id"])
        with pytest.raises(UnsafeWriteError, match="1 incoming row"):
            writer.overwrite_partitions(
                frame(spark, [(5, "e", "d5"), (6, "f", "d2")]), table_path, "day = 'd2'"
            )

        assert not isinstance(source_dups.value, DuplicateTargetKeyError)
        # The SQL engine's temporary source views are dropped after a failed MERGE too.
        assert [t.name for t in spark.catalog.listTables() if t.isTemporary] == []
        assert source_dups.value.sample == ({"id": 2, "rows": 2},)
        assert target_dups.value.sample == ({"id": 1, "rows": 2},)
        assert sorted(described(spark, table_path)) == [0]

    def test_widening_and_rollback(
        self, make_writer, engine: str, spark: SparkSession, table_path: str
    ) -> None:
        """A narrower source column is cast and reported; a failed post-hook restores."""
        spark.createDataFrame([(1, 10)], "id INT, n BIGINT").write.format("delta").save(table_path)
        writer = make_writer(engine=engine)

        result = writer.merge(
            spark.createDataFrame([(1, 11), (2, 2)], "id INT, n INT"), table_path, "id"
        )

        def refuse(_: object) -> None:
            raise RuntimeError("audit failed")

        with pytest.raises(RuntimeError, match="audit failed") as info:
            make_writer(engine=engine, post_hooks=[refuse]).append(
                spark.createDataFrame([(3, 3)], "id INT, n BIGINT"), table_path
            )

        assert result.casts == {"n": ("int", "bigint")}
        assert read_rows(spark, table_path) == [(1, 11), (2, 2)]
        assert "restored to version 1" in " ".join(info.value.__notes__)
        assert [described(spark, table_path)[v]["operation"] for v in (1, 2, 3)] == [
            "MERGE",
            "WRITE",
            "RESTORE",
        ]
