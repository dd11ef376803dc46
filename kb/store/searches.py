"""What engineers searched for and what they said of the answers, kept to find content gaps.

A search row: the query, its filters, how many results (with and without the filters), the best
result's similarity and match strength, and the time. A feedback row: a query, the document (and
passage) it is about, and the verdict, "solved" or "not-helpful". Nothing about who searched.

Kept in `<index>/searches.sqlite`, outside the builds, so it survives rebuilds. A log written by an
older version gains the new columns on open; its old rows have no match strength.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

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
    """Append-only log shared by the server's threads."""

    def __init__(self, path: Path):
        path.parent.mkdir(parents=True, exist_ok=True)
        self.conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
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
        self.lock = threading.Lock()

    def record(self, query: str, results: int, top_score: float | None, took_ms: float, filters: dict | None = None,
               unfiltered: int | None = None, best_match: str | None = None, answered: bool | None = None) -> None:
        with self.lock:
            self.conn.execute(
                "INSERT INTO searches(at, query, results, top_score, took_ms, filters, unfiltered, best_match, answered)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (_now(), query, results, top_score, took_ms, json.dumps(filters, ensure_ascii=False) if filters else None,
                 unfiltered, best_match, None if answered is None else int(answered)),
            )

    def rows(self, since: str | None = None) -> list[SearchRow]:
        """Every search since an ISO time (all when None), oldest first."""
        with self.lock:
            rows = self.conn.execute(
                "SELECT at, query, results, top_score, unfiltered, best_match, answered FROM searches"
                " WHERE at >= ? ORDER BY at", (since or "",),
            ).fetchall()
        return [SearchRow(*row[:6], None if row[6] is None else bool(row[6])) for row in rows]

    def record_feedback(self, query: str, doc_id: str, verdict: str, heading: str | None = None, line: int | None = None) -> None:
        if verdict not in VERDICTS:
            raise ValueError(f"verdict must be one of {VERDICTS}, not {verdict!r}")
        with self.lock:
            self.conn.execute("INSERT INTO feedback(at, query, doc_id, heading, line, verdict) VALUES (?, ?, ?, ?, ?, ?)",
                              (_now(), query, doc_id, heading, line, verdict))

    def feedback(self, since: str | None = None) -> list[FeedbackRow]:
        """Every verdict since an ISO time (all when None), oldest first."""
        with self.lock:
            rows = self.conn.execute("SELECT at, query, doc_id, heading, line, verdict FROM feedback WHERE at >= ? ORDER BY at, id",
                                     (since or "",)).fetchall()
        return [FeedbackRow(*row) for row in rows]

    def close(self) -> None:
        self.conn.close()


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")
