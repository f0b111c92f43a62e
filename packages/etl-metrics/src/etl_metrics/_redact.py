"""Secret redaction in URLs and free text, shared by the log processor and the push functions."""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import unquote_plus

#: What replaces a redacted value in logs and mappings.
REDACTED = "[REDACTED]"

#: Key fragments (case-insensitive substrings) marking a value as secret. ``key`` also catches
#: ``api_key``, ``access_key``, ``private_key``, and, on purpose, harmless names such as
#: ``merge_key``: a redacted harmless value costs little, a leaked secret costs a lot.
DEFAULT_SECRET_MARKERS: tuple[str, ...] = (
    "password",
    "passwd",
    "pwd",
    "secret",
    "token",
    "key",
    "authorization",
    "credential",
    "cookie",
)

# What replaces a secret inside a URL: no brackets, so the result still parses as a URL.
URL_MASK = "***"

_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*://")
# A URL inside free text: a scheme, then everything up to whitespace. Quotes and brackets
# after the URL are taken in too (a password may hold them; masking keeps the rest as is).
_URL_IN_TEXT = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*://\S+")


def lowered_markers(markers: Iterable[str]) -> tuple[str, ...]:
    """The markers lower-cased, refusing an empty set (which would redact nothing)."""
    given = tuple(markers)
    lowered = tuple(m.lower() for m in given)
    if not lowered or not all(lowered):
        raise ValueError(
            f"redaction needs at least one marker, and no empty one; got {given!r}. Use "
            "etl_metrics.DEFAULT_SECRET_MARKERS for the default set."
        )
    return lowered


def is_secret_name(name: str, markers: tuple[str, ...]) -> bool:
    """Whether ``name`` (a key, a query parameter) contains one of the lower-cased markers."""
    lowered = name.lower()
    return any(marker in lowered for marker in markers)


def _redact_params(part: str, markers: tuple[str, ...]) -> str:
    """Mask the values of secret-looking ``name=value`` pairs of a query or fragment."""
    pairs = []
    for pair in part.split("&"):
        name, eq, _ = pair.partition("=")
        secret = eq and is_secret_name(unquote_plus(name), markers)
        pairs.append(f"{name}={URL_MASK}" if secret else pair)
    return "&".join(pairs)


def authority_span(url: str) -> tuple[int, int]:
    """Where the authority (``user:password@host:port``) of a URL or address starts and ends."""
    scheme = _SCHEME.match(url)
    start = scheme.end() if scheme else 0
    end = len(url)
    for stop in "/?#":
        found = url.find(stop, start)
        if found != -1 and found < end:
            end = found
    return start, end


def redact_one_url(url: str, markers: tuple[str, ...]) -> str:
    """Mask the credentials of one URL or ``host:port`` address (see ``redact_url``)."""
    start, end = authority_span(url)
    authority = url[start:end]
    at = authority.rfind("@")
    if at != -1:
        user, colon, _ = authority[:at].partition(":")
        shown = f"{user}:{URL_MASK}" if colon and user else URL_MASK
        authority = shown + authority[at:]
    rest = url[end:]
    if "=" in rest:
        before, hash_, fragment = rest.partition("#")
        path, question, query = before.partition("?")
        if question:
            query = _redact_params(query, markers)
        if hash_:
            fragment = _redact_params(fragment, markers)
        rest = path + question + query + hash_ + fragment
    return url[:start] + authority + rest


def redact_urls_in_text(text: str, markers: tuple[str, ...]) -> str:
    """Mask the credentials of every ``scheme://`` URL inside free text."""
    return _URL_IN_TEXT.sub(lambda m: redact_one_url(m.group(0), markers), text)


def redact_url(url: str, *, markers: Iterable[str] = DEFAULT_SECRET_MARKERS) -> str:
    """Return ``url`` with its credentials masked, for logs, reports and error messages.

    The password of ``user:password@`` becomes ``***`` (``http://etl:***@gw:9091``); a user
    part without password, which may itself be a token, becomes ``***`` as a whole. Query and
    fragment parameters whose name contains a marker (``token``, ``key``, ``password``...)
    keep their name and lose their value (``?access_token=***``). Everything else is kept as
    given, and an address without scheme (``user:pw@host:9091``) is handled the same way.
    Credentials must be percent-encoded, as URLs require: a raw ``/``, ``?`` or ``#`` in a
    password ends the address part before it.

    Args:
        url: A URL or ``host:port`` address.
        markers: Parameter-name fragments marking a secret (default
            :data:`DEFAULT_SECRET_MARKERS`).

    Returns:
        The URL with secrets replaced by ``***``.

    Raises:
        ValueError: ``markers`` is empty.
    """
    return redact_one_url(url, lowered_markers(markers))
