"""Snippets: the passage to show for a result, and its part that best matches the query, with the
matched words marked.

A result shows a passage of the document's own text when one matches: not the summary chunking builds
from the front matter (a case's result shows those fields already), not a references section and not a
list of links, which say where to read rather than what happened. Those are shown only for a document
that has nothing else.

A word is marked when BM25 matched it: the query's terms (`ParsedQuery.terms`) are compared with
the passage's FTS5 tokens (`kb.text.tokens`), each term as the phrase of its tokens, so `10.0.17763`
marks "10.0.17763" and not every "10". Highlights are offsets, never HTML, so every renderer escapes
the text itself.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass

from kb.chunking import from_summary
from kb.languages import code, word_stem
from kb.store.index_db import PassageRow
from kb.text import fold, token_spans, words

LABEL_WORDS = 12
"""Words besides its URLs that a line may have and still be a link: a title such as "Backup job fails
with 0x80070005 (access denied) on the repository share" has 11."""
_URL = re.compile(r"\b(?:[a-z][a-z0-9+.\-]*://|www\.)[^\s<>]+", re.IGNORECASE)


@dataclass(frozen=True)
class Snippet:
    text: str
    highlights: list[tuple[int, int]]
    matched: list[str]


def matched_spans(text: str, terms: Sequence[tuple[str, ...]], stems: Collection[str] = (),
                  language: str | None = None) -> list[tuple[int, int, str]]:
    """(start, end, term) of every occurrence of a query term in `text`, in text order, not overlapping;
    with `stems` (the query's, `kb.languages.query_stems`), also each word whose stem in `language`
    is one of them, as the stem column matched it ("falhas" marks "falha")."""
    if not terms and not stems:
        return []
    lang = code(language)
    spans = token_spans(text)
    by_first: dict[str, list[tuple[str, ...]]] = {}
    for term in sorted(set(terms), key=len, reverse=True):  # the longest term starting at a token wins
        by_first.setdefault(term[0], []).append(term)
    found = []
    i = 0
    while i < len(spans):
        start, end, token = spans[i]
        starting = by_first.get(token)  # most tokens start no term: no generator for them
        match = next((t for t in starting if _phrase_at(spans, i, t)), None) if starting else None
        if match is not None:
            found.append((start, spans[i + len(match) - 1][1], " ".join(match)))
            i += len(match)
            continue
        if stems and word_stem(text[start:end], lang) in stems:
            found.append((start, end, token))
        i += 1
    return found


def _phrase_at(spans: list[tuple[int, int, str]], i: int, term: tuple[str, ...]) -> bool:
    return i + len(term) <= len(spans) and all(spans[i + j][2] == t for j, t in enumerate(term))


def make_snippet(text: str, terms: Sequence[tuple[str, ...]], width: int = 300, stems: Collection[str] = (),
                 language: str | None = None) -> Snippet:
    """The `width`-character window of `text` with the most distinct matched terms (or words sharing a
    query stem in `language`), and their offsets."""
    spans = matched_spans(text, terms, stems, language)
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


def passage_to_show(passages: Iterable[PassageRow], meta: dict) -> PassageRow | None:
    """The first of a document's `passages` (best first) that is `for_showing`, else the first: a
    document with nothing but references still gets a snippet. Reads `passages` only as far as needed."""
    first = None
    for passage in passages:
        if for_showing(passage.heading, passage.text, meta):
            return passage
        first = passage if first is None else first
    return first


def for_showing(heading: str, text: str, meta: dict) -> bool:
    """Whether a passage (its heading path and text; `meta`: its document's front matter) may be a
    result's snippet while another passage of its document is: not the summary built from `meta`, not
    under a references heading, not mostly links."""
    return not (from_summary(heading, text, meta) or references_heading(heading) or mostly_links(text))


def _heading_key(heading: str) -> str:
    """A heading as compared with `REFERENCE_HEADINGS`: its words with letters, folded ("5. Véase
    también:" -> "vease tambien")."""
    return " ".join(fold(w) for w in words(heading) if any(c.isalpha() for c in w))


REFERENCE_HEADINGS = frozenset(_heading_key(h) for h in (
    "References", "See also", "Links", "Related", "Related articles", "Related links", "Related documents",
    "Further reading", "External links", "Useful links", "Bibliography",
    "Referências", "Veja também", "Ver também", "Consulte também", "Links úteis", "Artigos relacionados",
    "Leitura adicional", "Bibliografia",
    "Referencias", "Véase también", "Ver también", "Enlaces", "Enlaces externos", "Vínculos",
    "Artículos relacionados", "Lecturas adicionales", "Bibliografía",
    "Ссылки", "Полезные ссылки", "См. также", "Смотрите также", "Смотри также", "Связанные статьи", "Литература",
    "Referințe", "Vezi și", "Vedeți și", "Linkuri", "Link-uri", "Legături", "Legături utile", "Legături externe",
    "Articole conexe", "Articole similare", "Bibliografie",
))
"""Headings of sections that point elsewhere, in the corpus's languages (en, pt, es, ru, ro), folded.
Whole headings only: "Related symptoms" or "Links between sites" are content. Not "More information"
and its translations: in articles/ those sections hold caveats and tips that are often the best match."""


def references_heading(heading: str) -> bool:
    """Whether a heading path ("Resolution > See also") has a references or links section in it."""
    return any(_heading_key(part) in REFERENCE_HEADINGS for part in heading.split(" > "))


def mostly_links(text: str) -> bool:
    """Whether more than half of the lines of `text`, and at least two, are links: a URL alone or with
    a short label. One line with a URL is an instruction ("install it from https://...") as often as a
    link. A Markdown link's target is not in the passage text, so `[title](url)` lists are recognised
    by their heading only."""
    lines = [line for line in text.splitlines() if line.strip()]
    links = sum(1 for line in lines if _URL.search(line) and len(words(_URL.sub(" ", line))) <= LABEL_WORDS)
    return links >= 2 and links * 2 > len(lines)
