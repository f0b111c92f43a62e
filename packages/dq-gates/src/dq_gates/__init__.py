"""Data-quality gates declared with pandera, evaluated in one pass over a Spark DataFrame."""

from importlib.metadata import version

from dq_gates._anomaly import (
    AnomalyCheck,
    RelativeChange,
    SameWeekday,
    StdDevBand,
    Strategy,
    ValueSetChange,
)
from dq_gates._config import Action, Threshold, Verdict
from dq_gates._gate import Gate
from dq_gates._history import MemoryHistory, ResultsHistory, history_schema
from dq_gates._profile import Metric
from dq_gates._result import AnomalyResult, CheckResult, GateResult, SchemaProblem
from dq_gates.errors import (
    CheckTypeProblem,
    GateCheckError,
    GateCheckTypeError,
    GateConfigError,
    GateError,
    GateFailedError,
    GateHistoryError,
    GateRunError,
    GateSchemaError,
    UncompiledCheckWarning,
)

__version__ = version("dq-gates")

__all__ = [
    "Action",
    "AnomalyCheck",
    "AnomalyResult",
    "CheckResult",
    "CheckTypeProblem",
    "Gate",
    "GateCheckError",
    "GateCheckTypeError",
    "GateConfigError",
    "GateError",
    "GateFailedError",
    "GateHistoryError",
    "GateResult",
    "GateRunError",
    "GateSchemaError",
    "MemoryHistory",
    "Metric",
    "RelativeChange",
    "ResultsHistory",
    "SameWeekday",
    "SchemaProblem",
    "StdDevBand",
    "Strategy",
    "Threshold",
    "UncompiledCheckWarning",
    "ValueSetChange",
    "Verdict",
    "__version__",
    "history_schema",
]
