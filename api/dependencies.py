"""What route handlers receive: the searcher of the build being served, the live index, the search log and
the templates. Kept on `app.state` by `create_app`; handlers ask for them with `Depends`."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import Depends, HTTPException, Request
from fastapi.templating import Jinja2Templates

from api.models import DocumentResponse, RelatedDocument
from kb.documents import unservable
from kb.live import LiveIndex
from kb.search import Searcher
from kb.store.searches import SearchLog


def live_index(request: Request) -> LiveIndex:
    return request.app.state.live


def current_searcher(request: Request) -> Searcher:
    """The searcher of the newest loadable build (checked for a new build at most once a second)."""
    return request.app.state.live.get()


def search_log(request: Request) -> SearchLog:
    return request.app.state.search_log


def templates(request: Request) -> Jinja2Templates:
    return request.app.state.templates


CurrentSearcher = Annotated[Searcher, Depends(current_searcher)]
Log = Annotated[SearchLog, Depends(search_log)]
Templates = Annotated[Jinja2Templates, Depends(templates)]
Live = Annotated[LiveIndex, Depends(live_index)]


def find_document(searcher: Searcher, doc_id: str, request: Request | None = None) -> DocumentResponse:
    """A document by id, or 404. Ids are looked up in the index, never on disk: an id that leaves
    articles/ simply does not exist. An id that names one document in another letter case or Unicode
    form, or without `.md` (`Catalog.resolve`), is a 308 to the same route with the document's id when
    the `request` is given, so every document has one address; without it, that document."""
    if unservable(doc_id):  # the indexer's own rule: such ids were never indexed
        raise HTTPException(404, f"no document {doc_id!r}: ids are paths inside articles/ without '..'")
    canonical = searcher.catalog.resolve(doc_id)
    if canonical is not None and canonical != doc_id and request is not None:
        raise HTTPException(308, f"document {doc_id!r} is {canonical!r}", headers={"Location": moved(request, canonical)})
    doc = searcher.document(canonical) if canonical is not None else None
    if doc is None:
        raise HTTPException(404, f"no document {doc_id!r}")
    return DocumentResponse.model_validate(doc)


def moved(request: Request, doc_id: str) -> str:
    """The requested route's path with `doc_id` as its id (quoted as `api.rendering.document_url` does),
    and the request's query string."""
    path = request.scope["route"].path_format.replace("{doc_id}", quote(doc_id))
    query = request.url.query
    return request.scope.get("root_path", "") + path + (f"?{query}" if query else "")


def related_documents(searcher: Searcher, doc_id: str, k: int) -> list[RelatedDocument]:
    return [RelatedDocument.model_validate(r) for r in searcher.related(doc_id, k)]
