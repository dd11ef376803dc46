"""Ranked documents -> results as engineers see them: typed hits with snippet, case summary and
ranking details; facet counts; related documents."""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field

from kb import text
from kb.catalog import FACET_FIELDS, DocInfo, Filters
from kb.query import ParsedQuery
from kb.snippets import make_snippet, matched_spans
from kb.store.index_db import PassageRow

RESOLUTION_SECTION = "Resolution"


@dataclass(frozen=True)
class Ranked:
    """A document's place in a ranking, before its snippet is made."""

    doc_id: str
    score: float
    ranks: dict
    passage_id: int | None = None  # the passage to show: chosen only for documents that are shown
    similarity: float | None = None  # cosine of that passage and the query
    phrases: tuple[str, ...] = ()  # the query's quoted phrases the document contains
    identifiers: tuple[str, ...] = ()  # the query's error codes and identifiers the document contains
    cosine: float | None = None  # cosine of the document's best passage and the query (hybrid, dense)
    coverage: float = 0.0  # IDF-weighted share of the query words the document contains
    probability: float | None = None  # calibrated chance that this document answers the query
    match: str | None = None  # strong, partial or weak (`kb.match_strength`)

    def but(self, **changes) -> "Ranked":
        """A copy with `changes`: dataclasses.replace without its per-field work (it ran 200 times a
        search, 2.5 ms)."""
        if not changes.keys() <= _RANKED_FIELDS:
            raise TypeError(f"Ranked has no field {sorted(changes.keys() - _RANKED_FIELDS)}")
        changed = object.__new__(Ranked)
        changed.__dict__.update(self.__dict__, **changes)
        return changed


_RANKED_FIELDS = frozenset(Ranked.__dataclass_fields__)


@dataclass
class CaseSummary:
    """The answer at a glance for a case: its front matter and what in it matches the query."""

    status: str | None = None
    product: str | None = None
    version: str | None = None
    symptoms: list[str] = field(default_factory=list)
    error_codes: list[str] = field(default_factory=list)
    root_cause: str | None = None
    resolution: str | None = None
    matched_symptom: str | None = None
    resolution_excerpt: str | None = None


@dataclass
class Explanation:
    """Why a result came up: its rank in each retriever and the query terms found in its passage."""

    dense_rank: int | None
    lexical_rank: int | None
    matched_terms: list[str]
    fused_score: float


@dataclass
class Why:
    """Why a document came up for a pasted ticket or log: what it shares with the paste."""

    codes: list[str] = field(default_factory=list)        # the paste's error codes the document contains
    event_sources: dict[str, str] = field(default_factory=dict)  # of those, event IDs with the source that logged them
    product: str | None = None                            # the document's product, named in the paste
    version: str | None = None                            # the document's version, found in the paste
    sentence: str | None = None                           # the document's symptom (or passage sentence) nearest the paste


@dataclass
class Hit:
    """One ranked document with the passage that matched best."""

    id: str
    title: str
    type: str
    language: str
    tags: list[str]
    score: float
    similarity: float
    heading: str
    line: int
    snippet: str
    highlights: list[tuple[int, int]]
    explain: Explanation
    matched_phrases: list[str] = field(default_factory=list)
    identifiers: list[str] = field(default_factory=list)
    match: str | None = None
    probability: float | None = None
    case: CaseSummary | None = None
    why: Why | None = None


@dataclass(frozen=True)
class Related:
    id: str
    title: str
    type: str
    similarity: float


@dataclass(frozen=True)
class IdentifierCount:
    """How many results contain one of the query's identifiers (ranked first when the query is mostly identifiers)."""

    identifier: str
    documents: int
    suggestions: list[str] = field(default_factory=list)  # near codes in the index, when no document has it


@dataclass
class ResultPage:
    """One page of a search's results, and what describes the whole result set: its size after the
    filters, how many results of each match strength, facet counts and identifier counts."""

    hits: list[Hit]
    total: int
    offset: int
    limit: int
    matches: dict[str, int]  # strong / partial / weak counts among the `total` results
    facets: dict[str, list[tuple[str, int]]]
    identifiers: list[IdentifierCount]
    unfiltered: int  # results without the filters: a filter-only empty has `total` 0 and this > 0
    best: str | None  # match strength of the first result
    answered: bool | None  # the first result is a strong match or contains every error code of the query (None: unknown)
    identifiers_first: bool = False  # documents containing the identifiers are ranked above the rest


@dataclass(frozen=True)
class IndexStats:
    documents: int
    passages: int
    model: str
    built_at: str
    build: str


def make_hit(doc: DocInfo, ranked: Ranked, passage: PassageRow, q: ParsedQuery,
             resolution: PassageRow | None = None, stems: Collection[str] = ()) -> Hit:
    """A ranked document with its chosen passage made into a result (`resolution`: for cases;
    `stems`: the query's stems, so inflected forms are marked too)."""
    snippet = make_snippet(passage.text, q.terms, stems=stems, language=doc.language)
    score = round(ranked.score, 6)
    return Hit(
        id=doc.id, title=doc.title, type=doc.type, language=doc.language, tags=list(doc.tags),
        score=score, similarity=round(ranked.similarity, 4), heading=passage.heading, line=passage.line,
        snippet=snippet.text, highlights=snippet.highlights,
        explain=Explanation(ranked.ranks.get("dense"), ranked.ranks.get("lexical"), snippet.matched, score),
        matched_phrases=[*ranked.phrases, *(p for p in q.required if p not in ranked.phrases)],
        identifiers=list(ranked.identifiers), match=ranked.match,
        probability=None if ranked.probability is None else round(ranked.probability, 3),
        case=case_summary(doc.meta, q, resolution) if doc.type == "case" else None,
    )


def case_summary(meta: dict, q: ParsedQuery, resolution: PassageRow | None) -> CaseSummary:
    """Status, product, the symptom closest to the query and the first lines of the resolution."""
    symptoms = _strings(meta.get("symptoms"))
    overlap = {s: len({term for *_, term in matched_spans(s, q.terms)}) for s in symptoms}
    best = max(overlap, key=overlap.get) if overlap and max(overlap.values()) > 0 else None
    return CaseSummary(
        status=_text(meta.get("status")), product=_text(meta.get("product")), version=_text(meta.get("version")),
        symptoms=symptoms, error_codes=_strings(meta.get("error_codes")), root_cause=_text(meta.get("root_cause")),
        resolution=_text(meta.get("resolution")), matched_symptom=best,
        resolution_excerpt=first_lines(resolution.text) if resolution else None,
    )


def _text(value) -> str | None:
    """Front matter is free-form YAML: a missing, empty or false value is None, anything else its text."""
    return str(value) if value else None


def _strings(value) -> list[str]:
    if not value:
        return []
    return [str(v) for v in value if v] if isinstance(value, list) else [str(value)]


def first_lines(text: str, lines: int = 2, chars: int = 280) -> str:
    """The start of a section, cut at a word boundary: enough to see the answer at a glance."""
    head = "\n".join(text.splitlines()[:lines])
    if len(head) <= chars:
        return head
    cut = head.rfind(" ", 0, chars)
    return head[: cut if cut > chars // 2 else chars] + " …"


def count_facets(docs: Sequence[DocInfo], filters: Filters) -> dict[str, list[tuple[str, int]]]:
    """Counts per field value among `docs`, each the number of documents that choosing the value
    would give: a field is counted with every filter applied except its own (choosing another type
    replaces the type), tags with the chosen tags applied (tags add up: choosing one more narrows,
    choosing a chosen one removes it), and products by folded name (shown as most often spelled)."""
    result = {}
    for name in FACET_FIELDS:
        counted = docs if filters.empty else [d for d in docs if filters.accepts(d, skip=name)]
        if name == "tags":
            result[name] = _tag_counts(counted, filters.tags)
            continue
        key = text.fold if name == "product" else (lambda value: value)
        groups: dict[str, Counter] = {}
        for d in counted:
            for value in d.facet_values(name):
                groups.setdefault(key(value), Counter())[value] += 1
        counts = [(max(spellings, key=lambda v: (spellings[v], v)), sum(spellings.values())) for spellings in groups.values()]
        result[name] = sorted(counts, key=lambda kv: (-kv[1], kv[0]))
    return result


def _tag_counts(docs: Sequence[DocInfo], chosen: tuple[str, ...]) -> list[tuple[str, int]]:
    """For a tag not chosen: documents with the chosen tags and it; for a chosen one: documents with
    the other chosen tags (what un-choosing it gives)."""
    counts = Counter(t for d in docs if all(c in d.tags for c in chosen) for t in d.tags if t not in chosen)
    for tag in chosen:
        counts[tag] = sum(all(c in d.tags for c in chosen if c != tag) for d in docs)
    return sorted(((t, c) for t, c in counts.items() if c), key=lambda kv: (-kv[1], kv[0]))
