"""Passages -> rows: the SQLite database of one build: documents, passages, their FTS5 tables, manifest.

Passage ids are the FAISS ids, so a vector hit is one primary-key lookup away from its text.
The full-text tables (FTS5, unicode61 with diacritics folded; `kb.text.tokens` mirrors it) give the
lexical half of hybrid search and keep error codes such as 0x80070005 as single tokens.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import threading
from concurrent.futures import ThreadPoolExecutor
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from kb import languages
from kb.chunking import Passage
from kb.documents import Document
from kb.store.fts_tokenizer import FTS_TOKENIZER

SCHEMA_VERSION = 7
FTS_TABLES = ("documents_fts", "passages_fts")

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
    section TEXT NOT NULL,       -- the top heading ('Resolution'), '' before the first heading
    heading TEXT NOT NULL,       -- the heading path as shown ('Resolution > Step 2')
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
-- one row per document (rowid = documents.rowid): BM25 over whole documents ranks them for lexical search;
-- `stems` holds title, keywords and body again as Snowball stems in the document's language (kb.languages)
CREATE VIRTUAL TABLE IF NOT EXISTS documents_fts USING fts5(
    title, keywords, body, stems, tokenize = '{FTS_TOKENIZER}'
);
"""


@dataclass(frozen=True)
class DocumentRow:
    """What search keeps in memory of every document."""

    rowid: int
    id: str
    title: str
    type: str
    language: str
    tags: tuple[str, ...]
    meta: dict


@dataclass(frozen=True)
class StoredDocument:
    """A whole indexed document, as the document page shows it."""

    id: str
    title: str
    type: str
    language: str
    tags: list[str]
    meta: dict
    body: str
    body_line: int = 1  # file line where the body starts (after the front matter): passage lines are file lines


@dataclass(frozen=True)
class PassageRow:
    id: int
    doc_id: str
    heading: str
    text: str
    line: int


def connect(path: Path, readonly: bool = False) -> sqlite3.Connection:
    """Open the database; read-only connections never write, not even a journal."""
    if readonly:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=False)
    else:
        conn = sqlite3.connect(path)
        conn.execute("PRAGMA journal_mode=DELETE")
        conn.execute("PRAGMA foreign_keys=ON")
    conn.row_factory = sqlite3.Row
    return conn


def integrity_problems(conn: sqlite3.Connection, fts: bool = True) -> list[str]:
    """What is wrong with a build's database, empty when nothing: SQLite's page and b-tree check, then
    (`fts`) FTS5's check of each full-text index against its rows. A corrupt FTS index opens and loads
    like a sound one and fails only in MATCH queries, so a build must be checked before it is published
    or served. The FTS5 check is an INSERT: `conn` must be writable (it writes nothing). Measured on a
    144 MB database (3,524 msdocs articles): quick_check 0.1 s, FTS5 checks 0.8 s."""
    # also after a failed quick_check: the FTS5 checks tell which table is damaged
    return page_problems(conn) + (full_text_problems(conn) if fts else [])


def page_problems(conn: sqlite3.Connection) -> list[str]:
    """SQLite's quick_check of the pages and b-trees (`integrity_problems`)."""
    try:
        rows = [r[0] for r in conn.execute("PRAGMA quick_check")]
    except sqlite3.DatabaseError as exc:
        return [f"quick_check: {exc}"]
    return [] if rows == ["ok"] else [f"quick_check: {'; '.join(map(str, rows[:3]))}"]


def full_text_problems(conn: sqlite3.Connection, tables: Sequence[str] = FTS_TABLES) -> list[str]:
    """FTS5's check of each full-text index against its rows (`integrity_problems`)."""
    problems = []
    for table in tables:
        try:
            conn.execute(f"INSERT INTO {table}({table}) VALUES('integrity-check')")
        except sqlite3.OperationalError as exc:
            if exc.sqlite_errorcode & 0xFF in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
                raise  # another connection's lock: not damage
            problems.append(f"{table}: {exc}")
        except sqlite3.DatabaseError as exc:
            problems.append(f"{table}: {exc}")
    return problems


def integrity_problems_of(path: Path) -> list[str]:
    """`integrity_problems` of a database file, its checks run at once, while the caller goes on
    (SQLite frees the GIL while it checks; the checks write nothing, so a builder's connection may still
    read). FTS5's check is an INSERT, which one connection at a time may run on a file, so each
    full-text index but the last is checked in a copy of the file (0.04 s for 135 MB). At 5,000
    articles the checks took 0.08 s, 0.26 s and 0.42 s, one after the other."""
    copies = [path.with_name(f"{path.name}.check{n}") for n in range(1, len(FTS_TABLES))]
    try:
        for copy in copies:
            shutil.copyfile(path, copy)
        with ThreadPoolExecutor(max_workers=len(FTS_TABLES) + 1, thread_name_prefix="kb-check") as checks:
            found = [checks.submit(_checked, path, page_problems)]
            found += [checks.submit(_checked, file, full_text_problems, (table,)) for file, table in zip([*copies, path], FTS_TABLES)]
            return [problem for check in found for problem in check.result()]
    finally:
        for copy in copies:
            copy.unlink(missing_ok=True)


def _checked(path: Path, check, *args) -> list[str]:
    """`check(connection, *args)` on a writable connection of its own to `path`."""
    conn = sqlite3.connect(f"file:{path}?mode=rw", uri=True, isolation_level=None)
    try:
        return check(conn, *args)
    finally:
        conn.close()


def check_database(path: Path) -> list[str]:
    """`integrity_problems` of a database file without changing it. One this process may not write is
    checked in a copy in memory."""
    if os.access(path, os.W_OK):
        return _checked(path, integrity_problems)
    conn = sqlite3.connect(":memory:", isolation_level=None)
    try:
        source = connect(path, readonly=True)
        try:
            source.backup(conn)
        finally:
            source.close()
        return integrity_problems(conn)
    finally:
        conn.close()


def document_token(rowid: int) -> str:
    """The word that stands for a document in `passages_fts.document` (unicode61 keeps it whole)."""
    return f"doc{rowid}"


def fts_string(text: str) -> str:
    """An FTS5 string: the tokenizer splits it and FTS5 matches the tokens as a phrase, so user input
    is always data, never FTS5 syntax. FTS5 reads a NUL as the end of the expression ("unterminated
    string"), so NULs become spaces."""
    return '"' + text.replace('"', '""').replace("\x00", " ") + '"'


def fts_any(words: Sequence[str]) -> str:
    """MATCH expression for any of the words (each matched as the phrase of its tokens)."""
    return " OR ".join(fts_string(w) for w in words)


def words_or_stems(words: Sequence[str], stems: Sequence[str]) -> str:
    """MATCH expression: any of `words` in the exact columns, or any of `stems` in the stem column."""
    parts = ([f"{{title keywords body}} : ({fts_any(words)})"] if words else []) + ([f"stems : ({fts_any(stems)})"] if stems else [])
    return " OR ".join(parts)


class Store:
    """Write side of one build's database, used by the indexer inside one transaction per build."""

    def __init__(self, path: Path):
        self.path = path
        self.conn = connect(path)
        self.conn.executescript(SCHEMA)

    def close(self) -> None:
        self.conn.close()

    def commit(self) -> None:
        self.conn.commit()

    def problems(self, fts: bool = True) -> list[str]:
        """`integrity_problems` of this database, as committed so far."""
        self.conn.commit()
        try:
            return integrity_problems(self.conn, fts)
        finally:
            self.conn.rollback()  # the FTS5 check is a statement that writes nothing: end its transaction

    def compact(self, merge: bool = False, max_free: float = 0.1) -> None:
        """Rewrite the file without free pages when they are over `max_free` of it; `merge` first merges
        each full-text index into one segment (a full build: faster queries) and always rewrites. Builds
        start from a copy of the previous build's file: without this every deleted row and merged FTS
        segment stayed as free space in every later build. VACUUM takes about 1 s per 150 MB."""
        self.conn.commit()
        if merge:
            for table in FTS_TABLES:
                self.conn.execute(f"INSERT INTO {table}({table}) VALUES('optimize')")
            self.conn.commit()
        free, pages = (self.conn.execute(f"PRAGMA {name}").fetchone()[0] for name in ("freelist_count", "page_count"))
        if merge or free > max_free * pages:
            self.conn.execute("VACUUM")

    def manifest(self) -> dict:
        return {r["key"]: json.loads(r["value"]) for r in self.conn.execute("SELECT key, value FROM manifest")}

    def set_manifest(self, values: dict) -> None:
        self.conn.executemany(
            "INSERT OR REPLACE INTO manifest(key, value) VALUES (?, ?)",
            [(k, json.dumps(v, ensure_ascii=False)) for k, v in values.items()],
        )

    def document_hashes(self) -> dict[str, str]:
        return dict(self.conn.execute("SELECT id, content_hash FROM documents").fetchall())

    def count_documents(self) -> int:
        return self.conn.execute("SELECT count(*) FROM documents").fetchone()[0]

    def count_passages(self) -> int:
        return self.conn.execute("SELECT count(*) FROM passages").fetchone()[0]

    def passages_per_language(self) -> dict[str, int]:
        """How many passages the documents of each `language` value have."""
        return dict(self.conn.execute(
            "SELECT d.language, count(*) FROM passages p JOIN documents d ON d.id = p.doc_id GROUP BY d.language").fetchall())

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
            "INSERT INTO passages(id, doc_id, ordinal, section, heading, text, line) VALUES (?, ?, ?, ?, ?, ?, ?)",
            [(i, p.doc_id, p.ordinal, p.section, p.heading, p.text, p.line) for i, p in zip(ids, passages)],
        )
        keywords = " ".join(_keywords(doc))
        body = "\n".join(p.text for p in passages)
        self.conn.execute(
            "INSERT INTO documents_fts(rowid, title, keywords, body, stems) VALUES (?, ?, ?, ?, ?)",
            (cursor.lastrowid, doc.title, keywords, body, languages.stems(f"{doc.title}\n{keywords}\n{body}", doc.language)),
        )
        self.conn.executemany(
            "INSERT INTO passages_fts(rowid, heading, text, document) VALUES (?, ?, ?, ?)",
            [(i, p.heading, p.text, document_token(cursor.lastrowid)) for i, p in zip(ids, passages)],
        )


class IndexReader:
    """Read side of one build's database; safe to share between threads (a connection per thread)."""

    def __init__(self, path: Path, check: bool = True):
        """`check`: refuse a database that fails `check_database` (sqlite3.DatabaseError), so a corrupt
        build is never served (a fallback is loaded instead) rather than failing every search."""
        self.path = path
        self._local = threading.local()
        self.conn.execute("SELECT 1 FROM documents LIMIT 1")  # fail now, not on the first query
        problems = check_database(path) if check else []
        if problems:
            raise sqlite3.DatabaseError(f"{path} is corrupt: {'; '.join(problems)}")

    @property
    def conn(self) -> sqlite3.Connection:
        """sqlite3 connections are not shared across threads: one read-only connection per thread."""
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = connect(self.path, readonly=True)
        return conn

    def _tuples(self) -> sqlite3.Cursor:
        """A cursor of plain tuples for the many rows of a full-text match: the 2,918 documents containing
        "windows" at 5,000 articles, with their BM25, took 8.3 ms this way and 10.8-12.5 ms as sqlite3.Row."""
        cursor = self.conn.cursor()
        cursor.row_factory = None
        return cursor

    def documents(self) -> list[DocumentRow]:
        rows = self.conn.execute("SELECT rowid, id, title, type, language, tags, meta FROM documents")
        return [DocumentRow(r["rowid"], r["id"], r["title"], r["type"], r["language"], tuple(json.loads(r["tags"])),
                            json.loads(r["meta"])) for r in rows]

    def passage_documents(self) -> list[tuple[int, str]]:
        """(passage id, document id) of every passage."""
        return self.conn.execute("SELECT id, doc_id FROM passages ORDER BY id").fetchall()

    def passage(self, passage_id: int) -> PassageRow | None:
        row = self.conn.execute("SELECT id, doc_id, heading, text, line FROM passages WHERE id = ?", (passage_id,)).fetchone()
        return PassageRow(*row) if row else None

    def first_passage_in_section(self, doc_id: str, section: str) -> PassageRow | None:
        """The first passage under a top-level heading (any letter case), e.g. a case's 'Resolution'."""
        row = self.conn.execute("SELECT id, doc_id, heading, text, line FROM passages WHERE doc_id = ?"
                                " AND section = ? COLLATE NOCASE ORDER BY ordinal LIMIT 1", (doc_id, section)).fetchone()
        return PassageRow(*row) if row else None

    def document(self, doc_id: str) -> StoredDocument | None:
        row = self.conn.execute("SELECT id, title, type, language, tags, meta, body, body_line FROM documents WHERE id = ?",
                                (doc_id,)).fetchone()
        if row is None:
            return None
        return StoredDocument(row["id"], row["title"], row["type"], row["language"], json.loads(row["tags"]),
                              json.loads(row["meta"]), row["body"], row["body_line"])

    def phrase_shares(self, phrase: str, weights: Sequence[float], stems: bool = False) -> list[tuple[int, float]]:
        """(document rowid, the phrase's share of its BM25) of every document containing `phrase` in its
        exact columns (title, keywords, body), or with `stems` in its stem column; weights per column
        (title, keywords, body, stems). FTS5's bm25() of a row is a sum over the query's phrases, each
        term depending only on the phrase, the row and the table, so a ranking can add these up
        (`kb.bm25`) and get what bm25() of their OR gives."""
        title, keywords, body, stem = weights
        match = words_or_stems([], [phrase]) if stems else words_or_stems([phrase], [])
        return self._shares("documents_fts", (title, keywords, body, stem), match)

    def passage_phrase_shares(self, phrase: str, weights: Sequence[float]) -> list[tuple[int, float]]:
        """(passage id, the phrase's share of its BM25) of every passage containing `phrase` in its
        heading or text, by passage id; weights per column (heading, text). As `phrase_shares`, for passages."""
        heading, text = weights
        return self._shares("passages_fts", (heading, text, 0), f"{{heading text}} : ({fts_string(phrase)})")

    def _shares(self, table: str, weights: Sequence[float], match: str) -> list[tuple[int, float]]:
        """(rowid, BM25 with `weights` per column) of every row of the full-text `table` that `match`
        matches, by rowid: with one phrase in `match`, that phrase's share of each row's BM25."""
        columns = ", ".join(str(float(w)) for w in weights)
        return self._tuples().execute(
            f"SELECT rowid, -bm25({table}, {columns}) FROM {table} WHERE {table} MATCH ? ORDER BY rowid", (match,)).fetchall()

    def rank_passages(self, words: Sequence[str], doc_rowids: Sequence[int], weights: Sequence[float]) -> dict[int, float]:
        """BM25 of the passages of the given documents that contain any of `words`; weights per column
        (heading, text). The `document` column limits the match to those documents' passages, which
        costs a small fraction of ranking every passage in the table."""
        if not words or not doc_rowids:
            return {}
        heading, text = weights
        documents = " OR ".join(document_token(r) for r in doc_rowids)
        expression = f"{{heading text}} : ({fts_any(words)}) AND document : ({documents})"
        rows = self._tuples().execute(f"SELECT rowid, -bm25(passages_fts, {float(heading)}, {float(text)}, 0) FROM passages_fts "
                                      "WHERE passages_fts MATCH ?", (expression,))
        return dict(rows.fetchall())

    def code_terms(self) -> list[str]:
        """Every hex code (0x...) and KB number in the documents' full-text vocabulary, folded."""
        conn = connect(self.path, readonly=True)  # a private connection: the temp table stays out of the shared ones
        try:
            conn.execute("CREATE VIRTUAL TABLE temp.documents_vocab USING fts5vocab(main, 'documents_fts', 'row')")
            # one query per pattern: fts5vocab narrows `term GLOB` to a range, and under OR it used only
            # the first pattern's range (SQLite 3.40), silently dropping the KB numbers
            return [row[0] for pattern in ("0x[0-9a-f][0-9a-f][0-9a-f][0-9a-f]*", "kb[0-9][0-9][0-9][0-9][0-9][0-9]*")
                    for row in conn.execute("SELECT term FROM temp.documents_vocab WHERE term GLOB ?", (pattern,))]
        finally:
            conn.close()

    def documents_with_phrase(self, phrase: str, stems: Sequence[str] = ()) -> set[int]:
        """Rowids of the documents containing `phrase` (its tokens, consecutive), or any of `stems` in their stem column."""
        rows = self._tuples().execute("SELECT rowid FROM documents_fts WHERE documents_fts MATCH ?", (words_or_stems([phrase], stems),))
        return {r for (r,) in rows.fetchall()}


def _keywords(doc: Document) -> Iterable[str]:
    """Fields that name what a document is about, weighted above body text in lexical search."""
    yield from doc.tags
    for key in ("error_codes", "symptoms", "product", "version"):
        value = doc.meta.get(key)
        if isinstance(value, list):
            yield from (str(v) for v in value)
        elif value:
            yield str(value)
