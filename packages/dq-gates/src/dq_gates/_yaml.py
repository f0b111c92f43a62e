"""Gates from YAML (or the same structure as a dict), so an app configures gates without code."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dq_gates._compile import COMPILED_CHECKS
from dq_gates.errors import GateConfigError

if TYPE_CHECKING:
    from dq_gates._gate import Gate

_TOP_KEYS = {"name", "default_action", "columns", "unique", "strict", "actions", "thresholds"}
_COLUMN_KEYS = {"dtype", "nullable", "required", "checks"}
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


def _dtype(name: object, where: str) -> Any:
    """A Spark type from its SQL name (``string``, ``bigint``/``long``, ``decimal(10,2)``...)."""
    from pyspark.sql import types as st

    simple: dict[str, Any] = {
        "string": st.StringType,
        "long": st.LongType,
        "bigint": st.LongType,
        "int": st.IntegerType,
        "integer": st.IntegerType,
        "short": st.ShortType,
        "smallint": st.ShortType,
        "byte": st.ByteType,
        "tinyint": st.ByteType,
        "double": st.DoubleType,
        "float": st.FloatType,
        "boolean": st.BooleanType,
        "date": st.DateType,
        "timestamp": st.TimestampType,
        "timestamp_ntz": st.TimestampNTZType,
        "binary": st.BinaryType,
    }
    text = str(name).strip().lower()
    if text in simple:
        return simple[text]()
    match = re.fullmatch(r"decimal\(\s*(\d+)\s*,\s*(\d+)\s*\)", text)
    if match:
        return st.DecimalType(int(match.group(1)), int(match.group(2)))
    raise GateConfigError(
        f"{where}: unknown dtype {name!r}; expected one of {sorted(simple)} or decimal(p,s)"
    )


def _check(spec: object, where: str) -> Any:
    """A pandera check from ``name`` or ``{name: args}`` (mapping: keywords; list: positional)."""
    import pandera.pyspark as pa

    from dq_gates.checks import not_in_future

    if isinstance(spec, str):
        name, args = spec, None
    elif isinstance(spec, Mapping) and len(spec) == 1:
        name, args = next(iter(spec.items()))
    else:
        raise GateConfigError(
            f"{where}: expected a check name or a one-key mapping {{check_name: arguments}}, "
            f"got {spec!r}"
        )
    known = sorted([*COMPILED_CHECKS, *_ALIASES, *_EXTRA])
    builtin = _ALIASES.get(str(name), str(name))
    if builtin not in COMPILED_CHECKS and builtin not in _EXTRA:
        raise GateConfigError(f"{where}: unknown check {name!r}; expected one of {known}")
    if builtin == "not_in_future":
        if args not in (None, True, {}):
            raise GateConfigError(f"{where}: not_in_future takes no arguments, got {args!r}")
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
        raise GateConfigError(
            f"{where}: check {name!r} rejects arguments {args!r}: {exc}"
        ) from None


def _mapping(value: object, where: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise GateConfigError(f"{where}: expected a mapping, got {type(value).__name__} {value!r}")
    return value


def _unknown_keys(value: Mapping[str, Any], allowed: set[str], where: str) -> None:
    unknown = sorted(set(map(str, value)) - allowed)
    if unknown:
        raise GateConfigError(f"{where}: unknown key(s) {unknown}; allowed: {sorted(allowed)}")


def gate_from_dict(cls: type[Gate], config: Mapping[str, Any], source: str) -> Gate:
    """Build a gate from a mapping; every error names ``source`` and the key at fault.

    Raises:
        GateConfigError: Missing ``name`` / ``columns``, unknown keys, bad values.
    """
    import pandera.pyspark as pa

    config = _mapping(config, source)
    _unknown_keys(config, _TOP_KEYS, source)
    for required in ("name", "columns"):
        if required not in config:
            raise GateConfigError(f"{source}: missing required key {required!r}")
    name = config["name"]
    if not isinstance(name, str) or not name:
        raise GateConfigError(f"{source}: 'name' must be a non-empty string, got {name!r}")
    columns: dict[str, Any] = {}
    for column, raw in _mapping(config["columns"], f"{source}: columns").items():
        where = f"{source}: columns.{column}"
        spec = _mapping(raw or {}, where)
        _unknown_keys(spec, _COLUMN_KEYS, where)
        checks_raw = spec.get("checks") or []
        if not isinstance(checks_raw, list):
            raise GateConfigError(f"{where}.checks: expected a list, got {checks_raw!r}")
        checks = [_check(c, f"{where}.checks[{i}]") for i, c in enumerate(checks_raw)]
        for flag in ("nullable", "required"):
            if flag in spec and not isinstance(spec[flag], bool):
                raise GateConfigError(f"{where}.{flag}: expected true or false, got {spec[flag]!r}")
        columns[str(column)] = pa.Column(
            _dtype(spec["dtype"], f"{where}.dtype") if "dtype" in spec else None,
            checks=checks,
            nullable=spec.get("nullable", False),
            required=spec.get("required", True),
        )
    unique = config.get("unique")
    if unique is not None and not (
        isinstance(unique, str)
        or (isinstance(unique, list) and all(isinstance(u, str) for u in unique))
    ):
        raise GateConfigError(
            f"{source}: unique: expected a column name or a list of them, got {unique!r}"
        )
    schema = pa.DataFrameSchema(
        columns, unique=unique, strict=bool(config.get("strict", False)), name=name
    )
    actions = _mapping(config.get("actions") or {}, f"{source}: actions")
    thresholds = _mapping(config.get("thresholds") or {}, f"{source}: thresholds")
    try:
        return cls(
            name,
            schema,
            default_action=config.get("default_action", "fail"),
            actions=actions,
            thresholds=thresholds,
        )
    except GateConfigError as exc:
        raise GateConfigError(f"{source}: {exc}") from None


def gate_from_yaml(cls: type[Gate], path: Path) -> Gate:
    """Read ``path`` and build the gate.

    Raises:
        GateConfigError: Unreadable file, invalid YAML, or a wrong key.
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
    return gate_from_dict(cls, config if config is not None else {}, str(path))
