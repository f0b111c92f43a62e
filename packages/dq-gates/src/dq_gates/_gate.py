"""The gate: schema check, one aggregation for every count, then the valid / quarantine split."""

from __future__ import annotations

import datetime as dt
import time
import uuid
from collections.abc import Mapping
from functools import reduce
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pyspark.sql import functions as sf

from dq_gates._compile import CheckKind, CheckSpec, failure_expr, specs_from_schema
from dq_gates._config import GATE_KEY, ZERO_ROWS, Action, Threshold, Verdict, resolve
from dq_gates._result import (
    FAILED_CHECKS_COLUMN,
    GATE_COLUMN,
    QUARANTINED_AT_COLUMN,
    RUN_ID_COLUMN,
    CheckResult,
    GateResult,
    SchemaProblem,
)
from dq_gates.errors import GateConfigError, GateFailedError, GateSchemaError

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame

#: Hidden column holding how many rows share the row's unique key.
_DUP_COUNT = "_dq_dup_count"


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


class Gate:
    """A data-quality gate: pandera-declared rules, evaluated in one pass, with row actions.

    Args:
        name: Gate name (in results, quarantine rows and messages).
        schema: A ``pandera.pyspark.DataFrameSchema`` or ``DataFrameModel`` subclass. Columns'
            ``dtype`` and presence are checked first; ``nullable=False`` becomes a
            ``column.not_null`` check; ``unique=[...]`` (``Config.unique`` on a model) becomes a
            ``key.unique`` check.
        default_action: Action of checks no ``actions`` entry names.
        actions: Maps ``column`` or ``column.check`` to ``warn``, ``drop``, ``quarantine`` or
            ``fail`` (``column.check`` wins over ``column``).
        thresholds: Maps ``column``, ``column.check`` or ``"*"`` (rows failing any check) to a
            ``Threshold`` or ``{"max_rows": ..., "max_fraction": ...}``. A check whose failures
            exceed its threshold fails the gate, whatever its action; a ``fail`` check without
            one fails on its first failing row.

    Raises:
        GateConfigError: Unknown action, a key naming no check or column, a bad threshold, or a
            drop / quarantine action on a check only pandera can evaluate (no row flags).

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
    ) -> None:
        self.name = name
        self.schema = _as_schema(schema)
        self.default_action = Action.parse(default_action, f"gate {name!r}: default_action")
        self._specs = specs_from_schema(name, self.schema)
        known = {s.name for s in self._specs} | {s.column for s in self._specs if s.column}
        known |= set(self.schema.columns)
        self.actions = {
            key: Action.parse(value, f"gate {name!r}: actions[{key!r}]")
            for key, value in (actions or {}).items()
        }
        self.thresholds = {
            key: Threshold.parse(value, f"gate {name!r}: thresholds[{key!r}]")
            for key, value in (thresholds or {}).items()
        }
        for what, mapping, extra in (
            ("actions", self.actions, set()),
            ("thresholds", self.thresholds, {GATE_KEY}),
        ):
            unknown = sorted(set(mapping) - known - extra)
            if unknown:
                raise GateConfigError(
                    f"gate {name!r}: {what} key(s) {unknown} name no check or column; known: "
                    f"{sorted(known | extra)}"
                )
        self._action = {s.name: self._resolve_action(s) for s in self._specs}
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

    @classmethod
    def from_yaml(cls, path: str | Path) -> Gate:
        """Build a gate from a YAML file (format in the README).

        Raises:
            GateConfigError: The file is missing, is not YAML, or a key is wrong; the message
                names the file, the key and what is expected.
        """
        from dq_gates._yaml import gate_from_yaml

        return gate_from_yaml(cls, Path(path))

    @classmethod
    def from_dict(cls, config: Mapping[str, Any], *, source: str = "<dict>") -> Gate:
        """Build a gate from the same structure as the YAML file.

        Args:
            config: The mapping.
            source: Where it came from, for error messages.

        Raises:
            GateConfigError: A key is missing or wrong.
        """
        from dq_gates._yaml import gate_from_dict

        return gate_from_dict(cls, config, source)

    @property
    def check_names(self) -> list[str]:
        """Names (``column.check``) of every check, in the order results list them."""
        return [s.name for s in self._specs]

    def _resolve_action(self, spec: CheckSpec) -> Action:
        found = resolve(self.actions, spec.column, spec.check)
        return self.default_action if found is None else Action(found)

    def _threshold(self, spec: CheckSpec) -> Threshold | None:
        found = resolve(self.thresholds, spec.column, spec.check)
        if found is not None:
            return Threshold.parse(found, spec.name)
        return ZERO_ROWS if self._action[spec.name] is Action.FAIL else None

    def schema_problems(self, df: DataFrame) -> list[SchemaProblem]:
        """Missing columns, wrong types and (strict schemas) unexpected columns of ``df``.

        Needs no Spark job: only ``df.schema`` is read.
        """
        from pandera.engines.pyspark_engine import Engine

        actual = {f.name: f.dataType for f in df.schema.fields}
        problems: list[SchemaProblem] = []
        for name, column in self.schema.columns.items():
            expected = None if column.dtype is None else str(column.dtype)
            if name not in actual:
                if column.required:
                    problems.append(SchemaProblem(name, "missing", expected))
                continue
            if column.dtype is not None and not column.dtype.check(Engine.dtype(actual[name])):
                problems.append(SchemaProblem(name, "wrong_dtype", expected, str(actual[name])))
        problems.extend(
            SchemaProblem(key, "missing", "unique key column")
            for spec in self._specs
            for key in spec.keys
            if key not in actual and key not in self.schema.columns
        )
        if self.schema.strict is True:
            problems.extend(
                SchemaProblem(c, "unexpected", "no such column (strict schema)", str(actual[c]))
                for c in df.columns
                if c not in self.schema.columns
            )
        return problems

    def run(self, df: DataFrame) -> GateResult:
        """Check ``df`` and split it into valid and quarantined rows.

        Spark work: one aggregation job computes every count and sample (with a unique key it
        runs over a window partitioned by the key, so the data is read and shuffled once).
        ``valid`` / ``quarantine`` are lazy; when rows must be removed they read one persisted,
        flagged copy (``MEMORY_AND_DISK``) that ``GateResult.release()`` frees.

        Args:
            df: The DataFrame to check. Its own caching is left alone.

        Returns:
            The result (verdict ``passed`` or ``warned``).

        Raises:
            GateSchemaError: Columns are missing or have the wrong type (before any data check).
            GateFailedError: A limit tripped; ``error.result`` holds the full result.
        """
        started_at = dt.datetime.now(dt.UTC)
        t0 = time.perf_counter()
        run_id = uuid.uuid4().hex
        problems = self.schema_problems(df)
        if problems:
            raise GateSchemaError(self.name, problems)

        present = set(df.columns)
        specs = [s for s in self._specs if s.column is None or s.keys or s.column in present]
        row_specs = [s for s in specs if s.kind is not CheckKind.PANDERA]
        dtypes = {f.name: f.dataType for f in df.schema.fields}
        now = sf.lit(started_at).cast("timestamp")

        fails = {s.name: self._failure(s, dtypes, now) for s in row_specs}
        # Only the checked columns go through the key window's shuffle.
        needed = {s.column for s in row_specs} | {k for s in row_specs for k in s.keys}
        checked = df.select(*[sf.col(f"`{c}`") for c in df.columns if c in needed])
        base, pass_fails, in_pass = self._counting_plan(checked, row_specs, fails, dtypes)
        counts = self._aggregate(base, row_specs, pass_fails, in_pass)
        rows_in = int(counts["n"])
        later = [
            i
            for i, s in enumerate(row_specs)
            if _has_sample(s) and i not in in_pass and counts[f"f{i}"]
        ]
        if later:
            counts.update(self._later_samples(checked, row_specs, fails, later))

        results: list[CheckResult] = []
        for i, spec in enumerate(row_specs):
            failed = int(counts[f"f{i}"] or 0)
            sample = self._sample(spec, failed, counts.get(f"mn{i}"), counts.get(f"mx{i}"))
            results.append(self._check_result(spec, rows_in, failed, sample, None))
        results.extend(
            self._pandera_result(spec, df, rows_in)
            for spec in specs
            if spec.kind is CheckKind.PANDERA
        )
        order = {s.name: i for i, s in enumerate(specs)}
        results.sort(key=lambda r: order[r.name])

        rows_q = int(counts["q"] or 0)
        rows_d = int(counts["d"] or 0)
        rows_any = int(counts["any"] or 0)
        gate_threshold = self.thresholds.get(GATE_KEY)
        gate_tripped = bool(gate_threshold and gate_threshold.exceeded(rows_any, rows_in))
        if gate_tripped or any(r.tripped for r in results):
            verdict = Verdict.FAILED
        elif any(not r.passed for r in results):
            verdict = Verdict.WARNED
        else:
            verdict = Verdict.PASSED

        valid, quarantine, persisted = self._split(
            df,
            row_specs,
            results,
            dtypes,
            now,
            run_id=run_id,
            started_at=started_at,
            rows_removed=rows_q + rows_d,
        )
        result = GateResult(
            gate=self.name,
            run_id=run_id,
            started_at=started_at,
            verdict=verdict,
            checks=results,
            rows_in=rows_in,
            rows_valid=rows_in - rows_q - rows_d,
            rows_quarantined=rows_q,
            rows_dropped=rows_d,
            rows_failing_any=rows_any,
            gate_threshold=gate_threshold,
            gate_tripped=gate_tripped,
            valid=valid,
            quarantine=quarantine,
            duration_s=time.perf_counter() - t0,
            _persisted=persisted,
        )
        if verdict is Verdict.FAILED:
            raise GateFailedError(result)
        return result

    # -- the single pass -------------------------------------------------------------------

    def _counting_plan(
        self,
        checked: DataFrame,
        row_specs: list[CheckSpec],
        fails: Mapping[str, Column],
        dtypes: Mapping[str, Any],
    ) -> tuple[DataFrame, Mapping[str, Column], set[int]]:
        """The frame the counting aggregation reads, its failure tests, and in-pass samples."""
        unique = [s for s in row_specs if s.kind is CheckKind.UNIQUE]
        if unique:
            # Evaluate the row checks before the key window and pack their outcomes into bit
            # masks: the shuffle then carries the key plus one long per 62 checks, about what
            # a bare groupBy(key).count() shuffles, instead of every checked column.
            value_specs = [s for s in row_specs if s.kind is CheckKind.ROW]
            masks, unpacked = _pack(value_specs, fails)
            keys = [sf.col(f"`{k}`") for k in unique[0].keys]
            base = self._with_dup_count(checked.select(*keys, *masks), row_specs)
            pass_fails: Mapping[str, Column] = {**unpacked, unique[0].name: fails[unique[0].name]}
            in_pass = {row_specs.index(unique[0])}
        else:
            # Samples of fixed-width values ride in the aggregation; a string min / max there
            # would push Spark off its code-generated hash aggregate, so those come afterwards
            # from the failing rows only, and only for checks that failed.
            base, pass_fails = checked, fails
            in_pass = {
                i
                for i, s in enumerate(row_specs)
                if _has_sample(s) and _fixed_width(dtypes.get(s.column or ""))
            }
        return base, pass_fails, in_pass

    def _failure(self, spec: CheckSpec, dtypes: Mapping[str, Any], now: Column) -> Column:
        if spec.kind is CheckKind.UNIQUE:
            return sf.col(_DUP_COUNT) > 1
        return failure_expr(spec, dtypes.get(spec.column or ""), now)

    @staticmethod
    def _with_dup_count(df: DataFrame, specs: list[CheckSpec]) -> DataFrame:
        """Add how many rows share each row's key: one shuffle by key, no join back."""
        from pyspark.sql import Window

        unique = [s for s in specs if s.kind is CheckKind.UNIQUE]
        if not unique:
            return df
        window = Window.partitionBy(*[sf.col(f"`{k}`") for k in unique[0].keys])
        return df.withColumn(_DUP_COUNT, sf.count(sf.lit(1)).over(window))

    @staticmethod
    def _with_duplicate_marks(df: DataFrame, specs: list[CheckSpec]) -> DataFrame:
        """Mark the rows whose key is duplicated, joining the set of duplicated keys.

        For the split, where whole rows are kept: a key window over the input would shuffle
        and sort every column of every row, while the duplicated keys are few (or the gate
        has already failed). The keys are counted by a window over the key columns alone and
        the duplicated ones joined back (null-safe, as the window groups NULL keys together);
        Spark broadcasts that set when it is small.
        """
        unique = [s for s in specs if s.kind is CheckKind.UNIQUE]
        if not unique:
            return df
        keys = unique[0].keys
        renamed = [sf.col(f"`{k}`").alias(f"_dq_key{i}") for i, k in enumerate(keys)]
        from pyspark.sql import Window

        key_columns = [f"_dq_key{i}" for i in range(len(keys))]
        # A window over the key columns alone, then a groupBy of the few duplicated rows:
        # measured about a third faster than a groupBy(key).count() over every row at 5M keys.
        duplicated = (
            df.select(*renamed)
            .withColumn(_DUP_COUNT, sf.count(sf.lit(1)).over(Window.partitionBy(*key_columns)))
            .filter(sf.col(_DUP_COUNT) > 1)
            .groupBy(*key_columns)
            .agg(sf.max(_DUP_COUNT).alias(_DUP_COUNT))
        )
        condition = reduce(
            lambda a, b: a & b,
            [sf.col(f"`{k}`").eqNullSafe(sf.col(f"_dq_key{i}")) for i, k in enumerate(keys)],
        )
        joined = df.join(duplicated, condition, "left")
        return joined.withColumn(_DUP_COUNT, sf.coalesce(sf.col(_DUP_COUNT), sf.lit(1)))

    def _row_flags(
        self, specs: list[CheckSpec], fails: Mapping[str, Column]
    ) -> tuple[Column, Column, Column]:
        """(any check failed, a quarantine check failed, a drop check failed but no quarantine)."""

        def any_of(action: Action | None) -> Column:
            cols = [
                fails[s.name] for s in specs if action is None or self._action[s.name] is action
            ]
            return reduce(lambda a, b: a | b, cols) if cols else sf.lit(False)

        quarantined = any_of(Action.QUARANTINE)
        return any_of(None), quarantined, any_of(Action.DROP) & ~quarantined

    def _later_samples(
        self,
        checked: DataFrame,
        specs: list[CheckSpec],
        fails: Mapping[str, Column],
        indexes: list[int],
    ) -> dict[str, Any]:
        """Failing values of the given checks, read from the first failing rows found.

        A ``limit`` query: Spark stops reading each partition as soon as it has found enough
        failing rows, so on data where a check fails often this reads a small part of the
        input instead of all of it. Checks with no failing row among those (rare failures
        behind frequent ones) get their smallest and largest failing value from a full pass
        over the failing rows.
        """
        any_fail = reduce(lambda a, b: a | b, [fails[specs[i].name] for i in indexes])
        picked = [
            sf.when(fails[specs[i].name], self._value(specs[i])).alias(f"s{i}") for i in indexes
        ]
        found: dict[str, Any] = {}
        missing = []
        rows = checked.filter(any_fail).select(*picked).limit(_SAMPLE_ROWS).collect()
        for i in indexes:
            seen: list[Any] = []
            for row in rows:
                value = row[f"s{i}"]
                if value is not None and not any(_same(value, v) for v in seen):
                    seen.append(value)
                if len(seen) == 2:
                    break
            if seen:
                found[f"mn{i}"], found[f"mx{i}"] = seen[0], seen[-1]
            else:
                missing.append(i)
        if missing:
            aggs = []
            for i in missing:
                failing_value = sf.when(fails[specs[i].name], self._value(specs[i]))
                aggs += [
                    sf.min(failing_value).alias(f"mn{i}"),
                    sf.max(failing_value).alias(f"mx{i}"),
                ]
            failing = reduce(lambda a, b: a | b, [fails[specs[i].name] for i in missing])
            found.update(checked.filter(failing).agg(*aggs).collect()[0].asDict())
        return found

    def _aggregate(
        self,
        base: DataFrame,
        specs: list[CheckSpec],
        fails: Mapping[str, Column],
        in_pass: set[int],
    ) -> dict[str, Any]:
        """Every count, and the fixed-width samples, in one aggregation over one projection."""
        any_fail, quarantined, dropped = self._row_flags(specs, fails)
        projected = [
            *[fails[s.name].alias(f"_dq_f{i}") for i, s in enumerate(specs)],
            *[self._value(s).alias(f"_dq_v{i}") for i, s in enumerate(specs) if i in in_pass],
            any_fail.alias("_dq_any"),
            quarantined.alias("_dq_q"),
            dropped.alias("_dq_d"),
        ]
        flagged = base.select(*projected)

        def count_true(name: str) -> Column:
            return sf.sum(sf.when(sf.col(name), 1).otherwise(0))

        aggs = [sf.count(sf.lit(1)).alias("n")]
        for i in range(len(specs)):
            aggs.append(count_true(f"_dq_f{i}").alias(f"f{i}"))
            if i in in_pass:
                failing_value = sf.when(sf.col(f"_dq_f{i}"), sf.col(f"_dq_v{i}"))
                aggs += [
                    sf.min(failing_value).alias(f"mn{i}"),
                    sf.max(failing_value).alias(f"mx{i}"),
                ]
        aggs += [count_true("_dq_any").alias("any"), count_true("_dq_q").alias("q")]
        aggs.append(count_true("_dq_d").alias("d"))
        row = flagged.agg(*aggs).collect()[0]
        return row.asDict()

    @staticmethod
    def _value(spec: CheckSpec) -> Column:
        if spec.keys:
            if len(spec.keys) == 1:
                return sf.col(f"`{spec.keys[0]}`")
            return sf.struct(*[sf.col(f"`{k}`") for k in spec.keys])
        return sf.col(f"`{spec.column}`")

    @staticmethod
    def _sample(spec: CheckSpec, failed: int, low: Any, high: Any) -> list[Any]:
        if not failed:
            return []
        if not _has_sample(spec):
            return [None]
        values = [low] if _same(low, high) else [low, high]
        return [v.asDict() if hasattr(v, "asDict") else v for v in values]

    def _check_result(
        self,
        spec: CheckSpec,
        rows_in: int,
        failed: int | None,
        sample: list[Any],
        message: str | None,
    ) -> CheckResult:
        action = self._action[spec.name]
        threshold = self._threshold(spec)
        if failed is None:
            tripped = message is not None and action is Action.FAIL
        else:
            tripped = threshold is not None and threshold.exceeded(failed, rows_in)
        evaluated_by = {"udf": "udf", "pandera": "pandera"}.get(spec.builtin, "spark")
        return CheckResult(
            column=spec.column,
            check=spec.check,
            action=action,
            rows_checked=rows_in,
            rows_failed=failed,
            sample=sample,
            threshold=threshold,
            tripped=tripped,
            evaluated_by=evaluated_by,
            message=message,
        )

    def _pandera_result(self, spec: CheckSpec, df: DataFrame, rows_in: int) -> CheckResult:
        """Run one custom check through pandera's own PySpark validation."""
        import pandera.pyspark as pa

        if spec.column is None:
            schema = pa.DataFrameSchema(checks=[spec.pandera_check], name=self.name)
        else:
            column = pa.Column(checks=[spec.pandera_check], nullable=True)
            schema = pa.DataFrameSchema({spec.column: column}, name=self.name)
        try:
            validated: Any = schema.validate(df)
            errors = dict(validated.pandera.errors)
            messages = [
                str(entry.get("error"))
                for category in errors.values()
                for entries in category.values()
                for entry in entries
            ]
            message = "; ".join(messages) if messages else None
        except Exception as exc:  # pandera re-raises TypeError from a check function
            message = f"{type(exc).__name__}: {exc}"
        return self._check_result(spec, rows_in, None, [], message)

    # -- the split --------------------------------------------------------------------------

    def _split(
        self,
        df: DataFrame,
        specs: list[CheckSpec],
        results: list[CheckResult],
        dtypes: Mapping[str, Any],
        now: Column,
        *,
        run_id: str,
        started_at: dt.datetime,
        rows_removed: int,
    ) -> tuple[DataFrame, DataFrame, DataFrame | None]:
        """Build ``valid`` and ``quarantine``; persist a flagged copy only if rows go away."""
        from pyspark import StorageLevel

        columns = [sf.col(f"`{c}`") for c in df.columns]
        failed = {r.name for r in results if r.rows_failed}
        # Checks no row failed cannot flag a row: leave them (and the key window) out. With no
        # row to remove, valid is the input itself and quarantine an empty frame: no extra job.
        live = [s for s in specs if s.name in failed] if rows_removed else []
        base = self._with_duplicate_marks(df, live)
        fails = {s.name: self._failure(s, dtypes, now) for s in live}
        # The persisted copy holds the input's columns plus the failed checks packed into bit
        # masks (one long per 62 checks): building an array of check names for every row, and
        # caching it, cost more than the rest of the split (measured at 5M rows). The names
        # are unpacked only for the quarantined rows.
        masks, unpacked = _pack(live, fails)
        flagged = base.select(*columns, *masks)
        persisted = None
        if rows_removed:
            persisted = flagged.persist(StorageLevel.MEMORY_AND_DISK)
            flagged = persisted
        _, quarantined, dropped = self._row_flags(live, unpacked)
        names = sf.array(*[sf.when(unpacked[s.name], sf.lit(s.name)) for s in live])
        failed_checks = (
            sf.filter(names, lambda x: x.isNotNull()) if live else sf.array().cast("array<string>")
        )
        if rows_removed:
            valid = flagged.filter(~quarantined & ~dropped).select(*columns)
        else:
            valid = df
            flagged = flagged.filter(sf.lit(False))
        quarantine = flagged.filter(quarantined).select(
            *columns,
            failed_checks.alias(FAILED_CHECKS_COLUMN),
            sf.lit(self.name).alias(GATE_COLUMN),
            sf.lit(run_id).alias(RUN_ID_COLUMN),
            sf.lit(started_at).cast("timestamp").alias(QUARANTINED_AT_COLUMN),
        )
        return valid, quarantine, persisted


_MASK_BITS = 62
#: Failing rows the sampling query reads (it stops early once it has this many).
_SAMPLE_ROWS = 200


def _pack(
    specs: list[CheckSpec], fails: Mapping[str, Column]
) -> tuple[list[Column], dict[str, Column]]:
    """Bit-mask columns holding every check's outcome, and per check its test on the masks."""
    masks: list[Column] = []
    unpacked: dict[str, Column] = {}
    for start in range(0, len(specs), _MASK_BITS):
        name = f"_dq_mask{start // _MASK_BITS}"
        chunk = specs[start : start + _MASK_BITS]
        bits = [
            sf.when(fails[s.name], sf.lit(1 << b)).otherwise(sf.lit(0)).cast("long")
            for b, s in enumerate(chunk)
        ]
        masks.append(reduce(lambda a, b: a + b, bits).alias(name))
        for b, s in enumerate(chunk):
            unpacked[s.name] = sf.col(name).bitwiseAND(sf.lit(1 << b)) != 0
    return masks, unpacked


def _fixed_width(dtype: Any) -> bool:
    """Whether Spark keeps a min / max of this type in its fast fixed-width aggregation buffer."""
    from pyspark.sql import types as st

    fixed = (
        st.BooleanType,
        st.ByteType,
        st.ShortType,
        st.IntegerType,
        st.LongType,
        st.FloatType,
        st.DoubleType,
        st.DateType,
        st.TimestampType,
        st.TimestampNTZType,
    )
    if isinstance(dtype, st.DecimalType):
        # Spark stores decimals of up to 18 digits in a long.
        return dtype.precision <= 18
    return isinstance(dtype, fixed)


def _has_sample(spec: CheckSpec) -> bool:
    return spec.builtin != "not_null"


def _same(a: Any, b: Any) -> bool:
    try:
        return bool(a == b) or (a != a and b != b)  # noqa: PLR0124 - NaN equals itself here
    except Exception:  # pragma: no cover - exotic values that refuse comparison
        return False
