"""Relevance data -> a match-strength model (`kb calibrate`), and how well calibrated it is.

The examples are each query's first ten results, labelled relevant or not; and the same queries
again with their relevant documents taken out of the results, which stand for the questions the
knowledge base has no answer to (their results are as near as the index gets, and none is right).
A logistic regression over `kb.match_strength.FEATURES` gives the chance that a result is relevant;
two cut-offs name the labels:

- `strong`: a chance of at least one half: more likely to answer than not;
- `partial`: low enough that nine in ten first results that are relevant reach it.

Queries are split in two by a hash of their id: the model is fitted on one half and reported on the
other, so the figures describe queries it has not seen.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timezone

import numpy as np

from kb.evaluation import EvalQuery, held_out
from kb.match_strength import FEATURES, LABELS, MatchModel, features
from kb.query import parse_query
from kb.search import Searcher

TOP = 10
PARTIAL_RECALL = 0.92
"""Share of relevant first results that must reach `partial` on the fitted half (0.9 is the target on held-out)."""
STRONG = 0.5
"""Calibrated chance at or above which a result is `strong`."""


@dataclass
class Examples:
    """Feature rows of ranked results with their labels, and per query which rows belong to it."""

    x: np.ndarray
    y: np.ndarray
    queries: list[tuple[str, bool, slice]]  # (query id, answerable, its rows, best first)

    def __add__(self, other: "Examples") -> "Examples":
        offset = len(self.y)
        moved = [(q, a, slice(s.start + offset, s.stop + offset)) for q, a, s in other.queries]
        return Examples(np.vstack([self.x, other.x]), np.concatenate([self.y, other.y]), self.queries + moved)


def collect(searcher: Searcher, queries: Sequence[EvalQuery]) -> Examples:
    """Examples from ranking each query (hybrid) on `searcher`: as is, and without its relevant documents."""
    rows, labels, spans = [], [], []
    for query in queries:
        parsed = parse_query(query.query)
        ranked = searcher.candidates(parsed)
        variants = [(True, ranked)] if query.relevant else []
        variants.append((False, [r for r in ranked if r.doc_id not in query.relevant]))
        for answerable, results in variants:
            top = results[:TOP]
            if not top:
                continue
            start = len(labels)
            rows.append(features(top, len(parsed.identifiers)))
            labels.extend(r.doc_id in query.relevant for r in top)
            spans.append((query.id, answerable, slice(start, len(labels))))
    x = np.vstack(rows) if rows else np.zeros((0, len(FEATURES)))
    return Examples(x, np.array(labels, dtype=float), spans)


def fit(examples: Examples, model_id: str, sources: list[str], cut_on: Examples | None = None) -> MatchModel:
    """A logistic model of relevance and the cut-offs of its labels (see the module docstring).

    `cut_on`: the examples whose first results set the cut-offs (default: all). Easy queries (titles,
    a code alone) are good for fitting but would raise the `partial` cut above what symptom
    descriptions reach."""
    from sklearn.linear_model import LogisticRegression

    regression = LogisticRegression(C=1.0, max_iter=2000).fit(examples.x, examples.y)
    unlabelled = MatchModel(model_id, tuple(regression.coef_[0].tolist()), float(regression.intercept_[0]), 1.0, 0.0)
    cut_on = cut_on or examples
    p = unlabelled.chances(cut_on.x)
    firsts = [(p[s.start], cut_on.y[s.start]) for _, answerable, s in cut_on.queries if answerable]
    right = sorted(chance for chance, relevant in firsts if relevant)
    partial = right[int(len(right) * (1 - PARTIAL_RECALL))] if right else 0.5
    strong = max(STRONG, partial)
    fitted = {"at": datetime.now(timezone.utc).isoformat(timespec="seconds"), "sources": sources,
              "queries": len({q for q, _, _ in examples.queries}), "results": int(len(examples.y))}
    return MatchModel(model_id, unlabelled.coefficients, unlabelled.intercept, round(strong, 4), round(partial, 4), fitted=fitted)


@dataclass
class Report:
    """How a model does on examples: Brier score, a reliability table, and the two product figures."""

    results: int
    brier: float
    reliability: list[tuple[float, float, int, float, float]]  # (bin low, bin high, results, share relevant, mean predicted)
    first_relevant_labelled: float  # share of relevant first results labelled strong or partial
    first_relevant: int
    unanswerable_no_match: float    # share of unanswerable variants where no result is strong or partial
    unanswerable: int
    labels: dict[str, tuple[int, float]]  # per label: first results with it, share of them relevant


def report(model: MatchModel, examples: Examples, bins: int = 10) -> Report:
    p = model.chances(examples.x)
    y = examples.y
    table = []
    for low in np.linspace(0, 1, bins, endpoint=False):
        high = low + 1 / bins
        inside = (p >= low) & ((p < high) if high < 1 else (p <= 1))
        if inside.any():
            table.append((round(float(low), 2), round(float(high), 2), int(inside.sum()), float(y[inside].mean()), float(p[inside].mean())))
    firsts = [(model.label(p[s.start]), y[s.start]) for _, answerable, s in examples.queries if answerable]
    right = [label for label, relevant in firsts if relevant]
    empty = [all(model.label(c) == "weak" for c in p[s]) for _, answerable, s in examples.queries if not answerable]
    labels = {}
    for name in LABELS:
        mine = [relevant for label, relevant in firsts if label == name]
        labels[name] = (len(mine), float(np.mean(mine)) if mine else 0.0)
    return Report(
        results=int(len(y)), brier=float(np.mean((p - y) ** 2)) if len(y) else 0.0, reliability=table,
        first_relevant_labelled=float(np.mean([label != "weak" for label in right])) if right else 0.0,
        first_relevant=len(right),
        unanswerable_no_match=float(np.mean(empty)) if empty else 0.0, unanswerable=len(empty), labels=labels,
    )


def split(queries: Sequence[EvalQuery]) -> tuple[list[EvalQuery], list[EvalQuery]]:
    """(fit half, held-out half)."""
    return [q for q in queries if not held_out(q)], [q for q in queries if held_out(q)]


def identifier_queries(searcher: Searcher, most: int = 5, limit: int = 200) -> list[EvalQuery]:
    """Queries of one error code alone, every document containing it relevant: what "exact
    identifiers first" means, as relevance data (codes found in at most `most` documents)."""
    queries = []
    for code in searcher.catalog.codes:
        having = searcher.lexical.containing([code])
        if 0 < len(having) <= most:
            queries.append(EvalQuery(f"code-{code}", code, tuple(sorted(having))))
    step = max(1, len(queries) // limit)  # spread over the sorted codes, not the first `limit`
    return queries[::step][:limit]


@dataclass
class QuerySet:
    """Relevance data for calibration: queries over one index. `sets_cuts`: its relevant first
    results set the label cut-offs (symptom descriptions do; titles and lone codes are too easy)."""

    name: str
    searcher: Searcher
    queries: list[EvalQuery]
    sets_cuts: bool = True


def calibrate(sets: Sequence[QuerySet], model_id: str) -> tuple[MatchModel, dict[str, Report]]:
    """Fit on one half of every set's queries; report on the other half of each (`held_out`)."""
    fitted, cut_on, held = None, None, {}
    for query_set in sets:
        fit_half, other_half = split(query_set.queries)
        examples = collect(query_set.searcher, fit_half)
        fitted = examples if fitted is None else fitted + examples
        if query_set.sets_cuts:
            cut_on = examples if cut_on is None else cut_on + examples
        held[query_set.name] = collect(query_set.searcher, other_half)
    if fitted is None or not len(fitted.y) or len(set(fitted.y.tolist())) < 2:
        raise ValueError("calibration needs queries with relevant documents among their results, and results that are not")
    model = fit(fitted, model_id, [f"{q.name} ({len(q.queries)} queries)" for q in sets], cut_on)
    reports = {name: report(model, examples) for name, examples in held.items()}
    fitted_info = {**model.fitted, "held_out": {name: _summary(r) for name, r in reports.items()}}
    return replace(model, fitted=fitted_info), reports


def _summary(r: Report) -> dict:
    return {"brier": round(r.brier, 4), "first_relevant_labelled": round(r.first_relevant_labelled, 3),
            "first_relevant": r.first_relevant, "unanswerable_no_match": round(r.unanswerable_no_match, 3),
            "unanswerable": r.unanswerable}
