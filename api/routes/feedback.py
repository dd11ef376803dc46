"""`POST /api/feedback` and `GET /api/feedback`: engineers say whether an answer solved their problem.

The page posts the same verdict from a plain form (`POST /feedback`), so it works without JavaScript.
Verdicts are stored beside the search log; "not helpful" ones show in the gap report.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Form, HTTPException, Query, Request
from fastapi.responses import RedirectResponse

from api.dependencies import CurrentSearcher, Log, find_document
from api.models import ERRORS, ErrorBody, FeedbackItem, FeedbackRecorded, FeedbackRequest, Verdict
from api.rendering import local_path
from api.routes.search import ADMIN_ONLY, iso_time
from kb.store.searches import LogUnwritable

router = APIRouter()


@router.post("/api/feedback", response_model=FeedbackRecorded, status_code=201, tags=["content"],
             responses={**ERRORS, 503: {"model": ErrorBody, "description": "The verdict could not be stored (e.g. disk full)."}})
def api_feedback(searcher: CurrentSearcher, log: Log, verdict: FeedbackRequest) -> FeedbackRecorded:
    """Record whether a result answered a search ("solved") or not ("not-helpful"); the document must exist."""
    doc = find_document(searcher, verdict.document)
    try:
        log.record_feedback(verdict.query.strip(), doc.id, verdict.verdict, verdict.heading, verdict.line)
    except LogUnwritable as exc:  # said plainly: the verdict was not saved, unlike a search that goes on unlogged
        raise HTTPException(503, f"the verdict was not saved ({exc}); try again later") from None
    return FeedbackRecorded()


@router.get("/api/feedback", response_model=list[FeedbackItem], tags=["content"], **ADMIN_ONLY)
def api_feedback_list(
    log: Log,
    since: Annotated[datetime | None, Query(description="Only verdicts at or after this ISO date or date-time (UTC).")] = None,
) -> list[FeedbackItem]:
    """Every verdict, oldest first (what `kb feedback --json` exports); needs the admin token when one is set."""
    return [FeedbackItem.model_validate(row) for row in log.feedback(iso_time(since))]


@router.post("/feedback", include_in_schema=False)
def form_feedback(request: Request, searcher: CurrentSearcher, log: Log,
                  query: Annotated[str, Form(min_length=1, max_length=1000)], document: Annotated[str, Form(max_length=500)],
                  verdict: Annotated[Verdict, Form()], heading: Annotated[str | None, Form(max_length=500)] = None,
                  line: Annotated[int | None, Form(ge=0)] = None, back: Annotated[str, Form(max_length=2000)] = "/"):
    """The page's feedback buttons without JavaScript: record, then back to the page it came from."""
    api_feedback(searcher, log, FeedbackRequest(query=query, document=document, verdict=verdict, heading=heading, line=line))
    path = (local_path(back) or "/").split("#")[0]
    separator = "&" if "?" in path else "?"
    return RedirectResponse(f"{path}{separator}thanks={verdict}", status_code=303)
