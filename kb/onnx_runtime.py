"""A sentence-transformers model run by ONNX Runtime: the same vectors, faster on a CPU, and without
PyTorch once exported (README, "How it works").

PyTorch's eager mode pays a fixed cost per operator that dominates a short query, and importing it
and loading the model costs seconds per process. So the model is exported once, with
`torch.onnx.export` (the whole module chain is traced: transformer, pooling, normalisation layers),
into a folder keyed by the model's identity and files (`export_key`): `model.onnx`, its weights in
`model.onnx.weights` (see `_map_weights`), the fast tokenizer's `tokenizer.json` and `encoder.json`. Before the folder is published it is loaded the
way every later process loads it (ONNX Runtime and `tokenizers` only) and checked against PyTorch on
probe sentences; a model that does not export, or whose ONNX vectors differ, stays on PyTorch.
(sentence-transformers' own ONNX backend needs `optimum-onnx`, whose releases on the package index
require transformers < 4.58 while sentence-transformers 6 requires transformers 5.)
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
import threading
import warnings
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import numpy as np

PROBES = ["disk latency spikes during backup", "Falha ao iniciar o serviço após a atualização",
          "Ошибка 0x80070005: доступ запрещён", "a", "  UPS Keeps DYING\n", "word " * 400]
TOLERANCE = 1e-4  # largest allowed difference between a PyTorch and an ONNX vector component
FORMAT = 2  # of an export folder; a new format exports again, except from format 1 (`upgrade`)
WEIGHTS = ".weights"
"""Suffix of the file that holds a model file's weights (`_map_weights`)."""
log = logging.getLogger("kb.embedding")
MODEL_FILE, TOKENIZER_FILE, META_FILE = "model.onnx", "tokenizer.json", "encoder.json"
QUERY_MODEL_FILE = "model.query-int8.onnx"
QUERY_AGREEMENT = 0.98
"""Least cosine between an int8 query vector and its float one on every probe; below it queries stay
float. Measured with MiniLM: 0.993-0.996, MRR@10 within 0.001 of float on dev and msdocs (README)."""


class OnnxExportError(RuntimeError):
    """The model cannot be run by ONNX Runtime with the same results as PyTorch."""


class OnnxEncoder:
    """Texts -> sentence embeddings with ONNX Runtime and the fast tokenizer: no PyTorch."""

    def __init__(self, model_path: Path, tokenizer, meta: dict, int8_folder: Path | None = None,
                 query_session: Future | None = None, session: Future | None = None):
        """`tokenizer`: a kb.tokenizing.ModelTokenizer, or the tokenizer.json to load one from on first
        use. `query_session`, `session`: the int8 query session and the float one being loaded (see
        `load`), or None to load each on first use."""
        self.model_path = model_path
        self._session = _Loading(session)
        self._query_session = _Loading(query_session)  # a warm-up and a first query may ask at once
        self._int8_folder = int8_folder  # where the int8 twin for queries is (made on first use), or None: float
        self._tokenizer_path = tokenizer if isinstance(tokenizer, Path) else None
        self._tokenizer = _Loading(None if isinstance(tokenizer, Path) else tokenizer)
        self._query_tokenizer = _Loading()
        self.meta = meta
        self.input_names: list[str] = meta["input_names"]
        self.dimension: int = meta["dimension"]
        self.max_tokens: int = meta["max_tokens"]

    @classmethod
    def load(cls, folder: Path, int8_queries: bool = False, documents: bool = False, queries: bool = False) -> "OnnxEncoder":
        """An exported model (`export`), with ONNX Runtime and `tokenizers` only (each tokenizer loads on
        first use: queries and documents have their own, see `tokenizer`); with `int8_queries`,
        queries run on its int8 quantisation (made on the first query: no PyTorch needed). With
        `documents` the float model, with `queries` the query model, starts loading now, in the
        background (a build that loaded the query model too took a core from it for 0.6 s)."""
        meta = json.loads((folder / META_FILE).read_text(encoding="utf-8"))
        if meta.get("format") != FORMAT:
            raise OnnxExportError(f"{folder} is an export of format {meta.get('format')}, not {FORMAT}")
        whole = ((folder / MODEL_FILE, meta.get("model_bytes")), (weights_of(folder / MODEL_FILE), meta.get("weights_bytes")),
                 (folder / TOKENIZER_FILE, meta.get("tokenizer_bytes")))
        for path, written in whole:  # the float model and the tokenizer load on first use: check they are whole now
            size = path.stat().st_size if path.exists() else None
            if size != written:
                raise OnnxExportError(f"{path} has {size} bytes, the export wrote {written}")
        loading = None
        if queries and int8_queries and (folder / QUERY_MODEL_FILE).exists():  # ONNX Runtime frees the GIL while it
            loading = _in_background(_session, folder / QUERY_MODEL_FILE, QUERY_THREADS)  # loads a model: the caller goes on
        floating = _in_background(_session, folder / MODEL_FILE) if documents else None
        return cls(folder / MODEL_FILE, folder / TOKENIZER_FILE, meta, int8_folder=folder if int8_queries else None,
                   query_session=loading, session=floating)

    @classmethod
    def export(cls, model, folder: Path) -> "OnnxEncoder":
        """Trace `model` (a SentenceTransformer) into `folder`, check it against PyTorch, and load it.
        The folder appears whole or not at all: the export is written beside it and renamed."""
        folder.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}-", dir=folder.parent))
        try:
            staging.chmod(0o755)  # mkdtemp makes it private; an export is shared like the index
            _write_export(model, staging)
            encoder = cls.load(staging)
            encoder.check_against(model)
            try:
                staging.rename(folder)
            except OSError:  # another process published the same export first: same bytes, keep theirs
                pass
            return cls.load(folder) if folder.exists() else encoder
        finally:
            shutil.rmtree(staging, ignore_errors=True)

    @property
    def session(self):
        """The float model, loaded on first use (or started by `load_session_soon`): a server that only
        encodes queries on the int8 twin never holds it (multilingual-e5-small: about 470 MB)."""
        return self._session.get(lambda: _session(self.model_path))

    def load_session_soon(self) -> None:
        """Start loading the float model in the background, if it is not loaded or loading."""
        self._session.start(lambda: _session(self.model_path))

    @property
    def tokenizer(self):
        """The documents' tokenizer (kb.tokenizing.ModelTokenizer), loaded on first use: a process that
        only embeds queries never holds it (e5's common-script subset: 0.45 s, 148 MiB)."""
        from kb.tokenizing import ModelTokenizer

        return self._tokenizer.get(lambda: ModelTokenizer.load(self._tokenizer_path))

    @property
    def query_tokenizer(self):
        """The queries' tokenizer: for a large Unigram vocabulary, one that loads in milliseconds
        (kb.tokenizing.QueryTokenizer), else the documents' one."""
        from kb.tokenizing import QueryTokenizer

        return self._query_tokenizer.get(lambda: (QueryTokenizer.load(self._tokenizer_path) if self._tokenizer_path else None)
                                         or self.tokenizer)

    def __call__(self, texts: list[str], session=None, queries: bool = False) -> np.ndarray:
        """Embeddings (not normalised) for one batch of texts (by `session`, default the float model);
        `queries`: tokenized by the queries' tokenizer (the same ids)."""
        columns = self.batch(texts, queries)
        return (session or self.session).run(None, {n: columns[n] for n in self.input_names})[0]

    def batch(self, texts: list[str], queries: bool = False) -> dict[str, np.ndarray]:
        """The model's inputs for `texts` as sentence-transformers makes them: each cut to `max_tokens`
        as the tokenizer's own truncation cuts (the text's end goes, the closing special tokens stay),
        then padded on the right to the longest. The tokenizer itself does neither, so one copy of it
        also counts untruncated (a copy of e5's 250,000-piece vocabulary took 0.93 s)."""
        rows = [_cut(ids, types, special, self.max_tokens)
                for ids, types, special in (self.query_tokenizer if queries else self.tokenizer).encode_batch([self._prepared(t) for t in texts])]
        width = max((len(ids) for ids, _ in rows), default=0)
        out = {"input_ids": np.full((len(rows), width), self.meta["pad_id"], dtype=np.int64),
               "attention_mask": np.zeros((len(rows), width), dtype=np.int64),
               "token_type_ids": np.zeros((len(rows), width), dtype=np.int64)}
        for i, (ids, types) in enumerate(rows):
            out["input_ids"][i, : len(ids)] = ids
            out["attention_mask"][i, : len(ids)] = 1
            out["token_type_ids"][i, : len(ids)] = types
        return out

    @property
    def query_session(self):
        """The session queries run on: the int8 twin, loaded (and made, the first time) on first use,
        so a process that only builds never holds it (about 220 MiB); else the float model."""
        return self._query_session.get(lambda: (_query_session(self._int8_folder, self) if self._int8_folder else None) or self.session)

    def queries(self, texts: list[str]) -> np.ndarray:
        """Embeddings of query texts: by the int8 model when it was made, about twice as fast."""
        return self(texts, self.query_session, queries=True)

    def count_tokens(self, text: str) -> int:
        """Word pieces of `text` without special tokens, untruncated (chunking sizes passages with it)."""
        return self.tokenizer.count(self._prepared(text))

    def _prepared(self, text: str) -> str:
        """The text as sentence-transformers (6) hands it to the tokenizer: lower-cased if the model says
        so, not stripped (a SentencePiece tokenizer makes tokens of outer spaces and line breaks)."""
        return text.lower() if self.meta["do_lower_case"] else text

    def check_against(self, model) -> None:
        """Refuse to serve vectors that differ from PyTorch's: the index was built with them."""
        expected = model.encode(PROBES, convert_to_numpy=True, normalize_embeddings=False, show_progress_bar=False)
        difference = float(np.abs(self(PROBES) - expected).max())
        if difference > TOLERANCE:
            raise OnnxExportError(f"ONNX vectors differ from PyTorch by up to {difference:.2g}")


QUERY_THREADS = 1
"""Threads of the query model. One query is too small to share: on 2 cores, multilingual-e5-small's
int8 query took a median 4.4-5.0 ms on one thread against 5.5-5.9 ms on two, and half the CPU
(bench/query_encode.py). Documents are embedded in batches on every core."""


class _Loading:
    """A session (or tokenizer) loaded once: on first use (`get`), or begun earlier in the background
    (`start`, or a Future given at creation) and waited for on first use."""

    def __init__(self, loading: Future | None = None):
        self._value = loading  # None, a Future, or the session
        self._lock = threading.Lock()

    def get(self, make):
        if self._value is None or isinstance(self._value, Future):
            with self._lock:
                if isinstance(self._value, Future):
                    self._value = self._value.result()
                if self._value is None:
                    self._value = make()
        return self._value

    def start(self, make) -> None:
        with self._lock:
            if self._value is None:
                self._value = _in_background(make)


def _in_background(fn, *args) -> Future:
    """`fn(*args)` in a thread of its own: its result, when asked for."""
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="kb-onnx-load")
    try:
        return pool.submit(fn, *args)
    finally:
        pool.shutdown(wait=False)  # the thread ends with its one task


def _session(path: Path, threads: int | None = None):
    """A CPU session of the model at `path` on `threads` threads (default: every core this process may use)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads or (len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)
    options.inter_op_num_threads = 1
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")  # idle threads must not steal the web server's cores
    options.log_severity_level = 3
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def _query_session(folder: Path, encoder: OnnxEncoder):
    """The int8 query model's session: dynamic per-channel quantisation of the float model, made and
    checked against the float vectors on the probes once, then loaded as it is. One that disagrees is
    kept as `…refused`, so later processes neither load it nor make it again (None: queries stay float)."""
    target, refused = folder / QUERY_MODEL_FILE, folder / (QUERY_MODEL_FILE + ".refused")
    if refused.exists():
        return None
    if target.exists():
        return _session(target, QUERY_THREADS)
    staging = Path(tempfile.mkdtemp(prefix=f".{QUERY_MODEL_FILE}-", dir=folder))
    try:
        _quantize(folder / MODEL_FILE, staging / QUERY_MODEL_FILE)
        session = _session(staging / QUERY_MODEL_FILE, QUERY_THREADS)
        agreement = _cosines(encoder(PROBES), encoder(PROBES, session))
        if agreement.min() >= QUERY_AGREEMENT:
            _move_model(staging / QUERY_MODEL_FILE, target)
        else:
            refused.touch()
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    if agreement.min() < QUERY_AGREEMENT:
        log.warning("int8 query model of %s agrees only to %.3f with the float one: queries stay float", folder, agreement.min())
        return None
    return session


def _quantize(source: Path, target: Path) -> None:
    """int8 weights (per channel) of `source`, written to `target` and its mapped weights (the
    pre-processed model goes in a scratch folder)."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from onnxruntime.quantization.shape_inference import quant_pre_process

    staging = Path(tempfile.mkdtemp(prefix=".int8-", dir=target.parent))
    quiet = logging.getLogger().level
    try:
        logging.getLogger().setLevel(logging.ERROR)  # the quantiser warns through the root logger
        # the pre-processor copies the model file elsewhere without its weights file: give it one with them inside
        onnx.save_model(onnx.load(str(source)), str(staging / "float.onnx"))
        quant_pre_process(str(staging / "float.onnx"), str(staging / "pre.onnx"), skip_symbolic_shape=True)
        quantize_dynamic(str(staging / "pre.onnx"), str(staging / "int8.onnx"), per_channel=True, weight_type=QuantType.QInt8)
        _map_weights(staging / "int8.onnx", target)
    finally:
        logging.getLogger().setLevel(quiet)
        shutil.rmtree(staging, ignore_errors=True)


def _cut(ids: list[int], types: list[int], special: list[int], limit: int) -> tuple[list[int], list[int]]:
    """A tokenized text of at most `limit` tokens: its content cut short, the special tokens that close
    it kept (what `tokenizers`' truncation does before its post-processor adds them)."""
    if len(ids) <= limit:
        return ids, types
    closing = _trailing(special)
    keep = limit - closing
    return ids[:keep] + ids[len(ids) - closing :], types[:keep] + types[len(types) - closing :]


def _trailing(special: list[int]) -> int:
    """How many special tokens end the sequence."""
    count = 0
    for flag in reversed(special):
        if not flag:
            break
        count += 1
    return count


def _cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(axis=1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


def export_key(model_id: str, location: str, format: int = FORMAT) -> str:
    """Names an export (of `format`): the model's identity, and the name, size and time of each of
    its files when it is a folder, so replacing the weights exports again. Cheap: no file is read."""
    digest = hashlib.sha256(f"{format}\0{model_id}".encode())
    root = Path(location)
    if root.is_dir():
        for path in sorted(p for p in root.rglob("*") if p.is_file()):
            stat = path.stat()
            digest.update(f"\0{path.relative_to(root)}\0{stat.st_size}\0{stat.st_mtime_ns}".encode())
    return digest.hexdigest()[:16]


def _write_export(model, folder: Path) -> None:
    """model.onnx, tokenizer.json and encoder.json of a SentenceTransformer."""
    import torch

    tokenizer = model.tokenizer
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is None:
        raise OnnxExportError("the model's tokenizer has no fast (tokenizers) version")
    preprocess = getattr(model, "preprocess", None) or model.tokenize  # renamed in sentence-transformers 6
    features = preprocess(PROBES[:2])
    names = [n for n in ("input_ids", "attention_mask", "token_type_ids") if n in features]
    wrapper = _SentenceEmbedding(model, names).eval()
    try:
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                wrapper, tuple(features[n] for n in names), str(folder / MODEL_FILE), input_names=names,
                output_names=["sentence_embedding"], opset_version=17, dynamo=False,
                dynamic_axes={**{n: {0: "batch", 1: "tokens"} for n in names}, "sentence_embedding": {0: "batch"}},
            )
    except Exception as exc:  # the exporter raises many kinds for unsupported operators
        raise OnnxExportError(f"{exc.__class__.__name__}: {exc}") from exc
    _map_in_place(folder / MODEL_FILE)
    backend.save(str(folder / TOKENIZER_FILE))
    dimension = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
    meta = {"format": FORMAT, "input_names": names, "dimension": int(dimension()),
            "max_tokens": int(model.max_seq_length or 256), "do_lower_case": bool(getattr(model[0], "do_lower_case", False)),
            "pad_id": int(tokenizer.pad_token_id or 0), "pad_token": str(tokenizer.pad_token or "[PAD]"),
            "prompts": dict(getattr(model, "prompts", None) or {})}
    _write_meta(folder, meta)


def _write_meta(folder: Path, meta: dict) -> None:
    """encoder.json, with the sizes of the float model's files and the tokenizer's (checked when the
    folder is loaded: both are read on first use, and a damaged one must make the export again)."""
    meta = {**meta, "model_bytes": (folder / MODEL_FILE).stat().st_size,
            "weights_bytes": weights_of(folder / MODEL_FILE).stat().st_size,
            "tokenizer_bytes": (folder / TOKENIZER_FILE).stat().st_size}
    (folder / META_FILE).write_text(json.dumps(meta, indent=1), encoding="utf-8")


def weights_of(model_file: Path) -> Path:
    """The file of a model file's weights."""
    return model_file.with_name(model_file.name + WEIGHTS)


def _map_weights(source: Path, target: Path) -> None:
    """Write the model at `source` to `target`, its weights to `weights_of(target)` (which must not
    exist: `onnx` appends to it). ONNX Runtime maps weights kept in a file of their own into memory
    instead of copying them, and a page is read only when used: most of a multilingual model is its
    word-piece table (e5: 96M of 118M weights), of which a text uses a few rows. Measured with e5 on
    2 cores: the float model loaded in 0.23 s instead of 1.27 s, in 143 MiB of peak RSS instead of
    873; the int8 query model in 0.14 s instead of 0.39 s, holding 82 MiB of RSS instead of 198."""
    import onnx

    onnx.save_model(onnx.load(str(source)), str(target), save_as_external_data=True, all_tensors_to_one_file=True,
                    location=weights_of(target).name, size_threshold=1024)
    weights_of(target).chmod(0o644)  # shared like the model file (onnx writes it private)


def _map_in_place(model_file: Path) -> None:
    """`_map_weights` of a model file in a folder no other process reads (a staging folder)."""
    scratch = Path(tempfile.mkdtemp(prefix=".map-", dir=model_file.parent))
    try:
        _map_weights(model_file, scratch / model_file.name)
        _move_model(scratch / model_file.name, model_file)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _move_model(source: Path, target: Path) -> None:
    """Move a model file and its weights onto `target`, the weights first: a model file is never
    without the weights it names."""
    os.replace(weights_of(source), weights_of(target))
    os.replace(source, target)


def upgrade(previous: Path, folder: Path) -> bool:
    """Make the export `folder` from `previous`, the same model's export of format 1 (weights inside
    the model files), without PyTorch: its model files are written with mapped weights, every other
    file is copied, and `folder` appears whole, as an export does; `previous` is then removed. False
    when there is no such export or it cannot be upgraded (it is then exported again)."""
    try:
        meta = json.loads((previous / META_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    if meta.get("format") != 1 or not (previous / MODEL_FILE).is_file() or (previous / MODEL_FILE).stat().st_size != meta.get("model_bytes"):
        return False  # not a whole export of format 1
    staging = None
    try:
        staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}-", dir=folder.parent))
        staging.chmod(0o755)
        for path in previous.iterdir():
            if path.name in (MODEL_FILE, QUERY_MODEL_FILE):
                _map_weights(path, staging / path.name)
            elif path.name.endswith(".refused"):
                (staging / path.name).touch()  # format 1 kept the refused int8 model itself as the marker
            elif path.is_file() and path.name != META_FILE and not path.name.startswith("."):  # not another process's staging
                shutil.copy2(path, staging / path.name)
        _write_meta(staging, {**meta, "format": FORMAT})
        staging.rename(folder)
    except OSError as exc:
        if not folder.is_dir():  # else another process upgraded it first
            log.warning("export %s cannot be upgraded (%s): exporting the model again", previous, exc)
            return False
    except Exception as exc:  # onnx raises many kinds for a damaged model file
        log.warning("export %s cannot be upgraded (%s: %s): exporting the model again", previous, exc.__class__.__name__, exc)
        return False
    finally:
        if staging is not None:
            shutil.rmtree(staging, ignore_errors=True)
    shutil.rmtree(previous, ignore_errors=True)
    return True


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
