"""Vector index at scale: exact flat search versus the approximate index that kb.vectors picks above
the `vectors.flat_limit` setting, on synthetic passage vectors of dimension 384.

    python bench/vector_scale.py                                 # 100k and 1M: flat and ivf-sq8
    python bench/vector_scale.py --sizes 100000 --compare        # also hnsw-flat, hnsw-sq8, ivf-pq

For every size and index type: build time, peak RSS of the build process, index file size, RSS that
loading the index adds to a fresh process (what a server pays), single-query latency p50/p99 through
VectorIndex.search (k=10), p50 with a filter allowing 1% of the ids, and recall@10 against exact
search (ground truth for --truth queries by brute force). Approximate types are measured at a few
nprobe/efSearch settings; '*' marks the one kb.vectors uses.

The vectors imitate all-MiniLM-L6-v2 passage embeddings: topics -> documents (10 passages each) ->
passages, on a decaying spectrum plus a shared mean direction; queries are noisier points around
random documents. Calibrated on the 38,890 real passage vectors of the msdocs corpus and 300 of its
symptom queries (synthetic vs real): passage nearest-neighbour cosine 1st/10th/100th 0.70/0.63/0.52
vs 0.86/0.67/0.52, median 0.15 vs 0.15; query top 1/10/100 0.67/0.59/0.49 vs 0.77/0.62/0.49;
distinct documents among a query's top 10: 4.6 vs 4.5. At that size ivf-sq8 recall@10 is 0.996 on
synthetic and 0.988 on real vectors: close, but figures at 1M are an estimate, not a guarantee.
Uniform random vectors would make every neighbour almost equally far and recall meaningless.
`--real BUILD` repeats the flat / ivf-sq8 comparison on the vectors of a built index, real queries.

Each build and each measurement runs in its own process, so memory figures do not mix. Figures only;
nothing is asserted.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DIM = 384
PER_DOC = 10
DOCS_PER_TOPIC = 20
SPECTRUM = 0.4  # component scales fall as i ** -SPECTRUM
MEAN_NORM, TOPIC, DOC, PASSAGE, QUERY = 0.65, 1.0, 0.6, 1.0, 1.2
CHUNK = 100_000
DEFAULT_TYPES = ("flat", "ivf-sq8")
COMPARE_TYPES = ("hnsw-flat", "hnsw-sq8", "ivf-pq")
HNSW_M, HNSW_EF_CONSTRUCTION = 32, 40
PQ_M = 48  # 8-bit codes of 8 dimensions each: 48 bytes per vector


# -- synthetic data --------------------------------------------------------------------------

class Synthetic:
    """Deterministic passage-like unit vectors; generated in chunks so 1M never needs two copies."""

    def __init__(self, n: int, seed: int = 0):
        rng = np.random.default_rng(seed)
        scale = np.arange(1, DIM + 1, dtype=np.float32) ** -SPECTRUM
        self.scale = scale / np.linalg.norm(scale)
        self.basis = np.linalg.qr(rng.standard_normal((DIM, DIM)))[0].astype(np.float32)
        mean = rng.standard_normal(DIM).astype(np.float32)
        self.mean = mean * MEAN_NORM / np.linalg.norm(mean)
        self.n, self.seed = n, seed
        docs = -(-n // PER_DOC)
        topics = rng.standard_normal((max(1, docs // DOCS_PER_TOPIC), DIM)).astype(np.float32) * self.scale * TOPIC
        self.docs = topics[rng.integers(0, len(topics), docs)] + self._noise(rng, docs, DOC)

    def _noise(self, rng: np.random.Generator, n: int, level: float) -> np.ndarray:
        return rng.standard_normal((n, DIM), dtype=np.float32) * self.scale * level

    def _finish(self, latent: np.ndarray) -> np.ndarray:
        x = latent @ self.basis.T + self.mean
        return x / np.linalg.norm(x, axis=1, keepdims=True)

    def vectors(self) -> np.ndarray:
        out = np.empty((self.n, DIM), dtype=np.float32)
        for start in range(0, self.n, CHUNK):
            stop = min(self.n, start + CHUNK)
            rng = np.random.default_rng((self.seed, start))
            out[start:stop] = self._finish(self.docs[np.arange(start, stop) // PER_DOC] + self._noise(rng, stop - start, PASSAGE))
        return out

    def queries(self, n: int) -> np.ndarray:
        rng = np.random.default_rng((self.seed, 2**31))
        return self._finish(self.docs[rng.integers(0, len(self.docs), n)] + self._noise(rng, n, QUERY))


def exact_top(data: np.ndarray, queries: np.ndarray, k: int = 10) -> np.ndarray:
    """Ground truth ids (row numbers) by brute force, chunked to bound memory."""
    best_s = np.full((len(queries), 0), -np.inf, dtype=np.float32)
    best_i = np.zeros((len(queries), 0), dtype=np.int64)
    for start in range(0, len(data), CHUNK):
        scores = queries @ data[start : start + CHUNK].T
        top = np.argpartition(-scores, k, axis=1)[:, :k]
        best_s = np.hstack([best_s, np.take_along_axis(scores, top, 1)])
        best_i = np.hstack([best_i, top + start])
        keep = np.argsort(-best_s, axis=1)[:, :k]
        best_s, best_i = np.take_along_axis(best_s, keep, 1), np.take_along_axis(best_i, keep, 1)
    return best_i


# -- index types -----------------------------------------------------------------------------

def make_index(kind: str, ids: np.ndarray, data: np.ndarray):
    """A VectorIndex of `kind`; hnsw-* and ivf-pq are the alternatives that were not chosen."""
    import faiss

    from kb.vectors import TRAIN_PER_LIST, VectorIndex, nlist_for, nprobe_for

    if kind == "flat":
        return VectorIndex.build(ids, data, flat_limit=len(ids))
    if kind == "ivf-sq8":
        return VectorIndex.build(ids, data, flat_limit=0)
    wanted = max(nlist_for(len(data)) * TRAIN_PER_LIST, 10_000)  # PQ codebooks want >= 39 x 256 points
    sample = data[np.random.default_rng(0).choice(len(data), min(len(data), wanted), replace=False)]
    if kind == "ivf-pq":
        nlist = nlist_for(len(ids))
        index = faiss.IndexIVFPQ(faiss.IndexFlatIP(DIM), DIM, nlist, PQ_M, 8, faiss.METRIC_INNER_PRODUCT)
        index.nprobe = nprobe_for(nlist)
        index.set_direct_map_type(faiss.DirectMap.Hashtable)
    elif kind == "hnsw-flat":
        index = faiss.IndexHNSWFlat(DIM, HNSW_M, faiss.METRIC_INNER_PRODUCT)
    elif kind == "hnsw-sq8":
        index = faiss.IndexHNSWSQ(DIM, faiss.ScalarQuantizer.QT_8bit, HNSW_M, faiss.METRIC_INNER_PRODUCT)
    else:
        raise SystemExit(f"unknown index type {kind}")
    if kind.startswith("hnsw"):
        index.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
        index.hnsw.efSearch = 64
    index.train(sample)
    wrapped = VectorIndex(index if kind == "ivf-pq" else faiss.IndexIDMap2(index))
    for start in range(0, len(ids), CHUNK):
        wrapped.add(ids[start : start + CHUNK], data[start : start + CHUNK])
    return wrapped


def settings_for(kind: str, index) -> list[tuple[str, Callable[[], None], bool]]:
    """(label, apply, is the default) for each search setting measured."""
    import faiss

    if kind == "flat":
        return [("exact", lambda: None, True)]
    if kind.startswith("hnsw"):
        hnsw = faiss.downcast_index(index.index.index).hnsw
        return [(f"efSearch={ef}", lambda ef=ef: setattr(hnsw, "efSearch", ef), ef == 64) for ef in (32, 64, 128, 256, 512)]
    ivf = index.index
    default = ivf.nprobe
    probes = sorted({max(1, default // 2), default, min(ivf.nlist, default * 2), min(ivf.nlist, default * 4)})
    return [(f"nprobe={p}/{ivf.nlist}", lambda p=p: setattr(ivf, "nprobe", p), p == default) for p in probes]


# -- child processes ---------------------------------------------------------------------------

def rss_mib(field: str = "VmRSS") -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


def build_job(job: dict) -> dict:
    """Generate the data, build and save one index; write the ground truth if it is missing."""
    data_set = Synthetic(job["n"])
    data = data_set.vectors()
    truth = Path(job["truth"])
    if not truth.exists():
        np.save(truth, exact_top(data, data_set.queries(job["queries"])[: job["truth_queries"]]))
    before = rss_mib()
    start = time.perf_counter()
    index = make_index(job["kind"], np.arange(job["n"], dtype=np.int64), data)
    seconds = time.perf_counter() - start
    after = rss_mib()
    index.save(Path(job["path"]))
    return {"build_s": seconds, "build_rss_delta": after - before, "build_peak": rss_mib("VmHWM"),
            "file_mib": Path(job["path"]).stat().st_size / 2**20}


def measure_job(job: dict) -> dict:
    """Load the index in a fresh process; memory it adds, latency and recall per setting."""
    import faiss  # noqa: F401  (imported before the baseline so only the index counts)

    from kb.vectors import VectorIndex

    before = rss_mib()
    index = VectorIndex.load(Path(job["path"]))
    loaded = rss_mib() - before  # before anything else allocates: freed pages would hide the index
    queries = Synthetic(job["n"]).queries(job["queries"])
    truth = np.load(job["truth"])
    return {"load_rss": loaded, "kind": index.kind, "rows": measure(job["kind"], index, queries, truth, job["filtered"])}


def measure(kind: str, index, queries: np.ndarray, truth: np.ndarray, filtered_queries: int) -> list[dict]:
    """Per search setting: single-query latency, filtered latency (1% of ids allowed), recall@10."""
    allowed = np.random.default_rng(7).choice(len(index), max(1, len(index) // 100), replace=False)
    rows = []
    for label, apply, default in settings_for(kind, index):
        apply()
        for q in queries[:20]:
            index.search(q, 10)
        latencies, found = [], []
        for q in queries:
            start = time.perf_counter()
            hits = index.search(q, 10)
            latencies.append((time.perf_counter() - start) * 1000)
            found.append([i for i, _ in hits])
        recall = np.mean([len(set(f) & set(t)) / len(t) for f, t in zip(found, truth)])
        filtered = []
        for q in queries[:filtered_queries]:
            start = time.perf_counter()
            index.search(q, 10, allowed)
            filtered.append((time.perf_counter() - start) * 1000)
        rows.append({"setting": label + (" *" if default else ""), "p50": float(np.percentile(latencies, 50)),
                     "p99": float(np.percentile(latencies, 99)), "filtered_p50": float(np.percentile(filtered, 50)),
                     "recall": float(recall)})
    return rows


def real_check(build: Path, queries_file: Path, count: int, filtered: int) -> None:
    """The same comparison on real passage vectors of a built index and real queries, embedded here."""
    from kb.embedding import Embedder
    from kb.vectors import VectorIndex

    stored = VectorIndex.load(build / "vectors.faiss")
    data = stored.vectors(stored.ids())
    texts = [json.loads(line)["query"] for line in queries_file.read_text(encoding="utf-8").splitlines() if line.strip()]
    queries = Embedder().encode(texts[:count])
    truth = exact_top(data, queries)
    ids = np.arange(len(data), dtype=np.int64)
    print(f"real vectors: {len(data):,} passages of {build}, {len(queries)} queries of {queries_file.name}")
    for kind in DEFAULT_TYPES:
        start = time.perf_counter()
        index = make_index(kind, ids, data)
        built = {"build_s": time.perf_counter() - start, "build_peak": float("nan"), "file_mib": float("nan")}
        print_rows(len(data), kind, built, {"load_rss": float("nan"), "rows": measure(kind, index, queries, truth, filtered)})


def print_rows(n: int, kind: str, built: dict, measured: dict) -> None:
    for i, row in enumerate(measured["rows"]):
        head = (f"{n:>9,} {kind:<9} {built['build_s']:>8.1f} {built['build_peak']:>7.0f} MiB "
                f"{built['file_mib']:>8.0f} {measured['load_rss']:>4.0f} MiB") if i == 0 else " " * 60
        print(f"{head} {row['setting']:<18} {row['p50']:>7.2f} {row['p99']:>7.2f} "
              f"{row['filtered_p50']:>8.2f} {row['recall']:>9.3f}", flush=True)


def run_child(job: dict) -> dict:
    out = subprocess.run([sys.executable, __file__, "--child", json.dumps(job)], check=True,
                         stdout=subprocess.PIPE, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


# -- main --------------------------------------------------------------------------------------

def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--types", nargs="+", default=list(DEFAULT_TYPES),
                        help=f"index types among {DEFAULT_TYPES + COMPARE_TYPES}")
    parser.add_argument("--compare", action="store_true", help="add the alternatives " + ", ".join(COMPARE_TYPES))
    parser.add_argument("--queries", type=int, default=300, help="single queries timed per setting")
    parser.add_argument("--truth", type=int, default=200, help="queries with exact ground truth for recall")
    parser.add_argument("--filtered", type=int, default=50, help="queries timed with a 1%% id filter")
    parser.add_argument("--real", type=Path, metavar="BUILD",
                        help="also compare on the vectors of this index build (e.g. index/eval-warm/current)")
    parser.add_argument("--real-queries", type=Path, default=ROOT.parent / "shared/eval/msdocs/symptom_queries.jsonl",
                        help="JSONL queries ({\"query\": ...}) for --real")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        job = json.loads(args.child)
        print(json.dumps(build_job(job) if job["step"] == "build" else measure_job(job)))
        return
    types = list(dict.fromkeys(args.types + (list(COMPARE_TYPES) if args.compare else [])))
    print(f"{'vectors':>9} {'index':<9} {'build s':>8} {'build peak':>10} {'file MiB':>8} {'load RSS':>8} "
          f"{'setting':<18} {'p50 ms':>7} {'p99 ms':>7} {'filt p50':>8} {'recall@10':>9}")
    with tempfile.TemporaryDirectory() as tmp:
        for n in args.sizes:
            truth = str(Path(tmp) / f"truth-{n}.npy")
            for kind in types:
                path = str(Path(tmp) / f"{kind}-{n}.faiss")
                common = {"n": n, "kind": kind, "path": path, "truth": truth, "truth_queries": args.truth,
                          "queries": max(args.queries, args.truth)}
                built = run_child({**common, "step": "build"})
                measured = run_child({**common, "step": "measure", "filtered": args.filtered})
                Path(path).unlink()
                print_rows(n, kind, built, measured)
    if args.real:
        real_check(args.real, args.real_queries, args.truth, args.filtered)
    print("recall@10 is measured on the first --truth queries; '*' = the setting kb.vectors uses; "
          "filt p50 = a filter allowing 1% of the ids")


if __name__ == "__main__":
    main()
