"""Run a Python snippet in a fresh interpreter: each real Spark start gets its own process."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping

import pytest

# Generous: a cold JVM on a loaded 2-core machine; a hang still ends instead of blocking CI.
CHILD_TIMEOUT = 900


def run_python(
    code: str, env: Mapping[str, str] | None = None, *, drop: tuple[str, ...] = ()
) -> subprocess.CompletedProcess[str]:
    """Run ``code`` with this interpreter; ``env`` is added to, ``drop`` removed from, ours."""
    child_env = {k: v for k, v in os.environ.items() if k not in drop}
    child_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env=child_env,
        timeout=CHILD_TIMEOUT,
        check=False,
    )


@pytest.fixture
def python() -> object:
    """The snippet runner (see :func:`run_python`)."""
    return run_python
