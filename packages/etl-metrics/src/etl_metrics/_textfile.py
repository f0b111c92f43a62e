"""Metrics for the node-exporter textfile collector, replaced atomically."""

from __future__ import annotations

import os
from pathlib import Path

from prometheus_client import CollectorRegistry, write_to_textfile

from etl_metrics._metrics import DEFAULT_REGISTRY


def write_textfile(path: str | os.PathLike[str], registry: CollectorRegistry | None = None) -> Path:
    """Write the registry in Prometheus text format for node-exporter's textfile collector.

    The file is written next to its destination and renamed over it (``rename(2)`` is atomic),
    so node-exporter never reads a half-written file. The folder is created when missing.

    Args:
        path: Destination; must end in ``.prom`` (the only files the collector reads).
        registry: Registry to write; the library's default registry when None.

    Returns:
        The path written.

    Raises:
        ValueError: ``path`` does not end in ``.prom``.
        OSError: The folder cannot be created or the file cannot be written.
    """
    target = Path(path)
    if target.suffix != ".prom":
        raise ValueError(
            f"write_textfile({str(target)!r}): node-exporter's textfile collector only reads "
            f"files ending in .prom; use e.g. {str(target.with_suffix('.prom'))!r}."
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    write_to_textfile(str(target), DEFAULT_REGISTRY if registry is None else registry)
    return target
