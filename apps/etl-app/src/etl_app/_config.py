"""Configuration: bundled defaults <- YAML file <- the file's per-env overlay, validated on load.

The merged mapping is validated by pydantic against the frozen dataclasses below (strict
scalars: ``true`` is not an integer, ``1`` is not a boolean); every problem is reported at once
as one line naming its key path (``metrics.pushgateway.timeout_s: expected a number, got
'soon'``). Secrets never live in the file; where one is needed the file names the environment
variable to read.
"""

from __future__ import annotations

import copy
import dataclasses
import re
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BeforeValidator,
    ConfigDict,
    StrictBool,
    StrictFloat,
    StrictInt,
    StrictStr,
    TypeAdapter,
    ValidationError,
)
from pydantic_core import PydanticCustomError

from etl_app._resources import resource_path
from etl_app._storage import is_uri, resolve
from etl_app.errors import ConfigError
from etl_metrics import GroupingKeyError, validate_grouping_key

DriftPolicy = Literal["warn", "fail", "evolve"]
LogFormat = Literal["console", "json"]
SourceFormat = Literal["csv", "json"]

DEFAULT_CONFIG = "config/defaults.yaml"
ENVS_KEY = "envs"
#: Every config section refuses keys it does not declare.
_SECTION = ConfigDict(extra="forbid")


def _string_map(value: Any) -> dict[str, str]:
    """Accept a mapping of names to scalars; YAML numbers and booleans become Spark's strings."""
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, str | int | float | bool) for k, v in value.items()
    ):
        raise PydanticCustomError("string_map", "expected a mapping of strings to strings")
    return {k: str(v).lower() if isinstance(v, bool) else str(v) for k, v in value.items()}


StringMap = Annotated[dict[str, str], BeforeValidator(_string_map)]


def _connect_url(value: Any) -> Any:
    """Accept ``sc://host:port`` without a token: the token is a secret, read from the env."""
    if isinstance(value, str):
        if not value.startswith("sc://"):
            raise PydanticCustomError("connect_url", "expected a Spark Connect URL")
        if "token=" in value:
            # Its own type: the loader's message must not echo the value (a secret).
            raise PydanticCustomError(
                "secret_in_file",
                "holds a token (not shown); put it in the environment variable "
                "SPARK_CONNECT_AUTHENTICATE_TOKEN instead of the file",
            )
    return value


ConnectUrl = Annotated[StrictStr, BeforeValidator(_connect_url)]


@dataclass(frozen=True)
class JobConfig:
    """Job identity used in metric labels, logs and Delta commit metadata.

    Attributes:
        name: Job name (metric label ``job``, Delta app id prefix).
        env: Environment name (metric label ``env``); set from ``--env``.
    """

    __pydantic_config__ = _SECTION

    name: StrictStr = "etl-app"
    env: StrictStr = "local"


@dataclass(frozen=True)
class SparkConfig:
    """How the app starts Spark when it is not handed a session.

    Attributes:
        master: Spark master URL, e.g. ``local[2]`` or ``local[*]``.
        app_name: Spark application name.
        shuffle_partitions: ``spark.sql.shuffle.partitions``.
        driver_memory: ``spark.driver.memory``.
        conf: Further Spark settings, applied last.
        remote: A Spark Connect server (``sc://host:port``) to run against instead of
            starting Spark here; ``master`` and ``driver_memory`` are then the server's
            business. Its token, if any, comes from ``SPARK_CONNECT_AUTHENTICATE_TOKEN``.
    """

    __pydantic_config__ = _SECTION

    master: StrictStr = "local[2]"
    app_name: StrictStr = "etl-app"
    shuffle_partitions: StrictInt = 4
    driver_memory: StrictStr = "2g"
    conf: StringMap = field(default_factory=dict)
    remote: ConnectUrl | None = None


@dataclass(frozen=True)
class SourceConfig:
    """One raw source: which files in the input folder belong to it and how to read them.

    Attributes:
        pattern: Glob (relative to ``input.dir``) selecting the source's files; each file is
            one batch, processed in name order.
        format: ``csv`` (with header) or ``json`` (JSON lines).
    """

    __pydantic_config__ = _SECTION

    pattern: StrictStr
    format: SourceFormat


@dataclass(frozen=True)
class InputConfig:
    """Where raw files come from.

    Attributes:
        dir: Input folder; relative paths resolve against the config file's folder; empty means
            the sample data bundled with the package.
        customers: The customers source.
        orders: The orders source.
    """

    __pydantic_config__ = _SECTION

    dir: StrictStr | None = None
    customers: SourceConfig = field(default_factory=lambda: SourceConfig("customers_*.csv", "csv"))
    orders: SourceConfig = field(default_factory=lambda: SourceConfig("orders_*.json", "json"))


@dataclass(frozen=True)
class OutputConfig:
    """Where the pipeline writes.

    Attributes:
        root: Data root holding Delta tables, quarantine, state, run reports and the metrics
            textfile; relative paths resolve against the current working directory.
        deletion_vectors: Create the tables updated by customer (silver customers, gold
            customer lifetime value) with Delta's deletion vectors, so a batch's MERGE writes
            the rows it changes instead of rewriting the whole table. Readers need the
            ``deletionVectors`` table feature (Delta Lake 2.3 and later); set false when
            another engine reading them lacks it.
    """

    __pydantic_config__ = _SECTION

    root: StrictStr = "etl-output"
    deletion_vectors: StrictBool = True


@dataclass(frozen=True)
class SchemasConfig:
    """The schema registry and what to do when a source drifts from it.

    Attributes:
        dir: Registry folder; relative paths resolve against the config file's folder; empty
            means the registry bundled with the package.
        drift_policy: ``warn`` (log, keep the registered columns), ``fail`` (stop before
            writing) or ``evolve`` (add new columns to the bronze table).
    """

    __pydantic_config__ = _SECTION

    dir: StrictStr | None = None
    drift_policy: DriftPolicy = "warn"


@dataclass(frozen=True)
class GatesConfig:
    """Data-quality gate definitions (dq-gates YAML files ``<table>.yaml``).

    Attributes:
        dir: Folder of gate files; relative paths resolve against the config file's folder;
            empty means the gates bundled with the package.
    """

    __pydantic_config__ = _SECTION

    dir: StrictStr | None = None


@dataclass(frozen=True)
class PushgatewayConfig:
    """Prometheus Pushgateway target; credentials come from environment variables only.

    Attributes:
        url: Gateway address (``http://host:9091``); empty disables pushing.
        timeout_s: Time one push attempt may take in all (connect, send, answer), seconds.
        deadline_s: Time the whole push may take, every attempt, retry and pause included.
        grouping_key: Extra grouping labels (e.g. ``instance``); not ``job`` (the job name
            is the push's own), no ``__`` prefix, non-empty values.
        strict: Exit with code 4 when the data was committed but the metrics could not be
            delivered (default: exit 0; the report and the summary say the metrics failed).
    """

    __pydantic_config__ = _SECTION

    url: StrictStr | None = None
    timeout_s: StrictFloat = 5.0
    deadline_s: StrictFloat = 30.0
    grouping_key: StringMap = field(default_factory=dict)
    strict: StrictBool = False


@dataclass(frozen=True)
class MetricsConfig:
    """Where metrics go at the end of a run.

    Attributes:
        pushgateway: Push target; when its url is empty the textfile is written instead.
        textfile: Textfile-collector output, relative to ``output.root``.
    """

    __pydantic_config__ = _SECTION

    pushgateway: PushgatewayConfig = field(default_factory=PushgatewayConfig)
    textfile: StrictStr = "metrics/etl_app.prom"


@dataclass(frozen=True)
class LoggingConfig:
    """Structured logging.

    Attributes:
        level: Log level name.
        format: ``console`` (readable) or ``json`` (JSON lines).
    """

    __pydantic_config__ = _SECTION

    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    format: LogFormat = "console"


@dataclass(frozen=True)
class AppConfig:
    """The whole, validated configuration of one run.

    Attributes:
        job: Job identity.
        spark: Spark session settings.
        input: Raw input files.
        output: Output data root.
        schemas: Schema registry and drift policy.
        gates: Data-quality gate definitions.
        metrics: Pushgateway or textfile.
        logging: Logging setup.
        base_dir: Folder relative input paths resolve against (the config file's folder).
    """

    __pydantic_config__ = _SECTION

    job: JobConfig = field(default_factory=JobConfig)
    spark: SparkConfig = field(default_factory=SparkConfig)
    input: InputConfig = field(default_factory=InputConfig)
    output: OutputConfig = field(default_factory=OutputConfig)
    schemas: SchemasConfig = field(default_factory=SchemasConfig)
    gates: GatesConfig = field(default_factory=GatesConfig)
    metrics: MetricsConfig = field(default_factory=MetricsConfig)
    logging: LoggingConfig = field(default_factory=LoggingConfig)
    base_dir: Path = field(default_factory=Path.cwd, compare=False)

    def input_dir(self) -> Path:
        """Return the resolved input folder (a local path; see ``input_location`` for URIs)."""
        return self._resolve(self.input.dir, "sample")

    def input_location(self) -> str:
        """The input folder as Spark reads it: a URI as configured, else the resolved path."""
        configured = self.input.dir
        if configured and is_uri(configured):
            return resolve(configured)
        return str(self.input_dir())

    def output_location(self) -> str:
        """The data root as Spark writes it: a URI as configured, else the resolved path."""
        return resolve(self.output.root)

    def schemas_dir(self) -> Path:
        """Return the resolved schema registry folder."""
        return self._resolve(self.schemas.dir, "schemas")

    def gates_dir(self) -> Path:
        """Return the resolved gate definitions folder."""
        return self._resolve(self.gates.dir, "gates")

    def output_root(self) -> Path:
        """Return the resolved data root (relative paths against the working directory)."""
        return Path(self.output.root).expanduser().resolve()

    def _resolve(self, value: str | None, bundled: str) -> Path:
        if not value:
            return resource_path(bundled)
        path = Path(value).expanduser()
        return path if path.is_absolute() else (self.base_dir / path).resolve()

    def with_overrides(
        self, *, input_dir: str | None = None, output_root: str | None = None
    ) -> AppConfig:
        """Return a copy with the input folder and/or the data root replaced (CLI flags).

        Args:
            input_dir: New input folder (resolved against the working directory).
            output_root: New data root.

        Returns:
            The updated configuration.
        """
        cfg = self
        if input_dir is not None:
            # A URI (s3a://, file:///) is kept as given; a plain path is made absolute.
            located = input_dir if is_uri(input_dir) else str(Path(input_dir).resolve())
            cfg = dataclasses.replace(cfg, input=dataclasses.replace(cfg.input, dir=located))
        if output_root is not None:
            cfg = dataclasses.replace(cfg, output=dataclasses.replace(cfg.output, root=output_root))
        return cfg


def deep_merge(base: dict[str, Any], overlay: dict[str, Any]) -> dict[str, Any]:
    """Merge ``overlay`` into a copy of ``base``: mappings merge key by key, other values replace.

    Args:
        base: The lower layer.
        overlay: The upper layer; its values win.

    Returns:
        A new mapping; neither input is modified.
    """
    merged = copy.deepcopy(base)
    for key, value in overlay.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def _read_yaml(path: Path, label: str) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(label, ["file not found; pass an existing --config file"]) from None
    except OSError as exc:
        raise ConfigError(label, [f"cannot read the file: {exc}"]) from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(label, [f"not valid YAML: {exc}"]) from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(label, [f"top level must be a mapping, got {type(data).__name__}"])
    return data


def load_config(path: str | Path | None = None, env: str | None = None) -> AppConfig:
    """Load, merge and validate the configuration.

    Layers, lowest first: the defaults bundled with the package, the top level of ``path``, then
    ``path``'s ``envs.<env>`` overlay (deep-merged). ``job.env`` is set to ``env``.

    Args:
        path: YAML file; None uses only the bundled defaults.
        env: Environment whose overlay applies (``local`` when None). An env that the file does
            not define is an error when the file defines any envs.

    Returns:
        The validated configuration.

    Raises:
        ConfigError: Unreadable file, invalid YAML, unknown keys, wrong types or unknown env.
    """
    env = env or "local"
    merged = _read_yaml(resource_path(DEFAULT_CONFIG), "bundled defaults")
    merged.pop(ENVS_KEY, None)
    base_dir = Path.cwd()
    label = "bundled defaults"
    if path is not None:
        file = Path(path).expanduser().resolve()
        label = str(path)
        data = _read_yaml(file, label)
        base_dir = file.parent
        envs = data.pop(ENVS_KEY, None) or {}
        if not isinstance(envs, dict):
            raise ConfigError(label, [f"{ENVS_KEY}: expected a mapping of env name to overlay"])
        overlay = envs.get(env)
        if envs and env not in envs:
            raise ConfigError(
                label, [f"{ENVS_KEY}.{env}: unknown env; defined: {', '.join(sorted(envs))}"]
            )
        if overlay is not None and not isinstance(overlay, dict):
            raise ConfigError(label, [f"{ENVS_KEY}.{env}: expected a mapping"])
        merged = deep_merge(merged, data)
        merged = deep_merge(merged, overlay or {})
    merged.setdefault("job", {})
    if isinstance(merged["job"], dict):
        merged["job"]["env"] = env
    problems: list[str] = []
    values = _convert(AppConfig, merged, "", problems)
    if values is not None:
        problems.extend(_semantic_problems(values))
    if problems:
        raise ConfigError(label, problems)
    return dataclasses.replace(typing.cast(AppConfig, values), base_dir=base_dir)


#: Spark masters the app can start: local mode, a standalone / YARN / Kubernetes cluster, or
#: a Spark Connect server.
_MASTER = re.compile(
    r"local(\[(\*|[1-9]\d*)(,\s*[1-9]\d*)?\])?|spark://\S+|sc://\S+|yarn|k8s://\S+"
)
#: A JVM memory size as Spark reads it (``512m``, ``2g``).
_MEMORY = re.compile(r"[1-9]\d*[kmgtp]?b?", re.IGNORECASE)
#: Spark settings given in ``spark.conf`` that must be positive integers.
_POSITIVE_INT_CONF = ("spark.sql.shuffle.partitions", "spark.default.parallelism")


def _semantic_problems(config: AppConfig) -> list[str]:
    """Problems beyond the types: values Spark or the Pushgateway would refuse later.

    Checked here so a bad value is reported with its key path before Spark starts (today's
    alternative: a JVM error minutes later, blamed on the jars).
    """
    problems: list[str] = []
    spark = config.spark
    if spark.shuffle_partitions < 1:
        problems.append(
            f"spark.shuffle_partitions: must be at least 1, got {spark.shuffle_partitions}"
        )
    if not _MASTER.fullmatch(spark.master):
        problems.append(
            "spark.master: expected local, local[N], local[*], spark://host:port, "
            f"sc://host:port, yarn or k8s://..., got {spark.master!r}"
        )
    if not _MEMORY.fullmatch(spark.driver_memory):
        problems.append(
            "spark.driver_memory: expected a JVM memory size such as 512m or 2g, got "
            f"{spark.driver_memory!r}"
        )
    for key in _POSITIVE_INT_CONF:
        value = spark.conf.get(key)
        if value is not None and not (value.isdigit() and int(value) >= 1):
            problems.append(f"spark.conf.{key}: must be a whole number >= 1, got {value!r}")
    gateway = config.metrics.pushgateway
    for name, seconds in (("timeout_s", gateway.timeout_s), ("deadline_s", gateway.deadline_s)):
        if not seconds > 0:
            problems.append(f"metrics.pushgateway.{name}: must be > 0 seconds, got {seconds}")
    try:
        validate_grouping_key(gateway.grouping_key)
    except GroupingKeyError as exc:
        problems.append(f"metrics.pushgateway.grouping_key: {exc}")
    if not config.metrics.textfile.endswith(".prom"):
        problems.append(
            f"metrics.textfile: must end in .prom (node-exporter reads only those), got "
            f"{config.metrics.textfile!r}"
        )
    return problems


_TYPE_NAMES = {str: "a string", int: "an integer", float: "a number", bool: "true or false"}
#: pydantic error types and the words the messages use for them.
_EXPECTED = {
    "string_type": "a string",
    "int_type": "an integer",
    "int_parsing": "an integer",
    "int_from_float": "an integer",
    "float_type": "a number",
    "float_parsing": "a number",
    "bool_type": "true or false",
    "bool_parsing": "true or false",
    "dataclass_type": "a mapping",
    "dataclass_exact_type": "a mapping",
    "string_map": "a mapping of strings to strings",
    "connect_url": "a Spark Connect URL such as sc://host:15002",
}
#: Fields set by the loader, never from a file.
_NOT_FROM_FILE = frozenset({"base_dir"})


def _unwrap(tp: Any) -> Any:
    """The type without ``Annotated`` metadata and without ``None`` in an optional."""
    while typing.get_origin(tp) is Annotated:
        tp = typing.get_args(tp)[0]
    if typing.get_origin(tp) in (types.UnionType, typing.Union):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) == 1:
            return _unwrap(args[0])
    return tp


def _describe(tp: Any) -> str:
    tp = _unwrap(tp)
    if typing.get_origin(tp) is Literal:
        return "one of " + ", ".join(repr(a) for a in typing.get_args(tp))
    if typing.get_origin(tp) is dict:
        return "a mapping of strings"
    if dataclasses.is_dataclass(tp):
        return "a mapping"
    return _TYPE_NAMES.get(tp, getattr(tp, "__name__", str(tp)))


def _field_names(tp: Any) -> list[str]:
    return sorted(f.name for f in dataclasses.fields(tp) if f.init and f.name not in _NOT_FROM_FILE)


def _type_at(root: Any, loc: tuple[str | int, ...]) -> Any:
    """The declared type at a key path below dataclass ``root`` (None when not a field)."""
    tp: Any = root
    for part in loc:
        tp = _unwrap(tp)
        if not (dataclasses.is_dataclass(tp) and isinstance(part, str)):
            return None
        hints = typing.get_type_hints(tp, include_extras=True)
        if part not in hints:
            return None
        tp = hints[part]
    return tp


def _problem(root: Any, error: Any, path: str) -> str:
    """One line for one pydantic error: key path, what was expected, what was found."""
    loc = tuple(error["loc"])
    where = ".".join([p for p in (path,) if p] + [str(p) for p in loc]) or "(top level)"
    kind = error["type"]
    if kind in ("unexpected_keyword_argument", "extra_forbidden"):
        parent = _unwrap(_type_at(root, loc[:-1]))
        expected = ", ".join(_field_names(parent)) if dataclasses.is_dataclass(parent) else ""
        return f"{where}: unknown key; expected one of {expected}"
    if kind == "missing":
        return f"{where}: required key is missing"
    if kind == "secret_in_file":
        return f"{where}: {error['msg']}"
    if kind == "literal_error":
        expected = _describe(_type_at(root, loc))
    else:
        expected = _EXPECTED.get(kind) or error["msg"].removeprefix("Input should be ")
    return f"{where}: expected {expected}, got {error['input']!r}"


def _convert(tp: Any, value: Any, path: str, problems: list[str]) -> Any:
    """Validate ``value`` against the dataclass ``tp``; record problems with their key path.

    Args:
        tp: A config dataclass (``AppConfig``, ``SourceConfig``, ...).
        value: Plain data, as read from YAML.
        path: Key path of ``value`` in the whole config (``""`` for the top level).
        problems: Where each problem is appended, as ``<key path>: <what is wrong>``.

    Returns:
        The validated dataclass, or None when there were problems.
    """
    prefix = f"{path}." if path else ""
    if isinstance(value, dict):
        reserved = [key for key in value if key in _NOT_FROM_FILE]
        expected = ", ".join(_field_names(tp))
        problems.extend(
            f"{prefix}{key}: unknown key; expected one of {expected}" for key in reserved
        )
        if reserved:
            value = {k: v for k, v in value.items() if k not in _NOT_FROM_FILE}
    try:
        result = _adapter(tp).validate_python(value)
    except ValidationError as exc:
        problems.extend(_problem(tp, error, path) for error in exc.errors())
        return None
    return None if problems else result


_ADAPTERS: dict[Any, TypeAdapter[Any]] = {}


def _adapter(tp: Any) -> TypeAdapter[Any]:
    if tp not in _ADAPTERS:
        _ADAPTERS[tp] = TypeAdapter(tp)
    return _ADAPTERS[tp]


def config_to_dict(config: AppConfig) -> dict[str, Any]:
    """Return the configuration as plain data (for the run report and ``validate-config``)."""
    data = dataclasses.asdict(config)
    data["base_dir"] = str(config.base_dir)
    return data
