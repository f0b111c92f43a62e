"""What a run tells the outside world: metrics (pushed or written), gate results, redaction.

The data outcome of a run (were the batches committed?) and its metrics outcome (did the
metrics reach the Pushgateway or the textfile?) are separate: publishing never raises, it
returns a :class:`MetricsOutcome` that the run report records next to the data status. Only
``metrics.pushgateway.strict`` turns a failed publish into a non-zero exit code
(:data:`EXIT_METRICS_FAILED`), and only after the report is written.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from etl_app.errors import EtlAppError, GoldWriteError
from etl_metrics import EtlMetrics, redact_secrets, redact_url, try_push_metrics_to_gateway
from etl_metrics import write_textfile as _write_textfile

if TYPE_CHECKING:
    from dq_gates import GateResult
    from etl_app._config import MetricsConfig
    from etl_app._report import TableStep

#: Exit code of a run whose data was committed but whose metrics could not be delivered, with
#: ``metrics.pushgateway.strict: true`` (without strict such a run exits 0 and says so).
EXIT_METRICS_FAILED = 4


@dataclass(frozen=True)
class MetricsOutcome:
    """Where the run's metrics went and whether they got there.

    Attributes:
        ok: The metrics were delivered (push accepted, or textfile written).
        sink: ``pushgateway`` or ``textfile``.
        target: The gateway URL (credentials masked) or the textfile path.
        error: Why delivery failed (None when ``ok``); never holds credentials.
        attempts: Push attempts made (0 for the textfile).
        seconds: Time spent delivering them.
        strict: ``metrics.pushgateway.strict`` was set (a failure fails the exit code).
    """

    ok: bool
    sink: str
    target: str
    error: str | None = None
    attempts: int = 0
    seconds: float = 0.0
    strict: bool = False

    def describe(self) -> str:
        """Where the metrics went: ``pushgateway http://gw:9091``, ``(FAILED)`` added if so."""
        return f"{self.sink} {self.target}" + ("" if self.ok else " (FAILED)")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form for the run report."""
        return asdict(self)


def publish_metrics(
    config: MetricsConfig, *, job: str, env: str, root: Path, metrics: EtlMetrics
) -> MetricsOutcome:
    """Push the run's metrics to the Pushgateway, or write the textfile; never raise.

    The push is bounded as a whole by ``metrics.pushgateway.deadline_s`` (every attempt,
    retry and pause included) and each attempt by ``timeout_s``, so a gateway that trickles
    its answer cannot hold the job. A textfile that cannot be written (read-only folder, full
    disk) is reported, not raised.

    Args:
        config: The ``metrics`` section.
        job: Job name (grouping job).
        env: Environment (grouping label ``env``).
        root: Data root (the textfile is relative to it).
        metrics: The run's registry.

    Returns:
        The outcome, for the run report.
    """
    gateway = config.pushgateway
    if gateway.url:
        outcome = try_push_metrics_to_gateway(
            gateway.url,
            job,
            grouping_key={"env": env, **gateway.grouping_key},
            registry=metrics.registry,
            timeout=gateway.timeout_s,
            deadline=gateway.deadline_s,
        )
        return MetricsOutcome(
            ok=outcome.ok,
            sink="pushgateway",
            target=outcome.gateway,
            error=outcome.error,
            attempts=outcome.attempts,
            seconds=outcome.elapsed_seconds,
            strict=gateway.strict,
        )
    path = root / config.textfile
    try:
        written = _write_textfile(path, metrics.registry)
    except (OSError, ValueError) as exc:
        return MetricsOutcome(
            ok=False,
            sink="textfile",
            target=str(path),
            error=redact_text(f"{type(exc).__name__}: {exc}"),
        )
    return MetricsOutcome(ok=True, sink="textfile", target=str(written))


def record_gate(metrics: EtlMetrics, job: str, table: str, gated: GateResult) -> None:
    """Record a gate's per-row checks and its anomaly checks, each with its own metric.

    Per-row checks go to ``etl_dq_checks_total`` / ``etl_dq_violations_total``; anomaly checks
    (whole-batch metrics judged on the results history) only to the anomaly metrics
    (``record_dq_anomaly``), never also as a check.
    """
    for check in gated.checks:
        metrics.record_dq_check(
            job,
            table,
            check.name,
            passed=check.passed,
            violations=check.rows_failed or 0,
            severity=check.action.value,
        )
    for anomaly in gated.anomalies:
        metrics.record_dq_anomaly(
            job,
            table,
            anomaly.name,
            status=anomaly.status,
            severity=anomaly.action.value,
            value=anomaly.value,
            lower=anomaly.lower,
            upper=anomaly.upper,
        )


#: Environment variables holding the object store's credentials (read by Hadoop's S3A).
_SECRET_ENV = ("AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_ACCESS_KEY_ID")


def redact_text(value: str) -> str:
    """``value`` with the credentials of every URL in it, and of the environment, masked.

    A storage client's message can quote the access key it sent; the values of the
    process's AWS credential variables never leave in a report, a log line or a trace file.
    """
    cleaned: str = redact_secrets(value)
    for name in _SECRET_ENV:
        secret = os.environ.get(name)
        # Real keys are 20 (id) and 40 (secret) characters; a short value would mask words.
        if secret and len(secret) >= 8:
            cleaned = cleaned.replace(secret, "***")
    return cleaned


def redact_strings(value: Any) -> Any:
    """A copy of ``value`` whose strings, at any depth, have their URL credentials masked.

    Keys are kept (a report's ``grouping_key`` is not a secret); for a configuration, where
    a key can name a secret, use :func:`redact_config`.
    """
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, dict):
        return {k: redact_strings(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact_strings(v) for v in value]
    return value


def redact_config(data: dict[str, Any]) -> dict[str, Any]:
    """A configuration as plain data with its secrets masked, for printing.

    Values under secret-looking keys (``spark.conf`` entries such as
    ``spark.hadoop.fs.s3a.secret.key``) become ``[REDACTED]``, URLs lose their credentials
    (``metrics.pushgateway.url``). The Pushgateway grouping labels are shown (their key name
    holds ``key`` but they are labels, not secrets), with URLs in them masked.
    """
    cleaned: dict[str, Any] = redact_secrets(data)
    gateway = data.get("metrics", {}).get("pushgateway", {})
    if isinstance(gateway, dict) and "grouping_key" in gateway:
        cleaned["metrics"]["pushgateway"]["grouping_key"] = redact_strings(gateway["grouping_key"])
    url = gateway.get("url") if isinstance(gateway, dict) else None
    if isinstance(url, str):
        cleaned["metrics"]["pushgateway"]["url"] = redact_url(url)
    return cleaned


#: A JVM or Python stack frame line, or the start of PySpark's JVM trace section.
_FRAME = re.compile(r"^\s+at |^\s*\.\.\. \d+ more|^\s*JVM stacktrace:|^\s*File \"")
#: Message lines kept for the command line (the full trace goes to the log file).
_MAX_LINES = 12


def describe_error(exc: BaseException) -> str:
    """An exception as people read it: its type, Spark's error class, and the whole message.

    Spark errors (``Py4JJavaError``, PySpark's ``AnalysisException`` ...) carry their error
    class (``[DELTA_...]``) and a message that can span lines, followed by a JVM stack trace:
    the message lines are kept (up to 12), the stack frames dropped.
    """
    name = type(exc).__name__
    condition = None
    for getter in ("getCondition", "getErrorClass"):
        method = getattr(exc, getter, None)
        if callable(method):
            try:
                condition = method()
            except Exception:
                condition = None
            if condition:
                break
    lines: list[str] = []
    for line in str(exc).splitlines():
        if _FRAME.match(line):
            if line.strip().startswith("JVM stacktrace:"):
                break
            continue
        if line.strip():
            lines.append(line.strip())
    if len(lines) > _MAX_LINES:
        lines = [*lines[:_MAX_LINES], f"... ({len(lines) - _MAX_LINES} more lines in the log)"]
    message = "\n  ".join(lines) or "(no message)"
    prefix = f"{name} [{condition}]" if condition and f"[{condition}]" not in message else name
    return redact_text(f"{prefix}: {message}")


@contextlib.contextmanager
def gold_errors(table: str, column: str, values: list[str]) -> Iterator[None]:
    """Turn any failure of a gold computation into :class:`GoldWriteError` naming its target.

    The app's own errors (a contract check, ...) pass through unchanged.
    """
    try:
        yield
    except EtlAppError:
        raise
    except Exception as exc:
        raise GoldWriteError(table, column, values, describe_error(exc)) from exc


def silent(line: str) -> None:
    """A progress sink that drops every line."""


def progress_line(step: TableStep) -> str:
    """One progress line for a table write: ``  silver.orders batch 1: merge, 5 rows (v1)``."""
    batch = "" if step.batch_id is None else f" batch {step.batch_id}"
    what = (
        f"skipped ({step.skipped})"
        if step.skipped
        else f"{step.operation}, {step.rows_written} rows"
        + ("" if step.version is None else f" (v{step.version})")
    )
    return f"  {step.table}{batch}: {what} in {step.seconds:.1f}s"
