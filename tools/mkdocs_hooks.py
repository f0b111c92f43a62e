"""MkDocs hook for the API reference site (mkdocs.yml): the READMEs work both on GitHub and here.

A README links its siblings by folder (``../../packages/dq-gates``, ``../delta-session``),
which is right in the repository but outside the site's ``docs/`` folder. On the site each
distribution is a page of its own, so such a link becomes a link to that page. A README's link
into the repository's ``docs/`` folder (``../../docs/object-storage.md``) becomes a link to that
page of the site, which is built from the same folder.
"""

from __future__ import annotations

import re
from typing import Any

# The distributions with a page of their own (mkdocs.yml's nav).
_PAGES = (
    "delta-session",
    "etl-metrics",
    "schema-registry",
    "dq-gates",
    "delta-safe-writer",
    "etl-app",
)
_SIBLING = re.compile(
    r"\]\((?:\.\./)+(?:(?:packages|apps)/)?(?P<name>" + "|".join(_PAGES) + r")/?"
    r"(?:README\.md)?(?P<anchor>#[^)]*)?\)"
)

_DOCS_PAGE = re.compile(r"\]\((?:\.\./)+docs/(?P<page>[\w./-]+\.md)(?P<anchor>#[^)]*)?\)")


def on_page_markdown(markdown: str, **_: Any) -> str:
    """Point links to a sibling distribution, or to a page of ``docs/``, at its page on the site."""
    markdown = _SIBLING.sub(lambda m: f"]({m['name']}.md{m['anchor'] or ''})", markdown)
    return _DOCS_PAGE.sub(lambda m: f"]({m['page']}{m['anchor'] or ''})", markdown)
