"""The bronze -> silver -> gold pipeline composing the workspace's four libraries.

Run it with the ``etl-app`` console script, or from Python with an existing SparkSession::

    from etl_app import load_config, run_pipeline

    report = run_pipeline(load_config("etl.yaml", "prod"), spark=spark)
    print(report.summary_table())
"""

from importlib.metadata import version

from etl_app._config import AppConfig, load_config
from etl_app._lake import Migration
from etl_app._pipeline import Pipeline, migrate_lake, run_pipeline
from etl_app._report import RunReport, TableStep
from etl_app._sample import SampleSummary, generate_sample
from etl_app._spark import build_spark_session
from etl_app._specs import DEFAULT_SPECS, Stage, TableSpec, WriteMode
from etl_app.errors import (
    ConfigError,
    EtlAppError,
    HistoryValidationError,
    InputError,
    LakeLayoutError,
    LedgerError,
    ReconciliationError,
    SchemaDriftError,
    SparkUnavailableError,
)

__version__ = version("etl-app")

__all__ = [
    "DEFAULT_SPECS",
    "AppConfig",
    "ConfigError",
    "EtlAppError",
    "HistoryValidationError",
    "InputError",
    "LakeLayoutError",
    "LedgerError",
    "Migration",
    "Pipeline",
    "ReconciliationError",
    "RunReport",
    "SampleSummary",
    "SchemaDriftError",
    "SparkUnavailableError",
    "Stage",
    "TableSpec",
    "TableStep",
    "WriteMode",
    "__version__",
    "build_spark_session",
    "generate_sample",
    "load_config",
    "migrate_lake",
    "run_pipeline",
]
