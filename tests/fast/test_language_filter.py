"""An engineer's languages: `Filters.language` keeps documents in any of the codes chosen, an unknown
code is named, facet links add and remove a language, and a language reads as its own name."""

from __future__ import annotations

import pytest

from api.language_names import language_label, language_name
from api.models import AppliedFilters
from api.routes.pages import search_link
from api.routes.search import chosen_languages
from kb.catalog import Catalog, DocInfo, Filters
from kb.results import count_facets
from kb.store.index_db import DocumentRow

ROWS = [
    DocumentRow(1, "pt.md", "Falha", "case", "pt", ("windows",), {"status": "resolved"}),
    DocumentRow(2, "en.md", "Failure", "article", "en", ("windows",), {}),
    DocumentRow(3, "ru.md", "Ошибка", "case", "ru", ("vpn",), {"status": "open"}),
    DocumentRow(4, "und.md", "???", "article", "und", (), {}),
]


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return Catalog(ROWS, [(10 * r.rowid, r.id) for r in ROWS])


def doc(catalog: Catalog, doc_id: str) -> DocInfo:
    return catalog.docs[doc_id]


def test_a_document_passes_when_its_language_is_any_of_the_chosen(catalog):
    read = Filters(language=("pt", "en"))
    assert read.accepts(doc(catalog, "pt.md")) and read.accepts(doc(catalog, "en.md"))
    assert not read.accepts(doc(catalog, "ru.md")) and not read.accepts(doc(catalog, "und.md"))
    assert read.accepts(doc(catalog, "ru.md"), skip="language")  # the language facet counts every language
    assert catalog.filtered(None, read) == {"pt.md", "en.md"}
    assert catalog.filtered(None, Filters(language=("ru",), type="article")) == set()  # other filters still all apply


def test_no_language_chosen_is_no_restriction(catalog):
    assert Filters(language=()).empty and Filters(language=()) == Filters()
    assert catalog.filtered(None, Filters(language=())) is None
    assert all(Filters().accepts(d) for d in catalog.docs.values())


def test_the_old_single_code_is_one_language_never_a_substring(catalog):
    assert Filters(language="pt") == Filters(language=("pt",)) == Filters(language=["pt"])
    assert Filters(language="") == Filters()
    assert not Filters(language="p").accepts(doc(catalog, "pt.md"))  # "p" in "pt" would be a substring match
    assert hash(Filters(language=["pt", "en"])) == hash(Filters(language=("pt", "en")))


def test_each_unknown_language_is_named_with_the_languages_there_are(catalog):
    assert catalog.unknown_values(Filters(language=("pt", "en", "ru"))) == []
    unknown = catalog.unknown_values(Filters(language=("pt", "xx", "yy")))
    assert unknown == [("language", "xx", ["en", "pt", "ru", "und"]), ("language", "yy", ["en", "pt", "ru", "und"])]


def test_facet_counts_with_several_languages(catalog):
    facets = count_facets(list(catalog.docs.values()), Filters(language=("pt", "ru")))
    assert facets["language"] == [("en", 1), ("pt", 1), ("ru", 1), ("und", 1)]  # own filter skipped: what adding one adds
    assert facets["type"] == [("case", 2)]                                      # pt or ru: both cases
    assert facets["tags"] == [("vpn", 1), ("windows", 1)]


def test_blank_languages_are_no_filter_and_each_code_counts_once():
    assert chosen_languages(["", "  ", "pt", "en", "pt"]) == ["pt", "en"]
    assert chosen_languages([]) == []


def test_a_language_facet_link_adds_or_removes_that_language():
    applied = AppliedFilters(type="case", language=["pt"], tag=["vpn"])
    assert search_link("vpn", applied, language="en") == "/?q=vpn&type=case&tag=vpn&language=pt&language=en"
    assert search_link("vpn", applied, language="pt") == "/?q=vpn&type=case&tag=vpn"
    assert search_link("vpn", AppliedFilters(language=["pt", "en"]), offset=10) == "/?q=vpn&language=pt&language=en&offset=10"


@pytest.mark.parametrize("code, label", [
    ("pt", "Português · pt"), ("ru", "Русский · ru"), ("es", "Español · es"), ("ro", "Română · ro"),
    ("en", "English · en"), ("pt-BR", "Português · pt-BR"), ("xx", "xx"), ("und", "language unknown"), ("", "language unknown"),
])
def test_a_language_reads_as_its_own_name_and_code(code: str, label: str):
    assert language_label(code) == label


def test_only_known_languages_have_a_name():
    assert language_name("RU") == "Русский" and language_name("xx") is None and language_name("und") is None
