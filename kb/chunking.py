"""Documents -> passages: one passage per section, long sections split to fit the model's token budget.

A passage is the unit that is embedded, matched and shown as the snippet. It keeps its heading path,
so a hit can say "Resolution" or "Symptoms > Event log", and it is embedded together with the title
and headings because a paragraph alone often lacks the words that say what it is about.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable

from kb.documents import Document

TokenCounter = Callable[[str], int]
CHUNKING_VERSION = 2
"""Bump when passages come out differently for the same file: builds then re-chunk every document."""
SUMMARY_HEADING = "Summary"
_SENTENCE_END = re.compile(r"(?<=[.!?…;])\s+")
_SUMMARY_FIELDS = (
    ("description", "Description"),
    ("summary", "Summary"),
    ("symptoms", "Symptoms"),
    ("error_codes", "Error codes"),
    ("product", "Product"),
    ("version", "Version"),
    ("environment", "Environment"),
    ("root_cause", "Root cause"),
    ("resolution", "Resolution"),
)


@dataclass(frozen=True)
class Passage:
    """A piece of a document small enough to embed; `ordinal` orders passages within the document."""

    doc_id: str
    ordinal: int
    headings: tuple[str, ...]
    text: str
    line: int

    @property
    def heading(self) -> str:
        return " > ".join(self.headings)

    @property
    def section(self) -> str:
        """The top-level heading the passage sits under ('' before the first heading)."""
        return self.headings[0] if self.headings else ""

    def embedding_input(self, title: str) -> str:
        """What the model sees: title and heading path give a bare paragraph its topic."""
        context = " > ".join((title, *self.headings))
        return f"{context}\n{self.text}"


def word_count_tokens(text: str) -> int:
    """Rough token count for when no tokenizer is at hand (word pieces run ~1.3 per word)."""
    return int(len(text.split()) * 1.3) + 1


def chunk_document(doc: Document, count_tokens: TokenCounter = word_count_tokens, max_tokens: int = 256) -> list[Passage]:
    """Split a document into passages that each fit `max_tokens` including the title and headings."""
    pieces: list[tuple[tuple[str, ...], str, int]] = []
    summary = summary_text(doc.meta)
    if summary:  # split like a section: long symptom lists would otherwise be cut off by the model
        budget = max(32, max_tokens - count_tokens(f"{doc.title} > {SUMMARY_HEADING}") - 4)
        line = doc.field_lines.get("title", 1)
        pieces.extend(((SUMMARY_HEADING,), text, line) for text in split_text(summary, count_tokens, budget))
    for section in doc.sections:
        budget = max(32, max_tokens - count_tokens(" > ".join((doc.title, *section.headings))) - 4)
        pieces.extend((section.headings, text, section.line) for text in split_text(section.text, count_tokens, budget))
    if not pieces:
        pieces.append(((), doc.title, 1))
    return [Passage(doc.id, i, headings, text, line) for i, (headings, text, line) in enumerate(pieces)]


def summary_text(meta: dict) -> str:
    """Descriptive front matter fields as one passage: a case's symptom list is often the best match."""
    lines = []
    for key, label in _SUMMARY_FIELDS:
        value = meta.get(key)
        if isinstance(value, list):
            value = "; ".join(str(v) for v in value if v)
        if value:
            lines.append(f"{label}: {value}")
    return "\n".join(lines)


def from_summary(heading: str, text: str, meta: dict) -> bool:
    """Whether a passage is a piece of the summary `chunk_document` builds from the front matter `meta`:
    headed Summary and every line a part of `summary_text(meta)`. A body section that an author
    headed "Summary" says something of its own, so it is not."""
    summary = " ".join(summary_text(meta).split())
    return heading == SUMMARY_HEADING and bool(summary) and all(" ".join(line.split()) in summary for line in text.splitlines())


def split_text(text: str, count_tokens: TokenCounter, budget: int) -> list[str]:
    """Greedily pack paragraphs, then sentences, then words, into chunks of at most `budget` tokens."""
    units = [u for p in text.split("\n") for u in _fit(p.strip(), count_tokens, budget) if u]
    chunks: list[str] = []
    current: list[str] = []
    used = 0
    for unit in units:
        size = count_tokens(unit)
        if current and used + size > budget:
            chunks.append("\n".join(current))
            current, used = [], 0
        current.append(unit)
        used += size
    if current:
        chunks.append("\n".join(current))
    return chunks


def _fit(paragraph: str, count_tokens: TokenCounter, budget: int) -> list[str]:
    """A paragraph as units that each fit the budget: itself, its sentences, or word windows."""
    if count_tokens(paragraph) <= budget:
        return [paragraph]
    units: list[str] = []
    for sentence in _SENTENCE_END.split(paragraph):
        if count_tokens(sentence) <= budget:
            units.append(sentence)
            continue
        words = sentence.split()
        step = max(1, len(words) * budget // max(1, count_tokens(sentence)))
        units.extend(" ".join(words[i : i + step]) for i in range(0, len(words), step))
    return units
