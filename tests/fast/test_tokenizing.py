"""kb.tokenizing: a large Unigram tokenizer loads as its common-script subset (documents) or as the
pieces each query contains (queries), with the same ids."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors

import kb.tokenizing
from kb.tokenizing import IDS_FILE, QUERY_FILES, SUBSET_FILE, ModelTokenizer, QueryTokenizer

VOCAB = [("<s>", 0.0), ("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0), ("▁", -2.0), ("▁日本", -4.0), ("▁back", -3.0),
         ("up", -3.5), ("▁b", -5.0), ("a", -6.0), ("c", -6.0), ("k", -6.0), ("u", -6.0), ("p", -6.0), ("▁σ", -4.0),
         ("ύν", -4.5), ("σ", -6.0), ("ύ", -6.0), ("ν", -6.0), ("語", -9.0), ("日", -7.0), ("本", -7.0), ("<mask>", 0.0)]
"""A small SentencePiece-like vocabulary: Latin, Greek and CJK pieces, the lowest-scoring one CJK
(the subset keeps it: an unknown character's score derives from it)."""
TEXTS = ["backup", "back up", "  σύν backup ", "bakcup σ ν", "x y z", "backup <mask> up", "ß ø µ"]


@pytest.fixture()
def tokenizer_json(tmp_path: Path, monkeypatch) -> Path:
    monkeypatch.setattr(kb.tokenizing, "SUBSET_ABOVE", 10)
    monkeypatch.setattr(kb.tokenizing, "PROBES", ["backup σύν", "back up"])
    tok = Tokenizer(models.Unigram(VOCAB, 3, False))
    tok.normalizer = normalizers.NFKC()
    tok.pre_tokenizer = pre_tokenizers.Metaspace()
    tok.post_processor = processors.TemplateProcessing(single="<s> $A </s>", special_tokens=[("<s>", 0), ("</s>", 2)])
    tok.add_special_tokens(["<s>", "<pad>", "</s>", "<unk>", "<mask>"])
    path = tmp_path / "tokenizer.json"
    tok.save(str(path))
    return path


def whole_ids(path: Path, text: str, special: bool = True) -> list[int]:
    return Tokenizer.from_file(str(path)).encode(text, add_special_tokens=special).ids


def test_the_subset_gives_the_whole_tokenizers_ids(tokenizer_json: Path):
    tokenizer = ModelTokenizer.load(tokenizer_json)
    assert (tokenizer_json.parent / SUBSET_FILE).exists() and (tokenizer_json.parent / IDS_FILE).exists()
    assert tokenizer._subset is not None and tokenizer._subset.get_vocab_size() < len(VOCAB)
    for text in TEXTS:
        assert tokenizer._fits(text), text
        assert tokenizer.encode_batch([text])[0][0] == whole_ids(tokenizer_json, text), text
        assert tokenizer.count(text) == len(whole_ids(tokenizer_json, text, special=False))
    assert tokenizer._whole is None  # never needed for these texts
    again = ModelTokenizer.load(tokenizer_json)  # read back, not made again
    assert again.encode_batch(TEXTS) == tokenizer.encode_batch(TEXTS)


def test_a_text_in_another_script_is_tokenized_by_the_whole_tokenizer(tokenizer_json: Path):
    tokenizer = ModelTokenizer.load(tokenizer_json)
    mixed = ["backup", "日本語 backup", "σύν", "ＢＡＣＫＵＰ"]  # full-width letters: not the subset's, as typed
    assert not tokenizer._fits(mixed[1]) and not tokenizer._fits(mixed[3])
    got = tokenizer.encode_batch(mixed)
    assert tokenizer._whole is not None
    assert [ids for ids, _, _ in got] == [whole_ids(tokenizer_json, t) for t in mixed]
    assert tokenizer.count("日本語") == len(whole_ids(tokenizer_json, "日本語", special=False))


def test_a_refused_or_damaged_subset_falls_back_to_the_whole_tokenizer(tokenizer_json: Path, caplog):
    ModelTokenizer.load(tokenizer_json)
    (tokenizer_json.parent / SUBSET_FILE).write_text("{not json", encoding="utf-8")
    with caplog.at_level(logging.WARNING, logger="kb.embedding"):
        damaged = ModelTokenizer.load(tokenizer_json)
    assert damaged._subset is None and "unusable" in caplog.text
    assert damaged.encode_batch(["backup"])[0][0] == whole_ids(tokenizer_json, "backup")
    assert ModelTokenizer.load(tokenizer_json)._subset is not None  # made again
    (tokenizer_json.parent / (SUBSET_FILE + ".refused")).touch()
    assert ModelTokenizer.load(tokenizer_json)._subset is None


def test_a_small_or_wordpiece_vocabulary_loads_whole(tokenizer_json: Path, monkeypatch):
    monkeypatch.setattr(kb.tokenizing, "SUBSET_ABOVE", 1000)
    assert ModelTokenizer.load(tokenizer_json)._subset is None
    assert not (tokenizer_json.parent / SUBSET_FILE).exists()


def test_a_model_folder_that_cannot_be_written_keeps_the_whole_tokenizer(tokenizer_json: Path, caplog, monkeypatch):
    """Making the subset must never break loading (a read-only or shared model cache): the export
    would otherwise be taken for damaged and made again."""
    def cannot_write(target: Path, suffix: str) -> Path:
        raise PermissionError(13, "Permission denied", str(target.parent))

    monkeypatch.setattr(kb.tokenizing, "_staging", cannot_write)
    with caplog.at_level(logging.WARNING, logger="kb.embedding"):
        tokenizer = ModelTokenizer.load(tokenizer_json)
    assert tokenizer._subset is None and "Permission denied" in caplog.text
    assert tokenizer.encode_batch(["backup σύν"])[0][0] == whole_ids(tokenizer_json, "backup σύν")
    assert not list(tokenizer_json.parent.glob("*.refused"))  # not refused: the next process that can write makes it


def test_the_query_tokenizer_gives_the_whole_tokenizers_ids_in_any_script(tokenizer_json: Path):
    """Only the pieces a text contains are read, yet every text, Greek, CJK, unknown characters and
    special tokens written in it included, gets the whole tokenizer's ids, with and without special tokens."""
    tokenizer = QueryTokenizer.load(tokenizer_json)
    assert tokenizer is not None and all((tokenizer_json.parent / name).exists() for name in QUERY_FILES)
    texts = [*TEXTS, "日本語 backup", "ＢＡＣＫＵＰ", "語", "", " ",
             "x<mask>up", "foo <s>back", "a</s>b c", "<pad>up", "back <mask>up"]  # split at special tokens first
    for special in (True, False):
        got = tokenizer.encode_batch(texts, special=special)
        assert [ids for ids, _, _ in got] == [whole_ids(tokenizer_json, t, special) for t in texts]
    again = QueryTokenizer.load(tokenizer_json)  # read back, not made again
    assert again.encode_batch(texts) == tokenizer.encode_batch(texts)


def test_a_query_tokenizer_that_differs_is_refused_and_a_damaged_one_made_again(tokenizer_json: Path, monkeypatch, caplog):
    QueryTokenizer.load(tokenizer_json)
    skeleton = tokenizer_json.parent / QUERY_FILES[-1]
    skeleton.write_text("{not json", encoding="utf-8")
    with caplog.at_level(logging.WARNING, logger="kb.embedding"):
        assert QueryTokenizer.load(tokenizer_json) is None and "unusable" in caplog.text
    assert QueryTokenizer.load(tokenizer_json) is not None  # made again
    for name in QUERY_FILES:
        (tokenizer_json.parent / name).unlink()
    monkeypatch.setattr(QueryTokenizer, "_positions", lambda self, word: ())  # finds no piece: unknowns only
    assert QueryTokenizer.load(tokenizer_json) is None
    assert (tokenizer_json.parent / (QUERY_FILES[-1] + ".refused")).exists()
    monkeypatch.undo()
    assert QueryTokenizer.load(tokenizer_json) is None  # refused for good


def test_a_small_vocabulary_has_no_query_tokenizer(tokenizer_json: Path, monkeypatch):
    monkeypatch.setattr(kb.tokenizing, "SUBSET_ABOVE", 1000)
    assert QueryTokenizer.load(tokenizer_json) is None
    assert not any((tokenizer_json.parent / name).exists() for name in QUERY_FILES)
