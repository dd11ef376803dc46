"""Content gaps: searches that found no strong answer, and answers marked "not helpful", grouped by
similar wording.

A search is a gap when its first result is not a `strong` match (and it does not contain the query's
error codes), or it found nothing, except when only its filters emptied it (without them it had
results). Searches logged before match strength existed fall back to the cosine `threshold`.
Two queries are grouped when their sets of folded words (stop words dropped) overlap by at least
half (Jaccard >= 0.5), so "ups keeps dying" and "UPS dying again" count as one need. Groups are
listed most frequent first: the articles to write next.

A query joins the first group, in the order groups were made, whose first query's words it resembles.
A log holds few distinct queries, often repeated: each distinct wording is parsed and placed once,
and compared only with the groups that share one of its rarer words (prefix filtering: two word sets
with Jaccard >= 0.5 must share one of the first |words| - ceil(|words| / 2) + 1 of each, rarest
first), so a 100,000-search log takes a fraction of a second, and the time no longer grows with the
square of the number of distinct queries. The groups are those of comparing every query with every group.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from typing import Protocol
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
              feedback: Sequence[FeedbackRow] = (), grouping: Callable[[Sequence[str]], Grouping] | None = None) -> list[Gap]:
    """Group the unanswered searches and the "not helpful" verdicts (`grouping`: how queries are
    grouped, by default `IndexedGrouping`; `PairwiseGrouping` is the plain reference)."""
    unanswered = [row for row in rows if is_gap(row, threshold)]
    unhelpful = [verdict for verdict in feedback if verdict.verdict == "not-helpful"]
    group_of = (grouping or IndexedGrouping)([row.query for row in unanswered] + [verdict.query for verdict in unhelpful])
    for row in unanswered:
        gap = group_of(row.query)
        gap.count += 1
        gap.no_results += not row.results
        gap.last_seen = max(gap.last_seen, row.at)
        if row.top_score is not None:
            gap.best_score = row.top_score if gap.best_score is None else max(gap.best_score, row.top_score)
    for verdict in unhelpful:
        gap = group_of(verdict.query)
        gap.not_helpful += 1
        gap.unhelpful_documents[verdict.doc_id] = gap.unhelpful_documents.get(verdict.doc_id, 0) + 1
        gap.last_seen = max(gap.last_seen, verdict.at)
    for gap in group_of.gaps:
        gap.query = max(gap.variants, key=lambda q: (gap.variants[q], q))
    return sorted(group_of.gaps, key=lambda g: (-(g.count + g.not_helpful), g.query))


class Grouping(Protocol):
    """Query -> its group (a Gap whose `variants` it counts); `gaps`: the groups, oldest first."""

    gaps: list[Gap]

    def __call__(self, query: str) -> Gap: ...


class PairwiseGrouping:
    """The plain grouping: each query is compared with every group made so far (quadratic: 8,000
    distinct weak queries took 18 s). The reference that `IndexedGrouping` must equal."""

    def __init__(self, queries: Sequence[str]) -> None:
        self.gaps: list[Gap] = []
        self.group_words: list[frozenset[str]] = []

    def __call__(self, query: str) -> Gap:
        words = frozenset(parse_query(query).folded_words)
        found = next((i for i, group in enumerate(self.group_words) if _similar(words, group)), None)
        if found is None:
            self.group_words.append(words)
            self.gaps.append(Gap(query=query))
            found = len(self.gaps) - 1
        gap = self.gaps[found]
        gap.variants[query] = gap.variants.get(query, 0) + 1
        return gap


class IndexedGrouping:
    """Query -> its group, for the queries given (in any order). The same word set always lands in the
    same group (groups made after it came first cannot precede the one it found), so each is placed once."""

    def __init__(self, queries: Sequence[str]) -> None:
        self.words_of = {query: frozenset(parse_query(query).folded_words) for query in dict.fromkeys(queries)}
        self.rarity = Counter(word for words in set(self.words_of.values()) for word in words)
        self.gaps: list[Gap] = []
        self.group_words: list[frozenset[str]] = []                   # each group's first query's words
        self.by_word: defaultdict[str, list[int]] = defaultdict(list)  # prefix word -> groups, oldest first
        self.by_words: dict[frozenset[str], Gap] = {}

    def __call__(self, query: str) -> Gap:
        words = self.words_of[query]
        gap = self.by_words.get(words)
        if gap is None:
            gap = self.by_words[words] = self._first_similar(words) or self._new(query, words)
        gap.variants[query] = gap.variants.get(query, 0) + 1
        return gap

    def _prefix(self, words: frozenset[str]) -> list[str]:
        """The rarest words, enough that any set with Jaccard >= 0.5 shares one of them and of its own prefix."""
        return sorted(words, key=lambda w: (self.rarity[w], w))[:len(words) - math.ceil(len(words) / 2) + 1]

    def _first_similar(self, words: frozenset[str]) -> Gap | None:
        """The earliest similar group among those sharing a prefix word (a query without words joins only
        one without words, found in `by_words`)."""
        candidates = {group for word in self._prefix(words) for group in self.by_word.get(word, ())}
        similar = [g for g in candidates if _similar(words, self.group_words[g])]
        return self.gaps[min(similar)] if similar else None

    def _new(self, query: str, words: frozenset[str]) -> Gap:
        for word in self._prefix(words):
            self.by_word[word].append(len(self.gaps))
        self.group_words.append(words)
        self.gaps.append(Gap(query=query))
        return self.gaps[-1]


def _similar(a: frozenset[str], b: frozenset[str]) -> bool:
    if not a or not b:
        return a == b
    return len(a & b) / len(a | b) >= 0.5
