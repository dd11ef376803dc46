"""Ranked lists -> one ranking: weighted score fusion and reciprocal rank fusion, as pure functions.

A ranking is a list of (key, score), best first. Score fusion scales each list by its best score
(BM25 has no absolute scale), or by the range from its lowest to its best score, and adds the
weighted parts; reciprocal rank fusion adds weight / (k + rank). `blend` mixes two models' cosines
of the same documents. Which fusion and weights are used is a setting (`kb.config.SearchSettings`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

Ranking = Sequence[tuple[str, float]]


@dataclass(frozen=True)
class Fused:
    """A key's fused score and its 1-based rank in each list it appeared in."""

    key: str
    score: float
    ranks: Mapping[str, int]


def score_fusion(lists: Mapping[str, tuple[float, Ranking]], scaled: Sequence[str] | None = None,
                 ranged: Sequence[str] = ()) -> list[Fused]:
    """Weighted sum of scores; lists named in `scaled` (default: all) are divided by their best score,
    and those also named in `ranged` count from their lowest score: (score - lowest) / (best - lowest).

    `lists` maps a list name to (weight, ranking). An unscaled list's negative scores count as 0.
    """
    lowest = {name: min((s for _, s in ranking), default=0.0) if name in ranged else 0.0
              for name, (_, ranking) in lists.items()}

    def contribution(name: str, weight: float, top: float, score: float, rank: int) -> float:
        if scaled is not None and name not in scaled:
            return weight * max(score, 0.0)
        floor = lowest[name]  # 0 unless ranged
        return weight * ((score - floor) / (top - floor) if top > floor else 0.0)

    return _fuse(lists, contribution)


def blend(primary: Mapping[str, float], second: Mapping[str, float], share: float) -> dict[str, float]:
    """`primary`'s scores, where `second` also scores a key: (1 - share) x primary + share x second,
    with `second` first moved to `primary`'s scale (same mean and spread over the keys both score).
    Two models' cosines are not comparable (one's related texts score 0.85, the other's 0.5), and
    keys only `primary` scores must stay comparable with the blended ones."""
    both = [k for k in primary if k in second]
    if not both or share <= 0:
        return dict(primary)
    a, b = [primary[k] for k in both], [second[k] for k in both]
    spread_b = _spread(b)
    scale = _spread(a) / spread_b if spread_b > 0 else 1.0
    shift = math.fsum(a) / len(a) - scale * math.fsum(b) / len(b)
    return {k: (1 - share) * v + share * (scale * second[k] + shift) if k in second else v for k, v in primary.items()}


def _spread(values: Sequence[float]) -> float:
    """Population standard deviation (statistics.pstdev computes it in exact fractions: 1 ms a search);
    0 for equal values, as pstdev gives (the mean of equal floats can differ from them in the last bit)."""
    if max(values) == min(values):
        return 0.0
    mean = math.fsum(values) / len(values)
    return math.sqrt(math.fsum((v - mean) ** 2 for v in values) / len(values))


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
