"""Benchmark scale setting and the same-run comparison arithmetic."""

from __future__ import annotations

import pytest

from pipeline_testkit import BenchScale, Comparison, bench_scale, scaled
from pipeline_testkit._bench import run_comparison


class TestScale:
    def test_default_is_full(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Without BENCH_SCALE, benchmarks run at full size."""
        monkeypatch.delenv("BENCH_SCALE", raising=False)
        assert bench_scale() is BenchScale.FULL
        assert scaled(full=1_000_000, tiny=10) == 1_000_000

    def test_tiny(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """BENCH_SCALE=tiny picks the tiny size."""
        monkeypatch.setenv("BENCH_SCALE", "Tiny")
        assert scaled(full=1_000_000, tiny=10) == 10

    def test_unknown_scale_is_an_error(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """A typo in BENCH_SCALE is reported, not silently treated as full."""
        monkeypatch.setenv("BENCH_SCALE", "huge")
        with pytest.raises(ValueError, match="BENCH_SCALE='huge'"):
            bench_scale()


class TestComparison:
    def test_ratio_uses_medians(self) -> None:
        """The ratio is median(candidate) / median(baseline), robust to one slow round."""
        c = Comparison("x", target=1.1, candidate_s=[1.0, 1.2, 9.0], baseline_s=[1.0, 1.0, 1.0])
        assert c.ratio == pytest.approx(1.2)
        assert c.meets_target is False
        assert c.as_dict()["ratio"] == 1.2

    def test_no_target(self) -> None:
        """Without a target there is no verdict."""
        assert Comparison("x", None, [1.0], [2.0]).meets_target is None

    def test_rounds_alternate_and_setup_runs_before_each_call(self) -> None:
        """Each round runs setup before both calls and alternates which call goes first."""
        calls: list[str] = []
        c = Comparison("x", None)
        for i in range(2):
            run_comparison(
                c,
                lambda: calls.append("cand"),
                lambda: calls.append("base"),
                lambda: calls.append("setup"),
                round_index=i,
            )
        assert calls == ["setup", "base", "setup", "cand", "setup", "cand", "setup", "base"]
        assert len(c.candidate_s) == len(c.baseline_s) == 2


class TestCompareFixture:
    def test_compare_records_ratio(self, compare, benchmark) -> None:  # type: ignore[no-untyped-def]
        """The compare fixture stores medians and ratio in pytest-benchmark's extra_info."""
        result = compare("noop vs noop", lambda: None, lambda: None, rounds=2)
        assert benchmark.extra_info["comparison"] == "noop vs noop"
        assert benchmark.extra_info["rounds"] == 2
        assert len(result.candidate_s) == 2

    def test_warmup_rounds_run_but_are_not_timed(self, compare) -> None:  # type: ignore[no-untyped-def]
        """Warm-up pairs call both sides (with setup) before timing; only timed rounds count."""
        calls: list[str] = []
        result = compare(
            "warm",
            lambda: calls.append("cand"),
            lambda: calls.append("base"),
            setup=lambda: calls.append("setup"),
            rounds=2,
            warmup=2,
        )
        assert calls.count("cand") == calls.count("base") == 4
        assert calls.count("setup") == 8
        assert len(result.candidate_s) == len(result.baseline_s) == 2
