from __future__ import annotations

import io
import json
import logging
import threading
from enum import StrEnum
from typing import Any, NamedTuple

import pytest
import structlog
from hypothesis import given, settings
from hypothesis import strategies as st

from etl_metrics import (
    REDACTED,
    RedactSecrets,
    bind_context,
    bound_context,
    clear_context,
    configure_logging,
    get_logger,
    new_run_id,
)


class Header(StrEnum):
    AUTH = "Basic dXNlcjpwdw=="
    PLAIN = "plain"


OBJECT = object()


class Point(NamedTuple):
    x: int
    y: int


def json_lines(stream: io.StringIO) -> list[dict[str, Any]]:
    """Every line written so far, parsed as JSON."""
    return [json.loads(line) for line in stream.getvalue().splitlines()]


class TestJsonOutput:
    def test_one_json_object_per_line_with_context(self) -> None:
        """JSON lines carry event, level, UTC timestamp and the bound job/env/run_id/stage."""
        out = io.StringIO()
        configure_logging(fmt="json", stream=out)
        bind_context(job="nightly", env="prod", run_id="r-1")
        with bound_context(stage="load"):
            get_logger().info("rows_written", rows=10)
        get_logger("etl").warning("done")
        first, second = json_lines(out)
        assert first["event"] == "rows_written"
        assert first["rows"] == 10
        assert first["level"] == "info"
        assert first["timestamp"].endswith("Z")
        assert {k: first[k] for k in ("job", "env", "run_id", "stage")} == {
            "job": "nightly",
            "env": "prod",
            "run_id": "r-1",
            "stage": "load",
        }
        assert "stage" not in second
        assert second["logger"] == "etl"
        assert second["level"] == "warning"

    def test_context_keys_come_in_a_fixed_order(self) -> None:
        """job, env, run_id, stage, then other bound keys sorted, whatever the binding order.

        structlog's own merge follows the context variables' hashes, which differ between
        processes: the same line came out in another key order on the next run.
        """
        out = io.StringIO()
        configure_logging(fmt="json", stream=out)
        extras = [f"k{n:02d}" for n in range(20)]
        for key in reversed(extras):
            bind_context(**{key: 1})
        bind_context(stage="load")
        bind_context(run_id="r-1")
        bind_context(env="prod")
        bind_context(job="nightly")
        get_logger().info("ordered", rows=3)
        (line,) = out.getvalue().splitlines()
        keys = list(json.loads(line))
        assert keys[: keys.index("level")] == [
            "rows",
            "event",
            "job",
            "env",
            "run_id",
            "stage",
            *extras,
        ]

    def test_level_filter(self) -> None:
        """Lines below the configured level are dropped."""
        out = io.StringIO()
        configure_logging(stream=out, level="warning")
        log = get_logger()
        log.info("hidden")
        log.error("shown")
        assert [line["event"] for line in json_lines(out)] == ["shown"]
        configure_logging(stream=out, level=logging.DEBUG)
        get_logger().debug("debug_now_shown")
        assert json_lines(out)[-1]["event"] == "debug_now_shown"

    def test_exceptions_are_rendered_as_text(self) -> None:
        """log.exception puts the traceback in an 'exception' field."""
        out = io.StringIO()
        configure_logging(stream=out)
        try:
            int("bad row")
        except ValueError:
            get_logger().exception("load_failed")
        (line,) = json_lines(out)
        assert "ValueError: invalid literal" in line["exception"]

    def test_clear_context(self) -> None:
        """clear_context removes everything bound."""
        out = io.StringIO()
        configure_logging(stream=out)
        bind_context(job="j", extra_key_free="x")
        clear_context()
        get_logger().info("after")
        assert "job" not in json_lines(out)[0]

    def test_context_is_per_thread(self) -> None:
        """Values bound in one thread do not leak into another."""
        out = io.StringIO()
        configure_logging(stream=out)
        bind_context(job="main-thread")

        def other() -> None:
            get_logger().info("from_other")

        thread = threading.Thread(target=other)
        thread.start()
        thread.join()
        assert "job" not in json_lines(out)[0]


class TestLoggerCreatedBeforeConfiguration:
    def test_module_level_logger_follows_later_configuration(self) -> None:
        """A get_logger(name) made at import time writes with the configuration set later."""
        early = get_logger("etl_app", component="loader")
        out = io.StringIO()
        configure_logging(fmt="json", stream=out)
        early.info("configured_later", password="hidden")
        (line,) = json_lines(out)
        assert line["logger"] == "etl_app"
        assert line["component"] == "loader"
        assert line["password"] == REDACTED


class TestConsoleOutput:
    def test_console_is_readable_and_has_context(self) -> None:
        """The console format is plain text with the event and key=value pairs."""
        out = io.StringIO()
        configure_logging(fmt="console", stream=out)
        with bound_context(job="nightly"):
            get_logger().info("rows_written", rows=10)
        text = out.getvalue()
        assert "rows_written" in text
        assert "job=nightly" in text
        assert "rows=10" in text
        assert "\x1b[" not in text  # no colour codes when not a terminal
        with pytest.raises(json.JSONDecodeError):
            json.loads(text)


class TestConfigurationErrors:
    def test_bad_format_and_level(self) -> None:
        """Unknown formats and levels are refused with the valid choices."""
        with pytest.raises(ValueError, match="fmt must be 'json' or 'console'"):
            configure_logging(fmt="xml")  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="Unknown log level 'loud'"):
            configure_logging(level="loud")
        with pytest.raises(ValueError, match="at least one marker"):
            RedactSecrets(markers=[])

    def test_default_stream_is_stderr(self, capsys: pytest.CaptureFixture[str]) -> None:
        """Without a stream, lines go to stderr and stdout stays clean."""
        configure_logging(cache_logger_on_first_use=False)
        get_logger().info("to_stderr")
        captured = capsys.readouterr()
        assert captured.out == ""
        assert json.loads(captured.err)["event"] == "to_stderr"

    def test_new_run_id(self) -> None:
        """Run ids are 32 hex characters and differ."""
        first, second = new_run_id(), new_run_id()
        assert len(first) == 32
        int(first, 16)
        assert first != second


SECRETS = {
    "password": "pw-SECRET-1",
    "db_passwd": "pw-SECRET-2",
    "API_KEY": "key-SECRET-3",
    "Authorization": "Bearer tok-SECRET-4",
    "client_secret": "sec-SECRET-5",
    "refresh_token": "tok-SECRET-6",
    "aws_credentials": "cred-SECRET-7",
}


class TestRedaction:
    @pytest.mark.parametrize("fmt", ["json", "console"])
    def test_secrets_never_reach_the_output(self, fmt: str) -> None:
        """Secret-looking keys, at top level, nested, in lists and in context, are redacted."""
        out = io.StringIO()
        configure_logging(fmt=fmt, stream=out)  # type: ignore[arg-type]
        bind_context(job="j", token="ctx-SECRET-8")
        log = get_logger()
        log.info("top", **SECRETS)
        log.info(
            "nested",
            config={"db": {"host": "db1", "Password": "nested-SECRET-9"}},
            attempts=[{"headers": {"authorization": "Basic nested-SECRET-10"}}],
            note="Bearer value-SECRET-11",
        )
        text = out.getvalue()
        for i in range(1, 12):
            assert f"SECRET-{i}" not in text, f"secret {i} leaked"
        assert REDACTED in text
        assert "db1" in text  # harmless values survive

    def test_structure_is_kept(self) -> None:
        """Only secret values change: keys, nesting and other values stay."""
        out = io.StringIO()
        configure_logging(stream=out)
        point = Point(1, 2)
        get_logger().info(
            "x",
            user="etl",
            password="p",
            conn={"host": "h", "port": 5432, "pwd": "p"},
            items=("a", "b"),
            points=[point],
            nested=[[Header.AUTH, Header.PLAIN], {"path": OBJECT}],
        )
        (line,) = json_lines(out)
        assert line["user"] == "etl"
        assert line["password"] == REDACTED
        assert line["conn"] == {"host": "h", "port": 5432, "pwd": REDACTED}
        assert line["items"] == ["a", "b"]
        assert line["points"] == [[1, 2]]
        # str subclasses are checked like str; other objects pass through untouched
        assert line["nested"] == [[REDACTED, "plain"], {"path": repr(OBJECT)}]
        assert line["event"] == "x"

    def test_custom_markers(self) -> None:
        """redact_markers replaces the default list (case-insensitive)."""
        out = io.StringIO()
        configure_logging(stream=out, redact_markers=["SSN"])
        get_logger().info("x", customer_ssn="123", password="visible-now")
        (line,) = json_lines(out)
        assert line["customer_ssn"] == REDACTED
        assert line["password"] == "visible-now"

    def test_is_secret_key(self) -> None:
        """Keys are matched by case-insensitive fragments; the verdict is cached."""
        redactor = RedactSecrets()
        assert redactor.is_secret_key("X-Api-Key")
        assert redactor.is_secret_key("X-Api-Key")
        assert not redactor.is_secret_key("table")
        assert not redactor.is_secret_key("event_count")

    @settings(max_examples=60, deadline=None)
    @given(
        secret_key=st.sampled_from(sorted(SECRETS)),
        wrapper=st.sampled_from(["flat", "dict", "list", "deep"]),
        secret=st.text(alphabet=st.characters(codec="ascii", categories=["L", "N"]), min_size=12),
    )
    def test_property_secret_values_never_printed(
        self, secret_key: str, wrapper: str, secret: str
    ) -> None:
        """For any secret value under a secret key, however nested, the output lacks it."""
        out = io.StringIO()
        configure_logging(stream=out, cache_logger_on_first_use=False)
        payload: dict[str, Any] = {secret_key: secret}
        fields: dict[str, Any] = {
            "flat": payload,
            "dict": {"outer": payload},
            "list": {"items": [payload]},
            "deep": {"a": {"b": [{"c": payload}]}},
        }[wrapper]
        structlog.get_logger().info("event_text", **fields)
        assert secret not in out.getvalue()
