"""redact_url and redact_secrets: credentials never survive, everything else is kept."""

from __future__ import annotations

import io
import json
import string
from typing import Any

import pytest
import structlog
from hypothesis import given, settings
from hypothesis import strategies as st

from etl_metrics import (
    DEFAULT_SECRET_MARKERS,
    REDACTED,
    configure_logging,
    redact_secrets,
    redact_url,
)

# RFC 3986 userinfo characters a password may hold unencoded (no '/', '?', '#', '@').
USERINFO = string.ascii_letters + string.digits + "-._~!$&'()*+,;=%"
HOST = string.ascii_lowercase + string.digits + "-."
PATH = string.ascii_letters + string.digits + "-._~/"
PLAIN_KEYS = ["env", "table", "job", "instance", "region", "mode"]
SECRET_KEYS = ["password", "api_key", "access_token", "client_secret", "X-Auth-Token"]

users = st.text(alphabet=USERINFO.replace("%", ""), min_size=1, max_size=10)
passwords = st.text(alphabet=USERINFO + ":", min_size=1, max_size=16)
hosts = st.text(alphabet=HOST, min_size=1, max_size=12)
ports = st.one_of(st.just(""), st.integers(1, 65535).map(lambda p: f":{p}"))
paths = st.one_of(st.just(""), st.text(alphabet=PATH, max_size=12).map(lambda p: "/" + p))
schemes = st.sampled_from(["http://", "https://", ""])
plain_values = st.text(alphabet=string.ascii_letters + string.digits + "-.", max_size=8)


class TestRedactUrl:
    @settings(max_examples=300, deadline=None)
    @given(st.tuples(schemes, users, passwords, hosts, ports, paths))
    def test_password_is_masked_and_the_rest_kept(
        self, parts: tuple[str, str, str, str, str, str]
    ) -> None:
        """user:password@ becomes user:***@, compared with the URL assembled by hand."""
        scheme, user, password, host, port, path = parts
        url = f"{scheme}{user}:{password}@{host}{port}{path}"
        assert redact_url(url) == f"{scheme}{user}:***@{host}{port}{path}"

    @settings(max_examples=200, deadline=None)
    @given(schemes, passwords, hosts, ports, paths)
    def test_user_part_alone_is_masked_whole(
        self, scheme: str, token: str, host: str, port: str, path: str
    ) -> None:
        """A userinfo without password (often a token itself) is masked entirely."""
        token = token.replace(":", "")
        if not token:
            token = "t"
        url = f"{scheme}{token}@{host}{port}{path}"
        assert redact_url(url) == f"{scheme}***@{host}{port}{path}"

    @settings(max_examples=200, deadline=None)
    @given(
        hosts,
        st.lists(st.tuples(st.sampled_from(PLAIN_KEYS + SECRET_KEYS), plain_values), max_size=5),
        st.booleans(),
    )
    def test_secret_query_parameters_lose_their_value(
        self, host: str, params: list[tuple[str, str]], fragment: bool
    ) -> None:
        """Values of secret-looking parameters become ***; others are kept, order and all."""
        query = "&".join(f"{k}={v}" for k, v in params)
        expected = "&".join(f"{k}={'***' if k in SECRET_KEYS else v}" for k, v in params)
        tail = f"#{query}" if fragment else ""
        tail_expected = f"#{expected}" if fragment else ""
        url = f"https://{host}/metrics?{query}{tail}"
        assert redact_url(url) == f"https://{host}/metrics?{expected}{tail_expected}"

    @settings(max_examples=200, deadline=None)
    @given(
        schemes,
        hosts,
        ports,
        paths,
        st.lists(st.tuples(st.sampled_from(PLAIN_KEYS), plain_values), max_size=3),
    )
    def test_urls_without_secrets_are_unchanged(
        self,
        scheme: str,
        host: str,
        port: str,
        path: str,
        params: list[tuple[str, str]],
    ) -> None:
        """A URL with no credentials and no secret parameter comes back as given."""
        query = ("?" + "&".join(f"{k}={v}" for k, v in params)) if params else ""
        url = f"{scheme}{host}{port}{path}{query}"
        assert redact_url(url) == url

    @settings(max_examples=300, deadline=None)
    @given(st.text(max_size=40))
    def test_any_text_is_handled_and_redaction_is_stable(self, text: str) -> None:
        """Any string is accepted, and redacting twice changes nothing more."""
        once = redact_url(text)
        assert redact_url(once) == once

    @pytest.mark.parametrize(
        ("given_url", "shown"),
        [
            ("http://etl:pw@gw:9091", "http://etl:***@gw:9091"),
            ("http://etl:p@ss@gw:9091/x", "http://etl:***@gw:9091/x"),
            ("gw:9091", "gw:9091"),
            ("https://gw/metrics/job@base64/am9i", "https://gw/metrics/job@base64/am9i"),
            ("http://gw/?token=abc&env=prod", "http://gw/?token=***&env=prod"),
            ("http://gw/?flag&secret", "http://gw/?flag&secret"),
        ],
    )
    def test_examples(self, given_url: str, shown: str) -> None:
        """Worked examples: an '@' in the password, a path '@', a bare address, bare flags."""
        assert redact_url(given_url) == shown

    def test_custom_markers(self) -> None:
        """markers= chooses which query parameters count as secret; empty markers are refused."""
        assert redact_url("http://gw/?sig=1&token=2", markers=["sig"]) == (
            "http://gw/?sig=***&token=2"
        )
        with pytest.raises(ValueError, match="at least one marker"):
            redact_url("http://gw", markers=[])


json_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.text(alphabet=string.ascii_letters, max_size=6)
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(st.sampled_from(PLAIN_KEYS + SECRET_KEYS), inner, max_size=3),
    ),
    max_leaves=12,
)


def _reference(value: Any) -> Any:
    """The naive redaction: walk everything, blank values under keys containing a marker."""
    if isinstance(value, dict):
        return {
            k: REDACTED if any(m in k.lower() for m in DEFAULT_SECRET_MARKERS) else _reference(v)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_reference(v) for v in value]
    return value


class TestRedactSecrets:
    @settings(max_examples=300, deadline=None)
    @given(json_values)
    def test_equals_the_naive_walk(self, value: Any) -> None:
        """On any nested config, the result equals a plain recursive reference."""
        assert redact_secrets(value) == _reference(value)

    def test_config_with_urls_and_spark_conf(self) -> None:
        """What validate-config prints: URLs masked, secret spark.conf values blanked."""
        config = {
            "metrics": {"pushgateway": {"url": "http://etl:hunter2@gw:9091", "grouping_key": {}}},
            "spark": {
                "conf": {
                    "spark.hadoop.fs.s3a.secret.key": "AKIA-SECRET",
                    "spark.hadoop.fs.s3a.endpoint": "https://s3.example.com",
                    "spark.sql.shuffle.partitions": "8",
                }
            },
            "headers": ["Bearer abc.def", "plain"],
            "note": "pushed to http://etl:hunter2@gw:9091/metrics and done",
        }
        cleaned = redact_secrets(config)
        assert cleaned["metrics"]["pushgateway"]["url"] == "http://etl:***@gw:9091"
        conf = cleaned["spark"]["conf"]
        assert conf["spark.hadoop.fs.s3a.secret.key"] == REDACTED
        assert conf["spark.hadoop.fs.s3a.endpoint"] == "https://s3.example.com"
        assert conf["spark.sql.shuffle.partitions"] == "8"
        assert cleaned["headers"] == [REDACTED, "plain"]
        assert cleaned["note"] == "pushed to http://etl:***@gw:9091/metrics and done"
        assert "hunter2" not in json.dumps(cleaned)
        assert "AKIA-SECRET" not in json.dumps(cleaned)
        assert config["metrics"]["pushgateway"]["url"] == "http://etl:hunter2@gw:9091"

    def test_tuples_stay_tuples(self) -> None:
        """A tuple comes back as a tuple, a non-string key is kept, other objects as they are."""
        marker = object()
        cleaned = redact_secrets({1: ("https://u:p@h", marker)})
        assert cleaned == {1: ("https://u:***@h", marker)}


class TestLogsRedactUrls:
    @settings(max_examples=50, deadline=None)
    @given(users, passwords.filter(lambda p: len(p) >= 6), hosts)
    def test_url_credentials_never_printed(self, user: str, password: str, host: str) -> None:
        """A URL with credentials in a log value or in the event itself loses the password."""
        password = "Z9" + password
        out = io.StringIO()
        configure_logging(stream=out, cache_logger_on_first_use=False)
        url = f"https://{user}:{password}@{host}/x"
        structlog.get_logger().warning(f"cannot reach {url}", target=url, nested={"u": [url]})
        line = json.loads(out.getvalue())
        assert password not in out.getvalue()
        assert line["target"] == f"https://{user}:***@{host}/x"
        assert line["event"] == f"cannot reach https://{user}:***@{host}/x"
