"""Build safety without a model (issue 16): failed builds clean up after themselves and say why in one
line, corrupt builds are never published nor served, files whose ids collide or cannot be served are
refused by `kb check` and `kb index` alike, pathological Markdown is refused, and the embedder's
batches are bounded by tokens."""

from __future__ import annotations

import errno
import hashlib
import logging
import os
import shutil
import sqlite3
import time
import unicodedata
from pathlib import Path

import numpy as np
import pytest

from kb.config import Settings
from kb.documents import DocumentError, parse_document
from kb.embedding import BATCH_LENGTH, Embedder
from kb.indexer import BuildFailed, build_index
from kb.layout import DB_FILE, IndexLayout
from kb.live import LiveIndex
from kb.search import Searcher
from kb.store.embeddings import EmbeddingCache
from kb.store.index_db import Store, check_database
from kb.validation import check_tree
from kb.vectors import VectorIndex

FIXTURE_CORPUS = Path(__file__).resolve().parents[1] / "fixtures" / "corpus"


class FakeEmbedder:
    """What the indexer and the searcher use of an Embedder: words as tokens, hashed words as vectors."""

    model_id = "fake-hashing-model"
    english = None  # no second model for English text
    dimension = 32
    max_tokens = 64
    passage_tokens = 64

    def count_tokens(self, text: str) -> int:
        return len(text.split())

    def encode(self, texts: list[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in text.lower().split():
                out[row, hashlib.blake2b(word.encode(), digest_size=2).digest()[0] % self.dimension] += 1
        return out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)

    encode_queries = encode

    def warm_queries(self) -> None:
        """Nothing to load."""

    def prepare_documents(self) -> None:
        """Nothing to load."""


@pytest.fixture()
def fake() -> FakeEmbedder:
    return FakeEmbedder()


@pytest.fixture()
def settings(tmp_path: Path) -> Settings:
    shutil.copytree(FIXTURE_CORPUS, tmp_path / "articles")
    return Settings(articles=tmp_path / "articles", index=tmp_path / "index")


def build(settings: Settings, embedder, **kwargs):
    return build_index(settings, embedder, progress=False, **kwargs)


def partials(settings: Settings) -> list[Path]:
    return sorted((settings.index / "builds").glob("*.partial"))


def touch_article(settings: Settings, name: str = "new.md", text: str = "A new article about the print spooler.") -> None:
    (settings.articles / "articles" / name).write_text(f"---\ntitle: {name}\nlanguage: en\n---\n{text}\n", encoding="utf-8")


def corrupt_fts(db: Path, table: str = "documents_fts_data") -> list[int]:
    """Overwrite the leaf pages of an FTS5 table, as the issue's repro does (pages found with dbstat)."""
    conn = sqlite3.connect(db)
    page_size = conn.execute("PRAGMA page_size").fetchone()[0]
    pages = [r[0] for r in conn.execute("SELECT pageno FROM dbstat WHERE name = ? AND pagetype = 'leaf'", (table,))]
    conn.close()
    with db.open("r+b") as fh:
        for page in pages:
            fh.seek((page - 1) * page_size)
            fh.write(b"\xa5" * page_size)
    return pages


# --- defect 2: failed builds ------------------------------------------------------------------------


def _fail_saving_vectors(monkeypatch):
    def full(self, path):
        Path(path).write_bytes(b"half")
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(VectorIndex, "save", full)


def test_a_failed_build_removes_its_folder_says_why_in_one_line_and_records_it(settings, fake, monkeypatch):
    good = build(settings, fake).build
    layout = IndexLayout(settings.index)
    stale = settings.index / "builds" / "20200101T000000_000000000-1.partial"  # left by a killed build
    stale.mkdir()
    (stale / DB_FILE).write_bytes(b"x" * 1000)
    touch_article(settings)
    _fail_saving_vectors(monkeypatch)
    for _ in range(3):  # every retry on a full disk: no folder is left behind
        with pytest.raises(BuildFailed) as failed:
            build(settings, fake)
        assert partials(settings) == []
    message = str(failed.value)
    assert "\n" not in message
    assert message.startswith("no space left on device writing ") and "vectors.faiss" in message
    assert message.endswith(": free space or point KB_INDEX elsewhere")
    assert layout.current() == good and sorted(p.name for p in (settings.index / "builds").iterdir()) == [good.name]
    assert message in layout.last_failure()
    monkeypatch.undo()
    assert build(settings, fake).added == ["articles/new.md"]
    assert layout.last_failure() is None


def test_a_vectors_file_that_is_not_whole_is_never_published(settings, fake, monkeypatch):
    good = build(settings, fake).build
    def short(self, path: Path) -> int:  # a disk that lost the end of what it accepted
        Path(path).write_bytes(b"half")
        return 1000

    monkeypatch.setattr(VectorIndex, "save", short)
    touch_article(settings)
    with pytest.raises(BuildFailed, match=r"^.*vectors\.faiss holds 4 bytes after 1,000 were written: check the disk"):
        build(settings, fake)
    assert IndexLayout(settings.index).current() == good and partials(settings) == []


def test_a_build_without_room_fails_before_writing_anything(settings, fake, monkeypatch):
    good = build(settings, fake).build
    touch_article(settings)
    usage = shutil.disk_usage(settings.index)
    monkeypatch.setattr(shutil, "disk_usage", lambda path: usage._replace(free=10 * 2**20))
    with pytest.raises(BuildFailed, match=r"^no space left on device for a build in .*builds \(10 MB free, about \d+ MB "
                                          r"needed\): free space or point KB_INDEX elsewhere$"):
        build(settings, fake)
    assert [p.name for p in (settings.index / "builds").iterdir()] == [good.name]
    assert IndexLayout(settings.index).last_failure() is not None


@pytest.mark.parametrize(("target", "error", "expected"), [
    ("new_build", PermissionError(errno.EACCES, "Permission denied", "/idx/builds/x.partial"),
     "permission denied writing /idx/builds/x.partial: make it writable for this user or point KB_INDEX elsewhere"),
    ("cache", sqlite3.OperationalError("unable to open database file"),
     "unable to open database {cache}: check that its folder exists and is writable, or point KB_EMBEDDING_CACHE elsewhere"),
    ("cache", sqlite3.OperationalError("database or disk is full"),
     "no space left on device writing {cache}: free space or point KB_EMBEDDING_CACHE elsewhere"),
    ("cache", sqlite3.DatabaseError("database disk image is malformed"),
     "{cache} is corrupt (database disk image is malformed): delete {cache} (its vectors are computed again)"),
])
def test_build_failures_are_one_line_with_the_fix(settings, fake, monkeypatch, target, error, expected):
    def fail(*args, **kwargs):
        raise error

    monkeypatch.setattr(IndexLayout if target == "new_build" else EmbeddingCache,
                        "new_build" if target == "new_build" else "__init__", fail)
    with pytest.raises(BuildFailed) as failed:
        build(settings, fake)
    assert str(failed.value) == expected.format(cache=settings.index / "embeddings.sqlite")
    assert partials(settings) == []


def tamper_fts_content(db: Path) -> None:
    """Change a row under a full-text index: every page stays valid (quick_check passes), FTS5's check fails."""
    conn = sqlite3.connect(db)
    conn.execute("UPDATE documents_fts_content SET c2 = 'tampered' WHERE rowid = 1")
    conn.commit()
    conn.close()


@pytest.mark.parametrize(("damage", "expected"), [
    (corrupt_fts, r"^current build .* is corrupt \(quick_check: .*\): run `kb index --full`$"),
    (tamper_fts_content, r"^the new build \(made from current build .*\) is corrupt \(documents_fts: .*\): run `kb index --full`$"),
])
def test_a_corrupt_current_build_says_to_run_full(settings, fake, damage, expected):
    first = build(settings, fake).build
    damage(first / DB_FILE)
    touch_article(settings)
    with pytest.raises(BuildFailed, match=expected):
        build(settings, fake)
    assert partials(settings) == [] and IndexLayout(settings.index).current() == first
    report = build(settings, fake, full=True)
    assert report.build != first and not check_database(report.build / DB_FILE)


# --- defect 4: corrupt builds are neither published nor served --------------------------------------


def test_a_corrupt_newest_build_is_skipped_for_the_previous_one(settings, fake, caplog):
    older = build(settings, fake).build
    touch_article(settings, text="Quota exceeded on the mailbox database.")
    newest = build(settings, fake).build
    assert corrupt_fts(newest / DB_FILE)
    assert check_database(newest / DB_FILE)
    with caplog.at_level(logging.WARNING):
        searcher = Searcher.open(settings.index, fake)
    assert searcher.build == older
    assert any(newest.name in r.getMessage() and r.levelno >= logging.WARNING for r in caplog.records)
    assert searcher.search("print spooler", k=3)
    live = LiveIndex(IndexLayout(settings.index), fake, interval=0)
    assert live.get().build == older and live.get().search("print spooler", k=3)


def test_a_build_that_fails_its_checks_is_never_published(settings, fake, monkeypatch):
    good = build(settings, fake).build
    compact = Store.compact

    def compact_then_damage(store: Store, **kwargs) -> None:
        compact(store, **kwargs)
        store.conn.execute("UPDATE documents_fts_content SET c2 = 'tampered' WHERE rowid = 1")
        store.conn.commit()

    monkeypatch.setattr(Store, "compact", compact_then_damage)
    touch_article(settings)
    with pytest.raises(BuildFailed, match=r"^the new build \(made from current build .*\) is corrupt \(documents_fts: .*\): "
                                          r"run `kb index --full`$"):
        build(settings, fake)
    assert IndexLayout(settings.index).current() == good and partials(settings) == []


def test_a_database_this_process_cannot_write_is_checked_in_memory(settings, fake, monkeypatch):
    db = build(settings, fake).build / DB_FILE
    monkeypatch.setattr(os, "access", lambda path, mode: False)  # as a server user without write permission
    assert check_database(db) == []
    corrupt_fts(db)
    assert any(p.startswith("documents_fts") for p in check_database(db))
    assert not list(db.parent.glob("*-journal"))


def test_integrity_check_time_is_small(settings, fake):
    report = build(settings, fake)
    started = time.perf_counter()
    assert check_database(report.build / DB_FILE) == []
    assert time.perf_counter() - started < 0.5


# --- defect 12: compact builds ----------------------------------------------------------------------


def test_builds_are_compacted(settings, fake):
    touch_article(settings, "long.md", "backup volume snapshot " * 3_000)
    build(settings, fake)
    (settings.articles / "articles" / "long.md").unlink()
    report = build(settings, fake)  # starts from a copy of the previous database
    assert report.deleted == ["articles/long.md"]
    conn = sqlite3.connect(report.build / DB_FILE)
    assert conn.execute("PRAGMA freelist_count").fetchone()[0] == 0
    conn.close()


# --- defects 9 and 10: ids that collide or cannot be served -----------------------------------------


def _write(root: Path, name: str | bytes, title: str) -> None:
    path = os.path.join(os.fsencode(root), name if isinstance(name, bytes) else os.fsencode(name))
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(f"---\ntitle: {title}\nlanguage: en\n---\nSome text about {title}.\n")


def test_index_refuses_colliding_ids_exactly_as_check_reports_them(settings, fake):
    folder = settings.articles / "articles"
    _write(folder, "Dup.md", "Upper")
    _write(folder, "dup.md", "Lower")
    _write(folder, unicodedata.normalize("NFC", "café.md"), "Composed")
    _write(folder, unicodedata.normalize("NFD", "café.md"), "Decomposed")
    expected = {"articles/Dup.md", "articles/dup.md", "articles/" + unicodedata.normalize("NFC", "café.md"),
                "articles/" + unicodedata.normalize("NFD", "café.md")}
    checked = [p for p in check_tree(settings.articles, settings.max_file_bytes) if "duplicate id" in p.message]
    report = build(settings, fake)
    assert {p.path for p in checked} == {e.path for e in report.errors} == expected
    assert sorted(f"{p.path}:{p.line}: {p.message}" for p in checked) == sorted(str(e) for e in report.errors)
    indexed = set(Searcher.open(settings.index, fake).catalog.docs)
    assert not indexed & expected and "articles/printer-spooler.md" in indexed


@pytest.mark.parametrize(("name", "reason"), [
    ("back\\slash.md", "contains a backslash"),
    ("new\nline.md", "contains a control character (U+000A)"),
    ("tab\there.md", "contains a control character (U+0009)"),
    (b"latin1-caf\xe9.md", "is not valid UTF-8"),
])
def test_ids_that_cannot_be_served_are_refused_by_check_and_index(settings, fake, name, reason):
    _write(settings.articles / "articles", name, "Unservable")
    _write(settings.articles / "articles", "größe-ändern.md", "Größe ändern")  # non-ASCII is fine
    checked = [p for p in check_tree(settings.articles, settings.max_file_bytes) if p.severity == "error"]
    report = build(settings, fake)
    assert len(checked) == len(report.errors) == 1
    assert f"file name {reason}" in checked[0].message and "rename the file" in checked[0].message
    assert f"{checked[0].path}:1: {checked[0].message}" == str(report.errors[0])
    assert "\n" not in str(checked[0]) and "\t" not in str(checked[0])
    assert "articles/größe-ändern.md" in report.added and len(report.added) == 7


# --- defect 8: pathological Markdown ----------------------------------------------------------------


def test_pathological_brackets_are_refused_quickly():
    started = time.perf_counter()
    with pytest.raises(DocumentError, match=r"40,000 unclosed '\['.*close them, escape them") as refused:
        parse_document("---\ntitle: t\n---\nIntro.\n\n" + "![" * 40_000 + "\n", "articles/brackets.md")
    assert time.perf_counter() - started < 0.5  # parsing it took 1.8 s
    assert refused.value.line == 6


def test_ordinary_brackets_are_not_refused():
    links = "\n\n".join(f"See [article {i}](a{i}.md) and [KB{i}]." for i in range(1_500))
    fenced = "```\n" + "[" * 5_000 + "\n```\n"
    escaped = "\\[" * 5_000
    for body in (links, fenced, escaped, "- [ ] task\n" * 1_200):
        assert parse_document(f"# Title\n\n{body}\n", "articles/ok.md").title == "Title"


# --- defect 12: embedding batches bounded by tokens -------------------------------------------------


class _RecordingModel:
    dimension = 8
    max_tokens = 256
    meta = {"prompts": {}}

    def __init__(self):
        self.batches: list[list[int]] = []

    def count_tokens(self, text: str) -> int:
        return len(text.split())

    def __call__(self, texts: list[str]) -> np.ndarray:
        self.batches.append([min(len(t.split()) + 2, 258) for t in texts])
        return np.ones((len(texts), self.dimension), dtype=np.float32)


def test_long_passages_are_embedded_in_smaller_batches():
    embedder = Embedder()
    model = embedder.__dict__["_onnx"] = _RecordingModel()  # the loaded-once attribute, without loading a model
    texts = ["word " * 300] * 100 + ["word " * 126] * 100 + ["short text"] * 100
    vectors = embedder.encode(texts)
    assert vectors.shape == (300, 8) and np.allclose(np.linalg.norm(vectors, axis=1), 1)
    assert sum(len(b) for b in model.batches) == 300
    for batch in model.batches:
        assert len(batch) <= 64 and len(batch) * max(batch) ** 2 <= 64 * BATCH_LENGTH**2
    assert max(len(b) for b in model.batches if max(b) == 258) == 64 * BATCH_LENGTH**2 // 258**2 < 16
    assert max(len(b) for b in model.batches) == 64


# --- the default model changed (issue 13): an index of the former default rebuilds by itself ---------


def test_an_index_of_the_former_default_model_is_rebuilt_and_any_other_change_refused(settings: Settings, caplog):
    from kb.layout import ModelMismatch
    from kb.packaged_models import E5_IDENTITY

    former, current, other = FakeEmbedder(), FakeEmbedder(), FakeEmbedder()
    former.model_id, current.model_id, other.model_id = "sentence-transformers/all-MiniLM-L6-v2", E5_IDENTITY, "someone/else"
    build(settings, former)
    with caplog.at_level(logging.WARNING, logger="kb.indexer"):
        report = build(settings, current)  # the default model of this version: no --full needed
    assert "former default model" in caplog.text and report.embedded > 0
    assert IndexLayout(settings.index).current() and Searcher.open(settings.index, current).manifest["model"] == E5_IDENTITY
    with pytest.raises(ModelMismatch):
        build(settings, other)  # not the default: vectors of two models are never mixed
    with pytest.raises(ModelMismatch):
        build(settings.with_(model="someone/else"), former)  # back to MiniLM on purpose needs --full too


# --- the English model beside the default one (issue 13) -----------------------------------------


class FakeEnglishEmbedder(FakeEmbedder):
    """A second model, for English text only, with vectors of another size than the main one's."""

    model_id = "fake-english-model"
    dimension = 16


def english_passages(searcher: Searcher) -> set[int]:
    english = {d for d, doc in searcher.catalog.docs.items() if doc.language == "en"}
    return {p for p, d in searcher.catalog.passage_doc.items() if d in english}


def test_english_documents_get_the_english_models_vectors_and_they_follow_every_change(settings: Settings, fake):
    fake.english = FakeEnglishEmbedder()
    build(settings, fake)
    searcher = Searcher.open(settings.index, fake)
    languages = {doc.language for doc in searcher.catalog.docs.values()}
    assert {"en", "pt", "es", "ru"} <= languages  # the fixture corpus has English and other documents
    assert set(searcher.english_dense.vectors.ids().tolist()) == english_passages(searcher) != set()
    assert searcher.manifest["english_model"] == "fake-english-model"

    touch_article(settings, "spooler-more.md", "The print spooler crashes again after the update.\n\n## Fix\n\nRestart it.")
    english_doc = next(d for d, doc in searcher.catalog.docs.items() if doc.language == "en" and d != "articles/spooler-more.md")
    (settings.articles / english_doc).unlink()
    build(settings, fake)
    again = Searcher.open(settings.index, fake)
    assert "articles/spooler-more.md" in again.catalog.docs and english_doc not in again.catalog.docs
    assert set(again.english_dense.vectors.ids().tolist()) == english_passages(again)


def test_only_an_english_query_reads_the_english_vectors(settings: Settings, fake):
    fake.english = FakeEnglishEmbedder()
    build(settings, fake)
    searcher = Searcher.open(settings.index, fake)
    from kb.query import parse_query

    assert searcher._query_vectors_of(parse_query("the print spooler service stops after the update"))[1] is not None
    assert searcher._query_vectors_of(parse_query("a atualização do windows falha com erro"))[1] is None
    assert searcher.rank("the print spooler service stops after the update", k=3)


def test_a_changed_or_removed_english_model_rebuilds_the_index(settings: Settings, fake):
    fake.english = FakeEnglishEmbedder()
    build(settings, fake)
    other = FakeEnglishEmbedder()
    other.model_id, other.dimension = "fake-english-model-2", 8
    fake.english = other
    build(settings, fake)
    searcher = Searcher.open(settings.index, fake)
    assert searcher.manifest["english_model"] == "fake-english-model-2" and searcher.english_dense.vectors.dimension == 8
    fake.english = None
    build(settings, fake)
    searcher = Searcher.open(settings.index, fake)
    assert searcher.manifest["english_model"] is None and searcher.english_dense is None


def test_an_english_query_blends_the_english_models_cosine_into_english_documents_only(settings: Settings, fake):
    fake.english = FakeEnglishEmbedder()
    build(settings, fake)
    searcher = Searcher.open(settings.index, fake)
    from kb.query import parse_query

    q = parse_query("the print spooler service stops after the update")
    vector, english = searcher._query_vectors_of(q)
    assert english is not None
    docs = list(searcher.catalog.docs)
    alone, blended = dict(searcher._dense_scores(vector, None, docs)), dict(searcher._dense_scores(vector, english, docs))
    english_docs = [d for d in docs if d in searcher.english_docs]
    assert english_docs and any(abs(blended[d] - alone[d]) > 1e-6 for d in english_docs)
    assert all(blended[d] == alone[d] for d in docs if d not in searcher.english_docs)
    off = searcher.with_weights(searcher.weights.model_copy(update={"english_share": 0.0}))
    assert off._query_vectors_of(q)[1] is None  # a share of 0 does not embed the query twice
