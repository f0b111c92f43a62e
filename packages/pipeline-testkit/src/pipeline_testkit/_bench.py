"""Benchmark helpers: a data-size setting and a same-run comparison against a baseline."""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

#: Environment variable choosing benchmark data sizes.
SCALE_ENV = "BENCH_SCALE"


class BenchScale(StrEnum):
    """How big benchmark data is: ``full`` measures, ``tiny`` only proves the code still runs."""

    TINY = "tiny"
    FULL = "full"


def bench_scale() -> BenchScale:
    """Return the scale chosen by ``BENCH_SCALE`` (default ``full``).

    Raises:
        ValueError: ``BENCH_SCALE`` holds something other than ``tiny`` or ``full``.
    """
    raw = os.environ.get(SCALE_ENV, BenchScale.FULL.value).strip().lower()
    try:
        return BenchScale(raw)
    except ValueError:
        raise ValueError(f"{SCALE_ENV}={raw!r} is not one of: tiny, full") from None


def scaled(full: int, tiny: int) -> int:
    """Pick a data size for the current scale.

    Args:
        full: Size used for real measurements.
        tiny: Size used when CI only checks that benchmarks still run.

    Returns:
        ``full`` or ``tiny``.
    """
    return full if bench_scale() is BenchScale.FULL else tiny


@dataclass
class Comparison:
    """Timings of a candidate and its baseline measured alternately in the same run."""

    name: str
    target: float | None
    candidate_s: list[float] = field(default_factory=list)
    baseline_s: list[float] = field(default_factory=list)

    @property
    def candidate_median(self) -> float:
        """Median candidate time in seconds."""
        return statistics.median(self.candidate_s)

    @property
    def baseline_median(self) -> float:
        """Median baseline time in seconds."""
        return statistics.median(self.baseline_s)

    @property
    def ratio(self) -> float:
        """Candidate median divided by baseline median (below 1.0: candidate is faster)."""
        return self.candidate_median / self.baseline_median

    @property
    def meets_target(self) -> bool | None:
        """Whether the ratio is within target, or None when there is no target."""
        return None if self.target is None else self.ratio <= self.target

    def as_dict(self) -> dict[str, Any]:
        """Figures for the pytest-benchmark JSON ``extra_info`` and the terminal summary."""
        return {
            "comparison": self.name,
            "scale": bench_scale().value,
            "candidate_median_s": round(self.candidate_median, 6),
            "baseline_median_s": round(self.baseline_median, 6),
            "ratio": round(self.ratio, 4),
            "target": self.target,
            "meets_target": self.meets_target,
            "rounds": len(self.candidate_s),
        }


def run_comparison(
    comparison: Comparison,
    candidate: Callable[[], object],
    baseline: Callable[[], object],
    setup: Callable[[], object] | None = None,
    *,
    round_index: int,
) -> None:
    """Time one round of baseline and candidate, alternating which goes first.

    Args:
        comparison: Where the timings are appended.
        candidate: The code under test.
        baseline: The reference doing the same work.
        setup: Untimed preparation run before each of the two calls (e.g. a fresh target table).
        round_index: Round number; odd rounds run the candidate first to cancel warm-up drift.
    """
    order = [("baseline", baseline), ("candidate", candidate)]
    if round_index % 2:
        order.reverse()
    for label, fn in order:
        if setup is not None:
            setup()
        start = time.perf_counter()
        fn()
        elapsed = time.perf_counter() - start
        (comparison.candidate_s if label == "candidate" else comparison.baseline_s).append(elapsed)
