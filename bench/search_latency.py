"""Latency of GET /api/search through real HTTP: `kb serve` in a subprocess, closed-loop clients.

    python bench/search_latency.py                                   # articles/, 1 client
    python bench/search_latency.py --concurrency 1 8 32              # as `make bench` runs it
    python bench/search_latency.py --generate 5000 --concurrency 8   # a 5,000-article corpus

Every request is a search the server has not seen (a numbered variant of a query from --queries),
so the query-vector memo never answers. The load comes from wrk (C, one thread: it takes little of
the two cores from the server) when it is installed (`apt-get install wrk`), else from an asyncio
httpx client, which costs the server a good share of the CPU and so inflates the figures at 8 and
32 clients. Closed loop: each client sends its next search when the previous answer arrives, so at
saturation p50 is about clients / throughput. Prints p50/p95/p99 per level and the server's peak
RSS. Figures only; nothing is asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlencode

import httpx

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_QUERIES = ROOT / "bench" / "queries" / "articles_dev.jsonl"
WRK_SCRIPT = ROOT / "bench" / "wrk_search.lua"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def build_index(articles: Path, index: Path, cache: Path | None = None) -> float:
    """Build (or update) the index, sharing an embedding cache when given; returns wall seconds."""
    sys.path.insert(0, str(ROOT))
    from kb.config import load_settings
    from kb.embedding import load_embedder
    from kb.indexer import build_index as build

    settings = load_settings(ROOT).with_(articles=articles, index=index, embedding_cache=cache)
    start = time.perf_counter()
    build(settings, load_embedder(settings), progress=False)
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
            response = await client.get(url + "/api/search", params={"q": queries[i % len(queries)], "limit": 10})
            latencies.append((time.perf_counter() - start) * 1000)
            errors += response.status_code != 200

    limits = httpx.Limits(max_connections=clients)
    async with httpx.AsyncClient(limits=limits, timeout=30) as client:
        await asyncio.gather(*(worker(client) for _ in range(clients)))
    return latencies, errors


def run_wrk(url: str, queries: list[str], clients: int, seconds: float) -> dict:
    """wrk for `seconds` with `clients` connections over the given searches; its JSON summary."""
    with tempfile.NamedTemporaryFile("w", suffix=".txt", encoding="utf-8") as paths:
        paths.writelines("/api/search?" + urlencode({"q": q, "limit": 10}) + "\n" for q in queries)
        paths.flush()
        out = subprocess.run(["wrk", "-t1", f"-c{clients}", f"-d{seconds:g}s", "--timeout", "30s", "-s", str(WRK_SCRIPT),
                              url, "--", paths.name], capture_output=True, text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def run_httpx(url: str, queries: list[str], clients: int, requests: int) -> dict:
    start = time.perf_counter()
    latencies, errors = asyncio.run(run_load(url, queries, requests, clients))
    elapsed = time.perf_counter() - start
    return {"requests": len(latencies), "errors": errors, "seconds": elapsed, "p50_ms": statistics.median(latencies),
            "p95_ms": percentile(latencies, 95), "p99_ms": percentile(latencies, 99)}


def unseen_word(level: int, number: int) -> str:
    """A word of letters no document contains, unique per (level, number): it makes a search one the
    server has not seen while adding no work to BM25. (A suffix like "#0-5" read "0" and "5" as two
    more BM25 words that thousands of msdocs passages contain: 10 ms more per search.)"""
    letters = ""
    number = number * 8 + level
    while True:
        number, digit = divmod(number, 26)
        letters += chr(ord("a") + digit)
        if not number:
            return "qzx" + letters


def percentile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1] if len(values) > 1 else values[0]


def prepare_articles(args: argparse.Namespace, tmp: Path) -> tuple[Path, Path | None]:
    """The corpus to serve and the embedding cache to build it with."""
    if not args.generate:
        return args.articles, None
    from incremental import CACHE, make_bench_corpus
    from kb.config import load_settings
    from kb.embedding import load_embedder

    settings = load_settings(ROOT)
    copied, generated = make_bench_corpus(tmp / "articles", args.generate, CACHE, settings, load_embedder(settings))
    print(f"corpus: {copied} msdocs + {generated} generated articles")
    return tmp / "articles", CACHE


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--articles", type=Path, default=ROOT / "articles")
    parser.add_argument("--generate", type=int, metavar="N",
                        help="serve a temporary corpus of N articles instead: msdocs (when its vectors are cached) plus generated ones")
    parser.add_argument("--index", type=Path, help="existing index folder (default: a fresh temporary one)")
    parser.add_argument("--queries", type=Path, default=DEFAULT_QUERIES)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1])
    parser.add_argument("--seconds", type=float, default=15, help="wrk: duration of each level")
    parser.add_argument("--requests", type=int, default=1000, help="httpx: requests per level")
    parser.add_argument("--tool", choices=("auto", "wrk", "httpx"), default="auto")
    args = parser.parse_args()
    tool = args.tool if args.tool != "auto" else ("wrk" if shutil.which("wrk") else "httpx")
    if tool == "httpx":
        print("load from httpx in this process (install wrk for figures less inflated by the client)")

    base = [json.loads(line)["query"] for line in args.queries.read_text(encoding="utf-8").splitlines() if line.strip()]
    with tempfile.TemporaryDirectory() as tmp:
        articles, cache = prepare_articles(args, Path(tmp))
        index = args.index or Path(tmp) / "index"
        seconds = build_index(articles, index, cache)
        print(f"index {articles} -> {index}: {seconds:.1f} s (includes model load; cached embeddings reused)")
        proc, url = start_server(articles, index)
        try:
            health = httpx.get(url + "/healthz").json()
            print(f"serving {health['documents']} documents, {health['passages']} passages, model {health['model']}; load from {tool}")
            asyncio.run(run_load(url, [f"warm-up query {i}" for i in range(20)], 20, 1))
            print(f"{'clients':>7} {'requests':>8} {'errors':>6} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'req/s':>7}")
            for n, clients in enumerate(args.concurrency):
                # a fresh search for every request: engineers rarely repeat a symptom verbatim
                fresh = [f"{base[i % len(base)]} {unseen_word(n, i)}" for i in range(max(args.requests, 20_000 if tool == "wrk" else 0))]
                r = run_wrk(url, fresh, clients, args.seconds) if tool == "wrk" else run_httpx(url, fresh, clients, args.requests)
                print(f"{clients:>7} {r['requests']:>8} {r['errors']:>6} {r['p50_ms']:>8.1f} "
                      f"{r['p95_ms']:>8.1f} {r['p99_ms']:>8.1f} {r['requests'] / r['seconds']:>7.1f}")
            print(f"server peak RSS: {peak_rss_mib(proc.pid):.0f} MiB")
        finally:
            proc.terminate()
            proc.wait(timeout=20)


if __name__ == "__main__":
    main()
