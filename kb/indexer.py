"""Build or update the index: files -> documents -> passages -> vectors and rows, published atomically.

Only documents whose bytes changed are parsed and chunked again, and only passages whose exact model
input is not in the embedding cache are embedded again. A file that fails to parse is reported and
skipped; if an earlier version of it was indexed, that version stays.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from tqdm import tqdm

from kb.chunking import CHUNKING_VERSION, Passage, chunk_document
from kb.config import Settings
from kb.documents import Document, DocumentError, discover, load_document, read_source
from kb.embedding import Embedder
from kb.layout import DB_FILE, MANIFEST_FILE, VECTORS_FILE, IndexLayout, check_model, read_manifest
from kb.store.embeddings import EmbeddingCache
from kb.store.index_db import SCHEMA_VERSION, Store
from kb.validation import check_document
from kb.vectors import VectorIndex


@dataclass
class BuildReport:
    """What a build did, for the CLI and the tests."""

    build: Path | None = None
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    unchanged: int = 0
    errors: list[DocumentError] = field(default_factory=list)
    passages: int = 0
    embedded: int = 0
    seconds: float = 0.0

    @property
    def changed(self) -> bool:
        return bool(self.added or self.updated or self.deleted)


def build_index(settings: Settings, embedder: Embedder, full: bool = False, progress: bool = True) -> BuildReport:
    """Bring the index in `settings.index` up to date with `settings.articles`."""
    started = time.perf_counter()
    layout = IndexLayout(settings.index, settings.cache_db)
    if not settings.articles.is_dir():
        raise FileNotFoundError(f"articles folder {settings.articles} does not exist")
    with layout.lock():
        report = _build_locked(settings, layout, embedder, full, progress)
        layout.prune()
    report.seconds = time.perf_counter() - started
    return report


def _build_locked(settings: Settings, layout: IndexLayout, embedder: Embedder, full: bool,
                  progress: bool) -> BuildReport:
    report = BuildReport()
    previous = None if full else layout.current()
    if previous is not None:
        manifest = read_manifest(previous)
        check_model(manifest, embedder.model_id)
        if (manifest.get("format"), manifest.get("chunking")) != (SCHEMA_VERSION, CHUNKING_VERSION):
            previous = None  # older layout or chunking: rebuild (embeddings still come from the cache)
    partial = layout.new_build()
    if previous is not None:
        shutil.copy2(previous / DB_FILE, partial / DB_FILE)
    store = Store(partial / DB_FILE)
    try:
        changed = _collect_changes(settings, store, report)
        if not report.changed and previous is not None:
            shutil.rmtree(partial, ignore_errors=True)
            report.build = previous
            report.passages = store.count_passages()
            return report
        vectors = VectorIndex.load(previous / VECTORS_FILE) if previous is not None else VectorIndex.empty(embedder.dimension)
        _apply_changes(store, vectors, changed, report, layout, embedder, settings.vectors.group_passages, progress)
        vectors = vectors.resized(settings.vectors.flat_limit)  # exact search up to the limit, IVF-SQ8 above
        report.passages = len(vectors)
        manifest = {
            "format": SCHEMA_VERSION,
            "chunking": CHUNKING_VERSION,
            "model": embedder.model_id,
            "dimension": embedder.dimension,
            "documents": store.count_documents(),
            "passages": len(vectors),
            "vectors": vectors.kind,
            "built_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "articles": str(settings.articles),
        }
        store.set_manifest(manifest)
        store.commit()
        vectors.save(partial / VECTORS_FILE)
        (partial / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2, ensure_ascii=False), encoding="utf-8")
    finally:
        store.close()
    report.build = layout.publish(partial)
    return report


def _collect_changes(settings: Settings, store: Store, report: BuildReport) -> dict[str, Document | None]:
    """Parse new and changed files; map doc id -> new Document, or None for a deleted one."""
    files, errors = discover(settings.articles)
    report.errors.extend(errors)
    known = store.document_hashes()
    changed: dict[str, Document | None] = {}
    for doc_id, path in files.items():
        try:
            _, digest = read_source(path, doc_id, settings.max_file_bytes)
            if known.get(doc_id) == digest:
                report.unchanged += 1
                continue
            doc = load_document(path, doc_id, settings.max_file_bytes)
            fatal = [p for p in check_document(doc) if p.severity == "error"]
            if fatal:
                raise DocumentError(doc_id, fatal[0].line, fatal[0].message)
            changed[doc_id] = doc
            (report.updated if doc_id in known else report.added).append(doc_id)
        except DocumentError as exc:
            report.errors.append(exc)
        except OSError as exc:
            report.errors.append(DocumentError(doc_id, 1, f"cannot read: {exc.strerror or exc}"))
    for doc_id in known.keys() - files.keys():
        changed[doc_id] = None
        report.deleted.append(doc_id)
    return changed


def _apply_changes(store: Store, vectors: VectorIndex, changed: dict[str, Document | None], report: BuildReport,
                   layout: IndexLayout, embedder: Embedder, group_passages: int, progress: bool) -> None:
    """Replace the rows and vectors of every changed document, a group of documents at a time, so a
    large first build never holds every passage and vector in memory at once."""
    for doc_id in changed:
        vectors.remove(store.delete_document(doc_id))
    docs = [d for d in changed.values() if d is not None]
    next_id = store.next_passage_id()
    cache = EmbeddingCache(layout.cache_db, embedder.model_id)
    try:
        with tqdm(total=len(docs), desc="indexing", unit="doc", disable=not progress) as bar:

            def embedded(count: int) -> None:  # called per model batch: the running total, shown as it grows
                report.embedded += count
                bar.set_postfix(embedded=report.embedded)

            for group in _groups(docs, embedder, group_passages):
                inputs = [p.embedding_input(d.title) for d, ps in group for p in ps]
                matrix, _ = cache.embed(inputs, embedder.encode, on_batch=embedded)
                row = 0
                for doc, doc_passages in group:
                    ids = list(range(next_id, next_id + len(doc_passages)))
                    store.add_document(doc, doc_passages, ids)
                    vectors.add(ids, matrix[row : row + len(ids)])
                    next_id += len(ids)
                    row += len(ids)
                bar.update(len(group))
    finally:
        cache.close()


def _groups(docs: list[Document], embedder: Embedder, group_passages: int) -> Iterator[list[tuple[Document, list[Passage]]]]:
    """Documents with their passages, in groups of about `group_passages` passages."""
    group: list[tuple[Document, list[Passage]]] = []
    size = 0
    for doc in docs:
        passages = chunk_document(doc, embedder.count_tokens, embedder.max_tokens)
        group.append((doc, passages))
        size += len(passages)
        if size >= group_passages:
            yield group
            group, size = [], 0
    if group:
        yield group
