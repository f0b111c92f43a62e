"""scd2_merge: close-and-insert history in one MERGE, checked against a pure-Python reference."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pyspark.sql import SparkSession

from delta_safe_writer import (
    DuplicateKeyError,
    OutOfOrderChangeError,
    SafeDeltaWriter,
    SafeWriteError,
    SchemaMismatchError,
)

pytestmark = pytest.mark.spark

SCHEMA = "id INT, v STRING, note STRING"
T1 = dt.datetime(2024, 1, 1)
T2 = dt.datetime(2024, 2, 1)
T3 = dt.datetime(2024, 3, 1)
HISTORY = ("id", "v", "valid_from", "valid_to", "is_current")
TIMED = "id INT, v STRING, changed_at TIMESTAMP"

Version = tuple[Any, ...]


def reference_scd2(
    history: list[dict[str, Any]],
    batch: dict[int, str | None],
    at: dt.datetime,
    *,
    delete_missing: bool = False,
) -> list[dict[str, Any]]:
    """Naive SCD2: close changed/missing current rows at ``at`` and add new versions."""
    out = [dict(r) for r in history]
    current = {r["id"]: r for r in out if r["is_current"]}
    for key, value in batch.items():
        row = current.get(key)
        if row is not None and row["v"] == value:
            continue
        if row is not None:
            row.update(valid_to=at, is_current=False)
        out.append({"id": key, "v": value, "valid_from": at, "valid_to": None, "is_current": True})
    if delete_missing:
        for key, row in current.items():
            if key not in batch:
                row.update(valid_to=at, is_current=False)
    return out


def as_tuples(history: list[dict[str, Any]]) -> list[Version]:
    """History rows as sorted tuples (NULLs sort last)."""
    return sorted(
        (tuple(r[c] for c in HISTORY) for r in history),
        key=lambda t: tuple((x is None, str(x)) for x in t),
    )


def table_history(spark: SparkSession, path: str) -> list[Version]:
    """The table's history columns as sorted tuples."""
    frame = spark.read.format("delta").load(path).select(*HISTORY)
    return as_tuples([r.asDict() for r in frame.collect()])


class TestScd2Merge:
    def test_first_load_makes_every_row_current(
        self, spark: SparkSession, writer: SafeDeltaWriter, table_path: str
    ) -> None:
        """A missing table is created with valid_from = effective_at and all rows current."""
        df = spark.createDataFrame([(1, "a", "x"), (2, "b", "y")], SCHEMA)

        result = writer.scd2_merge(df, table_path, ["id"], tracked_columns=["v"], effective_at=T1)

        assert result.version == 0
        assert result.rows_inserted == 2
        assert table_history(spark, table_path) == [
            (1, "a", T1, None, True),
            (2, "b", T1, None, True),
        ]

    def test_change_closes_current_and_inserts_version(
        self, spark: SparkSession, writer: SafeDeltaWriter, table_path: str
    ) -> None:
        """A changed tracked column closes the current row and adds a new one; new keys insert."""
        first = spark.createDataFrame([(1, "a", "x"), (2, "b", "y")], SCHEMA)
        writer.scd2_merge(first, table_path, ["id"], tracked_columns=["v"], effective_at=T1)
        batch = spark.createDataFrame([(1, "A", "x"), (2, "b", "y"), (3, "c", "z")], SCHEMA)

        result = writer.scd2_merge(batch, table_path, "id", tracked_columns=["v"], effective_at=T2)

        assert table_history(spark, table_path) == [
            (1, "A", T2, None, True),
            (1, "a", T1, T2, False),
            (2, "b", T1, None, True),
            (3, "c", T2, None, True),
        ]
        assert result.operation == "scd2_merge"
        assert (result.rows_inserted, result.rows_updated) == (2, 1)
        assert result.source_rows == 3

    def test_untracked_change_alone_makes_no_version(
        self, spark: SparkSession, writer: SafeDeltaWriter, table_path: str
    ) -> None:
        """A change in an untracked column only leaves the current row untouched."""
        df = spark.createDataFrame([(1, "a", "x")], SCHEMA)
        writer.scd2_merge(df, table_path, ["id"], tracked_columns=["v"], effective_at=T1)

        again = writer.scd2_merge(
            spark.createDataFrame([(1, "a", "changed note")], SCHEMA),
            table_path,
            ["id"],
            tracked_columns=["v"],
            effective_at=T2,
        )

        assert (again.rows_inserted, again.rows_updated, again.rows_deleted) == (0, 0, 0)
        assert table_history(spark, table_path) == [(1, "a", T1, None, True)]
        assert [
            tuple(r) for r in spark.read.format("delta").load(table_path).select("note").collect()
        ] == [("x",)]

    def test_delete_missing_closes_absent_keys(
        self, spark: SparkSession, writer: SafeDeltaWriter, table_path: str
    ) -> None:
        """With a full snapshot, current rows whose key is absent are closed, history kept."""
        first = spark.createDataFrame([(1, "a", "x"), (2, "b", "y")], SCHEMA)
        writer.scd2_merge(first, table_path, ["id"], tracked_columns=["v"], effective_at=T1)

        result = writer.scd2_merge(
            spark.createDataFrame([(1, "a", "x")], SCHEMA),
            table_path,
            ["id"],
            tracked_columns=["v"],
            effective_at=T2,
            delete_missing=True,
        )

        assert table_history(spark, table_path) == [
            (1, "a", T1, None, True),
            (2, "b", T1, T2, False),
        ]
        assert result.metrics["numTargetRowsNotMatchedBySourceUpdated"] == "1"

    def test_effective_at_from_a_column_and_custom_names(
        self, spark: SparkSession, writer: SafeDeltaWriter, table_name: str
    ) -> None:
        """effective_at may name a source column; history column names are configurable."""
        names = {
            "valid_from_column": "start_ts",
            "valid_to_column": "end_ts",
            "current_column": "live",
        }
        schema = "id INT, v STRING, changed_at TIMESTAMP"
        writer.scd2_merge(
            spark.createDataFrame([(1, "a", T1)], schema),
            table_name,
            ["id"],
            tracked_columns=["v"],
            effective_at="changed_at",
            **names,
        )
        writer.scd2_merge(
            spark.createDataFrame([(1, "b", T3)], schema),
            table_name,
            ["id"],
            tracked_columns=["v"],
            effective_at="changed_at",
            **names,
        )

        got = sorted(
            tuple(r)
            for r in spark.table(table_name).select("v", "start_ts", "end_ts", "live").collect()
        )
        assert got == [("a", T1, T3, False), ("b", T3, None, True)]

    def test_duplicate_keys_refused(
        self, spark: SparkSession, writer: SafeDeltaWriter, table_path: str
    ) -> None:
        """Two source rows for one key would make two current versions: refused."""
        with pytest.raises(DuplicateKeyError):
            writer.scd2_merge(
                spark.createDataFrame([(1, "a", "x"), (1, "b", "y")], SCHEMA),
                table_path,
                ["id"],
                tracked_columns=["v"],
                effective_at=T1,
            )

    def test_empty_snapshot_is_skipped(
        self, spark: SparkSession, writer: SafeDeltaWriter, table_path: str, table_versions
    ) -> None:
        """An empty full snapshot would close every row: skipped instead."""
        writer.scd2_merge(
            spark.createDataFrame([(1, "a", "x")], SCHEMA),
            table_path,
            ["id"],
            tracked_columns=["v"],
            effective_at=T1,
        )
        result = writer.scd2_merge(
            spark.createDataFrame([], SCHEMA),
            table_path,
            ["id"],
            tracked_columns=["v"],
            effective_at=T2,
            delete_missing=True,
        )

        assert result.skipped
        assert table_versions(table_path) == [0]


class TestScd2Arguments:
    def test_target_without_history_columns(
        self, spark: SparkSession, writer: SafeDeltaWriter, table_path: str
    ) -> None:
        """An existing table lacking the history columns is named in the error."""
        writer.append(spark.createDataFrame([(1, "a", "x")], SCHEMA), table_path)
        with pytest.raises(SchemaMismatchError, match="valid_from, valid_to, is_current"):
            writer.scd2_merge(
                spark.createDataFrame([(1, "b", "x")], SCHEMA),
                table_path,
                ["id"],
                tracked_columns=["v"],
                effective_at=T1,
            )

    @pytest.mark.parametrize(
        ("kwargs", "error", "message"),
        [
            ({"tracked_columns": []}, ValueError, "needs tracked_columns"),
            ({"tracked_columns": ["nope"]}, ValueError, "tracked_columns names column"),
            ({"effective_at": "nope"}, ValueError, "effective_at names column"),
            ({"effective_at": 5}, TypeError, "datetime, a date or a column name"),
            (
                {"effective_at": "note", "delete_missing": True},
                ValueError,
                "needs effective_at as a datetime",
            ),
            ({"current_column": "note"}, ValueError, "already has history column"),
        ],
    )
    def test_bad_arguments(
        self,
        *,
        spark: SparkSession,
        writer: SafeDeltaWriter,
        table_path: str,
        kwargs: dict[str, Any],
        error: type[Exception],
        message: str,
    ) -> None:
        """Inconsistent arguments are refused before any Spark job."""
        arguments: dict[str, Any] = {"tracked_columns": ["v"], "effective_at": T1, **kwargs}
        with pytest.raises(error, match=message):
            writer.scd2_merge(
                spark.createDataFrame([(1, "a", "x")], SCHEMA), table_path, ["id"], **arguments
            )


values = st.one_of(st.none(), st.sampled_from(["a", "b"]))
snapshots = st.dictionaries(st.integers(0, 6), values, min_size=1, max_size=6)


class TestScd2MatchesReference:
    @settings(
        max_examples=10,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture],
    )
    @given(first=snapshots, second=snapshots, third=snapshots, delete_missing=st.booleans())
    def test_property_equals_reference(
        self,
        *,
        spark: SparkSession,
        writer: SafeDeltaWriter,
        tmp_path_factory: pytest.TempPathFactory,
        first: dict[int, str | None],
        second: dict[int, str | None],
        third: dict[int, str | None],
        delete_missing: bool,
    ) -> None:
        """Three batches applied by scd2_merge give the same history as the Python reference."""
        path = str(tmp_path_factory.mktemp("scd2") / "t")
        expected: list[dict[str, Any]] = []
        for batch, at in ((first, T1), (second, T2), (third, T3)):
            df = spark.createDataFrame(sorted(batch.items()), "id INT, v STRING")
            writer.scd2_merge(
                df,
                path,
                ["id"],
                tracked_columns=["v"],
                effective_at=at,
                delete_missing=delete_missing,
            )
            expected = reference_scd2(expected, batch, at, delete_missing=delete_missing)

        assert table_history(spark, path) == as_tuples(expected)


def load_timed(
    writer: SafeDeltaWriter, spark: SparkSession, path: str, rows: list[tuple[Any, ...]]
) -> None:
    """Apply one batch of (id, v, changed_at) rows with effective_at from the column."""
    writer.scd2_merge(
        spark.createDataFrame(rows, TIMED),
        path,
        ["id"],
        tracked_columns=["v"],
        effective_at="changed_at",
    )


class TestScd2OutOfOrder:
    def test_change_before_current_version_is_refused(
        self, spark: SparkSession, writer: SafeDeltaWriter, table_path: str, table_versions
    ) -> None:
        """A change effective before the current valid_from is refused with a sample; no write."""
        load_timed(writer, spark, table_path, [(1, "a", T2), (2, "b", T2), (3, "c", T1)])
        late = [(1, "A", T1), (2, "B", T3), (3, "C", T1), (4, "d", T1)]

        with pytest.raises(OutOfOrderChangeError) as info:
            load_timed(writer, spark, table_path, late)

        error = info.value
        assert isinstance(error, SafeWriteError)
        assert (error.table, error.keys, error.effective_at) == (table_path, ("id",), "changed_at")
        # Key 3 changes exactly at its valid_from (zero-length); 2 is later, 4 is new.
        assert error.out_of_order_keys == 2
        assert list(error.sample) == [
            {"id": 1, "effective_at": T1, "current_valid_from": T2},
            {"id": 3, "effective_at": T1, "current_valid_from": T1},
        ]
        message = str(error)
        assert table_path in message
        assert "2 key(s) on id" in message
        assert "Replay the changes in effective-time order" in message
        assert table_versions(table_path) == [0]
        assert table_history(spark, table_path) == [
            (1, "a", T2, None, True),
            (2, "b", T2, None, True),
            (3, "c", T1, None, True),
        ]

    def test_unchanged_values_at_or_before_valid_from_are_no_change(
        self, spark: SparkSession, writer: SafeDeltaWriter, table_path: str
    ) -> None:
        """A replayed row equal to the current version is not a change, whatever its time."""
        load_timed(writer, spark, table_path, [(1, "a", T2), (2, "b", T2)])

        result = writer.scd2_merge(
            spark.createDataFrame([(1, "a", T1), (2, "b", T2)], TIMED),
            table_path,
            ["id"],
            tracked_columns=["v"],
            effective_at="changed_at",
        )

        assert (result.rows_inserted, result.rows_updated) == (0, 0)
        assert table_history(spark, table_path) == [
            (1, "a", T2, None, True),
            (2, "b", T2, None, True),
        ]

    def test_batch_time_at_current_valid_from_is_refused(
        self, spark: SparkSession, writer: SafeDeltaWriter, table_path: str
    ) -> None:
        """A datetime effective_at equal to a changed key's valid_from is refused too."""
        first = spark.createDataFrame([(1, "a", "x"), (2, "b", "y")], SCHEMA)
        writer.scd2_merge(first, table_path, ["id"], tracked_columns=["v"], effective_at=T2)

        with pytest.raises(OutOfOrderChangeError, match=r"effective_at='2024-02-01T00:00:00'"):
            writer.scd2_merge(
                spark.createDataFrame([(1, "A", "x")], SCHEMA),
                table_path,
                ["id"],
                tracked_columns=["v"],
                effective_at=T2,
            )

    def test_other_failures_keep_their_own_error(
        self, make_writer, spark: SparkSession, table_path: str, table_versions
    ) -> None:
        """A failing post-hook is re-raised as itself, not as an order error, and rolled back."""
        load_timed(make_writer(), spark, table_path, [(1, "a", T1)])

        def refuse(_: object) -> None:
            raise RuntimeError("audit failed")

        writer = make_writer(post_hooks=[refuse])
        with pytest.raises(RuntimeError, match="audit failed"):
            load_timed(writer, spark, table_path, [(1, "b", T2)])

        assert table_versions(table_path) == [0, 1, 2]
        assert table_history(spark, table_path) == [(1, "a", T1, None, True)]

    def test_closing_a_missing_key_before_its_valid_from_is_refused(
        self, spark: SparkSession, writer: SafeDeltaWriter, table_path: str, table_versions
    ) -> None:
        """With delete_missing, a snapshot dated before an absent key's version is refused."""
        writer.scd2_merge(
            spark.createDataFrame([(1, "a", "x")], SCHEMA),
            table_path,
            ["id"],
            tracked_columns=["v"],
            effective_at=T1,
        )
        writer.scd2_merge(
            spark.createDataFrame([(1, "a", "x"), (2, "b", "y")], SCHEMA),
            table_path,
            ["id"],
            tracked_columns=["v"],
            effective_at=T3,
        )

        with pytest.raises(OutOfOrderChangeError, match="missing from the snapshot") as info:
            writer.scd2_merge(
                spark.createDataFrame([(1, "a", "x")], SCHEMA),
                table_path,
                ["id"],
                tracked_columns=["v"],
                effective_at=dt.date(2024, 2, 1),
                delete_missing=True,
            )

        assert info.value.sample == ({"id": 2, "effective_at": None, "current_valid_from": T3},)
        assert info.value.effective_at == "2024-02-01"
        assert table_versions(table_path) == [0, 1]


timed_batches = st.lists(
    st.dictionaries(
        st.integers(0, 4),
        st.tuples(st.sampled_from(["a", "b"]), st.sampled_from([T1, T2, T3])),
        min_size=1,
        max_size=4,
    ),
    min_size=2,
    max_size=3,
)


def reference_timed(
    history: list[dict[str, Any]], batch: dict[int, tuple[str, dt.datetime]]
) -> list[dict[str, Any]] | None:
    """Naive SCD2 with per-row times; None when some change is not after its current start."""
    out = [dict(r) for r in history]
    current = {r["id"]: r for r in out if r["is_current"]}
    for key, (value, at) in batch.items():
        row = current.get(key)
        if row is not None and row["v"] == value:
            continue
        if row is not None:
            if at <= row["valid_from"]:
                return None
            row.update(valid_to=at, is_current=False)
        out.append({"id": key, "v": value, "valid_from": at, "valid_to": None, "is_current": True})
    return out


class TestScd2OutOfOrderMatchesReference:
    @settings(
        max_examples=15,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture],
    )
    @given(batches=timed_batches)
    def test_property_refuses_exactly_the_late_batches(
        self,
        *,
        spark: SparkSession,
        writer: SafeDeltaWriter,
        tmp_path_factory: pytest.TempPathFactory,
        batches: list[dict[int, tuple[str, dt.datetime]]],
    ) -> None:
        """Batches with per-row times: refused exactly when the reference finds a late change."""
        path = str(tmp_path_factory.mktemp("scd2late") / "t")
        expected: list[dict[str, Any]] = []
        for batch in batches:
            rows = [(key, value, at) for key, (value, at) in sorted(batch.items())]
            applied = reference_timed(expected, batch)
            if applied is None:
                with pytest.raises(OutOfOrderChangeError):
                    load_timed(writer, spark, path, rows)
            else:
                load_timed(writer, spark, path, rows)
                expected = applied
            assert table_history(spark, path) == as_tuples(expected)
