"""What an engineer typed -> what each retriever needs.

`"quoted phrases"` are required: a result must contain each of them. Every other word is optional
and ranks by BM25. Words are quoted for FTS5, so `0x80070005` stays one token and `10.0.17763` or
`KB5005565` match as typed rather than as FTS5 syntax.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from kb.highlight import STOPWORDS, WORD, fold

_PHRASE = re.compile(r'"([^"]+)"')


@dataclass(frozen=True)
class ParsedQuery:
    text: str                   # for the embedding model: the query without quote marks
    words: tuple[str, ...]      # optional words for BM25 (stop words dropped unless nothing else is left)
    phrases: tuple[str, ...]    # required phrases


def parse_query(query: str) -> ParsedQuery:
    phrases = tuple(p.strip() for p in _PHRASE.findall(query) if WORD.search(p))
    text = " ".join(query.replace('"', " ").split())
    words = [m.group() for m in WORD.finditer(text)]
    kept = [w for w in dict.fromkeys(words) if fold(w) not in STOPWORDS] or list(dict.fromkeys(words))
    return ParsedQuery(text=text, words=tuple(kept), phrases=phrases)


def _quote(text: str) -> str:
    """An FTS5 string: the tokenizer splits it, FTS5 matches the tokens as a phrase."""
    return '"' + text.replace('"', '""') + '"'


def fts_any(words: tuple[str, ...]) -> str:
    """MATCH expression for any of the words."""
    return " OR ".join(_quote(w) for w in words)


def fts_phrase(phrase: str) -> str:
    """MATCH expression for one required phrase."""
    return _quote(" ".join(m.group() for m in WORD.finditer(phrase)))
