"""A metric plus its guard: label validation and a cap on distinct label sets.

Each family caches the prometheus_client child per label-value tuple. The cache doubles as the
set of label sets seen, so the hot path for a known label set is one dict lookup (cheaper than
``metric.labels(...)``, which validates and takes a lock on every call); validation and the
cardinality check run only the first time a label set appears.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Generic, TypeVar

from prometheus_client import Counter, Gauge, Histogram

from etl_metrics._specs import MetricSpec
from etl_metrics.errors import CardinalityLimitError, LabelError

M = TypeVar("M", Counter, Gauge, Histogram)


class Family(Generic[M]):
    """A guarded metric: its spec, the prometheus_client metric and its admitted children."""

    __slots__ = ("_lock", "children", "limit", "metric", "spec")

    spec: MetricSpec
    metric: M
    limit: int
    children: dict[tuple[str, ...], M]

    def __init__(self, spec: MetricSpec, metric: M, limit: int) -> None:
        self.spec = spec
        self.metric = metric
        self.limit = limit
        # label-value tuple -> child; read without the lock (dict reads are atomic).
        self.children = {}
        self._lock = threading.Lock()

    def child(self, values: tuple[str, ...]) -> M:
        """Return the child for ``values``, admitting the label set on first sight.

        Raises:
            LabelError: A value is not a non-empty string, or the count is wrong.
            CardinalityLimitError: The label set is new and the family is at its limit.
        """
        found = self.children.get(values)
        if found is None:
            found = self.admit(values)
        return found

    def admit(self, values: tuple[str, ...]) -> M:
        """Validate a label set not seen before and create its child (slow path).

        Raises:
            LabelError: A value is not a non-empty string, or the count is wrong.
            CardinalityLimitError: The family already holds ``limit`` distinct label sets.
        """
        self._validate(values)
        with self._lock:
            found = self.children.get(values)
            if found is not None:
                return found
            if len(self.children) >= self.limit:
                raise CardinalityLimitError(
                    self.spec.name, dict(zip(self.spec.labels, values, strict=True)), self.limit
                )
            found = self.metric.labels(*values)
            self.children[values] = found
            return found

    def values_from(self, labels: Mapping[str, str]) -> tuple[str, ...]:
        """Order label values given by name, rejecting unknown or missing names.

        Raises:
            LabelError: A name is not a label of this metric, or a label is missing.
        """
        names = self.spec.labels
        unknown = sorted(set(labels) - set(names))
        if unknown:
            raise LabelError(
                f"{self.spec.name} has no label {', '.join(map(repr, unknown))}; its labels are "
                f"{', '.join(names)}. Pass exactly those names."
            )
        missing = [name for name in names if name not in labels]
        if missing:
            raise LabelError(
                f"{self.spec.name} needs a value for label {', '.join(map(repr, missing))}; "
                f"its labels are {', '.join(names)}."
            )
        return tuple(labels[name] for name in names)

    def _validate(self, values: tuple[object, ...]) -> None:
        names = self.spec.labels
        if len(values) != len(names):
            raise LabelError(
                f"{self.spec.name} takes {len(names)} label values ({', '.join(names)}), "
                f"got {len(values)}: {values!r}."
            )
        for name, value in zip(names, values, strict=True):
            if not isinstance(value, str):
                raise LabelError(
                    f"{self.spec.name}: label {name!r} must be a string, got "
                    f"{type(value).__name__} {value!r}. Convert it explicitly (and make sure it "
                    f"has few distinct values)."
                )
            if not value:
                raise LabelError(
                    f"{self.spec.name}: label {name!r} is empty. Prometheus treats an empty label "
                    f"as absent, so series would merge; pass a meaningful value (e.g. 'unknown')."
                )
