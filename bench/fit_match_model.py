"""Fit the match-strength model that ships in kb/match_model.json, and report it on held-out queries.

    .venv/bin/python bench/fit_match_model.py             # writes kb/match_model.json

Relevance data: the articles/ dev and cross-lingual sets and, when ../shared/eval/msdocs is present, its symptom and
title queries; plus, over each corpus, queries of one error code alone (every document containing
it relevant). Each set is split in two by a hash of the query id: fitted on one half, reported on
the other (kb.calibration). The out-of-corpus queries (bench/queries/out_of_corpus.jsonl, over
articles/) are never fitted on: they measure how often a question with no answer is told so.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from kb.calibration import QuerySet, calibrate, collect, identifier_queries, report
from kb.cli import print_match_reports, print_reliability
from kb.config import load_settings
from kb.embedding import load_embedder
from kb.evaluation import index_corpus, load_queries
from kb.match_strength import SHIPPED
from kb.search import Searcher

ROOT = Path(__file__).resolve().parent.parent
MSDOCS = ROOT.parent / "shared" / "eval" / "msdocs"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=SHIPPED)
    parser.add_argument("--articles-only", action="store_true", help="fit without the msdocs sets")
    args = parser.parse_args()
    settings = load_settings()
    embedder = load_embedder(settings)
    articles = Searcher.open(index_corpus(settings, settings.articles, embedder, progress=False).index, embedder, settings.search)
    sets = [QuerySet("articles dev", articles, load_queries(ROOT / "bench" / "queries" / "articles_dev.jsonl")),
            QuerySet("articles cross-lingual", articles, load_queries(ROOT / "bench" / "queries" / "crosslingual.jsonl")),
            QuerySet("articles codes", articles, identifier_queries(articles), sets_cuts=False)]
    if not args.articles_only and (MSDOCS / "corpus").is_dir():
        msdocs = Searcher.open(index_corpus(settings, MSDOCS / "corpus", embedder).index, embedder, settings.search)
        sets += [QuerySet("msdocs symptom", msdocs, load_queries(MSDOCS / "symptom_queries.jsonl")),
                 QuerySet("msdocs title", msdocs, load_queries(MSDOCS / "title_queries.jsonl"), sets_cuts=False),
                 QuerySet("msdocs codes", msdocs, identifier_queries(msdocs), sets_cuts=False)]
    model, reports = calibrate(sets, embedder.model_id)
    outside = report(model, collect(articles, load_queries(ROOT / "bench" / "queries" / "out_of_corpus.jsonl")))
    reports["out of corpus (articles)"] = outside
    model.fitted["out_of_corpus_no_match"] = round(outside.unanswerable_no_match, 3)
    model.save(args.out)
    print(f"strong >= {model.strong:.3f}, partial >= {model.partial:.3f}")
    print_match_reports(reports, "held-out half")
    for name in ("msdocs symptom", "articles dev"):
        if name in reports:
            print_reliability(name, reports[name])
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
