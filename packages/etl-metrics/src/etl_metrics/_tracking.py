"""Timers usable as a decorator (sync or async functions) and as a context manager."""

from __future__ import annotations

import functools
import inspect
import time
from collections.abc import Callable
from types import TracebackType
from typing import TYPE_CHECKING, Any, ParamSpec, Self, TypeVar, cast

if TYPE_CHECKING:
    from prometheus_client import Counter, Gauge, Histogram

    from etl_metrics._family import Family

P = ParamSpec("P")
R = TypeVar("R")

_perf_counter = time.perf_counter


class _Tracker:
    """Shared decorator / context-manager plumbing; subclasses say what success and failure mean.

    One instance may decorate any number of functions and is safe across threads when used as a
    decorator (timings live in the wrapper's locals). Used as a context manager, an instance keeps
    a stack of start times, so nest or reuse it within one thread only; create one per ``with``
    (which is what ``track_*(...)`` calls do) for concurrent use.
    """

    _what = "tracker"

    def __init__(self) -> None:
        self._starts: list[float] = []

    def _succeeded(self, elapsed: float) -> None:
        raise NotImplementedError

    def _failed(self, elapsed: float, error: BaseException) -> None:
        raise NotImplementedError

    def _succeeded_fast(self) -> Callable[[float], None]:
        """The success recorder the decorator calls; subclasses may pre-bind for speed."""
        return self._succeeded

    def __enter__(self) -> Self:
        self._starts.append(_perf_counter())
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        elapsed = _perf_counter() - self._starts.pop()
        if exc is None:
            self._succeeded(elapsed)
        else:
            self._failed(elapsed, exc)

    async def __aenter__(self) -> Self:
        return self.__enter__()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.__exit__(exc_type, exc, tb)

    def __call__(self, func: Callable[P, R]) -> Callable[P, R]:
        """Wrap ``func`` so that every call is tracked; exceptions are recorded and re-raised.

        Raises:
            TypeError: ``func`` is a generator function, whose body runs after the call returns.
        """
        if inspect.isgeneratorfunction(func) or inspect.isasyncgenfunction(func):
            raise TypeError(
                f"{self._what} cannot decorate generator function {func.__qualname__}: its body "
                f"runs while the caller iterates, after the call has returned. Use "
                f"'with {self._what}(...):' inside the generator instead."
            )
        succeeded = self._succeeded_fast()
        failed = self._failed
        if inspect.iscoroutinefunction(func):
            coro_func = cast("Callable[P, Any]", func)

            @functools.wraps(func)
            async def async_wrapper(*args: P.args, **kwargs: P.kwargs) -> Any:
                start = _perf_counter()
                try:
                    result = await coro_func(*args, **kwargs)
                except BaseException as exc:
                    failed(_perf_counter() - start, exc)
                    raise
                succeeded(_perf_counter() - start)
                return result

            return cast("Callable[P, R]", async_wrapper)

        @functools.wraps(func)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            start = _perf_counter()
            try:
                result = func(*args, **kwargs)
            except BaseException as exc:
                failed(_perf_counter() - start, exc)
                raise
            succeeded(_perf_counter() - start)
            return result

        return wrapper


class JobTracker(_Tracker):
    """Tracks whole job runs; returned by ``track_job_execution(job, env)``.

    On success: ``etl_job_executions_total{status="success"}`` +1, the duration observed in
    ``etl_job_duration_seconds{status="success"}``, ``etl_job_last_success_timestamp`` set to now.
    On failure (any exception, including ``KeyboardInterrupt``): ``status="failure"`` counted and
    timed, ``etl_errors_total{stage="job", error_type=<exception class name>}`` +1, the last-success
    gauge untouched, and the exception re-raised.
    """

    _what = "track_job_execution"

    def __init__(
        self,
        job: str,
        env: str,
        *,
        executions: Family[Counter],
        duration: Family[Histogram],
        last_success: Family[Gauge],
        errors: Family[Counter],
    ) -> None:
        super().__init__()
        self.job = job
        self.env = env
        # Both status series exist from the start so rate()/increase() see a 0 before the first
        # failure. The last-success gauge is created only on success: a 0 pushed by a failed run
        # would overwrite the previous run's timestamp in the Pushgateway.
        self._ok_count = executions.child((job, env, "success"))
        self._fail_count = executions.child((job, env, "failure"))
        self._ok_time = duration.child((job, env, "success"))
        self._fail_time = duration.child((job, env, "failure"))
        self._last_success = last_success
        self._last_success_child: Gauge | None = None
        self._errors = errors

    def _succeeded(self, elapsed: float) -> None:
        self._ok_time.observe(elapsed)
        self._ok_count.inc()
        gauge = self._last_success_child
        if gauge is None:
            gauge = self._last_success_child = self._last_success.child((self.job, self.env))
        gauge.set(time.time())

    def _succeeded_fast(self) -> Callable[[float], None]:
        # The decorator's success path runs on every call: bind the methods once, so a call
        # costs the three metric updates plus little else.
        observe = self._ok_time.observe
        inc = self._ok_count.inc
        now = time.time
        gauge_set: list[Callable[[float], None]] = []

        def succeeded(elapsed: float) -> None:
            observe(elapsed)
            inc()
            if gauge_set:
                gauge_set[0](now())
            else:
                self._succeeded_first(gauge_set, now())

        return succeeded

    def _succeeded_first(self, gauge_set: list[Callable[[float], None]], stamp: float) -> None:
        gauge = self._last_success.child((self.job, self.env))
        gauge_set.append(gauge.set)
        gauge.set(stamp)

    def _failed(self, elapsed: float, error: BaseException) -> None:
        self._fail_time.observe(elapsed)
        self._fail_count.inc()
        self._errors.child((self.job, "job", type(error).__name__)).inc()


class StageTracker(_Tracker):
    """Times one stage of a job; returned by ``track_stage_duration(job, stage, env)``.

    The duration lands in ``etl_stage_duration_seconds`` whether the stage succeeds or not, and
    exceptions pass through untouched. Errors are not counted here: call ``record_error(job,
    stage, exc)`` where you handle them, and the job tracker around the stage counts the failed
    run under ``stage="job"``, so one exception is never counted twice for the same stage.
    """

    _what = "track_stage_duration"

    def __init__(self, job: str, stage: str, env: str, *, duration: Family[Histogram]) -> None:
        super().__init__()
        self.job = job
        self.stage = stage
        self._time = duration.child((job, stage, env))

    def _succeeded(self, elapsed: float) -> None:
        self._time.observe(elapsed)

    def _failed(self, elapsed: float, error: BaseException) -> None:
        self._time.observe(elapsed)
