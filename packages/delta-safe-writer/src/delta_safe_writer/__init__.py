"""Delta Lake writes that cannot silently lose or duplicate data."""

from importlib.metadata import version

__version__ = version("delta-safe-writer")

__all__ = ["__version__"]
