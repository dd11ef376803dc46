"""Every language the team writes in: the default multilingual model and the stemmed lexical column,
over the project's real articles (session index, `kb_settings`)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from kb.config import SearchSettings
from kb.search import Searcher

SPOOLER_RU = "cases/spooler-padaet-posle-drajvera-mfu.md"
NOBREAK_PT = "cases/nobreak-descarrega-desliga-sala-servidores.md"


@pytest.fixture(scope="module")
def searcher(kb_settings, embedder) -> Searcher:
    return Searcher.open(kb_settings.index, embedder)


def test_a_russian_query_finds_the_russian_case_by_inflected_forms(searcher: Searcher):
    """None of "рендеринг", "шрифты", "бухгалтерия" is in the case (it says "рендеринга", "шрифтами",
    "бухгалтерии"): only the Russian stems meet, and they rank it first lexically and among the first
    three in hybrid search (the vectors tell little from three bare keywords)."""
    query = "рендеринг шрифты бухгалтерия"
    assert [r.doc_id for r in searcher.rank(query, mode="lexical")][:1] == [SPOOLER_RU]
    assert SPOOLER_RU in [r.doc_id for r in searcher.rank(query)][:3]
    exact_only = searcher.with_weights(SearchSettings(stem_field=0.0))
    assert SPOOLER_RU not in [r.doc_id for r in exact_only.rank(query, mode="lexical")]


def test_an_english_query_finds_the_portuguese_case_in_the_top_three(searcher: Searcher):
    """The symptom in English; the answer is a case written in Portuguese (an English UPS article exists too)."""
    ranked = [r.doc_id for r in searcher.rank("servers shut down every night because the UPS battery drains")]
    assert NOBREAK_PT in ranked[:3]


def test_accents_are_optional(searcher: Searcher):
    with_accents = [r.doc_id for r in searcher.rank("resolução de nomes intermitente", mode="lexical")]
    without = [r.doc_id for r in searcher.rank("resolucao de nomes intermitente", mode="lexical")]
    assert without == with_accents and without[0] == "articles/dns-resolucao-intermitente.md"


def test_the_default_model_loads_and_embeds_with_the_network_disabled(embedder, model_cache):
    """A process whose every socket connection fails (and hub access not forbidden by HF_HUB_OFFLINE)
    loads the default model from the packages' files: ONNX Runtime for serving, PyTorch too."""
    script = (
        "import json, socket, sys\n"
        "def refuse(*a, **k):\n    raise OSError('network disabled by the test')\n"
        "socket.socket.connect = refuse; socket.create_connection = refuse; socket.getaddrinfo = refuse\n"
        "from pathlib import Path\nfrom kb.embedding import Embedder\n"
        f"cache = Path({str(model_cache)!r})\n"
        "onnx = Embedder(models_dir=cache).encode_queries(['falha no backup'])\n"
        "torch = Embedder(models_dir=cache, runtime='torch').encode_queries(['falha no backup'])\n"
        "print(json.dumps({'cosine': float((onnx * torch).sum()), 'dimension': int(onnx.shape[1])}))\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("HF_")}
    embedder.onnx  # the session's export exists
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out["dimension"] == 384 and out["cosine"] > 0.98  # int8 ONNX query against float PyTorch
