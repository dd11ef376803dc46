"""Hybrid retrieval: exact tokens, required phrases, facets, explain, and the evaluation harness."""

from __future__ import annotations

import json
import re
import shutil
from dataclasses import replace
from pathlib import Path

import pytest
from typer.testing import CliRunner

from kb.config import Settings
from kb.embedding import Embedder
from kb.evaluation import corpus_hash, evaluate, index_corpus, load_queries
from kb.documents import DocumentError
from kb.catalog import Filters
from kb.query import parse_query
from kb.codes import extract_codes
from kb.match_strength import MatchModel
from kb.search import Searcher
from kb.store.index_db import fts_any

FIXTURES = Path(__file__).parent / "fixtures"
MSDOCS = Path(__file__).resolve().parents[2] / "shared" / "eval" / "msdocs"


def test_query_parsing_keeps_codes_whole_and_quotes_phrases():
    q = parse_query('error "access denied" on 10.0.17763 with 0x80070005 and the backup')
    assert q.phrases == ("access denied",)
    assert q.text == "error access denied on 10.0.17763 with 0x80070005 and the backup"
    assert q.words == ("error", "access", "denied", "10.0.17763", "0x80070005", "backup")
    assert fts_any(('say "hi"',)) == '"say ""hi"""'  # FTS5 syntax in user input is quoted, never executed


def articles_containing(settings: Settings, code: str) -> set[str]:
    """Ids of the articles whose text mentions `code` as a whole word (any letter case); link targets
    such as `(disk-latency-event-153-129.md)` are addresses, not text."""
    pattern = re.compile(rf"(?<![\w]){re.escape(code)}(?![\w])", re.IGNORECASE)
    return {p.relative_to(settings.articles).as_posix() for p in settings.articles.rglob("*.md")
            if p.name != "README.md" and pattern.search(re.sub(r"\]\([^)]*\)", "]", p.read_text(encoding="utf-8")))}


def test_every_error_code_in_articles_ranks_its_documents_first(kb_settings: Settings, embedder: Embedder):
    """A query of just a code (or "error N" for a number) puts every document containing it above every
    document that does not."""
    searcher = Searcher.open(kb_settings.index, embedder, match_model=MatchModel.load())
    codes = {c for p in kb_settings.articles.rglob("*.md") if p.name != "README.md"
             for c in extract_codes(p.read_text(encoding="utf-8"))}
    assert {"0x80070005", "0x800f0922", "9002", "KRB_AP_ERR_SKEW"} <= codes
    for code in sorted(codes):
        query = code if extract_codes(code) == [code] else f"error {code}"
        containing = articles_containing(kb_settings, code)
        ids = [h.id for h in searcher.search(query, k=len(containing) + 3)]
        assert set(ids[: len(containing)]) == containing, (query, ids)
        page = searcher.results(query)
        assert [(i.identifier, i.documents) for i in page.identifiers] == [(code, len(containing))]
        assert page.answered


def test_error_code_query_returns_the_document_with_that_code_first(kb_settings: Settings, embedder: Embedder):
    searcher = Searcher.open(kb_settings.index, embedder)
    hits = searcher.search("0x80070005", k=4)
    assert hits[0].id == "articles/backup-access-denied-0x80070005.md"  # the code in its title
    assert "0x80070005" in {hits[0].snippet[s:e] for s, e in hits[0].highlights}
    assert [bool(h.identifiers) for h in hits] == [True, True, True, False]  # 3 documents contain it, then the rest
    titled = {"0x800423f4": {"articles/vss-writer-failures.md", "cases/backup-sql-0x800423f4-sqlwriter-failed.md"},
              "0x800f0922": {"articles/windows-update-error-0x800f0922.md", "cases/atualizacao-0x800f0922-particao-efi-cheia.md"}}
    for code, docs in titled.items():  # the documents with the code in their title come first
        assert {h.id for h in searcher.search(code, k=2)} == docs


def test_a_mistyped_code_gets_did_you_mean_from_the_codes_in_the_index(fixture_searcher: Searcher):
    page = fixture_searcher.results("0x800f092")  # one digit short of 0x800f0922
    assert [(i.identifier, i.documents, i.suggestions) for i in page.identifiers] == [("0x800f092", 0, ["0x800f0922"])]
    assert fixture_searcher.results("0x800f0922").identifiers[0].suggestions == []  # found: nothing to suggest


def test_plus_quoted_phrase_is_required(fixture_searcher: Searcher):
    loose = fixture_searcher.search("driver crashes", k=10)
    assert len(loose) > 1
    strict = fixture_searcher.search('+"printer driver" crashes', k=10)
    assert [h.id for h in strict] == ["articles/printer-spooler.md"]
    assert strict[0].matched_phrases == ["printer driver"]
    assert fixture_searcher.search('+"no such phrase anywhere"', k=10) == []
    page = fixture_searcher.results("crashes", require=("printer driver",))  # the API's require=
    assert [h.id for h in page.hits] == ["articles/printer-spooler.md"] and page.total == 1


def test_quoted_phrase_is_evidence_not_a_filter(fixture_searcher: Searcher):
    """A pasted message that is not in the answer must not hide it; one that is in a document raises it."""
    query = 'backup box burning all its processor and memory, refs disk "Error 0x7F: worker thread stalled"'
    assert "cases/refs-backup-slow.md" in [h.id for h in fixture_searcher.search(query, k=3)]
    plain = [h.id for h in fixture_searcher.search("driver crashes", k=10)]
    quoted = fixture_searcher.search('"printer driver" crashes', k=10)
    assert len(quoted) == len(plain) > 1  # nothing filtered out
    assert quoted[0].id == "articles/printer-spooler.md" and quoted[0].matched_phrases == ["printer driver"]
    assert all(h.matched_phrases == [] for h in quoted[1:])


def test_a_document_only_bm25_finds_is_scored_by_its_cosine_and_can_rank_first(fixture_searcher: Searcher):
    """With one candidate per retriever, the document only BM25 found is still scored by its cosine.
    (Under the default `dense_scaling = "range"` a cosine counts from the lowest candidate's, which
    with two candidates is this document's own; kb.fusion's tests show such a document ranking first
    among more candidates.)"""
    narrow = fixture_searcher.with_weights(fixture_searcher.weights.model_copy(update={"depth": 1}))
    dense_first = narrow.rank("7031", k=1, mode="dense")[0].doc_id
    assert dense_first != "articles/printer-spooler.md"  # the event id's document is not the nearest vector
    assert narrow.rank("7031", k=1, mode="lexical")[0].doc_id == "articles/printer-spooler.md"
    fused = {r.doc_id: r for r in narrow._ranked(parse_query("7031"), 1, None, "hybrid")}  # before the cut at depth
    assert fused["articles/printer-spooler.md"].cosine is not None  # the dense side scored it too
    topped = narrow.with_weights(narrow.weights.model_copy(update={"dense_scaling": "top"}))
    assert topped.rank("7031", k=1)[0].doc_id == "articles/printer-spooler.md"
    top_k_only = topped.with_weights(topped.weights.model_copy(update={"union": False}))
    assert top_k_only.rank("7031", k=1)[0].doc_id == dense_first  # what fusion over the top lists alone did


def facet_filter(filters: Filters, name: str, value: str) -> Filters:
    """`filters` with one facet value chosen, as a click on it does."""
    return replace(filters, tags=(*filters.tags, value)) if name == "tags" else replace(filters, **{name: value})


@pytest.mark.parametrize("query", ["problem with the server", '"spooler" stops', "0x800f0922", "zzqxv"])
def test_every_facet_count_is_the_total_its_click_shows(fixture_searcher: Searcher, query: str):
    for filters in (Filters(), Filters(type="case")):
        page = fixture_searcher.results(query, filters)
        for name, values in page.facets.items():
            for value, count in values:
                clicked = fixture_searcher.results(query, facet_filter(filters, name, value) if name != "type" else replace(filters, type=value))
                assert clicked.total == count, (query, filters, name, value)
    narrowed = fixture_searcher.results("problem with the server", Filters(type="case"))
    assert {h.type for h in narrowed.hits} == {"case"}
    assert dict(narrowed.facets["type"])["article"] > 0  # own field: counted without its filter, other choices stay visible


def test_pages_are_disjoint_and_add_up_to_the_total(fixture_searcher: Searcher):
    whole = fixture_searcher.results("server problem", limit=100)
    assert whole.total == len(whole.hits) > 4
    seen = []
    for offset in range(0, whole.total, 4):
        page = fixture_searcher.results("server problem", offset=offset, limit=4)
        assert page.total == whole.total and len(page.hits) == min(4, whole.total - offset)
        seen += [h.id for h in page.hits]
    assert seen == [h.id for h in whole.hits] and len(set(seen)) == whole.total
    assert fixture_searcher.results("server problem", offset=whole.total).hits == []
    assert sum(whole.matches.values()) == whole.total


def test_filter_that_empties_the_results_is_told_apart_from_a_query_without_answers(fixture_searcher: Searcher):
    emptied = fixture_searcher.results("vpn drops", Filters(language=("ru",), type="case"))
    assert emptied.total == 0 and emptied.unfiltered > 0 and not emptied.answered


def test_filters_on_language_product_and_status(fixture_searcher: Searcher):
    assert {h.id for h in fixture_searcher.search("server", filters=Filters(language=("ru",)))} == {"articles/ntp-drift.md"}
    assert {h.id for h in fixture_searcher.search("vpn", filters=Filters(status="workaround"))} == {"cases/vpn-caidas.md"}
    assert {h.id for h in fixture_searcher.search("mail", filters=Filters(product="microsoft 365"))} == {"articles/outlook-connect.md"}


def test_evaluation_reports_each_mode(fixture_searcher: Searcher):
    queries = load_queries(FIXTURES / "queries.jsonl")
    results = evaluate(fixture_searcher, queries)
    assert set(results) == {"lexical", "dense", "hybrid"}
    assert results["hybrid"]["mrr@10"] == 1.0
    assert 0 < results["lexical"]["recall@10"] <= 1


def test_bad_query_file_names_the_line(tmp_path: Path):
    bad = tmp_path / "q.jsonl"
    bad.write_text('{"id": "1", "query": "x", "relevant": []}\n{"id": "2"}\n')
    with pytest.raises(DocumentError, match=r"q.jsonl:2: bad query line"):
        load_queries(bad)


def test_kb_eval_command_prints_the_table(corpus: Path, tmp_path: Path, monkeypatch):
    from kb.cli import app

    monkeypatch.setenv("KB_INDEX", str(tmp_path / "index"))
    monkeypatch.setenv("KB_ARTICLES", str(corpus))
    result = CliRunner().invoke(app, ["eval", "--corpus", str(corpus), str(FIXTURES / "queries.jsonl")])
    assert result.exit_code == 0, result.output
    assert "mrr@10" in result.output and "hybrid" in result.output and "lexical" in result.output
    cached = list((tmp_path / "index" / "eval").iterdir())
    assert [p.name for p in cached] == [f"articles-{corpus_hash(corpus)}"]


def test_kb_calibrate_fits_a_model_that_search_can_use(kb_settings: Settings, embedder: Embedder, tmp_path: Path, monkeypatch):
    """A team refits match strength on its own relevance data; the written model loads and labels results."""
    from kb.cli import app
    from kb.match_strength import MatchModel

    monkeypatch.setenv("KB_INDEX", str(tmp_path / "index"))
    monkeypatch.setenv("KB_EMBEDDING_CACHE", str(kb_settings.cache_db))  # the session's vectors: nothing to embed
    out = tmp_path / "match_model.json"
    dev = Path(__file__).resolve().parent.parent / "bench" / "queries" / "articles_dev.jsonl"
    result = CliRunner().invoke(app, ["calibrate", str(dev), "--corpus", str(kb_settings.articles), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "relevant first results labelled strong or partial" in result.output and "articles_dev.jsonl" in result.output
    model = MatchModel.load(out)
    assert model.fitted["sources"][0] == "articles_dev.jsonl (60 queries)" and 0 < model.partial <= model.strong
    searcher = Searcher.open(kb_settings.index, embedder, match_model=model)
    assert searcher.search("refs fragmentation backup server high cpu memory", k=1)[0].match == "strong"
    bad = tmp_path / "empty.jsonl"
    bad.write_text('{"id": "1", "query": "zzqxv", "relevant": []}\n')
    refused = CliRunner().invoke(app, ["calibrate", str(bad), "--corpus", str(kb_settings.articles), "--out", str(tmp_path / "x.json")])
    assert refused.exit_code == 1 and "calibration needs queries with relevant documents" in refused.output


@pytest.mark.skipif(not (MSDOCS / "corpus").is_dir(), reason="../shared/eval/msdocs not present")
def test_msdocs_sample_finds_refs_articles_by_symptom(tmp_path: Path, embedder: Embedder):
    """A slice of the real Microsoft corpus: the ReFS memory article is found from a paraphrase."""
    area = MSDOCS / "corpus" / "windows-server" / "backup-and-storage"
    sample = tmp_path / "corpus" / "windows-server" / "backup-and-storage"
    sample.mkdir(parents=True)
    for path in sorted(area.glob("*.md"))[:40] + [area / "fix-heavy-memory-usage-refs.md", area / "refs-volume-dpm-unresponsive.md"]:
        shutil.copy(path, sample / path.name)
    settings = index_corpus(Settings(articles=tmp_path / "corpus", index=tmp_path / "index"), tmp_path / "corpus", embedder, progress=False)
    searcher = Searcher.open(settings.index, embedder)
    ids = [h.id for h in searcher.search("backup server on ReFS uses huge amounts of memory", k=3)]
    assert "windows-server/backup-and-storage/fix-heavy-memory-usage-refs.md" in ids
    titles = [json.loads(line) for line in (MSDOCS / "title_queries.jsonl").read_text().splitlines()]
    in_sample = [q for q in titles if q["relevant"][0] in {f"windows-server/backup-and-storage/{p.name}" for p in sample.iterdir()}]
    assert in_sample
    ranked = {q["id"]: searcher.rank(q["query"], k=1)[0].doc_id for q in in_sample}
    hits = sum(ranked[q["id"]] == q["relevant"][0] for q in in_sample)
    assert hits / len(in_sample) >= 0.9
