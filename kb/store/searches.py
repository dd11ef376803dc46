"""What engineers searched for and what they said of the answers, kept to find content gaps.

A search row: the query, its filters, how many results (with and without the filters), the best
result's similarity and match strength, and the time. A feedback row: a query, the document (and
passage) it is about, and the verdict, "solved" or "not-helpful". Nothing about who searched.

Kept in `<index>/searches.sqlite`, outside the builds, so it survives rebuilds. A log written by an
older version gains the new columns on open; its old rows have no match strength.

The log never stands between an engineer and an answer: a search whose row cannot be written (disk
full, read-only file, locked database) is served all the same; the failure is logged once and kept in
`SearchLog.problem` (for /healthz) until a later write succeeds. Rows older than `keep_days` are
deleted when the log is opened and at most once a day after that, so the log stops growing.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import TypeVar

SCHEMA = """
CREATE TABLE IF NOT EXISTS searches (
    id INTEGER PRIMARY KEY,
    at TEXT NOT NULL,            -- UTC, ISO 8601
    query TEXT NOT NULL,
    results INTEGER NOT NULL,
    top_score REAL,              -- cosine similarity of the best passage; NULL when nothing was found
    took_ms REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS searches_by_time ON searches(at);
CREATE TABLE IF NOT EXISTS feedback (
    id INTEGER PRIMARY KEY,
    at TEXT NOT NULL,
    query TEXT NOT NULL,
    doc_id TEXT NOT NULL,
    heading TEXT,                -- the passage shown when the verdict was given
    line INTEGER,
    verdict TEXT NOT NULL CHECK (verdict IN ('solved', 'not-helpful'))
);
CREATE INDEX IF NOT EXISTS feedback_by_time ON feedback(at);
"""

ADDED_COLUMNS = {  # columns added after the first version, with their types
    "filters": "TEXT",           # JSON object of the filters applied; NULL: none
    "unfiltered": "INTEGER",     # results the query had without its filters
    "best_match": "TEXT",        # match strength of the first result: strong, partial, weak
    "answered": "INTEGER",       # 1 when the first result is strong or contains the query's error codes
}

VERDICTS = ("solved", "not-helpful")
WRITE_ERRORS = (sqlite3.DatabaseError, OSError)
"""What a write may meet outside the program's control: disk full, read-only file or folder, a lock held too long."""
PRUNE_EVERY_S = 24 * 3600

logger = logging.getLogger(__name__)
T = TypeVar("T")


class LogUnwritable(Exception):
    """A row could not be stored; `SearchLog.problem` says why."""


@dataclass(frozen=True)
class Pruned:
    searches: int
    feedback: int


@dataclass(frozen=True)
class SearchRow:
    at: str
    query: str
    results: int
    top_score: float | None
    unfiltered: int | None = None
    best_match: str | None = None
    answered: bool | None = None   # None: logged before match strength existed


@dataclass(frozen=True)
class FeedbackRow:
    at: str
    query: str
    doc_id: str
    heading: str | None
    line: int | None
    verdict: str


class SearchLog:
    """Append-only log shared by the server's threads; writing to it is best effort for searches."""

    def __init__(self, path: Path, keep_days: int = 0):
        """`keep_days`: rows older than this many days are deleted (0: kept forever)."""
        self.path = path
        self.failure: str | None = None
        """Why the last write failed (e.g. "database or disk is full"); None once a write succeeds again."""
        self.keep_days = keep_days
        self._next_prune = 0.0
        self.lock = threading.Lock()
        path.parent.mkdir(parents=True, exist_ok=True)
        self.conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._write(self._prepare)
        self.retain(keep_days)

    def _prepare(self) -> None:
        """WAL, the tables, and the columns an older log lacks (all writes: they may fail like any other)."""
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("PRAGMA synchronous=NORMAL")
        self.conn.executescript(SCHEMA)
        present = {row[1] for row in self.conn.execute("PRAGMA table_info(searches)")}
        for name, kind in ADDED_COLUMNS.items():
            if name not in present:
                try:
                    self.conn.execute(f"ALTER TABLE searches ADD COLUMN {name} {kind}")
                except sqlite3.OperationalError as exc:  # another process added it first
                    if "duplicate column" not in str(exc):
                        raise

    def _write(self, action: Callable[[], T]) -> T | None:
        """Run a write under the lock; on a disk or database failure, note it (one warning until a write
        succeeds again, not one per request) and return None."""
        with self.lock:
            try:
                result = action()
            except WRITE_ERRORS as exc:
                if self.failure is None:
                    logger.warning("search log %s is not writable (%s): searches are served but not logged "
                                   "until a write succeeds again", self.path, exc)
                self.failure = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)  # no path: /healthz shows it
                return None
            if self.failure is not None:
                logger.info("search log %s is writable again", self.path)
                self.failure = None
            return result

    @property
    def problem(self) -> str | None:
        """What /healthz reports while writes fail; None when the last write succeeded."""
        return f"search log not writable ({self.failure}): searches are not being logged" if self.failure else None

    def record(self, query: str, results: int, top_score: float | None, took_ms: float, filters: dict | None = None,
               unfiltered: int | None = None, best_match: str | None = None, answered: bool | None = None) -> bool:
        """Log one search; False when it could not be written (the search itself is unaffected)."""
        if self.keep_days and time.monotonic() >= self._next_prune:
            self.retain(self.keep_days)
        row = (_now(), query, results, top_score, took_ms, json.dumps(filters, ensure_ascii=False) if filters else None,
               unfiltered, best_match, None if answered is None else int(answered))
        return self._write(lambda: self.conn.execute(
            "INSERT INTO searches(at, query, results, top_score, took_ms, filters, unfiltered, best_match, answered)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", row)) is not None

    def retain(self, days: int) -> Pruned | None:
        """Keep `days` days of rows from now on, pruning now (0: keep everything); None if pruning failed."""
        self.keep_days = days
        self._next_prune = time.monotonic() + PRUNE_EVERY_S
        return self.prune(days) if days else Pruned(0, 0)

    def prune(self, days: int) -> Pruned | None:
        """Delete searches and verdicts older than `days` days (by the index on `at`); None if it failed."""
        cutoff = window_start(days)

        def delete() -> Pruned:
            searches = self.conn.execute("DELETE FROM searches WHERE at < ?", (cutoff,)).rowcount
            return Pruned(searches, self.conn.execute("DELETE FROM feedback WHERE at < ?", (cutoff,)).rowcount)
        return self._write(delete)

    def rows(self, since: str | None = None, answered: bool = True) -> list[SearchRow]:
        """Every search since an ISO time (all when None), oldest first; `answered=False` leaves out those
        whose first result answered them (never gaps: usually most of the log, not worth reading for the gap report)."""
        with self.lock:
            rows = self.conn.execute(
                "SELECT at, query, results, top_score, unfiltered, best_match, answered FROM searches"
                " WHERE at >= ?" + ("" if answered else " AND answered IS NOT 1") + " ORDER BY at", (since or "",),
            ).fetchall()
        return [SearchRow(*row[:6], None if row[6] is None else bool(row[6])) for row in rows]

    def record_feedback(self, query: str, doc_id: str, verdict: str, heading: str | None = None, line: int | None = None) -> None:
        """Store a verdict; raises `LogUnwritable` when it could not be (unlike a search, the caller must know)."""
        if verdict not in VERDICTS:
            raise ValueError(f"verdict must be one of {VERDICTS}, not {verdict!r}")
        row = (_now(), query, doc_id, heading, line, verdict)
        if self._write(lambda: self.conn.execute(
                "INSERT INTO feedback(at, query, doc_id, heading, line, verdict) VALUES (?, ?, ?, ?, ?, ?)", row)) is None:
            raise LogUnwritable(self.failure)

    def feedback(self, since: str | None = None) -> list[FeedbackRow]:
        """Every verdict since an ISO time (all when None), oldest first."""
        with self.lock:
            rows = self.conn.execute("SELECT at, query, doc_id, heading, line, verdict FROM feedback WHERE at >= ? ORDER BY at, id",
                                     (since or "",)).fetchall()
        return [FeedbackRow(*row) for row in rows]

    def close(self) -> None:
        self.conn.close()


def window_start(days: int) -> str | None:
    """The oldest time a log kept for `days` days holds, as rows store it; None when `days` is 0 (all)."""
    return (datetime.now(timezone.utc) - timedelta(days=days)).isoformat(timespec="seconds") if days else None


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")
