"""Data-quality gates declared with pandera, evaluated in one pass over a Spark DataFrame."""

from importlib.metadata import version

__version__ = version("dq-gates")

__all__ = ["__version__"]
