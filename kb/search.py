"""Vectors and rows -> results: hybrid (dense + BM25) retrieval of documents for a symptom.

Dense retrieval ranks passages by cosine similarity; a document counts with its best passage.
Lexical retrieval ranks whole documents by BM25 with title and keyword fields weighted up
(symptoms, error codes, tags, product). The two document lists are fused by a weighted sum of
scores, each list scaled by its best score (0.6 x cosine + 0.4 x BM25/best BM25); reciprocal rank
fusion is the alternative (`Weights.fusion = "rrf"`). The score fusion won on all three evaluation
sets (bench/tune_fusion.py; README, "Search quality"). Only for the documents shown is a passage
chosen: within each, the one with the best reciprocal rank over similarity and BM25.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections import Counter, OrderedDict
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from kb.batching import BatchingEncoder
from kb.chunking import split_text
from kb.codes import extract_codes
from kb.embedding import Embedder
from kb.highlight import Snippet, fold, make_snippet, matched_spans, query_terms
from kb.indexer import ModelMismatch, check_model
from kb.layout import DB_FILE, VECTORS_FILE, IndexLayout, read_manifest
from kb.query import ParsedQuery, fts_any, fts_phrase, parse_query
from kb.store import SCHEMA_VERSION, connect, document_token
from kb.vectors import VectorIndex

MODES = ("hybrid", "dense", "lexical")
CASE_FIELDS = ("status", "product", "version", "symptoms", "error_codes", "root_cause", "resolution")
FACET_FIELDS = ("type", "language", "tags", "product", "status")
SIMILAR_PIECES = 8  # a ticket is embedded in at most this many model-sized pieces
CODE_BOOST = 1.5  # in `similar`, exact error-code matches weigh 1.5 times the lexical weight of a search
QUERY_MEMO = 4096  # query vectors kept in memory (1.5 KiB each with a 384-dimension model)


class IndexUnusable(RuntimeError):
    """The published index cannot be used as it is."""


@dataclass(frozen=True)
class Filters:
    """Restrict results to documents with these properties (None / empty = any)."""

    type: str | None = None
    tags: tuple[str, ...] = ()
    language: str | None = None
    product: str | None = None
    status: str | None = None

    def accepts(self, doc: "DocInfo", skip: str | None = None) -> bool:
        """Whether `doc` passes every filter except the `skip` field (used for facet counts)."""
        return all(
            name == skip or ok
            for name, ok in (
                ("type", self.type is None or doc.type == self.type),
                ("tags", all(t in doc.tags for t in self.tags)),
                ("language", self.language is None or doc.language == self.language),
                ("product", self.product is None or fold(doc.product) == fold(self.product)),
                ("status", self.status is None or doc.status == self.status),
            )
        )

    @property
    def empty(self) -> bool:
        return self == Filters()


@dataclass(frozen=True)
class Weights:
    """Fusion and field weights, chosen by measurement with `kb eval` (see README)."""

    fusion: str = "score"
    rrf_k: int = 60
    dense: float = 0.6
    lexical: float = 0.4
    depth: int = 100
    scale_dense: bool = True  # score fusion: divide cosines by the best one, like BM25 scores
    document_fields: tuple[float, float, float] = (5.0, 3.0, 1.0)  # BM25 weights: title, keywords, body
    passage_fields: tuple[float, float] = (1.5, 1.0)  # BM25 weights: heading, text (picks the passage to show)
    facet_depth: int = 50


@dataclass(frozen=True)
class DocInfo:
    id: str
    title: str
    type: str
    language: str
    tags: tuple[str, ...]
    meta: dict

    @property
    def product(self) -> str:
        return str(self.meta.get("product") or "")

    @property
    def status(self) -> str:
        return str(self.meta.get("status") or "")

    def facet_values(self, name: str) -> tuple[str, ...]:
        value = self.tags if name == "tags" else (getattr(self, name) or "",)
        return tuple(v for v in value if v)


@dataclass(frozen=True)
class Ranked:
    """A document's place in a result list, before its snippet is made."""

    doc_id: str
    score: float
    ranks: dict
    passage_id: int | None = None  # the passage to show: chosen only for documents that are shown
    similarity: float | None = None  # cosine of that passage and the query


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
        self.embedder = embedder
        self.weights = weights
        self._local = threading.local()
        self._encode_lock = threading.Lock()
        self._encode_one = BatchingEncoder(self._encode)
        self._query_cache: OrderedDict[str, np.ndarray] = OrderedDict()
        try:
            self._load()
        except (IndexUnusable, ModelMismatch):
            raise
        except (OSError, RuntimeError, sqlite3.DatabaseError, ValueError, KeyError) as exc:
            raise IndexUnusable(f"index build {build} cannot be loaded ({exc.__class__.__name__}: {exc}); "
                                "rebuild it with `kb index --full`") from exc

    def _load(self) -> None:
        """Read the manifest, vectors and document table into memory, checking they belong together."""
        build = self.build
        self.manifest = read_manifest(build)
        if self.manifest.get("format") != SCHEMA_VERSION:
            raise IndexUnusable(f"index {build} has format {self.manifest.get('format')}, this version reads {SCHEMA_VERSION}: run `kb index`")
        check_model(self.manifest, self.embedder)
        self.vectors = VectorIndex.load(build / VECTORS_FILE)
        rows = self.db.execute("SELECT rowid, id, title, type, language, tags, meta FROM documents").fetchall()
        self.docs = {
            r["id"]: DocInfo(r["id"], r["title"], r["type"], r["language"], tuple(json.loads(r["tags"])), json.loads(r["meta"]))
            for r in rows
        }
        self.rowid_doc = {r["rowid"]: r["id"] for r in rows}
        self.doc_rowid = {doc: rowid for rowid, doc in self.rowid_doc.items()}
        self.passage_doc: dict[int, str] = dict(self.db.execute("SELECT id, doc_id FROM passages").fetchall())
        self.doc_passages: dict[str, list[int]] = {}
        for pid, doc in self.passage_doc.items():
            self.doc_passages.setdefault(doc, []).append(pid)
        if len(self.passage_doc) != len(self.vectors):
            raise IndexUnusable(f"index {build} is inconsistent: {len(self.passage_doc)} passages, {len(self.vectors)} vectors; run `kb index --full`")

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

    # -- retrievers ------------------------------------------------------------------------

    def _encode(self, texts: list[str]) -> np.ndarray:
        """One model call at a time: concurrent calls would only compete for the same cores."""
        with self._encode_lock:
            return self.embedder.encode(texts)

    def embed_query(self, text: str) -> np.ndarray:
        """Query vectors, memoised: engineers repeat the same searches."""
        cached = self._query_cache.get(text)
        if cached is None:
            cached = self._encode_one(text)
            self._query_cache[text] = cached
            if len(self._query_cache) > QUERY_MEMO:
                self._query_cache.popitem(last=False)
        return cached

    def dense(self, vector: np.ndarray, depth: int, allowed: set[str] | None) -> list[tuple[int, float]]:
        """(passage id, cosine) best first, restricted to passages of `allowed` documents."""
        ids = None if allowed is None else [p for d in allowed for p in self.doc_passages.get(d, ())]
        return self.vectors.search(vector, depth, ids)

    def lexical_passages(self, q: ParsedQuery, doc_ids: list[str]) -> dict[int, float]:
        """BM25 of the passages of `doc_ids` that contain query words.

        The `document` column limits the match to those documents' passages, which costs a
        twentieth of ranking every passage in the table (0.9 against 18 ms at 43k passages).
        """
        if not q.words or not doc_ids:
            return {}
        w = self.weights.passage_fields
        documents = " OR ".join(document_token(self.doc_rowid[d]) for d in doc_ids)
        expression = f"{{heading text}} : ({fts_any(q.words)}) AND document : ({documents})"
        rows = self.db.execute(f"SELECT rowid, bm25(passages_fts, {w[0]}, {w[1]}, 0) FROM passages_fts "
                               "WHERE passages_fts MATCH ?", (expression,))
        return {int(r[0]): -float(r[1]) for r in rows}

    def lexical_documents(self, q: ParsedQuery, depth: int, allowed: set[str] | None) -> list[tuple[str, float]]:
        """(document id, BM25) best first; with `allowed`, ten times `depth` are read so enough remain."""
        expression = fts_any(q.words)
        if not expression:
            return []
        w = self.weights.document_fields
        rows = self.db.execute(
            f"SELECT rowid, bm25(documents_fts, {w[0]}, {w[1]}, {w[2]}) AS s FROM documents_fts "
            "WHERE documents_fts MATCH ? ORDER BY s LIMIT ?", (expression, depth * 10 if allowed is not None else depth),
        )
        hits = [(self.rowid_doc[int(r[0])], -float(r[1])) for r in rows]
        return [(d, s) for d, s in hits if allowed is None or d in allowed][:depth]

    def _filtered(self, allowed: set[str] | None, filters: Filters) -> set[str] | None:
        """The documents of `allowed` (None: all) that pass `filters` (None when nothing restricts)."""
        if filters.empty:
            return allowed
        return {d for d in (allowed if allowed is not None else self.docs) if filters.accepts(self.docs[d])}

    def with_phrases(self, phrases: tuple[str, ...]) -> set[str] | None:
        """Documents containing every required phrase (None when there are none)."""
        allowed: set[str] | None = None
        for phrase in phrases:
            rows = self.db.execute("SELECT rowid FROM documents_fts WHERE documents_fts MATCH ?", (fts_phrase(phrase),))
            docs = {self.rowid_doc[r[0]] for r in rows}
            allowed = docs if allowed is None else allowed & docs
        return allowed

    # -- ranking ---------------------------------------------------------------------------

    def rank(self, query: str, k: int = 10, filters: Filters | None = None, mode: str = "hybrid") -> list[Ranked]:
        """The `k` best documents for `query`, best first, without snippets (what `kb eval` scores)."""
        filters = filters or Filters()
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}")
        q = parse_query(query)
        if not q.text:
            return []
        return self._ranked(q, max(self.weights.depth, k), self._filtered(self.with_phrases(q.phrases), filters), mode)[:k]

    def _ranked(self, q: ParsedQuery, depth: int, allowed: set[str] | None, mode: str) -> list[Ranked]:
        if allowed is not None and not allowed:
            return []
        dense = self.dense(self.embed_query(q.text), depth, allowed) if mode != "lexical" else []
        documents = self.lexical_documents(q, depth, allowed) if mode != "dense" else []
        return self._fuse(dense, documents, mode)

    def _fuse(self, dense, documents, mode: str, lexical_weight: float | None = None) -> list[Ranked]:
        """Fuse the dense (passage) and lexical (document) rankings into one document ranking."""
        w = self.weights
        dense_docs = _best_per_document(dense, self.passage_doc)
        lexical_weight = w.lexical if lexical_weight is None else lexical_weight
        lists = [("dense", w.dense if mode != "lexical" else 0.0, dense_docs),
                 ("lexical", lexical_weight if mode != "dense" else 0.0, documents)]
        ranks: dict[str, dict[str, int]] = {}
        scores: dict[str, float] = {}
        for name, weight, ranking in lists:
            top = ranking[0][1] if ranking else 1.0
            for rank, (doc, score) in enumerate(ranking, start=1):
                ranks.setdefault(doc, {})[name] = rank
                if w.fusion == "rrf":
                    contribution = weight / (w.rrf_k + rank)
                elif name == "dense" and not w.scale_dense:  # cosine is already on an absolute 0..1 scale
                    contribution = weight * max(score, 0.0)
                else:  # scaled to the best of its list: BM25 has no absolute scale
                    contribution = weight * (score / top if top > 0 else 0.0)
                scores[doc] = scores.get(doc, 0.0) + contribution
        order = sorted(scores, key=lambda d: (-scores[d], d))
        return [Ranked(d, scores[d], ranks[d]) for d in order]

    def with_passages(self, q: ParsedQuery, vector: np.ndarray, ranked: list[Ranked]) -> list[Ranked]:
        """Each document with the passage to show: within the document, the best reciprocal rank
        fusion of similarity to the query vector and BM25 of the query words (ties: earlier passage)."""
        lexical = self.lexical_passages(q, [r.doc_id for r in ranked])
        ids = [p for r in ranked for p in self.doc_passages[r.doc_id]]
        similarity = dict(zip(ids, (self.vectors.vectors(ids) @ vector).tolist()))
        chosen = []
        for r in ranked:
            passages = self.doc_passages[r.doc_id]
            fused = dict.fromkeys(passages, 0.0)
            for scores in (similarity, lexical):
                order = sorted((p for p in passages if p in scores), key=lambda p: -scores[p])
                for rank, p in enumerate(order, start=1):
                    fused[p] += 1.0 / (self.weights.rrf_k + rank)
            best = max(passages, key=fused.__getitem__)
            chosen.append(replace(r, passage_id=best, similarity=similarity[best]))
        return chosen

    # -- results ---------------------------------------------------------------------------

    def search(self, query: str, k: int = 10, filters: Filters | None = None, mode: str = "hybrid") -> list[Hit]:
        """The `k` best documents for `query`, best first, each with its best passage as a snippet."""
        return self._hits(query, parse_query(query), self.rank(query, k, filters, mode))

    def search_with_facets(self, query: str, k: int = 10, filters: Filters | None = None) -> tuple[list[Hit], dict]:
        """`search` and `facets` together, as the page and the API need them.

        Without filters both come from the same ranking, which halves the work of a request.
        """
        filters = filters or Filters()
        q = parse_query(query)
        if not q.text:
            return [], {name: [] for name in FACET_FIELDS}
        depth = max(self.weights.depth, k)
        phrases = self.with_phrases(q.phrases)
        candidates = self._ranked(q, depth, phrases, "hybrid")
        ranked = candidates if filters.empty else self._ranked(q, depth, self._filtered(phrases, filters), "hybrid")
        return self._hits(query, q, ranked[:k]), self._count_facets(candidates, filters)

    def _hits(self, query: str, q: ParsedQuery, ranked: list[Ranked]) -> list[Hit]:
        vector = self.embed_query(q.text)
        return [self._hit(query, r) for r in self.with_passages(q, vector, ranked)]

    def similar(self, text: str, k: int = 10, filters: Filters | None = None) -> tuple[list[Hit], list[str]]:
        """Past cases and articles most like a whole ticket, and the error codes found in it.

        The ticket is embedded in model-sized pieces whose mean is the query vector; error codes
        found in it are matched exactly with BM25 and weigh more in the fusion than in a search,
        because a shared code is strong evidence of the same problem.
        """
        filters = filters or Filters()
        codes = extract_codes(text)
        allowed = self._filtered(None, filters)
        pieces = split_text(text, self.embedder.count_tokens, self.embedder.max_tokens - 2)[:SIMILAR_PIECES] or [text]
        vector = _unit(self._encode(pieces).mean(axis=0))
        depth = max(self.weights.depth, k)
        q = ParsedQuery(text=" ".join(codes), words=tuple(codes), phrases=())
        dense = self.dense(vector, depth, allowed)
        documents = self.lexical_documents(q, depth, allowed) if codes else []
        ranked = self._fuse(dense, documents, "hybrid", lexical_weight=self.weights.lexical * CODE_BOOST)[:k]
        snippet_query = " ".join(codes) or text[:200]
        return [self._hit(snippet_query, r) for r in self.with_passages(q, vector, ranked)], codes

    def related(self, doc_id: str, k: int = 5) -> list[tuple[str, float]]:
        """Nearest documents to `doc_id` by the mean of its passage vectors, with cosine similarity."""
        own = self.doc_passages.get(doc_id)
        if not own:
            return []
        vector = _unit(np.mean([self.vectors.vector(p) for p in own], axis=0))
        hits = _best_per_document(self.dense(vector, self.weights.depth, None), self.passage_doc)
        return [(d, round(s, 4)) for d, s in hits if d != doc_id][:k]

    def facets(self, query: str, filters: Filters | None = None) -> dict[str, list[tuple[str, int]]]:
        """Counts per field value among the best `facet_depth` documents for the query."""
        return self.search_with_facets(query, 1, filters)[1]

    def _count_facets(self, candidates: list[Ranked], filters: Filters) -> dict[str, list[tuple[str, int]]]:
        """Counts per field value among the best `facet_depth` unfiltered candidates.

        Each field is counted with every filter applied except its own, so the page can show
        how many results another choice of that field would give.
        """
        docs = [self.docs[r.doc_id] for r in candidates[: self.weights.facet_depth]]
        result = {}
        for name in FACET_FIELDS:
            counted = docs if filters.empty else [d for d in docs if filters.accepts(d, skip=name)]
            counts = Counter(v for d in counted for v in d.facet_values(name))
            result[name] = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
        return result

    def _hit(self, query: str, ranked: Ranked) -> Hit:
        """A ranked document with its chosen passage (see `with_passages`) made into a result."""
        doc = self.docs[ranked.doc_id]
        row = self.db.execute("SELECT heading, text, line FROM passages WHERE id = ?", (ranked.passage_id,)).fetchone()
        case = self._case_summary(doc, query) if doc.type == "case" else {}
        return Hit(
            id=doc.id, title=doc.title, type=doc.type, language=doc.language, tags=list(doc.tags),
            score=round(ranked.score, 6), similarity=round(ranked.similarity, 4), heading=row["heading"], line=row["line"],
            snippet=make_snippet(row["text"], query), case=case,
            dense_rank=ranked.ranks.get("dense"), lexical_rank=ranked.ranks.get("lexical"),
        )

    def _case_summary(self, doc: DocInfo, query: str) -> dict:
        """Status, product, the symptom closest to the query and the first lines of the resolution."""
        case = {k: doc.meta[k] for k in CASE_FIELDS if doc.meta.get(k)}
        symptoms = [str(s) for s in doc.meta.get("symptoms") or [] if s]
        terms = query_terms(query)
        overlap = {s: len({w for *_, w in matched_spans(s, terms)}) for s in symptoms}
        if overlap and max(overlap.values()) > 0:
            case["matched_symptom"] = max(overlap, key=overlap.get)
        row = self.db.execute(
            "SELECT text FROM passages WHERE doc_id = ? AND (heading = 'Resolution' OR heading LIKE 'Resolution >%')"
            " ORDER BY ordinal LIMIT 1", (doc.id,),
        ).fetchone()
        if row:
            case["resolution_excerpt"] = _first_lines(row["text"])
        return case

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


def _best_per_document(hits: list[tuple[int, float]], passage_doc: dict[int, str]) -> list[tuple[str, float]]:
    """A passage ranking as a document ranking: each document at the place of its best passage."""
    seen: dict[str, float] = {}
    for pid, score in hits:
        seen.setdefault(passage_doc[pid], score)
    return list(seen.items())


def _unit(vector: np.ndarray) -> np.ndarray:
    norm = float(np.linalg.norm(vector))
    return (vector / norm if norm else vector).astype(np.float32)


def _first_lines(text: str, lines: int = 2, chars: int = 280) -> str:
    """The start of a section, cut at a word boundary: enough to see the answer at a glance."""
    head = "\n".join(text.splitlines()[:lines])
    if len(head) <= chars:
        return head
    cut = head.rfind(" ", 0, chars)
    return head[: cut if cut > chars // 2 else chars] + " …"


def timed(fn, *args, **kwargs):
    """(result, milliseconds) of a call; used by the API and the CLI to report latency."""
    start = time.perf_counter()
    result = fn(*args, **kwargs)
    return result, (time.perf_counter() - start) * 1000
