"""The batch ledger: which input file is which bronze batch, and how far each batch got.

Delta's idempotent writes need a monotonically increasing ``txnVersion`` per writer app id. The
ledger maps each input file's content hash to a stable batch id (1, 2, ...), so a file that is
seen again (same content, even under another name) keeps its id and its writes are skipped.
It also records the gold work still pending, so ``--cmd gold`` can run in a later process.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

STATE_FILE = "_state/ledger.json"


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
    """

    batch_id: int
    file: str
    sha256: str
    registered_by: str
    bronze_rows: int | None = None
    silver_done: bool = False
    counts: dict[str, int] = field(default_factory=dict)


@dataclass
class Ledger:
    """Batches per source plus the gold work pending; saved atomically as JSON."""

    path: Path
    sources: dict[str, list[Batch]] = field(default_factory=dict)
    gold_dates: set[str] = field(default_factory=set)
    gold_clv: bool = False

    @classmethod
    def load(cls, root: Path) -> Ledger:
        """Read the ledger under the data root (an empty one when none exists yet)."""
        path = root / STATE_FILE
        if not path.exists():
            return cls(path)
        data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        return cls(
            path,
            {name: [Batch(**b) for b in batches] for name, batches in data["sources"].items()},
            set(data.get("gold_dates", [])),
            bool(data.get("gold_clv", False)),
        )

    def save(self) -> None:
        """Write the ledger atomically (temp file + rename): a crash leaves the old one intact."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        data = {
            "sources": {n: [asdict(b) for b in bs] for n, bs in self.sources.items()},
            "gold_dates": sorted(self.gold_dates),
            "gold_clv": self.gold_clv,
        }
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".ledger-")
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(data, fh, indent=2)
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

    def pending_silver(self, source: str) -> list[Batch]:
        """Batches in bronze that silver has not processed yet, in batch order."""
        return [
            b
            for b in sorted(self.sources.get(source, []), key=lambda b: b.batch_id)
            if b.bronze_rows is not None and not b.silver_done
        ]


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
