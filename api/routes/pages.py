"""The web page: `/` (search) and `/documents/{id}` (one document), each the twin of a JSON endpoint."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlencode, urlsplit

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, PlainTextResponse

from api.dependencies import CurrentSearcher, Log, Templates, find_document, related_documents
from api.limits import PasteTurn
from api.models import AppliedFilters, SimilarResponse
from api.rendering import local_path, render_markdown
from api.routes.search import (
    MAX_LANGUAGES, MAX_OFFSET, MAX_QUERY_CHARS, MAX_TICKET_CHARS, UnknownFilter, chosen_languages, run_search,
)
from kb.catalog import Filters
from kb.paste import analyse, case_draft
from kb.query import parse_query
from kb.search import timed
from kb.scaffold import render, slug
from kb.store.searches import VERDICTS
from kb.text import fold

router = APIRouter(include_in_schema=False)
PAGE_SIZE = 10


@router.get("/", response_class=HTMLResponse)
def page_search(request: Request, searcher: CurrentSearcher, log: Log, templates: Templates, q: str = "",
                type: str | None = None, tag: list[str] = Query([]), language: list[str] = Query([]),
                product: str | None = None, status: str | None = None, offset: int = 0, thanks: str | None = None):
    query = q.strip()[:MAX_QUERY_CHARS]
    applied = AppliedFilters(type=type if type in ("article", "case") else None, tag=[t[:200] for t in tag[:10] if t.strip()],
                             language=chosen_languages([c[:20] for c in language[:MAX_LANGUAGES]]),
                             product=(product or None) and product[:200],
                             status=(status or None) and status[:40])
    offset = min(max(offset, 0), MAX_OFFSET)
    response, problems, code = None, [], 200
    if query:
        try:
            response = run_search(searcher, None if repeated_search(request) else log, query, applied, False, offset, PAGE_SIZE)
        except UnknownFilter as exc:
            problems, code = [e["msg"] for e in exc.detail], 422
    return templates.TemplateResponse(
        request, "search.html",
        {"q": query, "applied": applied, "response": response, "stats": searcher.stats(), "problems": problems,
         "languages": searcher.catalog.values("language"),
         "thanks": verdict(thanks), "here": local_url(request),
         "link": lambda **change: search_link(query, applied, **change)},
        status_code=code,
    )


@router.get("/documents/{doc_id:path}", response_class=HTMLResponse)
def page_document(request: Request, searcher: CurrentSearcher, templates: Templates, doc_id: str, q: str = "",
                  line: int | None = None, back: str = "", thanks: str | None = None):
    """One document. Opened from a result (`q`, `line` of the matched passage, `back` to the results),
    the passage's section is `#passage` and the query's words are marked."""
    doc = find_document(searcher, doc_id, request)
    query = q.strip()[:MAX_QUERY_CHARS]
    passage_line = line - doc.body_line + 1 if line is not None and line >= doc.body_line else None
    html = render_markdown(doc.body, doc.id, passage_line, parse_query(query).terms if query else ())
    return templates.TemplateResponse(request, "document.html",
                                      {"doc": doc, "html": html, "related": related_documents(searcher, doc.id, 5),
                                       "q": query, "here": local_url(request), "thanks": verdict(thanks),
                                       "back": local_path(back) or (search_link(query, AppliedFilters()) if query else "")})


@router.get("/paste", response_class=HTMLResponse)
def page_paste_form(request: Request, templates: Templates):
    """The paste mode: a box for a ticket or a log."""
    return templates.TemplateResponse(request, "paste.html", {"pasted": "", "analysis": None, "results": [], "q": "", "box": "",
                                                              "here": "/paste", "link": lambda **c: "/", "problems": []})


@router.post("/paste", response_class=HTMLResponse)
def page_paste(request: Request, searcher: CurrentSearcher, templates: Templates, _turn: PasteTurn,
               text: Annotated[str, Form(max_length=2 * MAX_TICKET_CHARS)] = "", type: Annotated[str, Form()] = ""):
    """Cases and articles that match a pasted ticket or log, with why each matched and a case draft."""
    kind = type if type in ("article", "case") else None
    problems, analysis, answer = [], None, None
    if text.strip():
        (hits, analysis), took = timed(searcher.similar, text, 10, Filters(type=kind))
        answer = SimilarResponse.of(hits, analysis, took)
    else:
        problems = ["Paste a ticket, a log or an error message first."]
    title = analysis.title if analysis else ""
    return templates.TemplateResponse(
        request, "paste.html",
        {"pasted": text, "type": kind, "analysis": analysis, "results": answer.results if answer else [],
         "took_ms": answer.took_ms if answer else 0.0, "problems": problems, "draft": answer.draft if answer else "",
         "q": title[:MAX_QUERY_CHARS] or "pasted log", "box": "", "here": "/paste",
         "link": lambda **change: search_link(title, AppliedFilters(), **change)},
        status_code=422 if problems else 200,
    )


@router.post("/paste/draft.md", response_class=PlainTextResponse)
def paste_draft(searcher: CurrentSearcher, text: Annotated[str, Form(max_length=2 * MAX_TICKET_CHARS)] = ""):
    """The case draft of a paste as a file to save under articles/cases/ (a browser sends line breaks as
    CRLF, so the form takes twice the limit; the analysis reads the first 20,000 characters)."""
    analysis = analyse(text, searcher.catalog.values("product"))
    return markdown_file(case_draft(analysis), analysis.title)


@router.get("/new-case", response_class=HTMLResponse)
def page_new_case(request: Request, templates: Templates, q: str = ""):
    """How to write down the answer a search did not find: the command and the case template, titled
    with the query. Nothing is written from the web page."""
    title = case_title(q)
    return templates.TemplateResponse(request, "new_case.html", {"q": q, "title": title, "template": render("case", title)})


@router.get("/new-case.md", response_class=PlainTextResponse)
def new_case_markdown(q: str = ""):
    """The same template as a file to save under articles/cases/."""
    title = case_title(q)
    return markdown_file(render("case", title), title)


def case_title(q: str) -> str:
    """A case title from a search that found nothing."""
    return " ".join(q.split())[:120] or "Short description of the symptom"


def markdown_file(content: str, title: str) -> PlainTextResponse:
    """A Markdown download named as `kb new` names the file (`kb.scaffold.slug`)."""
    return PlainTextResponse(content, media_type="text/markdown; charset=utf-8",
                             headers={"Content-Disposition": f'attachment; filename="{slug(title) or "new-case"}.md"'})


def verdict(thanks: str | None) -> str | None:
    """The verdict a `thanks` parameter names (after a feedback form), or None."""
    return thanks if thanks in VERDICTS else None


def repeated_search(request: Request) -> bool:
    """Whether this page view is not a search of its own, so the log keeps one entry per search: the
    way back from a verdict (`thanks`) or from a document, or a request made while typing (only what is
    submitted is logged). Later pages are never logged (`run_search`)."""
    came_from = urlsplit(request.headers.get("referer", ""))
    return (bool(request.query_params.get("thanks")) or request.headers.get("x-casebook-typing") == "1"
            or (came_from.netloc == request.url.netloc and came_from.path.startswith("/documents/")))


def local_url(request: Request) -> str:
    """This page's path and query, without the one-time `thanks` notice: where feedback returns to."""
    url = request.url.remove_query_params("thanks")
    return url.path + (f"?{url.query}" if url.query else "")


REPEATED = ("tag", "language")
"""Filters chosen several at once: a facet link adds the value or, when chosen, removes it."""


def search_link(q: str, applied: AppliedFilters, offset: int = 0, **change) -> str:
    """URL of the search page with one filter set, added (tag, language) or removed (the value already
    chosen; products in any letter case), at `offset`."""
    params = applied.model_dump()
    for key, value in change.items():
        if key in REPEATED:
            params[key] = [v for v in params[key] if v != value] if value in params[key] else [*params[key], value]
        else:
            chosen = params.get(key)
            same = chosen is not None and value is not None and (fold(chosen) == fold(value) if key == "product" else chosen == value)
            params[key] = None if same else value
    pairs = ([("q", q)] + [(k, v) for k, v in params.items() if k not in ("require", *REPEATED) and v]
             + [(k, v) for k in REPEATED for v in params[k]])
    return "/?" + urlencode(pairs + ([("offset", offset)] if offset else []))
