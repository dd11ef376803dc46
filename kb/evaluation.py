"""Search quality, measured: MRR@10, nDCG@10 and Recall@10 per retrieval mode on a query set.

A query set is JSONL, one `{"id", "query", "relevant": [doc ids]}` per line. A corpus is indexed
into `<index>/eval/<name>-<content hash>`, sharing the embedding cache, so a second run over the
same files costs only the queries. Metrics come from ranx.
"""

from __future__ import annotations

import hashlib
import json
import warnings
from dataclasses import dataclass, replace
from pathlib import Path

from kb.codes import extract_codes
from kb.config import Settings
from kb.documents import DocumentError, discover
from kb.embedding import Embedder
from kb.indexer import build_index
from kb.search import MODES, Searcher

METRICS = ("mrr@10", "ndcg@10", "recall@10")
SLICE_METRICS = (*METRICS, "hit_rate@3")
"""The per-slice table adds top-3: "the answer is among the first three" is the cross-lingual target."""


@dataclass(frozen=True)
class EvalQuery:
    id: str
    query: str
    relevant: tuple[str, ...]
    area: str | None = None  # e.g. the product area of a msdocs query, for the per-slice table
    direction: str | None = None  # cross-lingual sets: "en-to-other", "other-to-en" or "same-language"
    language: str | None = None  # the query's language, when the set says


def held_out(query: EvalQuery) -> bool:
    """A fixed half of the queries, by a hash of the id (the same split on every run): tuning and
    calibration choose on the other half and report on this one."""
    return hashlib.sha256(query.id.encode()).digest()[0] % 2 == 1


def load_queries(path: Path) -> list[EvalQuery]:
    """Read a query set; a malformed line is an error naming the file and line."""
    queries = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
            queries.append(EvalQuery(str(item["id"]), str(item["query"]), tuple(item["relevant"]), item.get("area"),
                                     item.get("direction"), item.get("query_language")))
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            raise DocumentError(path, n, f"bad query line ({exc.__class__.__name__}: {exc}); expected {{\"id\", \"query\", \"relevant\": [...]}}") from None
    return queries


def corpus_hash(corpus: Path) -> str:
    """Hash of every indexed file's path and bytes: the same files give the same cached index."""
    digest = hashlib.sha256()
    files, _ = discover(corpus)
    for doc_id, path in files.items():
        digest.update(doc_id.encode() + b"\0" + hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()[:16]


def corpus_settings(settings: Settings, corpus: Path) -> Settings:
    """Settings of the cached evaluation index of `corpus`."""
    index = settings.index / "eval" / f"{corpus.resolve().name}-{corpus_hash(corpus)}"
    return settings.with_(articles=corpus, index=index, embedding_cache=settings.cache_db)


def index_corpus(settings: Settings, corpus: Path, embedder: Embedder, progress: bool = True) -> Settings:
    """Build (or reuse) the evaluation index of `corpus`; returns its settings."""
    eval_settings = corpus_settings(settings, corpus)
    build_index(eval_settings, embedder, progress=progress)
    return eval_settings


Run = dict[str, dict[str, float]]
"""Ranked document ids per query id, scored from ranks."""


def evaluate(searcher: Searcher, queries: list[EvalQuery], modes: tuple[str, ...] = MODES, k: int = 10) -> dict[str, dict[str, float]]:
    """Metric values per mode."""
    return {mode: metrics(queries, run(searcher, queries, mode, k)) for mode in modes}


def evaluate_slices(queries: list[EvalQuery], ranked: Run) -> dict[str, tuple[int, dict[str, float]]]:
    """(query count, SLICE_METRICS values) per slice of the queries: all, quoted, with error codes, per
    product area, per cross-lingual direction and query language when the set names them, so a
    regression shows where it happens."""
    out = {}
    for name, members in slices(queries).items():
        subset = [q for q in queries if q.id in members]
        out[name] = (len(subset), metrics(subset, {q.id: ranked[q.id] for q in subset}, SLICE_METRICS))
    return out


def slices(queries: list[EvalQuery]) -> dict[str, set[str]]:
    """Query ids per slice; empty slices are left out."""
    found = {"all": {q.id for q in queries},
             "quoted": {q.id for q in queries if '"' in q.query},
             "error codes": {q.id for q in queries if extract_codes(q.query)}}
    for product in sorted({_product(q.area) for q in queries if q.area}):
        found[f"area {product}"] = {q.id for q in queries if q.area and _product(q.area) == product}
    for direction in sorted({q.direction for q in queries if q.direction}):
        found[f"direction {direction}"] = {q.id for q in queries if q.direction == direction}
        for language in sorted({q.language for q in queries if q.direction == direction and q.language}):
            found[f"  {direction}, query in {language}"] = {q.id for q in queries if q.direction == direction and q.language == language}
    return {name: ids for name, ids in found.items() if ids}


def _product(area: str) -> str:
    """The product part of an area such as 'windows-server/backup-and-storage'."""
    return area.split("/")[0]


def run(searcher: Searcher, queries: list[EvalQuery], mode: str, k: int = 10) -> Run:
    """The top `k` of each query, scored from ranks so ranx keeps our order exactly (fused scores can tie)."""
    out = {}
    for q in queries:
        ranked = searcher.rank(q.query, k=k, mode=mode)
        out[q.id] = {r.doc_id: float(k - i) for i, r in enumerate(ranked)} or {"-": 0.0}
    return out


PASTE_METRICS = ("hit_rate@1", "hit_rate@3", "mrr@10")
"""Top-1, top-3 and MRR@10: for a pasted ticket the first few results are all an engineer reads."""
SEARCH_LIMIT = 1000
"""Characters of q that `/api/search` accepts: the raw-paste baseline sends the paste cut there."""


def run_pastes(searcher: Searcher, queries: list[EvalQuery], k: int = 10) -> Run:
    """The top `k` of each paste through the log-aware analysis (`Searcher.similar`, as `/api/similar`)."""
    out = {}
    for q in queries:
        hits, _ = searcher.similar(q.query, k)
        out[q.id] = {h.id: float(k - i) for i, h in enumerate(hits)} or {"-": 0.0}
    return out


def run_raw_pastes(searcher: Searcher, queries: list[EvalQuery], k: int = 10) -> Run:
    """The top `k` of each paste sent as it is to `/api/search` (cut to the characters it accepts)."""
    return run(searcher, [replace(q, query=q.query[:SEARCH_LIMIT]) for q in queries], "hybrid", k)


def metrics(queries: list[EvalQuery], ranked: Run, names: tuple[str, ...] = METRICS) -> dict[str, float]:
    """Metric values (`names`, default METRICS) of a run against the queries' relevant documents."""
    from ranx import Qrels
    from ranx import Run as RanxRun
    from ranx import evaluate as ranx_evaluate

    qrels = Qrels.from_dict({q.id: {d: 1 for d in q.relevant} for q in queries})
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="unsafe cast")  # numba noise on uint64 ids
        scores = ranx_evaluate(qrels, RanxRun.from_dict(ranked), list(names), make_comparable=True)
    return {m: float(scores[m]) for m in names}
