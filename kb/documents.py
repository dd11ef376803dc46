"""Files -> documents: find Markdown files, parse front matter and split the body into sections.

A document is what an engineer opens; a section is the text under one heading, kept with the path
of headings above it so that a passage can say where it came from ("Symptoms", "Resolution > Step 2").
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import os
import re
import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from markdown_it import MarkdownIt
from markdown_it.token import Token
from mdit_py_plugins.front_matter import front_matter_plugin

DOC_TYPES = ("article", "case")
CASE_STATUSES = ("resolved", "workaround", "open", "cannot-reproduce")
IGNORED_NAMES = {"readme.md"}
"""Files that describe the folder rather than hold knowledge; never indexed."""
MAX_UNCLOSED_BRACKETS = 1_000
"""A file with more `[` that no `]` closes is refused: markdown-it scans ahead from each one for its
end (80 KB of `![` took 1.8 s to parse and 5 s to render; real articles have a handful). Candidate
setting: `KB_MAX_UNCLOSED_BRACKETS`."""


class DocumentError(ValueError):
    """A file that cannot be indexed, with the place to fix it."""

    def __init__(self, path: str | Path, line: int, message: str):
        super().__init__(f"{path}:{line}: {message}")
        self.path = str(path)
        self.line = line
        self.message = message


@dataclass(frozen=True)
class Section:
    """Plain text under one heading; `headings` is the path of headings above it."""

    headings: tuple[str, ...]
    text: str
    line: int


@dataclass
class Document:
    """One Markdown file of the knowledge base, parsed."""

    id: str
    title: str
    type: str
    tags: list[str]
    language: str
    meta: dict
    sections: list[Section]
    body: str
    content_hash: str
    body_line: int = 1
    links: list[tuple[str, int]] = field(default_factory=list)
    field_lines: dict[str, int] = field(default_factory=dict)
    title_source: str = "front matter"  # or "h1" or "file name"

    @property
    def is_case(self) -> bool:
        return self.type == "case"


def markdown_parser(html: bool = False) -> MarkdownIt:
    """The one Markdown dialect of the project: CommonMark + tables + front matter, raw HTML off."""
    md = MarkdownIt("commonmark", {"html": html}).enable(["table", "strikethrough"])
    return md.use(front_matter_plugin)


_PARSER = markdown_parser()


def discover(root: Path) -> tuple[dict[str, Path], list[DocumentError]]:
    """Map document id -> file for every `*.md` under `root`, and errors for files that must be skipped.

    Symlinks that resolve outside `root` are refused: the index must only expose the knowledge base.
    """
    root_resolved = root.resolve()
    found: dict[str, Path] = {}
    errors: list[DocumentError] = []
    linked = _symlinked_folders(root)
    for doc_id in sorted(_markdown_names(root), key=lambda rel: rel.split("/")):  # as Paths sort: by part
        path = root / doc_id
        if path.name.lower() in IGNORED_NAMES:
            continue
        if (path.is_symlink() or linked(path.parent)) and not path.resolve().is_relative_to(root_resolved):
            errors.append(DocumentError(doc_id, 1, "symlink points outside the articles folder; skipped"))
            continue
        if not path.is_file():
            continue
        problem = unservable(doc_id)
        if problem:
            errors.append(DocumentError(shown_id(doc_id), 1, f"file name {problem}, so its document could not be "
                                                               "opened by its address; rename the file"))
            continue
        found[doc_id] = path
    return found, errors


def _markdown_names(root: Path) -> Iterator[str]:
    """The relative paths ('/'-separated) of the `*.md` entries under `root` outside hidden folders,
    not counting hidden ones: what `root.rglob("*.md")` finds (it does not enter symlinked folders
    either), read with os.walk's cached directory entries (0.01 s for 5,000 articles, not 0.24 s)."""
    for folder, folders, files in os.walk(root):
        folders[:] = [name for name in folders if not name.startswith(".")]  # os.walk enters what is left
        relative = os.path.relpath(folder, root)
        prefix = "" if relative == os.curdir else relative.replace(os.sep, "/") + "/"
        for name in (*files, *folders):  # a folder or a folder's symlink named *.md is an entry too
            if name.endswith(".md") and not name.startswith("."):
                yield prefix + name


_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")
"""Unicode's control characters (category Cc): a regex, not a category lookup per character (0.1 s
of a build of 5,000 articles)."""


def unservable(doc_id: str) -> str | None:
    """Why an id cannot be an address of the document page or API, or None. The API refuses ids with
    a backslash, a `..` segment or a leading `/`; control characters (a newline) and names that are
    not UTF-8 cannot be stored or typed."""
    try:
        doc_id.encode("utf-8")
    except UnicodeEncodeError:
        return "is not valid UTF-8"
    if "\\" in doc_id:
        return "contains a backslash"
    control = _CONTROL.search(doc_id)
    if control is not None:
        return f"contains a control character (U+{ord(control.group()):04X})"
    if doc_id.startswith("/") or ".." in doc_id.split("/"):
        return "is not a plain path inside the articles folder"
    return None


def shown_id(doc_id: str) -> str:
    """An id on one printable line: control characters and undecodable bytes escaped, all else as is."""
    text = doc_id.encode("utf-8", "backslashreplace").decode("utf-8")
    return "".join(f"\\x{ord(c):02x}" if unicodedata.category(c) == "Cc" else c for c in text)


def id_key(doc_id: str) -> str:
    """What names a document whatever the letter case, Unicode form (NFC or NFD) and `.md` suffix: ids
    with one key collide on a case-insensitive or normalising file system, and a link or an address
    typed by hand gets those wrong."""
    return unicodedata.normalize("NFC", unicodedata.normalize("NFC", doc_id).casefold()).removesuffix(".md")


def _symlinked_folders(root: Path) -> Callable[[Path], bool]:
    """Whether a folder under `root`, or one between it and `root`, is a symlink (only those, and
    symlinked files, can lead outside). Each folder is looked at once: checking every file's folders
    took 1.1 s of a one-edit build of 5,000 articles."""

    @functools.lru_cache(maxsize=None)
    def linked(folder: Path) -> bool:
        if folder == root or folder.parent == folder:
            return False
        return folder.is_symlink() or linked(folder.parent)

    return linked


def read_source(path: Path, doc_id: str, max_bytes: int) -> tuple[str, str]:
    """Read a file as UTF-8 text and its content hash, refusing binaries, bad encodings and huge files."""
    size = path.stat().st_size
    if size > max_bytes:
        raise DocumentError(doc_id, 1, f"file is {size:,} bytes, over the limit of {max_bytes:,} (KB_MAX_FILE_BYTES)")
    raw = path.read_bytes()
    digest = hashlib.sha256(raw).hexdigest()
    if b"\x00" in raw:
        line = raw[: raw.index(b"\x00")].count(b"\n") + 1
        raise DocumentError(doc_id, line, "binary content (NUL byte); not a Markdown file")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise DocumentError(doc_id, line, f"invalid UTF-8 at byte {exc.start}; save the file as UTF-8") from None
    return text.removeprefix("\ufeff"), digest


def load_document(path: Path, doc_id: str, max_bytes: int) -> Document:
    """Read and parse one file."""
    text, digest = read_source(path, doc_id, max_bytes)
    return parse_document(text, doc_id, digest)


def parse_document(text: str, doc_id: str, content_hash: str | None = None) -> Document:
    """Parse Markdown text with optional YAML front matter into a Document."""
    if content_hash is None:
        content_hash = hashlib.sha256(text.encode("utf-8")).hexdigest()
    if not text.strip():
        raise DocumentError(doc_id, 1, "empty file")
    unclosed, line = unclosed_brackets(text)
    if unclosed > MAX_UNCLOSED_BRACKETS:
        raise DocumentError(doc_id, line, f"{unclosed:,} unclosed '[' (such as '![' without ']'), over the limit of "
                            f"{MAX_UNCLOSED_BRACKETS:,}: Markdown like this takes seconds to parse and show; "
                            "close them, escape them as \\[ or put the text in a code block")
    try:
        tokens = _PARSER.parse(text)
    except RecursionError:
        raise DocumentError(doc_id, 1, "Markdown nested too deeply to parse") from None
    meta, lines, body_line = {}, {}, 1
    if tokens and tokens[0].type == "front_matter":
        meta, lines = parse_front_matter(tokens[0].content, doc_id)
        body_line = tokens[0].map[1] + 1 if tokens[0].map else 1
        tokens = tokens[1:]
    sections, first_h1, h1_line, links = _sections(tokens)
    title = meta.get("title") or first_h1 or Path(doc_id).stem.replace("-", " ").replace("_", " ")
    if first_h1 and first_h1 != title:  # an H1 that differs from the front matter title is content too
        intro = sections.pop(0).text if sections and sections[0].headings == () else ""
        sections.insert(0, Section((), f"{first_h1}\n{intro}".strip(), h1_line))
    doc_type = meta.get("type", "case" if doc_id.startswith("cases/") else "article")
    _require(isinstance(title, str), doc_id, lines, "title", "title must be text")
    _require(doc_type in DOC_TYPES, doc_id, lines, "type", f"unknown type {doc_type!r}; use one of {', '.join(DOC_TYPES)}")
    tags = meta.get("tags") or []
    if isinstance(tags, str):
        tags = [t.strip() for t in tags.split(",") if t.strip()]
    _require(isinstance(tags, list), doc_id, lines, "tags", "tags must be a list")
    language = str(meta.get("language") or "und")
    body = "\n".join(text.splitlines()[body_line - 1 :])
    return Document(
        id=doc_id,
        title=title.strip(),
        type=doc_type,
        tags=[str(t) for t in tags],
        language=language,
        meta=_json_safe(meta),
        sections=sections,
        body=body,
        content_hash=content_hash,
        body_line=body_line,
        links=links,
        field_lines=lines,
        title_source="front matter" if meta.get("title") else "h1" if first_h1 else "file name",
    )


_BRACKETS = re.compile(r"[\[\]]")
_ESCAPED = re.compile(r"\\[\\\[\]]")
_FENCE = re.compile(r" {0,3}(`{3,}|~{3,})")


def unclosed_brackets(text: str) -> tuple[int, int]:
    """`[` that no later `]` of the same paragraph closes, outside fenced code and escapes, and the
    line of the first paragraph that has some (1 when none). Cheap when a file has few `[` at all."""
    if text.count("[") <= MAX_UNCLOSED_BRACKETS:
        return 0, 1
    unclosed, depth, first, fence = 0, 0, 0, ""
    for number, line in enumerate(text.splitlines(), start=1):
        opening = _FENCE.match(line)
        if fence or opening:
            if not fence:
                fence = opening.group(1)
            elif line.strip().startswith(fence[0] * len(fence)):
                fence = ""
            continue
        if not line.strip():  # a blank line ends the paragraph, and any link in it
            unclosed, depth = unclosed + depth, 0
            continue
        line = _ESCAPED.sub("", line)
        if "]" not in line:
            depth += line.count("[")
        else:
            for bracket in _BRACKETS.findall(line):
                depth = depth + 1 if bracket == "[" else max(0, depth - 1)
        first = first or (number if depth else 0)
    return unclosed + depth, first or 1


class _NoAliasLoader(yaml.SafeLoader):
    """SafeLoader that refuses anchors/aliases: front matter never needs them and they enable YAML bombs."""

    def compose_node(self, parent, index):  # noqa: D102 - PyYAML hook
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise yaml.MarkedYAMLError(None, None, "YAML aliases (*name) are not allowed in front matter", event.start_mark)
        return super().compose_node(parent, index)


def parse_front_matter(source: str, doc_id: str) -> tuple[dict, dict[str, int]]:
    """YAML front matter as a dict, and the file line of each key (front matter starts on line 2)."""
    loader = _NoAliasLoader(source)
    try:
        node = loader.get_single_node()
        meta = loader.construct_document(node) if node is not None else None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 2 if mark else 1
        raise DocumentError(doc_id, line, f"invalid front matter: {exc.problem or exc.context}") from None
    except (yaml.YAMLError, RecursionError) as exc:
        raise DocumentError(doc_id, 1, f"invalid front matter: {exc}") from None
    except (ValueError, TypeError, OverflowError) as exc:  # e.g. a date like 2026-13-45
        line = _unconstructible_line(node)
        raise DocumentError(doc_id, line, f"invalid front matter value: {exc}") from None
    finally:
        loader.dispose()
    if meta is None:
        return {}, {}
    if not isinstance(meta, dict):
        raise DocumentError(doc_id, 2, "front matter must be a mapping of field: value")
    lines = {str(k.value): k.start_mark.line + 2 for k, _ in node.value}
    return {str(k): v for k, v in meta.items()}, lines


def _unconstructible_line(node) -> int:
    """File line of the first value in a mapping node that PyYAML cannot turn into Python."""
    for key, value in node.value if isinstance(node, yaml.MappingNode) else []:
        try:
            _NoAliasLoader("").construct_object(value, deep=True)
        except (ValueError, TypeError, OverflowError):
            return key.start_mark.line + 2
    return 2


def _require(ok: bool, doc_id: str, lines: dict[str, int], key: str, message: str) -> None:
    if not ok:
        raise DocumentError(doc_id, lines.get(key, 1), message)


def _json_safe(value):
    """Dates become ISO strings, so metadata can be stored as JSON and served as-is."""
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    return value


def inline_text(token: Token) -> str:
    """Plain text of an inline token: link and emphasis markup dropped, code and image alt text kept."""
    parts: list[str] = []
    for child in token.children or []:
        if child.type in ("text", "code_inline", "html_inline"):
            parts.append(child.content)
        elif child.type in ("softbreak", "hardbreak"):
            parts.append(" ")
        elif child.type == "image":
            parts.append(inline_text(child))
    return "".join(parts)


def _sections(tokens: list[Token]) -> tuple[list[Section], str | None, int, list[tuple[str, int]]]:
    """Walk block tokens: headings open sections, text blocks fill them. Also collect link targets."""
    sections: list[Section] = []
    stack: list[tuple[int, str]] = []
    blocks: list[str] = []
    line = 1
    first_h1: str | None = None
    h1_line = 1
    links: list[tuple[str, int]] = []

    def flush() -> None:
        text = "\n".join(b for b in blocks if b.strip()).strip()
        if text:
            sections.append(Section(tuple(h for _, h in stack), text, line))
        blocks.clear()

    for i, tok in enumerate(tokens):
        if tok.type == "heading_open":
            flush()
            level = int(tok.tag[1])
            heading = inline_text(tokens[i + 1]).strip()
            line = tok.map[0] + 1 if tok.map else line
            if level == 1 and first_h1 is None and not sections and not stack:
                first_h1, h1_line = heading, line
                continue
            while stack and stack[-1][0] >= level:
                stack.pop()
            stack.append((level, heading))
        elif tok.type == "inline" and not (i and tokens[i - 1].type == "heading_open"):
            if not blocks and not sections and not stack and tok.map:
                line = tok.map[0] + 1
            blocks.append(inline_text(tok))
            links.extend((c.attrs.get("href", ""), (tok.map[0] + 1) if tok.map else line)
                         for c in tok.children or [] if c.type == "link_open")
        elif tok.type in ("fence", "code_block"):
            blocks.append(tok.content.rstrip("\n"))
    flush()
    return sections, first_h1, h1_line, links
