"""The gate: its declaration, and ``run`` as plan -> count -> verdict -> split -> record.

Each step lives in its own module: ``_plan`` (what applies to this DataFrame, no Spark job),
``_count`` (the single pass and its diagnosis), ``_samples`` (failing values), ``_verdict``
(results, anomaly judgements, limits), ``_split`` (valid / quarantine) and ``_history`` (the
results history).
"""

from __future__ import annotations

import datetime as dt
import time
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dq_gates._anomaly import AnomalyCheck, known_values
from dq_gates._compile import CheckKind, CheckSpec, specs_from_schema
from dq_gates._config import GATE_KEY, ZERO_ROWS, Action, Threshold, resolve
from dq_gates._count import count
from dq_gates._history import History, HistoryQuery, history_row
from dq_gates._plan import RunContext, guarded, plan_run, schema_problems, type_problems
from dq_gates._profile import MetricSpec
from dq_gates._result import GateResult
from dq_gates._split import split
from dq_gates._verdict import anomaly_results, check_results, decide
from dq_gates.errors import (
    GateCheckTypeError,
    GateConfigError,
    GateError,
    GateFailedError,
    GateHistoryError,
)

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

    from dq_gates._anomaly import PastRun
    from dq_gates._plan import RunPlan
    from dq_gates._result import SchemaProblem


def _as_schema(schema: Any) -> Any:
    """Accept a ``DataFrameSchema`` or a ``DataFrameModel`` subclass; return the schema."""
    if isinstance(schema, type) and hasattr(schema, "to_schema"):
        return schema.to_schema()
    if hasattr(schema, "columns") and hasattr(schema, "unique"):
        return schema
    raise GateConfigError(
        f"schema must be a pandera.pyspark DataFrameSchema or DataFrameModel subclass, got "
        f"{type(schema).__name__}"
    )


def _declared_types(schema: Any) -> dict[str, Any]:
    """Spark type of every column whose ``dtype`` the schema declares."""
    declared = {}
    for name, column in schema.columns.items():
        spark_type = getattr(column.dtype, "type", None)
        if spark_type is not None:
            declared[name] = spark_type
    return declared


class Gate:
    """A data-quality gate: pandera-declared rules, evaluated in one pass, with row actions.

    Args:
        name: Gate name (in results, quarantine rows and messages).
        schema: A ``pandera.pyspark.DataFrameSchema`` or ``DataFrameModel`` subclass. Columns'
            ``dtype`` and presence are checked first; ``nullable=False`` becomes a
            ``column.not_null`` check; ``unique=[...]`` (``Config.unique`` on a model) becomes a
            ``key.unique`` check. A check declared with ``raise_warning=True`` gets the
            ``warn`` action unless ``actions`` names it.
        default_action: Action of checks no ``actions`` entry names.
        actions: Maps ``column`` or ``column.check`` to ``warn``, ``drop``, ``quarantine`` or
            ``fail`` (``column.check`` wins over ``column``). Anomaly checks are looked up by
            their full name only, and take ``warn`` or ``fail``.
        thresholds: Maps ``column``, ``column.check`` or ``"*"`` (rows failing any check) to a
            ``Threshold`` or ``{"max_rows": ..., "max_fraction": ...}``. A check whose failures
            exceed its threshold fails the gate, whatever its action; a ``fail`` check without
            one fails on its first failing row.
        anomalies: ``AnomalyCheck`` s: batch-level metrics (row count, NULL fraction, mean,
            ...) judged against earlier runs. They need ``history``.
        history: Where runs are recorded (``ResultsHistory`` or ``MemoryHistory``). Every run
            appends one row; anomaly checks read earlier ones. None: nothing is recorded and
            nothing extra runs.

    Raises:
        GateConfigError: Unknown action, a key naming no check or column, a bad threshold, a
            drop / quarantine action on a check only pandera can evaluate (no row flags) or on
            an anomaly check, anomaly checks without a history, or duplicate names.
        GateCheckTypeError: A built-in check or anomaly metric on a column whose declared
            ``dtype`` it does not support (pandera's own rule), e.g. ``str_startswith`` on a
            ``bigint`` column.

    Example:
        >>> gate = Gate("orders", OrderModel, actions={"amount": "quarantine"})  # doctest: +SKIP
        >>> with gate.run(df) as result:  # doctest: +SKIP
        ...     result.valid.write.format("delta").save(silver)
        ...     result.quarantine.write.format("delta").mode("append").save(quarantine)
    """

    def __init__(
        self,
        name: str,
        schema: Any,
        *,
        default_action: Action | str = "fail",
        actions: Mapping[str, Action | str] | None = None,
        thresholds: Mapping[str, Threshold | Mapping[str, Any]] | None = None,
        anomalies: Sequence[AnomalyCheck] = (),
        history: History | None = None,
    ) -> None:
        self.name = name
        self.schema = _as_schema(schema)
        self.default_action = Action.parse(default_action, f"gate {name!r}: default_action")
        self._specs = specs_from_schema(name, self.schema)
        self.anomalies = self._named_anomalies(anomalies)
        if history is not None and not isinstance(history, History):
            raise GateConfigError(
                f"gate {name!r}: history must be a ResultsHistory or MemoryHistory, got "
                f"{type(history).__name__}"
            )
        if self.anomalies and history is None:
            raise GateConfigError(
                f"gate {name!r}: anomaly checks {[a.name for a in self.anomalies]} compare "
                "with earlier runs, so the gate needs a results history: pass "
                "history=ResultsHistory(path) (or MemoryHistory() in tests)"
            )
        self.history = history
        known = {s.name for s in self._specs} | {s.column for s in self._specs if s.column}
        known |= set(self.schema.columns)
        anomaly_names = {a.name for a in self.anomalies}
        self.actions = {
            key: Action.parse(value, f"gate {name!r}: actions[{key!r}]")
            for key, value in (actions or {}).items()
        }
        self.thresholds = {
            key: Threshold.parse(value, f"gate {name!r}: thresholds[{key!r}]")
            for key, value in (thresholds or {}).items()
        }
        for what, mapping, extra in (
            ("actions", self.actions, anomaly_names),
            ("thresholds", self.thresholds, {GATE_KEY}),
        ):
            unknown = sorted(set(mapping) - known - extra)
            if unknown:
                hint = ""
                if what == "thresholds" and set(unknown) & anomaly_names:
                    hint = " (anomaly checks take no threshold: their strategy sets the limit)"
                raise GateConfigError(
                    f"gate {name!r}: {what} key(s) {unknown} name no check or column{hint}; "
                    f"known: {sorted(known | extra)}"
                )
        self._action = {s.name: self._resolve_action(s) for s in self._specs}
        for anomaly in self.anomalies:
            self._action[anomaly.name] = self._anomaly_action(anomaly)
        for spec in self._specs:
            if spec.kind is CheckKind.PANDERA and self._action[spec.name] in (
                Action.DROP,
                Action.QUARANTINE,
            ):
                raise GateConfigError(
                    f"gate {name!r}: check {spec.name!r} runs through pandera (no row flags), so "
                    f"it cannot {self._action[spec.name].value} rows. Set actions"
                    f"[{spec.name!r}] to 'warn' or 'fail', or write it with "
                    "dq_gates.checks.spark_check."
                )
        wrong_types = type_problems(self._specs, self._metrics, _declared_types(self.schema))
        if wrong_types:
            raise GateCheckTypeError(name, wrong_types)

    def _named_anomalies(self, anomalies: Sequence[AnomalyCheck]) -> list[AnomalyCheck]:
        """The anomaly checks, renamed ``_2``, ``_3``... where a name is already taken."""
        taken = {s.name for s in self._specs}
        named = []
        for anomaly in anomalies:
            if not isinstance(anomaly, AnomalyCheck):
                raise GateConfigError(
                    f"gate {self.name!r}: anomalies must be AnomalyCheck objects, got "
                    f"{type(anomaly).__name__}"
                )
            check, n = anomaly.check, 2
            while anomaly.renamed(check).name in taken:
                check = f"{anomaly.check}_{n}"
                n += 1
            renamed = anomaly.renamed(check)
            taken.add(renamed.name)
            named.append(renamed)
        return named

    @property
    def _metrics(self) -> list[MetricSpec]:
        """The profile metrics the anomaly checks need, one per metric id."""
        metrics: list[MetricSpec] = []
        for anomaly in self.anomalies:
            if anomaly.metric_spec not in metrics:
                metrics.append(anomaly.metric_spec)
        return metrics

    @classmethod
    def from_yaml(cls, path: str | Path, *, history: History | None = None) -> Gate:
        """Build a gate from a YAML file (format in the README).

        Args:
            path: The file.
            history: Results history to use; overrides the file's ``history`` key.

        Raises:
            GateConfigError: The file is missing, is not YAML, or keys are wrong; the message
                lists every problem with its key path and what is expected.
        """
        from dq_gates._yaml import gate_from_yaml

        return gate_from_yaml(cls, Path(path), history=history)

    @classmethod
    def from_dict(
        cls, config: Mapping[str, Any], *, source: str = "<dict>", history: History | None = None
    ) -> Gate:
        """Build a gate from the same structure as the YAML file.

        Args:
            config: The mapping.
            source: Where it came from, for error messages.
            history: Results history to use; overrides the mapping's ``history`` key.

        Raises:
            GateConfigError: Keys are missing or wrong (all listed at once).
        """
        from dq_gates._yaml import gate_from_dict

        return gate_from_dict(cls, config, source, history=history)

    @property
    def check_names(self) -> list[str]:
        """Names (``column.check``) of every check, in the order results list them."""
        return [s.name for s in self._specs]

    @property
    def check_actions(self) -> dict[str, Action]:
        """The action each check and anomaly check takes, by name, as the gate resolved it."""
        return dict(self._action)

    @property
    def anomaly_names(self) -> list[str]:
        """Names of the anomaly checks, in the order results list them."""
        return [a.name for a in self.anomalies]

    def _resolve_action(self, spec: CheckSpec) -> Action:
        found = resolve(self.actions, spec.column, spec.check)
        if found is not None:
            return Action(found)
        return Action.WARN if spec.raise_warning else self.default_action

    def _anomaly_action(self, anomaly: AnomalyCheck) -> Action:
        where = f"gate {self.name!r}: anomaly check {anomaly.name!r}"
        action = self.actions.get(anomaly.name) or anomaly.action
        if action is None:
            fallback = self.default_action
            return fallback if fallback in (Action.WARN, Action.FAIL) else Action.FAIL
        if action not in (Action.WARN, Action.FAIL):
            raise GateConfigError(
                f"{where}: action {action.value!r} does not apply to a whole-batch metric (no "
                "row fails it); use 'warn' or 'fail'"
            )
        return action

    def _threshold(self, spec: CheckSpec) -> Threshold | None:
        found = resolve(self.thresholds, spec.column, spec.check)
        if found is not None:
            return Threshold.parse(found, spec.name)
        return ZERO_ROWS if self._action[spec.name] is Action.FAIL else None

    def schema_problems(self, df: DataFrame) -> list[SchemaProblem]:
        """Missing columns, wrong types and (strict schemas) unexpected columns of ``df``.

        Needs no Spark job: only ``df.schema`` is read.
        """
        fields = {f.name: f.dataType for f in df.schema.fields}
        return schema_problems(self.schema, self._specs, fields, list(fields))

    def run(
        self,
        df: DataFrame,
        *,
        table: str | None = None,
        batch_id: str | None = None,
        run_id: str | None = None,
    ) -> GateResult:
        """Check ``df`` and split it into valid and quarantined rows.

        Spark work: one aggregation job computes every count, sample and profile metric (with
        a unique key it runs over a window partitioned by the key, so the data is read and
        shuffled once). With anomaly checks, one small query reads the earlier runs from the
        history; with a history, one small write appends this run. ``valid`` /
        ``quarantine`` are lazy; when rows must be removed they read one persisted, flagged
        copy (``MEMORY_AND_DISK``) that ``GateResult.release()`` frees.

        Args:
            df: The DataFrame to check. Its own caching is left alone.
            table: The table the batch is headed for: recorded in the history, and anomaly
                checks compare with earlier runs of the same gate and table.
            batch_id: Your id of the batch, recorded in the history.
            run_id: Id of this run (default: a new random one); in quarantine rows and the
                history.

        Returns:
            The result (verdict ``passed`` or ``warned``).

        Raises:
            GateSchemaError: Columns are missing or have the wrong type (before any data check).
            GateCheckTypeError: A check or metric on a column type it does not support (a
                column without a declared ``dtype``; before any Spark job).
            GateCheckError: Spark cannot analyse or evaluate one check (its error chained).
            GateRunError: Spark failed otherwise (the input cannot be read, the job failed).
            GateHistoryError: The results history cannot be read or appended to.
            GateFailedError: A limit tripped; ``error.result`` holds the full result.
        """
        context = RunContext(
            gate=self.name,
            run_id=run_id or uuid.uuid4().hex,
            started_at=dt.datetime.now(dt.UTC),
            table=table,
            batch_id=batch_id,
        )
        t0 = time.perf_counter()
        plan = plan_run(
            context=context,
            schema=self.schema,
            specs=self._specs,
            actions=self._action,
            metrics=self._metrics,
            anomalies=self.anomalies,
            df=df,
        )
        past = self._past_runs(plan)
        counts = count(plan, known_values(past))
        outcome = decide(
            check_results(plan, counts, self._threshold),
            anomaly_results(plan.anomalies, self._action, counts, past, context.started_at),
            self.thresholds.get(GATE_KEY),
            counts,
        )
        removed = counts.rows_quarantined + counts.rows_dropped
        outputs = guarded(
            self.name,
            "split",
            "building the valid / quarantine frames",
            lambda: split(plan, {r.name for r in outcome.checks if r.rows_failed}, removed),
        )
        result = GateResult(
            gate=self.name,
            run_id=context.run_id,
            started_at=context.started_at,
            verdict=outcome.verdict,
            checks=outcome.checks,
            rows_in=counts.rows_in,
            rows_valid=counts.rows_in - removed,
            rows_quarantined=counts.rows_quarantined,
            rows_dropped=counts.rows_dropped,
            rows_failing_any=counts.rows_any,
            gate_threshold=outcome.gate_threshold,
            gate_tripped=outcome.gate_tripped,
            valid=outputs.valid,
            quarantine=outputs.quarantine,
            duration_s=time.perf_counter() - t0,
            _persisted=outputs.persisted,
            anomalies=outcome.anomalies,
            metrics=counts.metrics,
            value_sets=counts.value_sets,
            table=table,
            batch_id=batch_id,
            history=None if self.history is None else self.history.describe(),
        )
        self._record(df, result)
        if result.verdict.value == "failed":
            raise GateFailedError(result)
        return result

    def _past_runs(self, plan: RunPlan) -> list[PastRun]:
        """Earlier runs the anomaly checks need (none without anomaly checks: no job)."""
        if not self.anomalies or self.history is None:
            return []
        history = self.history
        context = plan.context
        recent, period = 0, None
        for anomaly in self.anomalies:
            runs, since = anomaly.strategy.lookback(anomaly.min_history)
            recent = max(recent, runs)
            if since is not None:
                period = since if period is None else max(period, since)
        query = HistoryQuery(
            gate=self.name,
            table=context.table,
            before=context.started_at,
            recent=recent,
            since=None if period is None else context.started_at - period,
        )
        try:
            return history.past_runs(plan.df.sparkSession, query)
        except GateError:  # pragma: no cover - histories raise no dq-gates error
            raise
        except Exception as exc:
            raise GateHistoryError(
                self.name,
                "history-read",
                f"reading earlier runs from the results history ({history.describe()}) failed: "
                f"{type(exc).__name__}: {exc}",
                None,
            ) from exc

    def _record(self, df: DataFrame, result: GateResult) -> None:
        """Append the run to the history, if the gate has one."""
        if self.history is None:
            return
        history = self.history
        try:
            history.append(df.sparkSession, history_row(result))
        except Exception as exc:
            raise GateHistoryError(
                self.name,
                "history-write",
                f"appending run {result.run_id} to the results history ({history.describe()}) "
                f"failed: {type(exc).__name__}: {exc}. The checks ran: error.result holds the "
                "full result (verdict "
                f"{result.verdict.value}).",
                result,
            ) from exc
