"""The model runtimes: ONNX Runtime must give the vectors PyTorch gives, or step aside."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from kb.embedding import Embedder, ModelError
from kb.onnx_runtime import OnnxEncoder, OnnxExportError

TEXTS = [
    "ReFS volume fragmentation makes the backup server use ten times more CPU and RAM",
    "Falha 0x80070005 ao executar o trabalho de cópia de segurança",
    "Служба печати останавливается, событие 7031",
    "Eroare la actualizare: partiția rezervată de sistem este plină",
    "x",
    "word " * 400,  # longer than the model's 256 tokens: truncated the same way by both
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
    def refuse(cls, model):
        raise OnnxExportError("unsupported operator")

    monkeypatch.setattr(OnnxEncoder, "export", classmethod(refuse))
    fallback = Embedder()
    with caplog.at_level(logging.WARNING, logger="kb.embedding"):
        assert fallback.onnx is None
    assert "stays on PyTorch: unsupported operator" in caplog.text
    assert fallback.encode(TEXTS[:2]).shape == (2, fallback.dimension)


def test_onnx_vectors_that_differ_are_refused(embedder: Embedder):
    encoder = embedder.onnx
    broken = OnnxEncoder(encoder.session, encoder.input_names, lambda texts: encoder.preprocess(["something else"] * len(texts)))
    with pytest.raises(OnnxExportError, match="differ from PyTorch"):
        broken.check_against(embedder.model)


def test_unknown_runtime_is_an_error():
    with pytest.raises(ModelError, match="runtime must be one of"):
        Embedder(runtime="tensorflow")
