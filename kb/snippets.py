"""Snippets: the part of a passage that best matches the query, with the matched words marked.

A word is marked when BM25 matched it: the query's terms (`ParsedQuery.terms`) are compared with
the passage's FTS5 tokens (`kb.text.tokens`), each term as the phrase of its tokens, so `10.0.17763`
marks "10.0.17763" and not every "10". Highlights are offsets, never HTML, so every renderer escapes
the text itself.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from kb.text import token_spans


@dataclass(frozen=True)
class Snippet:
    text: str
    highlights: list[tuple[int, int]]
    matched: list[str]


def matched_spans(text: str, terms: Sequence[tuple[str, ...]]) -> list[tuple[int, int, str]]:
    """(start, end, term) of every occurrence of a query term in `text`, in text order, not overlapping."""
    if not terms:
        return []
    spans = token_spans(text)
    by_first: dict[str, list[tuple[str, ...]]] = {}
    for term in sorted(set(terms), key=len, reverse=True):  # the longest term starting at a token wins
        by_first.setdefault(term[0], []).append(term)
    found = []
    i = 0
    while i < len(spans):
        match = next((t for t in by_first.get(spans[i][2], ()) if _phrase_at(spans, i, t)), None)
        if match is None:
            i += 1
            continue
        found.append((spans[i][0], spans[i + len(match) - 1][1], " ".join(match)))
        i += len(match)
    return found


def _phrase_at(spans: list[tuple[int, int, str]], i: int, term: tuple[str, ...]) -> bool:
    return i + len(term) <= len(spans) and all(spans[i + j][2] == t for j, t in enumerate(term))


def make_snippet(text: str, terms: Sequence[tuple[str, ...]], width: int = 300) -> Snippet:
    """The `width`-character window of `text` with the most distinct matched terms, and their offsets."""
    spans = matched_spans(text, terms)
    start = 0
    if len(text) > width and spans:
        best = (-1, 0)
        for i, (s, _, _) in enumerate(spans):
            distinct = len({w for (s2, e2, w) in spans[i:] if e2 <= s + width})
            if distinct > best[0]:
                best = (distinct, s)
        start = _word_start(text, max(0, best[1] - width // 5))
    end = min(len(text), start + width)
    if end < len(text):
        cut = text.rfind(" ", start, end)
        end = cut if cut > start + width // 2 else end
    prefix = "… " if start > 0 else ""
    suffix = " …" if end < len(text) else ""
    body = text[start:end].strip()
    shift = len(prefix) - start - (len(text[start:end]) - len(text[start:end].lstrip()))
    highlights = [(s + shift, e + shift) for s, e, _ in spans if s >= start and e <= end]
    highlights = [(s, e) for s, e in highlights if len(prefix) <= s and e <= len(prefix) + len(body)]
    matched = sorted({w for s, e, w in spans if s >= start and e <= end})
    return Snippet(prefix + body + suffix, highlights, matched)


def _word_start(text: str, pos: int) -> int:
    """Move `pos` forward to the start of a word, so snippets never begin mid-word."""
    if pos == 0:
        return 0
    space = text.find(" ", pos)
    return space + 1 if 0 <= space < pos + 40 else pos


_SENTENCE_END = re.compile(r"(?<=[.!?…])\s+|\n+")


def sentences(text: str) -> list[str]:
    """The sentences and lines of a passage with at least three words, in order (for "why it matched")."""
    parts = (" ".join(p.split()).strip(" -*…") for p in _SENTENCE_END.split(text))
    return [p for p in parts if len(p.split()) >= 3]
