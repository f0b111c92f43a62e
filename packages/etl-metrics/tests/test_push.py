"""Pushgateway tests against the real Debian ``prometheus-pushgateway`` and loopback stubs."""

from __future__ import annotations

import base64
import json
import string
import time
from typing import TYPE_CHECKING, Any

import pytest
import structlog
from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry

from etl_metrics import (
    PASSWORD_ENV,
    TOKEN_ENV,
    USERNAME_ENV,
    EtlMetrics,
    GroupingKeyError,
    PushGatewayError,
    PushOutcome,
    delete_from_gateway,
    push_metrics_to_gateway,
    redact_url,
    try_delete_from_gateway,
    try_push_metrics_to_gateway,
    validate_grouping_key,
)

if TYPE_CHECKING:
    from conftest import Pushgateway, StubServer, TricklingServer

pytestmark = pytest.mark.integration

FAST = {"retries": 0, "timeout": 5.0}


@pytest.fixture(autouse=True)
def _no_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    """Credentials come only from what a test sets."""
    for name in (TOKEN_ENV, USERNAME_ENV, PASSWORD_ENV):
        monkeypatch.delenv(name, raising=False)


def run_job(metrics: EtlMetrics, job: str, *, fail: bool) -> None:
    """Simulate one run of a job in its own process (registry)."""

    @metrics.track_job_execution(job, "prod")
    def body() -> None:
        metrics.record_records_processed(job, "load", "orders", 10)
        if fail:
            raise RuntimeError("boom")

    if fail:
        with pytest.raises(RuntimeError):
            body()
    else:
        body()


class TestPushToRealGateway:
    def test_push_add_is_the_default_and_values_arrive(self, pushgateway: Pushgateway) -> None:
        """A push lands every series of the job in the gateway with its values."""
        metrics = EtlMetrics(CollectorRegistry())
        run_job(metrics, "nightly", fail=False)
        assert push_metrics_to_gateway(pushgateway.address, "nightly", registry=metrics.registry)
        got = pushgateway.value(
            "etl_records_processed_total", job="nightly", stage="load", table="orders"
        )
        assert got == 10
        assert pushgateway.value("etl_job_executions_total", job="nightly", status="success") == 1
        stamp = pushgateway.value("etl_job_last_success_timestamp", job="nightly", env="prod")
        assert stamp is not None
        assert abs(stamp - time.time()) < 60

    def test_failed_run_keeps_previous_last_success(self, pushgateway: Pushgateway) -> None:
        """push_add: a later failed run's push does not wipe the earlier success timestamp."""
        first = EtlMetrics(CollectorRegistry())
        run_job(first, "nightly", fail=False)
        assert push_metrics_to_gateway(pushgateway.address, "nightly", registry=first.registry)
        stamp = pushgateway.value("etl_job_last_success_timestamp", job="nightly")

        second = EtlMetrics(CollectorRegistry())
        run_job(second, "nightly", fail=True)
        assert push_metrics_to_gateway(pushgateway.address, "nightly", registry=second.registry)
        assert pushgateway.value("etl_job_last_success_timestamp", job="nightly") == stamp
        assert pushgateway.value("etl_job_executions_total", job="nightly", status="failure") == 1
        assert (
            pushgateway.value(
                "etl_errors_total", job="nightly", stage="job", error_type="RuntimeError"
            )
            == 1
        )

    def test_push_replaces_the_whole_group(self, pushgateway: Pushgateway) -> None:
        """method='push' (PUT) replaces the group, so the failed run wipes the timestamp."""
        first = EtlMetrics(CollectorRegistry())
        run_job(first, "nightly", fail=False)
        assert push_metrics_to_gateway(
            pushgateway.address, "nightly", registry=first.registry, method="push"
        )
        second = EtlMetrics(CollectorRegistry())
        run_job(second, "nightly", fail=True)
        assert push_metrics_to_gateway(
            pushgateway.address, "nightly", registry=second.registry, method="push"
        )
        assert pushgateway.value("etl_job_last_success_timestamp", job="nightly") is None
        assert pushgateway.value("etl_job_executions_total", job="nightly", status="failure") == 1

    def test_grouping_keys_keep_groups_apart(self, pushgateway: Pushgateway) -> None:
        """Pushes with different instance/run keys are separate groups labelled by the key."""
        for run, count in (("r1", 3), ("r2", 5)):
            metrics = EtlMetrics(CollectorRegistry())
            metrics.record_records_processed("nightly", "load", "orders", count)
            assert push_metrics_to_gateway(
                pushgateway.address,
                "nightly",
                grouping_key={"instance": "host-a", "run": run},
                registry=metrics.registry,
            )
        for run, count in (("r1", 3), ("r2", 5)):
            got = pushgateway.value(
                "etl_records_processed_total", job="nightly", instance="host-a", run=run
            )
            assert got == count

    def test_delete_removes_only_that_group(self, pushgateway: Pushgateway) -> None:
        """delete_from_gateway removes the named group and leaves the others."""
        metrics = EtlMetrics(CollectorRegistry())
        metrics.record_records_processed("nightly", "load", "orders", 1)
        for run in ("r1", "r2"):
            push_metrics_to_gateway(
                pushgateway.address, "nightly", grouping_key={"run": run}, registry=metrics.registry
            )
        assert delete_from_gateway(pushgateway.address, "nightly", grouping_key={"run": "r1"})
        assert pushgateway.value("etl_records_processed_total", run="r1") is None
        assert pushgateway.value("etl_records_processed_total", run="r2") == 1

    def test_only_the_pushed_jobs_series_are_sent(self, pushgateway: Pushgateway) -> None:
        """Series of another job stay out of the push; job-less series (tables) go along."""
        metrics = EtlMetrics(CollectorRegistry())
        metrics.record_records_processed("bronze", "load", "orders", 1)
        metrics.record_records_processed("silver", "load", "orders", 2)
        metrics.record_delta_table_metrics("orders", files=4)
        assert push_metrics_to_gateway(pushgateway.address, "silver", registry=metrics.registry)
        processed = [s for s in pushgateway.samples() if s.name == "etl_records_processed_total"]
        assert [(s.labels["job"], s.value) for s in processed] == [("silver", 2.0)]
        assert pushgateway.value("delta_table_files", job="silver", table="orders") == 4

    def test_default_registry_is_pushed_by_default(self, pushgateway: Pushgateway) -> None:
        """Without registry=, the library's default registry is pushed."""
        import etl_metrics

        etl_metrics.record_schema_drift("push_default_table", "extra_column")
        assert push_metrics_to_gateway(pushgateway.address, "default-push", **FAST)
        got = pushgateway.value(
            "etl_schema_drift_detected_total", job="default-push", table="push_default_table"
        )
        assert got is not None
        assert got >= 1

    def test_real_gateway_with_basic_auth(
        self,
        auth_pushgateway: Pushgateway,
        gateway_credentials: tuple[str, str],
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        """Without credentials the gateway refuses (401, no retry); with them the push lands."""
        metrics = EtlMetrics(CollectorRegistry())
        metrics.record_records_processed("secure", "load", "orders", 9)
        with structlog.testing.capture_logs() as logs:
            refused = push_metrics_to_gateway(
                auth_pushgateway.address, "secure", registry=metrics.registry, retries=3
            )
        assert refused is False
        assert logs[-1]["attempts"] == 1
        assert "401" in logs[-1]["error"]
        user, password = gateway_credentials
        monkeypatch.setenv(USERNAME_ENV, user)
        monkeypatch.setenv(PASSWORD_ENV, password)
        assert push_metrics_to_gateway(
            auth_pushgateway.address, "secure", registry=metrics.registry
        )
        token = base64.b64encode(f"{user}:{password}".encode()).decode()
        got = [
            s.value
            for s in auth_pushgateway.samples({"Authorization": f"Basic {token}"})
            if s.name == "etl_records_processed_total" and s.labels["job"] == "secure"
        ]
        assert got == [9.0]

    def test_a_later_normal_batch_clears_an_anomaly(self, pushgateway: Pushgateway) -> None:
        """Run 1 pushes an anomaly; run 2's normal batch pushes 0, so the alert can resolve."""
        first = EtlMetrics(CollectorRegistry())
        first.record_dq_anomaly(
            "nightly", "orders", "row_count", status="anomaly", severity="warn", value=50.0
        )
        assert push_metrics_to_gateway(pushgateway.address, "nightly", registry=first.registry)
        anomaly = {"job": "nightly", "table": "orders", "check": "row_count"}
        assert pushgateway.value("etl_dq_anomalies_total", **anomaly) == 1

        second = EtlMetrics(CollectorRegistry())
        second.record_dq_anomaly(
            "nightly", "orders", "row_count", status="ok", severity="warn", value=1000.0
        )
        assert push_metrics_to_gateway(pushgateway.address, "nightly", registry=second.registry)
        assert pushgateway.value("etl_dq_anomalies_total", **anomaly) == 0
        assert pushgateway.value("etl_dq_anomaly_value", **anomaly) == 1000.0
        statuses = {
            s.labels["status"]
            for s in pushgateway.samples()
            if s.name == "etl_dq_anomaly_checks_total"
        }
        assert statuses == {"ok"}

    def test_try_push_reports_success(self, pushgateway: Pushgateway) -> None:
        """The outcome of an accepted push says so, with one attempt and no error."""
        metrics = EtlMetrics(CollectorRegistry())
        metrics.record_records_processed("nightly", "load", "orders", 4)
        outcome = try_push_metrics_to_gateway(
            pushgateway.address,
            "nightly",
            grouping_key={"env": "prod"},
            registry=metrics.registry,
        )
        assert outcome.ok
        assert outcome.error is None
        assert outcome.attempts == 1
        assert outcome.action == "push_add"
        assert outcome.gateway == pushgateway.address
        assert outcome.grouping_key == {"env": "prod"}
        assert pushgateway.value("etl_records_processed_total", job="nightly", env="prod") == 4


class TestGatewayFailures:
    def test_gateway_down_returns_false_and_warns(self, closed_port: str) -> None:
        """Connection refused: no exception, False, and one warning naming the gateway."""
        metrics = EtlMetrics(CollectorRegistry())
        with structlog.testing.capture_logs() as logs:
            ok = push_metrics_to_gateway(closed_port, "j", registry=metrics.registry, **FAST)
        assert ok is False
        assert len(logs) == 1
        assert logs[0]["log_level"] == "warning"
        assert logs[0]["event"] == "pushgateway_unavailable"
        assert logs[0]["gateway"] == closed_port
        assert "Connection refused" in logs[0]["error"]

    def test_gateway_down_in_strict_mode_raises(self, closed_port: str) -> None:
        """strict=True turns the failure into a PushGatewayError with the cause."""
        metrics = EtlMetrics(CollectorRegistry())
        with pytest.raises(PushGatewayError, match=r"push_add for job 'j' .* 1 attempt") as caught:
            push_metrics_to_gateway(
                closed_port, "j", registry=metrics.registry, strict=True, **FAST
            )
        assert caught.value.attempts == 1
        assert caught.value.gateway == closed_port
        assert isinstance(caught.value.__cause__, OSError)

    def test_delete_when_down(self, closed_port: str) -> None:
        """A delete against a dead gateway returns False (or raises when strict)."""
        assert delete_from_gateway(closed_port, "j", **FAST) is False
        with pytest.raises(PushGatewayError, match="delete for job 'j'"):
            delete_from_gateway(closed_port, "j", strict=True, **FAST)

    def test_timeout_is_bounded(self, silent_server: str) -> None:
        """A gateway that never answers costs about one timeout per attempt, then False."""
        metrics = EtlMetrics(CollectorRegistry())
        start = time.monotonic()
        with structlog.testing.capture_logs() as logs:
            ok = push_metrics_to_gateway(
                silent_server,
                "j",
                registry=metrics.registry,
                timeout=0.3,
                retries=1,
                backoff_seconds=0.01,
            )
        elapsed = time.monotonic() - start
        assert ok is False
        assert 0.6 <= elapsed < 5
        assert logs[-1]["attempts"] == 2
        assert "timed out" in logs[-1]["error"]

    @pytest.mark.parametrize("stub_server", [500], indirect=True)
    def test_server_errors_are_retried_a_bounded_number_of_times(
        self, stub_server: StubServer
    ) -> None:
        """A 500 answer is retried exactly `retries` times, then reported."""
        metrics = EtlMetrics(CollectorRegistry())
        with structlog.testing.capture_logs() as logs:
            ok = push_metrics_to_gateway(
                stub_server.address,
                "j",
                registry=metrics.registry,
                retries=3,
                backoff_seconds=0.01,
            )
        assert ok is False
        assert len(stub_server.requests) == 4
        assert {method for method, _, _ in stub_server.requests} == {"POST"}
        assert logs[-1]["attempts"] == 4
        assert logs[-1]["error"].startswith("HTTP 500")

    @pytest.mark.parametrize("stub_server", [400], indirect=True)
    def test_client_errors_are_not_retried(self, stub_server: StubServer) -> None:
        """A 4xx answer is final: one attempt only."""
        metrics = EtlMetrics(CollectorRegistry())
        ok = push_metrics_to_gateway(
            stub_server.address, "j", registry=metrics.registry, retries=3, backoff_seconds=0.01
        )
        assert ok is False
        assert len(stub_server.requests) == 1

    def test_recovery_after_retry_is_logged(self, stub_server: StubServer) -> None:
        """A push that fails then succeeds returns True and logs the attempts at info."""
        metrics = EtlMetrics(CollectorRegistry())
        stub_server.script = [503]
        with structlog.testing.capture_logs() as logs:
            ok = push_metrics_to_gateway(
                stub_server.address,
                "j",
                registry=metrics.registry,
                retries=2,
                backoff_seconds=0.01,
            )
        assert ok is True
        assert len(stub_server.requests) == 2
        assert logs == [
            {
                "gateway": stub_server.address,
                "push_job": "j",
                "group": {},
                "action": "push_add",
                "attempts": 2,
                "event": "pushgateway_succeeded_after_retry",
                "log_level": "info",
            }
        ]

    def test_invalid_arguments(self, closed_port: str) -> None:
        """Bad methods, retries, jobs and grouping keys are programming errors, raised at once."""
        with pytest.raises(ValueError, match="method must be"):
            push_metrics_to_gateway(closed_port, "j", method="put")  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="retries must be >= 0"):
            push_metrics_to_gateway(closed_port, "j", retries=-1)
        with pytest.raises(ValueError, match="grouping_key must not contain 'job'"):
            delete_from_gateway(closed_port, "j", grouping_key={"job": "other"})
        with pytest.raises(ValueError, match="job must be a non-empty string"):
            push_metrics_to_gateway(closed_port, "")


class TestAuthFromEnvironment:
    def test_bearer_token_header(
        self, stub_server: StubServer, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """ETL_PUSHGATEWAY_TOKEN is sent as a bearer token, and wins over basic auth."""
        monkeypatch.setenv(TOKEN_ENV, "tok-123")
        monkeypatch.setenv(USERNAME_ENV, "u")
        monkeypatch.setenv(PASSWORD_ENV, "p")
        assert push_metrics_to_gateway(
            stub_server.address, "j", registry=CollectorRegistry(), **FAST
        )
        _, path, headers = stub_server.requests[0]
        assert headers["Authorization"] == "Bearer tok-123"
        assert path == "/metrics/job/j"

    def test_basic_auth_header(
        self, stub_server: StubServer, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """User name and password are sent as HTTP basic auth, on deletes too."""
        monkeypatch.setenv(USERNAME_ENV, "etl")
        monkeypatch.setenv(PASSWORD_ENV, "s3cret")
        assert delete_from_gateway(stub_server.address, "j", grouping_key={"run": "r1"}, **FAST)
        method, path, headers = stub_server.requests[0]
        assert method == "DELETE"
        assert path == "/metrics/job/j/run/r1"
        expected = base64.b64encode(b"etl:s3cret").decode()
        assert headers["Authorization"] == f"Basic {expected}"

    def test_no_credentials_no_header(self, stub_server: StubServer) -> None:
        """Without the variables no Authorization header is sent."""
        assert push_metrics_to_gateway(
            stub_server.address, "j", registry=CollectorRegistry(), **FAST
        )
        assert "Authorization" not in stub_server.requests[0][2]

    def test_half_set_credentials(
        self, stub_server: StubServer, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A user name without password is reported (strict: raised) and nothing is sent."""
        monkeypatch.setenv(USERNAME_ENV, "etl")
        with structlog.testing.capture_logs() as logs:
            assert push_metrics_to_gateway(stub_server.address, "j", **FAST) is False
        assert logs[0]["event"] == "pushgateway_misconfigured"
        assert PASSWORD_ENV in logs[0]["error"]
        with pytest.raises(PushGatewayError, match=f"{USERNAME_ENV} is set but {PASSWORD_ENV}"):
            push_metrics_to_gateway(stub_server.address, "j", strict=True, **FAST)
        monkeypatch.delenv(USERNAME_ENV)
        monkeypatch.setenv(PASSWORD_ENV, "only-password")
        with pytest.raises(PushGatewayError, match=f"{PASSWORD_ENV} is set but {USERNAME_ENV}"):
            push_metrics_to_gateway(stub_server.address, "j", strict=True, **FAST)
        assert stub_server.requests == []

    def test_secrets_never_logged(
        self, closed_port: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """Neither the token, the password nor URL credentials appear in warnings or errors."""
        monkeypatch.setenv(TOKEN_ENV, "tok-SECRET-1")
        monkeypatch.setenv(PASSWORD_ENV, "pw-SECRET-2")
        monkeypatch.setenv(USERNAME_ENV, "etl")
        gateway = f"http://user:url-SECRET-3@{closed_port}"
        with structlog.testing.capture_logs() as logs:
            assert push_metrics_to_gateway(gateway, "j", **FAST) is False
        with pytest.raises(PushGatewayError) as caught:
            push_metrics_to_gateway(gateway, "j", strict=True, **FAST)
        # Also through structlog's default renderer, as a user without configuration sees it.
        push_metrics_to_gateway(gateway, "j", **FAST)
        printed = capsys.readouterr()
        text = repr(logs) + str(caught.value) + caught.value.gateway + printed.out + printed.err
        assert "pushgateway_unavailable" in printed.out + printed.err
        for secret in ("tok-SECRET-1", "pw-SECRET-2", "url-SECRET-3"):
            assert secret not in text


class TestRedactUrl:
    @pytest.mark.parametrize(
        ("given", "shown"),
        [
            ("localhost:9091", "localhost:9091"),
            ("http://gw:9091/", "http://gw:9091/"),
            ("https://u:p@gw:9091/x", "https://u:***@gw:9091/x"),
            ("u:p@gw", "u:***@gw"),
            ("http://tok@gw:9091", "http://***@gw:9091"),
        ],
    )
    def test_redact_url(self, given: str, shown: str) -> None:
        """Credentials in a gateway address are masked; other addresses are unchanged."""
        assert redact_url(given) == shown


class TestWholeAttemptIsBounded:
    """A gateway answering byte by byte cannot hold the job: each attempt has a total time."""

    def test_trickling_gateway_is_cut_off(self, trickling_server: TricklingServer) -> None:
        """With timeout=2 s the push returns False long before the server would stop."""
        metrics = EtlMetrics(CollectorRegistry())
        start = time.monotonic()
        with structlog.testing.capture_logs() as logs:
            ok = push_metrics_to_gateway(
                trickling_server.address, "j", registry=metrics.registry, timeout=2.0, retries=0
            )
        elapsed = time.monotonic() - start
        assert ok is False
        assert elapsed < 30
        assert trickling_server.connections == 1
        assert logs[-1]["event"] == "pushgateway_unavailable"
        assert "timed out" in logs[-1]["error"]
        assert "within 2 s" in logs[-1]["error"]

    def test_success_status_with_unfinished_headers_is_not_a_success(
        self, status_then_trickling_server: TricklingServer
    ) -> None:
        """A 200 status line followed by headers that never end is a timed-out attempt."""
        outcome = try_push_metrics_to_gateway(
            status_then_trickling_server.address,
            "j",
            registry=CollectorRegistry(),
            timeout=2.0,
            retries=0,
        )
        assert not outcome.ok
        assert outcome.error is not None
        assert "timed out" in outcome.error
        assert outcome.attempts == 1

    def test_trickling_gateway_in_strict_mode_raises(
        self, trickling_server: TricklingServer
    ) -> None:
        """strict=True raises PushGatewayError naming the timeout, also within the bound."""
        start = time.monotonic()
        with pytest.raises(PushGatewayError, match="timed out") as caught:
            push_metrics_to_gateway(
                trickling_server.address,
                "j",
                registry=CollectorRegistry(),
                timeout=2.0,
                retries=0,
                strict=True,
            )
        assert time.monotonic() - start < 30
        assert caught.value.outcome is not None
        assert caught.value.outcome.attempts == 1
        assert isinstance(caught.value.__cause__, TimeoutError)

    def test_deadline_bounds_every_retry_together(self, trickling_server: TricklingServer) -> None:
        """With many retries, deadline=5 s stops the whole call and says why."""
        start = time.monotonic()
        outcome = try_push_metrics_to_gateway(
            trickling_server.address,
            "j",
            registry=CollectorRegistry(),
            timeout=2.0,
            retries=10,
            backoff_seconds=0.01,
            deadline=5.0,
        )
        assert time.monotonic() - start < 30
        assert not outcome.ok
        assert outcome.error is not None
        assert "deadline of 5 s reached" in outcome.error
        assert 1 <= outcome.attempts <= 4
        assert trickling_server.connections == outcome.attempts

    def test_delete_is_bounded_too(self, trickling_server: TricklingServer) -> None:
        """A delete against a trickling gateway ends with a timed-out outcome."""
        start = time.monotonic()
        outcome = try_delete_from_gateway(trickling_server.address, "j", timeout=2.0, retries=0)
        assert time.monotonic() - start < 30
        assert outcome.action == "delete"
        assert not outcome.ok
        assert outcome.error is not None
        assert "timed out" in outcome.error

    def test_trickling_https_gateway_is_cut_off(
        self, tls_trickling_server: TricklingServer
    ) -> None:
        """Over TLS too, the attempt ends at its timeout (the TLS session is shut with it)."""
        start = time.monotonic()
        outcome = try_push_metrics_to_gateway(
            tls_trickling_server.address,
            "j",
            registry=CollectorRegistry(),
            timeout=3.0,
            retries=0,
        )
        assert time.monotonic() - start < 30
        assert not outcome.ok
        assert outcome.error is not None
        assert "timed out" in outcome.error
        assert tls_trickling_server.connections == 1

    def test_invalid_limits(self, closed_port: str) -> None:
        """A timeout or deadline that is not a positive number is refused at once."""
        with pytest.raises(ValueError, match="timeout must be a positive number"):
            push_metrics_to_gateway(closed_port, "j", timeout=0)
        with pytest.raises(ValueError, match="deadline must be a positive number"):
            try_delete_from_gateway(closed_port, "j", deadline=-1.0)


def _reference_label_name_ok(name: str) -> bool:
    """A plain reading of Prometheus' label-name rule, minus the names a push may not use."""
    first = string.ascii_letters + "_"
    rest = first + string.digits
    valid = bool(name) and name[0] in first and all(c in rest for c in name)
    return valid and not name.startswith("__") and name != "job"


class TestGroupingKey:
    """Grouping keys are checked up front, by a function config validation can call."""

    @pytest.mark.parametrize(
        ("key", "message"),
        [
            ({"job": "other"}, "grouping_key must not contain 'job'"),
            ({"__name__": "x"}, "reserves for its internal labels"),
            ({"data-center": "x"}, "not a valid Prometheus label name"),
            ({"1st": "x"}, "not a valid Prometheus label name"),
            ({"": "x"}, "not a valid Prometheus label name"),
            ({"env": ""}, "must be a non-empty string"),
            ({"shard": 3}, r"quote it in YAML \('3', not 3\)"),
            ([("env", "prod")], "must be a mapping"),
        ],
    )
    def test_invalid_keys_are_refused_with_the_reason(self, key: Any, message: str) -> None:
        """Each kind of bad key raises GroupingKeyError (a ValueError) saying what to fix."""
        with pytest.raises(GroupingKeyError, match=message):
            validate_grouping_key(key)

    def test_valid_key_is_returned_as_a_copy(self) -> None:
        """A valid key comes back as a new plain dict; None and {} give {}."""
        given_key = {"env": "prod", "instance": "driver-0", "stage": "silver"}
        checked = validate_grouping_key(given_key)
        assert checked == given_key
        assert checked is not given_key
        assert validate_grouping_key(None) == {}
        assert validate_grouping_key({}) == {}

    @settings(max_examples=200, deadline=None)
    @given(
        st.dictionaries(
            st.text(alphabet=string.ascii_letters + string.digits + "_-. ", max_size=8),
            st.text(min_size=1, max_size=5),
            max_size=4,
        )
    )
    def test_accepts_exactly_the_valid_names(self, key: dict[str, str]) -> None:
        """A key is accepted exactly when every name passes the plain reference rule."""
        if all(_reference_label_name_ok(name) for name in key):
            assert validate_grouping_key(key) == key
        else:
            with pytest.raises(GroupingKeyError):
                validate_grouping_key(key)

    def test_push_refuses_a_bad_key_before_sending(self, stub_server: StubServer) -> None:
        """Every push and delete function refuses a bad key at call time; nothing is sent."""
        bad = {"job": "other"}
        calls = [
            lambda: push_metrics_to_gateway(stub_server.address, "j", grouping_key=bad),
            lambda: try_push_metrics_to_gateway(stub_server.address, "j", grouping_key=bad),
            lambda: delete_from_gateway(stub_server.address, "j", grouping_key=bad),
            lambda: try_delete_from_gateway(stub_server.address, "j", grouping_key=bad),
        ]
        for call in calls:
            with pytest.raises(GroupingKeyError, match="must not contain 'job'"):
                call()
        assert stub_server.requests == []


class TestPushOutcome:
    """try_* functions report failures as an outcome and never raise for them."""

    def test_gateway_down(self, closed_port: str) -> None:
        """Connection refused gives ok=False with the error, attempts and time, no exception."""
        outcome = try_push_metrics_to_gateway(
            closed_port, "j", registry=CollectorRegistry(), retries=1, backoff_seconds=0.01
        )
        assert isinstance(outcome, PushOutcome)
        assert not outcome.ok
        assert outcome.attempts == 2
        assert outcome.error is not None
        assert "Connection refused" in outcome.error
        assert outcome.elapsed_seconds >= 0
        assert json.loads(json.dumps(outcome.to_dict())) == outcome.to_dict()
        assert outcome.to_dict()["ok"] is False

    @pytest.mark.parametrize("stub_server", [500], indirect=True)
    def test_server_error(self, stub_server: StubServer) -> None:
        """A 5xx answer is reported with its status after the retries."""
        outcome = try_delete_from_gateway(stub_server.address, "j", retries=2, backoff_seconds=0.01)
        assert not outcome.ok
        assert outcome.attempts == 3
        assert outcome.error == "HTTP 500 Internal Server Error"

    def test_half_set_credentials(
        self, stub_server: StubServer, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Half-set credentials are an outcome with 0 attempts, not an exception."""
        monkeypatch.setenv(USERNAME_ENV, "etl")
        outcome = try_push_metrics_to_gateway(stub_server.address, "j", **FAST)
        assert not outcome.ok
        assert outcome.attempts == 0
        assert outcome.error is not None
        assert PASSWORD_ENV in outcome.error
        assert stub_server.requests == []

    def test_strict_error_carries_the_outcome(self, closed_port: str) -> None:
        """In strict mode the raised PushGatewayError holds the same outcome."""
        with pytest.raises(PushGatewayError) as caught:
            delete_from_gateway(closed_port, "j", strict=True, **FAST)
        outcome = caught.value.outcome
        assert outcome is not None
        assert not outcome.ok
        assert outcome.action == "delete"
        assert outcome.attempts == caught.value.attempts == 1


class TestCredentialsInUrl:
    """user:password@ in the gateway URL is used as basic auth and never shown."""

    def test_url_credentials_reach_a_real_gateway(
        self, auth_pushgateway: Pushgateway, gateway_credentials: tuple[str, str]
    ) -> None:
        """The basic-auth gateway accepts a push whose only credentials are in its URL."""
        user, password = gateway_credentials
        metrics = EtlMetrics(CollectorRegistry())
        metrics.record_records_processed("url-auth", "load", "orders", 6)
        gateway = f"http://{user}:{password}@{auth_pushgateway.address}"
        with structlog.testing.capture_logs() as logs:
            outcome = try_push_metrics_to_gateway(gateway, "url-auth", registry=metrics.registry)
        assert outcome.ok, outcome.error
        assert outcome.gateway == f"http://{user}:***@{auth_pushgateway.address}"
        assert password not in repr(logs) + repr(outcome.to_dict())
        token = base64.b64encode(f"{user}:{password}".encode()).decode()
        got = [
            s.value
            for s in auth_pushgateway.samples({"Authorization": f"Basic {token}"})
            if s.name == "etl_records_processed_total" and s.labels["job"] == "url-auth"
        ]
        assert got == [6.0]

    def test_header_and_path(self, stub_server: StubServer) -> None:
        """Percent-encoded credentials are decoded into the header; the path holds none."""
        gateway = f"http://etl:p%40ss%2Fw@{stub_server.address}"
        assert push_metrics_to_gateway(gateway, "j", registry=CollectorRegistry(), **FAST)
        _, path, headers = stub_server.requests[0]
        assert path == "/metrics/job/j"
        assert headers["Authorization"] == "Basic " + base64.b64encode(b"etl:p@ss/w").decode()

    def test_environment_wins_over_the_url(
        self, stub_server: StubServer, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A token in the environment is sent instead of the URL's credentials."""
        monkeypatch.setenv(TOKEN_ENV, "tok-env")
        gateway = f"http://etl:url-pass@{stub_server.address}"
        assert push_metrics_to_gateway(gateway, "j", registry=CollectorRegistry(), **FAST)
        assert stub_server.requests[0][2]["Authorization"] == "Bearer tok-env"

    def test_failure_messages_mask_the_password(self, closed_port: str) -> None:
        """The warning, the outcome and the strict error show the user, never the password."""
        gateway = f"http://etl:url-SECRET-9@{closed_port}"
        with structlog.testing.capture_logs() as logs:
            outcome = try_push_metrics_to_gateway(gateway, "j", **FAST)
        with pytest.raises(PushGatewayError) as caught:
            push_metrics_to_gateway(gateway, "j", strict=True, **FAST)
        shown = f"http://etl:***@{closed_port}"
        assert logs[-1]["gateway"] == shown
        assert outcome.gateway == shown
        assert caught.value.gateway == shown
        assert shown in str(caught.value)
        text = repr(logs) + repr(outcome.to_dict()) + str(caught.value)
        assert "url-SECRET-9" not in text
