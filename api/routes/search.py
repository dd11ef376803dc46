"""`/api/search`, `/api/similar`, `/api/gaps`: the JSON search endpoints."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Query

from api.dependencies import CurrentSearcher, Log
from api.models import (
    ERRORS, AppliedFilters, ErrorBody, FacetValue, Gap, GapsResponse, SearchResponse, SearchResult, SimilarRequest,
    SimilarResponse,
)
from kb.catalog import Filters
from kb.gaps import DEFAULT_THRESHOLD, find_gaps
from kb.results import Hit
from kb.search import Searcher, timed
from kb.store.searches import SearchLog

MAX_QUERY_CHARS = 1000
MAX_TICKET_CHARS = 20_000
TOO_LARGE = {413: {"model": ErrorBody, "description": "Ticket text over 20,000 characters."}}

router = APIRouter()


def run_search(searcher: Searcher, log: SearchLog, q: str, k: int, applied: AppliedFilters, explain: bool) -> SearchResponse:
    """One logged search with facets: what `/api/search` and the search page both answer with."""
    query = q.strip()
    if not query:
        raise HTTPException(422, "q must contain a search term")
    filters = Filters(type=applied.type, tags=tuple(applied.tag), language=applied.language,
                      product=applied.product, status=applied.status)
    (hits, facets), took = timed(searcher.search_with_facets, query, k, filters, tuple(applied.require))
    log.record(query, len(hits), hits[0].similarity if hits else None, took)
    return SearchResponse(
        query=query, k=k, took_ms=round(took, 2), filters=applied,
        results=[to_result(h, explain) for h in hits],
        facets={name: [FacetValue(value=v, count=c) for v, c in values] for name, values in facets.items()},
    )


def to_result(hit: Hit, explain: bool) -> SearchResult:
    """API shape of a hit; ranking details only when asked for."""
    result = SearchResult.model_validate(hit)
    return result if explain else result.model_copy(update={"explain": None})


@router.get("/api/search", response_model=SearchResponse, responses=ERRORS, tags=["search"])
def api_search(
    searcher: CurrentSearcher,
    log: Log,
    q: Annotated[str, Query(min_length=1, max_length=MAX_QUERY_CHARS, pattern=r"\S",
                            description='Symptom, error code or question. "Quoted phrases" rank documents that contain them '
                                        'higher; +"phrases" with a plus are required.')],
    k: Annotated[int, Query(ge=1, le=100, description="Number of documents to return.")] = 10,
    type: Annotated[Literal["article", "case"] | None, Query(description="Only articles or only cases.")] = None,
    require: Annotated[list[str], Query(max_length=MAX_QUERY_CHARS, description='Phrases every result must contain (repeat for several), like +"phrase" in q.')] = [],
    tag: Annotated[list[str], Query(description="Required tags (repeat for several).")] = [],
    language: Annotated[str | None, Query(max_length=20, description="Language code, e.g. en, pt, ru.")] = None,
    product: Annotated[str | None, Query(max_length=200, description="Product (front matter `product`).")] = None,
    status: Annotated[str | None, Query(max_length=40, description="Case status: resolved, workaround, open, cannot-reproduce.")] = None,
    explain: Annotated[bool, Query(description="Add per-result ranking details.")] = False,
) -> SearchResponse:
    """Documents ranked for a symptom: best passage per document with matched words marked, and facet counts."""
    applied = AppliedFilters(require=require, type=type, tag=tag, language=language, product=product, status=status)
    return run_search(searcher, log, q, k, applied, explain)


@router.post("/api/similar", response_model=SimilarResponse, responses={**ERRORS, **TOO_LARGE}, tags=["search"])
def api_similar(searcher: CurrentSearcher, request: SimilarRequest) -> SimilarResponse:
    """Past cases and articles most similar to a whole ticket; error codes in it are matched exactly."""
    if len(request.text) > MAX_TICKET_CHARS:
        raise HTTPException(413, f"ticket text is {len(request.text):,} characters; the limit is {MAX_TICKET_CHARS:,}. "
                                 "Send the subject and the first part of the body.")
    (hits, codes), took = timed(searcher.similar, request.text, request.k, Filters(type=request.type))
    return SimilarResponse(codes=codes, took_ms=round(took, 2), results=[to_result(h, True) for h in hits])


@router.get("/api/gaps", response_model=GapsResponse, tags=["content"])
def api_gaps(
    log: Log,
    threshold: Annotated[float, Query(ge=-1, le=1, description="Best-result similarity under which a search counts as unanswered.")] = DEFAULT_THRESHOLD,
    since: Annotated[str | None, Query(max_length=40, description="Only searches at or after this ISO date/time (UTC).")] = None,
) -> GapsResponse:
    """Searches with no good answer, grouped by similar wording, most frequent first: articles to write."""
    gaps = find_gaps(log.rows(since), threshold)
    return GapsResponse(threshold=threshold, since=since, gaps=[Gap.model_validate(g) for g in gaps])
