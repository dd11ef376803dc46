"""`/api/documents/{id}` and `/api/documents/{id}/similar`: one document and its neighbours.

An id in another letter case or without `.md` is a 308 to the document's own id (`find_document`)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request

from api.dependencies import CurrentSearcher, find_document, related_documents
from api.models import ERRORS, DocumentResponse, RelatedDocument

router = APIRouter(tags=["documents"])
MOVED = {308: {"description": "The id names a document whose id differs in letter case, Unicode form or `.md`: "
                              "`Location` is the same URL with that id."}}


@router.get("/api/documents/{doc_id:path}/similar", response_model=list[RelatedDocument], responses={**ERRORS, **MOVED})
def api_related(request: Request, searcher: CurrentSearcher, doc_id: str,
                k: Annotated[int, Query(ge=1, le=50)] = 5) -> list[RelatedDocument]:
    """Documents nearest to this one by embedding."""
    return related_documents(searcher, find_document(searcher, doc_id, request).id, k)


@router.get("/api/documents/{doc_id:path}", response_model=DocumentResponse, responses={**ERRORS, **MOVED})
def api_document(request: Request, searcher: CurrentSearcher, doc_id: str) -> DocumentResponse:
    """One document: metadata and body rendered as safe HTML."""
    return find_document(searcher, doc_id, request)
