"""Per-call cost of a JSON log line through configure_logging (with secret redaction).

Baseline: the same structlog pipeline without the redaction processor, so the ratio is the price
of redaction. Target: <= 1.5x.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import structlog

from etl_metrics import bound_context, configure_logging
from pipeline_testkit import scaled

N = scaled(full=50_000, tiny=1_000)
TARGET = 1.5


def test_bench_json_log_call_vs_no_redaction(compare: Callable[..., Any], benchmark: Any) -> None:
    """A log call with bound context costs at most 1.5x the same pipeline without redaction."""
    with open(os.devnull, "w") as sink:
        configure_logging(fmt="json", stream=sink)
        ours = structlog.get_logger()
        processors = [
            p for p in structlog.get_config()["processors"] if type(p).__name__ != "RedactSecrets"
        ]
        plain = structlog.wrap_logger(
            structlog.WriteLogger(sink),
            processors=processors,
            wrapper_class=structlog.get_config()["wrapper_class"],
        )

        def candidate() -> None:
            for i in range(N):
                ours.info("rows_written", table="orders", rows=i, password="p")

        def baseline() -> None:
            for i in range(N):
                plain.info("rows_written", table="orders", rows=i, password="p")

        try:
            with bound_context(job="nightly", env="prod", run_id="r-1", stage="silver"):
                result = compare(
                    f"JSON log call with redaction vs without (x{N})",
                    candidate,
                    baseline,
                    rounds=5,
                    target=TARGET,
                )
        finally:
            structlog.reset_defaults()
    per_call = result.candidate_median / N * 1e6
    benchmark.extra_info.update(
        {
            "calls": N,
            "candidate_us_per_call": round(per_call, 3),
            "baseline_us_per_call": round(result.baseline_median / N * 1e6, 3),
        }
    )
    print(f"\nJSON log call: {per_call:.2f} us/call (ratio {result.ratio:.3f})")
