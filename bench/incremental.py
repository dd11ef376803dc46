"""Incremental re-index time after changing one article in a corpus of >= 5,000 articles.

    python bench/incremental.py                               # msdocs corpus + generated, 5,000 articles
    python bench/incremental.py --articles 8000 --profile     # and where the incremental time goes

The corpus is a temporary copy of --msdocs (3,524 real articles; skipped when the folder is absent)
topped up with small generated articles to --articles. The script first builds the index from
scratch (reported separately: with a warm --cache it parses and stores everything but embeds little),
then times a build with nothing changed, then edits one article (a new sentence in one section, unique
per run so its passage is never in the cache) and times the build again, with how many passages were
embedded; then three more edits, each indexed by `kb index` in a fresh process, as `make index` runs
it (wall time, process start and model load included). Before those, the peak RSS of `kb index --full` over the same corpus, run as a user runs it
(a subprocess with the same cache, so it embeds what the cache lacks).

The embedding cache (--cache) outlives the run, so reruns skip the model for unchanged passages; on
first use it is seeded from the --seed-cache files that exist (`make eval` and `kb eval` caches hold
the msdocs vectors). When the msdocs vectors are not cached, the corpus is generated only (embedding
the 39k msdocs passages would take ~30 min), unless --embed-msdocs. Figures only.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from build_throughput import index_peak_rss  # noqa: E402
from synthetic_corpus import generate_corpus  # noqa: E402

from kb.chunking import chunk_document  # noqa: E402
from kb.config import Settings, load_settings  # noqa: E402
from kb.documents import DocumentError, discover, load_document  # noqa: E402
from kb.embedding import Embedder, load_embedder  # noqa: E402
from kb.store.embeddings import EmbeddingCache, text_key  # noqa: E402
from kb.indexer import BuildReport, build_index  # noqa: E402

MSDOCS = ROOT.parent / "shared" / "eval" / "msdocs" / "corpus"
CACHE = ROOT / "index" / "bench-embeddings.sqlite"
SEED_CACHES = (ROOT / "index" / "embeddings.sqlite", ROOT / "index" / "eval-warm" / "embeddings.sqlite")


def seed_cache(cache: Path, sources: list[Path]) -> None:
    """Copy vectors from other caches into a new bench cache (same table; rows are keyed by model and text)."""
    if cache.exists():
        return
    target = EmbeddingCache(cache, "")
    for source in sources:
        if source.is_file():
            target.copy_from(source)
            print(f"seeded {cache.name} from {source}")
    target.close()


def share_cached(corpus: Path, cache: Path, embedder: Embedder, max_bytes: int, sample: int = 30) -> float:
    """Share of the passages of `sample` files of `corpus` whose vectors are already in `cache`."""
    files, _ = discover(corpus)
    inputs = []
    for doc_id, path in list(files.items())[:: max(1, len(files) // sample)]:
        try:
            doc = load_document(path, doc_id, max_bytes)
        except DocumentError:
            continue
        inputs += [p.embedding_input(doc.title) for p in chunk_document(doc, embedder.count_tokens, embedder.passage_tokens)]
    store = EmbeddingCache(cache, embedder.model_id)
    try:
        return len(store.get_many([text_key(t) for t in inputs])) / max(1, len(inputs))
    finally:
        store.close()


def prepare_corpus(folder: Path, msdocs: Path | None, total: int) -> tuple[int, int]:
    """Copy msdocs (if any) and generate small articles up to `total`: (copied, generated)."""
    have = 0
    if msdocs is not None and msdocs.is_dir():
        shutil.copytree(msdocs, folder / "msdocs")
        have = sum(1 for p in (folder / "msdocs").rglob("*.md") if p.name.lower() != "readme.md")
    extra = max(0, total - have)
    generate_corpus(folder, extra, seed=1, sections=2, words=40)
    return have, extra


def make_bench_corpus(folder: Path, total: int, cache: Path, settings: Settings, embedder: Embedder,
                      msdocs: Path = MSDOCS, embed_msdocs: bool = False) -> tuple[int, int]:
    """A corpus of `total` articles in `folder`: msdocs when its vectors are cached (or `embed_msdocs`),
    topped up with generated articles; returns (copied, generated)."""
    seed_cache(cache, list(SEED_CACHES))
    use = msdocs if msdocs.is_dir() else None
    if use is not None and not embed_msdocs and share_cached(use, cache, embedder, settings.max_file_bytes) < 0.9:
        print(f"{cache} lacks the msdocs vectors: using generated articles only "
              "(run `make eval` first, or pass --embed-msdocs to embed ~39k passages once, ~30 min on 2 cores)")
        use = None
    return prepare_corpus(folder, use, total)


def edit_one(folder: Path) -> Path:
    """Add a sentence, unique to this run, to the first section of one article (a real one if present)."""
    real = sorted((folder / "msdocs").rglob("*.md")) if (folder / "msdocs").is_dir() else []
    path = (real or sorted(folder.rglob("*.md")))[0]
    text = path.read_text(encoding="utf-8")
    marker = "\n## "
    at = text.find(marker, text.find("\n---", 3) + 4)
    at = text.find("\n\n", at + len(marker)) if at != -1 else len(text)
    sentence = f"\n\nEdited at {time.time_ns()}: the fix also needs a restart of the service."
    path.write_text(text[:at] + sentence + text[at:], encoding="utf-8")
    return path


def timed_build(settings: Settings, embedder: Embedder, profile: bool) -> BuildReport:
    if not profile:
        return build_index(settings, embedder, progress=False)
    profiler = cProfile.Profile()
    report = profiler.runcall(build_index, settings, embedder, progress=False)
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(18)
    print(out.getvalue())
    return report


def describe(report: BuildReport) -> str:
    return (f"{report.seconds:6.2f} s  ({len(report.added)} added, {len(report.updated)} updated, "
            f"{report.unchanged} unchanged; {report.passages} passages, {report.embedded} embedded)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--articles", type=int, default=5000, help="corpus size in articles")
    parser.add_argument("--msdocs", type=Path, default=MSDOCS, help="real articles to start from (copied)")
    parser.add_argument("--cache", type=Path, default=CACHE, help="embedding cache kept between runs")
    parser.add_argument("--seed-cache", type=Path, nargs="*", default=list(SEED_CACHES),
                        help="caches to copy into --cache when it does not exist yet")
    parser.add_argument("--embed-msdocs", action="store_true",
                        help="use --msdocs even when its vectors are not cached (embeds them once)")
    parser.add_argument("--profile", action="store_true", help="print the top functions of the incremental build")
    args = parser.parse_args()

    seed_cache(args.cache, args.seed_cache)
    settings = load_settings(ROOT)
    embedder = load_embedder(settings)
    embedder.encode(["warm-up"])
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        copied, generated = make_bench_corpus(tmp / "articles", args.articles, args.cache, settings, embedder,
                                              args.msdocs, args.embed_msdocs)
        print(f"corpus: {copied} msdocs + {generated} generated articles")
        peak, seconds, summary = index_peak_rss(tmp / "articles", tmp / "rss-index", args.cache, settings.models_dir)
        shutil.rmtree(tmp / "rss-index")
        print(f"kb index --full peak RSS: {peak:,.0f} MiB in {seconds:.1f} s  [{summary}]")
        settings = settings.with_(articles=tmp / "articles", index=tmp / "index", embedding_cache=args.cache)
        print(f"initial full build:  {describe(build_index(settings, embedder, progress=False))}")
        print(f"nothing changed:     {describe(build_index(settings, embedder, progress=False))}")
        edited = edit_one(tmp / "articles")
        report = timed_build(settings, embedder, args.profile)
        print(f"1 article edited:    {describe(report)}  [{edited.relative_to(tmp / 'articles')}]")
        for _ in range(3):
            edited = edit_one(tmp / "articles")
            seconds, summary = index_wall(tmp / "articles", tmp / "index", args.cache, settings.models_dir)
            print(f"`kb index` after 1 edit, as a process: {seconds:5.2f} s wall  [{summary}]")


def index_wall(articles: Path, index: Path, cache: Path, models: Path) -> tuple[float, str]:
    """(wall seconds, last line) of `kb index --quiet` in a fresh process, as `make index` runs it."""
    env = {**os.environ, "KB_ARTICLES": str(articles), "KB_INDEX": str(index), "KB_EMBEDDING_CACHE": str(cache),
           "KB_MODEL_CACHE": str(models)}
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "kb.cli", "index", "--quiet"], cwd=ROOT, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"kb index failed ({done.returncode}): {done.stderr[-500:]}")
    return seconds, done.stderr.strip().splitlines()[-1][:90]


if __name__ == "__main__":
    main()
