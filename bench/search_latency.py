"""Latency of GET /api/search through real HTTP: `kb serve` in a subprocess, queries from a JSONL file.

    python bench/search_latency.py                      # articles/, 100 requests, 1 client
    python bench/search_latency.py --requests 1000 --concurrency 1 8 32

Prints p50/p95/p99 per concurrency level and the server's peak RSS. Figures only; nothing is asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_QUERIES = ROOT / "bench" / "queries" / "articles_dev.jsonl"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def build_index(articles: Path, index: Path) -> float:
    """Build (or update) the index with the CLI; returns wall seconds."""
    env = {**os.environ, "KB_ARTICLES": str(articles), "KB_INDEX": str(index)}
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "kb.cli", "index", "--quiet"], env=env, check=True)
    return time.perf_counter() - start


def start_server(articles: Path, index: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = {**os.environ, "KB_ARTICLES": str(articles), "KB_INDEX": str(index)}
    proc = subprocess.Popen([sys.executable, "-m", "kb.cli", "serve", "--port", str(port)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    for _ in range(600):
        try:
            if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            time.sleep(0.2)
    proc.kill()
    raise SystemExit("server did not start")


def peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def run_load(url: str, queries: list[str], requests: int, clients: int) -> tuple[list[float], int]:
    """`requests` searches spread over `clients` concurrent connections; per-request latency in ms.

    Query i is `queries[i % len(queries)]`: pass as many distinct queries as requests to measure
    latency without the server's query-embedding memo.
    """
    latencies: list[float] = []
    errors = 0
    counter = iter(range(requests))

    async def worker(client: httpx.AsyncClient) -> None:
        nonlocal errors
        for i in counter:
            start = time.perf_counter()
            response = await client.get(url + "/api/search", params={"q": queries[i % len(queries)], "k": 10})
            latencies.append((time.perf_counter() - start) * 1000)
            errors += response.status_code != 200

    limits = httpx.Limits(max_connections=clients)
    async with httpx.AsyncClient(limits=limits, timeout=30) as client:
        await asyncio.gather(*(worker(client) for _ in range(clients)))
    return latencies, errors


def percentile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1] if len(values) > 1 else values[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--articles", type=Path, default=ROOT / "articles")
    parser.add_argument("--index", type=Path, help="existing index folder (default: a fresh temporary one)")
    parser.add_argument("--queries", type=Path, default=DEFAULT_QUERIES)
    parser.add_argument("--requests", type=int, default=100)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1])
    args = parser.parse_args()

    queries = [json.loads(line)["query"] for line in args.queries.read_text(encoding="utf-8").splitlines() if line.strip()]
    with tempfile.TemporaryDirectory() as tmp:
        index = args.index or Path(tmp) / "index"
        seconds = build_index(args.articles, index)
        print(f"index {args.articles} -> {index}: {seconds:.1f} s (includes model load; cached embeddings reused)")
        proc, url = start_server(args.articles, index)
        try:
            health = httpx.get(url + "/healthz").json()
            print(f"serving {health['documents']} documents, {health['passages']} passages, model {health['model']}")
            asyncio.run(run_load(url, [f"warm-up query {i}" for i in range(20)], 20, 1))
            print(f"{'clients':>7} {'requests':>8} {'errors':>6} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'req/s':>7}")
            for n, clients in enumerate(args.concurrency):
                # every request a query the server has not seen: engineers rarely repeat a symptom verbatim
                fresh = [f"{queries[i % len(queries)]} #{n}-{i}" for i in range(args.requests)]
                start = time.perf_counter()
                latencies, errors = asyncio.run(run_load(url, fresh, args.requests, clients))
                elapsed = time.perf_counter() - start
                print(f"{clients:>7} {len(latencies):>8} {errors:>6} {statistics.median(latencies):>8.1f} "
                      f"{percentile(latencies, 95):>8.1f} {percentile(latencies, 99):>8.1f} {len(latencies) / elapsed:>7.1f}")
            print(f"server peak RSS: {peak_rss_mib(proc.pid):.0f} MiB")
        finally:
            proc.terminate()
            proc.wait(timeout=20)


if __name__ == "__main__":
    main()
