"""Input files the way upstream systems drop them: one file per name, not Spark's part folders."""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pyspark.sql import DataFrame


def write_one_file(df: DataFrame, target: Path, fmt: str, **options: str) -> Path:
    """Write ``df`` as the single local file ``target`` (CSV, JSON lines, Parquet ...).

    Spark writes a folder of part files; a pipeline that picks up input files by a glob such as
    ``orders_*.json`` expects one file per name, as an exporter or an upload would leave it. The
    rows are written through Spark into a hidden folder beside ``target`` (one partition), and
    its one part file is moved to ``target``.

    Args:
        df: The rows to write.
        target: The local file to create; its folder is created if missing. Must not exist.
        fmt: A Spark data source name (``csv``, ``json``, ``parquet`` ...).
        **options: Writer options, e.g. ``header="true"`` for CSV.

    Returns:
        ``target``.

    Raises:
        FileExistsError: ``target`` already exists.
        RuntimeError: Spark did not leave exactly one part file (nothing is moved then).
    """
    if target.exists():
        raise FileExistsError(f"{target} already exists; write_one_file never overwrites")
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = target.parent / f".{target.name}.{uuid.uuid4().hex}.staging"
    try:
        df.coalesce(1).write.format(fmt).options(**options).save(str(staging))
        parts = sorted(p for p in staging.iterdir() if p.name.startswith("part-"))
        if len(parts) != 1:
            names = [p.name for p in parts]
            raise RuntimeError(f"expected one part file in {staging}, found {len(parts)}: {names}")
        shutil.move(str(parts[0]), str(target))
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target
