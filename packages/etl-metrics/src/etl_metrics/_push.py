"""Pushgateway pushes and deletes: auth, a deadline per attempt and per call, bounded retries.

Each HTTP attempt runs under a watchdog: when its time is up, the watchdog shuts the
attempt's socket down, so a gateway that answers one byte at a time cannot hold the job past
the attempt's time (a socket timeout alone bounds each read, not the whole exchange).
"""

from __future__ import annotations

import base64
import contextlib
import copy
import http.client
import os
import re
import socket
import threading
import time
import urllib.request
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.error import HTTPError
from urllib.parse import unquote

import structlog
from prometheus_client import CollectorRegistry
from prometheus_client import delete_from_gateway as _prom_delete
from prometheus_client import push_to_gateway as _prom_push
from prometheus_client import pushadd_to_gateway as _prom_pushadd
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

from etl_metrics._metrics import DEFAULT_REGISTRY
from etl_metrics._redact import (
    DEFAULT_SECRET_MARKERS,
    authority_span,
    redact_one_url,
    redact_urls_in_text,
)
from etl_metrics.errors import GroupingKeyError, PushGatewayError

#: Environment variable holding the Pushgateway basic-auth user name.
USERNAME_ENV = "ETL_PUSHGATEWAY_USERNAME"
#: Environment variable holding the Pushgateway basic-auth password.
PASSWORD_ENV = "ETL_PUSHGATEWAY_PASSWORD"
#: Environment variable holding a bearer token (takes precedence over basic auth).
TOKEN_ENV = "ETL_PUSHGATEWAY_TOKEN"

PushMethod = Literal["push_add", "push"]
_Handler = Callable[[], None]
_Header = tuple[str, str]

# Longest single back-off pause, so retries stay bounded whatever the caller passes.
_MAX_BACKOFF_SECONDS = 30.0
_LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
_MARKERS = tuple(m.lower() for m in DEFAULT_SECRET_MARKERS)


def redact_gateway(gateway: str) -> str:
    """The gateway address as logs, errors and outcomes show it (credentials masked)."""
    return redact_one_url(gateway, _MARKERS)


# -- grouping key -------------------------------------------------------------------------------


def validate_grouping_key(grouping_key: Mapping[str, str] | None) -> dict[str, str]:
    """Check a Pushgateway grouping key and return it as a plain dict.

    Call it where configuration is validated, so a bad key is refused before any work runs;
    the push functions apply the same checks.

    A grouping key holds the labels, besides ``job``, that name a Pushgateway group: each name
    must be a valid Prometheus label name (``[a-zA-Z_][a-zA-Z0-9_]*``), must not start with
    ``__`` (reserved for Prometheus' internal labels) and must not be ``job`` (the job is the
    push's own argument); each value must be a non-empty string (an empty label is the same as
    no label in Prometheus).

    Args:
        grouping_key: The extra grouping labels, e.g. ``{"env": "prod", "instance": "a"}``;
            None or empty for none.

    Returns:
        The labels as a new dict (empty for None).

    Raises:
        GroupingKeyError: Not a mapping, or a name or value as described above; the message
            names the offending entry and what to do instead.
    """
    if grouping_key is None:
        return {}
    if not isinstance(grouping_key, Mapping):
        raise GroupingKeyError(
            f"grouping_key must be a mapping of label name to value, e.g. {{'env': 'prod'}}; "
            f"got {type(grouping_key).__name__} {grouping_key!r}."
        )
    checked: dict[str, str] = {}
    for name, value in grouping_key.items():
        where = f"grouping_key {dict(grouping_key)!r}"
        if name == "job":
            raise GroupingKeyError(
                f"grouping_key must not contain 'job' (got {dict(grouping_key)}): the job is the "
                "push's own argument and the Pushgateway sets the job label from it; put only "
                "the other labels (env, instance, stage...) in grouping_key."
            )
        if not isinstance(name, str) or not _LABEL_NAME.fullmatch(name):
            raise GroupingKeyError(
                f"{where}: {name!r} is not a valid Prometheus label name (letters, digits and "
                "underscores, not starting with a digit); rename it, e.g. 'data_center' for "
                "'data-center'."
            )
        if name.startswith("__"):
            raise GroupingKeyError(
                f"{where}: {name!r} starts with '__', which Prometheus reserves for its internal "
                "labels; use a name without the leading underscores."
            )
        if not isinstance(value, str) or not value:
            raise GroupingKeyError(
                f"{where}: the value of {name!r} must be a non-empty string, got "
                f"{type(value).__name__} {value!r}; quote it in YAML ('3', not 3), or leave the "
                "label out (an empty label is the same as no label)."
            )
        checked[name] = value
    return checked


def _group(job: str, grouping_key: Mapping[str, str] | None) -> dict[str, str] | None:
    if not isinstance(job, str) or not job:
        raise ValueError("job must be a non-empty string (it names the Pushgateway group).")
    return validate_grouping_key(grouping_key) or None


# -- credentials --------------------------------------------------------------------------------


def _split_credentials(gateway: str) -> tuple[str, tuple[str, str] | None]:
    """The gateway without ``user:password@``, and those credentials (percent-decoded)."""
    start, end = authority_span(gateway)
    at = gateway.rfind("@", start, end)
    if at == -1:
        return gateway, None
    user, _, password = gateway[start:at].partition(":")
    return gateway[:start] + gateway[at + 1 :], (unquote(user), unquote(password))


def _auth_header(url_credentials: tuple[str, str] | None) -> _Header | None:
    """The Authorization header: environment first, then the URL's credentials, else None.

    Raises:
        PushGatewayError: Only one of user name and password is set in the environment.
    """
    token = os.environ.get(TOKEN_ENV)
    if token:
        return ("Authorization", f"Bearer {token}")
    username = os.environ.get(USERNAME_ENV)
    password = os.environ.get(PASSWORD_ENV)
    if username and password:
        return ("Authorization", "Basic " + _basic(username, password))
    if username or password:
        present, absent = (USERNAME_ENV, PASSWORD_ENV) if username else (PASSWORD_ENV, USERNAME_ENV)
        raise PushGatewayError(
            f"{present} is set but {absent} is not: set both for basic auth, set {TOKEN_ENV} "
            "for a bearer token, or unset both for no auth.",
            gateway="",
            attempts=0,
        )
    if url_credentials is not None:
        return ("Authorization", "Basic " + _basic(*url_credentials))
    return None


def _basic(username: str, password: str) -> str:
    return base64.b64encode(f"{username}:{password}".encode()).decode("ascii")


# -- transport with a watchdog ------------------------------------------------------------------


class AttemptTimeoutError(TimeoutError):
    """An HTTP attempt did not complete (connect, send, answer) within its time."""


class _Watchdog:
    """Shuts the sockets of one HTTP attempt down when the attempt's time is up.

    It keeps its own duplicate of each socket's descriptor (closed only by itself), so the
    shutdown can never reach another connection that reused a closed descriptor number.
    """

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.fired = False
        self._done = False
        self._copies: list[socket.socket] = []
        self._lock = threading.Lock()
        self._timer = threading.Timer(seconds, self._fire)
        self._timer.daemon = True

    def __enter__(self) -> _Watchdog:
        self._timer.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._timer.cancel()
        with self._lock:
            self._done = True
            copies, self._copies = self._copies, []
        for copy_ in copies:
            copy_.close()

    def _fire(self) -> None:
        with self._lock:
            if self._done:
                return
            self.fired = True
            for copy_ in self._copies:
                _shutdown(copy_)

    def expired(self) -> AttemptTimeoutError:
        return AttemptTimeoutError(
            f"timed out: no complete answer within {self.seconds:.3g} s "
            "(connect, send and response together)"
        )

    def watch(self, sock: socket.socket) -> None:
        """Put a new connection's socket under the watchdog (shut at once if time is up)."""
        copy_ = socket.socket(sock.family, sock.type, sock.proto, fileno=os.dup(sock.fileno()))
        with self._lock:
            if not self.fired:
                self._copies.append(copy_)
                return
        copy_.close()
        sock.close()
        raise self.expired()

    def connection(
        self, cls: type[http.client.HTTPConnection]
    ) -> Callable[..., http.client.HTTPConnection]:
        """A factory of ``cls`` connections whose sockets this watchdog watches."""

        def make(host: str, **kwargs: Any) -> http.client.HTTPConnection:
            conn = cls(host, **kwargs)
            create: Callable[..., socket.socket] = conn._create_connection  # type: ignore[attr-defined]

            def create_watched(*args: Any, **kw: Any) -> socket.socket:
                sock = create(*args, **kw)
                self.watch(sock)
                return sock

            conn._create_connection = create_watched  # type: ignore[attr-defined]
            return conn

        return make


def _shutdown(sock: socket.socket) -> None:
    # Already closed or never connected: nothing left to stop.
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)


class _HTTPHandler(urllib.request.HTTPHandler):
    def __init__(self, watchdog: _Watchdog) -> None:
        super().__init__()
        self._watchdog = watchdog

    def http_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        return self.do_open(self._watchdog.connection(http.client.HTTPConnection), req)


class _HTTPSHandler(urllib.request.HTTPSHandler):
    def __init__(self, watchdog: _Watchdog) -> None:
        super().__init__()
        self._watchdog = watchdog

    def https_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        return self.do_open(self._watchdog.connection(http.client.HTTPSConnection), req)


def _send(url: str, method: str, seconds: float, headers: Iterable[_Header], data: bytes) -> None:
    """One HTTP exchange, over within ``seconds`` (connect, send and response together).

    Raises:
        AttemptTimeoutError: The exchange did not complete in time.
        HTTPError: The gateway answered with an error status.
        OSError: Connection errors.
    """
    request = urllib.request.Request(url, data=data, method=method)
    for name, value in headers:
        request.add_header(name, value)
    with _Watchdog(seconds) as watchdog:
        opener = urllib.request.build_opener(_HTTPHandler(watchdog), _HTTPSHandler(watchdog))
        try:
            with opener.open(request, timeout=seconds) as response:
                response.read()
        except Exception as exc:
            if watchdog.fired:
                raise watchdog.expired() from exc
            raise
        # A shut socket reads as the end of the answer: http.client then accepts a status line
        # whose headers (or body) were cut off. Cut off is not answered.
        if watchdog.fired:
            raise watchdog.expired()


def _handler_with(
    auth: _Header | None,
) -> Callable[[str, str, float | None, list[_Header], bytes], _Handler]:
    """A prometheus_client push handler sending through :func:`_send`, with ``auth`` added."""

    def handler(
        url: str, method: str, timeout: float | None, headers: list[_Header], data: bytes
    ) -> _Handler:
        # timeout is the attempt's time: the caller always passes a positive number.
        seconds = float(timeout or 0.0)
        extra = [auth] if auth is not None else []
        return lambda: _send(url, method, seconds, [*headers, *extra], data)

    return handler


# -- outcome, attempts --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PushOutcome:
    """What a push (or delete) to a Pushgateway did, for a run report.

    Attributes:
        ok: The gateway accepted it.
        action: ``push_add``, ``push`` or ``delete``.
        gateway: The gateway address, credentials masked (safe to print).
        job: The grouping job.
        grouping_key: The other grouping labels.
        attempts: HTTP attempts made (0 when the credentials were misconfigured).
        elapsed_seconds: Wall-clock time the call took, retries and pauses included.
        error: Why it failed (None when ``ok``); never holds credentials.
    """

    ok: bool
    action: str
    gateway: str
    job: str
    grouping_key: dict[str, str] = field(default_factory=dict)
    attempts: int = 0
    elapsed_seconds: float = 0.0
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The outcome as a JSON-ready dict (for a run report)."""
        return {
            "ok": self.ok,
            "action": self.action,
            "gateway": self.gateway,
            "job": self.job,
            "grouping_key": dict(self.grouping_key),
            "attempts": self.attempts,
            "elapsed_seconds": self.elapsed_seconds,
            "error": self.error,
        }


class _JobSeries(Collector):
    """The registry's series that belong to one job: a ``job`` label equal to it, or none.

    The Pushgateway overwrites every pushed series' ``job`` label with the grouping job, so
    series of other jobs in a shared registry would be silently relabelled (or collide).
    """

    def __init__(self, registry: Collector, job: str) -> None:
        self._registry = registry
        self._job = job

    def collect(self) -> Iterable[Metric]:
        job = self._job
        for family in self._registry.collect():
            kept = copy.copy(family)
            kept.samples = [s for s in family.samples if s.labels.get("job", job) == job]
            yield kept


def _retryable(error: BaseException) -> bool:
    # A 4xx answer (bad payload, wrong credentials) will not change on retry.
    return not (isinstance(error, HTTPError) and error.code < 500)


def _describe(error: BaseException) -> str:
    if isinstance(error, HTTPError):
        text = f"HTTP {error.code} {error.reason}"
    else:
        text = f"{type(error).__name__}: {error}"
    return redact_urls_in_text(text, _MARKERS)


def _check_limits(retries: int, timeout: float, deadline: float | None) -> None:
    if retries < 0:
        raise ValueError(f"retries must be >= 0, got {retries}.")
    if not timeout > 0:
        raise ValueError(f"timeout must be a positive number of seconds, got {timeout!r}.")
    if deadline is not None and not deadline > 0:
        raise ValueError(
            f"deadline must be a positive number of seconds (or None), got {deadline!r}."
        )


@dataclass(frozen=True, slots=True)
class _Call:
    """One push or delete: what to do, where, and within which limits."""

    action: str
    gateway: str
    job: str
    key: dict[str, str] | None
    send: Callable[[str, float, Callable[..., _Handler]], None]
    timeout: float
    retries: int
    backoff_seconds: float
    deadline: float | None


def _run(call: _Call, *, strict: bool) -> tuple[PushOutcome, str | None, BaseException | None]:
    """Make the attempts; return the outcome, the failure message and its cause.

    A failure is logged as a warning unless ``strict`` (the caller raises it instead).
    """
    started = time.monotonic()
    ends = None if call.deadline is None else started + call.deadline
    shown = redact_gateway(call.gateway)
    group = dict(call.key or {})
    log = structlog.get_logger("etl_metrics.push").bind(
        gateway=shown, push_job=call.job, group=group, action=call.action
    )

    def outcome(attempts: int, error: str | None = None) -> PushOutcome:
        return PushOutcome(
            ok=error is None,
            action=call.action,
            gateway=shown,
            job=call.job,
            grouping_key=group,
            attempts=attempts,
            elapsed_seconds=round(time.monotonic() - started, 3),
            error=error,
        )

    target, url_credentials = _split_credentials(call.gateway)
    try:
        handler = _handler_with(_auth_header(url_credentials))
    except PushGatewayError as exc:
        if not strict:
            log.warning("pushgateway_misconfigured", error=str(exc))
        return outcome(0, str(exc)), str(exc), None
    attempts = 0
    cut_short = ""
    while True:
        attempts += 1
        seconds = call.timeout if ends is None else min(call.timeout, ends - time.monotonic())
        try:
            call.send(target, max(seconds, 0.001), handler)
        except Exception as exc:  # any transport failure is reported, never raised by default
            if isinstance(exc, HTTPError):
                exc.close()
            last: BaseException = exc
            if not _retryable(exc) or attempts > call.retries:
                break
            pause = min(call.backoff_seconds * 2 ** (attempts - 1), _MAX_BACKOFF_SECONDS)
            if ends is not None and time.monotonic() + pause >= ends:
                cut_short = f" (deadline of {call.deadline:g} s reached, retries stopped)"
                break
            time.sleep(pause)
            continue
        if attempts > 1:
            log.info("pushgateway_succeeded_after_retry", attempts=attempts)
        return outcome(attempts), None, None
    error = _describe(last) + cut_short
    message = (
        f"{call.action} for job {call.job!r} to Pushgateway {shown} failed after {attempts} "
        f"attempt(s): {error}. Check that the gateway is up and reachable, and the credentials "
        f"in {TOKEN_ENV} or {USERNAME_ENV}/{PASSWORD_ENV}."
    )
    if not strict:
        log.warning("pushgateway_unavailable", attempts=attempts, error=error)
    return outcome(attempts, error), message, last


def _finish(
    result: tuple[PushOutcome, str | None, BaseException | None], strict: bool
) -> PushOutcome:
    outcome, message, cause = result
    if strict and message is not None:
        raise PushGatewayError(
            message, gateway=outcome.gateway, attempts=outcome.attempts, outcome=outcome
        ) from cause
    return outcome


def _push_call(
    gateway: str,
    job: str,
    *,
    grouping_key: Mapping[str, str] | None,
    registry: CollectorRegistry | None,
    method: PushMethod,
    timeout: float,
    retries: int,
    backoff_seconds: float,
    deadline: float | None,
) -> _Call:
    if method not in ("push_add", "push"):
        raise ValueError(f"method must be 'push_add' or 'push', got {method!r}.")
    _check_limits(retries, timeout, deadline)
    key = _group(job, grouping_key)
    source = _JobSeries(DEFAULT_REGISTRY if registry is None else registry, job)
    push = _prom_pushadd if method == "push_add" else _prom_push

    def send(target: str, seconds: float, handler: Callable[..., _Handler]) -> None:
        push(target, job, source, grouping_key=key, timeout=seconds, handler=handler)

    return _Call(method, gateway, job, key, send, timeout, retries, backoff_seconds, deadline)


def _delete_call(
    gateway: str,
    job: str,
    *,
    grouping_key: Mapping[str, str] | None,
    timeout: float,
    retries: int,
    backoff_seconds: float,
    deadline: float | None,
) -> _Call:
    _check_limits(retries, timeout, deadline)
    key = _group(job, grouping_key)

    def send(target: str, seconds: float, handler: Callable[..., _Handler]) -> None:
        _prom_delete(target, job, grouping_key=key, timeout=seconds, handler=handler)

    return _Call("delete", gateway, job, key, send, timeout, retries, backoff_seconds, deadline)


# -- public functions ---------------------------------------------------------------------------


def push_metrics_to_gateway(
    gateway: str,
    job: str,
    *,
    grouping_key: Mapping[str, str] | None = None,
    registry: CollectorRegistry | None = None,
    method: PushMethod = "push_add",
    timeout: float = 10.0,
    retries: int = 2,
    backoff_seconds: float = 0.5,
    strict: bool = False,
    deadline: float | None = None,
) -> bool:
    """Push the job's metrics to a Prometheus Pushgateway.

    Only series whose ``job`` label equals ``job``, or that have no ``job`` label (the Delta
    table and schema-drift metrics), are pushed: the Pushgateway replaces ``job`` with the
    grouping job, which would silently relabel another job's series.

    With ``method="push_add"`` (default, HTTP POST) only metric names present in this push are
    replaced within the group, so the ``etl_job_last_success_timestamp`` of an earlier
    successful run survives the push of a later failed run. ``method="push"`` (HTTP PUT)
    replaces the whole group.

    Credentials come from the environment: ``ETL_PUSHGATEWAY_TOKEN`` (sent as
    ``Authorization: Bearer``), else ``ETL_PUSHGATEWAY_USERNAME`` and
    ``ETL_PUSHGATEWAY_PASSWORD`` (basic auth), else a ``user:password@`` in the gateway URL
    (basic auth; the request URL goes without it). They are never logged: every message shows
    the gateway with its credentials masked.

    Args:
        gateway: ``host:port`` or URL of the Pushgateway.
        job: Grouping job name (also selects the series, see above).
        grouping_key: More grouping labels, e.g. ``{"instance": host, "env": "prod"}``; checked
            by :func:`validate_grouping_key`.
        registry: Registry to push; the library's default registry when None.
        method: ``"push_add"`` (POST) or ``"push"`` (PUT).
        timeout: Seconds one HTTP attempt may take in all (connect, send, answer): a gateway
            that answers slowly, byte by byte, is cut off when it is spent.
        retries: Extra attempts after the first on connection errors, timeouts and 5xx
            answers (4xx answers are not retried).
        backoff_seconds: Pause before the first retry; doubles each retry (at most 30 s).
        strict: Raise instead of returning False.
        deadline: Seconds the whole call may take, every attempt and pause included; None
            for no limit beyond ``timeout`` per attempt (at most ``retries + 1`` of them).

    Returns:
        True when the gateway accepted the push; False when it failed (a warning is logged).
        :func:`try_push_metrics_to_gateway` returns the details instead.

    Raises:
        PushGatewayError: In strict mode, when the push failed or credentials are half set
            (its ``outcome`` holds the details).
        GroupingKeyError: ``grouping_key`` is invalid (see :func:`validate_grouping_key`).
        ValueError: ``method``, ``retries``, ``timeout``, ``deadline`` or ``job`` is invalid.
    """
    call = _push_call(
        gateway,
        job,
        grouping_key=grouping_key,
        registry=registry,
        method=method,
        timeout=timeout,
        retries=retries,
        backoff_seconds=backoff_seconds,
        deadline=deadline,
    )
    return _finish(_run(call, strict=strict), strict).ok


def try_push_metrics_to_gateway(
    gateway: str,
    job: str,
    *,
    grouping_key: Mapping[str, str] | None = None,
    registry: CollectorRegistry | None = None,
    method: PushMethod = "push_add",
    timeout: float = 10.0,
    retries: int = 2,
    backoff_seconds: float = 0.5,
    deadline: float | None = None,
) -> PushOutcome:
    """Push like :func:`push_metrics_to_gateway`, and return what happened instead of a bool.

    Never raises for a failed push (gateway down, error answer, timeout, half-set credentials):
    the outcome says so, for a run report that records the data outcome and the metrics
    outcome separately. A warning is logged as with :func:`push_metrics_to_gateway`.

    Args:
        gateway: ``host:port`` or URL of the Pushgateway.
        job: Grouping job name (also selects the series).
        grouping_key: More grouping labels (see :func:`validate_grouping_key`).
        registry: Registry to push; the library's default registry when None.
        method: ``"push_add"`` (POST) or ``"push"`` (PUT).
        timeout: Seconds one HTTP attempt may take in all.
        retries: Extra attempts on connection errors, timeouts and 5xx answers.
        backoff_seconds: Pause before the first retry; doubles each retry (at most 30 s).
        deadline: Seconds the whole call may take, or None.

    Returns:
        A :class:`PushOutcome` (``ok``, ``error``, ``attempts``, the masked ``gateway``...).

    Raises:
        GroupingKeyError: ``grouping_key`` is invalid: a programming or configuration error,
            refused before anything is sent (validate it with the configuration instead).
        ValueError: ``method``, ``retries``, ``timeout``, ``deadline`` or ``job`` is invalid.
    """
    call = _push_call(
        gateway,
        job,
        grouping_key=grouping_key,
        registry=registry,
        method=method,
        timeout=timeout,
        retries=retries,
        backoff_seconds=backoff_seconds,
        deadline=deadline,
    )
    return _finish(_run(call, strict=False), strict=False)


def delete_from_gateway(
    gateway: str,
    job: str,
    *,
    grouping_key: Mapping[str, str] | None = None,
    timeout: float = 10.0,
    retries: int = 2,
    backoff_seconds: float = 0.5,
    strict: bool = False,
    deadline: float | None = None,
) -> bool:
    """Delete one group (job plus grouping key) from a Pushgateway.

    Same auth, timeout, deadline, retry and strict semantics as
    :func:`push_metrics_to_gateway`.

    Args:
        gateway: ``host:port`` or URL of the Pushgateway.
        job: Grouping job name.
        grouping_key: The rest of the group's key, exactly as pushed.
        timeout: Seconds one HTTP attempt may take in all.
        retries: Extra attempts on connection errors, timeouts and 5xx answers.
        backoff_seconds: Pause before the first retry; doubles each retry (at most 30 s).
        strict: Raise instead of returning False.
        deadline: Seconds the whole call may take, or None.

    Returns:
        True when the gateway accepted the delete; False otherwise (a warning is logged).

    Raises:
        PushGatewayError: In strict mode, when the delete failed.
        GroupingKeyError: ``grouping_key`` is invalid.
        ValueError: ``retries``, ``timeout``, ``deadline`` or ``job`` is invalid.
    """
    call = _delete_call(
        gateway,
        job,
        grouping_key=grouping_key,
        timeout=timeout,
        retries=retries,
        backoff_seconds=backoff_seconds,
        deadline=deadline,
    )
    return _finish(_run(call, strict=strict), strict).ok


def try_delete_from_gateway(
    gateway: str,
    job: str,
    *,
    grouping_key: Mapping[str, str] | None = None,
    timeout: float = 10.0,
    retries: int = 2,
    backoff_seconds: float = 0.5,
    deadline: float | None = None,
) -> PushOutcome:
    """Delete like :func:`delete_from_gateway`, returning a :class:`PushOutcome`, never raising.

    Args:
        gateway: ``host:port`` or URL of the Pushgateway.
        job: Grouping job name.
        grouping_key: The rest of the group's key, exactly as pushed.
        timeout: Seconds one HTTP attempt may take in all.
        retries: Extra attempts on connection errors, timeouts and 5xx answers.
        backoff_seconds: Pause before the first retry; doubles each retry (at most 30 s).
        deadline: Seconds the whole call may take, or None.

    Returns:
        The outcome of the delete.

    Raises:
        GroupingKeyError: ``grouping_key`` is invalid.
        ValueError: ``retries``, ``timeout``, ``deadline`` or ``job`` is invalid.
    """
    call = _delete_call(
        gateway,
        job,
        grouping_key=grouping_key,
        timeout=timeout,
        retries=retries,
        backoff_seconds=backoff_seconds,
        deadline=deadline,
    )
    return _finish(_run(call, strict=False), strict=False)
