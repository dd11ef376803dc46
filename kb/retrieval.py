"""Vectors and rows -> ranked lists: the dense retriever (FAISS, cosine) and the lexical one (FTS5, BM25).

Each returns a ranking, best first, optionally restricted to a set of allowed documents: the
lexical one from a parsed query, the dense one from the query's vector. Dense retrieval ranks passages; a document counts with its best passage.
Lexical retrieval ranks whole documents by BM25 with title and keyword fields weighted up
(symptoms, error codes, tags, product), FTS5's bm25() added up from remembered phrase shares
(`kb.bm25`), and scores passages of given documents for the snippet.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from functools import lru_cache

import numpy as np

from kb import text
from kb.bm25 import PassageBm25, PhraseBm25, ShareMemory
from kb.catalog import Catalog
from kb.languages import TEAM_LANGUAGES, query_language, query_stems
from kb.query import ParsedQuery
from kb.store.index_db import IndexReader
from kb.vectors import VectorIndex


class DenseRetriever:
    """Cosine similarity of the query vector to passage vectors (the searcher embeds the query once and
    also uses the vector to choose the passage shown)."""

    def __init__(self, vectors: VectorIndex, catalog: Catalog):
        self.vectors = vectors
        self.catalog = catalog

    def passages(self, vector: np.ndarray, depth: int, allowed: set[str] | None = None) -> list[tuple[int, float]]:
        """(passage id, cosine) best first, restricted to passages of `allowed` documents."""
        ids = None if allowed is None else self.catalog.passages_of(allowed)
        return self.vectors.search(vector, depth, ids)

    def documents(self, vector: np.ndarray, depth: int, allowed: set[str] | None = None) -> list[tuple[str, float]]:
        """(document id, cosine of its best passage) best first, from the best `depth` passages."""
        return best_per_group(self.passages(vector, depth, allowed), self.catalog.passage_doc)

    def similarities(self, vector: np.ndarray, passage_ids: Sequence[int]) -> dict[int, float]:
        """Cosine of `vector` and each given passage."""
        return dict(zip(passage_ids, (self.vectors.vectors(passage_ids) @ vector).tolist()))

    def scores(self, vector: np.ndarray, doc_ids: Sequence[str]) -> dict[str, float]:
        """Cosine of each given document's best passage (for candidates the other retriever found)."""
        docs = [d for d in dict.fromkeys(doc_ids) if self.catalog.doc_passages.get(d)]
        if not docs:
            return {}
        counts = np.fromiter((len(self.catalog.doc_passages[d]) for d in docs), dtype=np.int64, count=len(docs))
        cosines = self.vectors.vectors(self.catalog.passages_of(docs)) @ vector
        return dict(zip(docs, np.maximum.reduceat(cosines, np.cumsum(counts) - counts).tolist()))  # each document's passages are consecutive

    def document_vector(self, doc_id: str) -> np.ndarray | None:
        """The unit mean of a document's passage vectors (None when it has none)."""
        own = self.catalog.doc_passages.get(doc_id)
        if not own:
            return None
        return unit(np.mean([self.vectors.vector(p) for p in own], axis=0))


class LexicalRetriever:
    """BM25 over documents (fields weighted) and over the passages of given documents."""

    def __init__(self, reader: IndexReader, catalog: Catalog, document_fields: Sequence[float],
                 passage_fields: Sequence[float], query_words: int = 0, stem_field: float = 0.0,
                 languages: Sequence[str] = TEAM_LANGUAGES):
        """`query_words`: BM25 reads at most this many of a query's words, its most specific ones, and
        its identifiers (0: all). `stem_field`: BM25 weight of the stem column, whose words are the
        query's stems in each of `languages` (0: exact words only)."""
        self.reader = reader
        self.stem_field = stem_field
        self.languages = tuple(languages)
        self.catalog = catalog
        self.document_fields = tuple(document_fields)
        self.passage_fields = tuple(passage_fields)
        self.query_words = query_words
        memory = ShareMemory()  # one budget for both
        self.bm25 = PhraseBm25(reader, (*self.document_fields, stem_field), catalog.max_rowid + 1, memory)
        self.passage_bm25 = PassageBm25(reader, self.passage_fields, memory)
        # which documents contain a word: asked for every query word (coverage), so remembered, as one
        # bit per document rowid (a common word of a 100,000-document index takes 12.5 kB)
        self.documents_with = lru_cache(maxsize=2048)(self._documents_with)

    def _documents_with(self, word: str) -> tuple[np.ndarray, int]:
        """(bitmap over rowids of the documents containing `word`, how many they are)."""
        rowids = np.fromiter(self.reader.documents_with_phrase(word, self.stems([word])), dtype=np.int64)
        present = np.zeros(self.catalog.max_rowid + 1, dtype=bool)
        present[rowids] = True
        return np.packbits(present), len(rowids)

    def rank(self, q: ParsedQuery, depth: int, allowed: set[str] | None = None) -> list[tuple[str, float]]:
        """(document id, BM25) best first, of the `allowed` documents when given."""
        words = self.bm25_words(q)
        permitted = None if allowed is None else np.array([self.catalog.doc_rowid[d] for d in allowed if d in self.catalog.doc_rowid], dtype=np.int64)
        rows = self.bm25.rank(words, self.stems(words, self.language_of(q.text)), depth, permitted)
        return [(self.catalog.rowid_doc[rowid], score) for rowid, score in rows]

    def stems(self, words: Sequence[str], language: str | None = None) -> tuple[str, ...]:
        """The stems of `words` in `language` (default: in each of the team's languages); none when
        the stem column is off. Identifiers are left out: they match as typed."""
        if not self.stem_field:
            return ()
        return query_stems([w for w in words if not any(c.isdigit() for c in w)], [language] if language else self.languages)

    def language_of(self, query: str) -> str:
        """The query's language among the team's (py3langid): its words are stemmed in that language
        only. Stemmed in every team language, English words met Portuguese and Romanian stems by
        chance: dev MRR@10 0.944 without stems fell to 0.927 (README)."""
        return query_language(query, self.languages)

    def passages(self, q: ParsedQuery, doc_ids: Sequence[str]) -> dict[int, float]:
        """BM25 of the passages of `doc_ids` that contain query words."""
        rowids = [self.catalog.doc_rowid[d] for d in doc_ids]
        return self.passage_bm25.scores(self.bm25_words(q), rowids, self.catalog.passages_of(doc_ids))

    def bm25_words(self, q: ParsedQuery) -> tuple[str, ...]:
        """The words BM25 reads: all of a short query's; of a long one (a pasted description) the
        `query_words` most specific and its identifiers. FTS5's bm25() costs time per word read, and
        a common word adds nearly nothing to the ranking (measured: README, "Benchmarks")."""
        if not self.query_words or len(q.words) <= self.query_words:
            return q.words
        kept = {*self.specific_words(q.words, self.query_words), *(text.fold(i) for i in q.identifiers)}
        return tuple(w for w in q.words if text.fold(w) in kept)  # a word said twice still counts twice, as before

    def containing(self, phrases: Sequence[str], allowed: set[str] | None = None) -> dict[str, tuple[str, ...]]:
        """The documents (of `allowed`) that contain any of `phrases`, with the phrases each contains."""
        found: dict[str, list[str]] = {}
        for phrase in phrases:
            for rowid in self.reader.documents_with_phrase(phrase):
                doc = self.catalog.rowid_doc[rowid]
                if allowed is None or doc in allowed:
                    found.setdefault(doc, []).append(phrase)
        return {d: tuple(p) for d, p in found.items()}

    def coverage(self, words: Sequence[str], doc_ids: Sequence[str]) -> dict[str, float]:
        """How much of the query's specific wording each document contains: the BM25 IDF of the query
        words it contains, over the IDF of all of them, but at least the IDF of a word half of the
        documents contain. A rare word (an error code, a product name) counts more than a common one; a
        word no document contains (a typo, gibberish, another product's name) counts fully against
        every document; stop words count for nothing, and a query of only common words covers little of
        anything ("the", "is it": nothing)."""
        tokened = [w for w in dict.fromkeys(text.fold(w) for w in words) if text.tokens(w) and w not in text.STOPWORDS]
        if not tokened:
            return dict.fromkeys(doc_ids, 0.0)
        total = len(self.catalog)
        rowids = np.array([self.catalog.doc_rowid[d] for d in doc_ids], dtype=np.int64)
        found = np.zeros(len(rowids))
        whole = 0.0
        for word in tokened:
            bitmap, count = self.documents_with(word)
            weight = _idf(total, count)
            whole += weight
            found += weight * ((bitmap[rowids >> 3] >> (7 - (rowids & 7))) & 1)
        return dict(zip(doc_ids, (found / max(whole, _idf(total, total // 2))).tolist()))

    def specific_words(self, words: Sequence[str], most: int) -> list[str]:
        """The `most` words of `words` with the highest IDF among those some document contains
        (stop words left out): the words of a long paste worth a BM25 query."""
        total = len(self.catalog)
        weighed = []
        for word in dict.fromkeys(text.fold(w) for w in words):
            if word in text.STOPWORDS or not text.tokens(word):
                continue
            count = self.documents_with(word)[1]
            if count:
                weighed.append((_idf(total, count), word))
        return [w for _, w in sorted(weighed, key=lambda item: -item[0])[:most]]

    def with_phrases(self, phrases: Sequence[str]) -> set[str] | None:
        """Documents containing every phrase (None when there are none)."""
        if not phrases:
            return None
        return {d for d, found in self.containing(phrases).items() if set(found) == set(phrases)}


def _idf(documents: int, having: int) -> float:
    """BM25's inverse document frequency of a word that `having` of `documents` documents contain."""
    return math.log(1 + (documents - having + 0.5) / (having + 0.5))


def unit(vector: np.ndarray) -> np.ndarray:
    norm = float(np.linalg.norm(vector))
    return (vector / norm if norm else vector).astype(np.float32)


def best_per_group(hits: Sequence[tuple[int, float]], group_of: Mapping[int, str]) -> list[tuple[str, float]]:
    """A ranking of items as a ranking of their groups, each group at the place of its best item
    (passages -> documents)."""
    seen: dict[str, float] = {}
    for item, score in hits:
        seen.setdefault(group_of[item], score)
    return list(seen.items())
