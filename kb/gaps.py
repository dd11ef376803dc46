"""Content gaps: searches that found no strong answer, and answers marked "not helpful", grouped by
similar wording.

A search is a gap when its first result is not a `strong` match (and it does not contain the query's
error codes), or it found nothing, except when only its filters emptied it (without them it had
results). Searches logged before match strength existed fall back to the cosine `threshold`.
Two queries are grouped when their sets of folded words (stop words dropped) overlap by at least
half (Jaccard >= 0.5), so "ups keeps dying" and "UPS dying again" count as one need. Groups are
listed most frequent first: the articles to write next.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from kb.query import parse_query
from kb.store.searches import FeedbackRow, SearchRow

DEFAULT_THRESHOLD = 0.45
"""For searches logged without match strength: cosine under which the best result is not an answer
(all-MiniLM-L6-v2 scale)."""


@dataclass
class Gap:
    query: str                      # the most frequent wording in the group
    count: int = 0                  # unanswered searches in the group
    no_results: int = 0             # of which returned nothing
    not_helpful: int = 0            # answers to the group's queries marked "not helpful"
    best_score: float | None = None  # the best top score any search in the group got
    last_seen: str = ""
    variants: dict[str, int] = field(default_factory=dict)
    unhelpful_documents: dict[str, int] = field(default_factory=dict)  # document id -> "not helpful" verdicts


def is_gap(row: SearchRow, threshold: float = DEFAULT_THRESHOLD) -> bool:
    if not row.results and row.unfiltered:
        return False  # the filters emptied it; the query itself had answers
    if row.answered is not None:
        return not row.answered
    return not row.results or row.top_score is None or row.top_score < threshold


def find_gaps(rows: Sequence[SearchRow], threshold: float = DEFAULT_THRESHOLD,
              feedback: Sequence[FeedbackRow] = ()) -> list[Gap]:
    """Group the unanswered searches and the "not helpful" verdicts."""
    groups: list[tuple[set[str], Gap]] = []

    def group_of(query: str) -> Gap:
        words = set(parse_query(query).folded_words)
        gap = next((g for w, g in groups if _similar(words, w)), None)
        if gap is None:
            gap = Gap(query=query)
            groups.append((words, gap))
        gap.variants[query] = gap.variants.get(query, 0) + 1
        return gap

    for row in rows:
        if not is_gap(row, threshold):
            continue
        gap = group_of(row.query)
        gap.count += 1
        gap.no_results += not row.results
        gap.last_seen = max(gap.last_seen, row.at)
        if row.top_score is not None:
            gap.best_score = row.top_score if gap.best_score is None else max(gap.best_score, row.top_score)
    for verdict in feedback:
        if verdict.verdict != "not-helpful":
            continue
        gap = group_of(verdict.query)
        gap.not_helpful += 1
        gap.unhelpful_documents[verdict.doc_id] = gap.unhelpful_documents.get(verdict.doc_id, 0) + 1
        gap.last_seen = max(gap.last_seen, verdict.at)
    for _, gap in groups:
        gap.query = max(gap.variants, key=lambda q: (gap.variants[q], q))
    return sorted((g for _, g in groups), key=lambda g: (-(g.count + g.not_helpful), g.query))


def _similar(a: set[str], b: set[str]) -> bool:
    if not a or not b:
        return a == b
    return len(a & b) / len(a | b) >= 0.5
