"""CPU per search in one process: what a search costs the server, without HTTP.

    python bench/search_cpu.py                          # the 5,000-article bench corpus (as search_latency --generate 5000)
    python bench/search_cpu.py --index index/current    # an existing index (its own articles)
    python bench/search_cpu.py --profile                # and where the CPU goes (cProfile, msdocs queries)

Runs `Searcher.results` (a page of 10 with facets, snippets, match strengths: what /api/search
returns) for each query of the dev set (short, as engineers type them) and of the msdocs symptom set
(long sentences), one at a time, and prints the median and p95 CPU milliseconds per search: the
process's CPU time (every thread: an English query is embedded by both models at once), so it is
what a search takes from the two cores, not the wall time. Each query is searched once after a
warm-up on other text, so the query-vector memo never answers (pass 1); then every set twice more,
its query vectors forgotten but not what the lexical side remembers of its words (`kb.bm25`): a
server meeting words for the second time (pass 2, when the passage side asks FTS5 for a word's shares
over all passages) and after (pass 3). Figures only; nothing is asserted.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from search_latency import DEFAULT_QUERIES, build_index, percentile  # noqa: E402

from kb.config import load_settings  # noqa: E402
from kb.evaluation import load_queries  # noqa: E402
from kb.search import open_searcher  # noqa: E402

MSDOCS_QUERIES = ROOT.parent / "shared" / "eval" / "msdocs" / "symptom_queries.jsonl"


def read_queries(path: Path) -> list[str]:
    return [q.query for q in load_queries(path)]


def cpu_per_search(searcher, queries: list[str], profiler: cProfile.Profile | None = None) -> tuple[list[float], list[float]]:
    """(CPU ms, wall ms) of each query's first page of results."""
    cpu, wall = [], []
    for query in queries:
        start_cpu, start_wall = time.process_time(), time.perf_counter()
        if profiler is not None:
            profiler.runcall(searcher.results, query, limit=10)
        else:
            searcher.results(query, limit=10)
        cpu.append((time.process_time() - start_cpu) * 1000)
        wall.append((time.perf_counter() - start_wall) * 1000)
    return cpu, wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--index", type=Path, help="an existing index folder (default: build the 5,000-article bench corpus)")
    parser.add_argument("--articles", type=int, default=5000, help="bench corpus size when no --index is given")
    parser.add_argument("--profile", action="store_true", help="print the top functions of the msdocs searches")
    args = parser.parse_args()

    sets = {"dev": read_queries(DEFAULT_QUERIES)}
    if MSDOCS_QUERIES.exists():
        sets["msdocs symptom"] = read_queries(MSDOCS_QUERIES)
    with tempfile.TemporaryDirectory() as tmp:
        settings = load_settings(ROOT)
        if args.index is None:
            from incremental import CACHE, make_bench_corpus
            from kb.embedding import load_embedder

            articles = Path(tmp) / "articles"
            copied, generated = make_bench_corpus(articles, args.articles, CACHE, settings, load_embedder(settings))
            seconds = build_index(articles, Path(tmp) / "index", CACHE)
            print(f"corpus: {copied} msdocs + {generated} generated articles, indexed in {seconds:.1f} s")
            settings = settings.with_(articles=articles, index=Path(tmp) / "index")
        else:
            settings = settings.with_(index=args.index)
        searcher = open_searcher(settings)
        stats = searcher.stats()
        print(f"{stats.documents} documents, {stats.passages} passages, model {stats.model}")
        cpu_per_search(searcher, [f"warm-up search {i} for a slow backup" for i in range(20)])
        print(f"{'queries':<22} {'n':>4} {'CPU p50 ms':>10} {'CPU p95 ms':>10} {'wall p50 ms':>11}")
        for passes in (1, 2, 3):
            for name, queries in sets.items():
                profiler = cProfile.Profile() if args.profile and name == "msdocs symptom" and passes == 1 else None
                if passes > 1:
                    forget_query_vectors(searcher)
                cpu, wall = cpu_per_search(searcher, queries, profiler)
                label = f"{name}, pass {passes}"
                print(f"{label:<22} {len(queries):>4} {statistics.median(cpu):>10.1f} {percentile(cpu, 95):>10.1f} {statistics.median(wall):>11.1f}")
                if profiler is not None:
                    out = io.StringIO()
                    pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(25)
                    print(out.getvalue())


def forget_query_vectors(searcher) -> None:
    """Empty the query-vector memos, so a query searched again is embedded again; what the lexical
    side remembers of its words (`kb.bm25`) stays, as in a server that has seen them."""
    for encoder in (searcher.encode_query, getattr(searcher, "encode_english", None)):
        if encoder is not None:
            encoder._memo.clear()


if __name__ == "__main__":
    main()
