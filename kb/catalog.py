"""Rows -> what search keeps in memory: every document's fields and which passages belong to which
document, and the filters that select documents by those fields."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property

from kb import text
from kb.documents import CASE_STATUSES, id_key
from kb.store.index_db import DocumentRow, IndexReader

FACET_FIELDS = ("type", "language", "tags", "product", "status")


@dataclass(frozen=True)
class DocInfo(DocumentRow):
    """A document's fields that search filters, counts and shows."""

    @property
    def product(self) -> str:
        return str(self.meta.get("product") or "")

    @property
    def status(self) -> str:
        return str(self.meta.get("status") or "")

    def facet_values(self, name: str) -> tuple[str, ...]:
        return self._facet_values[name]

    @cached_property
    def _facet_values(self) -> dict[str, tuple[str, ...]]:
        """Each facet's values, found once (a search counts its 100 candidates' at every page)."""
        return {name: tuple(v for v in (self.tags if name == "tags" else (getattr(self, name) or "",)) if v)
                for name in FACET_FIELDS}


@dataclass(frozen=True)
class Filters:
    """Restrict results to documents with these properties (None / empty = any). Tags are all required;
    languages are any of (an engineer reads several: `("pt", "en")` keeps documents in either)."""

    type: str | None = None
    tags: tuple[str, ...] = ()
    language: tuple[str, ...] = ()
    product: str | None = None
    status: str | None = None

    def __post_init__(self):
        """A single code (the old form, `language="pt"`) is one language, never matched by substring;
        a list becomes a tuple so filters stay hashable and equal to the same filters."""
        codes = (self.language,) if isinstance(self.language, str) else tuple(self.language or ())
        object.__setattr__(self, "language", tuple(c for c in codes if c))

    def accepts(self, doc: DocInfo, skip: str | None = None) -> bool:
        """Whether `doc` passes every filter except the `skip` field (used for facet counts)."""
        return all(
            name == skip or ok
            for name, ok in (
                ("type", self.type is None or doc.type == self.type),
                ("tags", all(t in doc.tags for t in self.tags)),
                ("language", not self.language or doc.language in self.language),
                ("product", self.product is None or text.fold(doc.product) == text.fold(self.product)),
                ("status", self.status is None or doc.status == self.status),
            )
        )

    @property
    def empty(self) -> bool:
        return self == Filters()


class Catalog:
    """Documents by id, by rowid and by `id_key`, and the passages of each document, loaded once per build."""

    def __init__(self, documents: Iterable[DocumentRow], passages: Iterable[tuple[int, str]], codes: Iterable[str] = ()):
        self.docs: dict[str, DocInfo] = {}
        self.rowid_doc: dict[int, str] = {}
        for row in documents:
            self.docs[row.id] = DocInfo(**vars(row))
            self.rowid_doc[row.rowid] = row.id
        self.doc_rowid = {doc: rowid for rowid, doc in self.rowid_doc.items()}
        self.max_rowid = max(self.rowid_doc, default=0)
        self.passage_doc: dict[int, str] = dict(passages)
        self.doc_passages: dict[str, list[int]] = {}
        for pid, doc in self.passage_doc.items():
            self.doc_passages.setdefault(doc, []).append(pid)
        self._by_key: dict[str, list[str]] = {}
        for doc in self.docs:
            self._by_key.setdefault(id_key(doc), []).append(doc)
        self._values: dict[str, list[str]] = {}
        self.codes = sorted(codes)  # hex codes and KB numbers in any document, folded: "did you mean" reads them

    @classmethod
    def load(cls, reader: IndexReader) -> "Catalog":
        return cls(reader.documents(), reader.passage_documents(), reader.code_terms())

    def __len__(self) -> int:
        return len(self.docs)

    def resolve(self, doc_id: str) -> str | None:
        """The id of the document `doc_id` names: itself, else the one id equal to it but for letter
        case, Unicode form and the `.md` suffix (`kb.documents.id_key`); None when no document or
        several (`Dup.md` and `dup.md`) are."""
        if doc_id in self.docs:
            return doc_id
        found = self._by_key.get(id_key(doc_id), [])
        return found[0] if len(found) == 1 else None

    def values(self, name: str) -> list[str]:
        """Every value a facet field has in some document, sorted."""
        if name not in self._values:
            self._values[name] = sorted({v for doc in self.docs.values() for v in doc.facet_values(name)})
        return self._values[name]

    def unknown_values(self, filters: Filters) -> list[tuple[str, str, list[str]]]:
        """Filter values no document has: (field, the value, the values there are). Such a filter
        can only empty the results, which is a typo more often than a question. Any case status of
        the documented vocabulary is known, even when no case has it yet."""
        asked = {"tags": list(filters.tags),
                 "language": list(filters.language),
                 "product": [filters.product] if filters.product else [], "status": [filters.status] if filters.status else []}
        unknown = []
        for name, values in asked.items():
            known = sorted({*self.values(name), *CASE_STATUSES}) if name == "status" else self.values(name)
            folded = {text.fold(v) for v in known} if name == "product" else set(known)
            for value in values:
                if (text.fold(value) if name == "product" else value) not in folded:
                    unknown.append((name, value, known))
        return unknown

    def passages_of(self, doc_ids: Iterable[str]) -> list[int]:
        return [p for d in doc_ids for p in self.doc_passages.get(d, ())]

    def filtered(self, allowed: set[str] | None, filters: Filters) -> set[str] | None:
        """The documents of `allowed` (None: all) that pass `filters` (None when nothing restricts)."""
        if filters.empty:
            return allowed
        return {d for d in (allowed if allowed is not None else self.docs) if filters.accepts(self.docs[d])}
