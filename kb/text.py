"""Text analysis shared by every reader of text: words, folding, stop words and FTS5-compatible tokens.

BM25 (SQLite FTS5, tokenizer `unicode61 remove_diacritics 2`) splits text into runs of letters and
digits and folds case and diacritics. `tokens` does the same in Python, so highlighting marks
exactly the words that BM25 matched.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

WORD = re.compile(r"\w(?:[\w.\-]*\w)?", re.UNICODE)
"""What an engineer types as one word: `0x80070005`, `10.0.17763`, `Wi-Fi` and `KRB_AP_ERR_SKEW` stay whole."""

TOKEN = re.compile(r"[^\W_]+", re.UNICODE)
"""What FTS5's unicode61 tokenizer keeps as one token: a run of letters and digits."""

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
    """Lower case without diacritics: what the user meant regardless of keyboard layout."""
    decomposed = unicodedata.normalize("NFKD", word.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def words(text: str) -> list[str]:
    """The words of `text` as typed, in order."""
    return [m.group() for m in WORD.finditer(text)]


def content_words(text: str) -> list[str]:
    """Distinct words of `text` without stop words (all distinct words when only stop words are left)."""
    distinct = list(dict.fromkeys(words(text)))
    return [w for w in distinct if fold(w) not in STOPWORDS] or distinct


def tokens(text: str) -> tuple[str, ...]:
    """Folded FTS5 tokens of `text`: `10.0.17763` is (10, 0, 17763), as BM25 sees it."""
    return tuple(fold(m.group()) for m in TOKEN.finditer(text))


def token_spans(text: str) -> list[tuple[int, int, str]]:
    """(start, end, folded token) of every token in `text`."""
    return [(m.start(), m.end(), fold(m.group())) for m in TOKEN.finditer(text)]
