"""The search façade: one loaded index build answering queries, composed of the layers below.

    query -> kb.query.parse_query -> kb.retrieval (dense, lexical) -> kb.fusion -> kb.results

A search ranks documents once: its results are the candidates either retriever found, at most
`search.depth`, and filters select from them, so the total, the pages and every facet count come
from one list. (A filter therefore sees only the query's best `depth` documents: on a large corpus a
rare product can have matching documents further down that a filtered search does not reach.) The
passage shown for a document is chosen only for the page shown: within the document, the best
reciprocal rank over its similarity to the query and its BM25 for the query words, among the passages
fit to show (`kb.snippets.for_showing`: the document's own text, not references or the front matter
summary) when it has any.
"""

from __future__ import annotations

import copy
import difflib
import logging
import sqlite3
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from kb import text
from kb.batching import QueryEncoder
from kb.catalog import Catalog, Filters
from kb.centering import LanguageCentering
from kb.chunking import split_text
from kb.config import SearchSettings, Settings, load_settings
from kb.embedding import Embedder, load_embedder
from kb.fusion import blend, order_within, reciprocal_rank_fusion, score_fusion
from kb.languages import code, is_english, keep_detector_in, warm_detector
from kb.layout import DB_FILE, ENGLISH_VECTORS_FILE, VECTORS_FILE, IndexLayout, IndexUnusable, ModelMismatch, check_model, read_manifest
from kb.query import ParsedQuery, of_words, parse_query
from kb.match_strength import LABELS, SHIPPED, MatchModel
from kb.paste import PasteAnalysis, analyse
from kb.results import (
    RESOLUTION_SECTION, Hit, IdentifierCount, IndexStats, Ranked, Related, ResultPage, Why, count_facets, make_hit,
)
from kb.snippets import passage_to_show, sentences
from kb.retrieval import DenseRetriever, LexicalRetriever, unit
from kb.store.index_db import SCHEMA_VERSION, IndexReader, PassageRow, StoredDocument
from kb.vectors import VectorIndex, blas_on_one_thread

MODES = ("hybrid", "dense", "lexical")
ENGLISH_WORKERS = 4
"""Threads that embed English queries with the English model, beside the main model's."""
log = logging.getLogger(__name__)


class Searcher:
    """A loaded index answering queries from memory; safe to share between threads."""

    def __init__(self, build: Path, embedder: Embedder, weights: SearchSettings = SearchSettings(),
                 match_model: MatchModel | None = None):
        self.build = build
        self.embedder = embedder
        self.weights = weights
        self.match_model = match_model
        self.centering: LanguageCentering | None = None
        self.encode_query = QueryEncoder(self._query_vectors, weights.query_memo)
        self.english_dense: DenseRetriever | None = None
        self.english_docs: frozenset[str] = frozenset()
        # the query models (e5: tokenizer 0.5 s, int8 session 0.1-0.4 s) and the language detector
        # (0.1 s) load while the index is read
        keep_detector_in(getattr(self.embedder, "models_dir", None))
        with ThreadPoolExecutor(max_workers=3, thread_name_prefix="kb-model-load") as loading:
            models = [loading.submit(m.warm_queries) for m in (embedder, embedder.english) if m is not None]
            models.append(loading.submit(warm_detector, weights.languages))
            try:
                self._load()
            except (IndexUnusable, ModelMismatch):
                raise
            except (OSError, RuntimeError, sqlite3.DatabaseError, ValueError, KeyError) as exc:
                raise IndexUnusable(f"index build {build} cannot be loaded ({exc.__class__.__name__}: {exc}); "
                                    "rebuild it with `kb index --full`") from exc
            for model in models:
                model.result()  # a model that cannot load says so here, as a model error

    def _load(self) -> None:
        """Read the manifest, vectors and document table into memory, checking they belong together."""
        blas_on_one_thread()
        self.manifest = read_manifest(self.build)
        if self.manifest.get("format") != SCHEMA_VERSION:
            raise IndexUnusable(f"index {self.build} has format {self.manifest.get('format')}, "
                                f"this version reads {SCHEMA_VERSION}: run `kb index`")
        check_model(self.manifest, self.embedder.model_id)
        self.vectors = VectorIndex.load(self.build / VECTORS_FILE)
        self.reader = IndexReader(self.build / DB_FILE)
        self.catalog = Catalog.load(self.reader)
        if len(self.catalog.passage_doc) != len(self.vectors):
            raise IndexUnusable(f"index {self.build} is inconsistent: {len(self.catalog.passage_doc)} passages, "
                                f"{len(self.vectors)} vectors; run `kb index --full`")
        self.centering = LanguageCentering.fit(self.vectors, self.catalog, self.weights.language_centering)
        if self.centering is not None:
            self.vectors = self.centering.documents(self.vectors, self.catalog)
            log.info("vectors centered per language (%s)", ", ".join(self.centering.languages))
        self.dense = DenseRetriever(self.vectors, self.catalog)
        self.lexical = lexical_retriever(self.reader, self.catalog, self.weights)
        self._load_english()

    def _load_english(self) -> None:
        """The English model's vectors of the English documents, when the build has them and the
        English model configured is the one they were made with (else search uses the main model only)."""
        english, built_with = self.embedder.english, self.manifest.get("english_model")
        if english is None or built_with is None:
            return
        if built_with != english.model_id:
            log.warning("index %s has English vectors of %s, but %s is configured: they are not used "
                        "(`kb index` makes them again)", self.build, built_with, english.model_id)
            return
        vectors = VectorIndex.load(self.build / ENGLISH_VECTORS_FILE)
        self.english_docs = frozenset(d for d, doc in self.catalog.docs.items() if is_english(doc.language))
        expected = sum(len(self.catalog.doc_passages.get(d, ())) for d in self.english_docs)
        if len(vectors) != expected:
            raise IndexUnusable(f"index {self.build} is inconsistent: {len(vectors)} English vectors for "
                                f"{expected} passages of English documents; run `kb index --full`")
        self.english_dense = DenseRetriever(vectors, self.catalog)
        self.encode_english = QueryEncoder(english.encode_queries, self.weights.query_memo)
        # the two models embed an English query at once (ONNX Runtime frees the GIL); several workers,
        # so concurrent searches' English queries batch in the encoder instead of queueing here
        self._beside = ThreadPoolExecutor(max_workers=ENGLISH_WORKERS, thread_name_prefix="kb-english-query")

    def _query_vectors(self, texts: list[str]) -> np.ndarray:
        """Query vectors as the index's passage vectors are: centered per language when they are."""
        vectors = self.embedder.encode_queries(texts)
        return vectors if self.centering is None else self.centering.queries(texts, vectors)

    @classmethod
    def open(cls, index_dir: Path, embedder: Embedder, weights: SearchSettings = SearchSettings(),
             match_model: MatchModel | None = None) -> "Searcher":
        return IndexLayout(index_dir).open_first_good(lambda build: cls(build, embedder, weights, match_model))

    def with_weights(self, weights: SearchSettings) -> "Searcher":
        """The same loaded index ranking with other weights (fusion tuning)."""
        other = copy.copy(self)
        other.weights = weights
        other.lexical = lexical_retriever(self.reader, self.catalog, weights)
        return other

    # -- ranking ---------------------------------------------------------------------------

    def rank(self, query: str | ParsedQuery, k: int = 10, filters: Filters | None = None, mode: str = "hybrid") -> list[Ranked]:
        """The `k` best documents for `query`, best first, without snippets (what `kb eval` scores)."""
        q = parse_query(query) if isinstance(query, str) else query
        return self._filtered(self.candidates(q, mode), filters or Filters())[:k]

    def candidates(self, q: ParsedQuery, mode: str = "hybrid") -> list[Ranked]:
        """Every result of a query, best first, before filters: the documents either retriever found
        (at most `search.depth`), those containing the query's identifiers first, each with its match
        strength in hybrid mode. Filters select from this list, so a facet count is exactly what a
        click on it shows."""
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}")
        if q.empty:
            return []
        ranked = self._ranked(q, self.weights.depth, self.lexical.with_phrases(q.required), mode)[: self.weights.depth]
        if mode != "hybrid" or not ranked:
            return ranked
        return self._with_strength(ranked, q.words, len(q.identifiers))

    def _with_strength(self, ranked: list[Ranked], words: tuple[str, ...], identifiers: int) -> list[Ranked]:
        """The ranking with each document's coverage of `words` and, when a match model is loaded and
        every document has its cosine, its match strength."""
        coverage = self.lexical.coverage(words, [r.doc_id for r in ranked])
        ranked = [r.but(coverage=coverage[r.doc_id]) for r in ranked]
        if self.match_model is None or any(r.cosine is None for r in ranked):
            return ranked
        return self.match_model.apply(ranked, identifiers)

    def _filtered(self, ranked: list[Ranked], filters: Filters) -> list[Ranked]:
        if filters.empty:
            return ranked
        return [r for r in ranked if filters.accepts(self.catalog.docs[r.doc_id])]

    def _ranked(self, q: ParsedQuery, depth: int, allowed: set[str] | None, mode: str) -> list[Ranked]:
        """Fused ranking within `allowed`. In hybrid mode quoted phrases are evidence: documents that
        contain them join the candidates and score `search.phrase` times the share they contain; and
        documents containing the query's identifiers join the candidates and, when the query is mostly
        identifiers (at most `search.identifiers_first` other words), rank first by how many they contain.
        A longer description that mentions a code is ranked by the fusion alone: measured on the msdocs
        symptom queries with codes, ranking their documents first there drops MRR@10 from 0.877 to 0.716
        (the code is often in the description's neighbours, not in its answer)."""
        if allowed is not None and not allowed:
            return []
        union = mode == "hybrid" and self.weights.union
        vector, english = self._query_vectors_of(q) if mode != "lexical" else (None, None)
        dense = self._dense_documents(vector, english, depth, allowed, scored=not union) if mode != "lexical" else []
        # one BM25 query ten times deeper gives the BM25 of the other candidates too: asking FTS5 for
        # given rowids costs more than ranking the whole table again
        lexical = self.lexical.rank(q, depth * 10 if union else depth, allowed) if mode != "dense" else []
        contains = self.lexical.containing(q.phrases, allowed) if mode == "hybrid" else {}
        codes = self.lexical.containing(q.identifiers, allowed) if mode == "hybrid" else {}
        if union:
            dense, lexical = self._complete(vector, dense, lexical, depth, _joining(depth, contains, codes), english)
            if self.centering is not None and self.weights.lexical_across_languages > 0:
                lexical = self._across_languages(q, dense, lexical)
        fused = self._fuse(dense, lexical, mode, contains=contains, phrases=len(q.phrases), codes=codes)
        if not self.identifiers_first(q):
            return fused  # a description that mentions a code: the code is one BM25 word among the others
        return sorted(fused, key=lambda r: -len(r.identifiers))  # stable: the fused order within each tier

    def _across_languages(self, q: ParsedQuery, dense: list, lexical: list) -> list:
        """BM25 cannot match words across languages, so a document in another language than the
        query's would lose the lexical share of the fusion to every same-language document that shares
        a word with the query. Its BM25 is taken as at least `search.lexical_across_languages` times
        its cosine's share of the best cosine (counted from the lowest under `dense_scaling = "range"`, as
        the fusion counts it), times the best BM25: the dense evidence stands in for
        the lexical one it cannot have."""
        query_language = self.centering.language(q.text)
        if not dense or not lexical or query_language is None:
            return lexical
        top_cosine, top_bm25 = dense[0][1], lexical[0][1] * self.weights.lexical_across_languages
        floor = min(c for _, c in dense) if self.weights.dense_scaling == "range" else 0.0  # as the fusion counts it
        bm25 = dict(lexical)
        for doc, cosine in dense:
            if code(self.catalog.docs[doc].language) != query_language and top_cosine > floor:
                bm25[doc] = max(bm25.get(doc, 0.0), (cosine - floor) / (top_cosine - floor) * top_bm25)
        return _by_score(list(bm25.items()))

    def identifiers_first(self, q: ParsedQuery) -> bool:
        """Whether documents containing the query's identifiers rank above all others (see `_ranked`)."""
        return bool(q.identifiers) and len(q.words) - len(q.identifiers) <= self.weights.identifiers_first

    def _wants_english(self, q: ParsedQuery) -> bool:
        """Whether the English model reads this query: the index has English vectors, they count
        (`search.english_share` > 0) and the query is English."""
        return (self.english_dense is not None and self.weights.english_share > 0
                and is_english(self.lexical.language_of(q.text)))

    def _query_vectors_of(self, q: ParsedQuery) -> tuple[np.ndarray, np.ndarray | None]:
        """The main model's vector of the query and, for an English query, the English model's,
        embedded at the same time (on 2 cores an English query's wait is the slower model's, not both)."""
        if not self._wants_english(q):
            return self.encode_query(q.text), None
        pending = self._beside.submit(self.encode_english, q.text)
        return self.encode_query(q.text), pending.result()

    def _dense_documents(self, vector: np.ndarray, english: np.ndarray | None, depth: int,
                         allowed: set[str] | None, scored: bool = True) -> list[tuple[str, float]]:
        """Documents by cosine, best first: the main model's best `depth`, and with an English query
        vector also the English model's best `depth`, all scored by `_dense_scores`. Unless `scored`
        (hybrid search, whose `_complete` scores the candidates of both retrievers again, blended),
        the main model's alone: in hybrid search the English model's own best added nothing (dev
        MRR@10 0.975 with them, 0.983 without; msdocs symptom 0.852 both; cross-lingual 0.922 both)
        and cost a second scan of every vector, 4 to 7 ms at 5,000 articles. Dense search alone
        keeps them (msdocs symptom 0.812 with, 0.800 without)."""
        found = self.dense.documents(vector, depth, allowed)
        if english is None or not scored:
            return found
        in_english = None if allowed is None else allowed & self.english_docs
        seen = dict(found)
        more = [d for d, _ in self.english_dense.documents(english, depth, in_english) if d not in seen]
        return self._dense_scores(vector, english, [*seen, *more])

    def _dense_scores(self, vector: np.ndarray, english: np.ndarray | None, doc_ids: list[str]) -> list[tuple[str, float]]:
        """Each document's best passage cosine; for an English query (`english`, the English model's
        vector) an English document's is blended with the English model's (`kb.fusion.blend`)."""
        cosines = self.dense.scores(vector, doc_ids)
        if english is not None:
            second = self.english_dense.scores(english, [d for d in doc_ids if d in self.english_docs])
            cosines = blend(cosines, second, self.weights.english_share)
        return _by_score(list(cosines.items()))

    def _complete(self, vector: np.ndarray, dense: list, lexical: list, depth: int, more=(),
                  english: np.ndarray | None = None) -> tuple[list, list]:
        """Both rankings over the union of the candidates (the top `depth` of each, and `more`), each
        scored by both retrievers; `lexical` is read deeper, and a candidate below it has BM25 0. With
        an English query vector every candidate's cosine is scored again, so the English model's
        scale is matched over all of them."""
        candidates = list(dict.fromkeys([d for d, _ in dense] + [d for d, _ in lexical[:depth]] + list(more)))
        bm25 = dict(lexical)
        if english is not None:
            dense = self._dense_scores(vector, english, candidates)
        else:
            in_dense = {d for d, _ in dense}
            dense = _by_score(dense + list(self.dense.scores(vector, [d for d in candidates if d not in in_dense]).items()))
        return dense, _by_score([(d, bm25[d]) for d in candidates if d in bm25])

    def _fuse(self, dense, lexical, mode: str, lexical_weight: float | None = None,
              contains: dict[str, tuple[str, ...]] | None = None, phrases: int = 0,
              codes: dict[str, tuple[str, ...]] | None = None) -> list[Ranked]:
        """Fuse the dense and lexical document rankings, and the quoted-phrase evidence (the share of
        the query's phrases a document contains), as the settings say; each document keeps the
        phrases and the identifiers (`codes`) it contains."""
        w = self.weights
        contains, codes = contains or {}, codes or {}
        lists = {"dense": (w.dense if mode != "lexical" else 0.0, dense),
                 "lexical": ((w.lexical if lexical_weight is None else lexical_weight) if mode != "dense" else 0.0, lexical),
                 "phrases": (w.phrase, _shares(contains, phrases))}
        if w.fusion == "rrf":
            fused = reciprocal_rank_fusion(lists, w.rrf_k)
        else:
            fused = score_fusion(lists, scaled=("dense", "lexical"), ranged=("dense",) if w.dense_scaling == "range" else ())
        cosine = dict(dense)
        return [Ranked(f.key, f.score, dict(f.ranks), phrases=contains.get(f.key, ()), identifiers=codes.get(f.key, ()),
                       cosine=cosine.get(f.key)) for f in fused]

    def with_passages(self, q: ParsedQuery, vector: np.ndarray, ranked: list[Ranked]) -> list[tuple[Ranked, PassageRow | None]]:
        """Each document with the passage to show (its id and similarity set, and its row): the best by
        `kb.fusion.order_within` that is fit to show (`kb.snippets.passage_to_show`)."""
        lexical = self.lexical.passages(q, [r.doc_id for r in ranked])
        similarity = self.dense.similarities(vector, self.catalog.passages_of(r.doc_id for r in ranked))
        chosen = []
        for r in ranked:
            order = order_within(self.catalog.doc_passages[r.doc_id], (similarity, lexical), self.weights.rrf_k)
            shown = passage_to_show(filter(None, map(self.reader.passage, order)), self.catalog.docs[r.doc_id].meta)
            best = shown.id if shown else order[0]
            chosen.append((r.but(passage_id=best, similarity=similarity[best]), shown or self.reader.passage(best)))
        return chosen

    # -- results ---------------------------------------------------------------------------

    def search(self, query: str, k: int = 10, filters: Filters | None = None, mode: str = "hybrid") -> list[Hit]:
        """The `k` best documents for `query`, best first, each with its best passage as a snippet."""
        return self.results(query, filters, limit=k, mode=mode).hits

    def results(self, query: str, filters: Filters | None = None, offset: int = 0, limit: int = 10,
                require: tuple[str, ...] = (), mode: str = "hybrid") -> ResultPage:
        """One page of results with what describes them all (total, match strengths, facets,
        identifier counts), as the page and the API show it. `require`: phrases every result must
        contain, besides those written +"like this"."""
        filters = filters or Filters()
        q = parse_query(query, require)
        everything = self.candidates(q, mode)
        selected = self._filtered(everything, filters)
        shown = selected[offset: offset + limit]
        return ResultPage(
            hits=self._hits(q, self.encode_query(q.text), shown),
            total=len(selected), offset=offset, limit=limit,
            matches={label: sum(r.match == label for r in selected) for label in LABELS},
            facets=count_facets([self.catalog.docs[r.doc_id] for r in everything], filters),
            identifiers=[IdentifierCount(code, sum(code in r.identifiers for r in selected), self._near_codes(code, everything))
                         for code in q.identifiers],
            unfiltered=len(everything), best=selected[0].match if selected else None,
            answered=_answered(q, selected),
            identifiers_first=mode == "hybrid" and self.identifiers_first(q),
        )

    def _near_codes(self, code: str, ranked: list[Ranked]) -> list[str]:
        """Codes in the index a mistyped `code` may have meant (none when some document contains it)."""
        if any(code in r.identifiers for r in ranked):
            return []
        return difflib.get_close_matches(code.lower(), self.catalog.codes, n=3, cutoff=0.85)

    def similar(self, pasted: str, k: int = 10, filters: Filters | None = None) -> tuple[list[Hit], PasteAnalysis]:
        """Past cases and articles most like a pasted ticket or log, each with why it matched, and the
        analysis of the paste (`kb.paste`).

        The kept lines are embedded in model-sized pieces whose mean is the query vector. BM25 reads
        the paste's error codes and its most specific words (`search.paste_words` of them, by IDF);
        the codes weigh more in the fusion than in a search, because a shared code is strong evidence
        of the same problem. Every candidate of either side is scored by both, as in a search.
        """
        analysis = analyse(pasted, self.catalog.values("product"))
        if analysis.empty:
            return [], analysis
        body = analysis.text or " ".join(analysis.identifiers)
        pieces = split_text(body, self.embedder.count_tokens, self.embedder.passage_tokens - 2)[: self.weights.similar_pieces] or [body]
        vector = unit(self.encode_query.encode_many(pieces).mean(axis=0))
        said = text.content_words(body)
        words = self.lexical.specific_words(said, self.weights.paste_words)
        q = of_words(" ".join(analysis.identifiers), tuple(dict.fromkeys([*analysis.identifiers, *words])), identifiers=analysis.identifiers)
        allowed = self.catalog.filtered(None, filters or Filters())
        depth = max(self.weights.depth, k)
        dense = self.dense.documents(vector, depth, allowed)
        lexical = self.lexical.rank(q, depth * 10, allowed) if q.words else []
        codes = self.lexical.containing(q.identifiers, allowed)
        dense, lexical = self._complete(vector, dense, lexical, depth, _joining(depth, codes))
        boost = self.weights.code_boost if analysis.identifiers else 1.0
        ranked = self._fuse(dense, lexical, "hybrid", lexical_weight=self.weights.lexical * boost, codes=codes)[: self.weights.depth]
        # coverage as for a typed query: of the paste's own words, those no document has counting
        # against (BM25's words above are only ones some document has)
        covered = tuple(dict.fromkeys([*analysis.identifiers, *said]))[: self.weights.paste_words * 3]
        ranked = self._with_strength(ranked, covered, len(q.identifiers))
        shown = q if q.identifiers else of_words(body[:200], tuple(text.content_words(body[:200])))
        hits = self._hits(shown, vector, ranked[:k], passage_query=q)
        for hit in hits:
            hit.why = self._why(hit, analysis, vector)
        return hits, analysis

    def _why(self, hit: Hit, analysis: PasteAnalysis, vector: np.ndarray) -> Why:
        """What a result shares with a paste: codes, product, version, and its symptom nearest the paste."""
        doc = self.catalog.docs[hit.id]
        version = str(doc.meta.get("version") or "")
        candidates = [s for s in (hit.case.symptoms if hit.case else []) if s] or sentences(hit.snippet)[:6]
        nearest = None
        if candidates:
            similarity = self.encode_query.encode_many(candidates) @ vector
            nearest = candidates[int(np.argmax(similarity))]
        return Why(
            codes=list(hit.identifiers),
            event_sources={c: analysis.event_sources[c] for c in hit.identifiers if c in analysis.event_sources},
            product=doc.product if doc.product and text.fold(doc.product) in {text.fold(p) for p in analysis.products} else None,
            version=version if version and version in analysis.versions else None,
            sentence=nearest,
        )

    def _hits(self, q: ParsedQuery, vector: np.ndarray | None, ranked: list[Ranked],
              passage_query: ParsedQuery | None = None) -> list[Hit]:
        """Results for ranked documents: the passage is chosen with `passage_query` (default `q`),
        the snippet and case summary are made for `q`."""
        if not ranked:
            return []
        hits = []
        stems = frozenset(self.lexical.stems(q.words, self.lexical.language_of(q.text)))
        for r, passage in self.with_passages(passage_query or q, vector, ranked):
            doc = self.catalog.docs[r.doc_id]
            resolution = self.reader.first_passage_in_section(doc.id, RESOLUTION_SECTION) if doc.type == "case" else None
            hits.append(make_hit(doc, r, passage, q, resolution, stems))
        return hits

    def related(self, doc_id: str, k: int = 5) -> list[Related]:
        """Nearest documents to `doc_id` by the mean of its passage vectors, with cosine similarity."""
        vector = self.dense.document_vector(doc_id)
        if vector is None:
            return []
        hits = self.dense.documents(vector, self.weights.depth)
        docs = self.catalog.docs
        return [Related(d, docs[d].title, docs[d].type, round(s, 4)) for d, s in hits if d != doc_id][:k]

    # -- documents -------------------------------------------------------------------------

    def document(self, doc_id: str) -> StoredDocument | None:
        """A document's stored fields, or None when it is not in the index."""
        return self.reader.document(doc_id)

    def stats(self) -> IndexStats:
        return IndexStats(documents=len(self.catalog), passages=len(self.vectors), model=self.manifest["model"],
                          built_at=self.manifest["built_at"], build=self.build.name)


def lexical_retriever(reader: IndexReader, catalog: Catalog, weights: SearchSettings) -> LexicalRetriever:
    return LexicalRetriever(reader, catalog, weights.document_fields, weights.passage_fields, weights.query_words,
                            weights.stem_field, weights.languages)


def _answered(q: ParsedQuery, selected: list[Ranked]) -> bool | None:
    """Whether the first result answers the query: a strong match, or it contains every error code of
    the query; None when there is no match strength to tell (no model fitted for the embedding model)."""
    if not selected:
        return False
    first = selected[0]
    if q.identifiers and set(q.identifiers) <= set(first.identifiers):
        return True
    return None if first.match is None else first.match == "strong"


def _joining(depth: int, *found: dict[str, tuple[str, ...]]) -> list[str]:
    """Documents containing the query's phrases or identifiers, which join the candidates; a phrase or
    code in more than ten times `depth` documents says too little to add any."""
    return [d for documents in found if len(documents) <= 10 * depth for d in documents]


def _shares(found: dict[str, tuple[str, ...]], asked: int) -> list[tuple[str, float]]:
    """(document, share of the `asked` items it contains), most first: an evidence list for fusion."""
    return sorted(((d, len(items) / asked) for d, items in found.items()), key=lambda item: -item[1])


def _by_score(ranking: list[tuple[str, float]]) -> list[tuple[str, float]]:
    """Best first; equal scores keep their order."""
    return sorted(ranking, key=lambda item: -item[1])


def open_searcher(settings: Settings | None = None) -> Searcher:
    """A Searcher over the published index that `settings` (default: the current directory's) describe."""
    settings = settings or load_settings()
    embedder = load_embedder(settings)
    return Searcher.open(settings.index, embedder, settings.search, load_match_model(settings, embedder.model_id))


def load_match_model(settings: Settings, model_id: str) -> MatchModel | None:
    """The match-strength model the settings name (default: the shipped one), or None with a warning
    when it was fitted for another embedding model: its cosines mean something else."""
    model = MatchModel.load(settings.match_model or SHIPPED)
    if model.model != model_id:
        log.warning("match strength is off: %s was fitted for the model %s, not %s; fit one with `kb calibrate`",
                    settings.match_model or SHIPPED, model.model, model_id)
        return None
    return model


def timed(fn, *args, **kwargs):
    """(result, milliseconds) of a call; used by the API and the CLI to report latency."""
    start = time.perf_counter()
    result = fn(*args, **kwargs)
    return result, (time.perf_counter() - start) * 1000
