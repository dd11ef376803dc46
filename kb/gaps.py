"""Content gaps: searches whose best answer was weak or missing, grouped by similar wording.

Two queries are grouped when their sets of folded words (stop words dropped) overlap by at least
half (Jaccard >= 0.5), so "ups keeps dying" and "UPS dying again" count as one need. Groups are
listed most frequent first: the articles to write next.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from kb.query import parse_query

DEFAULT_THRESHOLD = 0.45
"""Cosine similarity under which the best result is not an answer (all-MiniLM-L6-v2 scale; see README)."""


@dataclass
class Gap:
    query: str                      # the most frequent wording in the group
    count: int = 0                  # searches in the group
    no_results: int = 0             # of which returned nothing
    best_score: float | None = None  # the best top score any search in the group got
    last_seen: str = ""
    variants: dict[str, int] = field(default_factory=dict)


def find_gaps(rows: list[tuple[str, str, int, float | None]], threshold: float = DEFAULT_THRESHOLD) -> list[Gap]:
    """Group the weak searches among (at, query, results, top_score) rows."""
    groups: list[tuple[set[str], Gap]] = []
    for at, query, results, top in rows:
        if results and top is not None and top >= threshold:
            continue
        words = set(parse_query(query).folded_words)
        gap = next((g for w, g in groups if _similar(words, w)), None)
        if gap is None:
            gap = Gap(query=query)
            groups.append((words, gap))
        gap.count += 1
        gap.no_results += not results
        gap.variants[query] = gap.variants.get(query, 0) + 1
        gap.last_seen = max(gap.last_seen, at)
        if top is not None:
            gap.best_score = top if gap.best_score is None else max(gap.best_score, top)
    for _, gap in groups:
        gap.query = max(gap.variants, key=lambda q: (gap.variants[q], q))
    return sorted((g for _, g in groups), key=lambda g: (-g.count, g.query))


def _similar(a: set[str], b: set[str]) -> bool:
    if not a or not b:
        return a == b
    return len(a & b) / len(a | b) >= 0.5
