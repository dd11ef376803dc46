"""Answers an engineer can trust, through the API and the page: match strength, the honest "no strong
match", identifiers first, totals and pages, filters that name their values, gaps and feedback."""

from __future__ import annotations

import re

import json
import shutil
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from kb.config import Settings
from kb.store.searches import SearchLog

ROOT = Path(__file__).resolve().parent.parent
REFS_CASE = "cases/refs-fragmentation-backup-cpu-ram.md"


def app_with_empty_log(settings: Settings, folder: Path):
    index = folder / "index"
    shutil.copytree(settings.index, index, symlinks=True, ignore=shutil.ignore_patterns("searches.sqlite*"))
    return create_app(settings.with_(index=index))


@pytest.fixture(scope="module")
def client(kb_settings: Settings, tmp_path_factory) -> TestClient:
    """A server over the real articles, shared by the tests that only read."""
    with TestClient(app_with_empty_log(kb_settings, tmp_path_factory.mktemp("trust"))) as c:
        yield c


@pytest.fixture()
def fresh(client: TestClient, tmp_path: Path) -> TestClient:
    """The same server with a search log that starts empty, for the tests that read the log back."""
    shared = client.app.state.search_log
    client.app.state.search_log = SearchLog(tmp_path / "searches.sqlite")
    yield client
    client.app.state.search_log.close()
    client.app.state.search_log = shared


def search(client: TestClient, q: str, **params) -> dict:
    r = client.get("/api/search", params={"q": q, **params})
    assert r.status_code == 200, r.text
    return r.json()


def test_out_of_corpus_queries_are_told_there_is_no_strong_match(client: TestClient):
    """Nine in ten of the written out-of-corpus queries (gibberish, other products, absent codes) get no
    strong or partial result; the page then says so."""
    queries = [json.loads(line)["query"] for line in (ROOT / "bench" / "queries" / "out_of_corpus.jsonl").read_text().splitlines()]
    assert len(queries) >= 50
    told = [q for q in queries if not any(r["match"] in ("strong", "partial") for r in search(client, q, limit=100)["results"])]
    assert len(told) >= 0.9 * len(queries), sorted(set(queries) - set(told))
    page = client.get("/", params={"q": "zzqxv flibbertigibbet"}).text
    assert "No strong match for “zzqxv flibbertigibbet”" in page and "Less related (" in page and "/new-case?q=" in page


@pytest.mark.parametrize("q", ["the", "is it", "a and the"])
def test_a_query_of_common_words_is_no_strong_match(client: TestClient, q: str):
    assert search(client, q)["best_match"] == "weak"


def test_known_symptoms_get_a_strong_first_result(client: TestClient):
    for q, doc in [("refs fragmentation backup server high cpu memory", REFS_CASE),
                   ("outlook keeps asking for password", "cases/outlook-password-prompts-after-exchange-online-migration.md"),
                   ("job fails with 0x80070005", "articles/backup-access-denied-0x80070005.md")]:
        first = search(client, q)["results"][0]
        assert (first["id"], first["match"]) == (doc, "strong"), q
    page = client.get("/", params={"q": "refs fragmentation backup server high cpu memory"}).text
    assert "No strong match" not in page and "strong match</span>" in page


def test_code_group_and_did_you_mean(client: TestClient):
    body = search(client, "0x80070005")
    assert body["identifiers"] == [{"identifier": "0x80070005", "documents": 3, "suggestions": []}]
    assert [bool(r["identifiers"]) for r in body["results"][:4]] == [True, True, True, False]
    missed = search(client, "0x8007005")
    assert missed["identifiers"] == [{"identifier": "0x8007005", "documents": 0, "suggestions": ["0x80070005"]}]
    page = client.get("/", params={"q": "0x8007005"}).text
    assert "Did you mean" in page and 'href="/?q=0x80070005"' in page
    assert "3 documents contain <code>0x80070005</code>" in client.get("/", params={"q": "0x80070005"}).text


def test_paging_through_the_api(client: TestClient):
    first = search(client, "backup fails", limit=5)
    seen = [r["id"] for r in first["results"]]
    for offset in range(5, first["total"], 5):
        page = search(client, "backup fails", limit=5, offset=offset)
        assert page["total"] == first["total"] and page["offset"] == offset
        seen += [r["id"] for r in page["results"]]
    assert len(seen) == len(set(seen)) == first["total"]
    assert sum(first["matches"].values()) == first["total"]
    assert search(client, "backup fails", k=3)["limit"] == 3  # the old parameter name still works


def test_facet_counts_are_what_a_click_shows(client: TestClient):
    body = search(client, "backup fails")
    for name, key in (("type", "type"), ("status", "status"), ("language", "language"), ("tags", "tag"), ("product", "product")):
        for facet in body["facets"][name]:
            assert search(client, "backup fails", **{key: facet["value"]})["total"] == facet["count"], (name, facet)


@pytest.mark.parametrize("params, named", [
    ({"status": "bogus"}, "resolved"), ({"language": "xx"}, "pt"), ({"tag": "no-such-tag"}, "backup"),
    ({"product": "Lotus Notes"}, "Windows Server"),
])
def test_unknown_filter_values_are_a_422_naming_the_allowed_values(client: TestClient, params: dict, named: str):
    r = client.get("/api/search", params={"q": "backup", **params})
    assert r.status_code == 422 and named in json.dumps(r.json()["detail"])
    page = client.get("/", params={"q": "backup", **params})
    assert page.status_code == 422 and named in page.text and 'role="alert"' in page.text


def test_gaps_count_weak_searches_not_filter_empties_nor_code_hits(fresh: TestClient):
    client = fresh
    search(client, "zzqxv flibbertigibbet")                            # nothing answers it: a gap
    search(client, "refs fragmentation backup server high cpu memory")  # strong: answered
    search(client, "0x80070005")                                        # contains the code: answered
    emptied = search(client, "refs fragmentation backup server", status="open")  # a status no case has yet
    assert emptied["total"] == 0                                        # only the filters emptied it: not a gap
    gaps = client.get("/api/gaps").json()["gaps"]
    assert [g["query"] for g in gaps] == ["zzqxv flibbertigibbet"]
    assert client.get("/api/gaps", params={"since": "2999-01-01"}).json()["gaps"] == []
    assert client.get("/api/gaps", params={"since": "yesterday"}).status_code == 422


def test_feedback_round_trips_and_not_helpful_shows_in_gaps(fresh: TestClient):
    client = fresh
    verdict = {"query": "backup server slow on refs", "document": REFS_CASE, "verdict": "not-helpful",
               "heading": "Resolution", "line": 40}
    assert client.post("/api/feedback", json=verdict).status_code == 201
    assert client.post("/api/feedback", json={**verdict, "verdict": "solved", "query": "outlook password"}).status_code == 201
    assert client.post("/api/feedback", json={**verdict, "document": "cases/nope.md"}).status_code == 404
    assert client.post("/api/feedback", json={**verdict, "verdict": "meh"}).status_code == 422
    stored = client.get("/api/feedback").json()
    assert [(f["query"], f["doc_id"], f["verdict"], f["heading"], f["line"]) for f in stored] == [
        ("backup server slow on refs", REFS_CASE, "not-helpful", "Resolution", 40),
        ("outlook password", REFS_CASE, "solved", "Resolution", 40)]
    gaps = client.get("/api/gaps").json()["gaps"]
    assert [(g["query"], g["not_helpful"], g["unhelpful_documents"]) for g in gaps] == [
        ("backup server slow on refs", 1, {REFS_CASE: 1})]
    # the page's form works without JavaScript: it records the verdict and returns to the results
    form = client.post("/feedback", data={"query": "ups dying", "document": REFS_CASE, "verdict": "solved",
                                          "back": "/?q=ups+dying"}, follow_redirects=False)
    assert form.status_code == 303 and form.headers["location"] == "/?q=ups+dying&thanks=solved"
    offsite = client.post("/feedback", data={"query": "x", "document": REFS_CASE, "verdict": "solved",
                                             "back": "https://evil.example/"}, follow_redirects=False)
    assert offsite.headers["location"] == "/?thanks=solved"
    assert len(client.get("/api/feedback").json()) == 4


def test_new_case_page_offers_the_template_titled_with_the_query(client: TestClient):
    page = client.get("/new-case", params={"q": "SharePoint view threshold exceeded"})
    assert page.status_code == 200 and "kb new case &#39;SharePoint view threshold exceeded&#39;" in page.text
    quoted = client.get("/new-case", params={"q": '"access denied" $(id)'}).text
    assert "kb new case &#39;&#34;access denied&#34; $(id)&#39;" in quoted  # shell-quoted: pasting it runs nothing
    md = client.get("/new-case.md", params={"q": "SharePoint view threshold exceeded"})
    assert md.headers["content-disposition"] == 'attachment; filename="sharepoint-view-threshold-exceeded.md"'
    assert md.text.startswith("---\ntitle: SharePoint view threshold exceeded\ntype: case\n")


def test_result_links_carry_the_query_to_the_document_page_and_its_verdict_buttons(client: TestClient):
    page = client.get("/", params={"q": "outlook keeps asking for password"}).text
    link = re.search(r'href="(/documents/cases/outlook-password-prompts-after-exchange-online-migration\.md\?[^"]+)"', page).group(1)
    assert link.startswith("/documents/cases/outlook-password-prompts-after-exchange-online-migration.md?q=outlook+keeps+asking+for+password&amp;line=")
    assert link.endswith("&amp;back=%2F%3Fq%3Doutlook%2Bkeeps%2Basking%2Bfor%2Bpassword%23r1#passage")  # the way back to this result
    doc = client.get("/documents/cases/outlook-password-prompts-after-exchange-online-migration.md",
                     params={"q": "outlook keeps asking for password"}).text
    assert "Did this answer “outlook keeps asking for password”?" in doc and 'name="verdict" value="not-helpful"' in doc
    assert "Did this answer" not in client.get("/documents/cases/outlook-password-prompts-after-exchange-online-migration.md").text


def test_a_search_is_logged_once_however_it_is_paged_or_returned_to(fresh: TestClient):
    client = fresh
    client.get("/", params={"q": "zzqxv flibbertigibbet"})
    client.get("/", params={"q": "zzqxv flibbertigibbet", "offset": 10})                 # next page
    client.get("/", params={"q": "zzqxv flibbertigibbet", "thanks": "not-helpful"})      # back from a verdict
    client.get("/", params={"q": "zzqxv flibbertigibbet"}, headers={"X-Casebook-Typing": "1"})  # typed, not submitted
    client.get("/", params={"q": "zzqxv flibbertigibbet"},                             # back from a document
               headers={"Referer": "http://testserver/documents/cases/x.md?q=zzqxv"})
    search(client, "zzqxv flibbertigibbet", offset=10)                                  # the API's next page
    assert [g["count"] for g in client.get("/api/gaps").json()["gaps"]] == [1]
    total = search(client, "zzqxv flibbertigibbet")["total"]
    past = client.get("/", params={"q": "zzqxv flibbertigibbet", "offset": 500}).text
    assert "past the last of the" in past and f"offset={(total - 1) // 10 * 10}" in past  # a link to the last page


def test_empty_filter_values_are_no_filter(client: TestClient):
    assert search(client, "backup", language="", product="", tag="")["total"] == search(client, "backup")["total"] > 0


def test_a_document_opened_from_a_result_marks_the_passage_and_links_back(client: TestClient):
    case = "/documents/cases/refs-fragmentation-backup-cpu-ram.md"
    page = client.get("/", params={"q": "refs fragmentation backup server high cpu memory"}).text
    href = re.search(r'href="(' + re.escape(case) + r'\?[^"]+)"', page).group(1).replace("&amp;", "&")
    doc = client.get(href.split("#")[0]).text
    section = doc[doc.index('<section id="passage"'):]
    section = section[:section.index("</section>")]
    assert "<mark>" in section  # the query's words, marked in the passage
    assert 'class="back-to-results" href="/?q=refs+fragmentation+backup+server+high+cpu+memory#r1"' in doc
    assert 'value="refs fragmentation backup server high cpu memory"' in doc  # kept in the search box
    evil = client.get(case, params={"q": "refs", "back": "//evil.example/"}).text
    assert 'href="//evil' not in evil and 'class="back-to-results" href="/?q=refs"' in evil  # a back link leads within the site only


def test_page_errors_are_pages_and_api_errors_stay_json(client: TestClient):
    html = client.get("/documents/cases/nope.md", headers={"Accept": "text/html"})
    assert html.status_code == 404 and html.headers["content-type"].startswith("text/html")
    assert "<h1 id=\"error-title\">Not found</h1>" in html.text and 'name="q"' in html.text
    assert client.get("/no/such/page", headers={"Accept": "text/html"}).status_code == 404
    api = client.get("/api/documents/cases/nope.md", headers={"Accept": "text/html"})
    assert api.status_code == 404 and api.json()["detail"].startswith("no document")
    assert client.get("/documents/cases/nope.md").json()["detail"].startswith("no document")  # a client that asks for JSON
    icon = client.get("/favicon.ico")
    assert icon.status_code == 200 and icon.headers["content-type"].startswith("image/svg")
    docs = client.get("/docs").text
    assert "/api-docs-assets/swagger-ui-bundle.js" in docs and "cdn" not in docs
    assert client.get("/api-docs-assets/swagger-ui-bundle.js").status_code == 200
