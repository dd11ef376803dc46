"""Document pages as Markdown -> HTML: section anchors, the matched passage, the query's words marked,
and back links that can only lead within the site."""

from __future__ import annotations

import pytest

from api.rendering import local_path, render_markdown
from kb.query import parse_query

BODY = """# Backup fails

Intro about the backup job.

## Symptoms

The backup job fails with <b>access denied</b>.

### Details

More details.

## Resolution

Grant the account `Modify` on the share; see [the other case](other.md#cause).

## Resolution
Second section with the same title.

## Решение

Перезапустить службу.
"""


def test_headings_get_unique_ids_in_any_script():
    html = render_markdown(BODY, "cases/x.md")
    for anchor in ('id="backup-fails"', 'id="symptoms"', 'id="details"', 'id="resolution"', 'id="resolution-1"', 'id="решение"'):
        assert anchor in html
    assert 'href="/documents/cases/other.md#cause"' in html
    assert "&lt;b&gt;access denied&lt;/b&gt;" in html  # raw HTML stays text


def test_the_matched_passage_is_wrapped_from_its_heading_to_the_next():
    html = render_markdown(BODY, "cases/x.md", passage_line=5)  # the "## Symptoms" line
    section = html[html.index('<section id="passage"'):html.index("</section>")]
    assert '<h2 id="symptoms">' in section and "fails with" in section
    assert 'id="details"' not in section  # a subsection is its own passage
    assert html.count('id="passage"') == 1


def test_a_line_inside_a_section_and_the_intro_find_their_section():
    inside = render_markdown(BODY, "cases/x.md", passage_line=7)
    assert '<section id="passage" class="matched-section">\n<h2 id="symptoms">' in inside
    intro = render_markdown("Intro line.\n\n## Later\n\nText.\n", "a.md", passage_line=1)
    assert intro.startswith('<section id="passage" class="matched-section">\n<p>Intro line.</p>\n</section>')
    last = render_markdown(BODY, "cases/x.md", passage_line=99)
    assert '<section id="passage" class="matched-section">\n<h2 id="решение">' in last and last.rstrip().endswith("</section>")


def test_query_words_are_marked_as_tokens_and_html_stays_escaped():
    terms = parse_query("backup access денied Перезапустить").terms
    html = render_markdown(BODY, "cases/x.md", terms=terms)
    assert "<mark>backup</mark> job" in html and "<mark>Backup</mark> fails" in html
    assert "&lt;b&gt;<mark>access</mark> denied&lt;/b&gt;" in html
    assert "<mark>Перезапустить</mark>" in html
    assert "<mark>" not in render_markdown(BODY, "cases/x.md")


@pytest.mark.parametrize("url", ["/?q=a#r2", "/documents/cases/x.md?q=a", "/"])
def test_local_paths_are_kept(url):
    assert local_path(url) == url


@pytest.mark.parametrize("url", ["//evil.example/x", "/\\evil.example", "https://evil.example/", "javascript:alert(1)",
                                 "evil.example", "", "/" + "a" * 5000])
def test_anything_else_is_refused(url):
    assert local_path(url) is None


def test_a_body_is_parsed_once_and_renders_the_same_every_time(monkeypatch):
    """Pages re-render a document for every query (pathological Markdown took seconds per view), so
    its tokens are kept; rendering must not change them (links were rewritten at render time)."""
    import api.rendering as rendering

    calls = []
    parse = rendering._MD.parse
    monkeypatch.setattr(rendering._MD, "parse", lambda src, env=None: calls.append(src) or parse(src, env))
    body = BODY + "\nUnique body for this test.\n"
    first = render_markdown(body, "cases/x.md")
    marked = render_markdown(body, "cases/x.md", passage_line=5, terms=parse_query("backup").terms)
    again = render_markdown(body, "cases/x.md")
    assert len(calls) == 1
    assert first == again and 'href="/documents/cases/other.md#cause"' in again
    assert 'href="/documents/cases/other.md#cause"' in marked and "<mark>" in marked
