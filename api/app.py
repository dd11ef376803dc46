"""The FastAPI service: a JSON API for other tools and the web page for engineers, over one loaded index.

Every page has a JSON twin: `/` ~ `/api/search`, `/documents/{id}` ~ `/api/documents/{id}`.
This module assembles the app: state, security middleware, error handling and the routers of
`api/routes/`.
"""

from __future__ import annotations

import importlib.resources
import shlex
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import anyio.to_thread
from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.exception_handlers import http_exception_handler
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from starlette.exceptions import HTTPException

from api.auth import api_key, bearer_token, same_secret
from api.limits import BodyLimit, bounded, encodable
from api.language_names import language_label, language_name
from api.rendering import highlight_html
from api.routes import documents, feedback, pages, search, service
from kb.config import Settings, load_settings
from kb.text import fold
from kb.embedding import load_embedder
from kb.layout import IndexLayout
from kb.live import LiveIndex
from kb.search import load_match_model
from kb.store.searches import SearchLog

HERE = Path(__file__).parent
API_DOCS_ASSETS = Path(str(importlib.resources.files("fastapi_offline") / "static"))
"""Swagger UI as the fastapi-offline package ships it: the API docs need no CDN."""
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)


def create_app(settings: Settings | None = None, live: LiveIndex | None = None) -> FastAPI:
    """Build the app around a loaded index (loaded here unless given)."""
    settings = settings or load_settings()
    if live is None:
        embedder = load_embedder(settings)
        live = LiveIndex(IndexLayout(settings.index), embedder, settings.search,
                         match_model=load_match_model(settings, embedder.model_id))
    app = FastAPI(lifespan=_request_threads(settings.request_threads), title="casebook", summary="Search support articles and resolved cases by symptom.", version="0.1.0",
                  docs_url=None, redoc_url=None)  # /docs is served below from packaged assets; ReDoc loads a logo from its CDN
    app.state.settings = settings
    app.state.live = live
    app.state.search_log = SearchLog(settings.search_log, keep_days=settings.log_days)  # pruned now and daily
    app.state.templates = templates = Jinja2Templates(directory=HERE / "templates")
    templates.env.filters["highlight"] = highlight_html
    templates.env.filters["fold"] = fold
    templates.env.filters["shell_quote"] = shlex.quote
    templates.env.filters["language_name"] = language_name
    templates.env.filters["language_label"] = language_label
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    app.mount("/api-docs-assets", StaticFiles(directory=API_DOCS_ASSETS), name="api-docs-assets")
    app.add_api_route("/docs", swagger_ui, include_in_schema=False)
    app.add_api_route("/favicon.ico", favicon, include_in_schema=False)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(HTTPException, error_page)
    app.add_exception_handler(UnicodeEncodeError, not_text)
    app.add_middleware(BodyLimit)
    app.middleware("http")(security_headers)
    for module in (search, feedback, documents, service, pages):
        app.include_router(module.router)
    return app


def _request_threads(threads: int):
    """A lifespan that runs the app's synchronous routes (every search) on at most `threads` threads
    (`Settings.request_threads`): anyio's default, 40, let 32 clients' searches contend for 2 cores
    and the GIL at once, each holding its candidates' vectors and its SQLite connection's cache."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        anyio.to_thread.current_default_thread_limiter().total_tokens = threads
        yield

    return lifespan


def swagger_ui() -> HTMLResponse:
    """The API docs, from packaged assets: they work on a network without internet access."""
    return get_swagger_ui_html(openapi_url="/openapi.json", title="casebook API",
                               swagger_js_url="/api-docs-assets/swagger-ui-bundle.js",
                               swagger_css_url="/api-docs-assets/swagger-ui.css", swagger_favicon_url="/static/favicon.svg")



def favicon() -> Response:
    """Browsers ask for /favicon.ico whatever the page links; answer with the page's icon."""
    return RedirectResponse("/static/favicon.svg", status_code=301)


async def error_page(request: Request, exc: HTTPException) -> Response:
    """JSON for the API (and clients that ask for JSON), an HTML page with a search box for people."""
    wants_html = "text/html" in request.headers.get("accept", "")
    if request.url.path.startswith(("/api/", "/healthz", "/openapi.json")) or not wants_html or exc.status_code < 400:
        return await http_exception_handler(request, exc)
    return request.app.state.templates.TemplateResponse(
        request, "error.html", {"status": exc.status_code, "detail": exc.detail, "q": ""},
        status_code=exc.status_code, headers=getattr(exc, "headers", None))


async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
    """422 with FastAPI's error list, echoing a bounded summary of each input (`api.limits.bounded`):
    a 2 MB array must not come back as a 2 MB answer."""
    errors = []
    for error in exc.errors():
        error = {**error, "loc": [bounded(part) for part in error.get("loc", ())], "msg": encodable(str(error.get("msg", "")))}
        if "input" in error:
            error["input"] = bounded(error["input"])
        if len(repr(error.get("ctx"))) > 500:
            del error["ctx"]
        errors.append(error)
    return JSONResponse({"detail": jsonable_encoder(errors)}, status_code=422)


async def not_text(request: Request, exc: UnicodeEncodeError) -> JSONResponse:
    """Input with lone surrogates (valid JSON escapes, not text) is a client error, not a 500."""
    return JSONResponse({"detail": "the input contains lone surrogates (\\ud800-\\udfff escapes), which are not text"},
                        status_code=400)


async def security_headers(request: Request, call_next):
    """API key and admin token checks, then security headers on every response. With
    `protect_pages`, the API key guards the pages, `/docs` and `/openapi.json` too (a browser sends it
    as the password of HTTP Basic authentication); `/healthz` stays open for monitoring."""
    settings: Settings = request.app.state.settings
    path = request.url.path
    if path.startswith("/api/admin/"):
        denied = _check_secret(settings.admin_token, bearer_token(request), "admin endpoints are disabled: set KB_ADMIN_TOKEN",
                               "Authorization: Bearer <KB_ADMIN_TOKEN> required")
    elif path.startswith("/api/"):
        denied = _check_secret(settings.api_key, api_key(request), None, "X-API-Key header required")
    elif settings.protect_pages and settings.api_key and path != "/healthz":
        denied = _check_secret(settings.api_key, api_key(request), None, "the API key is required (as the password)")
        if denied is not None:
            denied.headers["WWW-Authenticate"] = 'Basic realm="casebook", charset="UTF-8"'
    else:
        denied = None
    response = denied or await call_next(request)
    if not path.startswith(("/docs", "/redoc")):
        response.headers["Content-Security-Policy"] = CSP
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "same-origin"  # other sites never see a URL (queries are in it); "back to the results" reads it
    return response


def _check_secret(expected: str | None, given: str | None, disabled: str | None, missing: str) -> JSONResponse | None:
    """None when the request may pass; otherwise the JSON error to answer with."""
    if expected is None:
        return JSONResponse({"detail": disabled}, status_code=403) if disabled else None
    if same_secret(given, expected):
        return None
    return JSONResponse({"detail": missing}, status_code=401)
