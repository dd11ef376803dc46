"""`kb`: build the index, search it from a terminal, serve the web page and API."""

from __future__ import annotations

import json
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.text import Text

from kb.config import load_settings

app = typer.Typer(add_completion=False, no_args_is_help=True, help="casebook: search support articles and resolved cases by symptom.")
err = Console(stderr=True)
out = Console()


@app.command()
def index(
    full: Annotated[bool, typer.Option("--full", help="Re-parse every file and rebuild from scratch (embeddings still come from the cache).")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
) -> None:
    """Parse articles/, embed what changed and publish a new index atomically."""
    from kb.embedding import Embedder
    from kb.indexer import ModelMismatch, build_index

    settings = load_settings()
    try:
        report = build_index(settings, Embedder(settings.model), full=full, progress=not quiet)
    except (ModelMismatch, FileNotFoundError) as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None
    for problem in report.errors:
        err.print(f"[yellow]{problem}[/yellow] (skipped)", highlight=False)
    summary = (
        f"{len(report.added)} added, {len(report.updated)} updated, {len(report.deleted)} deleted, "
        f"{report.unchanged} unchanged, {len(report.errors)} skipped; {report.passages} passages, "
        f"{report.embedded} embedded in {report.seconds:.1f}s -> {report.build}"
    )
    err.print(summary if report.changed or report.build is None else f"index up to date ({summary})", highlight=False)


@app.command()
def search(
    query: Annotated[str, typer.Argument(help="A symptom, error code or question.")],
    k: Annotated[int, typer.Option("-k", min=1, max=100, help="Number of results.")] = 5,
    type: Annotated[Optional[str], typer.Option("--type", help="article or case.")] = None,
    tag: Annotated[Optional[list[str]], typer.Option("--tag", help="Require a tag (repeatable).")] = None,
    mode: Annotated[str, typer.Option(help="hybrid, dense or lexical.")] = "hybrid",
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")] = False,
) -> None:
    """Search the index from the terminal."""
    from kb.embedding import Embedder
    from kb.layout import IndexMissing
    from kb.search import Filters, Searcher

    settings = load_settings()
    try:
        searcher = Searcher.open(settings.index, Embedder(settings.model))
    except IndexMissing as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None
    hits = searcher.search(query, k=k, filters=Filters(type=type, tags=tuple(tag or ())), mode=mode)
    if as_json:
        json.dump([asdict(h) for h in hits], sys.stdout, ensure_ascii=False, indent=2)
        print()
        return
    if not hits:
        err.print("no results")
    for n, hit in enumerate(hits, start=1):
        out.print(Text.assemble((f"{n}. {hit.title}", "bold"), f"  [{hit.type}] {hit.id}  score {hit.score:.4f} sim {hit.similarity:.3f}"))
        if hit.case:
            out.print(f"   status: {hit.case.get('status', '?')}  resolution: {hit.case.get('resolution', '-')}", highlight=False)
        snippet = Text(f"   {hit.heading}: " if hit.heading else "   ")
        body = Text(hit.snippet.text)
        for start, end in hit.snippet.highlights:
            body.stylize("bold yellow", start, end)
        out.print(snippet + body)


@app.command("eval")
def evaluate(
    query_sets: Annotated[list[Path], typer.Argument(help="JSONL files of {id, query, relevant: [doc ids]}.", exists=True, dir_okay=False)],
    corpus: Annotated[Optional[Path], typer.Option(help="Folder of Markdown files the query ids refer to (default: the configured articles).", exists=True, file_okay=False)] = None,
    mode: Annotated[Optional[list[str]], typer.Option(help="Modes to compare (default: lexical, dense, hybrid).")] = None,
) -> None:
    """Measure MRR@10, nDCG@10 and Recall@10 of each retrieval mode; print one table per query set."""
    from rich.table import Table

    from kb.documents import DocumentError
    from kb.embedding import Embedder
    from kb.evaluation import METRICS, evaluate as run_eval, index_corpus, load_queries
    from kb.search import Searcher

    settings = load_settings()
    embedder = Embedder(settings.model)
    corpus = corpus or settings.articles
    eval_settings = index_corpus(settings, corpus, embedder)
    searcher = Searcher.open(eval_settings.index, embedder)
    modes = tuple(mode or ("lexical", "dense", "hybrid"))
    for path in query_sets:
        try:
            queries = load_queries(path)
        except DocumentError as exc:
            err.print(f"[red]error:[/red] {exc}", highlight=False)
            raise typer.Exit(2) from None
        results = run_eval(searcher, queries, modes)
        table = Table(title=f"{path.name}: {len(queries)} queries, {len(searcher.docs)} documents", title_justify="left")
        table.add_column("mode")
        for metric in METRICS:
            table.add_column(metric, justify="right")
        for name, values in results.items():
            table.add_row(name, *(f"{values[m]:.3f}" for m in METRICS))
        out.print(table)


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to bind; loopback by default.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8000,
) -> None:
    """Serve the web page and the JSON API."""
    import uvicorn

    uvicorn.run("api.app:create_app", factory=True, host=host, port=port, log_level="info")


if __name__ == "__main__":
    app()
