"""The results history: one row per gate run, appended with plain Spark writes.

Each row holds the run's identity (gate, table, run id, batch id, start time), its verdict and
row counts, one entry per check (rows checked / failed, action), the profile metrics the run
computed and the anomaly checks' outcomes. Anomaly checks read the metric values of earlier
runs back from it.
"""

from __future__ import annotations

import datetime as dt
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from dq_gates._anomaly import PastRun
from dq_gates.errors import GateConfigError

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession
    from pyspark.sql.types import StructType

    from dq_gates._result import GateResult

#: Version of the history row layout (stored in every row).
HISTORY_LAYOUT = 1

#: Spark error conditions that mean "there is no history yet".
_NO_TABLE_YET = {
    "PATH_NOT_FOUND",
    "TABLE_OR_VIEW_NOT_FOUND",
    "DELTA_TABLE_NOT_FOUND",
    "DELTA_PATH_DOES_NOT_EXIST",
    "DELTA_MISSING_DELTA_TABLE",
    "UNABLE_TO_INFER_SCHEMA",
}


def history_schema() -> StructType:
    """The Spark schema of a history row (``started_at`` as a timestamp, UTC)."""
    from pyspark.sql import types as st

    check = st.StructType(
        [
            st.StructField("name", st.StringType()),
            st.StructField("column", st.StringType()),
            st.StructField("check", st.StringType()),
            st.StructField("action", st.StringType()),
            st.StructField("rows_checked", st.LongType()),
            st.StructField("rows_failed", st.LongType()),
            st.StructField("tripped", st.BooleanType()),
            st.StructField("evaluated_by", st.StringType()),
        ]
    )
    anomaly = st.StructType(
        [
            st.StructField("name", st.StringType()),
            st.StructField("metric", st.StringType()),
            st.StructField("column", st.StringType()),
            st.StructField("strategy", st.StringType()),
            st.StructField("action", st.StringType()),
            st.StructField("status", st.StringType()),
            st.StructField("value", st.DoubleType()),
            st.StructField("baseline", st.DoubleType()),
            st.StructField("lower", st.DoubleType()),
            st.StructField("upper", st.DoubleType()),
            st.StructField("history_runs", st.IntegerType()),
            st.StructField("tripped", st.BooleanType()),
            st.StructField("message", st.StringType()),
        ]
    )
    return st.StructType(
        [
            st.StructField("gate", st.StringType()),
            st.StructField("table", st.StringType()),
            st.StructField("run_id", st.StringType()),
            st.StructField("batch_id", st.StringType()),
            st.StructField("started_at", st.TimestampType()),
            st.StructField("verdict", st.StringType()),
            st.StructField("rows_in", st.LongType()),
            st.StructField("rows_valid", st.LongType()),
            st.StructField("rows_quarantined", st.LongType()),
            st.StructField("rows_dropped", st.LongType()),
            st.StructField("rows_failing_any", st.LongType()),
            st.StructField("duration_s", st.DoubleType()),
            st.StructField("checks", st.ArrayType(check)),
            st.StructField("metrics", st.MapType(st.StringType(), st.DoubleType())),
            st.StructField(
                "value_sets", st.MapType(st.StringType(), st.ArrayType(st.StringType()))
            ),
            st.StructField("anomalies", st.ArrayType(anomaly)),
            st.StructField("layout", st.IntegerType()),
        ]
    )


def history_row(result: GateResult) -> dict[str, Any]:
    """The history row of a run, as a mapping of column to Python value."""
    return {
        "gate": result.gate,
        "table": result.table,
        "run_id": result.run_id,
        "batch_id": result.batch_id,
        "started_at": result.started_at,
        "verdict": result.verdict.value,
        "rows_in": result.rows_in,
        "rows_valid": result.rows_valid,
        "rows_quarantined": result.rows_quarantined,
        "rows_dropped": result.rows_dropped,
        "rows_failing_any": result.rows_failing_any,
        "duration_s": result.duration_s,
        "checks": [
            {
                "name": c.name,
                "column": c.column,
                "check": c.check,
                "action": c.action.value,
                "rows_checked": c.rows_checked,
                "rows_failed": c.rows_failed,
                "tripped": c.tripped,
                "evaluated_by": c.evaluated_by,
            }
            for c in result.checks
        ],
        "metrics": dict(result.metrics),
        "value_sets": {k: v for k, v in result.value_sets.items() if v is not None},
        "anomalies": [
            {
                "name": a.name,
                "metric": a.metric,
                "column": a.column,
                "strategy": a.strategy,
                "action": a.action.value,
                "status": a.status,
                "value": a.value,
                "baseline": a.baseline,
                "lower": a.lower,
                "upper": a.upper,
                "history_runs": a.history_runs,
                "tripped": a.tripped,
                "message": a.message,
            }
            for a in result.anomalies
        ],
        "layout": HISTORY_LAYOUT,
    }


@dataclass(frozen=True)
class HistoryQuery:
    """Which earlier runs an anomaly evaluation needs.

    Attributes:
        gate: Gate name.
        table: Table name (``None`` matches runs recorded without a table).
        before: Only runs that started before this instant (this run's start).
        recent: The newest ``recent`` runs...
        since: ...and every run that started at or after ``since`` (if set).
    """

    gate: str
    table: str | None
    before: dt.datetime
    recent: int
    since: dt.datetime | None


class History(ABC):
    """Where a gate's run results are kept (base of ``ResultsHistory`` and ``MemoryHistory``)."""

    @abstractmethod
    def append(self, spark: SparkSession, row: Mapping[str, Any]) -> None:
        """Append one run's row."""

    @abstractmethod
    def past_runs(self, spark: SparkSession, query: HistoryQuery) -> list[PastRun]:
        """Earlier runs whose verdict was not ``failed`` matching ``query``, newest first."""

    @abstractmethod
    def read(self, spark: SparkSession) -> DataFrame:
        """Every recorded run, one row each (layout in the README)."""

    @abstractmethod
    def describe(self) -> str:
        """Where the history lives, for messages."""


def _micros(moment: dt.datetime) -> int:
    delta = moment.astimezone(dt.UTC) - dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def _from_micros(micros: int) -> dt.datetime:
    return dt.datetime(1970, 1, 1, tzinfo=dt.UTC) + dt.timedelta(microseconds=micros)


def _frame(spark: SparkSession, rows: Sequence[Mapping[str, Any]]) -> DataFrame:
    """History rows as a DataFrame; ``started_at`` goes in as exact microseconds since epoch."""
    from pyspark.sql import functions as sf
    from pyspark.sql import types as st

    schema = history_schema()
    fields = [
        st.StructField(f.name, st.LongType()) if f.name == "started_at" else f
        for f in schema.fields
    ]
    data = [
        tuple(
            _micros(row["started_at"]) if f.name == "started_at" else row.get(f.name)
            for f in schema.fields
        )
        for row in rows
    ]
    raw = spark.createDataFrame(data, st.StructType(fields))
    return raw.select(
        *[
            sf.timestamp_micros(sf.col(f.name)).alias(f.name)
            if f.name == "started_at"
            else sf.col(f"`{f.name}`")
            for f in schema.fields
        ]
    )


#: Delta's refusals of the second of two writers that both created a table (nothing committed).
_CREATION_RACE = ("DELTA_PROTOCOL_CHANGED", "DELTA_METADATA_CHANGED")
#: Attempts of an append that lost a creation race: the table exists after the first.
CREATION_ATTEMPTS = 3


def retry_creation_race(write: Callable[[], None], attempts: int = CREATION_ATTEMPTS) -> None:
    """Run ``write``; again when Delta refused it for racing another writer's table creation.

    Raises:
        Exception: What ``write`` raised, when it is no creation race or the last attempt lost.
    """
    for attempt in range(1, attempts + 1):
        try:
            write()
        except Exception as exc:
            if attempt == attempts or not any(tag in str(exc) for tag in _CREATION_RACE):
                raise
        else:
            return


class ResultsHistory(History):
    """A results history in a Spark table: Delta by default, given by path or by name.

    Every ``Gate.run`` appends one row (``mode("append")``, a blind append that does not
    conflict with concurrent appends in Delta); anomaly checks read the few earlier rows they
    need. The table is created by the first append. dq-gates does not install Delta Lake:
    ``format="delta"`` needs a session with Delta; any other format the session writes
    (``parquet``, ``iceberg``, ...) works too, by path or, through the catalog, by name.

    Args:
        path: Folder of the table (``s3://bucket/lake/_dq/history``), or
        table: its name in the catalog (``lake.dq_history``). Exactly one of the two.
        format: Spark data source (default ``delta``).
        options: Writer options (e.g. ``{"mergeSchema": "true"}``).

    Raises:
        GateConfigError: Neither or both of ``path`` and ``table``, or an empty ``format``.

    Example:
        >>> history = ResultsHistory("s3://lake/_dq/history")  # doctest: +SKIP
        >>> gate = Gate("orders", schema, anomalies=[...], history=history)  # doctest: +SKIP
        >>> history.read(spark).where("gate = 'orders'").show()  # doctest: +SKIP
    """

    def __init__(
        self,
        path: str | None = None,
        *,
        table: str | None = None,
        format: str = "delta",
        options: Mapping[str, str] | None = None,
    ) -> None:
        if (path is None) == (table is None):
            raise GateConfigError(
                "ResultsHistory needs exactly one of path (a folder) or table (a catalog name)"
            )
        for what, value in (("path", path), ("table", table), ("format", format)):
            if value is not None and (not isinstance(value, str) or not value.strip()):
                raise GateConfigError(
                    f"ResultsHistory: {what} must be a non-empty string, got {value!r}"
                )
        self.path = path
        self.table = table
        self.format = format
        self.options = dict(options or {})

    def describe(self) -> str:
        """``delta table at <path>`` or ``delta table <name>``."""
        if self.path is not None:
            return f"{self.format} table at {self.path}"
        return f"{self.format} table {self.table}"

    def __repr__(self) -> str:
        where = f"path={self.path!r}" if self.path is not None else f"table={self.table!r}"
        return f"ResultsHistory({where}, format={self.format!r})"

    def append(self, spark: SparkSession, row: Mapping[str, Any]) -> None:
        """Append one run's row with a plain Spark write (creates the table if needed).

        Two gates appending to a history that does not exist yet both try to create it; Delta
        commits one and refuses the other (``DELTA_PROTOCOL_CHANGED``). The refused append
        committed nothing, and the table exists now, so it is simply made again.
        """

        def write() -> None:
            writer = _frame(spark, [row]).write.format(self.format).mode("append")
            writer = writer.options(**self.options)
            if self.path is not None:
                writer.save(self.path)
            else:
                writer.saveAsTable(str(self.table))

        retry_creation_race(write)

    def _load(self, spark: SparkSession) -> DataFrame | None:
        """The table, or None when it does not exist yet."""
        if self.table is not None:
            if not spark.catalog.tableExists(self.table):
                return None
            return spark.read.table(self.table)
        try:
            frame = spark.read.format(self.format).load(self.path).select(*history_schema().names)
            # Spark Connect analyses lazily: reading the schema makes a missing table fail here.
            _ = frame.schema
        except Exception as exc:
            condition = getattr(exc, "getCondition", lambda: None)()
            if condition in _NO_TABLE_YET:
                return None
            raise
        return frame

    def read(self, spark: SparkSession) -> DataFrame:
        """Every recorded run, one row each; an empty frame while nothing is recorded."""
        table = self._load(spark)
        if table is None:
            return spark.createDataFrame([], history_schema())
        return table

    def past_runs(self, spark: SparkSession, query: HistoryQuery) -> list[PastRun]:
        """Earlier non-failed runs of the gate and table the query asks for, newest first.

        One small query of the history table: the newest ``recent`` runs plus the runs
        since ``since``, selecting only the identity and the metric columns.
        """
        from pyspark.sql import functions as sf

        table = self._load(spark)
        if table is None:
            return []
        before = sf.timestamp_micros(sf.lit(_micros(query.before)))
        matching = table.filter(
            (sf.col("gate") == sf.lit(query.gate))
            & sf.col("table").eqNullSafe(sf.lit(query.table))
            & (sf.col("verdict") != sf.lit("failed"))
            & (sf.col("started_at") < before)
        ).select(
            "run_id",
            sf.unix_micros("started_at").alias("micros"),
            "metrics",
            "value_sets",
        )
        wanted = matching.orderBy(sf.col("micros").desc()).limit(max(query.recent, 0))
        if query.since is not None:
            wanted = wanted.unionByName(
                matching.filter(sf.col("micros") >= sf.lit(_micros(query.since)))
            )
        runs: dict[str, PastRun] = {}
        for row in wanted.collect():
            runs[row["run_id"]] = PastRun(
                run_id=row["run_id"],
                started_at=_from_micros(int(row["micros"])),
                metrics=dict(row["metrics"] or {}),
                value_sets={k: list(v) for k, v in (row["value_sets"] or {}).items()},
            )
        return sorted(runs.values(), key=lambda r: r.started_at, reverse=True)


class MemoryHistory(History):
    """A results history kept in this process's memory: for tests, notebooks and benchmarks.

    Same behaviour as ``ResultsHistory`` (``read`` returns the same layout), nothing written
    anywhere; it is lost when the process ends.

    Args:
        rows: History rows to start with (for example from ``GateResult`` of earlier runs via
            ``history_row``, or hand-written in tests).
    """

    def __init__(self, rows: list[Mapping[str, Any]] | None = None) -> None:
        self.rows: list[dict[str, Any]] = [dict(r) for r in rows or []]

    def describe(self) -> str:
        """``memory``."""
        return "memory"

    def append(self, spark: SparkSession, row: Mapping[str, Any]) -> None:
        """Keep the row."""
        self.rows.append(dict(row))

    def read(self, spark: SparkSession) -> DataFrame:
        """The rows as a DataFrame with the history layout."""
        return _frame(spark, self.rows)

    def past_runs(self, spark: SparkSession, query: HistoryQuery) -> list[PastRun]:
        """Earlier non-failed runs of the gate and table, newest first (no Spark job)."""
        matching = sorted(
            (
                r
                for r in self.rows
                if r["gate"] == query.gate
                and r.get("table") == query.table
                and r["verdict"] != "failed"
                and r["started_at"] < query.before
            ),
            key=lambda r: r["started_at"],
            reverse=True,
        )
        wanted = {id(r): r for r in matching[: max(query.recent, 0)]}
        if query.since is not None:
            wanted.update({id(r): r for r in matching if r["started_at"] >= query.since})
        return [
            PastRun(
                run_id=r["run_id"],
                started_at=r["started_at"],
                metrics=dict(r.get("metrics") or {}),
                value_sets={k: list(v) for k, v in (r.get("value_sets") or {}).items()},
            )
            for r in sorted(wanted.values(), key=lambda r: r["started_at"], reverse=True)
        ]
