"""The model runtimes: ONNX Runtime must give the vectors PyTorch gives, or step aside."""

from __future__ import annotations

import json
import os
import logging
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from kb.embedding import Embedder, ModelError
from kb.onnx_runtime import META_FILE, MODEL_FILE, QUERY_MODEL_FILE, OnnxEncoder, OnnxExportError, export_key, weights_of

TEXTS = [
    "ReFS volume fragmentation makes the backup server use ten times more CPU and RAM",
    "Falha 0x80070005 ao executar o trabalho de cópia de segurança",
    "Служба печати останавливается, событие 7031",
    "Eroare la actualizare: partiția rezervată de sistem este plină",
    "x",
    "word " * 600,  # longer than the model's 512 tokens: truncated the same way by both
]


def test_onnx_runtime_gives_the_pytorch_vectors(embedder: Embedder):
    assert embedder.runtime == "onnx" and embedder.onnx is not None  # the default really runs on ONNX Runtime
    torch_vectors = Embedder(runtime="torch").encode(TEXTS)
    onnx_vectors = embedder.encode(TEXTS)
    assert onnx_vectors.shape == torch_vectors.shape == (len(TEXTS), embedder.dimension)
    assert np.abs(onnx_vectors - torch_vectors).max() < 1e-4
    assert np.allclose(np.linalg.norm(onnx_vectors, axis=1), 1.0, atol=1e-5)
    # batches are sorted by length inside encode; the order of the result must still be the input order
    assert np.allclose(embedder.encode(TEXTS[::-1]), onnx_vectors[::-1], atol=1e-5)


def test_model_that_does_not_export_stays_on_pytorch(monkeypatch, caplog):
    def refuse(cls, model, folder):
        raise OnnxExportError("unsupported operator")

    monkeypatch.setattr(OnnxEncoder, "export", classmethod(refuse))
    fallback = Embedder()
    with caplog.at_level(logging.WARNING, logger="kb.embedding"):
        assert fallback.onnx is None
    assert "stays on PyTorch: unsupported operator" in caplog.text
    assert fallback.encode(TEXTS[:2]).shape == (2, fallback.dimension)


def test_onnx_vectors_that_differ_are_refused(embedder: Embedder):
    class Broken(OnnxEncoder):
        def _prepared(self, text: str) -> str:
            return "something else"

    encoder = embedder.onnx
    with pytest.raises(OnnxExportError, match="differ from PyTorch"):
        Broken(encoder.model_path, encoder.tokenizer, encoder.meta).check_against(embedder.model)


def test_the_export_is_made_once_and_loads_without_pytorch(embedder: Embedder, model_cache: Path):
    """A later process loads the export with ONNX Runtime and `tokenizers` only, and embeds and counts
    tokens exactly as the exporting one did."""
    embedder.onnx  # converted from the packages, then exported, into the session's model cache
    found = {p.name for p in model_cache.iterdir() if not p.name.startswith((".", "py3langid-"))}  # and the language detector
    own = {export_key(embedder.model_id, embedder.location), Path(embedder.location).name}
    english = {export_key(embedder.english.model_id, embedder.english.location)}  # once an index was built
    assert own <= found <= own | english
    script = ("import json, sys; from pathlib import Path; from kb.embedding import Embedder; "
              f"e = Embedder(models_dir=Path({str(model_cache)!r})); v = e.encode({TEXTS!r}); "
              "print(json.dumps({'torch': 'torch' in sys.modules, 'transformers': 'transformers' in sys.modules, "
              "'tokens': [e.count_tokens(t) for t in " + repr(TEXTS) + "], 'vectors': v.tolist(), 'dimension': e.dimension}))")
    out = json.loads(subprocess.run([sys.executable, "-c", script], check=True, capture_output=True, text=True).stdout)
    assert out["torch"] is False and out["transformers"] is False
    assert out["dimension"] == 384 and np.abs(np.array(out["vectors"]) - embedder.encode(TEXTS)).max() < 1e-5
    assert out["tokens"] == [len(embedder.model.tokenizer(t, add_special_tokens=False)["input_ids"]) for t in TEXTS]


@pytest.mark.parametrize("damaged", ["model.onnx", "model.onnx.weights", "tokenizer.json"])
def test_a_damaged_export_is_made_again(embedder: Embedder, tmp_path: Path, monkeypatch, caplog, damaged: str):
    """Also a file read only on first use (the float model, the tokenizer): the folder is checked when loaded."""
    embedder.onnx
    shutil.copytree(embedder.models_dir, tmp_path, dirs_exist_ok=True)  # times kept: the same export key
    folder = tmp_path / export_key(embedder.model_id, embedder.location)
    (folder / damaged).write_bytes(b"not a model")
    exported = []
    monkeypatch.setattr(OnnxEncoder, "export", classmethod(lambda cls, model, target: exported.append(target) or embedder.onnx))
    with caplog.at_level(logging.WARNING, logger="kb.embedding"):
        again = Embedder(models_dir=tmp_path)
        assert again.onnx is embedder.onnx
    assert exported == [folder] and not folder.exists() and "is unusable" in caplog.text


def test_an_export_of_the_former_format_is_upgraded_without_exporting_again(embedder: Embedder, tmp_path: Path, monkeypatch):
    """An export of format 1 (weights inside the model files, as earlier versions wrote them) becomes
    one whose weights ONNX Runtime maps, without PyTorch, with the same vectors; the old folder goes."""
    import onnx

    embedder.onnx
    current = embedder.models_dir / export_key(embedder.model_id, embedder.location)
    shutil.copytree(embedder.models_dir, tmp_path, dirs_exist_ok=True, ignore=lambda folder, names: [current.name])  # times kept: same keys
    former = tmp_path / export_key(embedder.model_id, embedder.location, format=1)
    former.mkdir()
    for path in current.iterdir():
        if path.name in (MODEL_FILE, QUERY_MODEL_FILE):
            onnx.save_model(onnx.load(str(path)), str(former / path.name))  # weights inside, as format 1
        elif not path.name.endswith(".weights") and path.name != META_FILE:
            shutil.copy2(path, former / path.name)
    meta = json.loads((current / META_FILE).read_text(encoding="utf-8"))
    meta = {**{k: v for k, v in meta.items() if k != "weights_bytes"}, "format": 1, "model_bytes": (former / MODEL_FILE).stat().st_size}
    (former / META_FILE).write_text(json.dumps(meta), encoding="utf-8")
    monkeypatch.setattr(OnnxEncoder, "export", classmethod(lambda cls, model, target: pytest.fail("exported again")))
    upgraded = Embedder(models_dir=tmp_path)
    assert np.abs(upgraded.encode(TEXTS) - embedder.encode(TEXTS)).max() < 1e-6
    assert np.abs(upgraded.encode_queries(TEXTS[:3]) - embedder.encode_queries(TEXTS[:3])).max() < 1e-6
    folder = tmp_path / current.name
    assert not former.exists() and weights_of(folder / MODEL_FILE).is_file() and weights_of(folder / QUERY_MODEL_FILE).is_file()
    assert (folder / MODEL_FILE).stat().st_size < 2**20  # the weights are no longer inside


def test_unknown_runtime_is_an_error():
    with pytest.raises(ModelError, match="runtime must be one of"):
        Embedder(runtime="tensorflow")


def cli_imports_torch(args: list[str], env: dict) -> tuple[bool, str]:
    """Run `kb ARGS` in a fresh interpreter; whether PyTorch was imported, and what it printed."""
    script = ("import sys; from kb.cli import app\n"
              "try:\n    app(sys.argv[1:], standalone_mode=False)\nfinally:\n"
              "    print('TORCH' if 'torch' in sys.modules else 'NO-TORCH', file=sys.stderr)")
    done = subprocess.run([sys.executable, "-c", script, *args], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stderr.strip().endswith("TORCH") and not done.stderr.strip().endswith("NO-TORCH"), done.stdout


def test_search_and_incremental_index_never_import_pytorch(kb_settings, embedder: Embedder, tmp_path: Path):
    """With the model's export present (made when the session's index was built), `kb search` and a
    `kb index` that embeds an edited article run on ONNX Runtime alone."""
    env = {**os.environ, "KB_INDEX": str(kb_settings.index), "KB_ARTICLES": str(kb_settings.articles)}
    torch, printed = cli_imports_torch(["search", "ups keeps dying"], env)
    assert not torch and "ups-battery-unexpected-shutdown.md" in printed
    articles = tmp_path / "articles"
    shutil.copytree(kb_settings.articles, articles)
    edited = articles / "articles" / "rdp-black-screen.md"
    env = {**env, "KB_ARTICLES": str(articles), "KB_INDEX": str(tmp_path / "index"), "KB_EMBEDDING_CACHE": str(kb_settings.cache_db)}
    assert not cli_imports_torch(["index", "--quiet"], env)[0]  # every vector from the embedding cache
    edited.write_text(edited.read_text(encoding="utf-8") + "\n## Also\n\nA new paragraph nobody embedded before.\n", encoding="utf-8")
    assert not cli_imports_torch(["index", "--quiet"], env)[0]  # the new passage embedded by ONNX Runtime


def test_queries_run_on_an_int8_model_that_agrees_with_the_float_one(embedder: Embedder, model_cache: Path):
    queries = ["ups keeps dying", "job fails with 0x80070005", "falha ao iniciar o serviço", "ошибка 9002 журнал транзакций"]
    int8 = embedder.encode_queries(queries)
    float32 = Embedder(models_dir=model_cache, int8_queries=False).encode_queries(queries)
    folder = model_cache / export_key(embedder.model_id, embedder.location)
    assert (folder / QUERY_MODEL_FILE).exists() and embedder.onnx.query_session is not embedder.onnx.session
    assert np.allclose(np.linalg.norm(int8, axis=1), 1.0, atol=1e-5)
    agreement = (int8 * float32).sum(axis=1)
    assert agreement.min() > 0.98 and agreement.max() < 0.99999  # close, and really the int8 model
    assert not np.allclose(embedder.encode(queries[:1]), float32[:1], atol=1e-3)  # passages get E5's other prompt


def test_an_int8_model_that_disagrees_is_refused_once_and_for_all(embedder: Embedder, tmp_path: Path, monkeypatch):
    import kb.onnx_runtime as onnx_runtime

    embedder.onnx
    shutil.copytree(embedder.models_dir, tmp_path, dirs_exist_ok=True, ignore=shutil.ignore_patterns(QUERY_MODEL_FILE + "*"))
    folder = tmp_path / export_key(embedder.model_id, embedder.location)
    monkeypatch.setattr(onnx_runtime, "QUERY_AGREEMENT", 1.01)  # no quantised model can agree that well
    first = Embedder(models_dir=tmp_path)
    assert first.onnx.query_session is first.onnx.session  # queries stay float
    assert (folder / (QUERY_MODEL_FILE + ".refused")).exists() and not (folder / QUERY_MODEL_FILE).exists()
    monkeypatch.setattr(onnx_runtime, "_quantize", lambda *a: pytest.fail("quantised again"))
    again = Embedder(models_dir=tmp_path)
    assert again.onnx.query_session is again.onnx.session


def test_a_batch_is_cut_and_padded_as_the_tokenizers_own_truncation_does(embedder: Embedder):
    """One untruncated tokenizer serves counting and encoding: `batch` cuts and pads like `tokenizers`."""
    from tokenizers import Tokenizer

    encoder = embedder.onnx
    reference = Tokenizer.from_file(str(encoder.model_path.parent / "tokenizer.json"))
    reference.enable_truncation(encoder.max_tokens)
    reference.enable_padding(pad_id=encoder.meta["pad_id"], pad_token=encoder.meta["pad_token"])
    texts = ["", "0x80070005", "backup job fails with access denied", "falhas de energia no-break\n" * 200,
             "рендеринг шрифтов " * 600, "x" * 4000]
    want = reference.encode_batch([encoder._prepared(t) for t in texts])
    got = encoder.batch(texts)
    assert got["input_ids"].shape[1] == encoder.max_tokens  # the long ones were cut
    assert (got["input_ids"] == np.array([e.ids for e in want])).all()
    assert (got["attention_mask"] == np.array([e.attention_mask for e in want])).all()
    assert encoder.count_tokens("рендеринг шрифтов " * 600) > encoder.max_tokens  # counting is not cut


def test_the_kb_program_prints_every_result_before_it_exits_early(kb_settings, tmp_path: Path):
    """`kb search` and `kb similar` end with os._exit (kb.cli.exit_without_teardown): piped output
    must still arrive whole, and the exit status be 0."""
    env = {**os.environ, "KB_INDEX": str(kb_settings.index), "KB_ARTICLES": str(kb_settings.articles)}
    run = [sys.executable, "-m", "kb.cli"]
    found = subprocess.run([*run, "search", "ups keeps dying", "-k", "3", "--json"], capture_output=True, text=True, env=env, timeout=120)
    assert found.returncode == 0, found.stderr
    assert "ups-battery-unexpected-shutdown.md" in json.loads(found.stdout)[0]["id"]
    paste = tmp_path / "paste.log"
    paste.write_text("The Print Spooler service terminated unexpectedly. Event ID 7031\n", encoding="utf-8")
    similar = subprocess.run([*run, "similar", str(paste), "-k", "2"], capture_output=True, text=True, env=env, timeout=120)
    assert similar.returncode == 0, similar.stderr
    assert "matched on" in similar.stdout and similar.stdout.count("\n") >= 4


def test_e5s_tokenizer_loads_as_its_common_script_subset_with_the_same_ids(embedder: Embedder, kb_settings):
    """e5's 250,002 pieces load as the 147,806 of the team's scripts (kb.tokenizing); every text of
    articles/ (five languages) and a text in another script get the whole tokenizer's ids."""
    from tokenizers import Tokenizer

    tokenizer = embedder.onnx.tokenizer
    if "e5" not in embedder.model_id:
        pytest.skip("the default model's vocabulary is the large one")
    assert tokenizer._subset is not None and tokenizer._subset.get_vocab_size() < 200_000
    whole = Tokenizer.from_file(str(tokenizer.path))
    whole.no_truncation()  # tokenizer.json truncates at 512 tokens; ModelTokenizer leaves that to the encoder
    whole.no_padding()
    texts = [p.read_text(encoding="utf-8") for p in sorted(kb_settings.articles.rglob("*.md"))]
    texts += [line for text in texts for line in text.splitlines() if line.strip()]
    assert sum(map(tokenizer._fits, texts)) > 0.95 * len(texts)
    texts.append("Ошибка 0x80070005 在服务器上 🙂")
    assert [ids for ids, _, _ in tokenizer.encode_batch(texts)] == [e.ids for e in whole.encode_batch(texts)]
    assert [tokenizer.count(t) for t in texts[:50]] == [len(e.ids) for e in whole.encode_batch(texts[:50], add_special_tokens=False)]


def test_queries_are_tokenized_from_their_own_pieces_without_the_documents_tokenizer(embedder: Embedder, kb_settings):
    """A process that only embeds queries never loads e5's document tokenizer (kb.tokenizing.QueryTokenizer),
    and every text of articles/ and one in another script get the whole tokenizer's ids."""
    from tokenizers import Tokenizer

    from kb.tokenizing import QueryTokenizer

    if "e5" not in embedder.model_id:
        pytest.skip("the default model's vocabulary is the large one")
    embedder.onnx
    fresh = Embedder(models_dir=embedder.models_dir)
    assert np.abs(fresh.encode_queries(TEXTS[:3]) - embedder.encode_queries(TEXTS[:3])).max() < 1e-6
    assert fresh.onnx._tokenizer._value is None and isinstance(fresh.onnx.query_tokenizer, QueryTokenizer)
    whole = Tokenizer.from_file(str(fresh.onnx._tokenizer_path))
    whole.no_truncation()
    whole.no_padding()
    texts = [line for p in sorted(kb_settings.articles.rglob("*.md")) for line in p.read_text(encoding="utf-8").splitlines() if line.strip()]
    texts += ["Ошибка 0x80070005 在服务器上 🙂", "ＢＡＣＫＵＰ", "x<mask>y", "foo <s>bar", "a</s>b c", "hello <mask>world"]
    assert [ids for ids, _, _ in fresh.onnx.query_tokenizer.encode_batch(texts)] == [e.ids for e in whole.encode_batch(texts)]
