"""Fixtures for the deployment checks: repository paths and the command-line validators."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _tool(name: str) -> str:
    """Find a validator in this interpreter's venv first (pip-installed binaries), then on PATH."""
    local = Path(sys.executable).parent / name
    if local.exists():
        return str(local)
    found = shutil.which(name)
    if found is None:
        pytest.fail(
            f"'{name}' not found: install the root 'deploy' dependency group "
            "(uv sync --only-group deploy), which provides it."
        )
    return found


def _run(*args: str | Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run a validator by name, capturing text output, never raising on a non-zero exit."""
    command = [_tool(str(args[0])), *map(str, args[1:])]
    full_env = None if env is None else {**os.environ, **env}
    return subprocess.run(
        command, capture_output=True, text=True, timeout=600, check=False, env=full_env
    )


@pytest.fixture
def run() -> Callable[..., subprocess.CompletedProcess[str]]:
    """The validator runner, as a fixture."""
    return _run


@pytest.fixture
def root() -> Path:
    """The repository root."""
    return ROOT
