"""`/api/documents/{id}` and `/api/documents/{id}/similar`: one document and its neighbours."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from api.dependencies import CurrentSearcher, find_document, related_documents
from api.models import ERRORS, DocumentResponse, RelatedDocument

router = APIRouter(tags=["documents"])


@router.get("/api/documents/{doc_id:path}/similar", response_model=list[RelatedDocument], responses=ERRORS)
def api_related(searcher: CurrentSearcher, doc_id: str, k: Annotated[int, Query(ge=1, le=50)] = 5) -> list[RelatedDocument]:
    """Documents nearest to this one by embedding."""
    return related_documents(searcher, find_document(searcher, doc_id).id, k)


@router.get("/api/documents/{doc_id:path}", response_model=DocumentResponse, responses=ERRORS)
def api_document(searcher: CurrentSearcher, doc_id: str) -> DocumentResponse:
    """One document: metadata and body rendered as safe HTML."""
    return find_document(searcher, doc_id)
