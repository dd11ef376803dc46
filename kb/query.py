"""What an engineer typed -> one parsed query used by retrieval, highlighting and the gap report.

`"quoted phrases"` are evidence: a document that contains one ranks higher, one that does not is
still found. `+"quoted phrases"` (or the API's `require=`) are required: a result must contain each
of them. Every word, quoted or not, is optional and ranks by BM25. Each word is matched by FTS5 as the phrase of its tokens, so `0x80070005` stays
one token and `10.0.17763` or `KB5005565` match as typed rather than as FTS5 syntax. `terms` are
those same token sequences, which is what the snippets highlight. `identifiers` are the error codes,
event IDs, KB numbers and exception names in the query (`kb.codes`): in a query that is mostly
identifiers the documents containing them rank above the others (`kb.search`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from kb import text
from kb.codes import extract_codes

_PHRASE = re.compile(r'(\+?)"([^"]+)"')


@dataclass(frozen=True)
class ParsedQuery:
    text: str                          # for the embedding model: the query without quote marks
    words: tuple[str, ...]             # optional words for BM25 (stop words dropped unless nothing else is left)
    phrases: tuple[str, ...] = ()      # quoted phrases: evidence that raises a document containing them
    required: tuple[str, ...] = ()     # phrases every result must contain
    terms: tuple[tuple[str, ...], ...] = ()  # folded FTS5 tokens of each word and phrase, as BM25 matches them
    identifiers: tuple[str, ...] = ()  # error codes, event IDs, KB numbers...: documents containing them rank first

    @property
    def empty(self) -> bool:
        return not self.text

    @property
    def folded_words(self) -> frozenset[str]:
        """The words folded, as a set: two queries with the same set ask the same thing."""
        return frozenset(text.fold(w) for w in self.words)


def parse_query(query: str, require: tuple[str, ...] = ()) -> ParsedQuery:
    """`require`: phrases that must be contained, besides those written `+"like this"`."""
    quoted = [(plus, p.strip()) for plus, p in _PHRASE.findall(query) if text.WORD.search(p)]
    required = tuple(dict.fromkeys([p for plus, p in quoted if plus] + [p.strip() for p in require if text.WORD.search(p)]))
    phrases = tuple(dict.fromkeys(p for plus, p in quoted if not plus and p not in required))
    plain = " ".join(query.replace('+"', " ").replace('"', " ").split())
    return of_words(plain, tuple(text.content_words(plain)), phrases, required, tuple(extract_codes(plain)))


def of_words(plain: str, words: tuple[str, ...], phrases: tuple[str, ...] = (), required: tuple[str, ...] = (),
             identifiers: tuple[str, ...] = ()) -> ParsedQuery:
    """A query from words chosen by the caller (e.g. error codes found in a ticket)."""
    terms = tuple(dict.fromkeys(t for t in (text.tokens(w) for w in (*words, *phrases, *required)) if t))
    identifiers = tuple(i for i in identifiers if text.tokens(i))
    return ParsedQuery(text=plain, words=words, phrases=phrases, required=required, terms=terms, identifiers=identifiers)
