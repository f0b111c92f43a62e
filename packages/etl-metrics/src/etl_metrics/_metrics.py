"""``EtlMetrics``: the metric catalogue registered in one registry, with guarded helpers."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from etl_metrics import _specs
from etl_metrics._family import Family, M
from etl_metrics._tracking import JobTracker, StageTracker
from etl_metrics.errors import EtlMetricsError, LabelError, UnknownMetricError

if TYPE_CHECKING:
    from etl_metrics._resources import ResourceSampler

_NAN = float("nan")

#: Default cap on distinct label sets per metric.
DEFAULT_MAX_LABEL_SETS = 1000

#: The registry owned by this library; the module-level helpers record into it.
DEFAULT_REGISTRY = CollectorRegistry()

# The metric set is stored on the registry object itself, so a second EtlMetrics on the same
# registry (or this module executed twice, e.g. imported under two names) reuses the
# collectors instead of failing with prometheus_client's duplicate-registration error.
_ATTACHED = "_etl_metrics_families"


class MetricHandle(Generic[M]):
    """Guarded access to one metric of the catalogue, for what the ``record_*`` helpers lack.

    Get one with :meth:`EtlMetrics.metric`. ``labels(...)`` returns the prometheus_client child
    (``.inc()``, ``.set()``, ``.observe()``) after the same validation and cardinality check the
    helpers apply.
    """

    __slots__ = ("_family",)

    _family: Family[M]

    def __init__(self, family: Family[M]) -> None:
        self._family = family

    @property
    def name(self) -> str:
        """The exposed metric name."""
        return self._family.spec.name

    @property
    def labelnames(self) -> tuple[str, ...]:
        """Label names in positional order."""
        return self._family.spec.labels

    @property
    def label_set_count(self) -> int:
        """How many distinct label sets the metric holds."""
        return len(self._family.children)

    @property
    def limit(self) -> int:
        """The maximum number of distinct label sets."""
        return self._family.limit

    def labels(self, *values: str, **labels: str) -> M:
        """Return the child for one label set, given by position or by name (not both).

        Args:
            *values: Label values in :attr:`labelnames` order.
            **labels: Label values by name.

        Returns:
            The prometheus_client child for that label set.

        Raises:
            LabelError: Unknown, missing or invalid labels, or both forms mixed.
            CardinalityLimitError: The label set is new and the metric is at its limit.
        """
        if values and labels:
            raise LabelError(
                f"{self.name}: pass label values either by position or by name, not both."
            )
        key = self._family.values_from(labels) if labels else values
        return self._family.child(key)


@dataclass(frozen=True, slots=True)
class _Families:
    limits: Mapping[str, int]
    job_executions: Family[Counter]
    job_duration: Family[Histogram]
    job_last_success: Family[Gauge]
    stage_duration: Family[Histogram]
    dq_checks: Family[Counter]
    dq_violations: Family[Counter]
    dq_anomaly_checks: Family[Counter]
    dq_anomalies: Family[Counter]
    dq_anomaly_value: Family[Gauge]
    dq_anomaly_lower: Family[Gauge]
    dq_anomaly_upper: Family[Gauge]
    records_processed: Family[Counter]
    records_failed: Family[Counter]
    delta_size: Family[Gauge]
    delta_versions: Family[Gauge]
    delta_files: Family[Gauge]
    delta_write_duration: Family[Histogram]
    schema_drift: Family[Counter]
    memory: Family[Gauge]
    cpu: Family[Gauge]
    errors: Family[Counter]

    def by_name(self) -> dict[str, Family[Any]]:
        return {
            f.spec.name: f
            for f in (
                self.job_executions,
                self.job_duration,
                self.job_last_success,
                self.stage_duration,
                self.dq_checks,
                self.dq_violations,
                self.dq_anomaly_checks,
                self.dq_anomalies,
                self.dq_anomaly_value,
                self.dq_anomaly_lower,
                self.dq_anomaly_upper,
                self.records_processed,
                self.records_failed,
                self.delta_size,
                self.delta_versions,
                self.delta_files,
                self.delta_write_duration,
                self.schema_drift,
                self.memory,
                self.cpu,
                self.errors,
            )
        }


def _counter(spec: _specs.MetricSpec, registry: CollectorRegistry, limit: int) -> Family[Counter]:
    metric = Counter(spec.name, spec.documentation, spec.labels, registry=registry)
    return Family(spec, metric, limit)


def _gauge(spec: _specs.MetricSpec, registry: CollectorRegistry, limit: int) -> Family[Gauge]:
    metric = Gauge(spec.name, spec.documentation, spec.labels, registry=registry)
    return Family(spec, metric, limit)


def _histogram(
    spec: _specs.MetricSpec, registry: CollectorRegistry, limit: int
) -> Family[Histogram]:
    metric = Histogram(
        spec.name, spec.documentation, spec.labels, registry=registry, buckets=spec.buckets
    )
    return Family(spec, metric, limit)


def _register(registry: CollectorRegistry, limits: Mapping[str, int]) -> _Families:
    s = _specs
    return _Families(
        limits=dict(limits),
        job_executions=_counter(s.JOB_EXECUTIONS, registry, limits[s.JOB_EXECUTIONS.name]),
        job_duration=_histogram(s.JOB_DURATION, registry, limits[s.JOB_DURATION.name]),
        job_last_success=_gauge(s.JOB_LAST_SUCCESS, registry, limits[s.JOB_LAST_SUCCESS.name]),
        stage_duration=_histogram(s.STAGE_DURATION, registry, limits[s.STAGE_DURATION.name]),
        dq_checks=_counter(s.DQ_CHECKS, registry, limits[s.DQ_CHECKS.name]),
        dq_violations=_counter(s.DQ_VIOLATIONS, registry, limits[s.DQ_VIOLATIONS.name]),
        dq_anomaly_checks=_counter(s.DQ_ANOMALY_CHECKS, registry, limits[s.DQ_ANOMALY_CHECKS.name]),
        dq_anomalies=_counter(s.DQ_ANOMALIES, registry, limits[s.DQ_ANOMALIES.name]),
        dq_anomaly_value=_gauge(s.DQ_ANOMALY_VALUE, registry, limits[s.DQ_ANOMALY_VALUE.name]),
        dq_anomaly_lower=_gauge(
            s.DQ_ANOMALY_LOWER_BOUND, registry, limits[s.DQ_ANOMALY_LOWER_BOUND.name]
        ),
        dq_anomaly_upper=_gauge(
            s.DQ_ANOMALY_UPPER_BOUND, registry, limits[s.DQ_ANOMALY_UPPER_BOUND.name]
        ),
        records_processed=_counter(s.RECORDS_PROCESSED, registry, limits[s.RECORDS_PROCESSED.name]),
        records_failed=_counter(s.RECORDS_FAILED, registry, limits[s.RECORDS_FAILED.name]),
        delta_size=_gauge(s.DELTA_TABLE_SIZE, registry, limits[s.DELTA_TABLE_SIZE.name]),
        delta_versions=_gauge(
            s.DELTA_TABLE_VERSIONS, registry, limits[s.DELTA_TABLE_VERSIONS.name]
        ),
        delta_files=_gauge(s.DELTA_TABLE_FILES, registry, limits[s.DELTA_TABLE_FILES.name]),
        delta_write_duration=_histogram(
            s.DELTA_WRITE_DURATION, registry, limits[s.DELTA_WRITE_DURATION.name]
        ),
        schema_drift=_counter(s.SCHEMA_DRIFT, registry, limits[s.SCHEMA_DRIFT.name]),
        memory=_gauge(s.MEMORY_USAGE, registry, limits[s.MEMORY_USAGE.name]),
        cpu=_gauge(s.CPU_USAGE, registry, limits[s.CPU_USAGE.name]),
        errors=_counter(s.ERRORS, registry, limits[s.ERRORS.name]),
    )


def _limits(default: int, overrides: Mapping[str, int] | None) -> dict[str, int]:
    known = [spec.name for spec in _specs.CATALOGUE]
    limits = dict.fromkeys(known, default)
    for name, limit in (overrides or {}).items():
        if name not in limits:
            raise UnknownMetricError(
                f"max_label_sets_per_metric names {name!r}, which is not an etl-metrics metric; "
                f"known metrics: {', '.join(known)}."
            )
        limits[name] = limit
    for name, limit in limits.items():
        if limit < 1:
            raise ValueError(f"label-set limit for {name} must be at least 1, got {limit}.")
    return limits


class EtlMetrics:
    """The metric catalogue registered in one Prometheus registry, with recording helpers.

    The module-level functions of ``etl_metrics`` are the methods of :data:`DEFAULT_METRICS`,
    which records into :data:`DEFAULT_REGISTRY`. Build your own instance to record into another
    registry (tests, or an app that serves its own ``/metrics``).

    Creating a second instance on the same registry reuses the metrics already registered there
    (no duplicate-registration error); it must then ask for the same label-set limits.

    Args:
        registry: Where the metrics are registered; a fresh ``CollectorRegistry`` when None.
        max_label_sets: Maximum distinct label sets per metric (cardinality guard).
        max_label_sets_per_metric: Per-metric overrides of ``max_label_sets``, by metric name.

    Raises:
        UnknownMetricError: ``max_label_sets_per_metric`` names a metric this library lacks.
        ValueError: A limit is below 1.
        EtlMetricsError: The registry already holds these metrics with different limits.
    """

    def __init__(
        self,
        registry: CollectorRegistry | None = None,
        *,
        max_label_sets: int = DEFAULT_MAX_LABEL_SETS,
        max_label_sets_per_metric: Mapping[str, int] | None = None,
    ) -> None:
        self.registry = CollectorRegistry() if registry is None else registry
        limits = _limits(max_label_sets, max_label_sets_per_metric)
        attached: _Families | None = getattr(self.registry, _ATTACHED, None)
        if attached is None:
            attached = _register(self.registry, limits)
            setattr(self.registry, _ATTACHED, attached)
        elif dict(attached.limits) != limits:
            raise EtlMetricsError(
                "This registry already holds the etl-metrics metrics with other label-set limits "
                f"({dict(attached.limits)}); create every EtlMetrics on it with the same "
                "max_label_sets and max_label_sets_per_metric, or use a separate registry."
            )
        self._f = attached
        self._by_name = attached.by_name()

    def metric(self, name: str) -> MetricHandle[Any]:
        """Return guarded access to one metric by its exposed name.

        Args:
            name: e.g. ``"etl_records_processed_total"``.

        Returns:
            A :class:`MetricHandle` whose ``labels(...)`` validates and caps label sets.

        Raises:
            UnknownMetricError: No metric of that name in the catalogue.
        """
        family = self._by_name.get(name)
        if family is None:
            raise UnknownMetricError(
                f"etl-metrics defines no metric {name!r}; known metrics: "
                f"{', '.join(self._by_name)}."
            )
        return MetricHandle(family)

    def track_job_execution(self, job: str, env: str) -> JobTracker:
        """Track a whole job run, as a decorator or a context manager.

        Counts ``etl_job_executions_total{job, env, status}``, observes
        ``etl_job_duration_seconds``, sets ``etl_job_last_success_timestamp`` only on success;
        on failure increments ``etl_errors_total{job, stage="job", error_type}`` and re-raises.
        Works on plain and ``async`` functions, and with ``with`` / ``async with``.

        Args:
            job: Job name (bounded: a pipeline name, not a run id).
            env: Environment, e.g. ``prod``.

        Returns:
            A tracker to use as ``@decorator`` or ``with`` block.

        Raises:
            LabelError: Invalid label values.
            CardinalityLimitError: Too many distinct label sets.
        """
        f = self._f
        return JobTracker(
            job,
            env,
            executions=f.job_executions,
            duration=f.job_duration,
            last_success=f.job_last_success,
            errors=f.errors,
        )

    def track_stage_duration(self, job: str, stage: str, env: str) -> StageTracker:
        """Time a stage of a job into ``etl_stage_duration_seconds``, as decorator or ``with``.

        The duration is observed on success and failure; exceptions pass through unrecorded
        (count them with :meth:`record_error` where you handle them; the job tracker counts the
        failed run).

        Args:
            job: Job name.
            stage: Stage name, e.g. ``extract``.
            env: Environment.

        Returns:
            A tracker to use as ``@decorator`` or ``with`` block.

        Raises:
            LabelError: Invalid label values.
            CardinalityLimitError: Too many distinct label sets.
        """
        f = self._f
        return StageTracker(job, stage, env, duration=f.stage_duration)

    def record_dq_check(
        self,
        job: str,
        table: str,
        check: str,
        *,
        passed: bool,
        violations: int = 0,
        severity: str = "error",
    ) -> None:
        """Record one evaluation of a data-quality check.

        Increments ``etl_dq_checks_total{job, table, check, result}`` with result ``pass`` or
        ``fail``, and adds ``violations`` (records breaking the check) to
        ``etl_dq_violations_total{job, table, check, severity}`` when it is above 0.

        Args:
            job: Job name.
            table: Table the check ran on.
            check: Check name (bounded: ``not_null_id``, not a message).
            passed: Whether the check passed.
            violations: Number of violating records (0 or more).
            severity: Severity of the check, e.g. ``warning`` / ``error``.

        Raises:
            LabelError: Invalid label values.
            CardinalityLimitError: Too many distinct label sets.
            ValueError: ``violations`` is negative.
        """
        self._f.dq_checks.child((job, table, check, "pass" if passed else "fail")).inc()
        if violations:
            self._violations(job, table, check, severity, violations)

    def _violations(self, job: str, table: str, check: str, severity: str, n: int) -> None:
        if n < 0:
            raise ValueError(
                f"record_dq_check({job!r}, {table!r}, {check!r}): violations must be >= 0, got {n}."
            )
        self._f.dq_violations.child((job, table, check, severity)).inc(n)

    def record_dq_anomaly(
        self,
        job: str,
        table: str,
        check: str,
        *,
        status: str,
        severity: str,
        value: float | None = None,
        lower: float | None = None,
        upper: float | None = None,
    ) -> None:
        """Record one evaluation of an anomaly check (a whole-batch metric judged on history).

        Increments ``etl_dq_anomaly_checks_total{job, table, check, status}``, adds 1 to
        ``etl_dq_anomalies_total{job, table, check, severity}`` when ``status`` is ``anomaly``
        and 0 otherwise, and sets ``etl_dq_anomaly_value``, ``etl_dq_anomaly_lower_bound`` and
        ``etl_dq_anomaly_upper_bound{job, table, check}`` (NaN for what is None).

        Every call creates all five series, on purpose: the Pushgateway replaces a metric
        family only when a push carries samples of it, so the 0 of a later normal batch is
        what clears an earlier anomaly (and resolves its alert).

        Args:
            job: Job name.
            table: Table the check ran on.
            check: Check name (bounded: ``row_count``, ``amount.mean``, not a message).
            status: What the check concluded, one of :data:`DQ_ANOMALY_STATUSES`: ``ok``,
                ``anomaly``, ``insufficient_history`` (too few earlier runs: recorded, not
                judged) or ``no_value`` (the metric is undefined on this batch).
            severity: Severity of the check, its gate action (``warn`` or ``fail``), as for
                ``etl_dq_violations_total``.
            value: This batch's value of the checked metric (for a value set: how many
                distinct values); None when undefined.
            lower: Smallest allowed value; None when not judged or unbounded below.
            upper: Largest allowed value; None when not judged or unbounded above.

        Raises:
            LabelError: Invalid label values, or a ``status`` outside
                :data:`DQ_ANOMALY_STATUSES`.
            CardinalityLimitError: Too many distinct label sets.
        """
        if status not in _specs.DQ_ANOMALY_STATUSES:
            raise LabelError(
                f"record_dq_anomaly({job!r}, {table!r}, {check!r}): status must be one of "
                f"{', '.join(_specs.DQ_ANOMALY_STATUSES)}, got {status!r}. Pass the status the "
                "anomaly check reported (dq-gates' AnomalyResult.status)."
            )
        f = self._f
        key = (job, table, check)
        # Every label set is admitted (validated, capped) before any value changes.
        evaluations = f.dq_anomaly_checks.child((*key, status))
        anomalies = f.dq_anomalies.child((*key, severity))
        gauges = (
            (f.dq_anomaly_value.child(key), value),
            (f.dq_anomaly_lower.child(key), lower),
            (f.dq_anomaly_upper.child(key), upper),
        )
        evaluations.inc()
        anomalies.inc(1 if status == "anomaly" else 0)
        for gauge, number in gauges:
            gauge.set(_NAN if number is None else number)

    def record_records_processed(self, job: str, stage: str, table: str, count: float) -> None:
        """Add ``count`` to ``etl_records_processed_total{job, stage, table}``.

        Args:
            job: Job name.
            stage: Stage name.
            table: Table name.
            count: Records processed (0 or more).

        Raises:
            LabelError: Invalid label values.
            CardinalityLimitError: Too many distinct label sets.
            ValueError: ``count`` is negative.
        """
        self._f.records_processed.child((job, stage, table)).inc(count)

    def record_records_failed(self, job: str, stage: str, table: str, count: float) -> None:
        """Add ``count`` to ``etl_records_failed_total{job, stage, table}``.

        Args:
            job: Job name.
            stage: Stage name.
            table: Table name.
            count: Records that failed (0 or more).

        Raises:
            LabelError: Invalid label values.
            CardinalityLimitError: Too many distinct label sets.
            ValueError: ``count`` is negative.
        """
        self._f.records_failed.child((job, stage, table)).inc(count)

    def record_delta_table_metrics(
        self,
        table: str,
        *,
        size_bytes: float | None = None,
        versions: int | None = None,
        files: int | None = None,
        operation: str | None = None,
        write_duration_seconds: float | None = None,
    ) -> None:
        """Set the Delta table gauges and/or observe one write's duration.

        Only the values given are recorded. Reuse numbers Delta already reports (the
        ``operationMetrics`` of the commit, ``DESCRIBE DETAIL``) rather than scanning the table.

        Args:
            table: Table name or path.
            size_bytes: ``delta_table_size_bytes``.
            versions: ``delta_table_versions`` (versions in the history).
            files: ``delta_table_files`` (data files in the current snapshot).
            operation: Write operation (``append``, ``overwrite``, ``merge``...); required with
                ``write_duration_seconds``.
            write_duration_seconds: Observed into ``delta_write_duration_seconds{table,
                operation}``.

        Raises:
            LabelError: Invalid label values, or a duration without an operation.
            CardinalityLimitError: Too many distinct label sets.
        """
        f = self._f
        key = (table,)
        if size_bytes is not None:
            f.delta_size.child(key).set(size_bytes)
        if versions is not None:
            f.delta_versions.child(key).set(versions)
        if files is not None:
            f.delta_files.child(key).set(files)
        if write_duration_seconds is not None:
            if operation is None:
                raise LabelError(
                    f"record_delta_table_metrics({table!r}): write_duration_seconds needs "
                    "operation= (e.g. 'append', 'merge') for delta_write_duration_seconds."
                )
            f.delta_write_duration.child((table, operation)).observe(write_duration_seconds)

    def record_schema_drift(self, table: str, kind: str, count: int = 1) -> None:
        """Add ``count`` to ``etl_schema_drift_detected_total{table, kind}``.

        Args:
            table: Table name.
            kind: Kind of drift, as schema-registry's ``DriftKind`` names it:
                ``missing_column``, ``extra_column``, ``type_mismatch``,
                ``nullability_change`` or ``order_change``.
            count: Number of drifts of that kind detected (0 or more).

        Raises:
            LabelError: Invalid label values.
            CardinalityLimitError: Too many distinct label sets.
            ValueError: ``count`` is negative.
        """
        self._f.schema_drift.child((table, kind)).inc(count)

    def record_error(self, job: str, stage: str, error: BaseException | str) -> None:
        """Increment ``etl_errors_total{job, stage, error_type}``.

        Args:
            job: Job name.
            stage: Stage where the error happened.
            error: The exception (its class name becomes ``error_type``) or an error type name.

        Raises:
            LabelError: Invalid label values.
            CardinalityLimitError: Too many distinct label sets.
        """
        error_type = error if isinstance(error, str) else type(error).__name__
        self._f.errors.child((job, stage, error_type)).inc()

    def resource_sampler(self, job: str, *, interval_seconds: float = 5.0) -> ResourceSampler:
        """Return a background sampler of this process' memory and CPU for ``job``.

        Args:
            job: Job name (label of ``etl_memory_usage_bytes`` / ``etl_cpu_usage_percent``).
            interval_seconds: Time between samples.

        Returns:
            A :class:`ResourceSampler`; call ``start()``/``stop()`` or use it in ``with``.

        Raises:
            LabelError: Invalid job label.
            CardinalityLimitError: Too many distinct label sets.
            ValueError: ``interval_seconds`` is not positive.
        """
        from etl_metrics._resources import ResourceSampler

        return ResourceSampler(
            memory=self._f.memory.child((job,)),
            cpu=self._f.cpu.child((job,)),
            interval_seconds=interval_seconds,
        )


#: The instance behind the module-level helpers; records into :data:`DEFAULT_REGISTRY`.
DEFAULT_METRICS = EtlMetrics(DEFAULT_REGISTRY)
