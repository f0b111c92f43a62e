"""Check, inside a venv holding one installed wheel, that it imports alone and pulled no sibling.

Usage: python check_wheel.py DIST IMPORT_NAME [FORBIDDEN_DIST ...]
"""

from __future__ import annotations

import importlib
import importlib.metadata
import sys


def main(argv: list[str]) -> int:
    """Import the package, compare its version to the metadata, refuse forbidden distributions."""
    dist, import_name, *forbidden = argv
    module = importlib.import_module(import_name)
    installed = importlib.metadata.version(dist)
    if getattr(module, "__version__", None) != installed:
        print(f"{import_name}.__version__ != installed {dist} {installed}", file=sys.stderr)
        return 1
    present = []
    for other in forbidden:
        try:
            importlib.metadata.version(other)
            present.append(other)
        except importlib.metadata.PackageNotFoundError:
            pass
    if present:
        print(f"{dist} pulled in {', '.join(present)}: it must install alone", file=sys.stderr)
        return 1
    print(f"ok: {dist} {installed} installs and imports alone ({len(module.__all__)} public names)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
