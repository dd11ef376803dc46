"""How SQLite FTS5 reads text: the tokenizer of the full-text tables, asked one character at a time.

`kb.text` builds its tokens from these answers, so the words a snippet highlights are the words BM25
matched. Each distinct non-ASCII character is asked once per process (ASCII needs no asking).
"""

from __future__ import annotations

import sqlite3
import threading
from functools import lru_cache

FTS_TOKENIZER = "unicode61 remove_diacritics 2"

_local = threading.local()


def _table() -> sqlite3.Connection:
    """An in-memory FTS5 table with the index's tokenizer, per thread."""
    conn = getattr(_local, "conn", None)
    if conn is None:
        conn = _local.conn = sqlite3.connect(":memory:")
        conn.execute(f"CREATE VIRTUAL TABLE t USING fts5(x, tokenize = '{FTS_TOKENIZER}')")
        conn.execute("CREATE VIRTUAL TABLE v USING fts5vocab(t, instance)")
    return conn


@lru_cache(maxsize=65_536)
def fold_char(char: str) -> str | None:
    """How FTS5 reads one character: None for a separator, "" for a diacritic it drops, else its folded form."""
    if char.isascii():
        return char.lower() if char.isalnum() else None
    conn = _table()
    with conn:
        conn.execute("DELETE FROM t")
        conn.execute("INSERT INTO t(x) VALUES (?)", (f"a{char}a",))
        terms = [row[0] for row in conn.execute("SELECT term FROM v ORDER BY offset")]
    return terms[0][1:-1] if len(terms) == 1 else None
