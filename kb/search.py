"""Vectors and rows -> results: hybrid (dense + BM25) retrieval of documents for a symptom.

Each retriever ranks passages; a document's rank in a list is that of its best passage; the two
document rankings are combined by reciprocal rank fusion (RRF), which needs no score calibration
between cosine similarities and BM25. The passage shown is the one with the best fused passage rank.
"""

from __future__ import annotations

import json
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from kb.embedding import Embedder
from kb.highlight import STOPWORDS, WORD, Snippet, fold, make_snippet
from kb.indexer import check_model
from kb.layout import DB_FILE, VECTORS_FILE, IndexLayout, read_manifest
from kb.store import connect
from kb.vectors import VectorIndex

MODES = ("hybrid", "dense", "lexical")
CASE_FIELDS = ("status", "product", "version", "symptoms", "error_codes", "root_cause", "resolution")


@dataclass(frozen=True)
class Filters:
    """Restrict results to documents with these properties (None / empty = any)."""

    type: str | None = None
    tags: tuple[str, ...] = ()
    language: str | None = None
    product: str | None = None
    status: str | None = None

    def accepts(self, doc: "DocInfo") -> bool:
        return (
            (self.type is None or doc.type == self.type)
            and all(t in doc.tags for t in self.tags)
            and (self.language is None or doc.language == self.language)
            and (self.product is None or fold(str(doc.meta.get("product", ""))) == fold(self.product))
            and (self.status is None or doc.meta.get("status") == self.status)
        )

    @property
    def empty(self) -> bool:
        return self == Filters()


@dataclass(frozen=True)
class Weights:
    """Fusion and field weights; chosen by measurement (see `kb eval`)."""

    rrf_k: int = 60
    dense: float = 1.0
    lexical: float = 1.0
    depth: int = 100
    fields: tuple[float, float, float, float] = (4.0, 2.0, 1.0, 3.0)  # title, heading, text, keywords


@dataclass(frozen=True)
class DocInfo:
    id: str
    title: str
    type: str
    language: str
    tags: tuple[str, ...]
    meta: dict


@dataclass
class Hit:
    """One ranked document with the passage that matched best."""

    id: str
    title: str
    type: str
    language: str
    tags: list[str]
    score: float
    similarity: float
    heading: str
    line: int
    snippet: Snippet
    case: dict = field(default_factory=dict)
    dense_rank: int | None = None
    lexical_rank: int | None = None


class Searcher:
    """A loaded index answering queries from memory; safe to share between threads."""

    def __init__(self, build: Path, embedder: Embedder, weights: Weights = Weights()):
        self.build = build
        self.manifest = read_manifest(build)
        check_model(self.manifest, embedder)
        self.embedder = embedder
        self.weights = weights
        self.vectors = VectorIndex.load(build / VECTORS_FILE)
        self._local = threading.local()
        self._encode_lock = threading.Lock()
        self._query_cache: OrderedDict[str, np.ndarray] = OrderedDict()
        rows = self.db.execute("SELECT id, title, type, language, tags, meta FROM documents").fetchall()
        self.docs = {
            r["id"]: DocInfo(r["id"], r["title"], r["type"], r["language"], tuple(json.loads(r["tags"])), json.loads(r["meta"]))
            for r in rows
        }
        self.passage_doc = dict(self.db.execute("SELECT id, doc_id FROM passages").fetchall())
        if len(self.passage_doc) != len(self.vectors):
            raise RuntimeError(f"index in {build} is inconsistent: {len(self.passage_doc)} passages, {len(self.vectors)} vectors; rebuild with `kb index --full`")

    @classmethod
    def open(cls, index_dir: Path, embedder: Embedder, weights: Weights = Weights()) -> "Searcher":
        return cls(IndexLayout(index_dir).require_current(), embedder, weights)

    @property
    def db(self):
        """A read-only connection per thread (sqlite3 connections are not shared across threads)."""
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = connect(self.build / DB_FILE, readonly=True)
        return conn

    # -- retrieval -------------------------------------------------------------------------

    def embed_query(self, query: str) -> np.ndarray:
        """Query vectors, memoised: engineers repeat the same searches."""
        cached = self._query_cache.get(query)
        if cached is None:
            with self._encode_lock:
                cached = self.embedder.encode([query])[0]
            self._query_cache[query] = cached
            if len(self._query_cache) > 512:
                self._query_cache.popitem(last=False)
        return cached

    def dense(self, query: str, depth: int, allowed: list[int] | None) -> list[tuple[int, float]]:
        return self.vectors.search(self.embed_query(query), depth, allowed)

    def lexical(self, query: str, depth: int, filters: Filters) -> list[tuple[int, float]]:
        expression = fts_query(query)
        if not expression:
            return []
        w = self.weights.fields
        limit = depth if filters.empty else depth * 10
        rows = self.db.execute(
            f"SELECT rowid, bm25(passages_fts, {w[0]}, {w[1]}, {w[2]}, {w[3]}) AS s FROM passages_fts"
            " WHERE passages_fts MATCH ? ORDER BY s LIMIT ?",
            (expression, limit),
        ).fetchall()
        hits = [(int(r[0]), -float(r[1])) for r in rows]
        if not filters.empty:
            hits = [(p, s) for p, s in hits if filters.accepts(self.docs[self.passage_doc[p]])]
        return hits[:depth]

    def search(self, query: str, k: int = 10, filters: Filters | None = None, mode: str = "hybrid") -> list[Hit]:
        """The `k` best documents for `query`, best first."""
        filters = filters or Filters()
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}")
        if not query.strip():
            return []
        depth = max(self.weights.depth, k * 3)
        allowed = None
        if not filters.empty:
            allowed = [p for p, d in self.passage_doc.items() if filters.accepts(self.docs[d])]
        dense = self.dense(query, depth, allowed) if mode != "lexical" else []
        lexical = self.lexical(query, depth, filters) if mode != "dense" else []
        ranked = self._fuse(dense, lexical)[:k]
        return [self._hit(query, *item) for item in ranked]

    def _fuse(self, dense: list[tuple[int, float]], lexical: list[tuple[int, float]]):
        """Reciprocal rank fusion at document level; per document, the best fused passage is kept."""
        w = self.weights
        doc_score: dict[str, float] = {}
        passage_score: dict[int, float] = {}
        doc_ranks: dict[str, dict[str, int]] = {}
        for name, weight, hits in (("dense", w.dense, dense), ("lexical", w.lexical, lexical)):
            docs_seen = 0
            for rank, (pid, _) in enumerate(hits, start=1):
                passage_score[pid] = passage_score.get(pid, 0.0) + weight / (w.rrf_k + rank)
                ranks = doc_ranks.setdefault(self.passage_doc[pid], {})
                if name not in ranks:
                    docs_seen += 1
                    ranks[name] = docs_seen
        for doc, ranks in doc_ranks.items():
            doc_score[doc] = sum((w.dense if n == "dense" else w.lexical) / (w.rrf_k + r) for n, r in ranks.items())
        best: dict[str, int] = {}
        for pid, score in passage_score.items():
            doc = self.passage_doc[pid]
            if doc not in best or score > passage_score[best[doc]]:
                best[doc] = pid
        order = sorted(doc_score, key=lambda d: (-doc_score[d], d))
        return [(d, doc_score[d], best[d], doc_ranks[d]) for d in order]

    def _hit(self, query: str, doc_id: str, score: float, passage_id: int, ranks: dict[str, int]) -> Hit:
        doc = self.docs[doc_id]
        row = self.db.execute("SELECT heading, text, line FROM passages WHERE id = ?", (passage_id,)).fetchone()
        similarity = float(np.dot(self.vectors.index.reconstruct(passage_id), self.embed_query(query)))
        case = {k: doc.meta[k] for k in CASE_FIELDS if doc.type == "case" and doc.meta.get(k)}
        return Hit(
            id=doc.id, title=doc.title, type=doc.type, language=doc.language, tags=list(doc.tags),
            score=round(score, 6), similarity=round(similarity, 4), heading=row["heading"], line=row["line"],
            snippet=make_snippet(row["text"], query), case=case,
            dense_rank=ranks.get("dense"), lexical_rank=ranks.get("lexical"),
        )

    # -- documents -------------------------------------------------------------------------

    def document(self, doc_id: str) -> dict | None:
        """A document's stored fields, or None when it is not in the index."""
        row = self.db.execute("SELECT * FROM documents WHERE id = ?", (doc_id,)).fetchone()
        if row is None:
            return None
        return {**dict(row), "tags": json.loads(row["tags"]), "meta": json.loads(row["meta"])}

    def stats(self) -> dict:
        return {"documents": len(self.docs), "passages": len(self.vectors), "model": self.manifest["model"],
                "built_at": self.manifest["built_at"], "build": self.build.name}


def fts_query(query: str) -> str:
    """An FTS5 MATCH expression: any query word, each quoted so codes and dotted versions match as typed."""
    words = [m.group() for m in WORD.finditer(query)]
    kept = [w for w in dict.fromkeys(words) if fold(w) not in STOPWORDS] or words
    return " OR ".join('"' + w.replace('"', '""') + '"' for w in kept)


def timed(fn, *args, **kwargs):
    """(result, milliseconds) of a call; used by the API and the CLI to report latency."""
    start = time.perf_counter()
    result = fn(*args, **kwargs)
    return result, (time.perf_counter() - start) * 1000
