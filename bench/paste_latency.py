"""How long a pasted ticket or log takes to answer: `Searcher.similar` (what POST /api/similar runs) on
the longest pastes of bench/queries/pastes_articles.jsonl and on a 20,000-character paste (the
limit), in one process over the articles/ index, after one warm-up call. Figures only.

    .venv/bin/python bench/paste_latency.py
"""

from __future__ import annotations

import json
import statistics
import time
from pathlib import Path

from kb.config import load_settings
from kb.embedding import load_embedder
from kb.evaluation import index_corpus
from kb.paste import MAX_CHARS
from kb.search import Searcher, load_match_model

ROOT = Path(__file__).resolve().parent.parent
PASTES = ROOT / "bench" / "queries" / "pastes_articles.jsonl"


def timed_ms(searcher: Searcher, text: str, repeats: int = 5) -> list[float]:
    out = []
    for _ in range(repeats):
        start = time.perf_counter()
        searcher.similar(text, 10)
        out.append((time.perf_counter() - start) * 1000)
    return out


def main() -> None:
    settings = load_settings()
    embedder = load_embedder(settings)
    searcher = Searcher.open(index_corpus(settings, settings.articles, embedder, progress=False).index, embedder,
                             settings.search, load_match_model(settings, embedder.model_id))
    pastes = sorted((json.loads(line)["query"] for line in PASTES.read_text(encoding="utf-8").splitlines()), key=len)
    longest = pastes[-1]
    limit = (longest + "\n") * (MAX_CHARS // len(longest) + 1)
    searcher.similar(pastes[0], 10)  # loads the model
    print(f"{'paste':<40}{'chars':>8}{'median ms':>11}{'max ms':>9}")
    for name, text in (("median-length paste", pastes[len(pastes) // 2]), ("longest paste", longest),
                       ("20,000 characters (longest, repeated)", limit[:MAX_CHARS])):
        times = timed_ms(searcher, text)
        print(f"{name:<40}{len(text):>8}{statistics.median(times):>11.0f}{max(times):>9.0f}")


if __name__ == "__main__":
    main()
