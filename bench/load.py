"""Bounded load test on loopback: N searches from C concurrent clients against `kb serve`.

    python bench/load.py                       # 10,000 searches, 16 clients, articles/

Prints errors, throughput, latency percentiles and the server's RSS after warm-up and at the end
(growth in %). Every request is a query the server has not seen, so the query memo is exercised up
to its bound. Loopback only; stops by itself.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from pathlib import Path

import httpx

from search_latency import DEFAULT_QUERIES, ROOT, build_index, percentile, run_load, start_server


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--articles", type=Path, default=ROOT / "articles")
    parser.add_argument("--queries", type=Path, default=DEFAULT_QUERIES)
    parser.add_argument("--requests", type=int, default=10_000)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--warmup", type=int, default=5000,
                        help="requests before the first memory reading: more than the server's 4,096-query memo, so caches are full")
    args = parser.parse_args()

    base = [json.loads(line)["query"] for line in args.queries.read_text(encoding="utf-8").splitlines() if line.strip()]
    with tempfile.TemporaryDirectory() as tmp:
        index = Path(tmp) / "index"
        build_index(args.articles, index)
        proc, url = start_server(args.articles, index)
        try:
            warm = [f"{base[i % len(base)]} warm {i}" for i in range(args.warmup)]
            asyncio.run(run_load(url, warm, len(warm), args.clients))
            before = rss_mib(proc.pid)
            queries = [f"{base[i % len(base)]} v{i}" for i in range(args.requests)]
            latencies, errors, samples = [], 0, []
            start = time.perf_counter()
            step = max(1, args.requests // 5)
            for first in range(0, args.requests, step):  # in fifths, to see whether memory levels off
                part, part_errors = asyncio.run(run_load(url, queries[first:first + step], len(queries[first:first + step]), args.clients))
                latencies += part
                errors += part_errors
                samples.append(rss_mib(proc.pid))
            elapsed = time.perf_counter() - start
            after = samples[-1]
            health = httpx.get(url + "/healthz").status_code
        finally:
            proc.terminate()
            proc.wait(timeout=20)
    print(f"{len(latencies)} searches from {args.clients} clients in {elapsed:.1f} s ({len(latencies) / elapsed:.0f}/s), "
          f"errors: {errors}, server healthy after: {health == 200}")
    print(f"latency ms: p50 {statistics.median(latencies):.1f}  p95 {percentile(latencies, 95):.1f}  p99 {percentile(latencies, 99):.1f}")
    print(f"server RSS: {before:.0f} MiB after warm-up -> {after:.0f} MiB at the end ({(after - before) / before * 100:+.1f}%); "
          f"after each fifth: {', '.join(f'{m:.0f}' for m in samples)} MiB")


if __name__ == "__main__":
    main()
