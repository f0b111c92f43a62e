"""The plan of one gate run: which checks and metrics apply to this DataFrame, and their tests.

Planning reads only ``df.schema`` (no Spark job): schema problems and checks declared on a
column type they do not support are raised here, before anything runs.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import reduce
from typing import TYPE_CHECKING, Any, TypeVar

from pyspark.sql import functions as sf

from dq_gates._compile import CheckKind, CheckSpec, failure_expr
from dq_gates._config import Action
from dq_gates._profile import MetricSpec
from dq_gates.errors import (
    CheckTypeProblem,
    GateCheckTypeError,
    GateError,
    GateRunError,
    GateSchemaError,
)

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame
    from pyspark.sql.types import DataType

    from dq_gates._anomaly import AnomalyCheck
    from dq_gates._result import SchemaProblem

#: Hidden column holding how many rows share the row's unique key.
DUP_COUNT = "_dq_dup_count"
#: Checks packed into one bit-mask column (a long; two bits left unused for the sign).
MASK_BITS = 62

T = TypeVar("T")


@dataclass(frozen=True)
class RunContext:
    """Identity of one run: who, when, which table and batch.

    Attributes:
        gate: Gate name.
        run_id: Unique id of the run (also in quarantine rows and the history).
        started_at: UTC start of the run ("now" of time-based checks).
        table: Table the batch is headed for, if the caller said.
        batch_id: The caller's id of the batch, if any.
    """

    gate: str
    run_id: str
    started_at: dt.datetime
    table: str | None = None
    batch_id: str | None = None

    @property
    def now(self) -> Column:
        """The run's start as a Spark timestamp literal."""
        return sf.lit(self.started_at).cast("timestamp")


@dataclass
class RunPlan:
    """Everything the counting, sampling and split steps need, fixed before any Spark job.

    Attributes:
        context: The run's identity.
        df: The input DataFrame.
        dtypes: Spark type of every input column.
        specs: The checks that apply (optional columns that are absent are left out), in
            declaration order.
        actions: Action of every check, by name.
        fails: Failure expression of every row-level check, by name.
        checked: The input projected to the columns the checks and metrics read.
        metrics: Profile metrics to compute in the counting pass (one per metric id).
        anomalies: The gate's anomaly checks.
    """

    context: RunContext
    df: DataFrame
    dtypes: dict[str, DataType]
    specs: list[CheckSpec]
    actions: dict[str, Action]
    fails: dict[str, Column]
    checked: DataFrame
    metrics: list[MetricSpec] = field(default_factory=list)
    anomalies: list[AnomalyCheck] = field(default_factory=list)

    @property
    def row_specs(self) -> list[CheckSpec]:
        """Checks evaluated inside the single pass (compiled, UDF and uniqueness)."""
        return [s for s in self.specs if s.kind is not CheckKind.PANDERA]

    @property
    def pandera_specs(self) -> list[CheckSpec]:
        """Custom checks handed to pandera's own validation."""
        return [s for s in self.specs if s.kind is CheckKind.PANDERA]

    @property
    def unique(self) -> CheckSpec | None:
        """The uniqueness check, if the schema has a unique key."""
        return next((s for s in self.specs if s.kind is CheckKind.UNIQUE), None)


def guarded(gate: str, stage: str, what: str, action: Callable[[], T]) -> T:
    """Run a Spark call; turn any non-dq-gates exception into a ``GateRunError``.

    Raw Spark and py4j exceptions never leave ``Gate.run``: the cause is chained.
    """
    try:
        return action()
    except GateError:
        raise
    except Exception as exc:
        raise GateRunError(gate, stage, f"{what} failed: {type(exc).__name__}: {exc}") from exc


def failure(spec: CheckSpec, dtypes: Mapping[str, DataType], now: Column) -> Column:
    """The never-null boolean column true on the rows ``spec`` rejects."""
    if spec.kind is CheckKind.UNIQUE:
        return sf.col(DUP_COUNT) > 1
    return failure_expr(spec, dtypes.get(spec.column or ""), now)


def value_of(spec: CheckSpec) -> Column:
    """The value a check's sample reports: the column, or the key (a struct if composite)."""
    if spec.keys:
        if len(spec.keys) == 1:
            return sf.col(f"`{spec.keys[0]}`")
        return sf.struct(*[sf.col(f"`{k}`") for k in spec.keys])
    return sf.col(f"`{spec.column}`")


def row_flags(
    specs: list[CheckSpec], actions: Mapping[str, Action], fails: Mapping[str, Column]
) -> tuple[Column, Column, Column]:
    """(any check failed, a quarantine check failed, a drop check failed but no quarantine)."""

    def any_of(action: Action | None) -> Column:
        cols = [fails[s.name] for s in specs if action is None or actions[s.name] is action]
        return reduce(lambda a, b: a | b, cols) if cols else sf.lit(False)

    quarantined = any_of(Action.QUARANTINE)
    return any_of(None), quarantined, any_of(Action.DROP) & ~quarantined


def pack(flags: list[tuple[str, Column]]) -> tuple[list[Column], dict[str, Column]]:
    """Bit-mask columns holding every flag, and per flag name its test on the masks."""
    masks: list[Column] = []
    unpacked: dict[str, Column] = {}
    for start in range(0, len(flags), MASK_BITS):
        name = f"_dq_mask{start // MASK_BITS}"
        chunk = flags[start : start + MASK_BITS]
        bits = [
            sf.when(flag, sf.lit(1 << b)).otherwise(sf.lit(0)).cast("long")
            for b, (_, flag) in enumerate(chunk)
        ]
        masks.append(reduce(lambda a, b: a + b, bits).alias(name))
        for b, (flag_name, _) in enumerate(chunk):
            unpacked[flag_name] = sf.col(name).bitwiseAND(sf.lit(1 << b)) != 0
    return masks, unpacked


def schema_problems(
    schema: Any, specs: list[CheckSpec], fields: Mapping[str, DataType], columns: list[str]
) -> list[SchemaProblem]:
    """Missing columns, wrong types and (strict schemas) unexpected columns."""
    from pandera.engines.pyspark_engine import Engine

    from dq_gates._result import SchemaProblem

    problems: list[SchemaProblem] = []
    for name, column in schema.columns.items():
        expected = None if column.dtype is None else str(column.dtype)
        if name not in fields:
            if column.required:
                problems.append(SchemaProblem(name, "missing", expected))
            continue
        if column.dtype is not None and not column.dtype.check(Engine.dtype(fields[name])):
            problems.append(SchemaProblem(name, "wrong_dtype", expected, str(fields[name])))
    problems.extend(
        SchemaProblem(key, "missing", "unique key column")
        for spec in specs
        for key in spec.keys
        if key not in fields and key not in schema.columns
    )
    if schema.strict is True:
        problems.extend(
            SchemaProblem(c, "unexpected", "no such column (strict schema)", str(fields[c]))
            for c in columns
            if c not in schema.columns
        )
    return problems


def type_problems(
    specs: list[CheckSpec], metrics: list[MetricSpec], dtypes: Mapping[str, DataType | None]
) -> list[CheckTypeProblem]:
    """Checks and metrics declared on a column type they do not support."""
    problems = [p for s in specs if (p := s.type_problem(dtypes.get(s.column or ""))) is not None]
    problems.extend(
        p for m in metrics if (p := m.type_problem(dtypes.get(m.column or ""))) is not None
    )
    return problems


def plan_run(
    *,
    context: RunContext,
    schema: Any,
    specs: list[CheckSpec],
    actions: Mapping[str, Action],
    metrics: list[MetricSpec],
    anomalies: list[AnomalyCheck],
    df: DataFrame,
) -> RunPlan:
    """Fix what a run evaluates on ``df``; no Spark job.

    Raises:
        GateSchemaError: Columns are missing or have the wrong type.
        GateCheckTypeError: A check or metric meets a column type it does not support.
        GateRunError: The input's schema cannot be read.
    """
    gate = context.gate
    fields = guarded(
        gate,
        "schema",
        "reading the input's schema",
        lambda: {f.name: f.dataType for f in df.schema.fields},
    )
    columns = list(fields)
    problems = schema_problems(schema, specs, fields, columns)
    if problems:
        raise GateSchemaError(gate, problems)
    present = set(columns)
    applied = [s for s in specs if s.column is None or s.keys or s.column in present]
    wrong_types = type_problems(applied, metrics, fields)
    if wrong_types:
        raise GateCheckTypeError(gate, wrong_types)
    missing_metric_columns = [
        m.column for m in metrics if m.column is not None and m.column not in present
    ]
    if missing_metric_columns:
        from dq_gates._result import SchemaProblem

        raise GateSchemaError(
            gate,
            [
                SchemaProblem(c, "missing", "column of an anomaly check")
                for c in missing_metric_columns
            ],
        )
    now = context.now
    row_specs = [s for s in applied if s.kind is not CheckKind.PANDERA]
    fails = {s.name: failure(s, fields, now) for s in row_specs}
    # Only the checked and profiled columns go through the key window's shuffle.
    needed = {s.column for s in row_specs} | {k for s in row_specs for k in s.keys}
    needed |= {m.column for m in metrics if m.column is not None}
    checked = guarded(
        gate,
        "schema",
        "projecting the checked columns",
        lambda: df.select(*[sf.col(f"`{c}`") for c in columns if c in needed]),
    )
    return RunPlan(
        context=context,
        df=df,
        dtypes=fields,
        specs=applied,
        actions=dict(actions),
        fails=fails,
        checked=checked,
        metrics=metrics,
        anomalies=anomalies,
    )
