"""Checks that need no Spark, run before Spark starts (a JVM start can take minutes).

A missing input folder, a missing gate or registry folder, or a data root that cannot be
written is reported at once with exit code 2, instead of after the Spark start with a Java
stack trace. Input and data root on object storage (``s3a://``, ``abfss://``, ``gs://``) are
left to Spark, which reports an unreachable or missing location when it first reads it.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import TYPE_CHECKING

from etl_app._specs import Stage
from etl_app._storage import local_path
from etl_app.errors import InputError

if TYPE_CHECKING:
    from etl_app._config import AppConfig


def preflight(config: AppConfig, stages: str | Stage) -> None:
    """Check what the requested stages need from the file system.

    Args:
        config: The validated configuration (CLI overrides applied).
        stages: The stages to run.

    Raises:
        InputError: A folder is missing or the data root is not writable (exit code 2); the
            message names the path, the config key and the fix.
    """
    selected = Stage.parse(stages).selected()
    problems: list[str] = []
    if Stage.BRONZE in selected:
        # Object-store locations are checked by Spark when it lists them: only a local folder
        # (a path or a file:// URI) can be looked at without Spark.
        folder = local_path(config.input_location())
        if folder is not None and not folder.is_dir():
            problems.append(
                f"input folder {folder} does not exist (input.dir, or --input); "
                "etl-app generate-sample --out DIR writes sample files"
            )
        registry = config.schemas_dir()
        if not registry.is_dir():
            problems.append(f"schema registry folder {registry} does not exist (schemas.dir)")
    if Stage.SILVER in selected and not config.gates_dir().is_dir():
        problems.append(f"gates folder {config.gates_dir()} does not exist (gates.dir)")
    root = local_path(config.output_location())
    problem = writable_problem(root) if root is not None else None
    if problem:
        problems.append(problem)
    if problems:
        raise InputError("cannot start the run:\n" + "\n".join(f"  - {p}" for p in problems))


def writable_problem(root: Path) -> str | None:
    """Why files cannot be created under the local folder ``root`` (None when they can).

    The folder is created when missing, and a probe file is written and removed.
    """
    probe = root / f".etl-app-probe-{uuid.uuid4().hex[:8]}"
    try:
        root.mkdir(parents=True, exist_ok=True)
        with probe.open("wb") as handle:
            handle.write(b"probe")
            handle.flush()
            os.fsync(handle.fileno())
        probe.unlink()
    except OSError as exc:
        return (
            f"data root {root} is not writable ({exc.strerror or exc}); set output.root or "
            "--output to a folder this user can write, with free space"
        )
    return None
