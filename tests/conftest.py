"""Shared fixtures: one embedding model per test session, and indexes built from small corpora."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from kb.config import Settings
from kb.embedding import Embedder
from kb.indexer import build_index
from kb.search import Searcher

ROOT = Path(__file__).resolve().parent.parent
FIXTURE_CORPUS = Path(__file__).parent / "fixtures" / "corpus"
ARTICLES = ROOT / "articles"


@pytest.fixture(scope="session")
def embedder() -> Embedder:
    return Embedder()


@pytest.fixture()
def corpus(tmp_path: Path) -> Path:
    """A private, editable copy of the fixture corpus."""
    target = tmp_path / "articles"
    shutil.copytree(FIXTURE_CORPUS, target)
    return target


@pytest.fixture()
def settings(corpus: Path, tmp_path: Path) -> Settings:
    return Settings(articles=corpus, index=tmp_path / "index")


@pytest.fixture(scope="session")
def fixture_searcher(embedder: Embedder, tmp_path_factory) -> Searcher:
    """A searcher over the fixture corpus, built once per session (read-only use)."""
    root = tmp_path_factory.mktemp("fixture-index")
    shutil.copytree(FIXTURE_CORPUS, root / "articles")
    settings = Settings(articles=root / "articles", index=root / "index")
    build_index(settings, embedder, progress=False)
    return Searcher.open(settings.index, embedder)


@pytest.fixture(scope="session")
def kb_settings(embedder: Embedder, tmp_path_factory) -> Settings:
    """An index of the project's real articles/, built once per session into a temporary folder."""
    index = tmp_path_factory.mktemp("kb-index") / "index"
    settings = Settings(articles=ARTICLES, index=index)
    report = build_index(settings, embedder, progress=False)
    assert not report.errors, [str(e) for e in report.errors]
    return settings
