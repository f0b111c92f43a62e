"""The bronze -> silver -> gold pipeline composing the workspace's four libraries."""

from importlib.metadata import version

from etl_app._config import AppConfig, load_config
from etl_app.errors import (
    ConfigError,
    EtlAppError,
    InputError,
    ReconciliationError,
    SchemaDriftError,
    SparkUnavailableError,
)

__version__ = version("etl-app")

__all__ = [
    "AppConfig",
    "ConfigError",
    "EtlAppError",
    "InputError",
    "ReconciliationError",
    "SchemaDriftError",
    "SparkUnavailableError",
    "__version__",
    "load_config",
]
