"""Shared test set-up: importable strategies and a Hypothesis profile for a busy 2-core CI."""

import sys
from pathlib import Path

from hypothesis import HealthCheck, settings

# --import-mode=importlib keeps the tests folder off sys.path; the strategies live beside it.
sys.path.insert(0, str(Path(__file__).parent))

# Timing-based checks fail on a loaded machine without saying anything about the code.
settings.register_profile(
    "schema-registry", deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile("schema-registry")
