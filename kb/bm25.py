"""Phrases -> the BM25 of every document containing any of them, as FTS5's bm25() ranks their OR,
added up from each phrase's share, which is asked of FTS5 once and then remembered.

FTS5's bm25() of a row is a sum over the query's phrases of IDF(phrase) x a function of the phrase's
weighted count in the row and the row's length; no term depends on the other phrases. So the share
of one phrase in every row containing it (`IndexReader.phrase_shares`) serves every later query
that uses the phrase, and the sum, in the same order as FTS5 adds them, is bm25() of the OR, to the
last bit (tests/fast/test_store.py). FTS5 itself scores every row the OR matches at every query: a
long description's common words match most documents, 22 ms of a msdocs symptom query at 5,000
articles, against under 1 ms here once its phrases are remembered (README, "Speed").
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence

import numpy as np

from kb.store.index_db import IndexReader

SHARES_BUDGET = 64 * 2**20
"""Bytes of remembered phrase shares (12 per document containing a phrase); the least recently used
go first. At 5,000 articles the 300 msdocs symptom queries use 9 MB."""

Shares = tuple[np.ndarray, np.ndarray]  # (document rowids, the phrase's BM25 share in each)


class PhraseBm25:
    """BM25 over whole documents with weighted fields: phrases matched in the exact columns (title,
    keywords, body) or, as stems, in the stem column. Safe to share between threads."""

    def __init__(self, reader: IndexReader, weights: Sequence[float], rows: int, budget: int = SHARES_BUDGET):
        """`weights`: per column (title, keywords, body, stems); `rows`: one more than the highest document rowid."""
        self.reader = reader
        self.weights = tuple(weights)
        self.rows = rows
        self.budget = budget
        self._shares: OrderedDict[tuple[bool, str], Shares] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def rank(self, words: Sequence[str], stems: Sequence[str], limit: int, allowed: np.ndarray | None = None) -> list[tuple[int, float]]:
        """(document rowid, BM25) of the `limit` best documents containing any of `words` (exact columns)
        or `stems` (stem column), best first; ties by rowid. `allowed`: the rowids it may return."""
        total, found = np.zeros(self.rows), np.zeros(self.rows, dtype=bool)
        for key in [(False, w) for w in words] + [(True, s) for s in stems]:  # FTS5's order: the same sum, bit for bit
            rowids, shares = self.shares(key)
            total[rowids] += shares  # a phrase's rowids are distinct, so no share is lost
            found[rowids] = True
        if allowed is not None:
            permitted = np.zeros(self.rows, dtype=bool)
            permitted[allowed] = True
            found &= permitted
        hits = np.flatnonzero(found)
        scores = total[hits]
        if limit < len(hits):
            best = np.argpartition(-scores, limit - 1)[:limit]
            hits, scores = hits[best], scores[best]
        order = np.lexsort((hits, -scores))[:limit]
        return list(zip(hits[order].tolist(), scores[order].tolist()))

    def shares(self, key: tuple[bool, str]) -> Shares:
        """The share of phrase `key` (in the stem column?, phrase) in each document containing it."""
        with self._lock:
            found = self._shares.get(key)
            if found is not None:
                self._shares.move_to_end(key)
                return found
        rows = np.array(self.reader.phrase_shares(key[1], self.weights, stems=key[0]), dtype=np.float64).reshape(-1, 2)  # outside the lock
        found = (rows[:, 0].astype(np.int32), rows[:, 1].copy())
        with self._lock:
            if key not in self._shares:
                self._shares[key] = found
                self._bytes += found[0].nbytes + found[1].nbytes
                while self._bytes > self.budget and len(self._shares) > 1:
                    _, (rowids, shares) = self._shares.popitem(last=False)
                    self._bytes -= rowids.nbytes + shares.nbytes
        return found
