"""Markdown -> safe HTML for document pages.

Raw HTML in articles is shown as text (markdown-it `html: False`), unsafe link schemes are refused by
markdown-it's link validation, and relative links to other `.md` files become links to their pages.
"""

from __future__ import annotations

import posixpath
from urllib.parse import quote, urlsplit

from markupsafe import Markup, escape

from kb.documents import markdown_parser


def document_url(doc_id: str) -> str:
    return "/documents/" + quote(doc_id)


def _link_open(self, tokens, idx, options, env) -> str:
    """Point relative `.md` links at document pages; mark external links noopener."""
    token = tokens[idx]
    parts = urlsplit(token.attrGet("href") or "")
    if not parts.scheme and not parts.netloc and parts.path.endswith(".md"):
        target = posixpath.normpath(posixpath.join(posixpath.dirname(env["doc_id"]), parts.path))
        token.attrSet("href", document_url(target) + (f"#{parts.fragment}" if parts.fragment else ""))
    elif parts.scheme in ("http", "https"):
        token.attrSet("rel", "noopener noreferrer nofollow")
    return self.renderToken(tokens, idx, options, env)


_MD = markdown_parser(html=False)
_MD.add_render_rule("link_open", _link_open)


def render_markdown(body: str, doc_id: str) -> str:
    """HTML of a document body; links to sibling documents point at their pages."""
    return _MD.render(body, {"doc_id": doc_id})


def highlight_html(text: str, spans: list[tuple[int, int]]) -> Markup:
    """Escaped text with <mark> around the given spans (offsets into the unescaped text)."""
    parts: list[str] = []
    pos = 0
    for start, end in sorted(spans):
        if start < pos:
            continue
        parts.append(escape(text[pos:start]))
        parts.append(Markup("<mark>") + escape(text[start:end]) + Markup("</mark>"))
        pos = end
    parts.append(escape(text[pos:]))
    return Markup("").join(parts)
