"""Shared test set-up: make the hypothesis strategies module next to the tests importable."""

import sys
from pathlib import Path

# --import-mode=importlib keeps the tests folder off sys.path; the strategies live beside it.
sys.path.insert(0, str(Path(__file__).parent))
