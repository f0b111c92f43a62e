"""pytest plugin (entry point ``pipeline_testkit``): Spark fixtures and the ``compare`` fixture."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from pipeline_testkit._bench import BenchScale, Comparison, bench_scale, run_comparison

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

_COMPARISONS: list[Comparison] = []
_ENFORCE_ENV = "BENCH_ENFORCE"


@pytest.fixture(scope="session")
def spark(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SparkSession]:
    """One local SparkSession with Delta Lake for the whole test process.

    Needs ``pipeline-testkit[spark]``; without it the fixture errors with
    ``SparkExtraMissingError`` saying what to declare.
    """
    from pipeline_testkit._spark import local_spark_session

    session = local_spark_session(warehouse_dir=tmp_path_factory.mktemp("spark"))
    yield session
    session.stop()


@pytest.fixture
def table_path(tmp_path: Path) -> str:
    """A fresh, not yet existing path for a Delta table."""
    return str(tmp_path / "table")


CompareFn = Callable[..., Comparison]


@pytest.fixture
def compare(benchmark: Any) -> CompareFn:
    """Measure a candidate against a baseline in the same run and record the ratio.

    Call it as ``compare(name, candidate, baseline, setup=None, rounds=3, target=1.1,
    warmup=1)``. ``warmup`` untimed rounds of the pair run first (JIT compilation and
    first-use caches otherwise land in whichever side runs first). The timed pair runs under
    pytest-benchmark (so JSON output holds the pair's timings) and the medians and ratio land
    in ``extra_info`` and in the terminal summary. At ``BENCH_SCALE=full`` a missed target
    fails the benchmark unless ``BENCH_ENFORCE=0``.
    """

    def _compare(
        name: str,
        candidate: Callable[[], object],
        baseline: Callable[[], object],
        *,
        setup: Callable[[], object] | None = None,
        rounds: int = 3,
        target: float | None = None,
        warmup: int = 1,
    ) -> Comparison:
        for index in range(warmup):
            run_comparison(
                Comparison(name=name, target=None), candidate, baseline, setup, round_index=index
            )
        comparison = Comparison(name=name, target=target)
        counter = iter(range(10**9))

        def one_round() -> None:
            run_comparison(comparison, candidate, baseline, setup, round_index=next(counter))

        benchmark.pedantic(one_round, rounds=rounds, iterations=1, warmup_rounds=0)
        benchmark.extra_info.update(comparison.as_dict())
        _COMPARISONS.append(comparison)
        enforce = os.environ.get(_ENFORCE_ENV, "1") != "0"
        if enforce and bench_scale() is BenchScale.FULL and comparison.meets_target is False:
            pytest.fail(
                f"{name}: ratio {comparison.ratio:.3f} exceeds target {target} "
                f"(candidate {comparison.candidate_median:.4f}s vs baseline "
                f"{comparison.baseline_median:.4f}s)"
            )
        return comparison

    return _compare


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Print every comparison's ratio, and save them next to pytest-benchmark's JSON."""
    if not _COMPARISONS:
        return
    terminalreporter.section(f"baseline comparisons (BENCH_SCALE={bench_scale().value})")
    for c in _COMPARISONS:
        verdict = {None: "", True: "meets target", False: "OVER TARGET"}[c.meets_target]
        terminalreporter.write_line(
            f"{c.name}: ratio {c.ratio:.3f} (candidate {c.candidate_median:.4f}s, baseline "
            f"{c.baseline_median:.4f}s, target {c.target}) {verdict}"
        )
    out = os.environ.get("BENCH_RATIOS_JSON")
    if out:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        Path(out).write_text(json.dumps([c.as_dict() for c in _COMPARISONS], indent=2))
