"""The search log as a server relies on it (issue 16): a failed write never fails a search, old rows
are pruned, the gap report scales with the distinct queries, not the square of the searches, and the
`kb` command prints logged and indexed content as text, never as markup or terminal codes."""

from __future__ import annotations

import logging
import random
import sqlite3
from datetime import datetime, timedelta, timezone
from types import SimpleNamespace

import pytest
from typer.testing import CliRunner

import kb.gaps
from kb.cli import app
from kb.config import Settings
from kb.gaps import Gap, PairwiseGrouping, find_gaps
from kb.query import parse_query
from kb.store import searches
from kb.store.searches import FeedbackRow, SearchLog, SearchRow

HOSTILE = "[/yellow] [/etc/hosts] [x86] \x1b[31mred\x1b[0m \x1b]0;title\x07 \x9b2J\x07"


def fill_disk(log: SearchLog) -> None:
    """What a full disk does to SQLite: the database may not grow by another page."""
    pages = log.conn.execute("PRAGMA page_count").fetchone()[0]
    log.conn.execute(f"PRAGMA max_page_count = {pages}")
    inserts = ("INSERT INTO searches(at, query, results, took_ms) VALUES ('', ?, 0, 1)",
               "INSERT INTO feedback(at, query, doc_id, verdict) VALUES ('', ?, '', 'solved')")
    for insert in inserts:
        for size in (2000, 200, 20, 0):  # until not even an empty row fits
            while True:
                try:
                    log.conn.execute(insert, ("x" * size,))
                except sqlite3.OperationalError as exc:
                    assert "full" in str(exc)
                    break


def old_row(log: SearchLog, days: int, query: str) -> None:
    at = (datetime.now(timezone.utc) - timedelta(days=days)).isoformat(timespec="seconds")
    log.conn.execute("INSERT INTO searches(at, query, results, took_ms, answered) VALUES (?, ?, 0, 1, 0)", (at, query))
    log.conn.execute("INSERT INTO feedback(at, query, doc_id, verdict) VALUES (?, ?, 'cases/a.md', 'not-helpful')", (at, query))


# --- a failed write --------------------------------------------------------------------------------------


def test_a_full_disk_drops_the_search_row_warns_once_and_recovers(tmp_path, caplog):
    log = SearchLog(tmp_path / "searches.sqlite")
    fill_disk(log)
    with caplog.at_level(logging.WARNING, logger="kb.store.searches"):
        assert [log.record(f"ups dying {n}", 3, 0.4, 5.0, answered=False) for n in range(5)] == [False] * 5
    assert len(caplog.records) == 1 and "database or disk is full" in caplog.records[0].getMessage()
    assert log.problem == "search log not writable (database or disk is full): searches are not being logged"
    with pytest.raises(searches.LogUnwritable, match="database or disk is full"):  # a verdict's sender must know it was lost
        log.record_feedback("ups dying", "cases/ups.md", "solved")
    log.conn.execute("PRAGMA max_page_count = 1073741823")  # space freed
    assert log.record("ups dying", 3, 0.4, 5.0, answered=False) and log.problem is None
    assert log.rows()[-1].query == "ups dying"


def test_a_read_only_log_is_searched_around(tmp_path, monkeypatch):
    log = SearchLog(tmp_path / "searches.sqlite")

    class ReadOnly:  # what SQLite answers when the file or its folder became read-only
        def execute(self, sql, *args):
            raise sqlite3.OperationalError("attempt to write a readonly database")

    monkeypatch.setattr(log, "conn", ReadOnly())
    assert log.record("vpn drops", 0, None, 2.0) is False
    assert "readonly" in log.problem


# --- retention ---------------------------------------------------------------------------------------------


def test_rows_older_than_the_retention_are_pruned_on_open_and_daily(tmp_path, monkeypatch):
    path = tmp_path / "searches.sqlite"
    log = SearchLog(path)
    old_row(log, 200, "ancient")
    old_row(log, 10, "recent")
    log.close()
    log = SearchLog(path, keep_days=90)
    assert [r.query for r in log.rows()] == ["recent"] and [f.query for f in log.feedback()] == ["recent"]
    old_row(log, 120, "aged since")
    log.record("today", 1, 0.9, 3.0, answered=True)   # within the day: no second prune
    assert "aged since" in {r.query for r in log.rows()}
    later = log._next_prune + 1
    monkeypatch.setattr("kb.store.searches.time.monotonic", lambda: later)
    log.record("tomorrow", 1, 0.9, 3.0, answered=True)
    assert [r.query for r in log.rows()] == ["recent", "today", "tomorrow"]
    assert SearchLog(path).prune(5).searches == 1   # "recent" is 10 days old


def test_log_days_setting(monkeypatch):
    assert Settings().log_days == 90
    monkeypatch.setenv("KB_LOG_DAYS", "0")
    assert Settings().log_days == 0
    monkeypatch.setenv("KB_LOG_DAYS", "-1")
    with pytest.raises(ValueError):
        Settings()


def test_kb_log_prune_says_what_it_removed(monkeypatch, tmp_path):
    monkeypatch.setenv("KB_INDEX", str(tmp_path / "index"))
    log = SearchLog(tmp_path / "index" / "searches.sqlite")
    old_row(log, 40, "last month")
    old_row(log, 400, "last year")
    log.record("now", 1, 0.9, 3.0, answered=True)
    result = CliRunner().invoke(app, ["log", "prune"])
    assert result.exit_code == 0, result.output
    assert "removed 1 searches and 1 feedback rows older than 90 days" in result.output
    result = CliRunner().invoke(app, ["log", "prune", "--days", "30"])
    assert "removed 1 searches and 1 feedback rows older than 30 days" in result.output
    assert [r.query for r in log.rows()] == ["now"]


# --- the gap report at scale -------------------------------------------------------------------------------


def pairwise_gaps(rows: list[SearchRow], feedback: list[FeedbackRow]) -> list[Gap]:
    """The gap report with the plain quadratic grouping (the reference)."""
    return find_gaps(rows, feedback=feedback, grouping=PairwiseGrouping)


def test_the_indexed_grouping_finds_the_groups_of_the_pairwise_one():
    rng = random.Random(3)
    words = ["ups", "dying", "backup", "fails", "vpn", "drops", "outlook", "password", "0x80070005", "the", "a",
             "impressora", "ошибка", "подключении", "slow", "server", "again", "printer", "spooler", "crash"]
    queries = [" ".join(rng.sample(words, rng.randint(1, 5))) for _ in range(400)] + ["the", "a the", "", "?"]
    rows = [SearchRow(f"2026-11-{n % 28 + 1:02}", rng.choice(queries), rng.choice([0, 5]), rng.choice([None, 0.2, 0.6]),
                      answered=rng.choice([None, False, True])) for n in range(3000)]
    feedback = [FeedbackRow(f"2026-11-{n % 28 + 1:02}", rng.choice(queries), f"cases/{n % 7}.md", None, None,
                            rng.choice(["solved", "not-helpful"])) for n in range(300)]
    assert find_gaps(rows, feedback=feedback) == pairwise_gaps(rows, feedback)


def test_gaps_parse_each_wording_once_and_compare_only_groups_sharing_a_word(monkeypatch):
    """Was: each of 20,000 searches parsed, and compared with every group (2,000 distinct wordings:
    about 2 million comparisons). Now: 2,000 parses, and no comparison between queries sharing no word."""
    parses, comparisons = [], []
    monkeypatch.setattr(kb.gaps, "parse_query", lambda q: parses.append(q) or parse_query(q))
    monkeypatch.setattr(kb.gaps, "_similar", lambda a, b: comparisons.append(1) or False)
    wordings = [f"zq{n}a zq{n}b zq{n}c" for n in range(2000)]
    rows = [SearchRow("2026-11-01", wordings[n % 2000], 0, None, answered=False) for n in range(20_000)]
    gaps = find_gaps(rows)
    assert len(gaps) == 2000 and all(g.count == 10 for g in gaps)
    assert len(parses) == 2000 and len(comparisons) == 0


# --- content printed by the kb command -----------------------------------------------------------------------


def assert_shown_as_text(output: str) -> None:
    assert "\x1b" not in output and "\x9b" not in output and "\x07" not in output
    assert "[/yellow]" in output and "[/etc/hosts]" in output and "[x86]" in output and "red" in output


def test_clean_keeps_text_and_drops_terminal_codes():
    from kb.cli import clean

    assert clean("Ошибка [x86]\tçã 日本\n\x1b[1;31mred\x1b[0m\x1b]8;;http://x\x1b\\link\x1b]8;;\x1b\\\r\x00\x85") == \
        "Ошибка [x86]\tçã 日本\nredlink"


def test_search_prints_titles_and_resolutions_as_text(monkeypatch, tmp_path):
    monkeypatch.setenv("KB_INDEX", str(tmp_path / "index"))
    case = SimpleNamespace(status="resolved", resolution=f"edit {HOSTILE}", resolution_excerpt=None, root_cause=None)
    hit = SimpleNamespace(title=f"Title {HOSTILE}", type="case", id="cases/[x86].md", match="weak", probability=0.2,
                          identifiers=[], score=0.5, similarity=0.3, case=case, heading="Step [/bold]",
                          snippet=f"snippet \x1b[2Jmatched {HOSTILE}", highlights=[(16, 23)])
    monkeypatch.setattr("kb.search.open_searcher", lambda settings: SimpleNamespace(search=lambda *a, **k: [hit]))
    result = CliRunner().invoke(app, ["search", "hosts file"])
    assert result.exit_code == 0, result.output
    assert_shown_as_text(result.output)
    assert "Title [/yellow]" in result.output and "edit [/yellow]" in result.output and "matched" in result.output


def test_index_prints_a_skipped_files_problem_as_text(monkeypatch, tmp_path):
    monkeypatch.setenv("KB_INDEX", str(tmp_path / "index"))
    report = SimpleNamespace(errors=[f"cases/x.md:2: type must be article or case, not {HOSTILE}"], added=[], updated=[],
                             deleted=[], unchanged=3, passages=9, embedded=0, seconds=0.1, build=None, changed=False)
    monkeypatch.setattr("kb.embedding.load_embedder", lambda settings: None)
    monkeypatch.setattr("kb.indexer.build_index", lambda *a, **k: report)
    result = CliRunner().invoke(app, ["index", "--quiet"])
    assert result.exit_code == 0, result.output
    assert_shown_as_text(result.output)
    assert "(skipped)" in result.output


def test_gaps_and_feedback_print_logged_queries_as_text(monkeypatch, tmp_path):
    monkeypatch.setenv("KB_INDEX", str(tmp_path / "index"))
    log = SearchLog(tmp_path / "index" / "searches.sqlite")
    log.record(f"printer {HOSTILE}", 0, None, 3.0, answered=False)
    log.record_feedback(f"vpn {HOSTILE}", "cases/[x86].md", "not-helpful")
    for command in ("gaps", "feedback"):
        result = CliRunner().invoke(app, [command])
        assert result.exit_code == 0, result.output
        assert_shown_as_text(result.output)


def test_an_error_naming_a_file_shows_its_name_as_text(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(app, ["similar", "ticket [/red] [x86]\x1b[2J.txt"])
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert "error: cannot read ticket [/red] [x86].txt: No such file or directory" in result.output
    assert "\x1b" not in result.output
