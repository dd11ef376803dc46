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
    args = parser.parse_args()

    base = [json.loads(line)["query"] for line in args.queries.read_text(encoding="utf-8").splitlines() if line.strip()]
    with tempfile.TemporaryDirectory() as tmp:
        index = Path(tmp) / "index"
        build_index(args.articles, index)
        proc, url = start_server(args.articles, index)
        try:
            warm = [f"{q} warm {i}" for i, q in enumerate(base * 10)][:500]
            asyncio.run(run_load(url, warm, len(warm), args.clients))
            before = rss_mib(proc.pid)
            queries = [f"{base[i % len(base)]} v{i}" for i in range(args.requests)]
            start = time.perf_counter()
            latencies, errors = asyncio.run(run_load(url, queries, args.requests, args.clients))
            elapsed = time.perf_counter() - start
            after = rss_mib(proc.pid)
            health = httpx.get(url + "/healthz").status_code
        finally:
            proc.terminate()
            proc.wait(timeout=20)
    print(f"{len(latencies)} searches from {args.clients} clients in {elapsed:.1f} s ({len(latencies) / elapsed:.0f}/s), "
          f"errors: {errors}, server healthy after: {health == 200}")
    print(f"latency ms: p50 {statistics.median(latencies):.1f}  p95 {percentile(latencies, 95):.1f}  p99 {percentile(latencies, 99):.1f}")
    print(f"server RSS: {before:.0f} MiB after warm-up -> {after:.0f} MiB at the end ({(after - before) / before * 100:+.1f}%)")


if __name__ == "__main__":
    main()
