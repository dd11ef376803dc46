"""JSON shapes of the API (they make the OpenAPI schema at /docs and /openapi.json).

Each response shape is declared once and built from the core's typed results with
`model_validate(obj)` (`from_attributes`), so a field added to a hit reaches the API in one place.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, computed_field

from api.rendering import document_url, render_markdown
from kb.paste import case_draft

DocType = Literal["article", "case"]
Match = Literal["strong", "partial", "weak"]


class FromCore(BaseModel):
    """A response model read from a core dataclass by attribute."""

    model_config = ConfigDict(from_attributes=True)


class WithUrl(FromCore):
    id: str = Field(description="Document id: its path relative to articles/.")

    @computed_field(description="Web page of the document.")
    @property
    def url(self) -> str:
        return document_url(self.id)


class CaseSummary(FromCore):
    """The answer at a glance for a resolved case."""

    status: str | None = None
    product: str | None = None
    version: str | None = None
    symptoms: list[str] = []
    error_codes: list[str] = []
    root_cause: str | None = None
    resolution: str | None = None
    matched_symptom: str | None = Field(None, description="The listed symptom that shares the most query terms.")
    resolution_excerpt: str | None = Field(None, description="First lines of the case's Resolution section.")


class Explain(FromCore):
    """Why a result came up: its rank in each retriever and the query terms found in the passage."""

    dense_rank: int | None = Field(None, description="Rank of the document among the candidates by embedding similarity (1 = best).")
    lexical_rank: int | None = Field(None, description="Rank of the document among the candidates by BM25 (1 = best); null if no query word matched.")
    matched_terms: list[str] = []
    fused_score: float


class Why(FromCore):
    """What a result shares with a pasted ticket or log."""

    codes: list[str] = Field([], description="The paste's error codes, event IDs, KB numbers... that the document contains.")
    event_sources: dict[str, str] = Field({}, description="Of those, event IDs with the source that logged them in the paste.")
    product: str | None = Field(None, description="The document's product, named in the paste.")
    version: str | None = Field(None, description="The document's version, found in the paste.")
    sentence: str | None = Field(None, description="The document's symptom (or a sentence of its passage) nearest the paste.")


class SearchResult(WithUrl):
    title: str
    type: DocType
    language: str
    tags: list[str]
    score: float = Field(description="Fused ranking score (weighted score fusion by default); only comparable within one response.")
    similarity: float = Field(description="Cosine similarity of the query and the shown passage, -1..1.")
    heading: str = Field(description="Heading path of the shown passage, e.g. 'Resolution > Step 2'.")
    line: int = Field(description="Line of the shown passage in the source file.")
    snippet: str
    highlights: list[tuple[int, int]] = Field(description="[start, end) character offsets of matched words in `snippet`.")
    matched_phrases: list[str] = Field([], description='The query\'s "quoted" and required phrases that the document contains.')
    identifiers: list[str] = Field([], description="The query's error codes and identifiers (hex codes, event IDs, KB numbers, "
                                                   "exception names) that the document contains.")
    match: Match | None = Field(None, description="How likely this result answers the query: strong, partial or weak "
                                                  "(null when the served model has no fitted match strength).")
    probability: float | None = Field(None, description="The calibrated probability behind `match`, 0..1.")
    case: CaseSummary | None = None
    why: Why | None = Field(None, description="For a pasted ticket or log (`/api/similar`): what the document shares with it.")
    explain: Explain | None = Field(None, description="Ranking details; only with explain=true.")


class FacetValue(BaseModel):
    value: str
    count: int


class AppliedFilters(BaseModel):
    require: list[str] = []
    type: DocType | None = None
    tag: list[str] = []
    language: list[str] = Field([], description="Languages searched (any of them); empty: every language.")
    product: str | None = None
    status: str | None = None


class IdentifierCount(FromCore):
    identifier: str = Field(description="An error code or identifier found in the query.")
    documents: int = Field(description="Results (after filters) that contain it.")
    suggestions: list[str] = Field([], description="Codes in the index it may be a typo of, when no document contains it.")


class MatchCounts(BaseModel):
    strong: int = 0
    partial: int = 0
    weak: int = 0


class SearchResponse(BaseModel):
    query: str
    offset: int
    limit: int
    total: int = Field(description="Results of the query after the filters; page through them with offset and limit.")
    took_ms: float
    filters: AppliedFilters
    best_match: Match | None = Field(description="Match strength of the first result; anything but strong means "
                                                 "the knowledge base may have no answer.")
    matches: MatchCounts = Field(description="Results of each match strength among the total.")
    identifiers: list[IdentifierCount] = Field(description="Error codes and identifiers of the query, with how many results contain each.")
    identifiers_first: bool = Field(description="Whether results containing them are ranked above all others: when the query "
                                                "is mostly identifiers; in a longer description a code is one word among the others.")
    results: list[SearchResult]
    facets: dict[str, list[FacetValue]] = Field(
        description="Per field (type, language, tags, product, status): value counts among the query's results, each "
        "field counted with the other filters applied, so a count is the total that choosing the value gives."
    )


class DocumentResponse(WithUrl):
    title: str
    type: DocType
    language: str
    tags: list[str]
    meta: dict = Field(description="All front matter fields.")
    body: str = Field(exclude=True)
    body_line: int = Field(1, exclude=True)

    @computed_field(description="The Markdown body rendered as HTML with raw HTML disabled.")
    @property
    def html(self) -> str:
        return render_markdown(self.body, self.id)


class SimilarRequest(BaseModel):
    text: str = Field(description="Ticket subject and body, up to 20,000 characters (longer: 413).", pattern=r"\S",
                      examples=["Backup server slow: CPU and RAM ten times higher during merges on the ReFS repository"])
    k: int = Field(10, ge=1, le=50, description="Number of documents to return.")
    type: DocType | None = Field(None, description="Only cases or only articles.")


class PasteAnalysis(FromCore):
    """What the paste was read as: its codes, products and versions, and the lines kept for search."""

    identifiers: list[str] = Field(description="Error codes, event IDs, KB numbers, exception names found, in order.")
    event_sources: dict[str, str] = Field(description="Event ID -> the source that logged it.")
    products: list[str] = Field(description="Products of the index that the paste names.")
    versions: list[str] = Field(description="Version and build numbers in the paste.")
    lines: list[str] = Field(description="The distinct lines that describe behaviour, noise removed: what the model reads.")
    environment: list[str]
    title: str = Field(description="A title guess: the e-mail subject, else the first line with an error word.")
    total_lines: int
    repeated_lines: int = Field(description="Lines that repeat an earlier one once noise is removed.")
    dropped_lines: int = Field(description="Lines with nothing left but noise or log fields.")


class SimilarResponse(BaseModel):
    codes: list[str] = Field(description="Error codes found in the text; documents containing them rank higher.")
    took_ms: float
    best_match: Match | None = Field(description="Match strength of the first result.")
    analysis: PasteAnalysis
    results: list[SearchResult]
    draft: str = Field(description="A case write-up prefilled from the paste (title, symptoms, error codes, environment, "
                                   "the paste itself), to save under articles/cases/ when nothing matched.")

    @classmethod
    def of(cls, hits: list, analysis, took_ms: float) -> "SimilarResponse":
        """The answer for a paste from `Searcher.similar`'s hits and analysis: what the API, the paste
        page and `kb similar --json` all show."""
        return cls(codes=list(analysis.identifiers), took_ms=round(took_ms, 2), best_match=hits[0].match if hits else None,
                   analysis=PasteAnalysis.model_validate(analysis), results=[SearchResult.model_validate(h) for h in hits],
                   draft=case_draft(analysis))


class RelatedDocument(WithUrl):
    title: str
    type: DocType
    similarity: float = Field(description="Cosine similarity of the two documents' mean passage vectors.")


class Gap(FromCore):
    query: str = Field(description="The most frequent wording of the group.")
    count: int = Field(description="Searches in the group whose first result was not a strong match.")
    no_results: int
    not_helpful: int = Field(description='Answers to the group\'s queries marked "not helpful".')
    best_score: float | None
    last_seen: str
    variants: dict[str, int]
    unhelpful_documents: dict[str, int] = Field(description='Document id -> "not helpful" verdicts.')


class GapsResponse(BaseModel):
    threshold: float
    since: str | None
    gaps: list[Gap]


Verdict = Literal["solved", "not-helpful"]


class FeedbackRequest(BaseModel):
    query: str = Field(min_length=1, max_length=1000, pattern=r"\S", description="The search the verdict is about.")
    document: str = Field(min_length=1, max_length=500, description="Id of the document shown for it.")
    verdict: Verdict = Field(description='"solved": it answered the problem; "not-helpful": it did not.')
    heading: str | None = Field(None, max_length=500, description="Heading of the passage shown, if any.")
    line: int | None = Field(None, ge=0, description="Line of that passage.")


class FeedbackRecorded(BaseModel):
    recorded: Literal[True] = True


class FeedbackItem(FromCore):
    at: str
    query: str
    doc_id: str
    heading: str | None
    line: int | None
    verdict: Verdict


class Health(FromCore):
    status: Literal["ok", "degraded"] = Field(description='"degraded": searches are served, but something needs '
                                                          "attention; `problems` says what.")
    problems: list[str] = Field(default_factory=list, description="What is wrong, e.g. the search log cannot be written.")
    documents: int
    passages: int
    model: str
    built_at: str
    build: str


class Reloaded(Health):
    reloaded: bool = Field(description="Whether a newer build was switched to.")


class ErrorBody(BaseModel):
    detail: str | list


ERRORS = {400: {"model": ErrorBody}, 404: {"model": ErrorBody}, 422: {"model": ErrorBody}}
"""The error responses every JSON endpoint documents."""
