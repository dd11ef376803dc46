"""The web page: `/` (search) and `/documents/{id}` (one document), each the twin of a JSON endpoint."""

from __future__ import annotations

from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from api.dependencies import CurrentSearcher, Log, Templates, find_document, related_documents
from api.models import AppliedFilters
from api.routes.search import MAX_QUERY_CHARS, run_search

router = APIRouter(include_in_schema=False)


@router.get("/", response_class=HTMLResponse)
def page_search(request: Request, searcher: CurrentSearcher, log: Log, templates: Templates, q: str = "",
                type: str | None = None, tag: list[str] = Query([]), language: str | None = None,
                product: str | None = None, status: str | None = None):
    query = q.strip()[:MAX_QUERY_CHARS]
    applied = AppliedFilters(type=type if type in ("article", "case") else None, tag=tag[:10],
                             language=language, product=product, status=status)
    response = run_search(searcher, log, query, 10, applied, False) if query else None
    return templates.TemplateResponse(
        request, "search.html",
        {"q": query, "applied": applied, "response": response, "stats": searcher.stats(),
         "link": lambda **change: search_link(query, applied, **change)},
    )


@router.get("/documents/{doc_id:path}", response_class=HTMLResponse)
def page_document(request: Request, searcher: CurrentSearcher, templates: Templates, doc_id: str):
    doc = find_document(searcher, doc_id)
    return templates.TemplateResponse(request, "document.html",
                                      {"doc": doc, "html": doc.html, "related": related_documents(searcher, doc.id, 5)})


def search_link(q: str, applied: AppliedFilters, **change) -> str:
    """URL of the search page with one filter set, added (tag) or removed (value None)."""
    params = applied.model_dump()
    for key, value in change.items():
        if key == "tag":
            params["tag"] = [t for t in params["tag"] if t != value] if value in params["tag"] else [*params["tag"], value]
        else:
            params[key] = None if params.get(key) == value else value
    pairs = [("q", q)] + [(k, v) for k, v in params.items() if k not in ("tag", "require") and v] + [("tag", t) for t in params["tag"]]
    return "/?" + urlencode(pairs)
