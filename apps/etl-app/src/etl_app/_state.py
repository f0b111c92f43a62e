"""The batch ledger: which input file is which bronze batch, and how far each batch got.

Delta's idempotent writes need a monotonically increasing ``txnVersion`` per writer app id. The
ledger maps each input file's content hash to a stable batch id (1, 2, ...), so a file that is
seen again (same content, even under another name) keeps its id and its writes are skipped.
It also records, per batch, the silver commit it produced and whether gold has folded it in,
so ``--cmd gold`` can run in a later process and read exactly those commits' changes.

The ledger is a local JSON file (``<root>/_state/ledger.json``), validated on load; its
interface is kept small (load, register, pending, mark done / failed, save) so it can move into
the lake later. Each save keeps the previous file as ``ledger.json.bak``.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from pydantic import ConfigDict, StrictBool, StrictInt, StrictStr, TypeAdapter, ValidationError

from etl_app._specs import Stage
from etl_app.errors import LedgerError

STATE_FILE = "_state/ledger.json"
#: Version of the file layout. Files without one were written by etl-app 0.1.
FORMAT = 2
_STRICT = ConfigDict(extra="forbid")


@dataclass
class Batch:
    """One input file of one source.

    Attributes:
        batch_id: Stable id, also the Delta ``txnVersion`` of every write of this batch.
        file: Input path as read.
        sha256: Content hash (for a folder: over its files' names and contents).
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


@dataclass
class _File:
    """The JSON document, as validated on load."""

    __pydantic_config__ = _STRICT

    sources: dict[str, list[Batch]]
    format: StrictInt = 1
    gold_dates: list[date] = field(default_factory=list)
    gold_clv: StrictBool = False
    gold_runs: StrictInt = 0


_FILE = TypeAdapter(_File)


@dataclass
class Ledger:
    """Batches per source and the gold work pending; saved atomically as JSON.

    Attributes:
        path: The JSON file.
        sources: Batches per source name, in registration order.
        gold_dates: Dates whose gold revenue must be recomputed regardless of silver changes
            (left by etl-app 0.1, whose ledger recorded gold work by date).
        gold_clv: Whether gold customer lifetime value must be rebuilt from all of silver
            (left by etl-app 0.1, or after a layout migration).
        gold_runs: Gold runs started so far (the Delta ``txnVersion`` of gold writes).
    """

    path: Path
    sources: dict[str, list[Batch]] = field(default_factory=dict)
    gold_dates: set[str] = field(default_factory=set)
    gold_clv: bool = False
    gold_runs: int = 0

    @classmethod
    def load(cls, root: Path) -> Ledger:
        """Read and validate the ledger under the data root (an empty one when none exists).

        Raises:
            LedgerError: The file is unreadable, not JSON, or not a ledger; the message names
                the file, the first problems and what to do.
        """
        path = root / STATE_FILE
        if not path.exists():
            return cls(path)
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
        return cls(
            path,
            data.sources,
            {d.isoformat() for d in data.gold_dates},
            data.gold_clv,
            data.gold_runs,
        )

    def save(self) -> None:
        """Write the ledger atomically (temp file + rename), keeping the previous one as .bak."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        data = {
            "format": FORMAT,
            "sources": {n: [asdict(b) for b in bs] for n, bs in self.sources.items()},
            "gold_dates": sorted(self.gold_dates),
            "gold_clv": self.gold_clv,
            "gold_runs": self.gold_runs,
        }
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".ledger-")
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(data, fh, indent=2)
        if self.path.exists():
            shutil.copyfile(self.path, self.path.with_name(self.path.name + ".bak"))
        os.replace(tmp, self.path)

    def register(self, source: str, file: Path, run_id: str) -> Batch:
        """Return the batch of ``file``: the known one for its content, else a new id."""
        digest = content_hash(file)
        batches = self.sources.setdefault(source, [])
        for batch in batches:
            if batch.sha256 == digest:
                return batch
        batch = Batch(
            batch_id=max((b.batch_id for b in batches), default=0) + 1,
            file=str(file),
            sha256=digest,
            registered_by=run_id,
        )
        batches.append(batch)
        return batch

    def pending(self, stage: Stage, source: str | None = None) -> list[Batch]:
        """Batches the stage has still to process, in batch order.

        Args:
            stage: ``SILVER``: in bronze, not yet in silver. ``GOLD``: in silver, not yet
                folded into gold. ``BRONZE``: registered, not yet in bronze.
            source: Only this source's batches (all sources when None).

        Returns:
            The batches, by source then batch id.
        """
        names = [source] if source is not None else list(self.sources)
        todo: dict[Stage, Callable[[Batch], bool]] = {
            Stage.BRONZE: lambda b: b.bronze_rows is None,
            Stage.SILVER: lambda b: b.bronze_rows is not None and not b.silver_done,
            Stage.GOLD: lambda b: b.silver_done and not b.gold_done,
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

    def gold_work(self, *, after: int = 0) -> list[tuple[int, dict[str, list[Batch]]]]:
        """Group the batches gold still has to fold in by gold run, starting runs as needed.

        A run that started but did not finish keeps its id and its batches (its writes may
        have committed: retrying under the same ``txnVersion`` makes Delta skip those); the
        remaining batches form one new run. Call :meth:`save` before writing.

        Args:
            after: A new run's id is above this too (the last gold ``txnVersion`` found in the
                gold tables), so a ledger restored from an older copy cannot reuse an id that
                Delta would skip.

        Returns:
            ``(run id, batches per source)`` pairs in run order; empty when gold is up to date.
        """
        runs: dict[int, dict[str, list[Batch]]] = {}
        fresh: dict[str, list[Batch]] = {}
        for source in self.sources:
            for batch in self.pending(Stage.GOLD, source):
                group = fresh if batch.gold_run is None else runs.setdefault(batch.gold_run, {})
                group.setdefault(source, []).append(batch)
        if fresh or ((self.gold_dates or self.gold_clv) and not runs):
            self.gold_runs = max(self.gold_runs, after) + 1
            for batches in fresh.values():
                for batch in batches:
                    batch.gold_run = self.gold_runs
            runs[self.gold_runs] = fresh
        return sorted(runs.items())


def _problem(error: Any) -> str:
    where = ".".join(str(p) for p in error["loc"]) or "(top level)"
    got = repr(error["input"])
    return f"{where}: {error['msg']} (got {got if len(got) <= 60 else got[:57] + '...'})"


def content_hash(path: Path) -> str:
    """SHA-256 of a file, or of a folder's files (names and contents, in name order)."""
    digest = hashlib.sha256()
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    for file in files:
        if path.is_dir():
            digest.update(str(file.relative_to(path)).encode())
        with file.open("rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                digest.update(chunk)
    return digest.hexdigest()
