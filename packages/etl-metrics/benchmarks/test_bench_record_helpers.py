"""Per-call cost of each ``record_*`` helper against the raw prometheus_client call it wraps.

Each side loops N calls on an already-seen label set (the steady state of a job), so the
ratio is per call. Target: helper <= 1.5x raw.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from etl_metrics import (
    DELTA_WRITE_DURATION_BUCKETS,
    STAGE_DURATION_BUCKETS,
    EtlMetrics,
)
from pipeline_testkit import scaled

N = scaled(full=200_000, tiny=2_000)
TARGET = 1.5


@dataclass
class Pair:
    """A helper loop and the raw loop doing the same recording."""

    candidate: Callable[[], None]
    baseline: Callable[[], None]


def _raw_registry() -> CollectorRegistry:
    return CollectorRegistry()


def records_processed() -> Pair:
    """record_records_processed vs Counter.labels(a, b, c).inc(n)."""
    helper = EtlMetrics(CollectorRegistry()).record_records_processed
    raw = Counter(
        "etl_records_processed_total", "", ("job", "stage", "table"), registry=_raw_registry()
    )

    def candidate() -> None:
        for _ in range(N):
            helper("nightly", "silver", "orders", 10)

    def baseline() -> None:
        for _ in range(N):
            raw.labels("nightly", "silver", "orders").inc(10)

    return Pair(candidate, baseline)


def records_failed() -> Pair:
    """record_records_failed vs Counter.labels(a, b, c).inc(n)."""
    helper = EtlMetrics(CollectorRegistry()).record_records_failed
    raw = Counter(
        "etl_records_failed_total", "", ("job", "stage", "table"), registry=_raw_registry()
    )

    def candidate() -> None:
        for _ in range(N):
            helper("nightly", "silver", "orders", 1)

    def baseline() -> None:
        for _ in range(N):
            raw.labels("nightly", "silver", "orders").inc(1)

    return Pair(candidate, baseline)


def dq_check() -> Pair:
    """record_dq_check(passed=True) vs Counter.labels(a, b, c, d).inc()."""
    helper = EtlMetrics(CollectorRegistry()).record_dq_check
    raw = Counter(
        "etl_dq_checks_total", "", ("job", "table", "check", "result"), registry=_raw_registry()
    )

    def candidate() -> None:
        for _ in range(N):
            helper("nightly", "orders", "not_null_id", passed=True)

    def baseline() -> None:
        for _ in range(N):
            raw.labels("nightly", "orders", "not_null_id", "pass").inc()

    return Pair(candidate, baseline)


def dq_check_with_violations() -> Pair:
    """record_dq_check(passed=False, violations=3) vs two raw counter increments."""
    helper = EtlMetrics(CollectorRegistry()).record_dq_check
    registry = _raw_registry()
    checks = Counter(
        "etl_dq_checks_total", "", ("job", "table", "check", "result"), registry=registry
    )
    violations = Counter(
        "etl_dq_violations_total", "", ("job", "table", "check", "severity"), registry=registry
    )

    def candidate() -> None:
        for _ in range(N):
            helper("nightly", "orders", "amount_positive", passed=False, violations=3)

    def baseline() -> None:
        for _ in range(N):
            checks.labels("nightly", "orders", "amount_positive", "fail").inc()
            violations.labels("nightly", "orders", "amount_positive", "error").inc(3)

    return Pair(candidate, baseline)


def dq_anomaly() -> Pair:
    """record_dq_anomaly (2 counters + 3 gauges) vs the 5 raw calls."""
    helper = EtlMetrics(CollectorRegistry()).record_dq_anomaly
    registry = _raw_registry()
    labels = ("job", "table", "check")
    checks = Counter("etl_dq_anomaly_checks_total", "", (*labels, "status"), registry=registry)
    anomalies = Counter("etl_dq_anomalies_total", "", (*labels, "severity"), registry=registry)
    value = Gauge("etl_dq_anomaly_value", "", labels, registry=registry)
    lower = Gauge("etl_dq_anomaly_lower_bound", "", labels, registry=registry)
    upper = Gauge("etl_dq_anomaly_upper_bound", "", labels, registry=registry)

    def candidate() -> None:
        for _ in range(N):
            helper(
                "nightly",
                "orders",
                "row_count",
                status="anomaly",
                severity="warn",
                value=50.0,
                lower=900.0,
                upper=1100.0,
            )

    def baseline() -> None:
        for _ in range(N):
            checks.labels("nightly", "orders", "row_count", "anomaly").inc()
            anomalies.labels("nightly", "orders", "row_count", "warn").inc(1)
            value.labels("nightly", "orders", "row_count").set(50.0)
            lower.labels("nightly", "orders", "row_count").set(900.0)
            upper.labels("nightly", "orders", "row_count").set(1100.0)

    return Pair(candidate, baseline)


def schema_drift() -> Pair:
    """record_schema_drift vs Counter.labels(a, b).inc()."""
    helper = EtlMetrics(CollectorRegistry()).record_schema_drift
    raw = Counter(
        "etl_schema_drift_detected_total", "", ("table", "kind"), registry=_raw_registry()
    )

    def candidate() -> None:
        for _ in range(N):
            helper("orders", "extra_column")

    def baseline() -> None:
        for _ in range(N):
            raw.labels("orders", "extra_column").inc()

    return Pair(candidate, baseline)


def error() -> Pair:
    """record_error(exception) vs Counter.labels(a, b, type(e).__name__).inc()."""
    helper = EtlMetrics(CollectorRegistry()).record_error
    raw = Counter("etl_errors_total", "", ("job", "stage", "error_type"), registry=_raw_registry())
    exc = ValueError("bad")

    def candidate() -> None:
        for _ in range(N):
            helper("nightly", "silver", exc)

    def baseline() -> None:
        for _ in range(N):
            raw.labels("nightly", "silver", type(exc).__name__).inc()

    return Pair(candidate, baseline)


def delta_table() -> Pair:
    """record_delta_table_metrics (3 gauges + write duration) vs the 4 raw calls."""
    helper = EtlMetrics(CollectorRegistry()).record_delta_table_metrics
    registry = _raw_registry()
    size = Gauge("delta_table_size_bytes", "", ("table",), registry=registry)
    versions = Gauge("delta_table_versions", "", ("table",), registry=registry)
    files = Gauge("delta_table_files", "", ("table",), registry=registry)
    write = Histogram(
        "delta_write_duration_seconds",
        "",
        ("table", "operation"),
        registry=registry,
        buckets=DELTA_WRITE_DURATION_BUCKETS,
    )

    def candidate() -> None:
        for _ in range(N):
            helper(
                "silver.orders",
                size_bytes=1e9,
                versions=12,
                files=40,
                operation="merge",
                write_duration_seconds=4.2,
            )

    def baseline() -> None:
        for _ in range(N):
            size.labels("silver.orders").set(1e9)
            versions.labels("silver.orders").set(12)
            files.labels("silver.orders").set(40)
            write.labels("silver.orders", "merge").observe(4.2)

    return Pair(candidate, baseline)


def stage_duration() -> Pair:
    """``with track_stage_duration(...)`` vs ``with Histogram.labels(...).time()``."""
    tracker = EtlMetrics(CollectorRegistry()).track_stage_duration
    raw = Histogram(
        "etl_stage_duration_seconds",
        "",
        ("job", "stage", "env"),
        registry=_raw_registry(),
        buckets=STAGE_DURATION_BUCKETS,
    )

    def candidate() -> None:
        for _ in range(N):
            with tracker("nightly", "silver", "prod"):
                pass

    def baseline() -> None:
        for _ in range(N):
            with raw.labels("nightly", "silver", "prod").time():
                pass

    return Pair(candidate, baseline)


CASES: dict[str, Callable[[], Pair]] = {
    "record_records_processed": records_processed,
    "record_records_failed": records_failed,
    "record_dq_check": dq_check,
    "record_dq_check_violations": dq_check_with_violations,
    "record_dq_anomaly": dq_anomaly,
    "record_schema_drift": schema_drift,
    "record_error": error,
    "record_delta_table_metrics": delta_table,
    "track_stage_duration_with": stage_duration,
}


@pytest.mark.parametrize("case", list(CASES))
def test_bench_helper_vs_raw(compare: Callable[..., object], benchmark: object, case: str) -> None:
    """Each helper costs at most 1.5x the raw prometheus_client call per call."""
    pair = CASES[case]()
    pair.candidate()  # warm-up: first sight of the label set happens outside the timing
    pair.baseline()
    result = compare(
        f"{case} vs raw (x{N})", pair.candidate, pair.baseline, rounds=5, target=TARGET
    )
    candidate_us = result.candidate_median / N * 1e6  # type: ignore[attr-defined]
    baseline_us = result.baseline_median / N * 1e6  # type: ignore[attr-defined]
    benchmark.extra_info.update(  # type: ignore[attr-defined]
        {
            "calls": N,
            "candidate_us_per_call": round(candidate_us, 3),
            "baseline_us_per_call": round(baseline_us, 3),
        }
    )
    print(f"\n{case}: {candidate_us:.3f} us/call vs raw {baseline_us:.3f} us/call")
