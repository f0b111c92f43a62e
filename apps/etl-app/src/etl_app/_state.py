"""The batch ledger: which input file is which batch, and how far each batch got.

The ledger is a small Delta table in the lake (``<output root>/_etl_state/batches``), so a run
that resumes in another pod, or on another machine, finds it. One row per batch (source,
batch id, content hash, file, how far it got as JSON), one row for the ledger's own gold
bookkeeping, and one row per gold run.

Allocation is atomic: a new batch id is taken by an insert-only MERGE keyed on
``(source, batch_id)`` that also matches the content hash. Two runs allocating the same id at
once cannot both commit (Delta's optimistic concurrency refuses the second MERGE, or it finds
the row and inserts nothing); the loser re-reads the ledger and takes the next id. Progress
updates are per-row MERGEs of the rows a run changed, retried on a Delta conflict, so two runs
never overwrite each other's batches.

A lake written by etl-app 0.1/0.2 kept the ledger as ``_state/ledger.json``; on the first load
it is copied into the table once (the file is left as it was).
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any

from pydantic import ConfigDict, StrictBool, StrictInt, StrictStr, TypeAdapter, ValidationError

from etl_app import _delta_sql, _lake, _storage
from etl_app._specs import Stage
from etl_app.errors import LedgerError

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from etl_app._storage import InputFile

#: The ledger table, under the output root.
LEDGER_TABLE = "_etl_state/batches"
#: The JSON ledger of etl-app 0.1/0.2 (read once, then left alone).
LEGACY_FILE = "_state/ledger.json"
#: Version of the JSON layout. Files without one were written by etl-app 0.1.
FORMAT = 2
#: Source name of the row holding the ledger's own gold bookkeeping.
META = "__ledger__"
#: Source name of the rows allocating gold run ids.
GOLD = "__gold__"
#: Attempts at a ledger commit that Delta refuses for a concurrent change.
COMMIT_ATTEMPTS = 8
_STRICT = ConfigDict(extra="forbid")
_KEY_FIELDS = ("batch_id", "sha256", "file", "registered_by")
_TABLE_DDL = (
    "source STRING NOT NULL, batch_id BIGINT NOT NULL, sha256 STRING, file STRING, "
    "registered_by STRING, state STRING, updated_at TIMESTAMP"
)


@dataclass
class Batch:
    """One input file of one source.

    Attributes:
        batch_id: Stable id, also the Delta ``txnVersion`` of every write of this batch.
        file: Input path (URI) as first read.
        sha256: Content hash of the file's bytes.
        registered_by: Run id that first saw the file.
        bronze_rows: Rows appended to bronze (None until bronze committed).
        silver_done: Whether silver (and quarantine) processed the batch.
        counts: Reconciliation counts recorded by silver.
        silver_attempt: Failed silver attempts so far. A write rolled back after its commit
            leaves its Delta transaction id behind (Delta would skip the batch id for ever),
            so each attempt writes under its own app id.
        silver_version: Version of the silver commit of the batch (None: no commit).
        gold_run: The gold run that folds the batch in (set when that run starts).
        gold_done: Whether gold has folded the batch's silver changes in.
        length: File size when registered (with ``modified_ms``: a cheap identity that spares
            hashing a file seen before).
        modified_ms: File modification time when registered, epoch milliseconds.
        skipped: Why an operator skipped the batch (``etl-app batches skip``); None when not
            skipped. A skipped batch is not processed by silver or gold.
    """

    __pydantic_config__ = _STRICT

    batch_id: StrictInt
    file: StrictStr
    sha256: StrictStr
    registered_by: StrictStr
    bronze_rows: StrictInt | None = None
    silver_done: StrictBool = False
    counts: dict[str, StrictInt] = field(default_factory=dict)
    silver_attempt: StrictInt = 0
    silver_version: StrictInt | None = None
    gold_run: StrictInt | None = None
    gold_done: StrictBool = False
    length: StrictInt | None = None
    modified_ms: StrictInt | None = None
    skipped: StrictStr | None = None

    @property
    def status(self) -> str:
        """``skipped``, ``done``, ``gold pending``, ``silver pending`` or ``bronze pending``."""
        if self.skipped is not None:
            return "skipped"
        if self.gold_done:
            return "done"
        if self.silver_done:
            return "gold pending"
        return "silver pending" if self.bronze_rows is not None else "bronze pending"


_BATCH = TypeAdapter(Batch)


@dataclass
class _File:
    """The JSON document of etl-app 0.1/0.2, as validated on load."""

    __pydantic_config__ = _STRICT

    sources: dict[str, list[Batch]]
    format: StrictInt = 1
    gold_dates: list[date] = field(default_factory=list)
    gold_clv: StrictBool = False
    gold_runs: StrictInt = 0


_FILE = TypeAdapter(_File)


@dataclass
class _Meta:
    """The ledger's own row."""

    __pydantic_config__ = _STRICT

    gold_dates: list[date] = field(default_factory=list)
    gold_clv: StrictBool = False
    gold_runs: StrictInt = 0


_META = TypeAdapter(_Meta)


def _is_conflict(exc: BaseException) -> bool:
    """Whether ``exc`` is Delta refusing a commit for a concurrent change (retry it)."""
    text = f"{type(exc).__name__} {exc}"
    return any(
        marker in text
        for marker in (
            "Concurrent",
            "DELTA_CONCURRENT",
            "ProtocolChanged",
            "MetadataChanged",
            "DELTA_PROTOCOL_CHANGED",
            "DELTA_METADATA_CHANGED",
            "FileAlreadyExists",
        )
    )


@dataclass
class Ledger:
    """Batches per source and the gold work pending, kept in a Delta table in the lake.

    Attributes:
        spark: Session the table is read and written with.
        location: The ledger table (``<root>/_etl_state/batches``).
        sources: Batches per source name, in registration order.
        gold_dates: Dates whose gold revenue must be recomputed regardless of silver changes
            (left by etl-app 0.1, whose ledger recorded gold work by date).
        gold_clv: Whether gold customer lifetime value must be rebuilt from all of silver
            (left by etl-app 0.1, or after a layout migration).
        gold_runs: Gold runs started so far (the Delta ``txnVersion`` of gold writes).
    """

    spark: SparkSession
    location: str
    sources: dict[str, list[Batch]] = field(default_factory=dict)
    gold_dates: set[str] = field(default_factory=set)
    gold_clv: bool = False
    gold_runs: int = 0
    _saved: dict[tuple[str, int], str] = field(default_factory=dict, repr=False)
    # The gold run count the ledger's own row holds. A run allocated since has its own row
    # (source GOLD), which refresh() counts, so the count is only written when a legacy JSON
    # ledger brought one: bumping it after each allocation cost a MERGE per gold run.
    _meta_runs: int = field(default=0, repr=False)

    @classmethod
    def load(cls, spark: SparkSession, root: str) -> Ledger:
        """Read the ledger table under the data root (an empty ledger when there is none).

        A lake written by etl-app 0.1/0.2 has ``_state/ledger.json`` instead: it is validated,
        copied into the table once and left in place.

        Raises:
            LedgerError: The table (or the JSON ledger being migrated) is unreadable or not a
                ledger; the message names it, the first problems and what to do.
        """
        ledger = cls(spark, _storage.join(root, LEDGER_TABLE))
        if _lake.exists(spark, ledger.location):
            ledger.refresh()
            return ledger
        legacy = _storage.local_path(_storage.join(root, LEGACY_FILE))
        if legacy is not None and legacy.exists():
            ledger._read_legacy(legacy)
            ledger.save()
        return ledger

    def _read_legacy(self, path: Any) -> None:
        try:
            raw: Any = json.loads(path.read_text(encoding="utf-8"))
            data = _FILE.validate_python(raw)
        except OSError as exc:
            raise LedgerError(path, [f"cannot read the file: {exc}"]) from None
        except json.JSONDecodeError as exc:
            raise LedgerError(path, [f"not valid JSON: {exc}"]) from None
        except ValidationError as exc:
            raise LedgerError(path, [_problem(e) for e in exc.errors()]) from None
        if data.format > FORMAT:
            raise LedgerError(
                path, [f"format {data.format} is newer than this etl-app reads ({FORMAT})"]
            )
        if data.format == 1:
            # etl-app 0.1 recorded gold work as dates and a flag, not per batch: its gold
            # work pending is exactly gold_dates / gold_clv, every other batch is folded in.
            for batches in data.sources.values():
                for batch in batches:
                    batch.gold_done = batch.silver_done
        self.sources = data.sources
        self.gold_dates = {d.isoformat() for d in data.gold_dates}
        self.gold_clv = data.gold_clv
        self.gold_runs = data.gold_runs
        self._meta_runs = data.gold_runs

    def refresh(self) -> None:
        """Re-read the table (other runs' batches included); unsaved changes are dropped.

        Raises:
            LedgerError: A row is not a ledger row, or the table cannot be read.
        """
        try:
            rows = (
                self.spark.read.format("delta")
                .load(self.location)
                .select("source", "batch_id", "sha256", "file", "registered_by", "state")
                .collect()
            )
        except Exception as exc:
            raise LedgerError(
                self.location,
                [f"cannot read the table: {str(exc).splitlines()[0][:300]}"],
                table=True,
            ) from None
        sources: dict[str, list[Batch]] = {}
        problems: list[str] = []
        saved: dict[tuple[str, int], str] = {}
        runs = 0
        meta = _Meta()
        for row in rows:
            source, batch_id = str(row["source"]), int(row["batch_id"])
            where = f"row ({source}, {batch_id})"
            try:
                state = json.loads(row["state"] or "{}")
                if source == GOLD:
                    runs = max(runs, batch_id)
                    continue
                if source == META:
                    meta = _META.validate_python(state)
                    saved[(source, batch_id)] = row["state"]
                    continue
                batch = _BATCH.validate_python(
                    {
                        **state,
                        "batch_id": batch_id,
                        "sha256": row["sha256"],
                        "file": row["file"],
                        "registered_by": row["registered_by"],
                    }
                )
            except json.JSONDecodeError as exc:
                problems.append(f"{where}: state is not valid JSON: {exc}")
                continue
            except ValidationError as exc:
                problems.extend(f"{where}: {_problem(e)}" for e in exc.errors())
                continue
            sources.setdefault(source, []).append(batch)
            saved[(source, batch_id)] = _state_json(batch)
        if problems:
            raise LedgerError(self.location, problems, table=True)
        for batches in sources.values():
            batches.sort(key=lambda b: b.batch_id)
        self.sources = sources
        self.gold_dates = {d.isoformat() for d in meta.gold_dates}
        self.gold_clv = meta.gold_clv
        self.gold_runs = max(meta.gold_runs, runs)
        self._meta_runs = meta.gold_runs
        self._saved = saved

    # -- writing ----------------------------------------------------------------------------

    def _rows(self) -> list[tuple[Any, ...]]:
        """The rows that differ from what this ledger last read or wrote."""
        now = datetime.now(UTC)
        rows: list[tuple[Any, ...]] = []
        for source, batches in self.sources.items():
            for batch in batches:
                state = _state_json(batch)
                if self._saved.get((source, batch.batch_id)) != state:
                    rows.append(
                        (
                            source,
                            batch.batch_id,
                            batch.sha256,
                            batch.file,
                            batch.registered_by,
                            state,
                            now,
                        )
                    )
        meta = json.dumps(
            {
                "gold_dates": sorted(self.gold_dates),
                "gold_clv": self.gold_clv,
                "gold_runs": self._meta_runs,
            },
            sort_keys=True,
        )
        if self._saved.get((META, 0), _EMPTY_META) != meta:
            rows.append((META, 0, None, None, None, meta, now))
        return rows

    def save(self) -> None:
        """Write the rows this run changed (one MERGE, retried on a concurrent commit)."""
        rows = self._rows()
        if not rows and _lake.exists(self.spark, self.location):
            return
        self._merge(rows, insert_only=False)
        for source, batch_id, _, _, _, state, _ in rows:
            self._saved[(source, batch_id)] = state

    def _create(self) -> None:
        from delta.tables import DeltaTable
        from pyspark.sql.types import (
            LongType,
            StringType,
            StructField,
            StructType,
            TimestampType,
        )

        schema = StructType(
            [
                StructField("source", StringType(), False),
                StructField("batch_id", LongType(), False),
                *(
                    StructField(name, StringType())
                    for name in ("sha256", "file", "registered_by", "state")
                ),
                StructField("updated_at", TimestampType()),
            ]
        )

        def create() -> None:
            if _delta_sql.is_connect(self.spark):
                _delta_sql.create_if_not_exists(self.spark, self.location, schema)
            else:
                DeltaTable.createIfNotExists(self.spark).location(self.location).addColumns(
                    schema
                ).execute()

        # Another run creating the ledger at this moment, or a first write interrupted
        # before its commit: create_once waits for the one and clears the other.
        for attempt in range(COMMIT_ATTEMPTS):
            try:
                _lake.create_once(self.spark, self.location, create)
            except Exception as exc:
                if not _is_conflict(exc) or attempt == COMMIT_ATTEMPTS - 1:
                    raise
                _backoff(attempt)
            else:
                return

    def _merge(self, rows: list[tuple[Any, ...]], *, insert_only: bool) -> int:
        """Upsert ``rows`` by (source, batch_id); insert-only also matches the content hash.

        Returns:
            Rows inserted (Delta's MERGE metrics).
        """
        from delta.tables import DeltaTable

        if not _lake.exists(self.spark, self.location):
            self._create()
        if not rows:
            return 0
        frame = self.spark.createDataFrame(rows, _TABLE_DDL)
        condition = "t.source = s.source AND t.batch_id = s.batch_id"
        if insert_only:
            condition = "t.source = s.source AND (t.batch_id = s.batch_id OR t.sha256 = s.sha256)"
        for attempt in range(COMMIT_ATTEMPTS):
            try:
                if _delta_sql.is_connect(self.spark):
                    clauses = "WHEN NOT MATCHED THEN INSERT *"
                    if not insert_only:
                        clauses = "WHEN MATCHED THEN UPDATE SET * " + clauses
                    found = _delta_sql.merge(self.spark, self.location, frame, condition, clauses)
                else:
                    merge = (
                        DeltaTable.forPath(self.spark, self.location)
                        .alias("t")
                        .merge(frame.alias("s"), condition)
                    )
                    if not insert_only:
                        merge = merge.whenMatchedUpdateAll()
                    found = _delta_sql.merge_metrics(
                        merge.whenNotMatchedInsertAll().execute().collect()
                    )
            except Exception as exc:
                if not _is_conflict(exc) or attempt == COMMIT_ATTEMPTS - 1 or insert_only:
                    raise
                _backoff(attempt)
            else:
                return found.get("num_inserted_rows", 0)
        raise AssertionError("unreachable")  # pragma: no cover

    def _allocate(self, source: str, batch_id: int, batch: Batch | None, run_id: str) -> bool:
        """Insert the row (source, batch_id) unless it (or the hash) exists; True when ours.

        The insert-only MERGE either commits with our row (Delta's metrics say one row
        inserted), finds the id or the hash taken (nothing inserted), or loses a race with a
        concurrent allocation (a Delta conflict): only the first is ours.
        """
        row = (
            source,
            batch_id,
            None if batch is None else batch.sha256,
            None if batch is None else batch.file,
            run_id,
            "{}" if batch is None else _state_json(batch),
            datetime.now(UTC),
        )
        return self._insert_new([row])

    def _insert_new(self, rows: list[tuple[Any, ...]]) -> bool:
        """Insert ``rows`` in one insert-only MERGE; True when every row was inserted (ours)."""
        try:
            return self._merge(rows, insert_only=True) == len(rows)
        except Exception as exc:
            if _is_conflict(exc):
                return False
            raise

    def register_all(
        self, files: list[tuple[str, InputFile, Callable[[], str]]], run_id: str
    ) -> list[Batch]:
        """Return the batch of each ``(source, file, digest)``, allocating new ids at once.

        Same outcome as :meth:`register` per file, in order, but the new ids of every source
        are allocated in ONE insert-only MERGE (each ledger MERGE costs about a second): when
        it inserts every row, all ids are ours. When it inserts fewer (another run took an id
        or registered a content first) or loses a race, the ledger is re-read and each file
        goes through :meth:`register`, which finds the rows this MERGE did insert by their
        content hash.

        Raises:
            LedgerError: No id could be allocated after repeated concurrent allocations.
        """
        found: list[Batch] = []
        shas: list[str | None] = []
        new: dict[tuple[str, str], Batch] = {}
        for source, file, digest in files:
            batch = self._known(source, file)
            sha = None
            if batch is None:
                sha = digest()
                batch = self._known_content(source, file, sha) or new.get((source, sha))
                if batch is None:
                    taken = [b.batch_id for b in self.sources.get(source, [])]
                    taken += [b.batch_id for (s, _), b in new.items() if s == source]
                    batch = new[(source, sha)] = Batch(
                        batch_id=max(taken, default=0) + 1,
                        file=file.path,
                        sha256=sha,
                        registered_by=run_id,
                        length=file.length,
                        modified_ms=file.modified_ms,
                    )
            found.append(batch)
            shas.append(sha)
        now = datetime.now(UTC)
        rows = [
            (source, b.batch_id, b.sha256, b.file, run_id, _state_json(b), now)
            for (source, _), b in new.items()
        ]
        if rows and self._insert_new(rows):
            for (source, _), batch in new.items():
                self.sources.setdefault(source, []).append(batch)
                self._saved[(source, batch.batch_id)] = _state_json(batch)
        elif rows:
            self.save()
            self.refresh()
            return [
                self.register(source, file, run_id, digest if sha is None else _known_hash(sha))
                for (source, file, digest), sha in zip(files, shas, strict=True)
            ]
        return found

    def _known(self, source: str, file: InputFile) -> Batch | None:
        """The batch of a file listed before with the same path, size and modification time."""
        for batch in self.sources.get(source, []):
            if (batch.file, batch.length, batch.modified_ms) == (
                file.path,
                file.length,
                file.modified_ms,
            ):
                return batch
        return None

    def _known_content(self, source: str, file: InputFile, sha: str) -> Batch | None:
        """The batch registered with content hash ``sha``, given ``file``'s listing identity."""
        for batch in self.sources.get(source, []):
            if batch.sha256 == sha:
                if batch.length is None:
                    # Registered by etl-app 0.2 (no listing identity yet): record it.
                    batch.length, batch.modified_ms = file.length, file.modified_ms
                    batch.file = file.path
                return batch
        return None

    def register(
        self, source: str, file: InputFile, run_id: str, digest: Callable[[], str]
    ) -> Batch:
        """Return the batch of ``file``: the known one for its content, else a new id.

        A file listed before with the same path, size and modification time keeps its batch
        without being read. Otherwise its content hash (``digest()``) is looked up; a new one
        gets the next id, allocated atomically in the ledger table (a run that loses the race
        for an id re-reads the ledger and takes the next one).

        Raises:
            LedgerError: No id could be allocated after repeated concurrent allocations.
        """
        known = self._known(source, file)
        if known is not None:
            return known
        sha = digest()
        for attempt in range(COMMIT_ATTEMPTS):
            batches = self.sources.setdefault(source, [])
            known = self._known_content(source, file, sha)
            if known is not None:
                return known
            batch = Batch(
                batch_id=max((b.batch_id for b in batches), default=0) + 1,
                file=file.path,
                sha256=sha,
                registered_by=run_id,
                length=file.length,
                modified_ms=file.modified_ms,
            )
            if self._allocate(source, batch.batch_id, batch, run_id):
                batches.append(batch)
                self._saved[(source, batch.batch_id)] = _state_json(batch)
                return batch
            self.save()
            self.refresh()
            _backoff(attempt)
        raise LedgerError(
            self.location,
            [f"{source}: no batch id could be allocated after {COMMIT_ATTEMPTS} attempts"],
            table=True,
        )

    def pending(self, stage: Stage, source: str | None = None) -> list[Batch]:
        """Batches the stage has still to process, in batch order.

        Args:
            stage: ``SILVER``: in bronze, not yet in silver. ``GOLD``: in silver, not yet
                folded into gold. ``BRONZE``: registered, not yet in bronze. Batches an
                operator skipped are pending for no stage after bronze.
            source: Only this source's batches (all sources when None).

        Returns:
            The batches, by source then batch id.
        """
        names = [source] if source is not None else list(self.sources)
        todo: dict[Stage, Callable[[Batch], bool]] = {
            Stage.BRONZE: lambda b: b.bronze_rows is None,
            Stage.SILVER: lambda b: (
                b.bronze_rows is not None and not b.silver_done and b.skipped is None
            ),
            Stage.GOLD: lambda b: b.silver_done and not b.gold_done and b.skipped is None,
        }
        return [
            b
            for name in names
            for b in sorted(self.sources.get(name, []), key=lambda b: b.batch_id)
            if todo[stage](b)
        ]

    def mark_done(
        self,
        stage: Stage,
        batch: Batch,
        *,
        rows: int | None = None,
        counts: dict[str, int] | None = None,
        version: int | None = None,
    ) -> None:
        """Record that ``stage`` finished ``batch`` (call :meth:`save` to persist).

        Args:
            stage: The stage that finished.
            batch: The batch.
            rows: ``BRONZE``: rows appended to bronze.
            counts: ``SILVER``: the reconciliation counts.
            version: ``SILVER``: the version of the silver commit (None when none was made).
        """
        if stage is Stage.BRONZE:
            batch.bronze_rows = rows
        elif stage is Stage.SILVER:
            batch.silver_done = True
            batch.counts = dict(counts or {})
            batch.silver_version = version
        elif stage is Stage.GOLD:
            batch.gold_done = True

    def mark_failed(self, stage: Stage, batches: list[Batch]) -> None:
        """Record that ``stage`` failed on ``batches``: the retry gets fresh transaction ids.

        Silver: the next attempt writes under a new app id (a rolled-back commit keeps its
        Delta transaction id). Gold: the batches leave their gold run, so a retry starts a
        new one with a new ``txnVersion``.
        """
        for batch in batches:
            if stage is Stage.SILVER:
                batch.silver_attempt += 1
            elif stage is Stage.GOLD:
                batch.gold_run = None

    def gold_work(
        self, *, after: int = 0, run_id: str = ""
    ) -> list[tuple[int, dict[str, list[Batch]]]]:
        """Group the batches gold still has to fold in by gold run, starting runs as needed.

        A run that started but did not finish keeps its id and its batches (its writes may
        have committed: retrying under the same ``txnVersion`` makes Delta skip those, so a
        run still in flight in another process is harmless to repeat); the remaining batches
        form one new run, claimed row by row with a compare-and-set so that two runs never
        fold the same batch under different ids. Saves the ledger first.

        Args:
            after: A new run's id is above this too (the last gold ``txnVersion`` found in the
                gold tables), so a ledger restored from an older copy cannot reuse an id that
                Delta would skip.
            run_id: The run starting a new gold run (recorded with its id). A new id is
                allocated atomically in the ledger table, like a batch id: two runs starting
                gold at once get different ids.

        Returns:
            ``(run id, batches per source)`` pairs in run order; empty when gold is up to date.
        """
        self.save()
        runs, fresh = self._gold_groups()
        if fresh or ((self.gold_dates or self.gold_clv) and not runs):
            self.gold_runs = max(self.gold_runs, after) + 1
            while not self._allocate(GOLD, self.gold_runs, None, run_id):
                self.gold_runs += 1
            run = self.gold_runs
            if fresh:
                # Claimed with a compare-and-set on each row: a batch another run claimed at
                # the same time stays in THAT run (folding it twice would add it twice).
                self._claim([(s, b) for s, bs in fresh.items() for b in bs], run)
                runs, _ = self._gold_groups()
            runs.setdefault(run, {})
        return sorted(runs.items())

    def _gold_groups(
        self,
    ) -> tuple[dict[int, dict[str, list[Batch]]], dict[str, list[Batch]]]:
        runs: dict[int, dict[str, list[Batch]]] = {}
        fresh: dict[str, list[Batch]] = {}
        for source in self.sources:
            for batch in self.pending(Stage.GOLD, source):
                group = fresh if batch.gold_run is None else runs.setdefault(batch.gold_run, {})
                group.setdefault(source, []).append(batch)
        return runs, fresh

    def _claim(self, batches: list[tuple[str, Batch]], run: int) -> None:
        """Set ``gold_run`` on rows still as this ledger last saw them.

        When the compare-and-set updates every row, the table holds what this ledger holds
        for them and nothing is re-read; when another run changed a row first, the ledger is
        re-read, so that batch stays in the other run.
        """
        from delta.tables import DeltaTable

        rows = []
        for source, batch in batches:
            previous = self._saved.get((source, batch.batch_id), "")
            batch.gold_run = run
            rows.append((source, batch.batch_id, previous, _state_json(batch)))
        frame = self.spark.createDataFrame(
            rows, "source STRING, batch_id BIGINT, previous STRING, state STRING"
        )
        updated = 0
        for attempt in range(COMMIT_ATTEMPTS):
            on = "t.source = s.source AND t.batch_id = s.batch_id"
            try:
                if _delta_sql.is_connect(self.spark):
                    metrics = _delta_sql.merge(
                        self.spark,
                        self.location,
                        frame,
                        on,
                        "WHEN MATCHED AND t.state = s.previous THEN UPDATE SET "
                        "state = s.state, updated_at = current_timestamp()",
                    )
                else:
                    found = (
                        DeltaTable.forPath(self.spark, self.location)
                        .alias("t")
                        .merge(frame.alias("s"), on)
                        .whenMatchedUpdate(
                            condition="t.state = s.previous",
                            set={"state": "s.state", "updated_at": "current_timestamp()"},
                        )
                        .execute()
                        .collect()
                    )
                    metrics = _delta_sql.merge_metrics(found)
                updated = metrics.get("num_updated_rows", 0)
            except Exception as exc:
                if not _is_conflict(exc) or attempt == COMMIT_ATTEMPTS - 1:
                    raise
                _backoff(attempt)
            else:
                break
        if updated == len(rows):
            for source, batch_id, _, state in rows:
                self._saved[(source, batch_id)] = state
            return
        self.refresh()

    def find(self, source: str, batch_id: int) -> Batch:
        """The batch ``batch_id`` of ``source``.

        Raises:
            LedgerError: The ledger has no such batch (the message lists the known ones).
        """
        for batch in self.sources.get(source, []):
            if batch.batch_id == batch_id:
                return batch
        known = ", ".join(
            f"{name} {[b.batch_id for b in batches]}" for name, batches in self.sources.items()
        )
        raise LedgerError(
            self.location,
            [f"no batch {batch_id} of source {source!r} (known: {known or 'none'})"],
            table=True,
            missing=True,
        )

    def skip(self, source: str, batch_id: int, reason: str) -> Batch:
        """Take a refused batch out of silver and gold for good, with the operator's reason.

        Its bronze rows stay (they are the record of what arrived); later batches of the
        source go on. Call :meth:`save` to persist; :meth:`replay` undoes it.

        Raises:
            LedgerError: No such batch, the batch is already in silver, or no reason given.
        """
        batch = self.find(source, batch_id)
        if not reason.strip():
            raise LedgerError(
                self.location, ["a skip needs a reason (--reason TEXT)"], table=True, missing=True
            )
        if batch.silver_done:
            raise LedgerError(
                self.location,
                [f"{source} batch {batch_id} is already in silver; skipping it would not undo it"],
                table=True,
                missing=True,
            )
        batch.skipped = reason
        return batch

    def replay(self, source: str, batch_id: int) -> Batch:
        """Make a skipped batch pending again (silver retries it under a fresh attempt).

        Raises:
            LedgerError: No such batch, or it was not skipped.
        """
        batch = self.find(source, batch_id)
        if batch.skipped is None:
            raise LedgerError(
                self.location,
                [f"{source} batch {batch_id} is not skipped (status: {batch.status})"],
                table=True,
                missing=True,
            )
        batch.skipped = None
        batch.silver_attempt += 1
        return batch


def _problem(error: Any) -> str:
    where = ".".join(str(p) for p in error["loc"]) or "(top level)"
    got = repr(error["input"])
    return f"{where}: {error['msg']} (got {got if len(got) <= 60 else got[:57] + '...'})"


_EMPTY_META = json.dumps({"gold_clv": False, "gold_dates": [], "gold_runs": 0}, sort_keys=True)


def _state_json(batch: Batch) -> str:
    """The batch's progress as stored in its row (everything but the key columns)."""
    data = {k: v for k, v in asdict(batch).items() if k not in _KEY_FIELDS}
    return json.dumps(data, sort_keys=True)


def _known_hash(sha: str) -> Callable[[], str]:
    """A digest that returns the hash already computed (the file is not read again)."""
    return lambda: sha


def _backoff(attempt: int) -> None:
    ceiling = min(4.0, 0.2 * 2**attempt)
    time.sleep(ceiling / 2 + random.uniform(0, ceiling / 2))
