"""Prometheus metrics and structured logs for batch data pipelines."""

from importlib.metadata import version

__version__ = version("etl-metrics")

__all__ = ["__version__"]
