"""Prometheus metrics and structured logs for batch data pipelines.

The module-level helpers record into the library's own registry, :data:`DEFAULT_REGISTRY`,
through :data:`DEFAULT_METRICS`; build an :class:`EtlMetrics` to record into another registry.
"""

from importlib.metadata import version

from etl_metrics._logging import (
    RedactSecrets,
    bind_context,
    bound_context,
    clear_context,
    configure_logging,
    get_logger,
    new_run_id,
    redact_secrets,
)
from etl_metrics._metrics import (
    DEFAULT_MAX_LABEL_SETS,
    DEFAULT_METRICS,
    DEFAULT_REGISTRY,
    EtlMetrics,
    MetricHandle,
)
from etl_metrics._push import (
    PASSWORD_ENV,
    TOKEN_ENV,
    USERNAME_ENV,
    PushOutcome,
    delete_from_gateway,
    push_metrics_to_gateway,
    try_delete_from_gateway,
    try_push_metrics_to_gateway,
    validate_grouping_key,
)
from etl_metrics._redact import DEFAULT_SECRET_MARKERS, REDACTED, redact_url
from etl_metrics._resources import ResourceSampler
from etl_metrics._specs import (
    CATALOGUE,
    DELTA_WRITE_DURATION_BUCKETS,
    DQ_ANOMALY_STATUSES,
    JOB_DURATION_BUCKETS,
    STAGE_DURATION_BUCKETS,
    MetricSpec,
)
from etl_metrics._textfile import write_textfile
from etl_metrics._tracking import JobTracker, StageTracker
from etl_metrics.errors import (
    CardinalityLimitError,
    EtlMetricsError,
    GroupingKeyError,
    LabelError,
    PushGatewayError,
    UnknownMetricError,
)

__version__ = version("etl-metrics")

# Module-level helpers: the methods of the default instance (same call cost as a method call).
track_job_execution = DEFAULT_METRICS.track_job_execution
track_stage_duration = DEFAULT_METRICS.track_stage_duration
record_dq_check = DEFAULT_METRICS.record_dq_check
record_dq_anomaly = DEFAULT_METRICS.record_dq_anomaly
record_records_processed = DEFAULT_METRICS.record_records_processed
record_records_failed = DEFAULT_METRICS.record_records_failed
record_delta_table_metrics = DEFAULT_METRICS.record_delta_table_metrics
record_schema_drift = DEFAULT_METRICS.record_schema_drift
record_error = DEFAULT_METRICS.record_error
resource_sampler = DEFAULT_METRICS.resource_sampler

__all__ = [
    "CATALOGUE",
    "DEFAULT_MAX_LABEL_SETS",
    "DEFAULT_METRICS",
    "DEFAULT_REGISTRY",
    "DEFAULT_SECRET_MARKERS",
    "DELTA_WRITE_DURATION_BUCKETS",
    "DQ_ANOMALY_STATUSES",
    "JOB_DURATION_BUCKETS",
    "PASSWORD_ENV",
    "REDACTED",
    "STAGE_DURATION_BUCKETS",
    "TOKEN_ENV",
    "USERNAME_ENV",
    "CardinalityLimitError",
    "EtlMetrics",
    "EtlMetricsError",
    "GroupingKeyError",
    "JobTracker",
    "LabelError",
    "MetricHandle",
    "MetricSpec",
    "PushGatewayError",
    "PushOutcome",
    "RedactSecrets",
    "ResourceSampler",
    "StageTracker",
    "UnknownMetricError",
    "__version__",
    "bind_context",
    "bound_context",
    "clear_context",
    "configure_logging",
    "delete_from_gateway",
    "get_logger",
    "new_run_id",
    "push_metrics_to_gateway",
    "record_delta_table_metrics",
    "record_dq_anomaly",
    "record_dq_check",
    "record_error",
    "record_records_failed",
    "record_records_processed",
    "record_schema_drift",
    "redact_secrets",
    "redact_url",
    "resource_sampler",
    "track_job_execution",
    "track_stage_duration",
    "try_delete_from_gateway",
    "try_push_metrics_to_gateway",
    "validate_grouping_key",
    "write_textfile",
]
