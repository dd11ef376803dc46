"""Choose the hybrid fusion weights by measurement (what the `SearchSettings` defaults come from).

    python bench/tune_fusion.py            # articles/ dev set, and ../shared/eval/msdocs when present

Evaluates a grid of fusion settings and prints MRR@10 per query set, with lexical-only and
dense-only as reference rows. The msdocs symptom queries are split in two by a hash of their id:
choose on the `tune` half, and read the `held-out` half to see whether the choice generalises.
`quoted` is the slice of symptom queries that contain a quoted message.
"""

from __future__ import annotations

import argparse
import itertools
from pathlib import Path

from kb.config import SearchSettings, load_settings
from kb.embedding import load_embedder
from kb.evaluation import EvalQuery, evaluate, held_out, index_corpus, load_queries
from kb.search import Searcher

ROOT = Path(__file__).resolve().parent.parent
MSDOCS = ROOT.parent / "shared" / "eval" / "msdocs"


def query_sets(settings, embedder, msdocs: bool = True) -> list[tuple[str, Searcher, list[EvalQuery]]]:
    sets = []
    articles = Searcher.open(index_corpus(settings, settings.articles, embedder, progress=False).index, embedder)
    sets.append(("articles_dev", articles, load_queries(ROOT / "bench" / "queries" / "articles_dev.jsonl")))
    crosslingual = load_queries(ROOT / "bench" / "queries" / "crosslingual.jsonl")
    sets.append(("cross-lingual", articles, [q for q in crosslingual if q.direction != "same-language"]))
    sets.append(("same-language", articles, [q for q in crosslingual if q.direction == "same-language"]))
    if msdocs and (MSDOCS / "corpus").is_dir():
        msdocs = Searcher.open(index_corpus(settings, MSDOCS / "corpus", embedder).index, embedder)
        symptoms = load_queries(MSDOCS / "symptom_queries.jsonl")
        sets.append(("symptom tune", msdocs, [q for q in symptoms if not held_out(q)]))
        sets.append(("symptom held-out", msdocs, [q for q in symptoms if held_out(q)]))
        sets.append(("quoted", msdocs, [q for q in symptoms if '"' in q.query]))
        sets.append(("title", msdocs, load_queries(MSDOCS / "title_queries.jsonl")))
    return sets


def grid() -> list[SearchSettings]:
    base = SearchSettings()
    scored = [base.model_copy(update=dict(dense=d, lexical=round(1 - d, 2), english_share=e))
              for d, e in itertools.product((0.5, 0.6, 0.7), (0.0, 0.35, 0.5, 0.65))]
    topped = [base.model_copy(update=dict(dense_scaling="top", english_share=e)) for e in (0.0, 0.5)]
    ranked = [base.model_copy(update=dict(fusion="rrf", dense=d, lexical=round(1 - d, 2))) for d in (0.7,)]
    return scored + topped + ranked


def label(w: SearchSettings) -> str:
    if w.fusion == "rrf":
        return f"rrf dense={w.dense} english={w.english_share}"
    return f"{w.dense_scaling} dense={w.dense} english={w.english_share}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--articles-only", action="store_true", help="leave out the msdocs sets")
    args = parser.parse_args()
    settings = load_settings()
    sets = query_sets(settings, load_embedder(settings), msdocs=not args.articles_only)
    print(f"{'setting':<36}" + "".join(f"{n:>18}" for n, _, _ in sets))
    for mode in ("lexical", "dense"):
        row = [evaluate(s, q, (mode,))[mode]["mrr@10"] for _, s, q in sets]
        print(f"{mode + ' only':<36}" + "".join(f"{v:>18.3f}" for v in row))
    for weights in grid():
        row = [evaluate(s.with_weights(weights), q, ("hybrid",))["hybrid"]["mrr@10"] for _, s, q in sets]
        print(f"{label(weights):<36}" + "".join(f"{v:>18.3f}" for v in row), flush=True)


if __name__ == "__main__":
    main()
