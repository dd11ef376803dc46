"""`kb`: build the index, search it from a terminal, serve the web page and API."""

from __future__ import annotations

import json
import logging
import os
import re
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.text import Text

from kb.config import Settings, load_settings

app = typer.Typer(add_completion=False, no_args_is_help=True, help="casebook: search support articles and resolved cases by symptom.")
err = Console(stderr=True, soft_wrap=True)  # never wrap: `path:line: message` must stay one line
out = Console()
log_app = typer.Typer(no_args_is_help=True, help="The search log (index/searches.sqlite): searches and verdicts.")
app.add_typer(log_app, name="log")

_CONTROL = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]"              # CSI: colours, cursor moves, clearing the screen
    r"|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?"    # OSC: window title, hyperlinks, clipboard
    r"|\x1b[PX^_][^\x1b]*(?:\x1b\\)?"        # DCS, SOS, PM, APC strings
    r"|\x1b[ -/]*[0-~]?"                    # any other escape sequence
    r"|\x9b[0-?]*[ -/]*[@-~]"               # CSI in its 8-bit form
    r"|[\x00-\x08\x0b-\x1f\x7f-\x9f]"       # the other C0 controls (tab and newline stay), DEL, C1
)


def clean(value: object) -> str:
    """Content (titles, ids, snippets, resolutions, logged queries, file text quoted in errors) as inert
    text: without escape sequences and control characters, a document cannot recolour, retitle or clear
    the terminal. Print it in a `Text`, never as markup: `[/yellow]` in a resolution is text."""
    return _CONTROL.sub("", str(value))


def error(message: object) -> None:
    """`error: <message>` on stderr, the message shown as it is written (cleaned, no markup)."""
    err.print(Text.assemble(("error:", "red"), " ", clean(message)), highlight=False)


@app.callback()
def _status_lines() -> None:
    """The model's one-time ONNX export (tens of seconds) and its warnings say so on stderr, one line each."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    model_log = logging.getLogger("kb.embedding")
    if not model_log.handlers:
        model_log.addHandler(handler)
        model_log.setLevel(logging.INFO)
        model_log.propagate = False


@app.command()
def index(
    full: Annotated[bool, typer.Option("--full", help="Re-parse every file and rebuild from scratch (embeddings still come from the cache).")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
) -> None:
    """Parse articles/, embed what changed and publish a new index atomically."""
    from kb.embedding import load_embedder
    from kb.indexer import build_index
    from kb.layout import BuildFailed, ModelMismatch

    settings = settings_or_exit()
    try:
        report = build_index(settings, load_embedder(settings), full=full, progress=not quiet)
    except (ModelMismatch, FileNotFoundError, BuildFailed) as exc:
        error(exc)
        raise typer.Exit(2) from None
    for problem in report.errors:
        err.print(Text.assemble((clean(problem), "yellow"), " (skipped)"), highlight=False)
    summary = (
        f"{len(report.added)} added, {len(report.updated)} updated, {len(report.deleted)} deleted, "
        f"{report.unchanged} unchanged, {len(report.errors)} skipped; {report.passages} passages, "
        f"{report.embedded} embedded in {report.seconds:.1f}s -> {report.build}"
    )
    err.print(Text(clean(summary if report.changed or report.build is None else f"index up to date ({summary})")))
    exit_without_teardown()  # the build is published and its databases closed


@app.command()
def check(
    warnings: Annotated[bool, typer.Option("--warnings/--no-warnings", help="Also print warnings.")] = True,
) -> None:
    """Validate every file in articles/: one `path:line: severity: message` line per problem."""
    from kb.validation import check_tree

    settings = settings_or_exit()
    problems = check_tree(settings.articles, settings.max_file_bytes)
    errors = [p for p in problems if p.severity == "error"]
    for problem in problems:
        if warnings or problem.severity == "error":
            print(clean(f"{_relative(settings.articles)}/{problem}"))
    err.print(f"{len(errors)} errors, {len(problems) - len(errors)} warnings", highlight=False)
    if errors:
        raise typer.Exit(1)


@app.command()
def new(
    kind: Annotated[str, typer.Argument(help="case or article.")],
    title: Annotated[Optional[str], typer.Argument(help="Title, as the symptom or problem (with --from: guessed from the paste).")] = None,
    product: Annotated[str, typer.Option(help="Product the document is about.")] = "",
    language: Annotated[str, typer.Option(help="Language code of the text.")] = "en",
    tag: Annotated[Optional[list[str]], typer.Option("--tag", help="Tag (repeatable).")] = None,
    from_file: Annotated[Optional[Path], typer.Option("--from", help="A pasted ticket or log (a file, or - for standard input): "
                                                                       "the case is prefilled from it.", allow_dash=True)] = None,
) -> None:
    """Create a case or article from the template under articles/cases/ or articles/articles/."""
    from kb.scaffold import FOLDERS, new_document

    if kind not in FOLDERS or (from_file and kind != "case"):
        error(f"kind must be one of: {', '.join(FOLDERS)} (--from makes a case)")
        raise typer.Exit(2)
    settings = settings_or_exit()
    content = None
    if from_file is not None:
        from dataclasses import replace

        from kb.paste import analyse, case_draft

        analysis = analyse(read_text_arg(from_file))
        title = title or analysis.title or "Describe the symptom"
        content = case_draft(replace(analysis, title=title), language=language, product=product, tags=tag or [])
    if not title:
        error("give a title (or --from FILE to take it from a paste)")
        raise typer.Exit(2)
    try:
        path = new_document(settings.articles, kind, title, content, product=product, language=language, tags=tag or [])
    except FileExistsError as exc:
        error(f"{exc.filename} already exists; choose another title or edit that file")
        raise typer.Exit(1) from None
    print(clean(path))


def read_text_arg(path: Path) -> str:
    """A file's text, or standard input for `-`; an unreadable file is one line and exit 2."""
    try:
        return sys.stdin.read() if str(path) == "-" else path.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        error(f"cannot read {path}: {exc.strerror}")
        raise typer.Exit(2) from None


def settings_or_exit() -> Settings:
    """The settings, or one line naming the setting that is wrong (e.g. `KB_RUNTIME=gpu`) and exit 2."""
    from pydantic import ValidationError

    try:
        return load_settings()
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        error(f"invalid setting ({problems}); see [tool.casebook] in pyproject.toml and KB_* variables")
        raise typer.Exit(2) from None
    except ValueError as exc:  # e.g. a secret in pyproject.toml
        error(exc)
        raise typer.Exit(2) from None


def _relative(path: Path) -> str:
    """`path` relative to the current directory when inside it, for clickable `path:line` output."""
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


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
    from kb.catalog import Filters
    from kb.layout import IndexMissing, IndexUnusable, ModelMismatch
    from kb.search import open_searcher

    try:
        searcher = open_searcher(settings_or_exit())
    except (IndexMissing, IndexUnusable, ModelMismatch) as exc:
        error(exc)
        raise typer.Exit(2) from None
    hits = searcher.search(query, k=k, filters=Filters(type=type, tags=tuple(tag or ())), mode=mode)
    print_hits(query, hits, as_json)
    exit_without_teardown()


def print_hits(query: str, hits: list, as_json: bool) -> None:
    """`kb search`'s output: the results as text, or as /api/search's result objects."""
    if as_json:  # the result objects of /api/search, with their ranking details
        from api.models import SearchResult

        json.dump([SearchResult.model_validate(h).model_dump(mode="json") for h in hits], sys.stdout, ensure_ascii=False, indent=2)
        print()
        return
    if not hits:
        err.print("no results")
    if hits and all(h.match == "weak" for h in hits):
        err.print(f"no strong match for {query!r}: the knowledge base may not have this answer (when you solve it: kb new case)",
                  highlight=False, markup=False)
    for n, hit in enumerate(hits, start=1):
        strength = f"  {hit.match} ({hit.probability:.0%})" if hit.match else ""
        codes = f"  contains {', '.join(hit.identifiers)}" if hit.identifiers else ""
        out.print(Text.assemble((clean(f"{n}. {hit.title}"), "bold"),
                                clean(f"  [{hit.type}] {hit.id}{strength}{codes}  score {hit.score:.4f} sim {hit.similarity:.3f}")))
        if hit.case:
            resolution = hit.case.resolution or hit.case.resolution_excerpt or "-"
            out.print(Text(clean(f"   status: {hit.case.status or '?'}  resolution: {resolution}")))
        out.print(Text(clean(f"   {hit.heading}: " if hit.heading else "   ")) + highlighted(hit.snippet, hit.highlights))


def highlighted(snippet: str, highlights: list[tuple[int, int]]) -> Text:
    """The snippet with its matched words in bold yellow, each piece cleaned on its own so the offsets hold."""
    body, done = Text(), 0
    for start, end in sorted(highlights):
        start = max(start, done)
        body.append(clean(snippet[done:start]))
        body.append(clean(snippet[start:end]), "bold yellow")
        done = max(done, end)
    body.append(clean(snippet[done:]))
    return body


@app.command()
def similar(
    source: Annotated[Path, typer.Argument(help="A pasted ticket or log: a file, or - for standard input.", allow_dash=True)],
    k: Annotated[int, typer.Option("-k", min=1, max=50, help="Number of results.")] = 5,
    type: Annotated[Optional[str], typer.Option("--type", help="article or case.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print what POST /api/similar answers.")] = False,
) -> None:
    """Past cases and articles that match a pasted ticket or log, with why each matched."""
    from kb.catalog import Filters
    from kb.layout import IndexMissing, IndexUnusable, ModelMismatch
    from kb.search import open_searcher, timed

    if type not in (None, "article", "case"):
        error("--type must be article or case")
        raise typer.Exit(2)
    pasted = read_text_arg(source)
    if not pasted.strip():
        error("the paste is empty")
        raise typer.Exit(2)
    try:
        searcher = open_searcher(settings_or_exit())
    except (IndexMissing, IndexUnusable, ModelMismatch) as exc:
        error(exc)
        raise typer.Exit(2) from None
    (hits, analysis), took = timed(searcher.similar, pasted, k, Filters(type=type))
    print_similar(hits, analysis, took, as_json)
    exit_without_teardown()


def print_similar(hits: list, analysis, took: float, as_json: bool) -> None:
    """`kb similar`'s output: the analysis of the paste and the results with why each matched, or
    POST /api/similar's body."""
    if as_json:  # the body of POST /api/similar
        from api.models import SimilarResponse

        print(SimilarResponse.of(hits, analysis, took).model_dump_json(indent=2))
        return
    err.print(Text(clean(f"read {analysis.total_lines} lines: kept {len(analysis.lines)}, {analysis.repeated_lines} repeated, "
                         f"{analysis.dropped_lines} noise; codes: {', '.join(analysis.identifiers) or 'none'}")))
    if hits and all(h.match == "weak" for h in hits):
        err.print("no strong match: when you solve it, `kb new case --from FILE` starts the write-up from this paste",
                  highlight=False, markup=False)
    for n, hit in enumerate(hits, start=1):
        strength = f"  {hit.match} ({hit.probability:.0%})" if hit.match else ""
        out.print(Text.assemble((clean(f"{n}. {hit.title}"), "bold"), clean(f"  [{hit.type}] {hit.id}{strength}")))
        if hit.case:
            resolution = hit.case.resolution or hit.case.resolution_excerpt or "-"
            out.print(Text(clean(f"   status: {hit.case.status or '?'}  root cause: {hit.case.root_cause or '-'}  resolution: {resolution}")))
        why = hit.why
        reasons = [f"codes {', '.join(why.codes)}" if why.codes else "", f"product {why.product}" if why.product else "",
                   f"version {why.version}" if why.version else "", f"symptom: {why.sentence}" if why.sentence else ""]
        out.print(Text(clean("   matched on " + "; ".join(r for r in reasons if r))))


@app.command("eval")
def evaluate(
    query_sets: Annotated[list[Path], typer.Argument(help="JSONL files of {id, query, relevant: [doc ids]}.", exists=True, dir_okay=False)],
    corpus: Annotated[Optional[Path], typer.Option(help="Folder of Markdown files the query ids refer to (default: the configured articles).", exists=True, file_okay=False)] = None,
    mode: Annotated[Optional[list[str]], typer.Option(help="Modes to compare (default: lexical, dense, hybrid).")] = None,
    pastes: Annotated[bool, typer.Option("--pastes", help="The queries are pasted tickets and logs: compare the log-aware "
                                                          "analysis (/api/similar) with the raw paste sent to /api/search.")] = False,
) -> None:
    """Measure MRR@10, nDCG@10 and Recall@10 of each retrieval mode; print one table per query set."""
    from rich.table import Table

    from kb.documents import DocumentError
    from kb.embedding import load_embedder
    from kb.calibration import collect, report
    from kb.evaluation import METRICS, SLICE_METRICS, evaluate_slices, held_out, index_corpus, load_queries, metrics, run
    from kb.search import Searcher, load_match_model

    settings = settings_or_exit()
    embedder = load_embedder(settings)
    corpus = corpus or settings.articles
    eval_settings = index_corpus(settings, corpus, embedder)
    match_model = load_match_model(settings, embedder.model_id)
    searcher = Searcher.open(eval_settings.index, embedder, settings.search, match_model)
    modes = tuple(mode or ("lexical", "dense", "hybrid"))
    for path in query_sets:
        try:
            queries = load_queries(path)
        except DocumentError as exc:
            error(exc)
            raise typer.Exit(2) from None
        out.print(Text(clean(f"{path.name}: {len(queries)} queries, {len(searcher.catalog)} documents")))
        if pastes:
            print_paste_table(path.name, queries, searcher)
            continue
        if match_model is not None:  # on the half of the queries calibration does not fit on (all, when none has an answer)
            answerable = [q for q in queries if q.relevant]
            unseen = [q for q in queries if held_out(q)] if answerable else queries
            print_match_reports({path.name: report(match_model, collect(searcher, unseen))},
                                f"{len(unseen)} {'held-out ' if answerable else ''}queries")
            if not answerable:
                continue
        runs = {name: run(searcher, queries, name) for name in modes}  # each mode ranked once
        results = {name: metrics(queries, ranked) for name, ranked in runs.items()}
        table = Table()
        table.add_column("mode")
        for metric in METRICS:
            table.add_column(metric, justify="right")
        for name, values in results.items():
            table.add_row(Text(clean(name)), *(f"{values[m]:.3f}" for m in METRICS))
        out.print(table)
        if "hybrid" in modes:
            by_slice = Table(title=Text(clean(f"{path.name}: hybrid by slice")), title_justify="left")
            for column in ("slice", "queries", *SLICE_METRICS):
                by_slice.add_column(column, justify="left" if column == "slice" else "right", no_wrap=True)
            for name, (count, values) in evaluate_slices(queries, runs["hybrid"]).items():
                by_slice.add_row(Text(clean(name)), str(count), *(f"{values[m]:.3f}" for m in SLICE_METRICS))
            out.print(by_slice)


@app.command()
def calibrate(
    query_sets: Annotated[list[Path], typer.Argument(help="JSONL files of {id, query, relevant: [doc ids]} over the corpus.", exists=True, dir_okay=False)],
    corpus: Annotated[Optional[Path], typer.Option(help="Folder of Markdown files the query ids refer to (default: the configured articles).", exists=True, file_okay=False)] = None,
    out: Annotated[Path, typer.Option(help="Where to write the fitted model; point `match_model` in [tool.casebook] at it.")] = Path("match_model.json"),
) -> None:
    """Fit match strength (strong / partial / weak) to your own relevance data; report it on held-out queries."""
    from kb.calibration import QuerySet, calibrate as fit_model, identifier_queries
    from kb.documents import DocumentError
    from kb.embedding import load_embedder
    from kb.evaluation import index_corpus, load_queries
    from kb.search import Searcher

    settings = settings_or_exit()
    embedder = load_embedder(settings)
    searcher = Searcher.open(index_corpus(settings, corpus or settings.articles, embedder).index, embedder, settings.search)
    try:
        sets = [QuerySet(path.name, searcher, load_queries(path)) for path in query_sets]
    except DocumentError as exc:
        error(exc)
        raise typer.Exit(2) from None
    if not any(q.relevant for query_set in sets for q in query_set.queries):
        error("calibration needs queries with relevant documents; none of the given queries has any")
        raise typer.Exit(1)
    sets.append(QuerySet("error codes alone", searcher, identifier_queries(searcher), sets_cuts=False))
    try:
        model, reports = fit_model(sets, embedder.model_id)
    except ValueError as exc:
        error(exc)
        raise typer.Exit(1) from None
    model.save(out)
    err.print(f"fitted on half of the queries: strong >= {model.strong:.3f}, partial >= {model.partial:.3f}", highlight=False)
    print_match_reports(reports, "the other half")
    err.print(Text(clean(f"wrote {out}; use it with match_model = \"{out}\" under [tool.casebook] (or KB_MATCH_MODEL={out})")))


def print_paste_table(name: str, queries, searcher) -> None:
    """Top-1, top-3 and MRR@10 of pasted tickets: log-aware analysis against the raw paste as a search."""
    from rich.table import Table

    from kb.evaluation import PASTE_METRICS, metrics, run_pastes, run_raw_pastes

    table = Table(title=Text(clean(f"{name}: pasted tickets and logs")), title_justify="left")
    for column in ("path", "top-1", "top-3", "mrr@10"):
        table.add_column(column, justify="left" if column == "path" else "right")
    for label, runner in (("raw paste to /api/search (first 1,000 characters)", run_raw_pastes),
                          ("log-aware analysis (/api/similar)", run_pastes)):
        values = metrics(queries, runner(searcher, queries), PASTE_METRICS)
        table.add_row(label, *(f"{values[m]:.3f}" for m in PASTE_METRICS))
    out.print(table)


def print_match_reports(reports: dict, title: str) -> None:
    """Per query set: how match strength did on queries it was not fitted on."""
    from rich.table import Table

    for name, r in reports.items():
        table = Table(title=Text(clean(f"{name}: match strength ({title})")), title_justify="left", show_header=False)
        table.add_column("figure")
        table.add_column("value", justify="right")
        table.add_row("Brier score over the first ten results", f"{r.brier:.4f} ({r.results} results)")
        if r.first_relevant:
            table.add_row("relevant first results labelled strong or partial", f"{r.first_relevant_labelled:.1%} of {r.first_relevant}")
        table.add_row("queries without their answer told \"no strong match\"", f"{r.unanswerable_no_match:.1%} of {r.unanswerable}")
        for label, (count, share) in r.labels.items():
            if count:
                table.add_row(f"first results labelled {label}: relevant", f"{share:.0%} of {count}")
        out.print(table)


def print_reliability(name: str, r) -> None:
    from rich.table import Table

    table = Table(title=Text(clean(f"{name}: reliability (held-out)")), title_justify="left")
    for column in ("predicted", "results", "mean predicted", "observed relevant"):
        table.add_column(column, justify="right")
    for low, high, count, observed, predicted in r.reliability:
        table.add_row(f"{low:.1f}-{high:.1f}", str(count), f"{predicted:.3f}", f"{observed:.3f}")
    out.print(table)


@app.command()
def gaps(
    threshold: Annotated[Optional[float], typer.Option(help="For searches logged before match strength: best-result similarity under which a search is unanswered.")] = None,
    since: Annotated[Optional[str], typer.Option(help="Only searches at or after this ISO date (UTC); default: the last log_days days.")] = None,
    limit: Annotated[int, typer.Option(help="Groups to show.")] = 20,
) -> None:
    """Searches whose first result was not a strong match, and answers marked "not helpful", grouped by wording."""
    from kb.gaps import DEFAULT_THRESHOLD, find_gaps
    from kb.store.searches import SearchLog, window_start

    settings = settings_or_exit()
    log = SearchLog(settings.search_log, keep_days=settings.log_days)
    since = since or window_start(settings.log_days)
    found = find_gaps(log.rows(since, answered=False), DEFAULT_THRESHOLD if threshold is None else threshold, log.feedback(since))
    if not found:
        err.print("no content gaps recorded")
    for gap in found[:limit]:
        best = "no results" if gap.best_score is None else f"best {gap.best_score:.2f}"
        unhelpful = f"; {gap.not_helpful} not helpful: {', '.join(gap.unhelpful_documents)}" if gap.not_helpful else ""
        others = [q for q in gap.variants if q != gap.query]
        print(clean(f"{gap.count:>4}x  {gap.query}  ({best}{unhelpful}; last {gap.last_seen})" + (f"  also: {'; '.join(others[:3])}" if others else "")))


@app.command()
def feedback(
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON list (as GET /api/feedback) instead of lines.")] = False,
    since: Annotated[Optional[str], typer.Option(help="Only verdicts at or after this ISO date (UTC).")] = None,
) -> None:
    """Export the "Solved it" / "Not helpful" verdicts engineers gave on the page and through the API."""
    from dataclasses import asdict

    from kb.store.searches import SearchLog

    settings = settings_or_exit()
    rows = SearchLog(settings.search_log, keep_days=settings.log_days).feedback(since)
    if as_json:
        json.dump([asdict(r) for r in rows], sys.stdout, ensure_ascii=False, indent=2)
        print()
        return
    for r in rows:
        where = f" > {r.heading}" if r.heading else ""
        print(clean(f"{r.at}  {r.verdict:<11}  {r.doc_id}{where}  <- {r.query}"))
    if not rows:
        err.print("no feedback recorded")


@log_app.command("prune")
def log_prune(
    days: Annotated[Optional[int], typer.Option(min=1, help="Keep this many days (default: log_days, KB_LOG_DAYS).")] = None,
) -> None:
    """Delete searches and verdicts older than the retention window now (a server does it daily)."""
    from kb.store.searches import SearchLog

    settings = settings_or_exit()
    days = days or settings.log_days
    if not days:
        err.print("log_days is 0: the log is kept forever; give --days N to prune it", highlight=False)
        return
    log = SearchLog(settings.search_log)
    pruned = log.prune(days)
    if pruned is None:
        error(f"cannot prune the search log: {log.failure}")
        raise typer.Exit(1)
    print(f"removed {pruned.searches} searches and {pruned.feedback} feedback rows older than {days} days")


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to bind; loopback by default.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8000,
) -> None:
    """Serve the web page and the JSON API."""
    import uvicorn

    from api.app import create_app
    from kb.layout import IndexMissing, IndexUnusable, ModelMismatch

    try:
        application = create_app(settings_or_exit())
    except (IndexMissing, IndexUnusable, ModelMismatch) as exc:
        error(f"cannot serve: {exc}")
        raise typer.Exit(2) from None
    # h11 rather than httptools: on a 100 kB request line httptools answers a bare text 400, h11 lets the app answer in JSON
    uvicorn.run(application, host=host, port=port, log_level="info", http="h11")


_PROGRAM = False
"""True in the `kb` program (`main`); False where a test's CliRunner calls `app`."""


def main() -> None:
    """The `kb` program: the console script and `python -m kb.cli`."""
    global _PROGRAM
    _PROGRAM = True
    app()


def exit_without_teardown() -> None:
    """End the process of a command whose work is done (its output printed, its build published, its
    databases closed) now, the output flushed. Freeing what a search loaded took 0.3-0.5 s (dropping
    e5's tokenizer alone 0.29 s), a fifth of a `kb search`. In the `kb` program only: under a test's
    CliRunner, a no-op."""
    if _PROGRAM:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)


if __name__ == "__main__":
    main()
