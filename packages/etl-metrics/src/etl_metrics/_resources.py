"""Background sampling of the current process' memory (RSS) and CPU use into gauges."""

from __future__ import annotations

import threading
from types import TracebackType
from typing import TYPE_CHECKING, Self

import psutil

if TYPE_CHECKING:
    from prometheus_client import Gauge


class ResourceSampler:
    """Samples this process' RSS and CPU percent on a daemon thread until stopped.

    Get one from ``resource_sampler(job)`` (or :meth:`EtlMetrics.resource_sampler`). It takes a
    sample when started, every ``interval_seconds`` after that, and a last one when stopped, so
    even a job shorter than the interval reports its figures. Use ``start()`` / ``stop()`` or
    ``with``; ``stop()`` waits for the thread to end.

    CPU percent is of one core (it can exceed 100 on several cores) and measured since the
    previous sample, as ``psutil.Process.cpu_percent(interval=None)`` does.
    """

    def __init__(self, *, memory: Gauge, cpu: Gauge, interval_seconds: float) -> None:
        if interval_seconds <= 0:
            raise ValueError(
                f"ResourceSampler interval_seconds must be > 0, got {interval_seconds}."
            )
        self.interval_seconds = interval_seconds
        self._memory = memory
        self._cpu = cpu
        self._process = psutil.Process()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.samples_taken = 0

    @property
    def running(self) -> bool:
        """Whether the sampling thread is alive."""
        return self._thread is not None and self._thread.is_alive()

    def sample_once(self) -> None:
        """Take one sample now and set both gauges."""
        with self._process.oneshot():
            rss = self._process.memory_info().rss
            cpu = self._process.cpu_percent(interval=None)
        self._memory.set(rss)
        self._cpu.set(cpu)
        self.samples_taken += 1

    def start(self) -> Self:
        """Start sampling in a daemon thread (a sample is taken immediately).

        Returns:
            The sampler, for chaining.

        Raises:
            RuntimeError: The sampler is already running.
        """
        if self.running:
            raise RuntimeError("ResourceSampler is already running; call stop() first.")
        self._stop.clear()
        # The first cpu_percent call only sets psutil's reference point (it returns 0.0).
        self._process.cpu_percent(interval=None)
        self.sample_once()
        self._thread = threading.Thread(
            target=self._run, name="etl-metrics-resource-sampler", daemon=True
        )
        self._thread.start()
        return self

    def stop(self, timeout: float | None = 5.0) -> None:
        """Stop the thread, wait for it, and take a final sample. Idempotent.

        Args:
            timeout: Longest wait for the thread to end, in seconds.
        """
        thread = self._thread
        if thread is None:
            return
        self._stop.set()
        thread.join(timeout)
        self._thread = None
        self.sample_once()

    def _run(self) -> None:
        while not self._stop.wait(self.interval_seconds):
            self.sample_once()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
