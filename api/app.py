"""The FastAPI service: a JSON API for other tools and the web page for engineers, over one loaded index.

Every page has a JSON twin: `/` ~ `/api/search`, `/documents/{id}` ~ `/api/documents/{id}`.
"""

from __future__ import annotations

import hmac
import logging
from pathlib import Path
from urllib.parse import urlencode
from typing import Annotated, Literal

from fastapi import FastAPI, HTTPException, Query, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from api.models import (
    AppliedFilters, CaseSummary, DocumentResponse, ErrorBody, Explain, FacetValue, Gap, GapsResponse, Health,
    RelatedDocument, SearchResponse, SearchResult, SimilarRequest, SimilarResponse,
)
from api.rendering import document_url, highlight_html, render_markdown
from kb.config import Settings, load_settings
from kb.gaps import DEFAULT_THRESHOLD, find_gaps
from kb.live import LiveIndex
from kb.search import Filters, Hit, timed
from kb.search_log import SearchLog

HERE = Path(__file__).parent
MAX_QUERY_CHARS = 1000
MAX_TICKET_CHARS = 20_000
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
ERRORS = {400: {"model": ErrorBody}, 404: {"model": ErrorBody}, 422: {"model": ErrorBody}}
TOO_LARGE = {413: {"model": ErrorBody, "description": "Ticket text over 20,000 characters."}}

log = logging.getLogger("api")


def create_app(settings: Settings | None = None, live: LiveIndex | None = None) -> FastAPI:
    """Build the app around a loaded index (loaded here unless given)."""
    settings = settings or load_settings()
    if live is None:
        from kb.layout import IndexLayout

        live = LiveIndex(IndexLayout(settings.index), settings.embedder())
    app = FastAPI(
        title="casebook",
        summary="Search support articles and resolved cases by symptom.",
        version="0.1.0",
    )
    app.state.live = live
    search_log = SearchLog(live.layout.root / "searches.sqlite")
    templates = Jinja2Templates(directory=HERE / "templates")
    templates.env.filters["highlight"] = highlight_html
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        """422 with FastAPI's error list, but never echoing back a huge input."""
        errors = []
        for error in exc.errors():
            value = error.get("input")
            if isinstance(value, str) and len(value) > 200:
                error = {**error, "input": value[:200] + f"… ({len(value):,} characters)"}
            errors.append(error)
        return JSONResponse({"detail": jsonable_encoder(errors)}, status_code=422)

    @app.middleware("http")
    async def security_headers(request: Request, call_next):
        path = request.url.path
        if path.startswith("/api/admin/"):
            denied = _check_secret(settings.admin_token, request.headers.get("authorization", "").removeprefix("Bearer "),
                                   "admin endpoints are disabled: set KB_ADMIN_TOKEN", "Authorization: Bearer <KB_ADMIN_TOKEN> required")
        elif path.startswith("/api/"):
            denied = _check_secret(settings.api_key, request.headers.get("x-api-key"), None, "X-API-Key header required")
        else:
            denied = None
        response = denied or await call_next(request)
        if not request.url.path.startswith(("/docs", "/redoc")):
            response.headers["Content-Security-Policy"] = CSP
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "no-referrer"
        return response

    @app.post("/api/admin/reload", tags=["admin"], responses={401: {"model": ErrorBody}, 403: {"model": ErrorBody}})
    def admin_reload() -> dict:
        """Switch to the newest published index now (the server also checks on its own every second)."""
        changed = live.reload()
        return {"reloaded": changed, **live.get().stats()}

    def run_search(q: str, k: int, applied: AppliedFilters, explain: bool) -> SearchResponse:
        query = q.strip()
        if not query:
            raise HTTPException(422, "q must contain a search term")
        searcher = live.get()
        filters = Filters(type=applied.type, tags=tuple(applied.tag), language=applied.language,
                          product=applied.product, status=applied.status)
        (hits, facets), took = timed(searcher.search_with_facets, query, k, filters)
        search_log.record(query, len(hits), hits[0].similarity if hits else None, took)
        return SearchResponse(
            query=query, k=k, took_ms=round(took, 2), filters=applied,
            results=[to_result(h, explain) for h in hits],
            facets={name: [FacetValue(value=v, count=c) for v, c in values] for name, values in facets.items()},
        )

    @app.get("/api/search", response_model=SearchResponse, responses=ERRORS, tags=["search"])
    def api_search(
        q: Annotated[str, Query(min_length=1, max_length=MAX_QUERY_CHARS, pattern=r"\S",
                                description='Symptom, error code or question. "Quoted phrases" are required.')],
        k: Annotated[int, Query(ge=1, le=100, description="Number of documents to return.")] = 10,
        type: Annotated[Literal["article", "case"] | None, Query(description="Only articles or only cases.")] = None,
        tag: Annotated[list[str], Query(description="Required tags (repeat for several).")] = [],
        language: Annotated[str | None, Query(max_length=20, description="Language code, e.g. en, pt, ru.")] = None,
        product: Annotated[str | None, Query(max_length=200, description="Product (front matter `product`).")] = None,
        status: Annotated[str | None, Query(max_length=40, description="Case status: resolved, workaround, open, cannot-reproduce.")] = None,
        explain: Annotated[bool, Query(description="Add per-result ranking details.")] = False,
    ) -> SearchResponse:
        """Documents ranked for a symptom: best passage per document with matched words marked, and facet counts."""
        applied = AppliedFilters(type=type, tag=tag, language=language, product=product, status=status)
        return run_search(q, k, applied, explain)

    @app.post("/api/similar", response_model=SimilarResponse, responses={**ERRORS, **TOO_LARGE}, tags=["search"])
    def api_similar(request: SimilarRequest) -> SimilarResponse:
        """Past cases and articles most similar to a whole ticket; error codes in it are matched exactly."""
        if len(request.text) > MAX_TICKET_CHARS:
            raise HTTPException(413, f"ticket text is {len(request.text):,} characters; the limit is {MAX_TICKET_CHARS:,}. "
                                     "Send the subject and the first part of the body.")
        (hits, codes), took = timed(live.get().similar, request.text, request.k, Filters(type=request.type))
        return SimilarResponse(codes=codes, took_ms=round(took, 2), results=[to_result(h, True) for h in hits])

    @app.get("/api/documents/{doc_id:path}/similar", response_model=list[RelatedDocument], responses=ERRORS, tags=["documents"])
    def api_related(doc_id: str, k: Annotated[int, Query(ge=1, le=50)] = 5) -> list[RelatedDocument]:
        """Documents nearest to this one by embedding."""
        return related_documents(load_document(doc_id).id, k)

    @app.get("/api/gaps", response_model=GapsResponse, tags=["content"])
    def api_gaps(
        threshold: Annotated[float, Query(ge=-1, le=1, description="Best-result similarity under which a search counts as unanswered.")] = DEFAULT_THRESHOLD,
        since: Annotated[str | None, Query(max_length=40, description="Only searches at or after this ISO date/time (UTC).")] = None,
    ) -> GapsResponse:
        """Searches with no good answer, grouped by similar wording, most frequent first: articles to write."""
        gaps = find_gaps(search_log.rows(since), threshold)
        return GapsResponse(threshold=threshold, since=since, gaps=[Gap(**vars(g)) for g in gaps])

    @app.get("/api/documents/{doc_id:path}", response_model=DocumentResponse, responses=ERRORS, tags=["documents"])
    def api_document(doc_id: str) -> DocumentResponse:
        """One document: metadata and body rendered as safe HTML."""
        return load_document(doc_id)

    @app.get("/healthz", response_model=Health, tags=["service"])
    def healthz() -> Health:
        """Liveness and what is being served."""
        return Health(status="ok", **live.get().stats())

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def page_search(request: Request, q: str = "", type: str | None = None, tag: list[str] = Query([]),
                    language: str | None = None, product: str | None = None, status: str | None = None):
        query = q.strip()[:MAX_QUERY_CHARS]
        applied = AppliedFilters(type=type if type in ("article", "case") else None, tag=tag[:10],
                                 language=language, product=product, status=status)
        response = run_search(query, 10, applied, False) if query else None
        return templates.TemplateResponse(
            request, "search.html",
            {"q": query, "applied": applied, "response": response, "stats": live.get().stats(),
             "link": lambda **change: search_link(query, applied, **change)},
        )

    @app.get("/documents/{doc_id:path}", response_class=HTMLResponse, include_in_schema=False)
    def page_document(request: Request, doc_id: str):
        doc = load_document(doc_id)
        return templates.TemplateResponse(request, "document.html",
                                          {"doc": doc, "html": doc.html, "related": related_documents(doc.id, 5)})

    def related_documents(doc_id: str, k: int) -> list[RelatedDocument]:
        searcher = live.get()
        return [RelatedDocument(id=d, title=searcher.docs[d].title, type=searcher.docs[d].type, similarity=sim, url=document_url(d))
                for d, sim in searcher.related(doc_id, k)]

    def load_document(doc_id: str) -> DocumentResponse:
        # ids are looked up in the index, never on disk; an id that leaves articles/ simply does not exist
        if ".." in doc_id.split("/") or doc_id.startswith("/") or "\\" in doc_id:
            raise HTTPException(404, f"no document {doc_id!r}: ids are paths inside articles/ without '..'")
        row = live.get().document(doc_id)
        if row is None:
            raise HTTPException(404, f"no document {doc_id!r}")
        return DocumentResponse(
            id=row["id"], title=row["title"], type=row["type"], language=row["language"], tags=row["tags"],
            meta=row["meta"], html=render_markdown(row["body"], row["id"]), url=document_url(row["id"]),
        )

    return app


def _check_secret(expected: str | None, given: str | None, disabled: str | None, missing: str) -> JSONResponse | None:
    """None when the request may pass; otherwise the JSON error to answer with."""
    if expected is None:
        return JSONResponse({"detail": disabled}, status_code=403) if disabled else None
    if given and hmac.compare_digest(given.encode(), expected.encode()):
        return None
    return JSONResponse({"detail": missing}, status_code=401)


def search_link(q: str, applied: AppliedFilters, **change) -> str:
    """URL of the search page with one filter set, added (tag) or removed (value None)."""
    params = applied.model_dump()
    for key, value in change.items():
        if key == "tag":
            params["tag"] = [t for t in params["tag"] if t != value] if value in params["tag"] else [*params["tag"], value]
        else:
            params[key] = None if params.get(key) == value else value
    pairs = [("q", q)] + [(k, v) for k, v in params.items() if k != "tag" and v] + [("tag", t) for t in params["tag"]]
    return "/?" + urlencode(pairs)


def to_result(hit: Hit, explain: bool) -> SearchResult:
    """API shape of a search hit."""
    return SearchResult(
        id=hit.id, title=hit.title, type=hit.type, language=hit.language, tags=hit.tags, score=hit.score,
        similarity=hit.similarity, heading=hit.heading, line=hit.line, snippet=hit.snippet.text,
        highlights=hit.snippet.highlights, url=document_url(hit.id),
        case=CaseSummary(**{k: _as_field(k, v) for k, v in hit.case.items()}) if hit.type == "case" else None,
        explain=Explain(dense_rank=hit.dense_rank, lexical_rank=hit.lexical_rank,
                        matched_terms=hit.snippet.matched, fused_score=hit.score) if explain else None,
    )


def _as_field(key: str, value):
    """Front matter is free-form YAML; coerce to the CaseSummary field types."""
    if key in ("symptoms", "error_codes"):
        return [str(v) for v in value] if isinstance(value, list) else [str(value)]
    return str(value)
