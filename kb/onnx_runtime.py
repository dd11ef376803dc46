"""A sentence-transformers model run by ONNX Runtime: the same vectors, faster on a CPU (README, "How it works").

PyTorch's eager mode pays a fixed cost per operator that dominates a short query. sentence-transformers' own ONNX backend needs
`optimum-onnx`, whose releases on the package index require transformers < 4.58 while
sentence-transformers 6 requires transformers 5, so the model is exported here with
`torch.onnx.export` (tokenizer, pooling and normalisation stay those of sentence-transformers:
the whole module chain is traced). The export happens in memory at load time and is checked
against PyTorch on probe sentences; a model that does not export, or whose
ONNX vectors differ, stays on PyTorch.
"""

from __future__ import annotations

import io
import os
import warnings

import numpy as np

PROBES = ["disk latency spikes during backup", "Falha ao iniciar o serviço após a atualização",
          "Ошибка 0x80070005: доступ запрещён", "a"]
TOLERANCE = 1e-4  # largest allowed difference between a PyTorch and an ONNX vector component


class OnnxExportError(RuntimeError):
    """The model cannot be run by ONNX Runtime with the same results as PyTorch."""


class OnnxEncoder:
    """Texts -> sentence embeddings: the model's own tokenizer, then an ONNX Runtime session."""

    def __init__(self, session, input_names: list[str], preprocess):
        self.session = session
        self.input_names = input_names
        self.preprocess = preprocess

    @classmethod
    def export(cls, model) -> "OnnxEncoder":
        """Trace `model` (a SentenceTransformer) into ONNX and open a session on it."""
        import onnxruntime as ort
        import torch

        preprocess = getattr(model, "preprocess", None) or model.tokenize  # renamed in sentence-transformers 6
        features = preprocess(PROBES[:2])
        names = [n for n in ("input_ids", "attention_mask", "token_type_ids") if n in features]
        wrapper = _SentenceEmbedding(model, names).eval()
        buffer = io.BytesIO()
        try:
            with torch.no_grad(), warnings.catch_warnings():
                warnings.simplefilter("ignore")
                torch.onnx.export(
                    wrapper, tuple(features[n] for n in names), buffer, input_names=names,
                    output_names=["sentence_embedding"], opset_version=17, dynamo=False,
                    dynamic_axes={**{n: {0: "batch", 1: "tokens"} for n in names}, "sentence_embedding": {0: "batch"}},
                )
        except Exception as exc:  # the exporter raises many kinds for unsupported operators
            raise OnnxExportError(f"{exc.__class__.__name__}: {exc}") from exc
        options = ort.SessionOptions()
        options.intra_op_num_threads = torch.get_num_threads() or os.cpu_count() or 1
        options.inter_op_num_threads = 1
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")  # idle threads must not steal the web server's cores
        options.log_severity_level = 3
        session = ort.InferenceSession(buffer.getvalue(), options, providers=["CPUExecutionProvider"])
        encoder = cls(session, names, preprocess)
        encoder.check_against(model)
        return encoder

    def __call__(self, texts: list[str]) -> np.ndarray:
        """Embeddings (not normalised) for one batch of texts."""
        features = self.preprocess(texts)
        feed = {n: np.asarray(features[n], dtype=np.int64) for n in self.input_names}
        return self.session.run(None, feed)[0]

    def check_against(self, model) -> None:
        """Refuse to serve vectors that differ from PyTorch's: the index was built with them."""
        expected = model.encode(PROBES, convert_to_numpy=True, normalize_embeddings=False, show_progress_bar=False)
        difference = float(np.abs(self(PROBES) - expected).max())
        if difference > TOLERANCE:
            raise OnnxExportError(f"ONNX vectors differ from PyTorch by up to {difference:.2g}")


def _SentenceEmbedding(model, names: list[str]):
    """The model's whole module chain (transformer, pooling, ...) as a function of tensors, for tracing."""
    import torch

    class SentenceEmbedding(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.model = model

        def forward(self, *tensors):
            return self.model(dict(zip(names, tensors)))["sentence_embedding"]

    return SentenceEmbedding()
