"""`/api/search`, `/api/similar`, `/api/gaps`: the JSON search endpoints."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from pydantic import StringConstraints

from api.auth import bearer_token, same_secret
from api.dependencies import CurrentSearcher, Log
from api.limits import PasteTurn
from api.models import (
    ERRORS, AppliedFilters, ErrorBody, FacetValue, Gap, GapsResponse, IdentifierCount, MatchCounts, SearchResponse,
    SearchResult, SimilarRequest, SimilarResponse,
)
from kb.catalog import Filters
from kb.documents import CASE_STATUSES
from kb.gaps import DEFAULT_THRESHOLD, find_gaps
from kb.results import Hit
from kb.search import Searcher, timed
from kb.store.searches import SearchLog, window_start

MAX_QUERY_CHARS = 1000
MAX_TICKET_CHARS = 20_000
MAX_OFFSET = 1000
MAX_LANGUAGES = 20
LanguageCode = Annotated[str, StringConstraints(max_length=20)]
TOO_LARGE = {413: {"model": ErrorBody, "description": "Ticket text over 20,000 characters."}}

router = APIRouter()
CaseStatus = Literal[CASE_STATUSES]


class UnknownFilter(HTTPException):
    """A filter value no document has: 422 naming the values there are, in FastAPI's error shape."""

    def __init__(self, unknown: list[tuple[str, str, list[str]]]):
        detail = [{"type": "unknown_value", "loc": ["query", "tag" if name == "tags" else name], "input": value,
                   "msg": f"no document has {name} {value!r}; the index has: {', '.join(known[:50]) or 'none'}"
                          + (f" (and {len(known) - 50} more)" if len(known) > 50 else "")}
                  for name, value, known in unknown]
        super().__init__(422, detail)


def filters_of(applied: AppliedFilters) -> Filters:
    return Filters(type=applied.type, tags=tuple(applied.tag), language=tuple(applied.language), product=applied.product,
                   status=applied.status)


def chosen_languages(language: list[str]) -> list[str]:
    """The language codes asked for, each once, in the order given; a blank one (`language=`) is no
    filter, as it was before the parameter could be repeated."""
    return list(dict.fromkeys(code for code in language if code.strip()))


def run_search(searcher: Searcher, log: SearchLog | None, q: str, applied: AppliedFilters, explain: bool,
               offset: int = 0, limit: int = 10) -> SearchResponse:
    """One search: what `/api/search` and the search page both answer with; logged (for the gap
    report) when it asks for the first page and `log` is given. Raises `UnknownFilter` for a filter
    value that no document has."""
    query = q.strip()
    if not query:
        raise HTTPException(422, "q must contain a search term")
    filters = filters_of(applied)
    unknown = searcher.catalog.unknown_values(filters)
    if unknown:
        raise UnknownFilter(unknown)
    page, took = timed(searcher.results, query, filters, offset, limit, tuple(applied.require))
    if log is not None and offset == 0:
        log.record(query, page.total, page.hits[0].similarity if page.hits else None, took,
                   filters=applied.model_dump(exclude_defaults=True) or None, unfiltered=page.unfiltered,
                   best_match=page.best, answered=page.answered)
    return SearchResponse(
        query=query, offset=offset, limit=limit, total=page.total, took_ms=round(took, 2), filters=applied,
        best_match=page.best, matches=MatchCounts(**page.matches),
        identifiers=[IdentifierCount.model_validate(i) for i in page.identifiers], identifiers_first=page.identifiers_first,
        results=[to_result(h, explain) for h in page.hits],
        facets={name: [FacetValue(value=v, count=c) for v, c in values] for name, values in page.facets.items()},
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
                                        'higher; +"phrases" with a plus are required. In a query that is mostly error codes '
                                        '(at most 3 other words) the documents containing them come first.')],
    limit: Annotated[int, Query(ge=1, le=100, description="Results per page.")] = 10,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET, description="Results to skip: the next page starts at offset + limit.")] = 0,
    k: Annotated[int | None, Query(ge=1, le=100, deprecated=True, description="Old name of `limit`.")] = None,
    type: Annotated[Literal["article", "case"] | None, Query(description="Only articles or only cases.")] = None,
    require: Annotated[list[str], Query(max_length=MAX_QUERY_CHARS, description='Phrases every result must contain (repeat for several), like +"phrase" in q.')] = [],
    tag: Annotated[list[str], Query(max_length=200, description="Required tags (repeat for several); unknown tags are a 422 listing the known ones.")] = [],
    language: Annotated[list[LanguageCode], Query(max_length=MAX_LANGUAGES, description="Language code, e.g. en, pt, ru; repeat for "
                                                  "several (`language=pt&language=en`: results in any of them). One no document has is a "
                                                  "422 listing those there are.")] = [],
    product: Annotated[str | None, Query(max_length=200, description="Product (front matter `product`, any letter case).")] = None,
    status: Annotated[CaseStatus | None, Query(description="Case status.")] = None,
    explain: Annotated[bool, Query(description="Add per-result ranking details.")] = False,
) -> SearchResponse:
    """Documents ranked for a symptom, one page at a time: best passage per document with matched words
    marked, match strength per result, the total, and facet counts that equal what each filter gives."""
    applied = AppliedFilters(require=require, type=type, tag=[t for t in tag if t.strip()], language=chosen_languages(language),
                             product=product or None, status=status)
    return run_search(searcher, log, q, applied, explain, offset, k or limit)


@router.post("/api/similar", response_model=SimilarResponse, responses={**ERRORS, **TOO_LARGE}, tags=["search"])
def api_similar(searcher: CurrentSearcher, request: SimilarRequest, _turn: PasteTurn) -> SimilarResponse:
    """Past cases and articles most similar to a whole ticket; error codes in it are matched exactly."""
    if len(request.text) > MAX_TICKET_CHARS:
        raise HTTPException(413, f"ticket text is {len(request.text):,} characters; the limit is {MAX_TICKET_CHARS:,}. "
                                 "Send the subject and the first part of the body.")
    (hits, analysis), took = timed(searcher.similar, request.text, request.k, Filters(type=request.type))
    return SimilarResponse.of(hits, analysis, took)


def admin_only(request: Request) -> None:
    """When an admin token is set, what the log holds (every caller's queries) is for its bearer only;
    without one, anyone who may search may read it, as before."""
    expected = request.app.state.settings.admin_token
    if expected is None:
        return
    if not same_secret(bearer_token(request), expected):
        raise HTTPException(401, "reading the search log needs Authorization: Bearer <KB_ADMIN_TOKEN>",
                            headers={"WWW-Authenticate": "Bearer"})


ADMIN_ONLY = {"dependencies": [Depends(admin_only)], "responses": {**ERRORS, 401: {"model": ErrorBody}}}
"""Route arguments of the endpoints that read the search log back."""


@router.get("/api/gaps", response_model=GapsResponse, tags=["content"], **ADMIN_ONLY)
def api_gaps(
    request: Request,
    log: Log,
    threshold: Annotated[float, Query(ge=-1, le=1, description="For searches logged before match strength: best-result "
                                                               "similarity under which a search counts as unanswered.")] = DEFAULT_THRESHOLD,
    since: Annotated[datetime | None, Query(description="Only searches at or after this ISO date or date-time (UTC), e.g. 2026-11-01; "
                                                        "default: the retention window (`log_days`).")] = None,
) -> GapsResponse:
    """Searches whose first result was not a strong match (filter-only empties excluded) and answers marked
    "not helpful", grouped by similar wording, most frequent first: articles to write. Needs the admin
    token when one is set."""
    start = iso_time(since) if since is not None else window_start(request.app.state.settings.log_days)
    gaps = find_gaps(log.rows(start, answered=False), threshold, log.feedback(start))
    return GapsResponse(threshold=threshold, since=start, gaps=[Gap.model_validate(g) for g in gaps])


def iso_time(value: datetime | None) -> str | None:
    """A date-time as the log stores it: UTC, ISO 8601 to the second (a naive one is taken as UTC)."""
    if value is None:
        return None
    if value.tzinfo is not None:
        value = value.astimezone(timezone.utc).replace(tzinfo=None)
    return value.isoformat(timespec="seconds")
