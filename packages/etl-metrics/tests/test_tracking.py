from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import pytest

from etl_metrics import EtlMetrics


def value(metrics: EtlMetrics, name: str, **labels: str) -> float | None:
    """One sample from the test's registry."""
    return metrics.registry.get_sample_value(name, labels)


class TestJobTrackerDecorator:
    def test_success_counts_times_and_sets_last_success(self, metrics: EtlMetrics) -> None:
        """A successful call counts success, observes the duration and stamps last success."""

        @metrics.track_job_execution("bronze", "prod")
        def job(x: int) -> int:
            time.sleep(0.01)
            return x * 2

        before = time.time()
        assert job(21) == 42
        after = time.time()
        labels = {"job": "bronze", "env": "prod"}
        assert value(metrics, "etl_job_executions_total", **labels, status="success") == 1
        assert value(metrics, "etl_job_executions_total", **labels, status="failure") == 0
        ok = {**labels, "status": "success"}
        assert value(metrics, "etl_job_duration_seconds_count", **ok) == 1
        duration = value(metrics, "etl_job_duration_seconds_sum", **ok)
        assert duration is not None
        assert 0.01 <= duration < 1.0
        assert value(metrics, "etl_job_duration_seconds_bucket", **ok, le="1.0") == 1
        stamp = value(metrics, "etl_job_last_success_timestamp", **labels)
        assert stamp is not None
        assert before <= stamp <= after

    def test_each_success_moves_the_timestamp_forward(self, metrics: EtlMetrics) -> None:
        """A second successful call re-stamps last success with a later time."""
        job = metrics.track_job_execution("j", "prod")(lambda: None)
        job()
        first = value(metrics, "etl_job_last_success_timestamp", job="j", env="prod")
        time.sleep(0.01)
        job()
        second = value(metrics, "etl_job_last_success_timestamp", job="j", env="prod")
        assert first is not None
        assert second is not None
        assert second > first
        success = {"job": "j", "env": "prod", "status": "success"}
        assert value(metrics, "etl_job_executions_total", **success) == 2

    def test_failure_counts_records_error_and_reraises(self, metrics: EtlMetrics) -> None:
        """A failing call counts failure, records the exception class, leaves last success."""

        @metrics.track_job_execution("bronze", "prod")
        def job() -> None:
            raise FileNotFoundError("input missing")

        with pytest.raises(FileNotFoundError, match="input missing"):
            job()
        labels = {"job": "bronze", "env": "prod"}
        assert value(metrics, "etl_job_executions_total", **labels, status="failure") == 1
        assert value(metrics, "etl_job_executions_total", **labels, status="success") == 0
        failed = {**labels, "status": "failure"}
        assert value(metrics, "etl_job_duration_seconds_count", **failed) == 1
        assert value(metrics, "etl_job_last_success_timestamp", **labels) is None
        error = {"job": "bronze", "stage": "job", "error_type": "FileNotFoundError"}
        assert value(metrics, "etl_errors_total", **error) == 1

    def test_failure_after_success_keeps_the_success_timestamp(self, metrics: EtlMetrics) -> None:
        """The last-success gauge keeps the earlier success's time when a later run fails."""
        tracker = metrics.track_job_execution("j", "prod")
        tracker(lambda: None)()
        stamp = value(metrics, "etl_job_last_success_timestamp", job="j", env="prod")

        @tracker
        def failing() -> None:
            raise RuntimeError

        with pytest.raises(RuntimeError):
            failing()
        assert value(metrics, "etl_job_last_success_timestamp", job="j", env="prod") == stamp

    def test_keyboard_interrupt_counts_as_failure(self, metrics: EtlMetrics) -> None:
        """An interrupted run is a failed run, recorded under KeyboardInterrupt."""

        @metrics.track_job_execution("j", "dev")
        def job() -> None:
            raise KeyboardInterrupt

        with pytest.raises(KeyboardInterrupt):
            job()
        error = {"job": "j", "stage": "job", "error_type": "KeyboardInterrupt"}
        assert value(metrics, "etl_errors_total", **error) == 1

    def test_wrapper_keeps_name_and_doc(self, metrics: EtlMetrics) -> None:
        """The decorated function keeps its name and docstring."""

        @metrics.track_job_execution("j", "dev")
        def nightly_load() -> None:
            """Load things."""

        assert nightly_load.__name__ == "nightly_load"
        assert nightly_load.__doc__ == "Load things."

    def test_generator_functions_are_refused(self, metrics: EtlMetrics) -> None:
        """Decorating a generator would time only its creation, so it is refused."""

        def rows() -> Iterator[int]:
            yield 1

        with pytest.raises(TypeError, match=r"generator function .*rows"):
            metrics.track_job_execution("j", "dev")(rows)

    def test_async_function(self, metrics: EtlMetrics) -> None:
        """Coroutine functions are awaited and tracked, success and failure."""
        tracker = metrics.track_job_execution("j", "dev")

        @tracker
        async def ok() -> str:
            await asyncio.sleep(0.01)
            return "done"

        @tracker
        async def bad() -> None:
            raise ValueError("bad")

        assert asyncio.run(ok()) == "done"
        with pytest.raises(ValueError, match="bad"):
            asyncio.run(bad())
        ok_labels = {"job": "j", "env": "dev", "status": "success"}
        duration = value(metrics, "etl_job_duration_seconds_sum", **ok_labels)
        assert duration is not None
        assert duration >= 0.01
        assert value(metrics, "etl_job_executions_total", **ok_labels) == 1
        failed = {"job": "j", "env": "dev", "status": "failure"}
        assert value(metrics, "etl_job_executions_total", **failed) == 1


class TestJobTrackerContextManager:
    def test_with_block_success(self, metrics: EtlMetrics) -> None:
        """A with block that completes counts one success."""
        with metrics.track_job_execution("j", "prod"):
            pass
        success = {"job": "j", "env": "prod", "status": "success"}
        assert value(metrics, "etl_job_executions_total", **success) == 1
        assert value(metrics, "etl_job_last_success_timestamp", job="j", env="prod") is not None

    def test_with_block_failure(self, metrics: EtlMetrics) -> None:
        """A with block that raises counts a failure and lets the exception through."""
        with pytest.raises(ZeroDivisionError), metrics.track_job_execution("j", "prod"):
            _ = 1 / 0
        failure = {"job": "j", "env": "prod", "status": "failure"}
        assert value(metrics, "etl_job_executions_total", **failure) == 1
        error = {"job": "j", "stage": "job", "error_type": "ZeroDivisionError"}
        assert value(metrics, "etl_errors_total", **error) == 1

    def test_nested_reuse_of_one_instance(self, metrics: EtlMetrics) -> None:
        """One tracker used for nested blocks times each block separately."""
        tracker = metrics.track_job_execution("j", "prod")
        with tracker:
            with tracker:
                pass
            time.sleep(0.01)
        success = {"job": "j", "env": "prod", "status": "success"}
        assert value(metrics, "etl_job_duration_seconds_count", **success) == 2
        assert value(metrics, "etl_job_duration_seconds_bucket", **success, le="1.0") == 2

    def test_async_with(self, metrics: EtlMetrics) -> None:
        """``async with`` works like ``with``."""

        async def run() -> None:
            async with metrics.track_job_execution("j", "prod"):
                await asyncio.sleep(0)

        asyncio.run(run())
        success = {"job": "j", "env": "prod", "status": "success"}
        assert value(metrics, "etl_job_executions_total", **success) == 1


class TestStageTracker:
    def test_stage_success(self, metrics: EtlMetrics) -> None:
        """A stage's duration is observed under job, stage and env."""
        with metrics.track_stage_duration("j", "extract", "prod"):
            time.sleep(0.01)
        labels = {"job": "j", "stage": "extract", "env": "prod"}
        assert value(metrics, "etl_stage_duration_seconds_count", **labels) == 1
        duration = value(metrics, "etl_stage_duration_seconds_sum", **labels)
        assert duration is not None
        assert duration >= 0.01
        assert value(metrics, "etl_stage_duration_seconds_bucket", **labels, le="0.1") == 1

    def test_stage_failure_inside_job(self, metrics: EtlMetrics) -> None:
        """A failing stage is timed and re-raised; only the job tracker counts the error."""

        @metrics.track_job_execution("j", "prod")
        def job() -> None:
            with metrics.track_stage_duration("j", "load", "prod"):
                raise PermissionError("no write access")

        with pytest.raises(PermissionError, match="no write access"):
            job()
        stage = {"job": "j", "stage": "load", "env": "prod"}
        assert value(metrics, "etl_stage_duration_seconds_count", **stage) == 1
        error = {"job": "j", "error_type": "PermissionError"}
        assert value(metrics, "etl_errors_total", **error, stage="load") is None
        assert value(metrics, "etl_errors_total", **error, stage="job") == 1

    def test_stage_error_recorded_once_by_the_caller(self, metrics: EtlMetrics) -> None:
        """The documented pattern (record_error inside the stage) counts the stage error once."""

        def write_sink() -> None:
            raise TimeoutError("slow sink")

        @metrics.track_job_execution("j", "prod")
        def job() -> None:
            with metrics.track_stage_duration("j", "load", "prod"):
                try:
                    write_sink()
                except TimeoutError as exc:
                    metrics.record_error("j", "load", exc)
                    raise

        with pytest.raises(TimeoutError):
            job()
        error = {"job": "j", "error_type": "TimeoutError"}
        assert value(metrics, "etl_errors_total", **error, stage="load") == 1
        assert value(metrics, "etl_errors_total", **error, stage="job") == 1

    def test_stage_as_decorator(self, metrics: EtlMetrics) -> None:
        """The stage tracker also decorates functions."""

        @metrics.track_stage_duration("j", "transform", "dev")
        def transform(rows: list[int]) -> list[int]:
            return [r + 1 for r in rows]

        assert transform([1, 2]) == [2, 3]
        labels = {"job": "j", "stage": "transform", "env": "dev"}
        assert value(metrics, "etl_stage_duration_seconds_count", **labels) == 1
