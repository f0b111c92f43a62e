"""MkDocs hook for the API reference site (mkdocs.yml): the READMEs work both on GitHub and here.

A README links its siblings by folder (``../../packages/dq-gates``), which is right in the
repository but outside the site's ``docs/`` folder. On the site each distribution is a page of
its own, so such a link becomes a link to that page.
"""

from __future__ import annotations

import re
from typing import Any

_SIBLING = re.compile(
    r"\]\((?:\.\./)*(?:packages|apps)/(?P<name>[a-z0-9-]+)/?(?:README\.md)?(?P<anchor>#[^)]*)?\)"
)


def on_page_markdown(markdown: str, **_: Any) -> str:
    """Point links to a sibling distribution's folder or README at its page on the site."""
    return _SIBLING.sub(lambda m: f"]({m['name']}.md{m['anchor'] or ''})", markdown)
