"""Snippets: the part of a passage that best matches the query, with the matched words marked.

Matching is on folded words (case and diacritics removed) and on shared stems of five or more
letters, so "fragmentation" in a query marks "fragmented" in the text and "ação" marks "acao".
Highlights are returned as offsets, never as HTML, so every renderer escapes the text itself.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

WORD = re.compile(r"\w(?:[\w.\-]*\w)?", re.UNICODE)
STEM = 5
STOPWORDS = frozenset(
    """a an and are as at be by for from has have in is it of on or the to was were with when after not no
    o os um uma de da do das dos e em no na nos nas para por com que se ao à
    el la los las un una y en del al con por para que se es
    și si la în in cu de pe că ca un o al ale nu
    и в во на с со по к не что это как из от для у о же
    """.split()
)


@lru_cache(maxsize=100_000)
def fold(word: str) -> str:
    """Lower case without diacritics: what the user probably meant regardless of keyboard layout."""
    decomposed = unicodedata.normalize("NFKD", word.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def query_terms(query: str) -> list[str]:
    """Distinct folded words of a query worth matching (stop words dropped unless nothing else is left)."""
    words = [fold(m.group()) for m in WORD.finditer(query)]
    terms = [w for w in dict.fromkeys(words) if w not in STOPWORDS]
    return terms or list(dict.fromkeys(words))


def _matches(word: str, terms: list[str], stems: frozenset[str]) -> bool:
    """Whether a folded word is a query term or shares its stem (`stems`: first STEM letters of long terms)."""
    if word in terms:
        return True
    if len(word) < STEM or word[:STEM] not in stems:  # most words of a text stop here
        return False
    for term in terms:
        if len(term) >= STEM and word[:STEM] == term[:STEM]:
            shared = len(_common_prefix(word, term))
            if shared >= min(len(term), len(word), 7) or shared >= STEM + 1:
                return True
    return False


def _common_prefix(a: str, b: str) -> str:
    n = 0
    while n < min(len(a), len(b)) and a[n] == b[n]:
        n += 1
    return a[:n]


def matched_spans(text: str, terms: list[str]) -> list[tuple[int, int, str]]:
    """(start, end, folded word) of every word in `text` that matches a query term."""
    spans = []
    stems = frozenset(t[:STEM] for t in terms if len(t) >= STEM)
    for m in WORD.finditer(text):
        word = fold(m.group())
        if _matches(word, terms, stems):
            spans.append((m.start(), m.end(), word))
    return spans


@dataclass(frozen=True)
class Snippet:
    text: str
    highlights: list[tuple[int, int]]
    matched: list[str]


def make_snippet(text: str, query: str, width: int = 300) -> Snippet:
    """The `width`-character window of `text` with the most distinct matched words, and their offsets."""
    terms = query_terms(query)
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
