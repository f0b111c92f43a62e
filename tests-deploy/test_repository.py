"""The repository stands alone: nothing in it reads a file outside the clone.

A user's clone has no ``../shared`` (the build machines' side folder). Every test, session, script
and workflow must find what it needs inside the repository (the Spark Operator CRDs are vendored in
tests-deploy/vendor/spark-operator).
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
THIS = Path(__file__).resolve()
# A path out of the clone into a sibling "shared" folder, in shell, YAML or Python spelling.
OUTSIDE = re.compile(
    r"\.\./+shared\b"  # ../shared, ../../shared
    r"|parents?\b[^\n]*/\s*[\"']shared[\"']"  # Path(...).parent(s)[n] / "shared"
    r"|[\"']shared[\"']\s*/\s*[\"']vendor[\"']"  # "shared" / "vendor"
)
TEXT_SUFFIXES = {".py", ".sh", ".yml", ".yaml", ".toml", ".cfg", ".ini", ".json", ".md", ".txt"}


def _tracked_files() -> list[Path]:
    """Files git tracks (what a clone has); every file when this is not a git checkout."""
    result = subprocess.run(
        ["git", "-C", str(ROOT), "ls-files", "-z"],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    if result.returncode == 0 and result.stdout:
        return [ROOT / name for name in result.stdout.split("\0") if name]
    return [p for p in ROOT.rglob("*") if p.is_file() and ".git" not in p.parts]


def _scanned() -> list[Path]:
    names = {"run", "noxfile.py", "Dockerfile"}
    return [
        path
        for path in _tracked_files()
        if (path.suffix in TEXT_SUFFIXES or path.name in names)
        and path.resolve() != THIS
        and path.is_file()
    ]


class TestStandsAlone:
    """No file of the repository reaches outside it."""

    def test_nothing_refers_to_the_shared_side_folder(self) -> None:
        """No test, session, script, workflow or doc points at ../shared."""
        files = _scanned()
        assert any(p.name == "noxfile.py" for p in files)
        assert any(p.parts[-2:] == (".ci", "run") for p in files)
        offenders = [
            f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
            for path in files
            for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1)
            if OUTSIDE.search(line)
        ]
        assert offenders == []

    def test_the_pattern_catches_each_spelling(self) -> None:
        """The scan is live: shell, Python and YAML ways of reaching ../shared all match."""
        shared = "shared"
        for line in (
            f"mkdir -p ../{shared}/vendor/spark-operator",
            f'CRDS = ROOT.parent / "{shared}" / "vendor"',
            f'path = Path(__file__).parents[2] / "{shared}"',
            f"  crds: ../../{shared}/vendor",
        ):
            assert OUTSIDE.search(line), line
        assert not OUTSIDE.search("a shared machine; the shared session")

    def test_vendored_crds_carry_license_and_origin(self) -> None:
        """The vendored CRDs sit with their license and the upstream commit they came from."""
        vendor = ROOT / "tests-deploy" / "vendor" / "spark-operator"
        assert "Apache License" in (vendor / "LICENSE").read_text()
        assert re.search(r"\b[0-9a-f]{40}\b", (vendor / "README.md").read_text())
        for kind in ("sparkapplications", "scheduledsparkapplications"):
            assert (vendor / f"sparkoperator.k8s.io_{kind}.yaml").is_file()
