"""VectorIndex: exact and approximate types behave alike for the indexer and the searcher."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import kb.vectors
from kb.vectors import VectorIndex

DIM = 32
COUNT = 2000
LIMIT = 500  # flat up to 500 vectors in these tests, approximate above


def unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(np.float32)


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, np.ndarray]:
    """Ids that are not row numbers (passage ids start anywhere), and clustered unit vectors."""
    rng = np.random.default_rng(42)
    centres = rng.standard_normal((40, DIM))
    vectors = unit(centres[rng.integers(0, 40, COUNT)] + 0.5 * rng.standard_normal((COUNT, DIM)))
    return np.arange(1000, 1000 + COUNT, dtype=np.int64), vectors


@pytest.fixture(scope="module", params=["flat", "approximate"])
def index(request, data) -> VectorIndex:
    ids, vectors = data
    return VectorIndex.build(ids, vectors, flat_limit=COUNT if request.param == "flat" else LIMIT)


def near(vector: np.ndarray, seed: int = 0) -> np.ndarray:
    return unit(vector + 0.01 * np.random.default_rng(seed).standard_normal(DIM))


def test_build_picks_the_type_by_count(data):
    ids, vectors = data
    assert VectorIndex.build(ids[:LIMIT], vectors[:LIMIT], flat_limit=LIMIT).exact
    approximate = VectorIndex.build(ids, vectors, flat_limit=LIMIT)
    assert not approximate.exact and approximate.kind.startswith("ivf")
    assert len(approximate) == COUNT and approximate.dimension == DIM


@pytest.mark.parametrize("row", [0, 777, COUNT - 1])
def test_planted_vector_is_the_nearest_neighbour(index, data, row):
    ids, vectors = data
    hits = index.search(near(vectors[row], row), 5)
    assert hits[0][0] == ids[row]
    assert hits[0][1] == pytest.approx(1.0, abs=0.01)
    assert [s for _, s in hits] == sorted((s for _, s in hits), reverse=True)


@pytest.mark.parametrize("allowed_count", [3, 1500])
@pytest.mark.parametrize("exact_subset", [2000, 100])  # IVF: small sets are scored directly, larger ones filtered in the index
def test_allowed_restricts_the_search(index, data, allowed_count, exact_subset, monkeypatch):
    monkeypatch.setattr(kb.vectors, "EXACT_SUBSET", exact_subset)
    ids, vectors = data
    allowed = [int(i) for i in np.random.default_rng(1).choice(ids[1:], allowed_count, replace=False)]
    hits = index.search(near(vectors[0]), 10, allowed)
    assert hits and {i for i, _ in hits} <= set(allowed)
    assert len(hits) == min(10, allowed_count)
    best = max(allowed, key=lambda i: float(vectors[i - 1000] @ near(vectors[0])))
    assert hits[0][0] == best
    assert index.search(vectors[0], 10, []) == []


def test_vector_returns_the_stored_vector(index, data):
    ids, vectors = data
    assert np.allclose(index.vector(ids[5]), vectors[5], atol=0.01)
    assert np.allclose(index.index.reconstruct(int(ids[5])), vectors[5], atol=0.01)  # what kb.search calls


def test_save_load_round_trip(index, data, tmp_path: Path):
    ids, vectors = data
    index.save(tmp_path / "vectors.faiss")
    loaded = VectorIndex.load(tmp_path / "vectors.faiss")
    assert (loaded.kind, len(loaded), loaded.exact) == (index.kind, len(index), index.exact)
    query = near(vectors[9])
    assert loaded.search(query, 10) == index.search(query, 10)
    assert loaded.search(query, 5, [int(ids[3]), int(ids[9])])[0][0] == ids[9]
    assert sorted(loaded.ids()) == sorted(ids)


@pytest.mark.parametrize("flat_limit", [COUNT, LIMIT])
def test_remove_then_add(data, flat_limit):
    ids, vectors = data
    index = VectorIndex.build(ids, vectors, flat_limit=flat_limit)
    index.remove([int(ids[10]), int(ids[11])])
    assert len(index) == COUNT - 2
    assert ids[10] not in {i for i, _ in index.search(near(vectors[10]), 10)}
    index.add([5000], vectors[10:11])
    assert index.search(near(vectors[10]), 1)[0][0] == 5000


@pytest.mark.parametrize("flat_limit", [COUNT, LIMIT])
def test_vectors_by_id_follow_removals_and_additions(data, flat_limit):
    """A flat index reads rows through an id -> row map: it must be remade when rows move."""
    ids, vectors = data
    index = VectorIndex.build(ids, vectors, flat_limit=flat_limit)
    wanted = [int(ids[7]), int(ids[1500]), int(ids[3])]
    assert np.allclose(index.vectors(wanted), vectors[[7, 1500, 3]], atol=0.01)
    index.remove([int(ids[0]), int(ids[4])])  # the rows after them move up
    index.add([9000], vectors[4:5])
    assert np.allclose(index.vectors([9000, *wanted]), vectors[[4, 7, 1500, 3]], atol=0.01)
    for missing in ([int(ids[0])], [123_456], [-1]):
        with pytest.raises(RuntimeError):
            index.vectors(missing)


def test_empty_flat_is_backward_compatible(data):
    ids, vectors = data
    index = VectorIndex.empty(DIM)
    assert index.exact and len(index) == 0 and index.search(vectors[0], 5) == []
    index.add(ids[:10].tolist(), vectors[:10])
    assert index.search(vectors[4], 1)[0][0] == ids[4]


def test_resized_switches_type_when_the_count_crosses_the_limit(data):
    ids, vectors = data
    index = VectorIndex.empty(DIM)
    index.add(ids[:LIMIT], vectors[:LIMIT])
    assert index.resized(LIMIT) is index  # at the limit: still exact
    index.add(ids[LIMIT:], vectors[LIMIT:])
    grown = index.resized(LIMIT)
    assert not grown.exact and len(grown) == COUNT
    assert grown.search(near(vectors[1500]), 1)[0][0] == ids[1500]
    assert grown.resized(LIMIT) is grown
    grown.remove(ids[200:].tolist())  # 200 left: below half the limit
    shrunk = grown.resized(LIMIT)
    assert shrunk.exact and sorted(shrunk.ids()) == list(ids[:200])
    assert shrunk.search(near(vectors[150]), 1)[0][0] == ids[150]

