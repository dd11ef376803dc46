"""Markdown -> safe HTML for document pages.

Raw HTML in articles is shown as text (markdown-it `html: False`), unsafe link schemes are refused by
markdown-it's link validation, and relative links to other `.md` files become links to their pages.
Headings get ids (`#resolution`), so a section can be linked; a page opened from a result wraps the
section of the matched passage in `<section id="passage">` and marks the query's words.
"""

from __future__ import annotations

import posixpath
from collections.abc import Sequence
from urllib.parse import quote, urlsplit

from markdown_it.token import Token
from markupsafe import Markup, escape
from mdit_py_plugins.anchors import anchors_plugin

from kb.documents import markdown_parser
from kb.snippets import matched_spans

PASSAGE_ID = "passage"
"""Fragment a result links to: the section of the matched passage."""


def document_url(doc_id: str) -> str:
    return "/documents/" + quote(doc_id)


def local_path(url: str) -> str | None:
    """`url` when it is a path on this site, else None: a `back` or redirect target taken from a
    request must never lead to another site (`//host`, `/\\host` and `scheme:` are refused)."""
    parts = urlsplit(url)
    if parts.scheme or parts.netloc or not url.startswith("/") or url.startswith(("//", "/\\")) or len(url) > 4000:
        return None
    return url


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


def _text(self, tokens, idx, options, env) -> str:
    """Text with the query's words marked (when the page was opened from a search)."""
    content = tokens[idx].content
    terms = env.get("terms")
    if not terms:
        return str(escape(content))
    return str(highlight_html(content, [(s, e) for s, e, _ in matched_spans(content, terms)]))


_MD = markdown_parser(html=False).use(anchors_plugin, min_level=1, max_level=4)
_MD.add_render_rule("link_open", _link_open)
_MD.add_render_rule("text", _text)


def render_markdown(body: str, doc_id: str, passage_line: int | None = None,
                    terms: Sequence[tuple[str, ...]] = ()) -> str:
    """HTML of a document body; links to sibling documents point at their pages. `passage_line`: the
    body line of a matched passage, whose section is wrapped as `#passage`; `terms`: query terms to mark."""
    env = {"doc_id": doc_id, "terms": tuple(terms)}
    tokens = _MD.parse(body, env)
    if passage_line is not None:
        tokens = _wrap_section(tokens, passage_line)
    return _MD.renderer.render(tokens, _MD.options, env)


def _wrap_section(tokens: list[Token], line: int) -> list[Token]:
    """The tokens with the passage at body line `line` (a heading and its own text, up to the next
    heading, as chunking splits them; before the first heading, the intro) inside `<section id="passage">`."""
    headings = [i for i, t in enumerate(tokens) if t.type == "heading_open" and t.map]
    before = [i for i in headings if t_line(tokens[i]) <= line]
    start = before[-1] if before else 0
    end = next((i for i in headings if i > start), len(tokens))
    if start == end:
        return tokens
    open_, close = Token("html_block", "", 0), Token("html_block", "", 0)
    open_.content, close.content = f'<section id="{PASSAGE_ID}" class="matched-section">\n', "</section>\n"
    return [*tokens[:start], open_, *tokens[start:end], close, *tokens[end:]]


def t_line(token: Token) -> int:
    """1-based body line where a block token starts."""
    return token.map[0] + 1 if token.map else 0


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
