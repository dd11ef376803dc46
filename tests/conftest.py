"""Shared fixtures: one embedding model per test session, and indexes built from small corpora."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import httpx

import pytest

from kb.config import Settings
from kb.embedding import Embedder
from kb.indexer import build_index
from kb.match_strength import MatchModel
from kb.search import Searcher

# Tests say which corpus, index and model they use; a developer's own KB_* settings must not leak in.
for _name in [n for n in os.environ if n.startswith("KB_")]:
    del os.environ[_name]

ROOT = Path(__file__).resolve().parent.parent
FIXTURE_CORPUS = Path(__file__).parent / "fixtures" / "corpus"
ARTICLES = ROOT / "articles"


@pytest.fixture(scope="session")
def model_cache(tmp_path_factory) -> Path:
    """One ONNX export per test session, shared by the session's embedder and every `kb` subprocess
    (KB_MODEL_CACHE), so only the first model load pays for PyTorch and the export."""
    folder = tmp_path_factory.mktemp("models")
    os.environ["KB_MODEL_CACHE"] = str(folder)
    return folder


@pytest.fixture(scope="session")
def embedder(model_cache: Path) -> Embedder:
    return Embedder(models_dir=model_cache)


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
    return Searcher.open(settings.index, embedder, match_model=MatchModel.load())


@pytest.fixture(scope="session")
def kb_settings(embedder: Embedder, tmp_path_factory) -> Settings:
    """An index of the project's real articles/, built once per session into a temporary folder."""
    index = tmp_path_factory.mktemp("kb-index") / "index"
    settings = Settings(articles=ARTICLES, index=index)
    report = build_index(settings, embedder, progress=False)
    assert not report.errors, [str(e) for e in report.errors]
    return settings


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def client_with_own_log(settings: Settings, folder: Path):
    """A TestClient of the app over a copy of `settings.index` in `folder` without its search log, so a
    module's searches and verdicts start from an empty log."""
    from fastapi.testclient import TestClient

    from api.app import create_app

    index = folder / "index"
    shutil.copytree(settings.index, index, symlinks=True, ignore=shutil.ignore_patterns("searches.sqlite*"))
    with TestClient(create_app(settings.with_(index=index))) as client:
        yield client


@contextmanager
def running_server(settings: Settings, log: Path):
    """`kb serve` in a subprocess over `settings`, as `make run` starts it; yields its base URL."""
    port = _free_port()
    env = {**os.environ, "KB_INDEX": str(settings.index), "KB_ARTICLES": str(settings.articles)}
    with log.open("w") as out:
        proc = subprocess.Popen([sys.executable, "-m", "kb.cli", "serve", "--port", str(port)],
                                env=env, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            if proc.poll() is not None:
                pytest.fail(f"server exited: {log.read_text()}")
            try:
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                if time.monotonic() > deadline:
                    pytest.fail("server did not become healthy in 90 s")
                time.sleep(0.3)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=20)


@pytest.fixture(scope="session")
def live_server(kb_settings: Settings, tmp_path_factory):
    """The real server over the project's articles."""
    with running_server(kb_settings, tmp_path_factory.mktemp("server") / "server.log") as url:
        yield url
