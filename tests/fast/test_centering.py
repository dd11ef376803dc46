"""Language centering (kb.centering) on synthetic vectors: a language direction that outweighs the topic."""

from __future__ import annotations

import numpy as np

from kb.catalog import Catalog
from kb.centering import MIN_PASSAGES, LanguageCentering
from kb.store.index_db import DocumentRow
from kb.vectors import VectorIndex

RNG = np.random.default_rng(7)
DIM = 16
LANGUAGE = {"en": RNG.normal(size=DIM), "ru": RNG.normal(size=DIM)}
TOPIC = {t: RNG.normal(size=DIM) for t in ("printing", "backup", "dns")}


def unit(v):
    return v / np.linalg.norm(v)


def corpus():
    """MIN_PASSAGES passages per (language, topic) document; vectors = language + topic + noise."""
    docs, passages, vectors = [], [], []
    for rowid, (lang, topic) in enumerate(((l, t) for l in LANGUAGE for t in TOPIC), start=1):
        doc = f"{lang}/{topic}.md"
        docs.append(DocumentRow(rowid, doc, topic, "article", lang, (), {}))
        for _ in range(MIN_PASSAGES):
            passages.append((len(passages) + 1, doc))
            vectors.append(unit(1.5 * LANGUAGE[lang] + TOPIC[topic] + 0.1 * RNG.normal(size=DIM)))
    index = VectorIndex.empty(DIM)
    index.add([p for p, _ in passages], np.array(vectors, dtype=np.float32))
    return index, Catalog(docs, passages)


def best_document(index: VectorIndex, catalog: Catalog, query: np.ndarray) -> str:
    return catalog.passage_doc[index.search(query, 1)[0][0]]


def test_a_question_finds_its_topic_in_the_other_language_once_centered(monkeypatch):
    index, catalog = corpus()
    question = unit(1.5 * LANGUAGE["ru"] + TOPIC["backup"]).astype(np.float32)  # a Russian question about backups
    english_only = {d for d in catalog.docs if d.startswith("en/")}
    raw = catalog.passage_doc[index.search(question, 1, catalog.passages_of(english_only))[0][0]]
    assert raw == "en/backup.md"  # among English documents the topic wins, but ...
    assert best_document(index, catalog, question).startswith("ru/")  # ... overall the language does
    centering = LanguageCentering.fit(index, catalog, strength=1.0)
    assert centering is not None and centering.languages == ["en", "ru"]
    centered = centering.documents(index, catalog)
    monkeypatch.setattr("kb.centering.query_language", lambda text, languages: "ru")
    (query,) = centering.queries(["как восстановить резервную копию"], question[None, :])
    ranked = [catalog.passage_doc[i] for i, _ in centered.search(query, 2 * MIN_PASSAGES)]
    assert set(ranked) == {"en/backup.md", "ru/backup.md"}  # the topic, in both languages
    assert np.allclose(np.linalg.norm(centered.vectors(list(catalog.passage_doc)), axis=1), 1, atol=1e-5)


def test_nothing_to_center_in_one_language_or_when_switched_off():
    index, catalog = corpus()
    assert LanguageCentering.fit(index, catalog, strength=0.0) is None
    russian = {d for d in catalog.docs if d.startswith("ru/")}
    only_ru = VectorIndex.empty(DIM)
    only_ru.add(catalog.passages_of(russian), index.vectors(catalog.passages_of(russian)))
    rows = [r for r in [DocumentRow(i + 1, d, d, "article", "ru", (), {}) for i, d in enumerate(sorted(russian))]]
    assert LanguageCentering.fit(only_ru, Catalog(rows, [(p, d) for d in sorted(russian) for p in catalog.doc_passages[d]]), 0.5) is None


def test_a_query_in_no_known_language_is_left_as_it_is(monkeypatch):
    index, catalog = corpus()
    centering = LanguageCentering.fit(index, catalog, strength=0.5)
    monkeypatch.setattr("kb.centering.query_language", lambda text, languages: "und")
    vector = unit(RNG.normal(size=DIM)).astype(np.float32)[None, :]
    assert np.allclose(centering.queries(["0x80070005"], vector), vector, atol=1e-6)
