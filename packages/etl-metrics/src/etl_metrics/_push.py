"""Pushgateway pushes and deletes with auth from the environment, timeouts and bounded retries."""

from __future__ import annotations

import base64
import copy
import os
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Literal
from urllib.error import HTTPError
from urllib.parse import urlsplit, urlunsplit

import structlog
from prometheus_client import CollectorRegistry
from prometheus_client import delete_from_gateway as _prom_delete
from prometheus_client import push_to_gateway as _prom_push
from prometheus_client import pushadd_to_gateway as _prom_pushadd
from prometheus_client.exposition import default_handler
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

from etl_metrics._metrics import DEFAULT_REGISTRY
from etl_metrics.errors import PushGatewayError

#: Environment variable holding the Pushgateway basic-auth user name.
USERNAME_ENV = "ETL_PUSHGATEWAY_USERNAME"
#: Environment variable holding the Pushgateway basic-auth password.
PASSWORD_ENV = "ETL_PUSHGATEWAY_PASSWORD"
#: Environment variable holding a bearer token (takes precedence over basic auth).
TOKEN_ENV = "ETL_PUSHGATEWAY_TOKEN"

PushMethod = Literal["push_add", "push"]
_Handler = Callable[[], None]

# Longest single back-off pause, so retries stay bounded whatever the caller passes.
_MAX_BACKOFF_SECONDS = 30.0


def _auth_header() -> tuple[str, str] | None:
    """The Authorization header from the environment, or None when no credentials are set.

    Raises:
        PushGatewayError: Only one of user name and password is set.
    """
    token = os.environ.get(TOKEN_ENV)
    if token:
        return ("Authorization", f"Bearer {token}")
    username = os.environ.get(USERNAME_ENV)
    password = os.environ.get(PASSWORD_ENV)
    if username and password:
        raw = base64.b64encode(f"{username}:{password}".encode()).decode("ascii")
        return ("Authorization", f"Basic {raw}")
    if username or password:
        present, absent = (USERNAME_ENV, PASSWORD_ENV) if username else (PASSWORD_ENV, USERNAME_ENV)
        raise PushGatewayError(
            f"{present} is set but {absent} is not: set both for basic auth, set {TOKEN_ENV} "
            "for a bearer token, or unset both for no auth.",
            gateway="",
            attempts=0,
        )
    return None


def _handler_with(
    auth: tuple[str, str] | None,
) -> Callable[[str, str, float | None, list[tuple[str, str]], bytes], _Handler]:
    def handler(
        url: str, method: str, timeout: float | None, headers: list[tuple[str, str]], data: bytes
    ) -> _Handler:
        extra = [auth] if auth is not None else []
        return default_handler(url, method, timeout, [*headers, *extra], data)

    return handler


def redact_url(gateway: str) -> str:
    """Return ``gateway`` without any ``user:password@`` part, for logs and error messages.

    Args:
        gateway: A Pushgateway address, with or without scheme.

    Returns:
        The address with credentials replaced by ``***``.
    """
    parts = urlsplit(gateway if "://" in gateway else f"http://{gateway}")
    if parts.username is None and parts.password is None:
        return gateway
    host = parts.hostname or ""
    netloc = f"***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


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
        return f"HTTP {error.code} {error.reason}"
    return f"{type(error).__name__}: {error}"


def _group(job: str, grouping_key: Mapping[str, str] | None) -> dict[str, str] | None:
    if not job:
        raise ValueError("job must be a non-empty string (it names the Pushgateway group).")
    if not grouping_key:
        return None
    if "job" in grouping_key:
        raise ValueError(
            f"grouping_key must not contain 'job' (got {dict(grouping_key)}): the job is the "
            "second argument; put only the other labels (env, instance...) in grouping_key."
        )
    return {str(k): str(v) for k, v in grouping_key.items()}


def _attempt(
    what: str,
    gateway: str,
    job: str,
    grouping_key: Mapping[str, str] | None,
    call: Callable[[Callable[..., _Handler]], None],
    *,
    retries: int,
    backoff_seconds: float,
    strict: bool,
) -> bool:
    if retries < 0:
        raise ValueError(f"retries must be >= 0, got {retries}.")
    shown = redact_url(gateway)
    log = structlog.get_logger("etl_metrics.push").bind(
        gateway=shown, push_job=job, group=dict(grouping_key or {}), action=what
    )
    try:
        handler = _handler_with(_auth_header())
    except PushGatewayError as exc:
        if strict:
            raise PushGatewayError(str(exc), gateway=shown, attempts=0) from None
        log.warning("pushgateway_misconfigured", error=str(exc))
        return False
    attempts = 0
    while True:
        attempts += 1
        try:
            call(handler)
        except Exception as exc:  # any transport failure is reported, never raised by default
            if isinstance(exc, HTTPError):
                exc.close()
            if _retryable(exc) and attempts <= retries:
                time.sleep(min(backoff_seconds * 2 ** (attempts - 1), _MAX_BACKOFF_SECONDS))
                continue
            last = exc
            break
        if attempts > 1:
            log.info("pushgateway_succeeded_after_retry", attempts=attempts)
        return True
    message = (
        f"{what} for job {job!r} to Pushgateway {shown} failed after {attempts} attempt(s): "
        f"{_describe(last)}. Check that the gateway is up and reachable, and the credentials "
        f"in {TOKEN_ENV} or {USERNAME_ENV}/{PASSWORD_ENV}."
    )
    if strict:
        raise PushGatewayError(message, gateway=shown, attempts=attempts) from last
    log.warning("pushgateway_unavailable", attempts=attempts, error=_describe(last))
    return False


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
    ``ETL_PUSHGATEWAY_PASSWORD`` (basic auth). They are never logged.

    Args:
        gateway: ``host:port`` or URL of the Pushgateway.
        job: Grouping job name (also selects the series, see above).
        grouping_key: More grouping labels, e.g. ``{"instance": host, "run": run_id}``.
        registry: Registry to push; the library's default registry when None.
        method: ``"push_add"`` (POST) or ``"push"`` (PUT).
        timeout: Seconds per HTTP attempt.
        retries: Extra attempts after the first on connection errors, timeouts and 5xx
            answers (4xx answers are not retried).
        backoff_seconds: Pause before the first retry; doubles each retry (at most 30 s).
        strict: Raise instead of returning False.

    Returns:
        True when the gateway accepted the push; False when it failed (a warning is logged).

    Raises:
        PushGatewayError: In strict mode, when the push failed or credentials are half set.
        ValueError: ``method``, ``retries``, ``job`` or ``grouping_key`` is invalid.
    """
    if method not in ("push_add", "push"):
        raise ValueError(f"method must be 'push_add' or 'push', got {method!r}.")
    key = _group(job, grouping_key)
    source = _JobSeries(DEFAULT_REGISTRY if registry is None else registry, job)
    send = _prom_pushadd if method == "push_add" else _prom_push

    def call(handler: Callable[..., _Handler]) -> None:
        send(gateway, job, source, grouping_key=key, timeout=timeout, handler=handler)

    return _attempt(
        method,
        gateway,
        job,
        grouping_key,
        call,
        retries=retries,
        backoff_seconds=backoff_seconds,
        strict=strict,
    )


def delete_from_gateway(
    gateway: str,
    job: str,
    *,
    grouping_key: Mapping[str, str] | None = None,
    timeout: float = 10.0,
    retries: int = 2,
    backoff_seconds: float = 0.5,
    strict: bool = False,
) -> bool:
    """Delete one group (job plus grouping key) from a Pushgateway.

    Same auth, timeout, retry and strict semantics as :func:`push_metrics_to_gateway`.

    Args:
        gateway: ``host:port`` or URL of the Pushgateway.
        job: Grouping job name.
        grouping_key: The rest of the group's key, exactly as pushed.
        timeout: Seconds per HTTP attempt.
        retries: Extra attempts on connection errors, timeouts and 5xx answers.
        backoff_seconds: Pause before the first retry; doubles each retry (at most 30 s).
        strict: Raise instead of returning False.

    Returns:
        True when the gateway accepted the delete; False otherwise (a warning is logged).

    Raises:
        PushGatewayError: In strict mode, when the delete failed.
        ValueError: ``retries``, ``job`` or ``grouping_key`` is invalid.
    """
    key = _group(job, grouping_key)

    def call(handler: Callable[..., _Handler]) -> None:
        _prom_delete(gateway, job, grouping_key=key, timeout=timeout, handler=handler)

    return _attempt(
        "delete",
        gateway,
        job,
        grouping_key,
        call,
        retries=retries,
        backoff_seconds=backoff_seconds,
        strict=strict,
    )
