"""Passages -> rows: the SQLite database of documents, passages, their full-text index and the manifest.

Passage ids are the FAISS ids, so a vector hit is one primary-key lookup away from its text.
The full-text table (FTS5, unicode61 with diacritics folded) gives the lexical half of hybrid search
and keeps error codes such as 0x80070005 as single tokens.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Sequence
from pathlib import Path

from kb.chunking import Passage
from kb.documents import Document

SCHEMA_VERSION = 4
FTS_TOKENIZER = "unicode61 remove_diacritics 2"

SCHEMA = f"""
CREATE TABLE IF NOT EXISTS manifest (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS documents (
    id TEXT PRIMARY KEY,
    title TEXT NOT NULL,
    type TEXT NOT NULL,
    language TEXT NOT NULL,
    tags TEXT NOT NULL,          -- JSON list
    meta TEXT NOT NULL,          -- JSON object: all front matter
    body TEXT NOT NULL,          -- Markdown source without front matter
    body_line INTEGER NOT NULL,
    content_hash TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS passages (
    id INTEGER PRIMARY KEY,      -- = FAISS id
    doc_id TEXT NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
    ordinal INTEGER NOT NULL,
    heading TEXT NOT NULL,
    text TEXT NOT NULL,
    line INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS passages_by_doc ON passages(doc_id, ordinal);
-- per passage (rowid = passages.id): which passage of a shown document matches the query words.
-- `document` holds one token per document (see document_token) so a query can be limited to the
-- passages of a few documents: FTS5 skips along that short posting list instead of scoring the table.
CREATE VIRTUAL TABLE IF NOT EXISTS passages_fts USING fts5(
    heading, text, document, tokenize = '{FTS_TOKENIZER}'
);
-- one row per document (rowid = documents.rowid): BM25 over whole documents ranks them for lexical search
CREATE VIRTUAL TABLE IF NOT EXISTS documents_fts USING fts5(
    title, keywords, body, tokenize = '{FTS_TOKENIZER}'
);
"""


def connect(path: Path, readonly: bool = False) -> sqlite3.Connection:
    """Open the database; read-only connections may be shared by the server's worker threads."""
    if readonly:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=False)
    else:
        conn = sqlite3.connect(path)
        conn.execute("PRAGMA journal_mode=DELETE")
        conn.execute("PRAGMA foreign_keys=ON")
    conn.row_factory = sqlite3.Row
    return conn


class Store:
    """Write side of the database, used by the indexer inside one transaction per build."""

    def __init__(self, path: Path):
        self.path = path
        self.conn = connect(path)
        self.conn.executescript(SCHEMA)

    def close(self) -> None:
        self.conn.close()

    def commit(self) -> None:
        self.conn.commit()

    def manifest(self) -> dict:
        return {r["key"]: json.loads(r["value"]) for r in self.conn.execute("SELECT key, value FROM manifest")}

    def set_manifest(self, values: dict) -> None:
        self.conn.executemany(
            "INSERT OR REPLACE INTO manifest(key, value) VALUES (?, ?)",
            [(k, json.dumps(v, ensure_ascii=False)) for k, v in values.items()],
        )

    def document_hashes(self) -> dict[str, str]:
        return dict(self.conn.execute("SELECT id, content_hash FROM documents").fetchall())

    def next_passage_id(self) -> int:
        return (self.conn.execute("SELECT max(id) FROM passages").fetchone()[0] or 0) + 1

    def delete_document(self, doc_id: str) -> list[int]:
        """Remove a document and its passages; return the removed passage ids (to drop their vectors)."""
        ids = [r[0] for r in self.conn.execute("SELECT id FROM passages WHERE doc_id = ?", (doc_id,))]
        self.conn.executemany("DELETE FROM passages_fts WHERE rowid = ?", [(i,) for i in ids])
        self.conn.execute("DELETE FROM documents_fts WHERE rowid = (SELECT rowid FROM documents WHERE id = ?)", (doc_id,))
        self.conn.execute("DELETE FROM passages WHERE doc_id = ?", (doc_id,))
        self.conn.execute("DELETE FROM documents WHERE id = ?", (doc_id,))
        return ids

    def add_document(self, doc: Document, passages: Sequence[Passage], ids: Sequence[int]) -> None:
        """Insert a document and its passages under the given ids."""
        cursor = self.conn.execute(
            "INSERT INTO documents(id, title, type, language, tags, meta, body, body_line, content_hash)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (doc.id, doc.title, doc.type, doc.language, json.dumps(doc.tags, ensure_ascii=False),
             json.dumps(doc.meta, ensure_ascii=False, default=str), doc.body, doc.body_line, doc.content_hash),
        )
        self.conn.executemany(
            "INSERT INTO passages(id, doc_id, ordinal, heading, text, line) VALUES (?, ?, ?, ?, ?, ?)",
            [(i, p.doc_id, p.ordinal, p.heading, p.text, p.line) for i, p in zip(ids, passages)],
        )
        keywords = " ".join(_keywords(doc))
        self.conn.execute(
            "INSERT INTO documents_fts(rowid, title, keywords, body) VALUES (?, ?, ?, ?)",
            (cursor.lastrowid, doc.title, keywords, "\n".join(p.text for p in passages)),
        )
        self.conn.executemany(
            "INSERT INTO passages_fts(rowid, heading, text, document) VALUES (?, ?, ?, ?)",
            [(i, p.heading, p.text, document_token(cursor.lastrowid)) for i, p in zip(ids, passages)],
        )


def document_token(rowid: int) -> str:
    """The word that stands for a document in `passages_fts.document` (unicode61 keeps it whole)."""
    return f"doc{rowid}"


def _keywords(doc: Document) -> Iterable[str]:
    """Fields that name what a document is about, weighted above body text in lexical search."""
    yield from doc.tags
    for key in ("error_codes", "symptoms", "product", "version"):
        value = doc.meta.get(key)
        if isinstance(value, list):
            yield from (str(v) for v in value)
        elif value:
            yield str(value)
