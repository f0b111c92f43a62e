"""Gates from YAML (or the same structure as a dict), so an app configures gates without code.

The structure is validated by a pydantic model: every key's type is checked (``strict:
"false"`` is a string, not a boolean), unknown keys are refused, and every problem is reported
at once, each with its key path (``columns.amount.checks[1]``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    StrictBool,
    StrictInt,
    StrictStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from dq_gates._anomaly import STRATEGIES, AnomalyCheck, Strategy, ValueSetChange
from dq_gates._compile import COMPILED_CHECKS
from dq_gates._config import Action
from dq_gates.errors import GateCheckTypeError, GateConfigError

if TYPE_CHECKING:
    from dq_gates._gate import Gate
    from dq_gates._history import History

_ALIASES = {
    "eq": "equal_to",
    "ne": "not_equal_to",
    "gt": "greater_than",
    "ge": "greater_than_or_equal_to",
    "lt": "less_than",
    "le": "less_than_or_equal_to",
    "between": "in_range",
}
_LIST_ARG = {"isin", "notin"}
_EXTRA = {"not_in_future"}
_SIMPLE_TYPES = {
    "string": "StringType",
    "long": "LongType",
    "bigint": "LongType",
    "int": "IntegerType",
    "integer": "IntegerType",
    "short": "ShortType",
    "smallint": "ShortType",
    "byte": "ByteType",
    "tinyint": "ByteType",
    "double": "DoubleType",
    "float": "FloatType",
    "boolean": "BooleanType",
    "date": "DateType",
    "timestamp": "TimestampType",
    "timestamp_ntz": "TimestampNTZType",
    "binary": "BinaryType",
}


def _problem(message: str) -> PydanticCustomError:
    """A validation error whose message is ours, word for word."""
    return PydanticCustomError("dq_gates", message)


def _dtype(name: str) -> Any:
    """A Spark type from its SQL name (``string``, ``bigint``/``long``, ``decimal(10,2)``...)."""
    from pyspark.sql import types as st

    text = name.strip().lower()
    if text in _SIMPLE_TYPES:
        return getattr(st, _SIMPLE_TYPES[text])()
    match = re.fullmatch(r"decimal\(\s*(\d+)\s*,\s*(\d+)\s*\)", text)
    if match:
        return st.DecimalType(int(match.group(1)), int(match.group(2)))
    raise _problem(
        f"unknown dtype {name!r}; expected one of {sorted(_SIMPLE_TYPES)} or decimal(p,s)"
    )


def _checked_dtype(name: str | None) -> str | None:
    if name is not None:
        _dtype(name)
    return name


def _check(spec: object) -> Any:
    """A pandera check from ``name`` or ``{name: args}`` (mapping: keywords; list: positional)."""
    import pandera.pyspark as pa

    from dq_gates.checks import not_in_future

    if isinstance(spec, str):
        name, args = spec, None
    elif isinstance(spec, Mapping) and len(spec) == 1:
        name, args = next(iter(spec.items()))
    else:
        raise _problem(
            f"expected a check name or a one-key mapping {{check_name: arguments}}, got {spec!r}"
        )
    known = sorted([*COMPILED_CHECKS, *_ALIASES, *_EXTRA])
    builtin = _ALIASES.get(str(name), str(name))
    if builtin not in COMPILED_CHECKS and builtin not in _EXTRA:
        raise _problem(f"unknown check {name!r}; expected one of {known}")
    if builtin == "not_in_future":
        if args not in (None, True, {}):
            raise _problem(f"not_in_future takes no arguments, got {args!r}")
        return not_in_future()
    factory = getattr(pa.Check, builtin)
    try:
        if isinstance(args, Mapping):
            return factory(**args)
        if isinstance(args, list) and builtin not in _LIST_ARG:
            return factory(*args)
        if args is None:
            return factory()
        return factory(args)
    except (TypeError, ValueError) as exc:
        raise _problem(f"check {name!r} rejects arguments {args!r}: {exc}") from None


def _action(value: str) -> Action:
    try:
        return Action.parse(value, "")
    except GateConfigError:
        raise _problem(f"action {value!r} is not one of: warn, drop, quarantine, fail") from None


def _strategy(spec: object) -> Strategy:
    """A strategy from ``{kind: {parameter: value}}`` (or a bare kind name)."""
    params: object
    if isinstance(spec, str):
        kind, params = spec, None
    elif isinstance(spec, Mapping) and len(spec) == 1:
        kind, params = next(iter(spec.items()))
    else:
        raise _problem(
            f"expected a one-key mapping {{strategy: {{parameter: value}}}}, got {spec!r}"
        )
    if kind not in STRATEGIES:
        raise _problem(f"unknown strategy {kind!r}; expected one of {sorted(STRATEGIES)}")
    if params is None:
        params = {}
    if not isinstance(params, Mapping):
        raise _problem(f"{kind}: expected a mapping of parameters, got {params!r}")
    try:
        return STRATEGIES[kind](**params)
    except TypeError as exc:
        raise _problem(f"{kind} rejects parameters {dict(params)!r}: {exc}") from None
    except GateConfigError as exc:
        raise _problem(str(exc)) from None


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True)


class _Threshold(_Model):
    max_rows: StrictInt | None = Field(default=None, ge=0)
    max_fraction: Any = None

    @field_validator("max_fraction")
    @classmethod
    def _fraction(cls, value: Any) -> Any:
        if value is None:
            return value
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
            raise _problem(f"must be a number between 0 and 1, got {value!r}")
        return value

    @model_validator(mode="after")
    def _some_limit(self) -> _Threshold:
        if self.max_rows is None and self.max_fraction is None:
            raise _problem("a threshold needs max_rows, max_fraction or both")
        return self


class _Column(_Model):
    dtype: Annotated[StrictStr | None, AfterValidator(_checked_dtype)] = None
    nullable: StrictBool = False
    required: StrictBool = True
    checks: list[Annotated[Any, AfterValidator(_check)]] = Field(default_factory=list)


class _Anomaly(_Model):
    metric: StrictStr
    column: StrictStr | None = None
    strategy: Annotated[Any, AfterValidator(_strategy)] = None
    action: StrictStr | None = None
    min_history: StrictInt | None = None
    name: StrictStr | None = None

    _check: AnomalyCheck | None = PrivateAttr(default=None)

    @model_validator(mode="after")
    def _build(self) -> _Anomaly:
        strategy = self.strategy
        if strategy is None:
            if self.metric != "value_set":
                raise _problem("missing required key 'strategy'")
            strategy = ValueSetChange()
        try:
            self._check = AnomalyCheck(
                self.metric,
                self.column,
                strategy=strategy,
                action=self.action,
                min_history=self.min_history,
                name=self.name,
            )
        except GateConfigError as exc:
            raise _problem(str(exc)) from None
        return self

    @property
    def check(self) -> AnomalyCheck:
        """The anomaly check this entry declares."""
        assert self._check is not None
        return self._check


class _History(_Model):
    path: StrictStr | None = None
    table: StrictStr | None = None
    format: StrictStr = "delta"
    options: dict[StrictStr, StrictStr] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _one_location(self) -> _History:
        if (self.path is None) == (self.table is None):
            raise _problem("set exactly one of path (a folder) or table (a catalog name)")
        return self


class _GateConfig(_Model):
    name: Any
    default_action: Annotated[StrictStr, AfterValidator(_action)] = "fail"
    columns: dict[str, _Column | None]
    unique: Any = None
    strict: StrictBool = False
    actions: dict[str, Annotated[StrictStr, AfterValidator(_action)]] = Field(default_factory=dict)
    thresholds: dict[str, _Threshold] = Field(default_factory=dict)
    anomalies: list[_Anomaly] = Field(default_factory=list)
    history: _History | None = None

    @field_validator("name")
    @classmethod
    def _name(cls, value: Any) -> Any:
        if not isinstance(value, str) or not value:
            raise _problem(f"'name' must be a non-empty string, got {value!r}")
        return value

    @field_validator("unique")
    @classmethod
    def _unique(cls, value: Any) -> Any:
        if value is None or isinstance(value, str):
            return value
        if isinstance(value, list) and all(isinstance(u, str) for u in value):
            return value
        raise _problem(f"expected a column name or a list of them, got {value!r}")


#: Model at a key path (dict keys and list indexes skipped), for "allowed keys" hints.
_MODELS_AT: dict[tuple[str, ...], type[BaseModel]] = {
    (): _GateConfig,
    ("columns",): _Column,
    ("thresholds",): _Threshold,
    ("anomalies",): _Anomaly,
    ("history",): _History,
}


#: Fields holding a mapping or list whose next path part is a key or an index.
_KEYED = {"columns", "thresholds", "actions", "options", "anomalies", "checks"}


def _path(loc: tuple[int | str, ...]) -> str:
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text


def _model_at(loc: tuple[int | str, ...]) -> type[BaseModel]:
    """The model validating the mapping at ``loc`` (dict keys and list indexes skipped)."""
    fields: list[str] = []
    model: type[BaseModel] | None = _GateConfig
    skip = False
    for part in loc:
        if skip:  # a mapping key or a list index
            skip = False
        elif model is not None and isinstance(part, str) and part in model.model_fields:
            fields.append(part)
            model = _MODELS_AT.get(tuple(fields))
            skip = part in _KEYED
    return model or _GateConfig


#: pydantic error type -> our message ({got}: type and value given; {value}: value given).
_MESSAGES = {
    "dict_type": "expected a mapping, {got}",
    "model_type": "expected a mapping, {got}",
    "model_attributes_type": "expected a mapping, {got}",
    "list_type": "expected a list, {got}",
    "bool_type": "expected true or false, got {value}",
    "string_type": "expected a string, {got}",
    "int_type": "expected an integer, got {value}",
    "greater_than_equal": "must be >= {ge}, got {value}",
}


def _describe(error: Any) -> tuple[str, str]:
    """(key path, message) for one pydantic error, in dq-gates' words."""
    loc = tuple(error["loc"])
    kind = error["type"]
    given = error.get("input")
    if kind == "missing":
        return _path(loc[:-1]), f"missing required key {loc[-1]!r}"
    if kind == "dq_gates":
        return _path(loc), str(error["msg"])
    template = _MESSAGES.get(kind, "{msg}, got {value}")
    message = template.format(
        got=f"got {type(given).__name__} {given!r}",
        value=repr(given),
        msg=error["msg"],
        ge=(error.get("ctx") or {}).get("ge"),
    )
    return _path(loc), message


def _problems(exc: ValidationError) -> list[str]:
    """Every problem as ``path: message``, unknown keys grouped per mapping."""
    lines: list[str] = []
    unknown: dict[tuple[int | str, ...], list[str]] = {}
    for error in exc.errors():
        loc = tuple(error["loc"])
        if error["type"] == "extra_forbidden":
            unknown.setdefault(loc[:-1], []).append(str(loc[-1]))
            continue
        path, message = _describe(error)
        lines.append(f"{path}: {message}" if path else message)
    for parent, keys in unknown.items():
        allowed = sorted(_model_at(parent).model_fields)
        message = f"unknown key(s) {sorted(keys)}; allowed: {allowed}"
        lines.append(f"{_path(parent)}: {message}" if parent else message)
    return lines


def _config_error(source: str, problems: list[str]) -> GateConfigError:
    if len(problems) == 1:
        return GateConfigError(f"{source}: {problems[0]}")
    lines = [f"{source}: {len(problems)} problems in the gate configuration:"]
    lines.extend(f"  - {p}" for p in problems)
    return GateConfigError("\n".join(lines))


def gate_from_dict(
    cls: type[Gate], config: Mapping[str, Any], source: str, *, history: History | None = None
) -> Gate:
    """Build a gate from a mapping; every error names ``source`` and the key at fault.

    Raises:
        GateConfigError: Missing ``name`` / ``columns``, unknown keys, values of the wrong
            type or out of range: all of them in one error, one line per problem.
    """
    import pandera.pyspark as pa

    from dq_gates._history import ResultsHistory

    if not isinstance(config, Mapping):
        raise GateConfigError(
            f"{source}: expected a mapping, got {type(config).__name__} {config!r}"
        )
    try:
        parsed = _GateConfig.model_validate(dict(config))
    except ValidationError as exc:
        raise _config_error(source, _problems(exc)) from None
    columns = {
        str(name): pa.Column(
            None if spec is None or spec.dtype is None else _dtype(spec.dtype),
            checks=[] if spec is None else spec.checks,
            nullable=False if spec is None else spec.nullable,
            required=True if spec is None else spec.required,
        )
        for name, spec in parsed.columns.items()
    }
    schema = pa.DataFrameSchema(
        columns, unique=parsed.unique, strict=parsed.strict, name=parsed.name
    )
    if history is None and parsed.history is not None:
        history = ResultsHistory(
            parsed.history.path,
            table=parsed.history.table,
            format=parsed.history.format,
            options=parsed.history.options,
        )
    try:
        return cls(
            parsed.name,
            schema,
            default_action=parsed.default_action,
            actions=parsed.actions,
            thresholds={k: v.model_dump() for k, v in parsed.thresholds.items()},
            anomalies=[a.check for a in parsed.anomalies],
            history=history,
        )
    except GateCheckTypeError:
        raise
    except GateConfigError as exc:
        raise GateConfigError(f"{source}: {exc}") from None


def gate_from_yaml(cls: type[Gate], path: Path, *, history: History | None = None) -> Gate:
    """Read ``path`` and build the gate.

    Raises:
        GateConfigError: Unreadable file, invalid YAML, or wrong keys.
    """
    import yaml

    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise GateConfigError(f"{path}: cannot read gate configuration ({exc})") from None
    try:
        config = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise GateConfigError(f"{path}: not valid YAML ({exc})") from None
    return gate_from_dict(cls, config if config is not None else {}, str(path), history=history)
