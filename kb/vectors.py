"""Vectors: a FAISS inner-product index over unit vectors, addressed by passage id."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import faiss
import numpy as np


class VectorIndex:
    """FAISS index whose ids are passage ids, so vectors can be removed when a document changes."""

    def __init__(self, index: faiss.Index):
        self.index = index

    @classmethod
    def empty(cls, dimension: int) -> "VectorIndex":
        """Exact search: inner product of normalised vectors is cosine similarity."""
        return cls(faiss.IndexIDMap2(faiss.IndexFlatIP(dimension)))

    @classmethod
    def load(cls, path: Path) -> "VectorIndex":
        return cls(faiss.read_index(str(path)))

    def save(self, path: Path) -> None:
        faiss.write_index(self.index, str(path))

    @property
    def dimension(self) -> int:
        return int(self.index.d)

    def __len__(self) -> int:
        return int(self.index.ntotal)

    def add(self, ids: Sequence[int], vectors: np.ndarray) -> None:
        if len(ids):
            self.index.add_with_ids(np.ascontiguousarray(vectors, dtype=np.float32), np.asarray(ids, dtype=np.int64))

    def remove(self, ids: Sequence[int]) -> None:
        if len(ids):
            self.index.remove_ids(np.asarray(ids, dtype=np.int64))

    def search(self, query: np.ndarray, k: int, allowed: Sequence[int] | None = None) -> list[tuple[int, float]]:
        """(passage id, cosine similarity) best first; `allowed` restricts the search to those ids."""
        if len(self) == 0 or k <= 0 or (allowed is not None and len(allowed) == 0):
            return []
        params = None
        if allowed is not None:
            params = faiss.SearchParameters(sel=faiss.IDSelectorBatch(np.asarray(allowed, dtype=np.int64)))
        scores, ids = self.index.search(np.atleast_2d(query).astype(np.float32), min(k, len(self)), params=params)
        return [(int(i), float(s)) for i, s in zip(ids[0], scores[0]) if i != -1]
