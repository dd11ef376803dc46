"""Full build throughput of kb.indexer.build_index with a cold embedding cache, against the raw encode
throughput of the model (Embedder.encode) on exactly the passage inputs the indexer embeds.

    python bench/build_throughput.py                        # articles/
    python bench/build_throughput.py --generate 300         # 300 generated articles (4 sections each)
    python bench/build_throughput.py --corpus ../shared/eval/msdocs/corpus --limit 500

Prints passages/s of: raw encode; a full build with a cold cache (parse, chunk, embed, store, FAISS,
publish); a full rebuild with a warm cache (everything but the model); and the build's overhead over
raw encoding. The model is loaded and warmed up before anything is timed. Then the peak RSS of
`kb index --full` run as a user runs it (a subprocess, cold embedding cache). Figures only.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from synthetic_corpus import generate_corpus  # noqa: E402

from kb.chunking import chunk_document  # noqa: E402
from kb.config import load_settings  # noqa: E402
from kb.documents import DocumentError, discover, load_document  # noqa: E402
from kb.embedding import Embedder  # noqa: E402
from kb.indexer import build_index  # noqa: E402


def passage_inputs(corpus: Path, embedder: Embedder, max_bytes: int) -> list[str]:
    """The model inputs the indexer builds for `corpus` (files that fail to parse are skipped, as it does)."""
    files, _ = discover(corpus)
    inputs = []
    for doc_id, path in files.items():
        try:
            doc = load_document(path, doc_id, max_bytes)
        except DocumentError:
            continue
        inputs.extend(p.embedding_input(doc.title) for p in chunk_document(doc, embedder.count_tokens, embedder.passage_tokens))
    return inputs


def prepare_corpus(args: argparse.Namespace, tmp: Path) -> Path:
    """The corpus to index: generated, a copy limited to --limit files, or the folder itself."""
    if args.generate:
        generate_corpus(tmp / "articles", args.generate, sections=args.sections, words=args.words)
        return tmp / "articles"
    if not args.limit:
        return args.corpus
    files, _ = discover(args.corpus)
    for doc_id, path in list(files.items())[: args.limit]:
        (tmp / "articles" / doc_id).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, tmp / "articles" / doc_id)
    return tmp / "articles"


def index_peak_rss(articles: Path, index: Path, cache: Path, models: Path) -> tuple[float, float, str]:
    """(peak RSS in MiB, seconds, last stderr line) of `kb index --full --quiet` in a subprocess over
    `articles`, building into `index` with the embedding cache `cache`. The model's export in `models`
    must exist (else the child would load PyTorch to make it). RSS from os.wait4: this child's own
    ru_maxrss, whatever other children ran before."""
    env = {**os.environ, "KB_ARTICLES": str(articles), "KB_INDEX": str(index), "KB_EMBEDDING_CACHE": str(cache),
           "KB_MODEL_CACHE": str(models)}
    with tempfile.TemporaryFile("w+", encoding="utf-8") as log:
        start = time.perf_counter()
        proc = subprocess.Popen([sys.executable, "-m", "kb.cli", "index", "--full", "--quiet"], cwd=ROOT, env=env,
                                stdout=log, stderr=log)
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        seconds = time.perf_counter() - start
        log.seek(0)
        lines = [line for line in log.read().splitlines() if line.strip()]
    if proc.returncode != 0:
        raise SystemExit(f"kb index failed ({proc.returncode}): " + "\n".join(lines[-5:]))
    return usage.ru_maxrss / 1024, seconds, lines[-1] if lines else ""


def rate(count: int, seconds: float) -> str:
    return f"{count / seconds:8.1f} passages/s ({count} in {seconds:.1f} s)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", type=Path, default=ROOT / "articles", help="folder of Markdown articles")
    parser.add_argument("--limit", type=int, default=0, help="index only the first N files of --corpus")
    parser.add_argument("--generate", type=int, default=0, help="index N generated articles instead of --corpus")
    parser.add_argument("--sections", type=int, default=4, help="sections per generated article")
    parser.add_argument("--words", type=int, default=120, help="words per generated section")
    parser.add_argument("--batch-size", type=int, default=64, help="Embedder batch size (the indexer's default: 64)")
    args = parser.parse_args()

    settings = load_settings(ROOT)
    start = time.perf_counter()
    embedder = Embedder(settings.model, batch_size=args.batch_size, runtime=settings.runtime, models_dir=settings.models_dir)
    embedder.encode(["warm-up " * 20] * 8)
    print(f"model {embedder.model_id}: loaded in {time.perf_counter() - start:.1f} s")

    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        corpus = prepare_corpus(args, tmp)
        inputs = passage_inputs(corpus, embedder, settings.max_file_bytes)
        tokens = sum(min(embedder.count_tokens(t), embedder.max_tokens) for t in inputs)
        print(f"corpus {corpus}: {len(inputs)} passages, {tokens / max(1, len(inputs)):.0f} tokens each on average")

        start = time.perf_counter()
        embedder.encode(inputs)
        raw = time.perf_counter() - start
        print(f"raw encode (Embedder.encode):     {rate(len(inputs), raw)}")

        build_settings = settings.with_(articles=corpus, index=tmp / "index", embedding_cache=tmp / "cold-embeddings.sqlite")
        cold = build_index(build_settings, embedder, full=True, progress=False)
        print(f"full build, cold cache:           {rate(cold.passages, cold.seconds)}, {cold.embedded} embedded")
        warm = build_index(build_settings, embedder, full=True, progress=False)
        print(f"full build, warm cache:           {rate(warm.passages, warm.seconds)}, {warm.embedded} embedded")
        print(f"build / raw encode time: {cold.seconds / raw:.2f}x; "
              f"time outside the model: {cold.seconds - raw:.1f} s ({(cold.seconds - raw) / cold.seconds:.0%} of the build)")
        peak, seconds, summary = index_peak_rss(corpus, tmp / "rss-index", tmp / "rss-embeddings.sqlite", settings.models_dir)
        print(f"kb index --full, cold cache:      peak RSS {peak:,.0f} MiB in {seconds:.1f} s  [{summary}]")


if __name__ == "__main__":
    main()
