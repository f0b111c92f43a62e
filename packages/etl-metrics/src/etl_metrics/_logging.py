"""structlog set-up: JSON lines or console output, context variables, secret redaction."""

from __future__ import annotations

import logging
import sys
import uuid
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, Literal, TextIO

import structlog
from structlog.contextvars import bind_contextvars, bound_contextvars, clear_contextvars
from structlog.typing import EventDict, Processor, WrappedLogger

from etl_metrics._redact import (
    DEFAULT_SECRET_MARKERS,
    REDACTED,
    is_secret_name,
    lowered_markers,
    redact_urls_in_text,
)

# Values that are credentials whatever key carries them (an HTTP Authorization value).
_CREDENTIAL_PREFIXES = ("bearer ", "basic ")
# Keys structlog itself adds; their names never match a marker and their values are not
# checked for credentials, so every line keeps its shape.
_STRUCTURAL_KEYS = frozenset({"event", "level", "timestamp", "logger"})
# Value types that cannot hold a secret string.
_PLAIN = frozenset({int, float, bool, type(None)})

LogFormat = Literal["json", "console"]


class RedactSecrets:
    """structlog processor replacing the values of secret-looking keys with ``[REDACTED]``.

    A key is secret when, lower-cased, it contains one of ``markers``. Nested mappings and
    lists/tuples are walked. Values starting with ``Bearer `` or ``Basic `` are redacted under any
    key. In every other string, the event included, URLs (``scheme://...``) lose their
    credentials and secret-looking query parameters (see :func:`redact_url`). Free text is not
    otherwise parsed: never put secrets there.

    Args:
        markers: Key fragments that mark a secret (default :data:`DEFAULT_SECRET_MARKERS`).

    Raises:
        ValueError: ``markers`` is empty or holds an empty fragment.
    """

    def __init__(self, markers: Iterable[str] = DEFAULT_SECRET_MARKERS) -> None:
        self.markers = lowered_markers(markers)
        # Keys repeat from line to line; remember the verdict per key.
        self._verdicts: dict[str, bool] = dict.fromkeys(_STRUCTURAL_KEYS, False)

    def is_secret_key(self, key: str) -> bool:
        """Whether values under ``key`` are redacted.

        Args:
            key: A log key.

        Returns:
            True when the lower-cased key contains a marker.
        """
        verdict = self._verdicts.get(key)
        if verdict is None:
            verdict = is_secret_name(key, self.markers)
            if len(self._verdicts) < 10_000:
                self._verdicts[key] = verdict
        return verdict

    def clean(self, value: Any) -> Any:
        """Return ``value`` with its secrets redacted (a copy; the value itself is unchanged).

        Mappings come back as dicts and lists / tuples as lists / tuples, walked to any depth.

        Args:
            value: Any value: a string, a number, a mapping, a list...

        Returns:
            The redacted copy.
        """
        cls = type(value)
        if cls in _PLAIN:
            return value
        if isinstance(value, str):
            return self._clean_text(value)
        if isinstance(value, Mapping):
            return {
                k: REDACTED if isinstance(k, str) and self.is_secret_key(k) else self.clean(v)
                for k, v in value.items()
            }
        if isinstance(value, list | tuple):
            # A plain list/tuple back, even for namedtuples (whose constructors differ).
            cleaned = [self.clean(v) for v in value]
            return cleaned if isinstance(value, list) else tuple(cleaned)
        return value

    def _clean_text(self, value: str) -> str:
        if _is_credential(value):
            return REDACTED
        if "://" in value:
            return redact_urls_in_text(value, self.markers)
        return value

    def __call__(self, logger: WrappedLogger, method_name: str, event_dict: EventDict) -> EventDict:
        # Runs on every log call: plain values (numbers, None, ordinary strings) take the
        # shortest path; the key verdict is a dict lookup after the first sight of a key.
        verdicts = self._verdicts
        for key, value in event_dict.items():
            secret = verdicts.get(key)
            if secret is None:
                secret = self.is_secret_key(key)
            if secret:
                event_dict[key] = REDACTED
                continue
            cls = type(value)
            if cls in _PLAIN:
                continue
            if cls is str:
                text = value
                if "://" in text:
                    text = event_dict[key] = redact_urls_in_text(text, self.markers)
                if _is_credential(text) and key not in _STRUCTURAL_KEYS:
                    event_dict[key] = REDACTED
            else:
                event_dict[key] = self.clean(value)
        return event_dict


def redact_secrets(value: Any, *, markers: Iterable[str] = DEFAULT_SECRET_MARKERS) -> Any:
    """Return a copy of ``value`` with secrets redacted, as the log processor does.

    For reports and printed configurations: values under secret-looking keys (any key
    containing a marker, at any depth of mappings and lists) become ``[REDACTED]``; strings
    starting with ``Bearer `` / ``Basic `` too; URLs in any other string lose their
    credentials and secret query parameters (``http://etl:***@gw:9091``).

    Args:
        value: A mapping (a config, a report), a list, a string or a scalar.
        markers: Key fragments marking a secret (default :data:`DEFAULT_SECRET_MARKERS`).

    Returns:
        The redacted copy (mappings as dicts).

    Raises:
        ValueError: ``markers`` is empty.
    """
    return RedactSecrets(markers).clean(value)


def _is_credential(value: str) -> bool:
    return value[:1] in ("b", "B") and value[:7].lower().startswith(_CREDENTIAL_PREFIXES)


class _NamedWriteLogger(structlog.WriteLogger):
    """A WriteLogger that remembers the name given to ``get_logger(name)``."""

    def __init__(self, file: TextIO, name: str | None) -> None:
        super().__init__(file)
        self.name = name


class _NamedWriteLoggerFactory:
    # structlog passes get_logger's positional arguments to the factory, lazily, at the first
    # log call: a module-level get_logger("x") made before configure_logging still works.
    def __init__(self, file: TextIO) -> None:
        self._file = file

    def __call__(self, *args: Any) -> _NamedWriteLogger:
        return _NamedWriteLogger(self._file, str(args[0]) if args else None)


def _add_logger_name(logger: WrappedLogger, method_name: str, event_dict: EventDict) -> EventDict:
    name = getattr(logger, "name", None)
    if name is not None:
        event_dict.setdefault("logger", name)
    return event_dict


def _level_number(level: int | str) -> int:
    if isinstance(level, int):
        return level
    mapping = logging.getLevelNamesMapping()
    number = mapping.get(level.upper())
    if number is None:
        raise ValueError(
            f"Unknown log level {level!r}; use one of debug, info, warning, error, critical."
        )
    return number


def configure_logging(
    *,
    fmt: LogFormat = "json",
    level: int | str = "INFO",
    stream: TextIO | None = None,
    redact_markers: Iterable[str] = DEFAULT_SECRET_MARKERS,
    cache_logger_on_first_use: bool = True,
) -> None:
    """Configure structlog for a batch job: JSON lines (production) or console (development).

    Every line carries the context bound with :func:`bind_context` / :func:`bound_context`
    (job, env, run_id, stage, ...), the level and an ISO-8601 UTC timestamp; values of
    secret-looking keys are redacted (see :class:`RedactSecrets`).

    Args:
        fmt: ``"json"`` for one JSON object per line, ``"console"`` for readable output.
        level: Lowest level written (name or ``logging`` number).
        stream: Where lines go; ``sys.stderr`` when None.
        redact_markers: Key fragments marking secrets.
        cache_logger_on_first_use: structlog's speed-up; set False when tests reconfigure
            logging after loggers were first used.

    Raises:
        ValueError: Unknown ``fmt`` or ``level``.
    """
    if fmt not in ("json", "console"):
        raise ValueError(f"fmt must be 'json' or 'console', got {fmt!r}.")
    out = sys.stderr if stream is None else stream
    shared: list[Processor] = [
        _merge_context_in_order,
        structlog.processors.add_log_level,
        _add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.StackInfoRenderer(),
    ]
    redact = RedactSecrets(redact_markers)
    processors: list[Processor]
    if fmt == "json":
        processors = [
            *shared,
            structlog.processors.format_exc_info,
            redact,
            structlog.processors.JSONRenderer(),
        ]
    else:
        colors = bool(getattr(out, "isatty", lambda: False)())
        processors = [*shared, redact, structlog.dev.ConsoleRenderer(colors=colors)]
    structlog.configure(
        processors=processors,
        wrapper_class=structlog.make_filtering_bound_logger(_level_number(level)),
        logger_factory=_NamedWriteLoggerFactory(out),
        cache_logger_on_first_use=cache_logger_on_first_use,
    )


#: Bound context keys written first, in this order; any other bound key follows, sorted.
_CONTEXT_ORDER = ("job", "env", "run_id", "stage")


def _merge_context_in_order(
    _logger: WrappedLogger, _method: str, event_dict: EventDict
) -> EventDict:
    """Add the bound context (structlog's context variables) to a line, in a fixed key order.

    structlog's ``merge_contextvars`` adds them in the order the interpreter's context mapping
    iterates, which follows the context variables' hashes and so changes from process to
    process: the same log line came out with ``env`` before ``run_id`` in one run and after it
    in the next. A value the call itself passes wins, as with ``merge_contextvars``.
    """
    bound = structlog.contextvars.get_contextvars()
    first = [key for key in _CONTEXT_ORDER if key in bound]
    for key in [*first, *sorted(set(bound) - set(first))]:
        event_dict.setdefault(key, bound[key])
    return event_dict


def get_logger(name: str | None = None, **initial_values: Any) -> Any:
    """Return a lazy structlog logger; safe to create at import time, before configuration.

    Args:
        name: Written as ``logger`` on every line (with :func:`configure_logging`'s set-up).
        **initial_values: More key-values bound to this logger.

    Returns:
        A structlog bound logger.
    """
    # The name travels as a logger-factory argument (resolved at the first log call, so after
    # configure_logging) rather than as a bound "logger" value, which would clash with
    # structlog.wrap_logger's own ``logger`` parameter.
    args = () if name is None else (name,)
    return structlog.get_logger(*args, **initial_values)


def _context(
    job: str | None,
    env: str | None,
    run_id: str | None,
    stage: str | None,
    extra: Mapping[str, Any],
) -> dict[str, Any]:
    named = {"job": job, "env": env, "run_id": run_id, "stage": stage}
    return {k: v for k, v in named.items() if v is not None} | dict(extra)


def bind_context(
    *,
    job: str | None = None,
    env: str | None = None,
    run_id: str | None = None,
    stage: str | None = None,
    **extra: Any,
) -> None:
    """Bind values to every later log line of this thread / asyncio task (context variables).

    Args:
        job: Job name.
        env: Environment.
        run_id: Identifier of this run (see :func:`new_run_id`).
        stage: Current stage.
        **extra: More key-values.
    """
    bind_contextvars(**_context(job, env, run_id, stage, extra))


@contextmanager
def bound_context(
    *,
    job: str | None = None,
    env: str | None = None,
    run_id: str | None = None,
    stage: str | None = None,
    **extra: Any,
) -> Iterator[None]:
    """Bind values for the duration of a ``with`` block, restoring the previous ones after.

    Args:
        job: Job name.
        env: Environment.
        run_id: Identifier of this run.
        stage: Current stage.
        **extra: More key-values.

    Yields:
        Nothing; log inside the block.
    """
    with bound_contextvars(**_context(job, env, run_id, stage, extra)):
        yield


def clear_context() -> None:
    """Remove every value bound with :func:`bind_context` in this context."""
    clear_contextvars()


def new_run_id() -> str:
    """Return a fresh random run id (32 hex characters) to bind as ``run_id``.

    Returns:
        A UUID4 in hex.
    """
    return uuid.uuid4().hex
