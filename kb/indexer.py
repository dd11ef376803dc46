"""Build or update the index: files -> documents -> passages -> vectors and rows, published atomically.

Only documents whose bytes changed are parsed and chunked again, and only passages whose exact model
input is not in the embedding cache are embedded again. A file that fails to parse is reported and
skipped; if an earlier version of it was indexed, that version stays.

A build that cannot finish (disk full, no permission, a corrupt current build or cache) raises
`BuildFailed`, one line with the cause and the fix, removes its own folder and records the failure
for /healthz (`IndexLayout.last_failure`); the published build is untouched. A new build is checked
(`integrity_problems`, vector count) before it is published.
"""

from __future__ import annotations

import errno
import json
import logging
import shutil
import sqlite3
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path

from tqdm import tqdm

from kb.chunking import CHUNKING_VERSION, Passage, chunk_document
from kb.config import DEFAULT_MODEL, Settings
from kb.documents import Document, DocumentError, discover, load_document, read_source
from kb.embedding import Embedder
from kb.languages import UNDETERMINED, code, detect, is_english, keep_detector_in
from kb.packaged_models import FORMER_DEFAULTS
from kb.layout import (
    DB_FILE, ENGLISH_VECTORS_FILE, MANIFEST_FILE, VECTORS_FILE, BuildFailed, IndexLayout, ModelMismatch, check_model, read_manifest,
)
from kb.store.embeddings import EmbeddingCache
from kb.store.index_db import SCHEMA_VERSION, Store, integrity_problems_of
from kb.validation import check_document, colliding_ids
from kb.vectors import VectorIndex

log = logging.getLogger("kb.indexer")

__all__ = ["BuildFailed", "BuildReport", "build_index"]

HEADROOM_BYTES = 50 * 2**20
"""Free space a build needs beyond twice the current build's size (a copy of its database, the new
vectors, VACUUM's temporary copy). Candidate setting: `KB_BUILD_HEADROOM_MB` (default 50)."""
FULL = "run `kb index --full`"
SPACE = "free space or point KB_INDEX elsewhere"
PREPARE_MODELS_UP_TO = 50
"""A build of at most this many changed documents (an edit) starts loading the float models before it
chunks, since it almost always embeds something; a larger one may find every passage in the embedding
cache, and would then hold the float models for nothing (e5's: 470 MB)."""


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
    """Bring the index in `settings.index` up to date with `settings.articles`.

    Raises BuildFailed for a failure of the disk, the permissions or the files of the index,
    ModelMismatch when the index was built with another model, FileNotFoundError without articles."""
    started = time.perf_counter()
    layout = IndexLayout(settings.index, settings.cache_db)
    keep_detector_in(getattr(embedder, "models_dir", None))
    if not settings.articles.is_dir():
        raise FileNotFoundError(f"articles folder {settings.articles} does not exist")
    try:
        with _failing_as(layout.root), layout.lock():
            layout.remove_partials()  # of builds killed earlier: under the lock no build is writing one
            _require_space(layout)
            report = _build_locked(settings, layout, embedder, full, progress)
            layout.prune()
    except (BuildFailed, ModelMismatch) as exc:
        layout.record_failure(str(exc))
        raise
    except Exception as exc:  # a bug: its traceback is shown, and /healthz still learns the build failed
        layout.record_failure(f"{exc.__class__.__name__}: {exc}")
        raise
    layout.clear_failure()
    report.seconds = time.perf_counter() - started
    return report


def _require_space(layout: IndexLayout) -> None:
    """Fail before writing anything when the index's disk cannot hold another build."""
    usage = shutil.disk_usage(layout.root)
    needed = 2 * layout.size_of_current() + HEADROOM_BYTES
    if usage.free < needed:
        raise BuildFailed(f"no space left on device for a build in {layout.builds} "
                          f"({usage.free / 2**20:,.0f} MB free, about {needed / 2**20:,.0f} MB needed)", SPACE)


def _build_locked(settings: Settings, layout: IndexLayout, embedder: Embedder, full: bool,
                  progress: bool) -> BuildReport:
    report = BuildReport()
    previous = None if full else layout.current()
    if previous is not None:
        with _failing_as(previous / MANIFEST_FILE, corrupt=previous), _reading(previous):
            manifest = read_manifest(previous)
        if _default_changed(manifest, settings, embedder):
            log.warning("the index was built with %s, the former default model; the default is now %s: "
                        "rebuilding (vectors come from the embedding cache where it has them)", manifest.get("model"), embedder.model_id)
            previous = None
        else:
            check_model(manifest, embedder.model_id)
    if previous is not None:
        if (manifest.get("format"), manifest.get("chunking"), manifest.get("english_model")) != (
                SCHEMA_VERSION, CHUNKING_VERSION, _english_id(embedder)):
            previous = None  # older layout, chunking or English model: rebuild (embeddings still come from the cache)
    with _failing_as(layout.builds):
        partial = layout.new_build()
    try:
        report.build = _build_into(partial, previous, settings, layout, embedder, progress, report)
    finally:
        if report.build != partial.with_suffix(""):  # failed, or nothing changed: the folder goes
            shutil.rmtree(partial, ignore_errors=True)
    return report


def with_language(doc: Document, team: tuple[str, ...]) -> Document:
    """The document with its language: the front matter's, else detected among the team's languages
    (the stem column and the page's language filter need one)."""
    if code(doc.language) != UNDETERMINED:
        return doc
    return replace(doc, language=detect(f"{doc.title}\n{doc.body}", team))


def _default_changed(manifest: dict, settings: Settings, embedder: Embedder) -> bool:
    """True when the index has a former default model's vectors and the default is configured: an
    upgrade, which rebuilds by itself. Any other model change still needs `kb index --full`."""
    return (settings.model == DEFAULT_MODEL and manifest.get("model") != embedder.model_id
            and manifest.get("model") in FORMER_DEFAULTS)


def _english_id(embedder: Embedder) -> str | None:
    return embedder.english.model_id if embedder.english is not None else None


def _build_into(partial: Path, previous: Path | None, settings: Settings, layout: IndexLayout, embedder: Embedder,
                progress: bool, report: BuildReport) -> Path:
    """Write the new build into `partial` and publish it; returns the build to serve (`previous` when
    nothing changed)."""
    db = partial / DB_FILE
    with _failing_as(db, corrupt=previous):
        if previous is not None:
            shutil.copy2(previous / DB_FILE, db)
        store = Store(db)
    try:
        with _failing_as(db, corrupt=previous):
            if previous is not None:  # its pages now; its full-text indexes are checked in the new build
                _require_sound(store, f"current build {previous}", FULL, fts=False)
            changed = _collect_changes(settings, store, report)
        if not report.changed and previous is not None:
            report.passages = store.count_passages()
            return previous
        with _failing_as(partial, corrupt=previous), _reading(previous):
            vectors = _load_or_empty(previous, VECTORS_FILE, embedder)
            english = _load_or_empty(previous, ENGLISH_VECTORS_FILE, embedder.english) if embedder.english else None
        if previous is not None:
            _require_matching(store, vectors, f"current build {previous}")
        made = "the new build" + (f" (made from current build {previous})" if previous is not None else "")
        with _failing_as(db, corrupt=previous):  # a damaged FTS index of the copy fails here
            _apply_changes(store, vectors, english, changed, report, layout, embedder, settings.vectors.group_passages, progress)
            vectors = vectors.resized(settings.vectors.flat_limit)  # exact search up to the limit, IVF-SQ8 above
            report.passages = len(vectors)
            manifest = _manifest(settings, embedder, store, vectors, english)
            store.set_manifest(manifest)
            store.commit()
            store.compact(merge=previous is None)
            _require_matching(store, vectors, made)
            if english is not None:
                _require_english_matching(store, english, made)
        # SQLite's and FTS5's checks of the new build (0.7 s at 5,000 articles) run while the vectors
        # are written; leaving the block waits for them, also when writing fails
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="kb-check") as checks:
            checking = checks.submit(integrity_problems_of, db)
            if english is not None:
                _save_vectors(english.resized(settings.vectors.flat_limit), partial / ENGLISH_VECTORS_FILE)
            _save_vectors(vectors, partial / VECTORS_FILE)
        with _failing_as(db, corrupt=previous):
            _require_no_problems(checking.result(), made, FULL if previous is not None else "check the disk and " + FULL)
        with _failing_as(partial / MANIFEST_FILE):
            (partial / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2, ensure_ascii=False), encoding="utf-8")
    finally:
        store.close()
    with _failing_as(layout.root):
        return layout.publish(partial)


def _load_or_empty(previous: Path | None, name: str, embedder: Embedder) -> VectorIndex:
    return VectorIndex.load(previous / name) if previous is not None else VectorIndex.empty(embedder.dimension)


def _manifest(settings: Settings, embedder: Embedder, store: Store, vectors: VectorIndex,
              english: VectorIndex | None) -> dict:
    return {
        "format": SCHEMA_VERSION,
        "chunking": CHUNKING_VERSION,
        "model": embedder.model_id,
        "dimension": embedder.dimension,
        "english_model": _english_id(embedder),
        "english_passages": len(english) if english is not None else 0,
        "documents": store.count_documents(),
        "passages": len(vectors),
        "vectors": vectors.kind,
        "built_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "articles": str(settings.articles),
    }


def _require_sound(store: Store, what: str, fix: str, fts: bool = True) -> None:
    """A database that fails SQLite's or FTS5's checks is never built upon nor published."""
    _require_no_problems(store.problems(fts), what, fix)


def _require_no_problems(problems: list[str], what: str, fix: str) -> None:
    if problems:
        raise BuildFailed(f"{what} is corrupt ({'; '.join(problems)})", fix)


def _require_matching(store: Store, vectors: VectorIndex, what: str) -> None:
    """Every passage row has its vector: search maps FAISS ids to rows one to one."""
    rows = store.count_passages()
    if rows != len(vectors):
        raise BuildFailed(f"{what} is corrupt ({rows} passages, {len(vectors)} vectors)", FULL)


def _require_english_matching(store: Store, english: VectorIndex, what: str) -> None:
    """Every passage of an English document has its English-model vector, and no other passage has one."""
    rows = sum(n for language, n in store.passages_per_language().items() if is_english(language))
    if rows != len(english):
        raise BuildFailed(f"{what} is corrupt ({rows} passages of English documents, {len(english)} English vectors)", FULL)


def _save_vectors(vectors: VectorIndex, path: Path) -> None:
    """Write the vectors and check the file holds every byte written: a build with a short vectors
    file is never published."""
    with _failing_as(path), _faiss_errors(path):
        written = vectors.save(path)
        size = path.stat().st_size
    if size != written:
        raise BuildFailed(f"{path} holds {size:,} bytes after {written:,} were written", "check the disk and run `kb index` again")


@contextmanager
def _faiss_errors(path: Path) -> Iterator[None]:
    """FAISS says 'No space left on device' inside a RuntimeError."""
    try:
        yield
    except RuntimeError as exc:
        if "No space left" in str(exc) or shutil.disk_usage(path.parent).free < HEADROOM_BYTES:
            raise BuildFailed(f"no space left on device writing {path}", SPACE) from exc
        raise BuildFailed(f"cannot write {path} ({exc})", "check the disk and run `kb index` again") from exc


_SPACE_ERRORS = {errno.ENOSPC, errno.EDQUOT}
_PERMISSION_ERRORS = {errno.EACCES, errno.EPERM, errno.EROFS}


@contextmanager
def _failing_as(target: Path, corrupt: Path | None = None, corrupt_fix: str = FULL,
                setting: str = "KB_INDEX") -> Iterator[None]:
    """Turn the disk's and SQLite's errors inside into BuildFailed: those of the disk name `target`
    (its folder is set by `setting`); any other means `target` is damaged, or, when the published
    build `corrupt` is being read or was copied into `target`, that build is."""
    try:
        yield
    except (OSError, sqlite3.Error) as exc:
        failure = _disk_failure(exc, target, setting)
        if failure is None and corrupt is not None and _damage_in(exc, corrupt):
            failure = _corrupt(corrupt, exc)
        raise failure or _other_failure(exc, target, corrupt_fix) from exc


def _damage_in(exc: OSError | sqlite3.Error, build: Path) -> bool:
    """Whether an error says a database is damaged, or a file of `build` is missing or unreadable."""
    if isinstance(exc, OSError):
        return bool(exc.filename) and Path(exc.filename).is_relative_to(build)
    return isinstance(exc, sqlite3.DatabaseError) and not isinstance(exc, sqlite3.OperationalError)


@contextmanager
def _reading(build: Path | None) -> Iterator[None]:
    """FAISS and JSON errors reading the published build: its files are damaged."""
    try:
        yield
    except ModelMismatch:
        raise
    except (RuntimeError, ValueError, KeyError) as exc:
        if build is None:
            raise
        raise _corrupt(build, exc) from exc


def _cache_errors(layout: IndexLayout):
    """Errors of the embedding cache name it; a damaged cache can simply be deleted."""
    return _failing_as(layout.cache_db, corrupt_fix=f"delete {layout.cache_db} (its vectors are computed again)",
                       setting="KB_EMBEDDING_CACHE")


def _corrupt(build: Path, exc: BaseException) -> BuildFailed:
    return BuildFailed(f"current build {build} is corrupt ({exc.__class__.__name__}: {exc})", FULL)


def _disk_failure(exc: OSError | sqlite3.Error, target: Path, setting: str = "KB_INDEX") -> BuildFailed | None:
    """A full disk, a missing permission or a database that cannot be opened, else None."""
    where = exc.filename if isinstance(exc, OSError) and exc.filename else target
    code = exc.errno if isinstance(exc, OSError) else None
    text = str(exc)
    if code in _SPACE_ERRORS or "disk is full" in text:
        return BuildFailed(f"no space left on device writing {where}", f"free space or point {setting} elsewhere")
    if code in _PERMISSION_ERRORS or "readonly database" in text:
        return BuildFailed(f"permission denied writing {where}",
                           f"make it writable for this user or point {setting} elsewhere")
    if "unable to open database" in text:
        return BuildFailed(f"unable to open database {where}",
                           f"check that its folder exists and is writable, or point {setting} elsewhere")
    return None


def _other_failure(exc: OSError | sqlite3.Error, target: Path, corrupt_fix: str) -> BuildFailed:
    if isinstance(exc, sqlite3.DatabaseError) and not isinstance(exc, sqlite3.OperationalError):
        return BuildFailed(f"{target} is corrupt ({exc})", corrupt_fix)
    where = exc.filename if isinstance(exc, OSError) and exc.filename else target
    reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
    return BuildFailed(f"{reason}: {where}", "fix that and run `kb index` again")


def _collect_changes(settings: Settings, store: Store, report: BuildReport) -> dict[str, Document | None]:
    """Parse new and changed files; map doc id -> new Document, or None for a deleted one."""
    files, errors = discover(settings.articles)
    report.errors.extend(errors)
    colliding = colliding_ids(files)  # exactly what `kb check` reports: both files are skipped
    report.errors.extend(colliding.values())
    known = store.document_hashes()
    changed: dict[str, Document | None] = {}
    for doc_id, path in files.items():
        if doc_id in colliding:
            continue  # like any file in error: an earlier indexed version of it stays
        try:
            _, digest = read_source(path, doc_id, settings.max_file_bytes)
            if known.get(doc_id) == digest:
                report.unchanged += 1
                continue
            doc = with_language(load_document(path, doc_id, settings.max_file_bytes), settings.search.languages)
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


def _apply_changes(store: Store, vectors: VectorIndex, english: VectorIndex | None, changed: dict[str, Document | None],
                   report: BuildReport, layout: IndexLayout, embedder: Embedder, group_passages: int, progress: bool) -> None:
    """Replace the rows and vectors of every changed document, a group of documents at a time, so a
    large first build never holds every passage and vector in memory at once. `english`: the English
    model's vectors of the passages of English documents."""
    for doc_id in changed:
        removed = store.delete_document(doc_id)
        vectors.remove(removed)
        if english is not None:
            english.remove(removed)  # ids it never had are ignored
    docs = [d for d in changed.values() if d is not None]
    if 0 < len(docs) <= PREPARE_MODELS_UP_TO:  # the float models load while the documents are chunked
        embedder.prepare_documents()
        if english is not None and any(is_english(d.language) for d in docs):
            embedder.english.prepare_documents()
    next_id = store.next_passage_id()
    with _cache_errors(layout):
        cache = EmbeddingCache(layout.cache_db, embedder.model_id)
        english_cache = EmbeddingCache(layout.cache_db, embedder.english.model_id) if english is not None else None
    try:
        with tqdm(total=len(docs), desc="indexing", unit="doc", disable=not progress) as bar:

            def embedded(count: int) -> None:  # called per model batch: the running total, shown as it grows
                report.embedded += count
                bar.set_postfix(embedded=report.embedded)

            for group in _groups(docs, embedder, group_passages):
                inputs = [p.embedding_input(d.title) for d, ps in group for p in ps]
                with _cache_errors(layout):
                    matrix, _ = cache.embed(inputs, embedder.encode, on_batch=embedded)
                row, in_english = 0, []
                for doc, doc_passages in group:
                    ids = list(range(next_id, next_id + len(doc_passages)))
                    store.add_document(doc, doc_passages, ids)
                    vectors.add(ids, matrix[row : row + len(ids)])
                    if is_english(doc.language):
                        in_english.extend(zip(ids, inputs[row : row + len(ids)]))
                    next_id += len(ids)
                    row += len(ids)
                if english_cache is not None and in_english:
                    with _cache_errors(layout):
                        english_matrix, _ = english_cache.embed([t for _, t in in_english], embedder.english.encode)
                    english.add([i for i, _ in in_english], english_matrix)
                bar.update(len(group))
    finally:
        cache.close()
        if english_cache is not None:
            english_cache.close()


def _groups(docs: list[Document], embedder: Embedder, group_passages: int) -> Iterator[list[tuple[Document, list[Passage]]]]:
    """Documents with their passages, in groups of about `group_passages` passages."""
    group: list[tuple[Document, list[Passage]]] = []
    size = 0
    for doc in docs:
        passages = chunk_document(doc, embedder.count_tokens, embedder.passage_tokens)
        group.append((doc, passages))
        size += len(passages)
        if size >= group_passages:
            yield group
            group, size = [], 0
    if group:
        yield group
