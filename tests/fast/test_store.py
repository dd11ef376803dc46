"""Rows layer (kb.store.index_db) and lexical retrieval over it (kb.catalog, kb.bm25, kb.retrieval), without a model."""

from __future__ import annotations

import unicodedata
from pathlib import Path

import numpy as np
import pytest

from kb.bm25 import PassageBm25, PhraseBm25, ShareMemory
from kb.catalog import Catalog, DocInfo, Filters
from kb.chunking import chunk_document
from kb.documents import parse_document
from kb.query import parse_query
from kb.retrieval import DenseRetriever, LexicalRetriever
from kb.store.index_db import (
    DocumentRow,
    IndexReader,
    PassageRow,
    Store,
    fts_any,
    fts_string,
    words_or_stems,
)
from kb.vectors import VectorIndex

PRINTER = "articles/printer-spooler.md"
NETWORK = "articles/network-notes.md"
UPDATE = "cases/falha-atualizacao.md"
VPN = "cases/vpn-drops.md"

SOURCES = {
    PRINTER: """---
title: Printer spooler crashes on print
language: en
tags: [printing]
product: Windows Server
---
## Overview
Jobs do not print when the queue is near full. Users were denied access to the queue.
Restart the service and clear the queue.
""",
    NETWORK: """---
title: Network troubleshooting notes
language: en
tags: [network]
---
## Notes
Check the switch ports, the cabling, the DHCP scope and the DNS records first. The firewall log
shows access denied for the management subnet. Unrelated: the print spooler on the old server.
Офис в Йошкар-Ола: ошибка при подключении к серверу. Lieferadresse: Hauptstraße 5.
""",
    UPDATE: """---
title: Falha na atualização do Windows
type: case
status: resolved
product: Windows Server
version: "2019"
language: pt
tags: [atualização, windows]
error_codes: ["0x8024402C"]
symptoms:
  - "A atualização falha com o erro 0x8024402C"
  - "Ошибка при подключении к серверу обновлений"
---
## Symptoms
A instalação da atualização KB5005565 falha no build 10.0.17763.

## Resolution
Conceder permissões à pasta SoftwareDistribution.

### Step 2
Reiniciar o serviço wuauserv.

## Resolution notes
Nada mais.
""",
    VPN: """---
title: VPN tunnel drops every hour
type: case
status: workaround
product: GlobalProtect
language: en
tags: [vpn, network]
symptoms: ["Tunnel drops hourly"]
---
## Symptoms
The VPN tunnel access was denied for remote users.

## Resolution
### Step 2
Reinstall the VPN client.

### Step 3
Reboot the laptop.
""",
}


def build(path: Path, sources: dict[str, str] = SOURCES) -> dict[str, list[int]]:
    """Write the documents into a new database; return each document's passage ids."""
    store = Store(path)
    ids: dict[str, list[int]] = {}
    try:
        for doc_id, source in sources.items():
            doc = parse_document(source, doc_id)
            passages = chunk_document(doc)
            first = store.next_passage_id()
            ids[doc_id] = list(range(first, first + len(passages)))
            store.add_document(doc, passages, ids[doc_id])
        store.commit()
    finally:
        store.close()
    return ids


@pytest.fixture(scope="module")
def db(tmp_path_factory) -> tuple[Path, dict[str, list[int]]]:
    path = tmp_path_factory.mktemp("store") / "index.sqlite"
    return path, build(path)


@pytest.fixture(scope="module")
def reader(db) -> IndexReader:
    return IndexReader(db[0])


@pytest.fixture(scope="module")
def rowid(reader) -> dict[str, int]:
    return {row.id: row.rowid for row in reader.documents()}


@pytest.fixture(scope="module")
def catalog(reader) -> Catalog:
    return Catalog.load(reader)


@pytest.fixture(scope="module")
def lexical(reader, catalog) -> LexicalRetriever:
    return LexicalRetriever(reader, catalog, (5.0, 3.0, 1.0), (1.5, 1.0))


def rank_documents(reader: IndexReader, words, weights, limit, stems=(), stem_weight=0.0) -> list[tuple[int, float]]:
    """(rowid, BM25) best first, as lexical search ranks documents (a new PhraseBm25: nothing remembered)."""
    rows = 1 + max(r.rowid for r in reader.documents())
    return PhraseBm25(reader, (*weights, stem_weight), rows).rank(words, stems, limit)


def fts5_bm25(reader: IndexReader, words, stems, weights) -> dict[int, float]:
    """FTS5's own bm25() of the OR of the words (exact columns) and stems (stem column), as lexical search ran it before."""
    rows = reader.conn.execute(f"SELECT rowid, bm25(documents_fts, {', '.join(map(str, map(float, weights)))}) FROM documents_fts "
                               "WHERE documents_fts MATCH ?", (words_or_stems(words, stems),))
    return {int(r[0]): -float(r[1]) for r in rows}


def ranked_ids(reader: IndexReader, rowid: dict[str, int], words, weights=(5.0, 3.0, 1.0), limit=10) -> list[str]:
    by_rowid = {r: d for d, r in rowid.items()}
    return [by_rowid[r] for r, _ in rank_documents(reader, words, weights, limit)]


# --- write side --------------------------------------------------------------------------------------


def test_store_counts(db):
    path, ids = db
    store = Store(path)
    try:
        assert store.count_documents() == len(SOURCES)
        assert store.count_passages() == sum(len(v) for v in ids.values())
        assert store.next_passage_id() == max(max(v) for v in ids.values()) + 1
    finally:
        store.close()


def test_delete_document_removes_passages_and_fts_rows(tmp_path):
    path = tmp_path / "index.sqlite"
    ids = build(path)
    store = Store(path)
    try:
        removed = store.delete_document(UPDATE)
        store.commit()
        assert sorted(removed) == ids[UPDATE]
        assert store.count_documents() == len(SOURCES) - 1
        assert store.count_passages() == sum(len(v) for k, v in ids.items() if k != UPDATE)
        marks = ",".join("?" * len(removed))
        assert store.conn.execute(f"SELECT count(*) FROM passages_fts WHERE rowid IN ({marks})", removed).fetchone()[0] == 0
        assert store.conn.execute("SELECT count(*) FROM documents_fts").fetchone()[0] == len(SOURCES) - 1
        assert store.delete_document("no/such.md") == []
    finally:
        store.close()
    reader = IndexReader(path)
    assert UPDATE not in {r.id for r in reader.documents()}
    assert rank_documents(reader, ["wuauserv"], (5, 3, 1), 10) == []
    assert rank_documents(reader, ["0x8024402C"], (5, 3, 1), 10) == []
    all_rowids = [r.rowid for r in reader.documents()]
    assert reader.rank_passages(["wuauserv"], all_rowids, (1.5, 1.0)) == {}
    assert reader.passage(removed[0]) is None
    # the other documents are still searchable
    assert rank_documents(reader, ["spooler"], (5, 3, 1), 10)


# --- documents and passages --------------------------------------------------------------------------


def test_documents_rows_are_typed_and_non_ascii_intact(reader):
    rows = {r.id: r for r in reader.documents()}
    assert set(rows) == set(SOURCES)
    case = rows[UPDATE]
    assert isinstance(case, DocumentRow) and isinstance(case.rowid, int)
    assert case.title == "Falha na atualização do Windows"
    assert case.type == "case" and case.language == "pt"
    assert case.tags == ("atualização", "windows")
    assert isinstance(case.meta, dict)
    assert case.meta["symptoms"][1] == "Ошибка при подключении к серверу обновлений"
    assert case.meta["error_codes"] == ["0x8024402C"]
    assert case.meta["version"] == "2019"
    assert rows[PRINTER].type == "article" and rows[PRINTER].tags == ("printing",)
    stored = reader.document(UPDATE)
    assert stored is not None and "Conceder permissões à pasta" in stored.body
    assert stored.tags == ["atualização", "windows"]
    assert reader.document("no/such.md") is None


def test_passage_documents(reader, db):
    _, ids = db
    expected = sorted((pid, doc) for doc, pids in ids.items() for pid in pids)
    assert [tuple(r) for r in reader.passage_documents()] == expected


def test_passage_keeps_heading_path_and_file_line(reader, db):
    _, ids = db
    step = next(p for p in map(reader.passage, ids[UPDATE]) if p.heading == "Resolution > Step 2")
    assert isinstance(step, PassageRow)
    assert step.doc_id == UPDATE and step.text == "Reiniciar o serviço wuauserv."
    assert SOURCES[UPDATE].splitlines()[step.line - 1] == "### Step 2"


def test_first_passage_in_section_is_the_sections_first_passage(reader):
    resolution = reader.first_passage_in_section(UPDATE, "Resolution")
    assert resolution is not None
    assert resolution.heading == "Resolution"  # not "Resolution > Step 2", which comes later
    assert resolution.text == "Conceder permissões à pasta SoftwareDistribution."


def test_first_passage_in_section_can_be_a_subsection_when_it_comes_first(reader):
    # the VPN case's Resolution has no text of its own: its first passage is under "Step 2"
    resolution = reader.first_passage_in_section(VPN, "Resolution")
    assert resolution is not None
    assert resolution.heading == "Resolution > Step 2"
    assert resolution.text == "Reinstall the VPN client."


def test_first_passage_in_section_matches_the_whole_top_heading(reader):
    assert reader.first_passage_in_section(UPDATE, "Resolution notes").text == "Nada mais."
    assert reader.first_passage_in_section(UPDATE, "Resol") is None
    assert reader.first_passage_in_section(PRINTER, "Resolution") is None
    assert reader.first_passage_in_section("no/such.md", "Resolution") is None


# --- BM25 over documents and passages ----------------------------------------------------------------


def test_title_match_ranks_above_body_match(reader, rowid):
    ranked = rank_documents(reader, ["spooler"], (5, 3, 1), 10)
    by_rowid = {r: d for d, r in rowid.items()}
    assert [by_rowid[r] for r, _ in ranked] == [PRINTER, NETWORK]
    scores = [s for _, s in ranked]
    assert scores[0] > scores[1] > 0  # BM25 negated: higher is better


def test_front_matter_error_code_is_found_in_the_keywords_field(reader, rowid):
    assert ranked_ids(reader, rowid, ["0x8024402c"]) == [UPDATE]
    assert ranked_ids(reader, rowid, ["0X8024402C"]) == [UPDATE]
    # with only the keywords column weighted, the code still scores: it is in `keywords`, not just the body
    ((hit, score),) = rank_documents(reader, ["0x8024402C"], (0.0, 1.0, 0.0), 10)
    assert hit == rowid[UPDATE] and score > 0


def test_codes_and_non_ascii_match_as_typed(reader, rowid):
    assert ranked_ids(reader, rowid, ["KB5005565"]) == [UPDATE]
    assert ranked_ids(reader, rowid, ["10.0.17763"]) == [UPDATE]
    assert ranked_ids(reader, rowid, ["atualizacao"]) == [UPDATE]  # diacritics folded
    assert set(ranked_ids(reader, rowid, ["ПОДКЛЮЧЕНИИ"])) == {NETWORK, UPDATE}


def test_rank_documents_any_word_and_limit(reader, rowid):
    assert set(ranked_ids(reader, rowid, ["spooler", "wuauserv"])) == {PRINTER, NETWORK, UPDATE}
    assert len(rank_documents(reader, ["denied"], (5, 3, 1), 2)) == 2
    assert len(rank_documents(reader, ["denied"], (5, 3, 1), 10)) == 3
    assert rank_documents(reader, [], (5, 3, 1), 10) == []


@pytest.mark.parametrize("words, stems", [
    (["spooler"], []),
    (["denied", "access", "queue", "the", "10.0.17763", "ПОДКЛЮЧЕНИИ", "nowhere"], []),
    (["denied", "denied", "tunnel"], ["falh", "ошибк", "tunnel"]),  # a word said twice counts twice, as in FTS5
    ([], ["atualizaca", "servic"]),
])
@pytest.mark.parametrize("weights", [(5, 3, 1, 1), (1, 1, 1, 0), (0, 2.5, 0.5, 3)])
def test_phrase_shares_add_up_to_fts5_bm25_of_their_or(reader, words, stems, weights):
    """Lexical ranking adds each phrase's remembered share; the sum is FTS5's bm25() of the OR query."""
    expected = fts5_bm25(reader, words, stems, weights)
    assert expected
    ranked = rank_documents(reader, words, weights[:3], 10, stems, weights[3])
    assert dict(ranked) == pytest.approx(expected, rel=1e-12)  # bit for bit on x86-64: the same terms, in the same order
    assert [s for _, s in ranked] == sorted(dict(ranked).values(), reverse=True) and set(dict(ranked)) == set(expected)


def test_remembered_shares_stay_within_their_budget_and_answer_the_same(reader, rowid):
    rows = 1 + max(rowid.values())
    small = PhraseBm25(reader, (5, 3, 1, 0), rows, ShareMemory(budget=1400))  # room for two of the three phrases
    first = small.rank(["denied", "spooler", "queue"], [], 10)
    assert small.memory._bytes <= 1400 and len(small.memory) == 2
    assert small.rank(["denied", "spooler", "queue"], [], 10) == first  # forgotten phrases asked again
    roomy = PhraseBm25(reader, (5, 3, 1, 0), rows)
    assert roomy.rank(["denied", "spooler", "queue"], [], 10) == first
    assert len(roomy.memory) == 3
    assert roomy.rank(["denied"], [], 10, allowed=[rowid[VPN], rowid[PRINTER]]) == [
        r for r in roomy.rank(["denied"], [], 10) if r[0] in (rowid[VPN], rowid[PRINTER])]


def test_ties_at_the_limit_go_by_rowid_and_words_found_nowhere_count_against_the_budget(monkeypatch):
    class Rows:  # a stand-in reader: 24 documents, scores alternating 2, 1
        def phrase_shares(self, phrase, weights, stems=False):
            return [(rowid, 2.0 if rowid % 2 else 1.0) for rowid in range(1, 25)] if phrase == "w" else []

    bm25 = PhraseBm25(Rows(), (1, 1, 1, 1), 25, ShareMemory(budget=10_000))
    assert bm25.rank(["w"], [], 3) == [(1, 2.0), (3, 2.0), (5, 2.0)]
    assert bm25.rank(["w"], [], 13) == [(r, 2.0) for r in range(1, 25, 2)] + [(2, 1.0)]
    for i in range(100):  # typos and gibberish: no rows, but each remembered phrase costs memory
        bm25.rank([f"typo{i}"], [], 3)
    assert len(bm25.memory) < 20 and bm25.memory._bytes <= 10_000
    bm25.rank(["x" * 5000], [], 3)  # a pasted blob is never remembered
    assert all(len(key[-1]) < 5000 for key in bm25.memory._shares)


@pytest.mark.parametrize("words", [["denied"], ["denied", "queue", "access", "denied", "nowhere", "10.0.17763"], ["Step", "reinstall"]])
def test_passage_bm25_gives_fts5s_scores_before_and_after_it_remembers_a_word(reader, rowid, db, words):
    """Words used twice are remembered over all passages; the scores stay FTS5's, limited to the documents."""
    _, ids = db
    docs = [VPN, PRINTER, NETWORK]
    passage_ids = [p for d in docs for p in ids[d]]
    expected = reader.rank_passages(words, [rowid[d] for d in docs], (1.5, 1.0))
    assert expected and set(expected) <= set(passage_ids)
    bm25 = PassageBm25(reader, (1.5, 1.0))
    for _ in range(3):  # asked of FTS5, then remembered (at the second use), then looked up
        found = bm25.scores(words, [rowid[d] for d in docs], passage_ids)
        assert found == pytest.approx(expected, rel=1e-12)
    assert {key[-1] for key in bm25.memory._shares} == set(words)
    assert bm25.scores([], [rowid[VPN]], ids[VPN]) == {} and bm25.scores(words, [], []) == {}


def test_rank_passages_is_limited_to_the_given_documents(reader, rowid, db):
    _, ids = db
    only_printer = reader.rank_passages(["denied"], [rowid[PRINTER]], (1.5, 1.0))
    assert only_printer and set(only_printer) <= set(ids[PRINTER])
    two = reader.rank_passages(["denied"], [rowid[PRINTER], rowid[VPN]], (1.5, 1.0))
    assert set(two) & set(ids[PRINTER]) and set(two) & set(ids[VPN])
    assert not set(two) & set(ids[NETWORK])
    assert all(score > 0 for score in two.values())
    assert reader.rank_passages(["denied"], [], (1.5, 1.0)) == {}
    assert reader.rank_passages([], [rowid[PRINTER]], (1.5, 1.0)) == {}


def test_rank_passages_finds_the_passage_with_the_word(reader, rowid, db):
    _, ids = db
    found = reader.rank_passages(["wuauserv"], list(rowid.values()), (1.5, 1.0))
    assert [reader.passage(p).heading for p in found] == ["Resolution > Step 2"]


def test_documents_with_phrase_needs_consecutive_tokens(reader, rowid):
    # NETWORK says "access denied"; PRINTER "denied access"; VPN "access was denied"
    assert reader.documents_with_phrase("access denied") == {rowid[NETWORK]}
    assert reader.documents_with_phrase("Denied, access") == {rowid[PRINTER]}
    assert reader.documents_with_phrase("ошибка при подключении") == {rowid[NETWORK], rowid[UPDATE]}
    assert reader.documents_with_phrase("10.0.17763") == {rowid[UPDATE]}
    assert reader.documents_with_phrase("denied for remote") == {rowid[VPN]}
    assert reader.documents_with_phrase("remote denied") == set()


# --- user input is data, never FTS5 syntax -----------------------------------------------------------


def test_fts_string_and_fts_any_quote_everything():
    assert fts_string("spooler") == '"spooler"'
    assert fts_string('say "hi"') == '"say ""hi"""'
    assert fts_any(["a", 'b"']) == '"a" OR "b"""'


def test_a_nul_in_user_input_is_a_space(reader, rowid):
    """FTS5 ends an expression at a NUL ("unterminated string"); found by schemathesis via require=0%00."""
    assert reader.documents_with_phrase("access\x00denied") == reader.documents_with_phrase("access denied")
    assert ranked_ids(reader, rowid, ["spooler\x00"]) == ranked_ids(reader, rowid, ["spooler"])


@pytest.mark.parametrize("word", ['spooler"', '"spooler', "spooler*", "-spooler", "+spooler", "^spooler",
                                  "(spooler)", "{spooler}", "spooler:", "'spooler'"])
def test_syntax_around_a_word_is_ignored(reader, rowid, word):
    assert ranked_ids(reader, rowid, [word]) == ranked_ids(reader, rowid, ["spooler"]) == [PRINTER, NETWORK]


def test_fts5_operators_are_matched_as_words(reader, rowid):
    assert ranked_ids(reader, rowid, ["NOT"]) == [PRINTER]        # "do not print"
    assert ranked_ids(reader, rowid, ["NEAR("]) == [PRINTER]      # "near full"
    assert ranked_ids(reader, rowid, ["AND"]) != []               # "and" is in several bodies
    assert ranked_ids(reader, rowid, ["title:spooler"]) == []     # the phrase "title spooler" is nowhere
    assert ranked_ids(reader, rowid, ["NEAR(queue spooler)"]) == []
    assert set(ranked_ids(reader, rowid, ["spooler", "NOT"])) == {PRINTER, NETWORK}


@pytest.mark.parametrize("word", ['"', '""', "*", "-", "(", ")", ":", "^", "NEAR(", "AND", "OR", "NOT", 'a"b', "{", "}",
                                  "\x00", "0\x00", 'spooler\x00"'])
def test_fts5_syntax_never_raises(reader, rowid, word):
    rank_documents(reader, [word], (5, 3, 1), 10)
    rank_documents(reader, [word, "spooler"], (5, 3, 1), 10)
    reader.rank_passages([word], list(rowid.values()), (1.5, 1.0))
    reader.documents_with_phrase(word)


# --- Catalog and LexicalRetriever --------------------------------------------------------------------


def test_catalog_maps_documents_and_passages(catalog, rowid, db):
    _, ids = db
    assert len(catalog) == len(SOURCES)
    assert catalog.rowid_doc == {r: d for d, r in rowid.items()}
    assert catalog.doc_rowid == rowid
    assert catalog.doc_passages == ids
    assert catalog.passages_of([VPN, PRINTER]) == ids[VPN] + ids[PRINTER]
    assert catalog.passages_of(["no/such.md"]) == []
    assert catalog.docs[UPDATE].product == "Windows Server"
    assert catalog.docs[NETWORK].product == "" and catalog.docs[NETWORK].facet_values("product") == ()


def test_dense_scores_are_each_documents_best_passage_cosine(catalog, db):
    _, ids = db
    rng = np.random.default_rng(7)
    passage_ids = [p for d in SOURCES for p in ids[d]]
    vectors = rng.standard_normal((len(passage_ids), 8)).astype(np.float32)
    index = VectorIndex.empty(8)
    index.add(passage_ids[::-1], vectors[::-1])  # rows in another order than the ids
    query = rng.standard_normal(8).astype(np.float32)
    cosine = dict(zip(passage_ids, (vectors @ query).tolist()))
    dense = DenseRetriever(index, catalog)
    asked = [VPN, "no/such.md", UPDATE, VPN, PRINTER]
    assert dense.scores(query, asked) == {d: max(cosine[p] for p in ids[d]) for d in (VPN, UPDATE, PRINTER)}
    assert len(ids[UPDATE]) > 1 and dense.scores(query, []) == {}


def id_catalog(*ids: str) -> Catalog:
    return Catalog([DocumentRow(n, d, d, "article", "en", (), {}) for n, d in enumerate(ids, start=1)], [])


REFS = "cases/refs-fragmentation-backup-cpu-ram.md"
SHADOW = "articles/instantáneas-vss.md"  # NFC, as the indexer found it on disk


@pytest.mark.parametrize("asked", [
    REFS, "CASES/Refs-Fragmentation-Backup-CPU-RAM", "cases/refs-fragmentation-backup-cpu-ram", "Cases/REFS-fragmentation-backup-cpu-ram.MD",
])
def test_resolve_ignores_letter_case_and_the_md_suffix(asked: str):
    assert id_catalog(REFS, SHADOW).resolve(asked) == REFS


def test_resolve_casefolds_and_normalises_unicode():
    catalog = id_catalog(SHADOW, "articles/Hauptstraße.md", "cases/ошибка-9002.md")
    assert catalog.resolve(unicodedata.normalize("NFD", "ARTICLES/INSTANTÁNEAS-VSS")) == SHADOW
    assert catalog.resolve("articles/hauptstrasse") == "articles/Hauptstraße.md"  # casefold: ß is ss
    assert catalog.resolve("CASES/ОШИБКА-9002.md") == "cases/ошибка-9002.md"


def test_resolve_is_none_for_unknown_and_ambiguous_ids():
    catalog = id_catalog("cases/Dup.md", "cases/dup.md", REFS)
    assert catalog.resolve("cases/DUP.md") is None and catalog.resolve("cases/dup") is None
    assert catalog.resolve("cases/Dup.md") == "cases/Dup.md"  # an exact id is never ambiguous
    assert catalog.resolve("cases/refs-fragmentation") is None and catalog.resolve("") is None
    assert catalog.resolve("cases/refs-fragmentation-backup-cpu-ram.md.md") is None


def test_lexical_rank_and_allowed(lexical):
    q = parse_query("the spooler")
    assert [d for d, _ in lexical.rank(q, 10)] == [PRINTER, NETWORK]
    assert [d for d, _ in lexical.rank(q, 1)] == [PRINTER]
    assert [d for d, _ in lexical.rank(q, 10, allowed={NETWORK, VPN})] == [NETWORK]
    # depth 1 with `allowed`: the best allowed document is found even below the unrestricted top 1
    assert [d for d, _ in lexical.rank(q, 1, allowed={NETWORK})] == [NETWORK]
    assert lexical.rank(q, 10, allowed=set()) == []


def test_a_long_query_is_read_by_its_most_specific_words_and_its_codes(reader, catalog, monkeypatch):
    capped = LexicalRetriever(reader, catalog, (5.0, 3.0, 1.0), (1.5, 1.0), query_words=2)
    short = parse_query("spooler crashes")
    assert capped.bm25_words(short) == short.words  # within the cap: every word
    long = parse_query("the print Spooler service crashes and the access is denied with 0x80070005 every morning spooler")
    read = capped.bm25_words(long)
    rarest = capped.specific_words(long.words, 2)
    assert {w.lower() for w in read} == set(rarest) | {"0x80070005"}  # two words, and the code however common
    assert read == tuple(w for w in long.words if w.lower() in set(rarest) | {"0x80070005"})  # as typed, repeats kept
    asked = []
    monkeypatch.setattr(capped.bm25, "rank", lambda words, *a: asked.append(tuple(words)) or [])
    capped.rank(long, 10)
    assert asked == [read]
    assert LexicalRetriever(reader, catalog, (5.0, 3.0, 1.0), (1.5, 1.0)).bm25_words(long) == long.words  # 0: all


def test_lexical_passages_of_given_documents(lexical, db):
    _, ids = db
    found = lexical.passages(parse_query("denied"), [VPN])
    assert found and set(found) <= set(ids[VPN])


def test_with_phrases_intersects(lexical):
    assert lexical.with_phrases(()) is None
    assert lexical.with_phrases(["access denied"]) == {NETWORK}
    assert lexical.with_phrases(["Ошибка при подключении"]) == {NETWORK, UPDATE}
    assert lexical.with_phrases(["ошибка при подключении", "KB5005565"]) == {UPDATE}
    assert lexical.with_phrases(["access denied", "KB5005565"]) == set()
    assert lexical.with_phrases(["Atualizacao falha"]) == {UPDATE}  # diacritics folded in phrases too


@pytest.mark.parametrize("phrase", ["Йошкар-Ола", "Hauptstraße 5"])
def test_with_phrases_finds_phrases_with_letters_python_folds_differently(lexical, reader, rowid, phrase):
    # the words themselves are in the index: BM25 over the same text finds the document
    assert ranked_ids(reader, rowid, [phrase]) == [NETWORK]
    assert lexical.with_phrases([phrase]) == {NETWORK}


# --- Filters -----------------------------------------------------------------------------------------


def test_filters_product_is_case_and_diacritic_insensitive(catalog):
    update = catalog.docs[UPDATE]
    assert Filters(product="windows server").accepts(update)
    assert Filters(product="WÍNDOWS Servér").accepts(update)
    assert not Filters(product="Windows").accepts(update)
    assert not Filters(product="GlobalProtect").accepts(update)


def test_filters_combine_and_skip_one_field(catalog):
    update = catalog.docs[UPDATE]
    assert Filters(type="case", status="resolved", language=("pt",), tags=("windows",)).accepts(update)
    assert not Filters(tags=("windows", "vpn")).accepts(update)  # every tag is required
    mixed = Filters(type="case", product="GlobalProtect")
    assert not mixed.accepts(update)
    assert mixed.accepts(update, skip="product")
    assert not mixed.accepts(update, skip="type")
    assert not Filters(status="open").accepts(update)
    assert Filters(status="open").accepts(update, skip="status")
    assert Filters().accepts(update) and Filters().empty and not mixed.empty


def test_catalog_filtered(catalog):
    assert catalog.filtered(None, Filters()) is None
    assert catalog.filtered({PRINTER}, Filters()) == {PRINTER}
    assert catalog.filtered(None, Filters(type="case")) == {UPDATE, VPN}
    assert catalog.filtered({UPDATE, PRINTER}, Filters(type="case")) == {UPDATE}
    assert catalog.filtered(None, Filters(product="windows server")) == {UPDATE, PRINTER}
    assert catalog.filtered(set(), Filters(type="case")) == set()


def test_docinfo_facet_values():
    doc = DocInfo(rowid=1, id="a.md", title="A", type="case", language="en", tags=("x", "y"), meta={"product": "P", "status": None})
    assert doc.facet_values("tags") == ("x", "y")
    assert doc.facet_values("product") == ("P",)
    assert doc.facet_values("status") == ()
    assert doc.facet_values("type") == ("case",)


# --- coverage, codes and filter values -----------------------------------------------------------------


def test_coverage_weighs_rare_words_more_and_unknown_words_count_against(lexical):
    words = parse_query("spooler queue zzqxv").words
    coverage = lexical.coverage(words, [PRINTER, NETWORK, VPN])
    assert coverage[PRINTER] > coverage[NETWORK] > coverage[VPN] == 0.0  # printer has both words, network only "spooler"
    assert coverage[PRINTER] < 1.0  # "zzqxv" is in no document and counts against every one
    assert lexical.coverage(parse_query("spooler queue").words, [PRINTER])[PRINTER] == pytest.approx(1.0)
    assert lexical.coverage((), [PRINTER]) == {PRINTER: 0.0}


def test_catalog_knows_the_codes_of_the_index(catalog):
    assert "0x8024402c" in catalog.codes and "kb5005565" in catalog.codes


def test_unknown_filter_values_name_the_values_there_are(catalog):
    assert catalog.unknown_values(Filters(language=("pt",), tags=("vpn",), product="windows server", status="open")) == []
    unknown = {(name, value): known for name, value, known in
               catalog.unknown_values(Filters(language=("xx",), tags=("vpn", "nope", "zilch"), product="Lotus", status="bogus"))}
    assert unknown[("language", "xx")] == ["en", "pt"]
    assert unknown[("tags", "nope")] == unknown[("tags", "zilch")] == ["atualização", "network", "printing", "vpn", "windows"]
    assert unknown[("product", "Lotus")] == ["GlobalProtect", "Windows Server"]
    assert {"open", "resolved", "workaround"} <= set(unknown[("status", "bogus")])


# --- search log and feedback ---------------------------------------------------------------------------


def test_search_log_written_by_an_older_version_gains_the_new_columns(tmp_path):
    import sqlite3

    from kb.store.searches import SearchLog, SearchRow

    path = tmp_path / "searches.sqlite"
    old = sqlite3.connect(path)
    old.executescript("CREATE TABLE searches (id INTEGER PRIMARY KEY, at TEXT NOT NULL, query TEXT NOT NULL,"
                      " results INTEGER NOT NULL, top_score REAL, took_ms REAL NOT NULL);"
                      "INSERT INTO searches(at, query, results, top_score, took_ms) VALUES ('2026-01-01T00:00:00+00:00', 'ups dying', 3, 0.3, 5);")
    old.commit()
    old.close()
    log = SearchLog(path)
    log.record("backup slow", 0, None, 4.0, filters={"status": "open"}, unfiltered=12, best_match=None, answered=False)
    assert log.rows() == [SearchRow("2026-01-01T00:00:00+00:00", "ups dying", 3, 0.3),
                          SearchRow(log.rows()[1].at, "backup slow", 0, None, 12, None, False)]


def test_feedback_keeps_the_verdict_and_refuses_unknown_ones(tmp_path):
    from kb.store.searches import FeedbackRow, SearchLog

    log = SearchLog(tmp_path / "searches.sqlite")
    log.record_feedback("vpn drops", VPN, "not-helpful", "Resolution > Step 2", 12)
    log.record_feedback("Ошибка при подключении", UPDATE, "solved")
    with pytest.raises(ValueError, match="verdict must be one of"):
        log.record_feedback("x", VPN, "meh")
    rows = log.feedback()
    assert [r[1:] for r in map(astuple_of, rows)] == [("vpn drops", VPN, "Resolution > Step 2", 12, "not-helpful"),
                                                       ("Ошибка при подключении", UPDATE, None, None, "solved")]
    assert all(isinstance(r, FeedbackRow) for r in rows) and log.feedback(since="2999") == []


def astuple_of(row) -> tuple:
    from dataclasses import astuple

    return astuple(row)


def test_a_query_of_only_common_words_covers_little(lexical):
    stop_words = parse_query("the").words  # a stop word alone is kept as the query's only word
    assert set(lexical.coverage(stop_words, [PRINTER, NETWORK, UPDATE, VPN]).values()) == {0.0}
    # "access" is in 3 of 4 documents: it weighs less than a word in half of them, so it covers only part
    assert 0 < lexical.coverage(("access",), [NETWORK])[NETWORK] < 1
    assert lexical.coverage(("spooler",), [NETWORK])[NETWORK] == pytest.approx(1.0)  # in 2 of 4
    assert lexical.coverage(("___",), [PRINTER]) == {PRINTER: 0.0}  # no token: no evidence either way


# --- the stem column: inflected forms in the document's language --------------------------------


def test_an_inflected_query_word_matches_through_the_stem_column_only(reader, rowid):
    """"falhas" is not in the Portuguese case ("falha"), "ошибки" not in any ("ошибка"): exact BM25
    misses both, the stem column finds them, in the document's own language."""
    by_rowid = {r: d for d, r in rowid.items()}
    lexical = LexicalRetriever(reader, Catalog.load(reader), (5.0, 3.0, 1.0), (1.5, 1.0), stem_field=1.0)
    assert rank_documents(reader, ["falhas"], (5, 3, 1), 10) == []
    assert [by_rowid[r] for r, _ in rank_documents(reader, [], (5, 3, 1), 10, lexical.stems(["falhas"]), 1.0)] == [UPDATE]
    assert rank_documents(reader, ["ошибки"], (5, 3, 1), 10) == []
    found = {by_rowid[r] for r, _ in rank_documents(reader, [], (5, 3, 1), 10, lexical.stems(["ошибки"]), 1.0)}
    assert UPDATE in found  # its symptom says "Ошибка при подключении"
    assert [d for d, _ in lexical.rank(parse_query("falhas atualizacao"), 10)][0] == UPDATE


def test_codes_are_not_stemmed_and_the_stem_column_can_be_switched_off(reader, catalog):
    lexical = LexicalRetriever(reader, catalog, (5.0, 3.0, 1.0), (1.5, 1.0), stem_field=1.0)
    assert lexical.stems(["0x8024402C", "KB5005565"]) == ()
    assert LexicalRetriever(reader, catalog, (5.0, 3.0, 1.0), (1.5, 1.0), stem_field=0.0).stems(["falhas"]) == ()
    assert lexical.coverage(["falhas"], [UPDATE, PRINTER]) == {UPDATE: 1.0, PRINTER: 0.0}
