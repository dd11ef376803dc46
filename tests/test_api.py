"""API contract through FastAPI's TestClient, over the project's real articles."""

from __future__ import annotations

from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from kb.config import Settings
from kb.embedding import Embedder
from kb.indexer import build_index

REFS_CASE = "cases/refs-fragmentation-backup-cpu-ram.md"


@pytest.fixture(scope="module")
def client(kb_settings: Settings) -> TestClient:
    with TestClient(create_app(kb_settings)) as c:
        yield c


def test_search_returns_ranked_results_with_documented_fields(client: TestClient):
    r = client.get("/api/search", params={"q": "refs fragmentation backup server high cpu memory", "limit": 3})
    assert r.status_code == 200
    body = r.json()
    assert body["query"] == "refs fragmentation backup server high cpu memory" and body["limit"] == 3
    assert len(body["results"]) == 3 and body["total"] >= 3 and body["offset"] == 0
    first = body["results"][0]
    assert first["id"] == REFS_CASE
    assert first["match"] == "strong" and body["best_match"] == "strong" and 0.5 < first["probability"] <= 1
    assert first["type"] == "case" and first["url"] == f"/documents/{REFS_CASE}"
    assert first["case"]["status"] == "resolved" and first["case"]["resolution"]
    assert first["explain"] is None
    start, end = first["highlights"][0]
    assert first["snippet"][start:end]
    scores = [h["score"] for h in body["results"]]
    assert scores == sorted(scores, reverse=True)


def test_explain_and_filters(client: TestClient):
    body = client.get("/api/search", params={"q": "backup", "type": "article", "explain": "true"}).json()
    assert body["results"] and all(h["type"] == "article" for h in body["results"])
    assert all(h["explain"]["fused_score"] == h["score"] for h in body["results"])
    assert "backup" in body["results"][0]["explain"]["matched_terms"]
    tagged = client.get("/api/search", params={"q": "server", "tag": "refs"}).json()["results"]
    assert tagged and all("refs" in h["tags"] for h in tagged)


@pytest.mark.parametrize(
    "params",
    [{"q": ""}, {"q": "   "}, {"q": "x" * 1001}, {"q": "ok", "k": 0}, {"q": "ok", "limit": 101}, {"q": "ok", "offset": -1},
     {"q": "ok", "type": "faq"}, {}],
)
def test_bad_search_input_is_a_4xx_with_json_body(client: TestClient, params: dict):
    r = client.get("/api/search", params=params)
    assert r.status_code == 422
    assert "detail" in r.json()


def test_document_endpoint_renders_safe_html(client: TestClient):
    r = client.get(f"/api/documents/{REFS_CASE}")
    assert r.status_code == 200
    doc = r.json()
    assert doc["type"] == "case" and doc["meta"]["status"] == "resolved"
    assert '<h2 id="root-cause">Root cause</h2>' in doc["html"]  # headings carry anchors
    assert client.get("/api/documents/cases/nope.md").status_code == 404
    assert client.get("/api/documents/cases/../../etc/passwd").status_code == 404
    escaping = client.get("/api/documents/cases/%2E%2E/%2E%2E/pyproject.toml")
    assert escaping.status_code == 404 and "without '..'" in escaping.json()["detail"]


def test_api_document_id_in_another_case_or_without_md_redirects_to_its_own(client: TestClient):
    moved = client.get("/api/documents/CASES/Refs-Fragmentation-Backup-CPU-RAM", follow_redirects=False)
    assert moved.status_code == 308 and moved.headers["location"] == f"/api/documents/{REFS_CASE}"
    similar = client.get("/api/documents/Cases/refs-fragmentation-backup-cpu-ram.MD/similar", params={"k": 2}, follow_redirects=False)
    assert similar.status_code == 308 and similar.headers["location"] == f"/api/documents/{REFS_CASE}/similar?k=2"
    assert client.get("/api/documents/CASES/Refs-Fragmentation-Backup-CPU-RAM").json()["id"] == REFS_CASE
    assert client.get("/api/documents/cases/refs-fragmentation").status_code == 404
    assert client.get("/api/documents/CASES/%2E%2E/cases/refs-fragmentation-backup-cpu-ram").status_code == 404


def test_document_page_id_in_another_case_redirects_keeping_the_query(client: TestClient):
    page = client.get("/documents/CASES/Refs-Fragmentation-Backup-CPU-RAM", params={"q": "refs cpu"}, follow_redirects=False)
    assert page.status_code == 308 and page.headers["location"] == f"/documents/{REFS_CASE}?q=refs+cpu"
    assert client.get("/documents/cases/no-such-case", headers={"accept": "text/html"}).status_code == 404


def test_colliding_ids_are_not_indexed_and_a_redirect_quotes_the_id(settings: Settings, embedder: Embedder):
    """`Dup.md` and `dup.md` are refused by kb index as kb check reports them (neither has an address
    of its own; the resolver's ambiguous case is a fast test), and a non-ASCII id redirects quoted."""
    for name in ("articles/Dup.md", "articles/dup.md", "articles/Ошибка-печати.md"):
        (settings.articles / name).write_text(f"# {name}\n\nThe print spooler stops after a driver update.\n", encoding="utf-8")
    errors = build_index(settings, embedder, progress=False).errors
    assert sorted(e.path for e in errors) == ["articles/Dup.md", "articles/dup.md"] and all("duplicate id" in str(e) for e in errors)
    with TestClient(create_app(settings)) as c:
        assert c.get("/api/documents/articles/DUP.md").status_code == 404
        assert c.get("/api/documents/articles/dup").status_code == 404
        assert c.get("/api/documents/articles/Dup.md").status_code == 404
        moved = c.get("/api/documents/ARTICLES/ошибка-печати", follow_redirects=False)
        assert moved.status_code == 308 and moved.headers["location"] == "/api/documents/" + quote("articles/Ошибка-печати.md")


def test_pages_and_health(client: TestClient):
    page = client.get("/", params={"q": "UPS battery shuts the servers down"})
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert "Content-Security-Policy" in page.headers and "script-src 'self'" in page.headers["Content-Security-Policy"]
    assert '<ol class="results"' in page.text and "<mark>" in page.text
    doc_page = client.get(f"/documents/{REFS_CASE}")
    assert doc_page.status_code == 200 and "Root cause" in doc_page.text
    health = client.get("/healthz").json()
    assert health["status"] == "ok" and health["documents"] >= 20
    assert "/api/search" in client.get("/openapi.json").json()["paths"]


def test_raw_html_in_markdown_is_rendered_inert():
    from api.rendering import render_markdown

    html = render_markdown(
        '<script>alert(1)</script>\n\n[x](javascript:alert(1)) <img src=x onerror=alert(1)>\n\n[vss](../articles/vss.md)',
        "cases/a.md",
    )
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert 'href="javascript:' not in html
    assert "<img" not in html
    assert 'href="/documents/articles/vss.md"' in html


def languages_of(client: TestClient, q: str, **params) -> dict:
    """The language facet of a search: code -> results in that language."""
    body = client.get("/api/search", params={"q": q, "limit": 100, **params}).json()
    return {f["value"]: f["count"] for f in body["facets"]["language"]}


def test_repeated_language_keeps_results_in_any_of_them(client: TestClient):
    counts = languages_of(client, "backup server error")
    assert {"en", "pt", "ru"} <= set(counts)
    r = client.get("/api/search", params=[("q", "backup server error"), ("language", "pt"), ("language", "ru"), ("limit", 100)])
    assert r.status_code == 200
    body = r.json()
    assert body["filters"]["language"] == ["pt", "ru"]  # the applied filters echo the list
    assert body["results"] and {h["language"] for h in body["results"]} <= {"pt", "ru"}
    assert body["total"] == counts["pt"] + counts["ru"]  # each language's facet count is what adding it adds
    assert languages_of(client, "backup server error", language=["pt", "ru"]) == counts  # the facet ignores its own filter


def test_a_single_language_works_as_before(client: TestClient):
    counts = languages_of(client, "backup server error")
    body = client.get("/api/search", params={"q": "backup server error", "language": "pt", "limit": 100}).json()
    assert body["filters"]["language"] == ["pt"] and body["total"] == counts["pt"]
    assert body["results"] and all(h["language"] == "pt" for h in body["results"])
    assert client.get("/api/search", params={"q": "backup", "language": ""}).json()["filters"]["language"] == []


def test_each_unknown_language_is_a_422_naming_the_known_ones(client: TestClient):
    r = client.get("/api/search", params=[("q", "backup"), ("language", "pt"), ("language", "xx")])
    assert r.status_code == 422
    [problem] = r.json()["detail"]
    assert problem["loc"] == ["query", "language"] and problem["input"] == "xx" and "pt" in problem["msg"]
    assert client.get("/api/search", params={"q": "backup", "language": "x" * 21}).status_code == 422  # each code bounded
    page = client.get("/", params=[("q", "backup"), ("language", "en"), ("language", "xx")])
    assert page.status_code == 422 and "no document has language &#39;xx&#39;" in page.text and 'role="alert"' in page.text


def test_language_is_documented_as_repeatable(client: TestClient):
    [param] = [p for p in client.get("/openapi.json").json()["paths"]["/api/search"]["get"]["parameters"] if p["name"] == "language"]
    assert param["schema"]["type"] == "array" and param["schema"]["items"]["maxLength"] == 20
    assert "language=pt&language=en" in param["description"]


def test_the_page_shows_languages_by_name_and_filters_by_several(client: TestClient):
    page = client.get("/", params=[("q", "backup server error"), ("language", "pt"), ("language", "ru")]).text
    assert '<span lang="pt">Português</span> · pt' in page and '<span lang="ru">Русский</span> · ru' in page
    assert 'data-facet="language" data-value="en"' in page
    assert "language=pt&amp;language=ru&amp;language=en" in page  # the facet link adds a language...
    assert 'href="/?q=backup+server+error&amp;language=ru" data-facet="language" data-value="pt"' in page  # ...or removes it
    assert 'value="pt" form="search-form" checked' in page and 'value="en" form="search-form">' in page  # "My languages"
    assert "My languages: <span class=\"chosen\">pt, ru</span>" in page
    document = client.get(f"/documents/{REFS_CASE}").text
    assert '<span class="lang"><span class="visually-hidden">Language: </span><span lang="en">English</span> · en</span>' in document
