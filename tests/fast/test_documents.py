"""Files -> documents: front matter, headings, non-ASCII text and errors that name file and line."""

from __future__ import annotations

from pathlib import Path

import pytest

from kb.documents import DocumentError, discover, load_document, parse_document

CASE = """---
title: "Сервер резервного копирования тормозит"
type: case
status: resolved
tags: [backup, refs]
opened: 2026-01-02
error_codes: ["0x80070005"]
---
Вступление перед первым заголовком.

## Symptoms
CPU **высокий**, `0x80070005` в журнале. См. [VSS](../articles/vss.md).

### Event log
Ошибка ação — ș ț ñ.

```
vssadmin list writers
```

## Resolution
Обновление ОС.
"""


def test_front_matter_and_heading_paths():
    doc = parse_document(CASE, "cases/x.md")
    assert doc.title == "Сервер резервного копирования тормозит"
    assert doc.type == "case" and doc.is_case
    assert doc.tags == ["backup", "refs"]
    assert doc.meta["opened"] == "2026-01-02"  # dates become ISO strings
    assert [s.headings for s in doc.sections] == [(), ("Symptoms",), ("Symptoms", "Event log"), ("Resolution",)]
    assert doc.sections[1].text == "CPU высокий, 0x80070005 в журнале. См. VSS."
    assert doc.sections[1].line == 11
    assert doc.links == [("../articles/vss.md", 12)]


def test_non_ascii_survives_untouched():
    doc = parse_document(CASE, "cases/x.md")
    text = doc.sections[2].text
    assert "Ошибка ação — ș ț ñ." in text
    assert "vssadmin list writers" in text  # code blocks are searchable text too


def test_title_falls_back_to_first_h1_then_file_name():
    doc = parse_document("# Disk full on C:\n\nThe disk is full.\n", "articles/disk.md")
    assert doc.title == "Disk full on C:"
    assert doc.sections[0].headings == ()
    assert parse_document("Just text.\n", "articles/no-title_here.md").title == "no title here"


def test_type_defaults_by_folder():
    assert parse_document("text\n", "cases/a.md").type == "case"
    assert parse_document("text\n", "articles/a.md").type == "article"


@pytest.mark.parametrize(
    ("source", "line", "message"),
    [
        ("---\ntitle: ok\ntags: [a, b\n---\nbody\n", 3, "invalid front matter"),
        ("---\ntitle: ok\ntype: faq\n---\nbody\n", 3, "unknown type 'faq'"),
        ("---\na: &x [1, 2]\nb: *x\n---\nbody\n", 3, "aliases"),
        ("---\n- a\n- b\n---\nbody\n", 2, "must be a mapping"),
        ("---\ntitle: [1, 2]\n---\nbody\n", 2, "title must be text"),
        ("   \n\n", 1, "empty file"),
    ],
)
def test_errors_name_file_and_line(source: str, line: int, message: str):
    with pytest.raises(DocumentError) as info:
        parse_document(source, "cases/bad.md")
    assert info.value.line == line
    assert message in info.value.message
    assert str(info.value).startswith(f"cases/bad.md:{line}: ")


def test_invalid_utf8_and_binary_are_refused(tmp_path: Path):
    bad = tmp_path / "bad.md"
    bad.write_bytes("# ok\n\nline two\n".encode() + b"\xff\xfe broken\n")
    with pytest.raises(DocumentError, match=r"bad.md:4: invalid UTF-8"):
        load_document(bad, "bad.md", 1_000_000)
    binary = tmp_path / "bin.md"
    binary.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00")
    with pytest.raises(DocumentError, match="binary"):
        load_document(binary, "bin.md", 1_000_000)
    with pytest.raises(DocumentError, match="over the limit"):
        load_document(bad, "bad.md", 10)


def test_discover_skips_readme_and_refuses_symlinks_outside(tmp_path: Path):
    root = tmp_path / "articles"
    (root / "cases").mkdir(parents=True)
    (root / "README.md").write_text("about the folder")
    (root / "cases" / "a.md").write_text("# A\n")
    outside = tmp_path / "secret.md"
    outside.write_text("# secret\n")
    (root / "cases" / "link.md").symlink_to(outside)
    found, errors = discover(root)
    assert list(found) == ["cases/a.md"]
    assert [e.path for e in errors] == ["cases/link.md"]


def test_discover_never_reads_through_a_symlinked_folder(tmp_path: Path):
    """`**` does not follow symlinked folders, so no file behind one is indexed; were one reached, each
    folder between it and the root is checked once (`_symlinked_folders`), not once per file."""
    from kb.documents import _symlinked_folders

    root, outside = tmp_path / "articles", tmp_path / "elsewhere"
    (root / "cases").mkdir(parents=True)
    (outside / "deep").mkdir(parents=True)
    (outside / "deep" / "secret.md").write_text("# secret\n")
    (root / "cases" / "a.md").write_text("# A\n")
    (root / "cases" / "ext").symlink_to(outside, target_is_directory=True)
    found, errors = discover(root)
    assert list(found) == ["cases/a.md"] and errors == []
    linked = _symlinked_folders(root)
    assert linked(root / "cases" / "ext" / "deep") and linked(root / "cases" / "ext")
    assert not linked(root / "cases") and not linked(root)


def test_unquoted_hex_error_code_is_a_warning_with_the_fix():
    """YAML reads 0x80070005 unquoted as 2147942405, which is what would be indexed: kb check says so."""
    from kb.validation import check_document

    source = "---\ntitle: Access denied\ntype: case\nstatus: open\nlanguage: en\nerror_codes: [0x80070005, \"0x800f0922\"]\n---\n## Symptoms\nIt fails.\n"
    problems = check_document(parse_document(source, "cases/access.md"))
    assert [(p.line, p.severity) for p in problems] == [(6, "warning")]
    assert 'error code 2147942405 was read as a number' in problems[0].message
    assert 'error_codes: ["0x80070005"]' in problems[0].message
