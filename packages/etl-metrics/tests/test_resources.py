from __future__ import annotations

import threading
import time

import pytest

import etl_metrics
from etl_metrics import EtlMetrics


def gauge(metrics: EtlMetrics, name: str, job: str) -> float | None:
    """One resource gauge from the test's registry."""
    return metrics.registry.get_sample_value(name, {"job": job})


def sampler_threads() -> list[threading.Thread]:
    """Sampler threads alive right now."""
    return [t for t in threading.enumerate() if t.name == "etl-metrics-resource-sampler"]


class TestResourceSampler:
    def test_start_stop_sets_gauges_and_ends_thread(self, metrics: EtlMetrics) -> None:
        """Sampling sets RSS and CPU gauges, repeats on the interval and stops its thread."""
        sampler = metrics.resource_sampler("j", interval_seconds=0.01)
        sampler.start()
        assert sampler.running
        deadline = time.monotonic() + 5
        while sampler.samples_taken < 4 and time.monotonic() < deadline:
            sum(range(20_000))  # burn a little CPU so the percentage can move
        sampler.stop()
        assert not sampler.running
        assert sampler_threads() == []
        # start + >= 3 interval samples + the final one at stop
        assert sampler.samples_taken >= 5
        memory = gauge(metrics, "etl_memory_usage_bytes", "j")
        cpu = gauge(metrics, "etl_cpu_usage_percent", "j")
        assert memory is not None
        assert memory > 1_000_000  # a Python process has at least a few MB resident
        assert cpu is not None
        assert cpu >= 0

    def test_context_manager_and_short_job(self, metrics: EtlMetrics) -> None:
        """A job shorter than the interval still gets a sample at start and at stop."""
        with metrics.resource_sampler("short", interval_seconds=60) as sampler:
            assert sampler.running
        assert not sampler.running
        assert sampler.samples_taken == 2
        memory = gauge(metrics, "etl_memory_usage_bytes", "short")
        assert memory is not None
        assert memory > 0

    def test_stop_is_idempotent_and_restart_works(self, metrics: EtlMetrics) -> None:
        """stop() twice is harmless; a stopped sampler can start again."""
        sampler = metrics.resource_sampler("j", interval_seconds=60)
        sampler.stop()
        assert sampler.samples_taken == 0
        sampler.start()
        sampler.stop()
        sampler.stop()
        sampler.start()
        sampler.stop()
        assert sampler.samples_taken == 4

    def test_double_start_is_refused(self, metrics: EtlMetrics) -> None:
        """Starting a running sampler raises instead of leaking a second thread."""
        sampler = metrics.resource_sampler("j", interval_seconds=60).start()
        try:
            with pytest.raises(RuntimeError, match="already running"):
                sampler.start()
        finally:
            sampler.stop()

    def test_interval_must_be_positive(self, metrics: EtlMetrics) -> None:
        """A zero interval is refused."""
        with pytest.raises(ValueError, match="interval_seconds must be > 0"):
            metrics.resource_sampler("j", interval_seconds=0)

    def test_module_level_sampler_uses_default_registry(self) -> None:
        """etl_metrics.resource_sampler records into the library's registry."""
        with etl_metrics.resource_sampler("default-sampler", interval_seconds=60):
            pass
        got = etl_metrics.DEFAULT_REGISTRY.get_sample_value(
            "etl_memory_usage_bytes", {"job": "default-sampler"}
        )
        assert got is not None
        assert got > 0
