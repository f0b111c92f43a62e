"""The bronze -> silver -> gold pipeline composing the workspace's four libraries."""

from importlib.metadata import version

__version__ = version("etl-app")

__all__ = ["__version__"]
