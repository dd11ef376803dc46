"""Ranked lists -> one ranking: weighted score fusion and reciprocal rank fusion, as pure functions.

A ranking is a list of (key, score), best first. Score fusion scales each list by its best score
(BM25 has no absolute scale) and adds the weighted parts; reciprocal rank fusion adds
weight / (k + rank). Which fusion and weights are used is a setting (`kb.config.SearchSettings`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

Ranking = Sequence[tuple[str, float]]


@dataclass(frozen=True)
class Fused:
    """A key's fused score and its 1-based rank in each list it appeared in."""

    key: str
    score: float
    ranks: Mapping[str, int]


def score_fusion(lists: Mapping[str, tuple[float, Ranking]], scaled: Sequence[str] | None = None) -> list[Fused]:
    """Weighted sum of scores; lists named in `scaled` (default: all) are divided by their best score.

    `lists` maps a list name to (weight, ranking). An unscaled list's negative scores count as 0.
    """
    def contribution(name: str, weight: float, top: float, score: float, rank: int) -> float:
        if scaled is not None and name not in scaled:
            return weight * max(score, 0.0)
        return weight * (score / top if top > 0 else 0.0)

    return _fuse(lists, contribution)


def reciprocal_rank_fusion(lists: Mapping[str, tuple[float, Ranking]], k: int = 60) -> list[Fused]:
    """Sum of weight / (k + rank) over the lists."""
    return _fuse(lists, lambda name, weight, top, score, rank: weight / (k + rank))


def _fuse(lists: Mapping[str, tuple[float, Ranking]], contribution) -> list[Fused]:
    """Best first; ties broken by key so a ranking is reproducible."""
    ranks: dict[str, dict[str, int]] = {}
    scores: dict[str, float] = {}
    for name, (weight, ranking) in lists.items():
        top = ranking[0][1] if ranking else 1.0
        for rank, (key, score) in enumerate(ranking, start=1):
            ranks.setdefault(key, {})[name] = rank
            scores[key] = scores.get(key, 0.0) + contribution(name, weight, top, score, rank)
    order = sorted(scores, key=lambda key: (-scores[key], key))
    return [Fused(key, scores[key], ranks[key]) for key in order]


def order_within(items: Sequence[int], rankings: Sequence[Mapping[int, float]], k: int = 60) -> list[int]:
    """The items by reciprocal rank fusion of several score maps, best first (ties: in item order).

    Orders the passages of one document for showing: items missing from a map get nothing from it.
    """
    fused = dict.fromkeys(items, 0.0)
    for scores in rankings:
        order = sorted((i for i in items if i in scores), key=lambda i: -scores[i])
        for rank, item in enumerate(order, start=1):
            fused[item] += 1.0 / (k + rank)
    return sorted(items, key=lambda item: -fused[item])
