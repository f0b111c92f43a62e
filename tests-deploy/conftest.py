"""Fixtures for the deployment checks: repository paths, the command-line validators, kustomize."""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

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


def _run(
    *args: str | Path, env: dict[str, str] | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """Run a validator by name, capturing text output, never raising on a non-zero exit."""
    command = [_tool(str(args[0])), *map(str, args[1:])]
    full_env = None if env is None else {**os.environ, **env}
    return subprocess.run(
        command, capture_output=True, text=True, timeout=600, check=False, env=full_env, cwd=cwd
    )


@pytest.fixture
def run() -> Callable[..., subprocess.CompletedProcess[str]]:
    """The validator runner, as a fixture."""
    return _run


@pytest.fixture
def root() -> Path:
    """The repository root."""
    return ROOT


@functools.cache
def render_kustomization(folder: str) -> tuple[dict[str, Any], ...]:
    """``kustomize build`` a folder of k8s/ (e.g. ``overlays/prod``); its documents, cached.

    The real kustomize binary (nox's deploy session builds it from the Go module proxy into the
    session's venv) renders it, so what is checked is what ``kubectl apply -k`` would send.
    """
    result = _run("kustomize", "build", ROOT / "k8s" / folder)
    if result.returncode != 0:
        pytest.fail(f"kustomize build k8s/{folder} failed:\n{result.stderr}")
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    return tuple(doc for doc in yaml.load_all(result.stdout, Loader=loader) if doc)


@pytest.fixture(scope="session")
def kustomize() -> Callable[[str], tuple[dict[str, Any], ...]]:
    """The kustomize renderer, as a fixture."""
    return render_kustomization
