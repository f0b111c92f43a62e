"""Session start: delta-session's local_session (warm Ivy cache) vs a plain pyspark start.

Both sides start a fresh Python process that starts a local[2] session, runs one catalog
query and stops; the baseline has no Delta jar. The ratio is the price of Delta and of
delta-session's checks once the jars are cached: Ivy's offline resolution of the cached
coordinates, the extra jars on the class path and the Delta catalog. Each process starts one
JVM, so the test process itself starts none.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pipeline_testkit import scaled

PLAIN = """
from pyspark.sql import SparkSession
spark = (SparkSession.builder.master("local[2]").config("spark.ui.enabled", "false")
         .getOrCreate())
spark.sql("SHOW DATABASES").collect()
spark.stop()
"""

DELTA = """
import delta_session
spark = delta_session.local_session(2, conf={{"spark.ui.enabled": "false"}}, log_file={log!r})
spark.sql("SHOW DATABASES").collect()
spark.stop()
"""


def _run(code: str) -> None:
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=900, check=False
    )
    assert proc.returncode == 0, proc.stderr[-3000:]


def test_bench_session_start(compare: Callable[..., Any], tmp_path: Path) -> None:
    """A Delta session from a warm Ivy cache vs a plain pyspark session, in fresh processes."""
    delta = DELTA.format(log=str(tmp_path / "start.log"))
    _run(delta)  # fills the Ivy cache if it is cold: the comparison is about warm starts
    result = compare(
        "local_session (warm Ivy cache) vs plain pyspark start",
        lambda: _run(delta),
        lambda: _run(PLAIN),
        rounds=scaled(full=5, tiny=1),
        warmup=scaled(full=1, tiny=0),
    )
    assert len(result.candidate_s) == len(result.baseline_s) == scaled(full=5, tiny=1)
    assert "resolution report" in (tmp_path / "start.log").read_text()
