"""What an engineer typed -> one parsed query used by retrieval, highlighting and the gap report.

`"quoted phrases"` are required: a result must contain each of them. Every other word is optional
and ranks by BM25. Each word is matched by FTS5 as the phrase of its tokens, so `0x80070005` stays
one token and `10.0.17763` or `KB5005565` match as typed rather than as FTS5 syntax. `terms` are
those same token sequences, which is what the snippets highlight.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from kb import text

_PHRASE = re.compile(r'"([^"]+)"')


@dataclass(frozen=True)
class ParsedQuery:
    text: str                          # for the embedding model: the query without quote marks
    words: tuple[str, ...]             # optional words for BM25 (stop words dropped unless nothing else is left)
    phrases: tuple[str, ...] = ()      # required phrases
    terms: tuple[tuple[str, ...], ...] = ()  # folded FTS5 tokens of each word and phrase, as BM25 matches them

    @property
    def empty(self) -> bool:
        return not self.text

    @property
    def folded_words(self) -> frozenset[str]:
        """The words folded, as a set: two queries with the same set ask the same thing."""
        return frozenset(text.fold(w) for w in self.words)


def parse_query(query: str) -> ParsedQuery:
    phrases = tuple(p.strip() for p in _PHRASE.findall(query) if text.WORD.search(p))
    plain = " ".join(query.replace('"', " ").split())
    return of_words(plain, tuple(text.content_words(plain)), phrases)


def of_words(plain: str, words: tuple[str, ...], phrases: tuple[str, ...] = ()) -> ParsedQuery:
    """A query from words chosen by the caller (e.g. error codes found in a ticket)."""
    terms = tuple(dict.fromkeys(t for t in (text.tokens(w) for w in (*words, *phrases)) if t))
    return ParsedQuery(text=plain, words=words, phrases=phrases, terms=terms)
