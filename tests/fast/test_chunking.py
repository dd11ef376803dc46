"""Documents -> passages: one per section, long sections split to fit the token budget."""

from __future__ import annotations

from kb.chunking import SUMMARY_HEADING, chunk_document, split_text, word_count_tokens
from kb.documents import parse_document


def test_one_passage_per_section_with_heading_path():
    doc = parse_document("# T\n\nintro\n\n## Symptoms\nslow\n\n### Logs\nevent 129\n", "a.md")
    passages = chunk_document(doc)
    assert [(p.heading, p.text) for p in passages] == [("", "intro"), ("Symptoms", "slow"), ("Symptoms > Logs", "event 129")]
    assert passages[2].embedding_input(doc.title) == "T > Symptoms > Logs\nevent 129"


def test_long_section_is_split_within_budget_and_keeps_all_words():
    paragraph = " ".join(f"palavra{i}." for i in range(400))
    doc = parse_document(f"## Resolução\n{paragraph}\n\nsegundo parágrafo\n", "a.md")
    passages = chunk_document(doc, word_count_tokens, max_tokens=64)
    assert len(passages) > 5
    assert all(p.heading == "Resolução" for p in passages)
    title_cost = word_count_tokens("a > Resolução")
    assert all(word_count_tokens(p.text) <= 64 - title_cost for p in passages)
    words = " ".join(p.text for p in passages).split()
    assert words == paragraph.split() + ["segundo", "parágrafo"]


def test_case_gets_a_summary_passage_from_front_matter():
    doc = parse_document(
        "---\ntype: case\nsymptoms: [UPS beeps, servers power off]\nerror_codes: [E21]\nresolution: Replaced the battery\n---\n## Symptoms\nx\n",
        "cases/ups.md",
    )
    first = chunk_document(doc)[0]
    assert first.headings == (SUMMARY_HEADING,)
    assert "UPS beeps; servers power off" in first.text and "E21" in first.text and "Replaced the battery" in first.text


def test_split_text_never_returns_empty_chunks():
    assert split_text("\n\n\n", word_count_tokens, 10) == []
