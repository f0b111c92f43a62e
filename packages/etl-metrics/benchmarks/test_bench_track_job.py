"""Per-call cost of ``@track_job_execution`` against hand-written decorators and a bare call.

The tracked function does nothing, so the figures are the decorator's own overhead. Our
decorator records more than the hand-written ones (it also stamps the last-success gauge).
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from etl_metrics import JOB_DURATION_BUCKETS, EtlMetrics
from pipeline_testkit import scaled

N = scaled(full=200_000, tiny=2_000)
TARGET = 1.5


def noop(x: int) -> int:
    """The tracked work: nothing, so only the overhead is measured."""
    return x


def raw_metrics() -> tuple[Histogram, Counter]:
    """The two metrics a minimal hand-written decorator records into."""
    registry = CollectorRegistry()
    duration = Histogram(
        "etl_job_duration_seconds",
        "",
        ("job", "env"),
        registry=registry,
        buckets=JOB_DURATION_BUCKETS,
    )
    executions = Counter(
        "etl_job_executions_total", "", ("job", "env", "status"), registry=registry
    )
    return duration, executions


def plain_decorator(job: str, env: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """The usual hand-written decorator: labels() per call, one observe and one increment."""
    duration, executions = raw_metrics()

    def wrap(func: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            result = func(*args, **kwargs)
            duration.labels(job, env).observe(time.perf_counter() - start)
            executions.labels(job, env, "success").inc()
            return result

        return wrapper

    return wrap


def prebound_decorator(
    job: str, env: str, *, stamp_last_success: bool
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """The leanest hand-written decorator: children bound once, one observe, one increment.

    With ``stamp_last_success`` it also sets the last-success gauge, as track_job_execution does.
    """
    duration, executions = raw_metrics()
    observe = duration.labels(job, env).observe
    inc = executions.labels(job, env, "success").inc
    last_success = Gauge(
        "etl_job_last_success_timestamp", "", ("job", "env"), registry=CollectorRegistry()
    )
    stamp = last_success.labels(job, env).set
    now = time.time

    def wrap(func: Callable[..., Any]) -> Callable[..., Any]:
        if not stamp_last_success:

            @functools.wraps(func)
            def minimal(*args: Any, **kwargs: Any) -> Any:
                start = time.perf_counter()
                result = func(*args, **kwargs)
                observe(time.perf_counter() - start)
                inc()
                return result

            return minimal

        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            result = func(*args, **kwargs)
            observe(time.perf_counter() - start)
            inc()
            stamp(now())
            return result

        return wrapper

    return wrap


def loop(func: Callable[[int], int]) -> Callable[[], None]:
    """N calls of func."""

    def run() -> None:
        for i in range(N):
            func(i)

    return run


def tracked() -> Callable[[int], int]:
    """Noop decorated with track_job_execution on a fresh registry."""
    return EtlMetrics(CollectorRegistry()).track_job_execution("nightly", "prod")(noop)


def report(benchmark: Any, name: str, result: Any) -> float:
    """Store and print the absolute added microseconds per call."""
    added_us = (result.candidate_median - result.baseline_median) / N * 1e6
    benchmark.extra_info.update(
        {
            "calls": N,
            "candidate_us_per_call": round(result.candidate_median / N * 1e6, 3),
            "baseline_us_per_call": round(result.baseline_median / N * 1e6, 3),
            "added_us_per_call": round(added_us, 3),
        }
    )
    print(f"\n{name}: adds {added_us:.3f} us/call (ratio {result.ratio:.3f})")
    return added_us


def test_bench_decorator_vs_plain_decorator(compare: Callable[..., Any], benchmark: Any) -> None:
    """track_job_execution costs at most 1.5x a plain labels()-per-call decorator."""
    candidate, baseline = loop(tracked()), loop(plain_decorator("nightly", "prod")(noop))
    result = compare(
        f"track_job_execution vs plain decorator (x{N})",
        candidate,
        baseline,
        rounds=5,
        target=TARGET,
    )
    report(benchmark, "decorator vs plain decorator", result)


def test_bench_decorator_vs_prebound_same_work(compare: Callable[..., Any], benchmark: Any) -> None:
    """track_job_execution costs at most 1.5x a pre-bound decorator doing the same updates."""
    baseline = prebound_decorator("nightly", "prod", stamp_last_success=True)(noop)
    result = compare(
        f"track_job_execution vs pre-bound decorator, same work (x{N})",
        loop(tracked()),
        loop(baseline),
        rounds=5,
        target=TARGET,
    )
    report(benchmark, "decorator vs pre-bound decorator (same work)", result)


def test_bench_decorator_vs_prebound_minimal(compare: Callable[..., Any], benchmark: Any) -> None:
    """Reported only: against the leanest decorator (observe + increment, no stamp)."""
    baseline = prebound_decorator("nightly", "prod", stamp_last_success=False)(noop)
    result = compare(
        f"track_job_execution vs pre-bound minimal decorator (x{N})",
        loop(tracked()),
        loop(baseline),
        rounds=5,
        target=None,
    )
    report(benchmark, "decorator vs pre-bound minimal decorator", result)


def test_bench_decorator_vs_bare_call(compare: Callable[..., Any], benchmark: Any) -> None:
    """Absolute overhead of the decorator over a bare call (reported, no ratio target)."""
    result = compare(
        f"track_job_execution vs bare call (x{N})",
        loop(tracked()),
        loop(noop),
        rounds=5,
        target=None,
    )
    added = report(benchmark, "decorator vs bare call", result)
    assert added > 0
