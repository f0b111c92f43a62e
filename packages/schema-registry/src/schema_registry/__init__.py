"""Versioned table schemas, drift detection, compatibility modes and SCD2 validation."""

from importlib.metadata import version

__version__ = version("schema-registry")

__all__ = ["__version__"]
