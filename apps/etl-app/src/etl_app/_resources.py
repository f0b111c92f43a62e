"""Files shipped inside the package: default config, schema registry, gates, sample data."""

from __future__ import annotations

from pathlib import Path

_ROOT = Path(__file__).parent / "resources"


def resource_path(name: str) -> Path:
    """Return the path of a bundled resource (``config/defaults.yaml``, ``sample``, ...).

    Args:
        name: Path relative to the package's ``resources`` folder.

    Returns:
        The absolute path (the package is installed as plain files, never zipped).
    """
    return _ROOT / name
