"""`kb check`: every problem in articles/ as one `path:line: severity: message` line.

Errors make a file unfit to index (the indexer skips it and keeps any earlier version); warnings
point at something an editor should fix but that does not hide the knowledge (a resolved case
without a Resolution section, say). Broken links are errors for `kb check` but do not stop the
document from being indexed: its text is still useful.
"""

from __future__ import annotations

import datetime as dt
import posixpath
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

from kb.documents import CASE_STATUSES, Document, DocumentError, discover, id_key, load_document

CASE_SECTIONS = ("Symptoms", "Environment", "What was tried", "Root cause", "Resolution", "References")
TEXT_FIELDS = ("title", "product", "environment", "root_cause", "resolution", "language", "description")
LIST_FIELDS = ("tags", "symptoms", "error_codes")
DATE_FIELDS = ("opened", "resolved")


@dataclass(frozen=True, order=True)
class Problem:
    path: str
    line: int
    severity: str  # "error" or "warning"
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.severity}: {self.message}"


def check_document(doc: Document) -> list[Problem]:
    """Field types, allowed values, dates and expected sections of one parsed document."""
    problems: list[Problem] = []

    def add(field: str | None, severity: str, message: str, line: int | None = None) -> None:
        problems.append(Problem(doc.id, line or doc.field_lines.get(field or "", 1), severity, message))

    meta = doc.meta
    if doc.title_source == "file name":
        add(None, "error", "missing title: add `title:` to the front matter or a `# Title` line")
    for key in TEXT_FIELDS:
        if key in meta and meta[key] is not None and not isinstance(meta[key], str):
            add(key, "error", f"{key} must be text, not {_kind(meta[key])}")
    if "version" in meta and not isinstance(meta["version"], (str, int, float)):
        add("version", "error", f"version must be text or a number, not {_kind(meta['version'])}")
    for key in LIST_FIELDS:
        value = meta.get(key)
        if key == "tags" and isinstance(value, str):
            continue  # "a, b, c" is read as a list, as many Markdown tools write it
        if value is not None and not (isinstance(value, list) and all(isinstance(v, (str, int, float)) for v in value)):
            add(key, "error", f"{key} must be a list of text values, e.g. {key}: [a, b]")
    codes = meta.get("error_codes")
    for code in codes if isinstance(codes, list) else []:
        if isinstance(code, int) and not isinstance(code, bool):  # YAML read 0x80070005 unquoted as 2147942405
            written = f"0x{code:08X}" if 0 <= code < 2**32 else str(code)
            add("error_codes", "warning", f"error code {code} was read as a number and is indexed as {code}; "
                f"quote codes, e.g. error_codes: [\"{written}\"]")
    dates = {key: _date(meta.get(key)) for key in DATE_FIELDS if meta.get(key) not in (None, "")}
    for key, value in dates.items():
        if value is None:
            add(key, "error", f"{key} is not a date: {meta[key]!r}; use YYYY-MM-DD")
    if dates.get("opened") and dates.get("resolved") and dates["resolved"] < dates["opened"]:
        add("resolved", "warning", "resolved is earlier than opened")
    if doc.is_case:
        _check_case(doc, add)
    elif "status" in meta:
        add("status", "warning", "status is only used for cases (type: case)")
    if "language" not in meta:
        add(None, "warning", "no language field; add e.g. `language: en`")
    return problems


def _check_case(doc: Document, add) -> None:
    status = doc.meta.get("status")
    if status is None:
        add(None, "error", f"a case needs a status: one of {', '.join(CASE_STATUSES)}")
    elif status not in CASE_STATUSES:
        add("status", "error", f"unknown status {status!r}; use one of {', '.join(CASE_STATUSES)}")
    headings = {s.headings[0].casefold() for s in doc.sections if s.headings}
    if status == "resolved" and "resolution" not in headings:
        add("status", "warning", "resolved case without a `## Resolution` section")
    if "symptoms" not in headings and not doc.meta.get("symptoms"):
        add(None, "warning", "case without symptoms: add `symptoms:` or a `## Symptoms` section")


def check_links(doc: Document, known: set[str]) -> Iterable[Problem]:
    """Relative links to `.md` files that are not in the knowledge base."""
    for href, line in doc.links:
        parts = urlsplit(href)
        if parts.scheme or parts.netloc or not parts.path.endswith(".md"):
            continue
        target = posixpath.normpath(posixpath.join(posixpath.dirname(doc.id), unquote(parts.path)))
        if target not in known:
            yield Problem(doc.id, line, "error", f"link to missing document {href!r} (resolves to {target})")


def check_tree(root: Path, max_bytes: int) -> list[Problem]:
    """Every problem in the knowledge base: parse errors, field errors, duplicates, broken links."""
    files, errors = discover(root)
    problems = [_as_problem(e) for e in errors]
    problems.extend(_as_problem(e) for e in colliding_ids(files).values())
    docs: list[Document] = []
    for doc_id, path in files.items():
        try:
            docs.append(load_document(path, doc_id, max_bytes))
        except DocumentError as exc:
            problems.append(_as_problem(exc))
    problems.extend(_same_titles(docs))
    for doc in docs:
        problems.extend(check_document(doc))
        problems.extend(check_links(doc, set(files)))
    return sorted(problems)


def colliding_ids(files: Iterable[str]) -> dict[str, DocumentError]:
    """Ids that collide on a case-insensitive or Unicode-normalising file system (`id_key`), each with
    its error: every one of them is refused, since which file a reader gets would be chance. `kb check`
    reports these and `kb index` skips them, with the same lines."""
    groups: dict[str, list[str]] = {}
    for doc_id in files:
        groups.setdefault(id_key(doc_id), []).append(doc_id)
    return {doc_id: DocumentError(doc_id, 1, f"duplicate id: differs from {', '.join(o for o in group if o != doc_id)} "
                                             "only by case or accents; rename one")
            for group in groups.values() if len(group) > 1 for doc_id in group}


def _same_titles(docs: list[Document]) -> Iterable[Problem]:
    """Repeated titles: two results a reader cannot tell apart."""
    titles: dict[str, str] = {}
    for doc in docs:
        key = doc.title.casefold()
        if key in titles:
            yield Problem(doc.id, doc.field_lines.get("title", 1), "warning", f"same title as {titles[key]}")
        titles.setdefault(key, doc.id)


def _as_problem(exc: DocumentError) -> Problem:
    return Problem(exc.path, exc.line, "error", exc.message)


def _date(value) -> dt.date | None:
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError:
        return None


def _kind(value) -> str:
    return {dict: "a mapping", list: "a list", bool: "true/false", int: "a number", float: "a number"}.get(type(value), type(value).__name__)
