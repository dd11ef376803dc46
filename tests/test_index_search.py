"""Index build and search on small corpora: ranking, filters, incremental updates, safety."""

from __future__ import annotations

from pathlib import Path

import pytest

from kb.config import Settings, VectorSettings
from kb.embedding import Embedder
from kb.indexer import build_index
from kb.catalog import Filters
from kb.layout import IndexLayout, ModelMismatch
from kb.search import Searcher


def test_paraphrased_symptom_finds_known_case_first(fixture_searcher: Searcher):
    hits = fixture_searcher.search("backup box burning all its processor and memory, refs disk", k=3)
    assert hits[0].id == "cases/refs-backup-slow.md"
    assert hits[0].case.status == "resolved"
    assert "ReFS" in hits[0].title


def test_cross_language_and_error_code_queries(fixture_searcher: Searcher):
    assert fixture_searcher.search("0x800f0922", k=1)[0].id == "articles/atualizacao-falha.md"
    assert fixture_searcher.search("KRB_AP_ERR_SKEW", k=1)[0].id == "articles/ntp-drift.md"
    assert fixture_searcher.search("часы отстают, не входит в домен", k=1)[0].id == "articles/ntp-drift.md"
    assert fixture_searcher.search("atualizacao revertida particao reservada", k=1)[0].id == "articles/atualizacao-falha.md"


def test_snippet_highlights_matched_words(fixture_searcher: Searcher):
    hit = fixture_searcher.search("print spooler stops event 7031", k=1)[0]
    assert hit.id == "articles/printer-spooler.md"
    marked = {hit.snippet[s:e].lower() for s, e in hit.highlights}
    assert {"spooler", "7031"} <= marked


def test_filters_restrict_results(fixture_searcher: Searcher):
    cases = fixture_searcher.search("problem", k=10, filters=Filters(type="case"))
    assert cases and {h.type for h in cases} == {"case"}
    tagged = fixture_searcher.search("connection drops", k=10, filters=Filters(tags=("vpn",)))
    assert [h.id for h in tagged] == ["cases/vpn-caidas.md"]
    assert fixture_searcher.search("anything", filters=Filters(tags=("no-such-tag",))) == []


def test_modes_are_independent_retrievers(fixture_searcher: Searcher):
    lexical = fixture_searcher.search("0x800f0922", k=3, mode="lexical")
    assert [h.id for h in lexical] == ["articles/atualizacao-falha.md"]  # only the file with the code
    dense = fixture_searcher.search("0x800f0922", k=3, mode="dense")
    assert len(dense) == 3 and all(h.explain.lexical_rank is None for h in dense)


def test_results_show_the_documents_own_text_not_their_references(kb_settings: Settings, embedder: Embedder):
    hits = Searcher.open(kb_settings.index, embedder).search("backup fails access denied", k=10)
    nas = next(h for h in hits if h.id == "cases/backup-nas-access-denied-after-password-rotation.md")
    assert nas.heading == "Symptoms" and "0x80070005" in nas.snippet
    assert [h.id for h in hits if h.heading in ("References", "Summary")] == []
    assert not any(h.snippet.startswith("Backup job fails with 0x80070005") for h in hits)  # the NAS case's References


def test_incremental_build_embeds_only_what_changed(settings: Settings, embedder: Embedder, corpus: Path):
    first = build_index(settings, embedder, progress=False)
    assert len(first.added) == 6 and first.embedded == first.passages
    again = build_index(settings, embedder, progress=False)
    assert not again.changed and again.build == first.build  # nothing to do, nothing republished

    printer = corpus / "articles" / "printer-spooler.md"
    printer.write_text(printer.read_text().replace("type 4 driver.", "type 4 driver.\n\n## Workaround\nRestart spoolsv nightly with a scheduled task."))
    (corpus / "cases" / "vpn-caidas.md").unlink()
    edited = build_index(settings, embedder, progress=False)
    assert edited.updated == ["articles/printer-spooler.md"] and edited.deleted == ["cases/vpn-caidas.md"]
    assert edited.embedded == 1  # only the new Workaround passage; unchanged passages come from the cache

    searcher = Searcher.open(settings.index, embedder)
    assert searcher.search("scheduled task restarts the spooler", k=1)[0].heading == "Workaround"
    assert "cases/vpn-caidas.md" not in {h.id for h in searcher.search("VPN se desconecta", k=10)}


def test_broken_file_is_skipped_and_previous_version_kept(settings: Settings, embedder: Embedder, corpus: Path):
    build_index(settings, embedder, progress=False)
    outlook = corpus / "articles" / "outlook-connect.md"
    outlook.write_text("---\ntitle: [broken\n---\nnew text\n")
    (corpus / "articles" / "new.md").write_text("# Fresh article\n\nDHCP scope exhausted, clients get APIPA addresses.\n")
    report = build_index(settings, embedder, progress=False)
    assert [f"{e.path}:{e.line}" for e in report.errors] == ["articles/outlook-connect.md:2"]
    assert report.added == ["articles/new.md"]
    searcher = Searcher.open(settings.index, embedder)
    assert searcher.search("Outlook trying to connect", k=1)[0].id == "articles/outlook-connect.md"
    assert searcher.search("DHCP scope exhausted", k=1)[0].id == "articles/new.md"


def test_other_model_is_refused_until_full_rebuild(settings: Settings, embedder: Embedder):
    build_index(settings, embedder, progress=False)
    other = Embedder()
    other.model_id = "some/other-model"
    with pytest.raises(ModelMismatch, match="kb index --full"):
        build_index(settings, other, progress=False)
    with pytest.raises(ModelMismatch):
        Searcher.open(settings.index, other)


def test_build_publishes_atomically_and_prunes(settings: Settings, embedder: Embedder, corpus: Path):
    layout = IndexLayout(settings.index)
    first = build_index(settings, embedder, progress=False).build
    (corpus / "articles" / "x.md").write_text("# X\n\nsomething new\n")
    second = build_index(settings, embedder, progress=False).build
    assert layout.current() == second != first
    assert first.exists()  # the previous build stays for readers still using it
    assert not list(layout.builds.glob("*.partial"))


def test_large_index_switches_to_approximate_search(settings: Settings, embedder: Embedder):
    small_limit = settings.with_(vectors=VectorSettings(flat_limit=10))  # the fixture corpus has more passages than that
    build = build_index(small_limit, embedder, progress=False).build
    searcher = Searcher.open(settings.index, embedder)
    assert not searcher.vectors.exact and searcher.manifest["vectors"] == searcher.vectors.kind
    assert build.name == searcher.build.name
    assert searcher.search("print spooler stops when users print", k=1)[0].id == "articles/printer-spooler.md"


def test_builds_in_the_same_second_keep_their_order(settings: Settings, embedder: Embedder, corpus: Path):
    layout = IndexLayout(settings.index)
    builds = []
    for i in range(4):
        (corpus / "articles" / f"n{i}.md").write_text(f"# Note {i}\n\nshort note number {i}\n")
        builds.append(build_index(settings, embedder, progress=False).build)
    assert layout.current() == builds[-1]
    assert layout.finished_builds() == builds[:-3:-1]  # the two newest survive pruning, newest first


def test_build_in_small_groups_gives_the_same_index(settings: Settings, embedder: Embedder):
    """Large builds embed and store a group of documents at a time; the result must not depend on it."""
    whole = build_index(settings, embedder, progress=False)
    expected = Searcher.open(settings.index, embedder).search("backup server slow refs", k=6)
    grouped = build_index(settings.with_(index=settings.index.parent / "grouped", embedding_cache=settings.index / "embeddings.sqlite",
                                         vectors=VectorSettings(group_passages=2)),
                          embedder, progress=False)
    assert (grouped.passages, grouped.embedded) == (whole.passages, 0)  # every vector came from the shared cache
    got = Searcher.open(settings.index.parent / "grouped", embedder).search("backup server slow refs", k=6)
    assert [(h.id, h.heading, h.score) for h in got] == [(h.id, h.heading, h.score) for h in expected]


def test_a_loaded_searcher_runs_blas_on_one_thread(fixture_searcher: Searcher):
    """OpenBLAS's spinning threads doubled the CPU of a search on 2 cores (kb.vectors.blas_on_one_thread)."""
    from threadpoolctl import threadpool_info

    blas = [lib for lib in threadpool_info() if lib["user_api"] == "blas"]
    assert blas and all(lib["num_threads"] == 1 for lib in blas)
    assert fixture_searcher.search("print spooler stops event 7031", k=1)
