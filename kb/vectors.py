"""Vectors: a FAISS inner-product index over unit vectors, addressed by passage id.

The index type follows the number of vectors:

* up to the `vectors.flat_limit` setting (default 200,000): exact search, `IndexIDMap2(IndexFlatIP)`.
* above it: `IndexIVFScalarQuantizer`, 8-bit scalar codes, inner product, ids stored in the inverted
  lists, hashtable direct map (so `reconstruct(id)` and `remove_ids` work by passage id).
  nlist = the power of two nearest 4 sqrt(n), trained by spherical k-means on TRAIN_PER_LIST
  sampled vectors per list; nprobe = nlist / 16.

Why IVF-SQ8 above the limit (measurements: README, "Vector index"): it fits a million vectors
with the model in a small process, keeps recall near exact, removes ids natively (so `kb index`
applies changes instead of rebuilding), and keeps recall under filters (small allowed sets are
scored directly, larger ones scanned with nprobe widened by the inverse of the allowed fraction).

Single queries run faiss on the calling thread only (see `_one_thread`): a second OpenMP thread
does not speed up one query and makes it several times slower whenever another thread holds a core.

`vector(id)` of an IVF-SQ8 index is the decoded 8-bit vector, close to (not equal to) the original.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import faiss
import numpy as np

NPROBE_FRACTION = 1 / 16
"""Share of the inverted lists scanned per query (see the figures above)."""

EXACT_SUBSET = 2_000
"""Filtered searches allowing at most this many ids score them directly (~1.5 us per id at 1M) rather
than scanning the lists with a selector."""

TRAIN_PER_LIST = 64
"""Training vectors per inverted list; faiss wants >= 39, more only slows training."""

CHUNK = 65_536
"""Vectors added per call while building, so a build never holds a second full copy of the data."""


class VectorIndex:
    """FAISS index whose ids are passage ids, so vectors can be removed when a document changes."""

    def __init__(self, index: faiss.Index):
        self.index = index
        self._rows: np.ndarray | None = None  # row of each id in a flat index (`_rows_of`), made on first use

    # -- construction --------------------------------------------------------------------------

    @classmethod
    def empty(cls, dimension: int) -> "VectorIndex":
        """Exact search: inner product of normalised vectors is cosine similarity."""
        return cls(faiss.IndexIDMap2(faiss.IndexFlatIP(dimension)))

    @classmethod
    def approximate(cls, training: np.ndarray, count: int) -> "VectorIndex":
        """An empty IVF-SQ8 index trained on `training` (a sample of the data), sized for `count` vectors."""
        training = _f32(training)
        dimension = training.shape[1]
        nlist = min(nlist_for(count), len(training))  # k-means needs a point per list
        ivf = faiss.IndexIVFScalarQuantizer(faiss.IndexFlatIP(dimension), dimension, nlist,
                                            faiss.ScalarQuantizer.QT_8bit, faiss.METRIC_INNER_PRODUCT)
        ivf.cp.min_points_per_centroid = 1  # small tests; real builds pass TRAIN_PER_LIST per list
        ivf.train(training)
        ivf.set_direct_map_type(faiss.DirectMap.Hashtable)  # reconstruct(id) and remove_ids by id
        ivf.nprobe = nprobe_for(nlist)
        return cls(ivf)

    @classmethod
    def build(cls, ids: Sequence[int], vectors: np.ndarray, flat_limit: int) -> "VectorIndex":
        """An index of the type that suits len(ids): flat up to `flat_limit`, IVF-SQ8 above."""
        ids = np.asarray(ids, dtype=np.int64)
        return cls._from_chunks(vectors.shape[1], len(ids), lambda: _slices(ids, vectors),
                                lambda n: vectors[_sample_rows(len(ids), n)], flat_limit)

    @classmethod
    def _from_chunks(cls, dimension: int, count: int, chunks: Callable[[], Iterable[tuple[np.ndarray, np.ndarray]]],
                     sample: Callable[[int], np.ndarray], flat_limit: int) -> "VectorIndex":
        """Build from `chunks()` (an iterator of (ids, vectors)) without materialising all vectors twice."""
        if count <= flat_limit:
            index = cls.empty(dimension)
        else:
            index = cls.approximate(sample(nlist_for(count) * TRAIN_PER_LIST), count)
        for chunk_ids, chunk_vectors in chunks():
            index.add(chunk_ids, chunk_vectors)
        return index

    def resized(self, flat_limit: int) -> "VectorIndex":
        """This index, or a rebuilt one when the count no longer suits its type (call after add/remove).

        Flat becomes IVF-SQ8 above `flat_limit`; IVF-SQ8 becomes flat below half of it (the gap stops a
        corpus near the limit from flipping at every build) and is retrained once the count has grown
        4x since training (nlist would double). Rebuilding from an IVF index re-encodes its decoded
        8-bit vectors: about 1e-3 further error per component, far below what changes a ranking.
        """
        count = len(self)
        if self.exact:
            needs = count > flat_limit
        else:
            needs = count < flat_limit // 2 or nlist_for(count) >= 2 * self._ivf.nlist
        if not needs:
            return self
        return VectorIndex._from_chunks(self.dimension, count, self._chunks, self._sample, flat_limit)

    @classmethod
    def load(cls, path: Path) -> "VectorIndex":
        return cls(faiss.read_index(str(path)))

    def save(self, path: Path) -> int:
        """Write the index to `path`; returns the bytes written. Python writes the file, so a full disk
        raises OSError (FAISS's own writer reported a failed close only on stderr)."""
        written = 0

        def write(chunk: bytes) -> None:
            nonlocal written
            written += out.write(chunk)

        with open(path, "wb") as out:
            faiss.write_index(self.index, faiss.PyCallbackIOWriter(write))
        return written

    # -- properties ----------------------------------------------------------------------------

    @property
    def dimension(self) -> int:
        return int(self.index.d)

    def __len__(self) -> int:
        return int(self.index.ntotal)

    @property
    def exact(self) -> bool:
        """True for flat search; False for the approximate IVF-SQ8 index."""
        return not isinstance(self.index, faiss.IndexIVF)

    @property
    def kind(self) -> str:
        """A short description for manifests and reports, e.g. 'flat' or 'ivf1024-sq8 nprobe=32'."""
        if self.exact:
            return "flat"
        codes = "sq8" if isinstance(self.index, faiss.IndexIVFScalarQuantizer) else "pq"
        return f"ivf{self._ivf.nlist}-{codes} nprobe={self._ivf.nprobe}"

    @property
    def _ivf(self) -> faiss.IndexIVF:
        return self.index

    def ids(self) -> np.ndarray:
        """Every id in the index (order unspecified)."""
        if self.exact:
            return faiss.vector_to_array(self.index.id_map).astype(np.int64)
        lists = self._ivf.invlists
        parts = [faiss.rev_swig_ptr(lists.get_ids(i), lists.list_size(i)).copy()
                 for i in range(self._ivf.nlist) if lists.list_size(i)]
        return np.concatenate(parts).astype(np.int64) if parts else np.zeros(0, dtype=np.int64)

    # -- changes -------------------------------------------------------------------------------

    def add(self, ids: Sequence[int], vectors: np.ndarray) -> None:
        if len(ids):
            self.index.add_with_ids(_f32(vectors), np.asarray(ids, dtype=np.int64))
            self._rows = None

    def remove(self, ids: Sequence[int]) -> None:
        """Drop vectors by id; works for every type (IVF removes from its lists and direct map)."""
        if len(ids):
            self.index.remove_ids(np.asarray(ids, dtype=np.int64))
            self._rows = None

    # -- reading -------------------------------------------------------------------------------

    def vector(self, passage_id: int) -> np.ndarray:
        """The stored vector of one id (decoded 8-bit, so approximate, for IVF-SQ8)."""
        return self.index.reconstruct(int(passage_id))

    def vectors(self, ids: Sequence[int]) -> np.ndarray:
        """Stored vectors of `ids`, in that order; every id must be in the index."""
        ids = np.asarray(ids, dtype=np.int64)
        if not len(ids):
            return np.zeros((0, self.dimension), dtype=np.float32)
        if self.exact:  # rows of the flat matrix: faiss's reconstruct_batch looked each id up, 8 ms a search at 44k
            return self._flat_matrix()[self._rows_of(ids)]
        return self.index.reconstruct_batch(ids)

    def _rows_of(self, ids: np.ndarray) -> np.ndarray:
        """The flat matrix's row of each id (RuntimeError for an id not in the index, as faiss raises)."""
        rows = self._rows
        if rows is None:
            known = self.ids()
            rows = np.full(int(known.max(initial=-1)) + 1, -1, dtype=np.int64)
            rows[known] = np.arange(len(known))
            self._rows = rows
        found = rows[ids[(ids >= 0) & (ids < len(rows))]]
        if len(found) != len(ids) or (found < 0).any():
            raise RuntimeError(f"{len(ids) - int((found >= 0).sum())} of {len(ids)} ids are not in the index")
        return found

    def search(self, query: np.ndarray, k: int, allowed: Sequence[int] | None = None) -> list[tuple[int, float]]:
        """(passage id, cosine similarity) best first; `allowed` restricts the search to those ids
        (for IVF-SQ8 every allowed id must be in the index, as the searcher's passage ids are)."""
        if len(self) == 0 or k <= 0 or (allowed is not None and len(allowed) == 0):
            return []
        query = _f32(np.atleast_2d(query))
        k = min(k, len(self))
        with _one_thread():
            if allowed is None:
                scores, ids = self.index.search(query, k)
            elif self.exact:
                params = faiss.SearchParameters(sel=faiss.IDSelectorBatch(np.asarray(allowed, dtype=np.int64)))
                scores, ids = self.index.search(query, k, params=params)
            else:
                return self._search_allowed(query, k, np.asarray(allowed, dtype=np.int64))
        return [(int(i), float(s)) for i, s in zip(ids[0], scores[0]) if i != -1]

    def _search_allowed(self, query: np.ndarray, k: int, allowed: np.ndarray) -> list[tuple[int, float]]:
        """Filtered IVF search that keeps recall however few ids are allowed.

        A small allowed set is scored directly: cheaper than scanning, and exact. Otherwise the lists
        are scanned with a selector and nprobe widened by the inverse of the allowed fraction, so about
        as many allowed candidates are seen as an unfiltered query sees (up to a full scan).
        """
        ivf = self._ivf
        if len(allowed) <= EXACT_SUBSET:
            allowed = np.unique(allowed)
            scores = self.vectors(allowed) @ query[0]
            top = np.argsort(-scores, kind="stable")[:k]
            return [(int(allowed[i]), float(scores[i])) for i in top]
        nprobe = min(ivf.nlist, math.ceil(ivf.nprobe * len(self) / len(allowed)))
        params = faiss.SearchParametersIVF(sel=faiss.IDSelectorBatch(allowed), nprobe=nprobe)
        scores, ids = ivf.search(query, k, params=params)
        return [(int(i), float(s)) for i, s in zip(ids[0], scores[0]) if i != -1]

    # -- rebuilding ----------------------------------------------------------------------------

    def _chunks(self) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """(ids, vectors) of the whole index, a chunk at a time (views into a flat index: no copy)."""
        ids = self.ids()
        if self.exact:
            yield from _slices(ids, self._flat_matrix())
            return
        for start in range(0, len(ids), CHUNK):
            part = ids[start : start + CHUNK]
            yield part, self.vectors(part)

    def _sample(self, n: int) -> np.ndarray:
        ids = self.ids()
        rows = _sample_rows(len(ids), n)
        return self._flat_matrix()[rows] if self.exact else self.vectors(ids[rows])

    def _flat_matrix(self) -> np.ndarray:
        """The flat index's vectors, row i for ids()[i], without copying."""
        flat = faiss.downcast_index(self.index.index)
        return faiss.rev_swig_ptr(flat.get_xb(), len(self) * self.dimension).reshape(len(self), self.dimension)


def blas_on_one_thread() -> None:
    """Run numpy's BLAS (and any other loaded BLAS) on one thread in this process; a searching
    process calls it. A search multiplies a few hundred vectors by one, which a second BLAS thread
    does not speed up; but OpenBLAS's threads spin after each product, so on 2 cores they doubled the
    CPU of a search (5,000 articles, msdocs symptom queries: median 199 ms of CPU for 100 ms of wall
    time; `bench/search_cpu.py`) and took a core from the next request."""
    from threadpoolctl import threadpool_limits

    threadpool_limits(1, user_api="blas")


@contextmanager
def _one_thread() -> Iterator[None]:
    """Run faiss on the calling thread only, for one query.

    A single query gains nothing from a second OpenMP thread, but when anything else holds a core
    (the model embedding another request, a build) the OpenMP barrier waits for a descheduled
    thread, several times slower. The setting is per thread in OpenMP, so it is restored after.
    """
    previous = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    try:
        yield
    finally:
        faiss.omp_set_num_threads(previous)


def nlist_for(count: int) -> int:
    """Inverted lists for `count` vectors: the power of two nearest 4 sqrt(count), at least 16."""
    return max(16, 2 ** round(math.log2(4 * max(1, count) ** 0.5)))


def nprobe_for(nlist: int) -> int:
    """Lists scanned per query."""
    return max(1, min(nlist, round(nlist * NPROBE_FRACTION)))


def _f32(vectors: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(vectors, dtype=np.float32)


def _slices(ids: np.ndarray, vectors: np.ndarray) -> Iterable[tuple[np.ndarray, np.ndarray]]:
    for start in range(0, len(ids), CHUNK):
        yield ids[start : start + CHUNK], vectors[start : start + CHUNK]


def _sample_rows(count: int, n: int) -> np.ndarray:
    """Sorted distinct row numbers, a fixed-seed sample so builds are reproducible."""
    if n >= count:
        return np.arange(count)
    return np.sort(np.random.default_rng(0).choice(count, size=n, replace=False))
