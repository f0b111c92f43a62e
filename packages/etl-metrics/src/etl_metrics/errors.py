"""Public exceptions raised by etl-metrics."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from etl_metrics._push import PushOutcome


class EtlMetricsError(Exception):
    """Base class of every error raised by etl-metrics."""


class UnknownMetricError(EtlMetricsError, LookupError):
    """A metric name that this library does not define was asked for."""


class LabelError(EtlMetricsError, ValueError):
    """Label names or values given for a metric are wrong (unknown, missing, empty, not text)."""


class CardinalityLimitError(LabelError):
    """A new label set would take a metric past its limit of distinct label sets.

    Attributes:
        metric: Name of the metric, e.g. ``etl_dq_checks_total``.
        labels: The label set that was refused.
        limit: The configured maximum number of distinct label sets for the metric.
    """

    def __init__(self, metric: str, labels: Mapping[str, str], limit: int) -> None:
        self.metric = metric
        self.labels = dict(labels)
        self.limit = limit
        shown = ", ".join(f"{k}={v!r}" for k, v in self.labels.items())
        super().__init__(
            f"{metric}: refusing new label set {{{shown}}}: the metric already has {limit} "
            f"distinct label sets, its limit. A label value probably carries something unbounded "
            f"(an id, a timestamp, a file path); use a bounded value (a category, a table name), "
            f"or raise the limit with EtlMetrics(max_label_sets_per_metric={{{metric!r}: N}})."
        )


class GroupingKeyError(LabelError):
    """A Pushgateway grouping key is invalid (``job`` in it, a bad label name or value)."""


class PushGatewayError(EtlMetricsError):
    """A push to (or delete from) a Pushgateway failed in strict mode.

    Attributes:
        gateway: The gateway address with any credentials masked.
        attempts: How many HTTP attempts were made.
        outcome: The details, as ``try_push_metrics_to_gateway`` returns them (None when
            raised outside a push).
    """

    def __init__(
        self,
        message: str,
        *,
        gateway: str,
        attempts: int,
        outcome: PushOutcome | None = None,
    ) -> None:
        self.gateway = gateway
        self.attempts = attempts
        self.outcome = outcome
        super().__init__(message)
