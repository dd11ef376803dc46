"""Results layer (kb.snippets, kb.results, kb.gaps): snippets and highlights, hits, case summaries, facets, gaps."""

from __future__ import annotations

import pytest

from kb.catalog import DocInfo, Filters
from kb.chunking import chunk_document
from kb.documents import parse_document
from kb.gaps import find_gaps
from kb.store.searches import FeedbackRow, SearchRow
from kb.query import parse_query
from kb.results import Ranked, case_summary, count_facets, first_lines, make_hit
from kb.snippets import for_showing, make_snippet, matched_spans, passage_to_show
from kb.store.index_db import PassageRow
from kb.text import tokens


def doc_info(**fields) -> DocInfo:
    """A DocInfo from keyword fields (its rowid does not matter here)."""
    return DocInfo(rowid=0, **fields)


def highlighted(snippet) -> list[str]:
    return [snippet.text[s:e] for s, e in snippet.highlights]


# --- matched_spans / make_snippet --------------------------------------------------------------------

BUILD = "Build 10.0.17763 is affected. Version 10 of the tool is not."


def test_dotted_version_highlights_only_the_whole_version():
    snippet = make_snippet(BUILD, parse_query("10.0.17763").terms)
    assert snippet.text == BUILD
    assert highlighted(snippet) == ["10.0.17763"]   # not the lone "10" later on
    assert snippet.matched == ["10 0 17763"]


def test_lone_number_highlights_every_token_bm25_matches():
    # BM25 matches the token "10" inside 10.0.17763 too, so both are marked
    assert highlighted(make_snippet(BUILD, parse_query("10").terms)) == ["10", "10"]


def test_longest_term_at_a_token_wins():
    snippet = make_snippet(BUILD, parse_query("10 10.0.17763").terms)
    assert highlighted(snippet) == ["10.0.17763", "10"]
    assert snippet.matched == ["10", "10 0 17763"]


def test_case_and_diacritics_are_folded_but_tokens_must_match_whole():
    text = "A AÇÃO falhou; ações e acaoX não contam. Atualização concluída."
    snippet = make_snippet(text, parse_query("acao atualizacao").terms)
    assert highlighted(snippet) == ["AÇÃO", "Atualização"]
    assert snippet.matched == ["acao", "atualizacao"]


def test_matched_spans_in_text_order_and_not_overlapping():
    text = "KRB_AP_ERR_SKEW then Wi-Fi then krb ap err skew"
    spans = matched_spans(text, parse_query("KRB_AP_ERR_SKEW Wi-Fi").terms)
    assert [text[s:e] for s, e, _ in spans] == ["KRB_AP_ERR_SKEW", "Wi-Fi", "krb ap err skew"]
    assert all(e1 <= s2 for (_, e1, _), (s2, _, _) in zip(spans, spans[1:]))
    assert matched_spans(text, ()) == []


def test_short_text_without_matches_is_returned_whole():
    snippet = make_snippet("Restart the spooler.", parse_query("printer").terms)
    assert (snippet.text, snippet.highlights, snippet.matched) == ("Restart the spooler.", [], [])


def test_long_text_without_matches_starts_at_the_beginning():
    text = "lorem ipsum dolor sit amet " * 40
    snippet = make_snippet(text, parse_query("printer").terms, width=100)
    assert not snippet.text.startswith("…")
    assert snippet.text.endswith(" …")
    assert text.startswith(snippet.text.removesuffix(" …"))
    assert len(snippet.text) <= 100 + 2


FILLER = "lorem ipsum dolor sit amet " * 40
LONG = "access " + FILLER + "the error 0x80070005 means access denied here " + FILLER


def test_window_is_centred_on_the_densest_matches():
    terms = parse_query("access denied 0x80070005").terms
    snippet = make_snippet(LONG, terms, width=300)
    assert snippet.text.startswith("… ") and snippet.text.endswith(" …")
    assert snippet.matched == ["0x80070005", "access", "denied"]   # the cluster, not the lone first "access"
    assert highlighted(snippet) == ["0x80070005", "access", "denied"]
    # some context is shown before the cluster, but the cluster is near the start
    assert 20 <= snippet.highlights[0][0] <= 100
    assert len(snippet.text) <= 300 + 4


def test_window_starts_at_a_word_boundary():
    snippet = make_snippet(LONG, parse_query("access denied 0x80070005").terms, width=300)
    body = snippet.text.removeprefix("… ").removesuffix(" …")
    start = LONG.index(body)
    assert start > 0 and LONG[start - 1] == " " and body[0] != " "
    end = start + len(body)
    assert LONG[end] == " "  # and ends at one


@pytest.mark.parametrize("filler", ["alpha  beta gamma  delta ", "Ação  não  falhou ", "a\nb  c   d "])
@pytest.mark.parametrize("width", [60, 300])
def test_highlight_offsets_point_into_the_returned_snippet(filler, width):
    terms = parse_query("access denied 0x80070005").terms
    background = filler * 40
    for pad in range(0, 600, 7):
        text = background[:pad] + " access denied 0x80070005 " + background
        snippet = make_snippet(text, terms, width=width)
        assert snippet.highlights, (pad, snippet.text)
        for s, e in snippet.highlights:
            assert tokens(snippet.text[s:e]) in terms, (pad, snippet.text, s, e)
        assert snippet.text.removeprefix("… ").removesuffix(" …") in text


# --- passage_to_show / for_showing -------------------------------------------------------------------


def rows(source: str, doc_id: str = "cases/a.md") -> tuple[list[PassageRow], dict]:
    """The passages chunking makes of `source`, as stored rows, and the document's front matter."""
    doc = parse_document(source, doc_id)
    return [PassageRow(i, doc_id, p.heading, p.text, p.line) for i, p in enumerate(chunk_document(doc))], doc.meta


@pytest.mark.parametrize("heading", [
    "References", "See also", "Links", "Related", "Referências", "Veja também", "Ссылки", "См. также",
    "Referencias", "Véase también", "Referințe", "Vezi și", "5. References:",
])
def test_a_references_heading_in_any_language_is_shown_only_when_nothing_else_is(heading: str):
    passages, meta = rows(f"## Symptoms\nThe backup fails with access denied.\n\n## {heading}\n- [Backup fails](../a.md)\n")
    assert [p.heading for p in passages] == ["Symptoms", heading]
    assert not for_showing(heading, passages[1].text, meta)
    assert passage_to_show(reversed(passages), meta) == passages[0]  # the references ranked first


def test_a_references_section_under_another_heading_is_one_too():
    passages, meta = rows("## Resolution\nRestart the service.\n\n### See also\n- [Spooler](b.md)\n")
    assert passages[1].heading == "Resolution > See also" and not for_showing(passages[1].heading, passages[1].text, meta)


@pytest.mark.parametrize("heading", ["Resolution", "Related symptoms", "Links between sites", "More information",
                                     "Дополнительная информация", "Referencias cruzadas del registro"])
def test_content_headings_that_mention_links_are_for_showing(heading: str):
    assert for_showing(heading, "Restart the service and clear the queue.", {})


def test_a_list_of_links_is_shown_only_when_nothing_else_is():
    links = ("Docs: https://learn.microsoft.com/troubleshoot/windows-server/backup\n"
             "https://example.org/kb/0x80070005\n"
             "<www.example.com/vss-guia> (guía en español)")
    passages, meta = rows(f"## Notas\n{links.replace(chr(10), chr(10) * 2)}\n\n## Solución\nReiniciar el servicio VSS.\n")
    assert passages[0].text == links
    assert not for_showing("Notas", links, meta)
    assert passage_to_show(passages, meta) == passages[1]
    # one instruction with a URL, or links among more prose, are text to show
    assert for_showing("Resolution", "Install the update from https://catalog.update.microsoft.com and restart.", {})
    assert for_showing("Notes", "a\nb\nc\nhttps://x.org/1\nhttps://x.org/2", {})


NAS_CASE = """---
type: case
description: Nightly backups to the NAS fail with access denied.
symptoms:
  - Jobs to the NAS fail with 0x80070005
  - The service account is locked out every morning and again soon after it is unlocked, because every job and every retry still signs in with the old password
error_codes: ["0x80070005"]
resolution: Updated the stored credential.
---
## Summary
The stored credential of the backup software still had the old password.

## Resolution
Updated the stored credential.
"""


def test_the_summary_built_from_front_matter_is_shown_only_when_nothing_else_is():
    passages, meta = rows(NAS_CASE)
    generated, written, resolution = passages
    assert generated.heading == written.heading == "Summary" and "Symptoms: Jobs to the NAS fail" in generated.text
    assert not for_showing(generated.heading, generated.text, meta)
    assert for_showing(written.heading, written.text, meta)  # an author's own Summary section is body text
    assert passage_to_show([generated, resolution], meta) == resolution
    # a summary split into sentences and word windows: every piece is still the generated summary
    pieces = [p for p in chunk_document(parse_document(NAS_CASE, "cases/a.md"), max_tokens=24) if p.line == 1]
    assert len(pieces) == 3 and not any(for_showing(p.heading, p.text, meta) for p in pieces)


def test_a_document_with_nothing_but_references_still_gets_a_snippet():
    passages, meta = rows("## Referințe\n- [Certificat expirat](../articles/cert.md)\n")
    assert passage_to_show(passages, meta) == passages[0]
    assert passage_to_show([], meta) is None


def test_passage_to_show_reads_only_as_far_as_it_needs():
    passages, meta = rows("## Symptoms\nThe spooler stops.\n\n## See also\n- [Spooler](b.md)\n")

    def best_first():
        yield passages[0]
        raise AssertionError("read past the first passage fit to show")

    assert passage_to_show(best_first(), meta) == passages[0]


# --- make_hit ----------------------------------------------------------------------------------------

CASE_META = {
    "status": "resolved",
    "product": "Windows Server",
    "version": 2019,
    "symptoms": [
        "Erro 0x80070005 ao instalar",
        "A atualização falha com 0x80070005",
        "Lentidão geral",
    ],
    "error_codes": ["0x80070005", 80070005, None, ""],
    "root_cause": "Permissões erradas na pasta SoftwareDistribution",
}
CASE = doc_info(id="cases/falha.md", title="Falha na atualização", type="case", language="pt",
                tags=("windows", "atualização"), meta=CASE_META)
PASSAGE = PassageRow(7, "cases/falha.md", "Symptoms", "A atualização falha com o erro 0x80070005 ao instalar KB5005565.", 12)
RESOLUTION = PassageRow(9, "cases/falha.md", "Resolution",
                        "Conceder permissões à pasta.\nReiniciar o serviço wuauserv.\nTerceira linha.", 20)


def test_make_hit_carries_document_passage_scores_and_explanation():
    ranked = Ranked("cases/falha.md", 0.87654321, {"dense": 2, "lexical": 1}, passage_id=7, similarity=0.612345)
    q = parse_query("atualizacao falhou 0x80070005")
    hit = make_hit(CASE, ranked, PASSAGE, q, RESOLUTION)
    assert (hit.id, hit.title, hit.type, hit.language) == ("cases/falha.md", "Falha na atualização", "case", "pt")
    assert hit.tags == ["windows", "atualização"]
    assert hit.score == 0.876543 and hit.similarity == 0.6123
    assert (hit.heading, hit.line) == ("Symptoms", 12)
    assert hit.snippet == PASSAGE.text
    assert highlighted_hit(hit) == ["atualização", "0x80070005"]
    assert hit.explain.dense_rank == 2 and hit.explain.lexical_rank == 1
    assert hit.explain.matched_terms == ["0x80070005", "atualizacao"]  # "falhou" is not in the passage
    assert hit.explain.fused_score == hit.score
    assert hit.case is not None


def highlighted_hit(hit) -> list[str]:
    return [hit.snippet[s:e] for s, e in hit.highlights]


def test_make_hit_ranks_missing_from_a_list_are_none():
    article = doc_info(id="a.md", title="A", type="article", language="en", tags=(), meta={})
    passage = PassageRow(1, "a.md", "", "Restart the spooler service.", 3)
    hit = make_hit(article, Ranked("a.md", 0.5, {"lexical": 3}, 1, 0.2), passage, parse_query("spooler"))
    assert hit.explain.dense_rank is None and hit.explain.lexical_rank == 3
    assert hit.case is None  # only cases get a summary
    assert hit.tags == []


def test_case_summary_fields_and_best_symptom():
    summary = case_summary(CASE_META, parse_query("atualizacao falhou 0x80070005"), RESOLUTION)
    assert summary.status == "resolved" and summary.product == "Windows Server"
    assert summary.version == "2019"                       # coerced to text
    assert summary.error_codes == ["0x80070005", "80070005"]  # empty items dropped, numbers as text
    assert summary.symptoms == CASE_META["symptoms"]
    assert summary.matched_symptom == "A atualização falha com 0x80070005"  # shares 2 terms, the first only 1
    assert summary.root_cause == "Permissões erradas na pasta SoftwareDistribution"
    assert summary.resolution is None                        # missing field
    assert summary.resolution_excerpt == "Conceder permissões à pasta.\nReiniciar o serviço wuauserv."


def test_case_summary_symptom_ties_go_to_the_first_listed_and_no_overlap_is_none():
    assert case_summary(CASE_META, parse_query("0x80070005"), None).matched_symptom == "Erro 0x80070005 ao instalar"
    assert case_summary(CASE_META, parse_query("lentidao"), None).matched_symptom == "Lentidão geral"
    none = case_summary(CASE_META, parse_query("printer offline"), None)
    assert none.matched_symptom is None and none.resolution_excerpt is None


def test_case_summary_coerces_free_form_front_matter():
    summary = case_summary({"symptoms": "só um sintoma", "status": "", "product": None, "error_codes": 809,
                            "version": 2.0}, parse_query("sintoma"), None)
    assert summary.symptoms == ["só um sintoma"]
    assert summary.matched_symptom == "só um sintoma"
    assert summary.error_codes == ["809"]
    assert summary.version == "2.0"
    assert summary.status is None and summary.product is None and summary.root_cause is None
    empty = case_summary({}, parse_query("x"), None)
    assert (empty.symptoms, empty.error_codes, empty.status, empty.matched_symptom) == ([], [], None, None)


def test_first_lines():
    assert first_lines("one\ntwo\nthree") == "one\ntwo"
    assert first_lines("one\ntwo\nthree", lines=1) == "one"
    assert first_lines("short") == "short"
    long = "word " * 100
    cut = first_lines(long)
    assert cut.endswith(" …") and len(cut) <= 282
    kept = cut.removesuffix(" …")
    assert long.startswith(kept) and long[len(kept)] == " "  # cut at a word boundary
    assert len(kept) > 140
    unbroken = "x" * 400
    assert first_lines(unbroken) == "x" * 280 + " …"


# --- count_facets ------------------------------------------------------------------------------------

FACET_DOCS = [
    doc_info(id="d1", title="", type="case", language="pt", tags=("windows", "update"),
             meta={"product": "Windows Server", "status": "resolved"}),
    doc_info(id="d2", title="", type="case", language="en", tags=("vpn",),
             meta={"product": "GlobalProtect", "status": "workaround"}),
    doc_info(id="d3", title="", type="article", language="pt", tags=("windows",), meta={"product": "Windows Server"}),
    doc_info(id="d4", title="", type="article", language="en", tags=("printing", "windows"), meta={}),
    doc_info(id="d5", title="", type="case", language="pt", tags=("update",),
             meta={"product": "windows server", "status": "open"}),
]


def test_count_facets_without_filters_counts_everything():
    facets = count_facets(FACET_DOCS, Filters())
    assert facets["type"] == [("case", 3), ("article", 2)]
    assert facets["language"] == [("pt", 3), ("en", 2)]
    assert facets["tags"] == [("windows", 3), ("update", 2), ("printing", 1), ("vpn", 1)]
    assert facets["product"] == [("Windows Server", 3), ("GlobalProtect", 1)]  # folded, shown as most often spelled
    assert facets["status"] == [("open", 1), ("resolved", 1), ("workaround", 1)]


def test_count_facets_applies_every_filter_but_its_own():
    facets = count_facets(FACET_DOCS, Filters(type="case", language=("pt",)))
    assert facets["type"] == [("case", 2), ("article", 1)]    # language=pt only: d1, d3, d5
    assert facets["language"] == [("pt", 2), ("en", 1)]       # type=case only: d1, d2, d5
    assert facets["tags"] == [("update", 2), ("windows", 1)]  # both: d1, d5
    assert facets["status"] == [("open", 1), ("resolved", 1)]


def test_tag_counts_are_what_choosing_or_unchoosing_the_tag_gives():
    facets = count_facets(FACET_DOCS, Filters(tags=("windows",)))
    # d1, d3, d4 have "windows": choosing "update" too gives d1, "printing" d4; un-choosing "windows" gives all 5
    assert facets["tags"] == [("windows", 5), ("printing", 1), ("update", 1)]
    both = count_facets(FACET_DOCS, Filters(tags=("windows", "update")))
    assert dict(both["tags"]) == {"windows": 2, "update": 3}  # un-choosing one leaves the other: d1 d5 / d1 d3 d4


def test_count_facets_product_filter_is_folded():
    facets = count_facets(FACET_DOCS, Filters(product="WINDOWS SERVER"))
    assert facets["type"] == [("case", 2), ("article", 1)]    # d1, d3, d5
    assert facets["product"] == count_facets(FACET_DOCS, Filters())["product"]


# --- gaps --------------------------------------------------------------------------------------------


def legacy(rows: list[tuple]) -> list[SearchRow]:
    """Rows as a log written before match strength stored them: (at, query, results, top score)."""
    return [SearchRow(*row) for row in rows]


def test_gaps_are_searches_without_a_strong_first_result_except_filter_only_empties():
    rows = [
        SearchRow("t1", "ups keeps dying", 12, 0.62, unfiltered=12, best_match="partial", answered=False),
        SearchRow("t2", "ups keeps dying", 12, 0.71, unfiltered=12, best_match="strong", answered=True),
        SearchRow("t3", "refs backup slow", 0, None, unfiltered=20, best_match=None, answered=False),  # status=bogus emptied it
        SearchRow("t4", "0x80070005", 3, 0.30, unfiltered=3, best_match="partial", answered=True),   # contains the code
        SearchRow("t5", "zzqxv flibbertigibbet", 24, 0.12, unfiltered=24, best_match="weak", answered=False),
        SearchRow("t6", "sharepoint view threshold", 0, None, unfiltered=0, best_match=None, answered=False),
    ]
    gaps = find_gaps(rows)
    assert {g.query: g.count for g in gaps} == {"ups keeps dying": 1, "zzqxv flibbertigibbet": 1, "sharepoint view threshold": 1}
    assert next(g for g in gaps if g.query == "sharepoint view threshold").no_results == 1


def test_not_helpful_verdicts_are_gaps_and_solved_ones_are_not():
    rows = [SearchRow("t1", "vpn drops every 20 minutes", 9, 0.8, unfiltered=9, best_match="strong", answered=True)]
    feedback = [
        FeedbackRow("t2", "VPN drops every 20 minutes", "cases/vpn.md", "Resolution", 30, "not-helpful"),
        FeedbackRow("t3", "vpn drops every 20 minutes", "cases/vpn.md", None, None, "not-helpful"),
        FeedbackRow("t4", "printer offline", "articles/printer.md", None, None, "solved"),
    ]
    gaps = find_gaps(rows, feedback=feedback)
    assert len(gaps) == 1
    assert (gaps[0].count, gaps[0].not_helpful, gaps[0].unhelpful_documents) == (0, 2, {"cases/vpn.md": 2})
    assert gaps[0].last_seen == "t3"


def test_find_gaps_groups_similar_wording_and_ignores_answered_searches():
    rows = [
        ("2026-01-01T10:00:00", "ups keeps dying", 3, 0.30),
        ("2026-01-02T10:00:00", "UPS dying again", 0, None),
        ("2026-01-03T10:00:00", "printer offline", 5, 0.80),   # answered: ignored
        ("2026-01-04T10:00:00", "ups keeps dying", 2, 0.40),
        ("2026-01-05T10:00:00", "vpn drops", 0, None),
        ("2026-01-06T10:00:00", "printer jams", 4, 0.45),      # exactly the threshold: answered
    ]
    gaps = find_gaps(legacy(rows), threshold=0.45)
    assert [g.query for g in gaps] == ["ups keeps dying", "vpn drops"]
    ups, vpn = gaps
    assert (ups.count, ups.no_results, ups.best_score) == (3, 1, 0.40)
    assert ups.variants == {"ups keeps dying": 2, "UPS dying again": 1}
    assert ups.last_seen == "2026-01-04T10:00:00"
    assert (vpn.count, vpn.no_results, vpn.best_score) == (1, 1, None)


def test_find_gaps_needs_half_the_words_in_common():
    # {ups, dying} vs {ups, battery, replacement, dying, again}: 2/5 < 1/2 -> separate groups
    gaps = find_gaps(legacy([("t1", "ups dying", 0, None), ("t2", "ups battery replacement dying again", 0, None)]))
    assert len(gaps) == 2
    # folded: "Atualização falhou" and "atualizacao FALHOU de novo" share 2 of 3 words ("de" is a stop word)
    gaps = find_gaps(legacy([("t1", "Atualização falhou", 0, None), ("t2", "atualizacao FALHOU de novo", 0, None)]))
    assert len(gaps) == 1 and gaps[0].count == 2


def test_find_gaps_threshold_and_results_without_score():
    rows = legacy([("t1", "disk full", 2, 0.40), ("t2", "disk full", 1, None)])
    assert find_gaps(rows, threshold=0.35)[0].count == 1       # 0.40 answers; no score is still weak
    assert find_gaps(rows, threshold=0.35)[0].best_score is None
    assert find_gaps(rows, threshold=0.5)[0].count == 2
    assert find_gaps([], threshold=0.5) == []



def test_words_sharing_a_query_stem_are_marked_in_the_documents_language():
    from kb.languages import query_stems
    from kb.snippets import make_snippet

    text = "A atualização falha no servidor; as falhas começaram ontem. Ошибка при входе."
    terms = (("falhas",),)
    exact = make_snippet(text, terms)
    assert [text[s:e] for s, e in exact.highlights] == ["falhas"]
    stemmed = make_snippet(text, terms, stems=frozenset(query_stems(["falhas", "ошибки"])), language="pt")
    assert [text[s:e] for s, e in stemmed.highlights] == ["falha", "falhas", "Ошибка"]


def test_a_ranked_copy_changes_only_what_it_is_given():
    from dataclasses import replace

    first = Ranked("a.md", 0.5, {"dense": 1}, cosine=0.8)
    changed = first.but(coverage=0.25, match="strong")
    assert changed == replace(first, coverage=0.25, match="strong") and first.coverage == 0.0 and first.match is None
    with pytest.raises(TypeError, match="no field"):
        first.but(converage=0.25)
