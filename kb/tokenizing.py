"""A model's tokenizer, quick to load however large its vocabulary.

multilingual-e5-small's tokenizer has 250,002 SentencePiece (Unigram) pieces: `tokenizers` took
0.9 s to load it, holding the GIL, and 0.3 s to free it, most of a `kb search`. A Unigram tokenizer
segments a text into pieces that occur in it, so a piece with a character the text lacks is never
chosen. The pieces written only in the scripts a support team writes (`COMMON`: Latin, Greek,
Cyrillic, punctuation and symbols; 147,806 of e5's pieces) therefore make a tokenizer that segments
any text of those characters exactly as the whole one does, once its ids are mapped back (the
lowest-scoring piece is kept too: an unknown character's score derives from it). It loads in about
0.45 s. A text with another character (CJK, Arabic, an emoji) is tokenized by the whole tokenizer,
loaded when first needed.

The subset is made once beside the export (`tokenizer.common-<key>.json` and the original id of each
of its pieces in `tokenizer.common-<key>-ids.npy`; the key follows `COMMON`), checked against the
whole tokenizer on probe texts, and refused (`….refused`, never made again) if any differs; one that
cannot be made or read leaves the whole tokenizer serving. Smaller vocabularies (MiniLM's 30,522
WordPiece pieces, 0.05 s) load whole.

Queries need neither: `QueryTokenizer` tokenizes a short text with a Unigram model of only the
pieces it contains, found in a memory-mapped sorted list of every piece; it loads in milliseconds
and holds a few MiB, for a text in any script. Documents keep the subset (per text, the query
tokenizer costs about 0.7 ms against 0.1 ms).
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import os
import re
import tempfile
import threading
from pathlib import Path

import numpy as np

log = logging.getLogger("kb.embedding")
FORMAT = 1  # of the subset's files
SUBSET_ABOVE = 100_000
"""Pieces above which a Unigram vocabulary is loaded as its common-script subset."""
PROBES = [
    "Backup job fails with 0x80070005 (E_ACCESSDENIED) after the password rotation.",
    "Falha ao iniciar o serviço após a atualização; partição EFI cheia.",
    "Ошибка 0x80070005: доступ запрещён, служба не запускается.",
    "El servidor de copias no arranca: «acceso denegado» — véase KB5034441.",
    "Serviciul nu pornește după actualizare: ș, ț, ă, î, â; ş ţ.",
    "  UPS Keeps DYING\n\n  since 03/11 … “quoted” ‘text’ <mask> €100 № 5 ½",
    "naïve café coöperate Æsir straße ŁÓDŹ ǅ ȘȚ ſ ƒ; 500 µs → 2 ms ≥ 1 ™ © ° ± × ½ ① ■ ✓ Ω",
    "Πρόβλημα σύνδεσης: ο διακομιστής δεν αποκρίνεται. ΑΒΓ αβγ ς",
]
"""Texts the subset must tokenize exactly as the whole tokenizer does before it is used."""


COMMON = ((0x0000, 0x0250),  # Latin: ASCII, Latin-1, Extended-A and -B (Romanian ș ț)
          (0x0370, 0x0530),  # Greek (µs normalises to μs) and Cyrillic
          (0x2000, 0x2070), (0x20A0, 0x20D0),  # general punctuation, currency signs
          (0x2100, 0x2300),  # letterlike symbols (™), number forms, arrows, mathematical operators
          (0x2460, 0x27C0))  # enclosed numbers, box drawing (and SentencePiece's ▁), shapes, symbols, dingbats
"""Code point ranges of the subset's characters: 147,806 of e5's 250,002 pieces, loaded in 0.43-0.48 s.
The subset's file names carry a hash of them, so a change makes a new subset."""
_OUTSIDE = re.compile("[^" + "".join(f"\\U{start:08x}-\\U{end - 1:08x}" for start, end in COMMON) + "]")
_KEY = hashlib.sha256(f"{FORMAT}{COMMON}".encode()).hexdigest()[:8]
SUBSET_FILE, IDS_FILE = f"tokenizer.common-{_KEY}.json", f"tokenizer.common-{_KEY}-ids.npy"


def common(text: str) -> bool:
    """Whether every character of `text` is one of the subset's (`COMMON`)."""
    return text.isascii() or _OUTSIDE.search(text) is None


class ModelTokenizer:
    """Texts -> token ids as the model's whole tokenizer gives them, from its common-script subset
    when the text allows (module docstring). Neither truncates nor pads (kb.onnx_runtime does)."""

    def __init__(self, path: Path, subset=None, original_ids: np.ndarray | None = None):
        self.path = path
        self._subset, self._original_ids = subset, original_ids
        self._whole = None if subset is not None else _load(path)
        self._loading = threading.Lock()

    @classmethod
    def load(cls, path: Path) -> "ModelTokenizer":
        """The tokenizer at `path` (a tokenizer.json), from its subset when it has one or can have one."""
        subset = _subset(path)
        return cls(path, *subset) if subset is not None else cls(path)

    @property
    def whole(self):
        """The whole tokenizer (loaded on first use when the subset serves)."""
        if self._whole is None:
            with self._loading:
                if self._whole is None:
                    self._whole = _load(self.path)
        return self._whole

    def encode_batch(self, texts: list[str], special: bool = True) -> list[tuple[list[int], list[int], list[int]]]:
        """(ids, type ids, special-tokens mask) of each text, with special tokens unless `special` is False."""
        out: list = [None] * len(texts)
        easy = [i for i, t in enumerate(texts) if self._fits(t)]
        if easy:
            for i, e in zip(easy, self._subset.encode_batch([texts[i] for i in easy], add_special_tokens=special)):
                out[i] = (self._original_ids[e.ids].tolist(), e.type_ids, e.special_tokens_mask)
        rest = [i for i, t in enumerate(texts) if out[i] is None]
        if rest:
            for i, e in zip(rest, self.whole.encode_batch([texts[i] for i in rest], add_special_tokens=special)):
                out[i] = (e.ids, e.type_ids, e.special_tokens_mask)
        return out

    def count(self, text: str) -> int:
        """Tokens of `text` without the special ones."""
        tokenizer = self._subset if self._fits(text) else self.whole
        return len(tokenizer.encode(text, add_special_tokens=False).ids)

    def _fits(self, text: str) -> bool:
        """Whether the subset tokenizes `text` as the whole does: every character, as typed and as the
        tokenizer normalises it, is in the subset's scripts."""
        if self._subset is None or not common(text):
            return False
        normalizer = self._subset.normalizer
        return normalizer is None or common(normalizer.normalize_str(text))


def _load(path: Path):
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(path))
    tokenizer.no_truncation()
    tokenizer.no_padding()
    return tokenizer


def _subset(path: Path):
    """(subset tokenizer, original id of each of its pieces), made the first time; None when the
    vocabulary is not a large Unigram one, its subset was refused, or it cannot be made or read (the
    whole tokenizer then serves: a read-only model folder, say)."""
    folder = path.parent
    subset_path, ids_path, refused = folder / SUBSET_FILE, folder / IDS_FILE, folder / (SUBSET_FILE + ".refused")
    try:
        if refused.exists():
            return None
        made = subset_path.exists() and ids_path.exists()
        if not made and not _make_subset(path, subset_path, ids_path, refused):
            return None
        subset, ids = _load(subset_path), np.load(ids_path)
        if len(ids) != subset.get_vocab_size(with_added_tokens=True):
            raise ValueError(f"{len(ids)} ids for {subset.get_vocab_size(with_added_tokens=True)} pieces")
        return subset, ids
    except Exception as exc:  # tokenizers and numpy raise many kinds; all mean "use the whole tokenizer"
        log.warning("tokenizer subset %s is unusable (%s: %s); loading the whole tokenizer", subset_path, exc.__class__.__name__, exc)
        try:
            subset_path.unlink(missing_ok=True)  # made again by the next process that can write here
        except OSError:
            pass
        return None


def _make_subset(path: Path, subset_path: Path, ids_path: Path, refused: Path) -> bool:
    """Write the common-script subset of a large Unigram tokenizer and check it; False when there is
    none to make (other models) or it tokenizes the probes differently (then refused for good)."""
    data = _large_unigram(path)
    if data is None:
        return False
    vocab, needed = data["model"]["vocab"], set(_fixed_ids(data))
    kept = [i for i, (piece, _) in enumerate(vocab) if i in needed or common(piece)]
    data = _restricted(data, kept)
    original = np.asarray(kept, dtype=np.int64)
    staging, staging_ids = _staging(subset_path, ".json"), _staging(ids_path, ".npy")
    try:
        staging.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
        np.save(staging_ids, original)
        trial = ModelTokenizer(path, _load(staging), original)
        trial._whole = _load(path)
        compared = [p for p in PROBES if trial._fits(p)]
        if len(compared) < len(PROBES) or any(trial.encode_batch([p])[0] != _whole_encoding(trial.whole, p) for p in compared):
            log.warning("the common-script subset of %s tokenizes differently: the whole tokenizer is used", path)
            refused.touch()
            return False
        os.replace(staging_ids, ids_path)  # the ids first: a process that sees the subset sees its ids
        os.replace(staging, subset_path)
        return True
    finally:
        staging.unlink(missing_ok=True)
        staging_ids.unlink(missing_ok=True)


def _large_unigram(path: Path) -> dict | None:
    """The tokenizer.json at `path`, when it is a large Unigram one whose ids this module can map
    (a template post-processor, special tokens inside the vocabulary); else None."""
    data = json.loads(path.read_text(encoding="utf-8"))
    model = data.get("model") or {}
    if model.get("type") != "Unigram" or model.get("byte_fallback") or len(model.get("vocab", ())) <= SUBSET_ABOVE:
        return None
    if (data.get("post_processor") or {}).get("type") not in (None, "TemplateProcessing"):
        return None  # other post-processors name their ids differently: not mapped here
    if any(t["id"] >= len(model["vocab"]) for t in data.get("added_tokens", ())):
        return None
    return data


def _fixed_ids(data: dict) -> list[int]:
    """The pieces every smaller vocabulary keeps: the unknown one, the lowest-scoring one (an unknown
    character's score derives from it) and the special tokens."""
    model = data["model"]
    vocab = model["vocab"]
    lowest = min(range(len(vocab)), key=lambda i: vocab[i][1])
    return list(dict.fromkeys([model["unk_id"], lowest, *(t["id"] for t in data.get("added_tokens", ()))]))


def _restricted(data: dict, kept: list[int]) -> dict:
    """The tokenizer JSON `data` with only the pieces `kept` (ids into its vocabulary, in their new
    order), the unknown piece's, special tokens' and post-processor's ids renumbered to match."""
    data = json.loads(json.dumps(data))  # a copy: the caller's stays whole
    model, position = data["model"], {old: new for new, old in enumerate(kept)}
    data["model"] = {**model, "vocab": [model["vocab"][i] for i in kept], "unk_id": position[model["unk_id"]]}
    for token in data.get("added_tokens", ()):
        token["id"] = position[token["id"]]
    for special in ((data.get("post_processor") or {}).get("special_tokens") or {}).values():
        special["ids"] = [position[i] for i in special["ids"]]
    return data


def _staging(target: Path, suffix: str) -> Path:
    """A new file of its own beside `target`, to be renamed onto it."""
    handle, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=suffix, dir=target.parent)
    os.close(handle)
    os.chmod(name, 0o644)  # shared like the export it belongs to (mkstemp makes it private)
    return Path(name)


def _whole_encoding(tokenizer, text: str) -> tuple[list[int], list[int], list[int]]:
    e = tokenizer.encode(text)
    return e.ids, e.type_ids, e.special_tokens_mask


QUERY_FILES = (f"tokenizer.pieces-{_KEY}.npy", f"tokenizer.pieces-{_KEY}-ids.npy", f"tokenizer.pieces-{_KEY}-scores.npy",
               f"tokenizer.skeleton-{_KEY}.json")
"""A `QueryTokenizer`'s files beside the export: every piece (sorted), its id and its score, and the
tokenizer without its pieces (the skeleton, written last: a process that sees it sees the others)."""


class QueryTokenizer:
    """Short texts -> token ids as the model's whole Unigram tokenizer gives them, without loading it.

    Every piece of the vocabulary is kept sorted in a file that is memory-mapped, not read: a text's
    own pieces are found by binary search for each of its substrings (of the normalised,
    pre-tokenized text, at most the longest piece long), and the text is tokenized by a Unigram model
    of those pieces and the ones every model keeps (the unknown piece, the lowest-scoring one and the
    special tokens, at fixed ids). A Unigram tokenizer only ever chooses pieces that occur in the
    text, so this segments any text, in any script, exactly as the whole tokenizer does (checked on
    the probes when the files are made). It loads in milliseconds and holds a few MiB where e5's
    common-script subset took 0.45 s and 148 MiB; it costs about 0.7 ms a long query (0.1 ms whole),
    so documents keep the subset."""

    def __init__(self, skeleton: str, pieces: np.ndarray, ids: np.ndarray, scores: np.ndarray):
        self._skeleton = skeleton  # tokenizer JSON whose vocabulary is the fixed pieces only
        self._pieces, self._ids, self._scores = pieces, ids, scores
        fixed = json.loads(skeleton)["model"]
        self._fixed = [tuple(piece) for piece in fixed["vocab"]]
        self._fixed_ids = np.asarray(fixed["original_ids"], dtype=np.int64)
        self._unk = fixed["unk_id"]
        self._longest = int(pieces.dtype.itemsize // 4)  # '<U{n}': 4 bytes a character
        specials = sorted((t["content"] for t in json.loads(skeleton).get("added_tokens", ())), key=len, reverse=True)
        self._specials = re.compile("|".join(map(re.escape, specials))) if specials else None
        self._local = threading.local()  # a tokenizer per thread: its model is replaced for each text
        self._found_in = functools.lru_cache(maxsize=65_536)(self._positions)

    @classmethod
    def load(cls, path: Path) -> "QueryTokenizer | None":
        """The query tokenizer of the tokenizer at `path` (made the first time), or None when its
        vocabulary is not a large Unigram one, its files were refused or cannot be made or read."""
        folder = path.parent
        files = [folder / name for name in QUERY_FILES]
        refused = files[-1].with_name(files[-1].name + ".refused")
        try:
            if not files[-1].exists() and not os.access(folder, os.W_OK):
                return None  # cannot be kept: not worth the whole tokenizer's load in every process
            if refused.exists() or (not files[-1].exists() and not _make_query_files(path, files, refused)):
                return None
            pieces, ids, scores = (np.load(f, mmap_mode="r") for f in files[:3])
            if not len(pieces) == len(ids) == len(scores):
                raise ValueError(f"{len(pieces)} pieces, {len(ids)} ids, {len(scores)} scores")
            return cls(files[-1].read_text(encoding="utf-8"), pieces, ids, scores)
        except Exception as exc:  # numpy, json and tokenizers raise many kinds; all mean "use the document tokenizer"
            log.warning("query tokenizer %s is unusable (%s: %s)", files[-1], exc.__class__.__name__, exc)
            try:
                files[-1].unlink(missing_ok=True)  # made again by the next process that can write here
            except OSError:
                pass
            return None

    def encode_batch(self, texts: list[str], special: bool = True) -> list[tuple[list[int], list[int], list[int]]]:
        """(ids, type ids, special-tokens mask) of each text, as `ModelTokenizer.encode_batch`."""
        return [self._encode(text, special) for text in texts]

    def _encode(self, text: str, special: bool) -> tuple[list[int], list[int], list[int]]:
        from tokenizers import models

        tokenizer = self._tokenizer()
        positions = np.unique(np.fromiter((p for w in self._words(tokenizer, text) for p in self._found_in(w)), dtype=np.int64))
        ids = np.asarray(self._ids[positions], dtype=np.int64)
        kept = ~np.isin(ids, self._fixed_ids)
        positions, ids = positions[kept], ids[kept]
        vocab = self._fixed + list(zip(self._pieces[positions].tolist(), self._scores[positions].tolist()))
        tokenizer.model = models.Unigram(vocab, self._unk, False)
        encoding = tokenizer.encode(text, add_special_tokens=special)
        return np.concatenate([self._fixed_ids, ids])[encoding.ids].tolist(), encoding.type_ids, encoding.special_tokens_mask

    def _words(self, tokenizer, text: str) -> set[str]:
        """The words the model may be given for `text` (a superset is harmless: a piece is only chosen
        where it occurs): the normalised, pre-tokenized words of the text and, when it contains special
        tokens (the tokenizer splits the text at them first, then normalises and pre-tokenizes each
        part, whose outer spaces a special token may strip), those of each part, with and without its
        outer spaces."""
        normalise = tokenizer.normalizer.normalize_str if tokenizer.normalizer else (lambda t: t)
        split = tokenizer.pre_tokenizer.pre_tokenize_str if tokenizer.pre_tokenizer else (lambda t: [(t, None)])
        parts = [text]
        if self._specials is not None and self._specials.search(text):
            for source in (text, normalise(text)):
                for part in self._specials.split(source):
                    parts += [part, part.strip(), part.lstrip(), part.rstrip()]
        return {word for part in dict.fromkeys(parts) for word, _ in split(normalise(part))}

    def _positions(self, word: str) -> tuple[int, ...]:
        """Where the pieces that occur in `word` are in the sorted pieces (remembered per word)."""
        parts = list({word[i:j] for i in range(len(word)) for j in range(i + 1, min(len(word), i + self._longest) + 1)})
        wanted = np.array(parts, dtype=self._pieces.dtype)
        at = np.minimum(np.searchsorted(self._pieces, wanted), len(self._pieces) - 1)
        return tuple(at[self._pieces[at] == wanted].tolist())

    def _tokenizer(self):
        tokenizer = getattr(self._local, "tokenizer", None)
        if tokenizer is None:
            from tokenizers import Tokenizer

            tokenizer = self._local.tokenizer = Tokenizer.from_str(self._skeleton)
            tokenizer.no_truncation()
            tokenizer.no_padding()
        return tokenizer


def _make_query_files(path: Path, files: list[Path], refused: Path) -> bool:
    """Write a large Unigram tokenizer's query files (`QueryTokenizer`) and check them on the probes
    against the whole tokenizer; False when there are none to make (other models) or they tokenize
    differently (then refused for good)."""
    whole_data = _large_unigram(path)
    if whole_data is None:
        return False
    vocab, fixed = whole_data["model"]["vocab"], _fixed_ids(whole_data)
    data = _restricted(whole_data, fixed)
    data["model"]["original_ids"] = fixed
    order = sorted(range(len(vocab)), key=lambda i: vocab[i][0])
    pieces = np.array([vocab[i][0] for i in order])
    if len(set(pieces.tolist())) != len(vocab) or any(p != vocab[i][0] for p, i in zip(pieces.tolist(), order)):
        return False  # repeated pieces, or pieces numpy cannot hold as they are (a trailing NUL)
    skeleton = json.dumps(data, ensure_ascii=False)
    trial = QueryTokenizer(skeleton, pieces, np.asarray(order, dtype=np.int64), np.array([vocab[i][1] for i in order]))
    whole = _load(path)
    if any(trial.encode_batch([p])[0] != _whole_encoding(whole, p) for p in PROBES):
        log.warning("the query tokenizer of %s tokenizes differently: queries use the document tokenizer", path)
        refused.touch()
        return False
    staged = [_staging(target, suffix) for target, suffix in zip(files, (".npy", ".npy", ".npy", ".json"))]
    try:
        for target, array in zip(staged, (pieces, trial._ids, trial._scores)):
            np.save(target, array)
        staged[-1].write_text(skeleton, encoding="utf-8")
        for source, target in zip(staged, files):  # the skeleton last
            os.replace(source, target)
        return True
    finally:
        for source in staged:
            source.unlink(missing_ok=True)
