"""Phrases -> the BM25 of every document containing any of them, as FTS5's bm25() ranks their OR,
added up from each phrase's share, which is asked of FTS5 once and then remembered.

FTS5's bm25() of a row is a sum over the query's phrases of IDF(phrase) x a function of the phrase's
weighted count in the row and the row's length; no term depends on the other phrases. So the share
of one phrase in every row containing it (`IndexReader.phrase_shares`) serves every later query
that uses the phrase, and the sum, in the same order as FTS5 adds them, is bm25() of the OR: to the
last bit on x86-64, within 1e-12 where the compiler fuses FTS5's multiply-adds
(tests/fast/test_store.py). FTS5 itself scores every row the OR matches at every query: a long
description's common words match most documents, 22 ms of a msdocs symptom query at 5,000
articles, against under 1 ms here once its phrases are remembered (README, "Speed").
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence

import numpy as np

from kb.store.index_db import IndexReader

SHARES_BUDGET = 64 * 2**20
"""Bytes of remembered phrase shares (16 per document or passage containing a phrase, plus ENTRY_BYTES
and the phrase per phrase, so words found nowhere count too); the least recently used go first."""

ENTRY_BYTES = 600
"""What one remembered phrase costs besides its shares: two arrays, a tuple, the key (measured ~530)."""

LONGEST_PHRASE = 200
"""Longer phrases (a pasted blob) are asked of FTS5 each time, never remembered."""

Shares = tuple[np.ndarray, np.ndarray]  # (document rowids, the phrase's BM25 share in each)


class ShareMemory:
    """Phrase shares by key; beyond a budget of bytes the least recently used are forgotten. Thread-safe."""

    def __init__(self, budget: int = SHARES_BUDGET):
        self.budget = budget
        self._shares: OrderedDict[tuple, Shares] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._shares)

    def get(self, key: tuple) -> Shares | None:
        with self._lock:
            found = self._shares.get(key)
            if found is not None:
                self._shares.move_to_end(key)
            return found

    def put(self, key: tuple, rows: list[tuple[int, float]]) -> Shares:
        """Remember (rowid, share) rows under `key` (whose last item is the phrase); return them as arrays."""
        array = np.array(rows, dtype=np.float64).reshape(-1, 2)
        shares = (array[:, 0].astype(np.int64), array[:, 1].copy())
        if len(key[-1]) > LONGEST_PHRASE:
            return shares
        with self._lock:
            if key not in self._shares:
                self._shares[key] = shares
                self._bytes += _cost(key, shares)
                while self._bytes > self.budget and len(self._shares) > 1:
                    self._bytes -= _cost(*self._shares.popitem(last=False))
        return shares


def _cost(key: tuple, shares: Shares) -> int:
    return shares[0].nbytes + shares[1].nbytes + ENTRY_BYTES + 2 * len(key[-1])


class PhraseBm25:
    """BM25 over whole documents with weighted fields: phrases matched in the exact columns (title,
    keywords, body) or, as stems, in the stem column. Safe to share between threads."""

    def __init__(self, reader: IndexReader, weights: Sequence[float], rows: int, memory: ShareMemory | None = None):
        """`weights`: per column (title, keywords, body, stems); `rows`: one more than the highest document rowid."""
        self.reader = reader
        self.weights = tuple(weights)
        self.rows = rows
        self.memory = memory if memory is not None else ShareMemory()

    def rank(self, words: Sequence[str], stems: Sequence[str], limit: int, allowed: np.ndarray | None = None) -> list[tuple[int, float]]:
        """(document rowid, BM25) of the `limit` best documents containing any of `words` (exact columns)
        or `stems` (stem column), best first; ties by rowid. `allowed`: the rowids it may return."""
        total, found = np.zeros(self.rows), np.zeros(self.rows, dtype=bool)
        for stemmed, phrase in [(False, w) for w in words] + [(True, s) for s in stems]:  # FTS5's order: the same sum, bit for bit
            rowids, shares = self.shares(phrase, stemmed)
            total[rowids] += shares  # a phrase's rowids are distinct, so no share is lost
            found[rowids] = True
        if allowed is not None:
            permitted = np.zeros(self.rows, dtype=bool)
            permitted[allowed] = True
            found &= permitted
        hits = np.flatnonzero(found)
        scores = total[hits]
        if limit < len(hits):  # every hit at least as good as the limit-th, so ties there go by rowid too
            kept = scores >= np.partition(scores, len(scores) - limit)[len(scores) - limit]
            hits, scores = hits[kept], scores[kept]
        order = np.lexsort((hits, -scores))[:limit]
        return list(zip(hits[order].tolist(), scores[order].tolist()))

    def shares(self, phrase: str, stemmed: bool = False) -> Shares:
        """The share of `phrase` (in the stem column when `stemmed`) in each document containing it."""
        key = ("documents", self.weights, stemmed, phrase)
        found = self.memory.get(key)
        if found is None:  # asked of FTS5 outside the memory's lock: other phrases go on meanwhile
            found = self.memory.put(key, self.reader.phrase_shares(phrase, self.weights, stems=stemmed))
        return found


class PassageBm25:
    """BM25 of the passages of a few documents (which passage to show), as FTS5's bm25() of the OR of
    the words over the passage table gives it.

    FTS5 limited to those documents' passages still reads every phrase's whole posting list for its
    IDF: 4 to 6 ms a msdocs symptom query at 5,000 articles. A phrase asked again is remembered over
    all passages (its share in each), so a team's recurring words cost a lookup; a phrase met once (most
    of a long description's rare words, whose posting lists are short) goes to FTS5, limited to the
    documents. Within 1e-12 of FTS5's own sum: the shares are added in another order."""

    ADMIT_AT = 2
    """A phrase's shares over all passages are asked of FTS5 (once) at this many uses."""

    def __init__(self, reader: IndexReader, weights: Sequence[float], memory: ShareMemory | None = None):
        """`weights`: per column (heading, text)."""
        self.reader = reader
        self.weights = tuple(weights)
        self.memory = memory if memory is not None else ShareMemory()
        self._uses: dict[str, int] = {}
        self._lock = threading.Lock()

    def scores(self, words: Sequence[str], doc_rowids: Sequence[int], passage_ids: Sequence[int]) -> dict[int, float]:
        """BM25 of each of `passage_ids` (the passages of the documents `doc_rowids`) that contains a word."""
        if not words or not len(passage_ids):
            return {}
        remembered, others = [], []
        for word in words:
            shares = self._shares(word)
            (remembered if shares is not None else others).append(shares if shares is not None else word)
        total = self.reader.rank_passages(others, doc_rowids, self.weights) if others else {}
        if not remembered:
            return total
        ids = np.unique(np.asarray(passage_ids, dtype=np.int64))
        sums, found = np.zeros(len(ids)), np.zeros(len(ids), dtype=bool)
        for rowids, shares in remembered:
            if not len(rowids):
                continue
            at = np.searchsorted(rowids, ids).clip(0, len(rowids) - 1)  # rowids ascend: FTS5 returns them so
            present = rowids[at] == ids
            sums[present] += shares[at[present]]
            found |= present
        for passage, value in zip(ids[found].tolist(), sums[found].tolist()):
            total[passage] = total.get(passage, 0.0) + value
        return total

    def _shares(self, word: str) -> Shares | None:
        """The word's remembered shares over all passages, asked of FTS5 at its ADMIT_AT-th use; None before."""
        key = ("passages", self.weights, word)
        found = self.memory.get(key)
        if found is not None:
            return found
        if len(word) > LONGEST_PHRASE:
            return None
        with self._lock:
            if len(self._uses) > 100_000:  # a bound on words met once
                self._uses.clear()
            uses = self._uses[word] = self._uses.get(word, 0) + 1
        if uses < self.ADMIT_AT:
            return None
        return self.memory.put(key, self.reader.passage_phrase_shares(word, self.weights))
