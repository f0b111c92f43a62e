"""Data-quality gates declared with pandera, evaluated in one pass over a Spark DataFrame."""

from importlib.metadata import version

from dq_gates._config import Action, Threshold, Verdict
from dq_gates._gate import Gate
from dq_gates._result import CheckResult, GateResult, SchemaProblem
from dq_gates.errors import (
    GateConfigError,
    GateError,
    GateFailedError,
    GateSchemaError,
    UncompiledCheckWarning,
)

__version__ = version("dq-gates")

__all__ = [
    "Action",
    "CheckResult",
    "Gate",
    "GateConfigError",
    "GateError",
    "GateFailedError",
    "GateResult",
    "GateSchemaError",
    "SchemaProblem",
    "Threshold",
    "UncompiledCheckWarning",
    "Verdict",
    "__version__",
]
