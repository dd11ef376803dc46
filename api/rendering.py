"""Markdown -> safe HTML for document pages.

Raw HTML in articles is shown as text (markdown-it `html: False`), unsafe link schemes are refused by
markdown-it's link validation, and relative links to other `.md` files become links to their pages.
Headings get ids (`#resolution`), so a section can be linked; a page opened from a result wraps the
section of the matched passage in `<section id="passage">` and marks the query's words.
"""

from __future__ import annotations

import posixpath
from collections.abc import Sequence
from functools import lru_cache
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


def _rewrite_links(state) -> None:
    """Core rule: relative `.md` links point at document pages; external links are marked noopener.
    Done at parse time, so rendering never changes the (cached) tokens."""
    for block in state.tokens:
        for token in block.children or ():
            if token.type != "link_open":
                continue
            parts = urlsplit(token.attrGet("href") or "")
            if not parts.scheme and not parts.netloc and parts.path.endswith(".md"):
                target = posixpath.normpath(posixpath.join(posixpath.dirname(state.env["doc_id"]), parts.path))
                token.attrSet("href", document_url(target) + (f"#{parts.fragment}" if parts.fragment else ""))
            elif parts.scheme in ("http", "https"):
                token.attrSet("rel", "noopener noreferrer nofollow")


def _text(self, tokens, idx, options, env) -> str:
    """Text with the query's words marked (when the page was opened from a search)."""
    content = tokens[idx].content
    terms = env.get("terms")
    if not terms:
        return str(escape(content))
    return str(highlight_html(content, [(s, e) for s, e, _ in matched_spans(content, terms)]))


_MD = markdown_parser(html=False).use(anchors_plugin, min_level=1, max_level=4)
_MD.core.ruler.push("casebook_links", _rewrite_links)
_MD.add_render_rule("text", _text)


CACHED_BODY_CHARS = 256 * 1024
"""Bodies up to this size keep their parsed tokens (64 of them: at most some 100 MB); larger ones,
rare, are parsed on each view."""


def _parsed(body: str, doc_id: str) -> tuple[Token, ...]:
    """A body's tokens. Parsing is the slow part (pathological Markdown took seconds per view) and a
    document page is rendered again for every query that opens it, so they are kept."""
    return _parsed_cached(body, doc_id) if len(body) <= CACHED_BODY_CHARS else _parse(body, doc_id)


def _parse(body: str, doc_id: str) -> tuple[Token, ...]:
    return tuple(_MD.parse(body, {"doc_id": doc_id}))


_parsed_cached = lru_cache(maxsize=64)(_parse)


def render_markdown(body: str, doc_id: str, passage_line: int | None = None,
                    terms: Sequence[tuple[str, ...]] = ()) -> str:
    """HTML of a document body; links to sibling documents point at their pages. `passage_line`: the
    body line of a matched passage, whose section is wrapped as `#passage`; `terms`: query terms to mark."""
    tokens = list(_parsed(body, doc_id))
    if passage_line is not None:
        tokens = _wrap_section(tokens, passage_line)
    return _MD.renderer.render(tokens, _MD.options, {"doc_id": doc_id, "terms": tuple(terms)})


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
