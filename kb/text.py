"""Text analysis shared by every reader of text: words, stop words, and tokens exactly as BM25 sees them.

BM25 runs in SQLite FTS5 with the tokenizer `unicode61 remove_diacritics 2`: a token is a run of
letters and digits, folded to lower case without diacritics. `tokens` and `fold` reproduce it
character by character with SQLite's own answers (`kb.store.fts_tokenizer`: ß stays ß, й stays й,
"ação" and its decomposed form both become "acao"), so highlighting marks exactly the words that
BM25 matched.
"""

from __future__ import annotations

import re
from functools import lru_cache

from kb.store.fts_tokenizer import fold_char

_MARKS = "\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f"
WORD = re.compile(rf"\w(?:[\w.\-{_MARKS}]*[\w{_MARKS}])?", re.UNICODE)
"""What an engineer types as one word: `0x80070005`, `10.0.17763`, `Wi-Fi` and `KRB_AP_ERR_SKEW` stay whole."""

_ASCII_TOKEN = re.compile(r"[a-z0-9]+")
"""A token of lower-cased ASCII text."""

_CANDIDATE = re.compile(r"[^\s!-/:-@\[-`{-~]+")
"""Runs without white space or ASCII punctuation: every token lies inside one (most are one)."""

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
    """Lower case without diacritics, as FTS5 folds each letter and digit (other characters are kept)."""
    if word.isascii():
        return word.lower()
    return "".join(c.lower() if f is None else f for c, f in zip(word, map(fold_char, word)))


def words(text: str) -> list[str]:
    """The words of `text` as typed, in order."""
    return [m.group() for m in WORD.finditer(text)]


def content_words(text: str) -> list[str]:
    """Distinct words of `text` without stop words (all distinct words when only stop words are left)."""
    distinct = list(dict.fromkeys(words(text)))
    return [w for w in distinct if fold(w) not in STOPWORDS] or distinct


def token_spans(text: str) -> list[tuple[int, int, str]]:
    """(start, end, folded token) of every FTS5 token in `text`."""
    if text.isascii():  # every ASCII character but a letter or digit separates tokens: one pass, twice as fast
        return [(m.start(), m.end(), m.group()) for m in _ASCII_TOKEN.finditer(text.lower())]
    spans = []
    for m in _CANDIDATE.finditer(text):
        run = m.group()
        if run.isascii():  # the common case: one run of ASCII letters and digits is one token
            if run.isalnum():
                spans.append((m.start(), m.end(), run.lower()))
                continue
        spans.extend(_split(run, m.start()))
    return spans


def _split(run: str, offset: int) -> list[tuple[int, int, str]]:
    """Tokens of a run that holds separators other than ASCII punctuation (or non-ASCII characters)."""
    spans, start, folded = [], None, []
    for i, char in enumerate(run + " "):
        f = fold_char(char)
        if f is None:
            token = "".join(folded)
            if token:
                spans.append((offset + start, offset + i, token))
            start, folded = None, []
        else:
            start = i if start is None else start
            folded.append(f)
    return spans


def tokens(text: str) -> tuple[str, ...]:
    """Folded FTS5 tokens of `text`: `10.0.17763` is (10, 0, 17763), as BM25 sees it."""
    return tuple(t for _, _, t in token_spans(text))
