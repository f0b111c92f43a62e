"""The metric catalogue: names, types, labels, units and histogram buckets.

The names are a contract with the alert rules and dashboards, so they live in one table that
the README mirrors.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

MetricKind = Literal["counter", "gauge", "histogram"]

#: Buckets (seconds) for whole batch jobs: from one second to a day, denser where jobs usually
#: land (minutes to a few hours) so ``histogram_quantile`` stays meaningful there.
JOB_DURATION_BUCKETS: tuple[float, ...] = (
    1.0,
    5.0,
    15.0,
    30.0,
    60.0,
    120.0,
    300.0,
    600.0,
    1200.0,
    1800.0,
    3600.0,
    7200.0,
    14400.0,
    28800.0,
    86400.0,
)

#: Buckets (seconds) for stages of a job: from 100 ms to four hours.
STAGE_DURATION_BUCKETS: tuple[float, ...] = (
    0.1,
    0.5,
    1.0,
    5.0,
    15.0,
    30.0,
    60.0,
    120.0,
    300.0,
    600.0,
    1200.0,
    1800.0,
    3600.0,
    7200.0,
    14400.0,
)

#: Buckets (seconds) for single Delta writes: from 100 ms to an hour.
DELTA_WRITE_DURATION_BUCKETS: tuple[float, ...] = (
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
    60.0,
    120.0,
    300.0,
    600.0,
    1800.0,
    3600.0,
)


@dataclass(frozen=True, slots=True)
class MetricSpec:
    """One metric of the catalogue.

    Attributes:
        name: The exposed name (counters include ``_total``).
        kind: Prometheus metric type.
        labels: Label names, in the order helpers pass values.
        unit: Unit of the value, as documented (``"1"`` for plain counts).
        documentation: The HELP text.
        buckets: Histogram bucket upper bounds (histograms only).
    """

    name: str
    kind: MetricKind
    labels: tuple[str, ...]
    unit: str
    documentation: str
    buckets: tuple[float, ...] = ()


JOB_EXECUTIONS = MetricSpec(
    "etl_job_executions_total",
    "counter",
    ("job", "env", "status"),
    "1",
    "Finished job runs by status (success or failure).",
)
JOB_DURATION = MetricSpec(
    "etl_job_duration_seconds",
    "histogram",
    ("job", "env", "status"),
    "seconds",
    "Wall-clock duration of job runs, by status.",
    JOB_DURATION_BUCKETS,
)
JOB_LAST_SUCCESS = MetricSpec(
    "etl_job_last_success_timestamp",
    "gauge",
    ("job", "env"),
    "seconds since the Unix epoch",
    "Unix time (seconds) at which the job last finished successfully.",
)
STAGE_DURATION = MetricSpec(
    "etl_stage_duration_seconds",
    "histogram",
    ("job", "stage", "env"),
    "seconds",
    "Wall-clock duration of job stages (successful or not).",
    STAGE_DURATION_BUCKETS,
)
DQ_CHECKS = MetricSpec(
    "etl_dq_checks_total",
    "counter",
    ("job", "table", "check", "result"),
    "1",
    "Data-quality check evaluations by result (pass or fail).",
)
DQ_VIOLATIONS = MetricSpec(
    "etl_dq_violations_total",
    "counter",
    ("job", "table", "check", "severity"),
    "1",
    "Records that violated a data-quality check, by check severity.",
)
DQ_ANOMALY_CHECKS = MetricSpec(
    "etl_dq_anomaly_checks_total",
    "counter",
    ("job", "table", "check", "status"),
    "1",
    "Anomaly check evaluations by status (ok, anomaly, insufficient_history, no_value).",
)
DQ_ANOMALIES = MetricSpec(
    "etl_dq_anomalies_total",
    "counter",
    ("job", "table", "check", "severity"),
    "1",
    "Batches an anomaly check judged anomalous, by the check's severity (its gate action); "
    "0 when the check ran and found none.",
)
DQ_ANOMALY_VALUE = MetricSpec(
    "etl_dq_anomaly_value",
    "gauge",
    ("job", "table", "check"),
    "the checked metric's unit",
    "Latest value of an anomaly check's batch metric (row count, NULL fraction, mean...); "
    "NaN when undefined on the batch.",
)
DQ_ANOMALY_LOWER_BOUND = MetricSpec(
    "etl_dq_anomaly_lower_bound",
    "gauge",
    ("job", "table", "check"),
    "the checked metric's unit",
    "Smallest value the anomaly check allowed, derived from the results history; NaN when "
    "not judged or not bounded below.",
)
DQ_ANOMALY_UPPER_BOUND = MetricSpec(
    "etl_dq_anomaly_upper_bound",
    "gauge",
    ("job", "table", "check"),
    "the checked metric's unit",
    "Largest value the anomaly check allowed, derived from the results history; NaN when "
    "not judged or not bounded above.",
)
RECORDS_PROCESSED = MetricSpec(
    "etl_records_processed_total",
    "counter",
    ("job", "stage", "table"),
    "1",
    "Records processed by a job stage for a table.",
)
RECORDS_FAILED = MetricSpec(
    "etl_records_failed_total",
    "counter",
    ("job", "stage", "table"),
    "1",
    "Records a job stage could not process (rejected, quarantined) for a table.",
)
DELTA_TABLE_SIZE = MetricSpec(
    "delta_table_size_bytes",
    "gauge",
    ("table",),
    "bytes",
    "Size of the Delta table's current snapshot in bytes.",
)
DELTA_TABLE_VERSIONS = MetricSpec(
    "delta_table_versions",
    "gauge",
    ("table",),
    "1",
    "Number of versions in the Delta table's history.",
)
DELTA_TABLE_FILES = MetricSpec(
    "delta_table_files",
    "gauge",
    ("table",),
    "1",
    "Number of data files in the Delta table's current snapshot.",
)
DELTA_WRITE_DURATION = MetricSpec(
    "delta_write_duration_seconds",
    "histogram",
    ("table", "operation"),
    "seconds",
    "Duration of Delta writes by operation (append, overwrite, merge, ...).",
    DELTA_WRITE_DURATION_BUCKETS,
)
SCHEMA_DRIFT = MetricSpec(
    "etl_schema_drift_detected_total",
    "counter",
    ("table", "kind"),
    "1",
    "Schema drift detections by kind, as schema-registry's DriftKind names them (missing_column, "
    "extra_column, type_mismatch, nullability_change, order_change).",
)
MEMORY_USAGE = MetricSpec(
    "etl_memory_usage_bytes",
    "gauge",
    ("job",),
    "bytes",
    "Resident set size (RSS) of the job's process, sampled.",
)
CPU_USAGE = MetricSpec(
    "etl_cpu_usage_percent",
    "gauge",
    ("job",),
    "percent of one core",
    "CPU use of the job's process since the previous sample, in percent of one core.",
)
ERRORS = MetricSpec(
    "etl_errors_total",
    "counter",
    ("job", "stage", "error_type"),
    "1",
    "Errors by job, stage (``job`` for a failed run) and exception class name.",
)

#: Every metric this library defines, in documentation order.
CATALOGUE: tuple[MetricSpec, ...] = (
    JOB_EXECUTIONS,
    JOB_DURATION,
    JOB_LAST_SUCCESS,
    STAGE_DURATION,
    DQ_CHECKS,
    DQ_VIOLATIONS,
    DQ_ANOMALY_CHECKS,
    DQ_ANOMALIES,
    DQ_ANOMALY_VALUE,
    DQ_ANOMALY_LOWER_BOUND,
    DQ_ANOMALY_UPPER_BOUND,
    RECORDS_PROCESSED,
    RECORDS_FAILED,
    DELTA_TABLE_SIZE,
    DELTA_TABLE_VERSIONS,
    DELTA_TABLE_FILES,
    DELTA_WRITE_DURATION,
    SCHEMA_DRIFT,
    MEMORY_USAGE,
    CPU_USAGE,
    ERRORS,
)

#: The ``status`` values of ``etl_dq_anomaly_checks_total``: what an anomaly check concluded,
#: as dq-gates names it (``AnomalyResult.status``).
DQ_ANOMALY_STATUSES: tuple[str, ...] = ("ok", "anomaly", "insufficient_history", "no_value")
