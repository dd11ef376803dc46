"""Choose the hybrid fusion method and weights by measurement (what the `SearchSettings` defaults come from).

    python bench/tune_fusion.py            # articles/ dev set, and ../shared/eval/msdocs when present

Evaluates a grid of fusion settings on every query set and prints MRR@10 per set, with lexical-only
and dense-only as reference rows. The chosen defaults must be at least as good as the better single
retriever on every set.
"""

from __future__ import annotations

import argparse
import itertools
from pathlib import Path

from kb.config import SearchSettings, load_settings
from kb.embedding import load_embedder
from kb.evaluation import evaluate, index_corpus, load_queries
from kb.search import Searcher

ROOT = Path(__file__).resolve().parent.parent
MSDOCS = ROOT.parent / "shared" / "eval" / "msdocs"


def query_sets(settings, embedder) -> list[tuple[str, Searcher, list]]:
    sets = []
    articles = Searcher.open(index_corpus(settings, settings.articles, embedder, progress=False).index, embedder)
    sets.append(("articles_dev", articles, load_queries(ROOT / "bench" / "queries" / "articles_dev.jsonl")))
    if (MSDOCS / "corpus").is_dir():
        msdocs = Searcher.open(index_corpus(settings, MSDOCS / "corpus", embedder).index, embedder)
        for name in ("symptom_queries", "title_queries"):
            sets.append((name, msdocs, load_queries(MSDOCS / f"{name}.jsonl")))
    return sets


def grid() -> list[SearchSettings]:
    base = SearchSettings()
    rrf = [base.model_copy(update=dict(fusion="rrf", rrf_k=k, dense=d, document_fields=f))
           for k, d, f in itertools.product((20, 60, 100), (1.0, 1.2, 1.5), ((3.0, 2.0, 1.0), (5.0, 3.0, 1.0)))]
    score = [base.model_copy(update=dict(fusion="score", dense=d, lexical=round(1 - d, 2), document_fields=f))
             for d, f in itertools.product((0.5, 0.6, 0.7), ((3.0, 2.0, 1.0), (5.0, 3.0, 1.0)))]
    return rrf + score


def main() -> None:
    argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter).parse_args()
    settings = load_settings()
    embedder = load_embedder(settings)
    sets = query_sets(settings, embedder)
    names = [n for n, _, _ in sets]
    print(f"{'setting':<44}" + "".join(f"{n:>17}" for n in names))
    for mode in ("lexical", "dense"):
        row = [evaluate(s, q, (mode,))[mode]["mrr@10"] for _, s, q in sets]
        print(f"{mode + ' only':<44}" + "".join(f"{v:>17.3f}" for v in row))
    for weights in grid():
        row = []
        for _, searcher, queries in sets:
            row.append(evaluate(searcher.with_weights(weights), queries, ("hybrid",))["hybrid"]["mrr@10"])
        label = (f"rrf k={weights.rrf_k} dense={weights.dense} fields={weights.document_fields}" if weights.fusion == "rrf"
                 else f"score dense={weights.dense} lexical={weights.lexical} fields={weights.document_fields}")
        print(f"{label:<44}" + "".join(f"{v:>17.3f}" for v in row), flush=True)


if __name__ == "__main__":
    main()
