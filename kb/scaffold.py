"""`kb new`: start a case or an article from the template, so every write-up has the same shape."""

from __future__ import annotations

import datetime as dt
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


def new_document(articles: Path, kind: str, title: str, **fields) -> Path:
    """Write a new file under articles/cases/ or articles/articles/; never overwrites."""
    if kind not in FOLDERS:
        raise ValueError(f"kind must be one of {', '.join(FOLDERS)}")
    slug = slugify(title, max_length=80, word_boundary=True) or dt.datetime.now().strftime("untitled-%Y%m%d-%H%M%S")
    path = articles / FOLDERS[kind] / f"{slug}.md"
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("x", encoding="utf-8") as fh:  # "x": fail if it exists
        fh.write(render(kind, title, **fields))
    return path
