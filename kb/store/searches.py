"""What engineers searched for, kept to find content gaps: the query, how many results, the best
similarity and the time. Nothing about who searched.

Kept in `<index>/searches.sqlite`, outside the builds, so it survives rebuilds.
"""

from __future__ import annotations

import sqlite3
import threading
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
"""


class SearchLog:
    """Append-only log shared by the server's threads."""

    def __init__(self, path: Path):
        path.parent.mkdir(parents=True, exist_ok=True)
        self.conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("PRAGMA synchronous=NORMAL")
        self.conn.executescript(SCHEMA)
        self.lock = threading.Lock()

    def record(self, query: str, results: int, top_score: float | None, took_ms: float) -> None:
        at = datetime.now(timezone.utc).isoformat(timespec="seconds")
        with self.lock:
            self.conn.execute(
                "INSERT INTO searches(at, query, results, top_score, took_ms) VALUES (?, ?, ?, ?, ?)",
                (at, query, results, top_score, took_ms),
            )

    def rows(self, since: str | None = None) -> list[tuple[str, str, int, float | None]]:
        """(at, query, results, top_score) of every search since an ISO time (all when None)."""
        with self.lock:
            return self.conn.execute(
                "SELECT at, query, results, top_score FROM searches WHERE at >= ? ORDER BY at",
                (since or "",),
            ).fetchall()

    def close(self) -> None:
        self.conn.close()
