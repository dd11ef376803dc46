"""`kb new`: start a case or an article from the template, so every write-up has the same shape."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import yaml
from slugify import slugify

from kb.validation import CASE_SECTIONS

ARTICLE_SECTIONS = ("Symptoms", "Cause", "Resolution", "More information")
FOLDERS = {"case": "cases", "article": "articles"}


def front_matter(kind: str, title: str, product: str, language: str, tags: list[str], today: dt.date) -> dict:
    """The fields of a new document, in the order an editor fills them in."""
    meta: dict = {"title": title, "type": kind}
    if kind == "case":
        meta.update(status="open", product=product, version="", symptoms=[], error_codes=[], environment="",
                    root_cause="", resolution="")
    else:
        meta["product"] = product
    meta.update(language=language, tags=tags)
    if kind == "case":
        meta["opened"] = today
    return meta


def render(kind: str, title: str, product: str = "", language: str = "en", tags: list[str] | None = None,
           today: dt.date | None = None) -> str:
    """Markdown text of a new case or article."""
    meta = front_matter(kind, title, product, language, list(tags or []), today or dt.date.today())
    header = yaml.safe_dump(meta, allow_unicode=True, sort_keys=False, default_flow_style=None)
    if kind == "case":
        header += "resolved:\n"  # left empty until the case is closed
    sections = CASE_SECTIONS if kind == "case" else ARTICLE_SECTIONS
    body = "\n".join(f"## {s}\n\n" for s in sections)
    return f"---\n{header}---\n\n{body}"


def slug(title: str) -> str:
    """The file name of a document with this title, without `.md` (empty when no letter survives)."""
    return slugify(title, max_length=80, word_boundary=True)


def new_document(articles: Path, kind: str, title: str, content: str | None = None, **fields) -> Path:
    """Write a new file under articles/cases/ or articles/articles/ (the template, or `content`); never overwrites."""
    if kind not in FOLDERS:
        raise ValueError(f"kind must be one of {', '.join(FOLDERS)}")
    name = slug(title) or dt.datetime.now().strftime("untitled-%Y%m%d-%H%M%S")
    path = articles / FOLDERS[kind] / f"{name}.md"
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("x", encoding="utf-8") as fh:  # "x": fail if it exists
        fh.write(content if content is not None else render(kind, title, **fields))
    return path


def draft_case(title: str, symptoms: list[str], error_codes: list[str], environment: list[str], original: str,
               product: str = "", version: str = "", language: str = "en", tags: list[str] | None = None,
               today: dt.date | None = None) -> str:
    """A case started from a pasted ticket or log: what it says filled in, the rest of the template
    left to the engineer, and the paste itself kept below in a fenced block (never rendered as HTML)."""
    meta = front_matter("case", title, product, language, list(tags or []), today or dt.date.today())
    meta.update(version=version, symptoms=symptoms, error_codes=error_codes, environment="; ".join(environment))
    header = yaml.safe_dump(meta, allow_unicode=True, sort_keys=False, default_flow_style=None, width=10_000)
    filled = {"Symptoms": "\n".join(f"- {s}" for s in symptoms), "Environment": "\n".join(f"- {e}" for e in environment)}
    body = "\n".join(f"## {s}\n\n{filled.get(s, '')}\n" for s in CASE_SECTIONS)
    fence = "~" * max(3, 1 + max((len(m) for m in re.findall(r"~{3,}", original)), default=0))
    return f"---\n{header}resolved:\n---\n\n{body}\n## Original text\n\n{fence}text\n{original.strip()}\n{fence}\n"
