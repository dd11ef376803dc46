"""Ranked documents -> match strength: the calibrated chance that a result answers the query, and the
label an engineer reads, `strong`, `partial` or `weak`.

Cosine similarity alone cannot say this: gibberish still has a nearest neighbour, and a long symptom
sentence scores lower than a short title for the same answer. The chance comes from a logistic model
over features that mean the same in any corpus (the result's cosine, how far it stands out from the
others, the IDF-weighted share of the query words it contains, whether it contains the query's error
codes, and its rank), fitted on relevance data by `kb calibrate`
(`kb.calibration`). The fitted model ships as `kb/match_model.json`; a team can fit its own.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from kb.results import Ranked

SHIPPED = Path(__file__).with_name("match_model.json")
LABELS = ("strong", "partial", "weak")
FEATURES = ("cosine", "cosine_margin", "cosine_spread", "coverage", "identifiers", "lacks_identifiers", "first", "log_rank")


def features(ranked: Sequence[Ranked], identifiers: int) -> np.ndarray:
    """One row of FEATURES per ranked document (best first), for a query with `identifiers` codes.

    The margin (a result's cosine minus the best cosine of the other first ten) says how far a result
    stands out: the first of a few distinct documents stands further out than the first of many
    near-duplicates. It is taken within the list, so a list must be the whole ranking of one query,
    cut only at its end. (A fused-score margin was tried: it fits the msdocs queries a little better
    and lets a quarter of gibberish queries look like answers.)"""
    if not ranked:
        return np.zeros((0, len(FEATURES)))
    n = len(ranked)
    cosine = np.array([r.cosine or 0.0 for r in ranked])
    found = np.array([len(r.identifiers) for r in ranked], dtype=np.float64)
    rank = np.arange(1, n + 1, dtype=np.float64)
    return np.column_stack([
        cosine,
        cosine - _best_other(cosine, cosine[:10]),
        cosine - float(np.median(cosine[:10])),
        np.array([r.coverage for r in ranked]),
        found / identifiers if identifiers else np.zeros(n),
        (found == 0) & (identifiers > 0),
        rank == 1,
        np.log(rank),
    ]).astype(np.float64)


def _best_other(values: np.ndarray, first: np.ndarray) -> np.ndarray:
    """For each value, the largest of the `first` values (a prefix of `values`) except itself; 0 when
    there is no other. Taken over the first ten results, as calibration sees them, however long the list."""
    if len(first) < 2:  # `first` is a prefix: fewer than two values in all
        return np.zeros(len(values))
    order = np.argsort(first)[::-1]
    best = np.full(len(values), first[order[0]])
    best[order[0]] = first[order[1]]
    return best


@dataclass(frozen=True)
class MatchModel:
    """A fitted logistic calibration and the two probability cut-offs that name its labels."""

    model: str                      # the embedding model it was fitted with (cosines differ between models)
    coefficients: tuple[float, ...]  # one per FEATURES
    intercept: float
    strong: float                   # probability at or above which a result is `strong`
    partial: float                  # ... `partial`; below it `weak`
    features: tuple[str, ...] = FEATURES
    fitted: dict = field(default_factory=dict)  # what it was fitted on and how it did on held-out queries

    def chances(self, x: np.ndarray) -> np.ndarray:
        """The logistic model's probability for each row of FEATURES."""
        return 1.0 / (1.0 + np.exp(-(x @ np.array(self.coefficients) + self.intercept)))

    def probabilities(self, ranked: Sequence[Ranked], identifiers: int) -> np.ndarray:
        return self.chances(features(ranked, identifiers))

    def label(self, probability: float) -> str:
        return "strong" if probability >= self.strong else "partial" if probability >= self.partial else "weak"

    def apply(self, ranked: Sequence[Ranked], identifiers: int) -> list[Ranked]:
        """The ranking with each document's probability and label."""
        chances = self.probabilities(ranked, identifiers).tolist()
        return [r.but(probability=p, match=self.label(p)) for r, p in zip(ranked, chances)]

    @classmethod
    def load(cls, path: Path = SHIPPED) -> "MatchModel":
        """Read a model written by `save`; a file for other features is an error naming it."""
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            model = cls(**{**data, "coefficients": tuple(data["coefficients"]), "features": tuple(data["features"])})
        except (OSError, ValueError, TypeError, KeyError) as exc:
            raise ValueError(f"{path}: not a match model ({exc.__class__.__name__}: {exc}); refit it with `kb calibrate`") from None
        if model.features != FEATURES or len(model.coefficients) != len(FEATURES):
            raise ValueError(f"{path}: fitted for features {list(model.features)}, this version computes "
                             f"{list(FEATURES)}; refit it with `kb calibrate`")
        return model

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(asdict(self), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
