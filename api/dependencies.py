"""What route handlers receive: the searcher of the build being served, the live index, the search log and
the templates. Kept on `app.state` by `create_app`; handlers ask for them with `Depends`."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.templating import Jinja2Templates

from api.models import DocumentResponse, RelatedDocument
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


def find_document(searcher: Searcher, doc_id: str) -> DocumentResponse:
    """A document by id, or 404. Ids are looked up in the index, never on disk: an id that leaves
    articles/ simply does not exist."""
    if ".." in doc_id.split("/") or doc_id.startswith("/") or "\\" in doc_id:
        raise HTTPException(404, f"no document {doc_id!r}: ids are paths inside articles/ without '..'")
    doc = searcher.document(doc_id)
    if doc is None:
        raise HTTPException(404, f"no document {doc_id!r}")
    return DocumentResponse.model_validate(doc)


def related_documents(searcher: Searcher, doc_id: str, k: int) -> list[RelatedDocument]:
    return [RelatedDocument.model_validate(r) for r in searcher.related(doc_id, k)]
