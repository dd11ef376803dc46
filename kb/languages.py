"""Languages of the text: which language a document is in, and the Snowball stems BM25 matches on.

FTS5's unicode61 tokenizer folds case and diacritics but does not stem, so "falha" misses "falhas"
and "ошибка" misses "ошибки". The index therefore keeps, beside the exact words, a column of stems:
each document stemmed in its own language (front matter `language`, else detected among the team's
languages by py3langid). A query is stemmed in its own detected language only: stems of every team
language made English words meet Portuguese and Romanian stems by chance (README, Search quality).
Error codes and numbers are never stemmed.
"""

from __future__ import annotations

import logging
import os
import pickle
from collections.abc import Iterable, Sequence
from functools import lru_cache
from pathlib import Path

from kb import text

log = logging.getLogger("kb.languages")

SNOWBALL = {
    "ar": "arabic", "ca": "catalan", "cs": "czech", "da": "danish", "de": "german", "el": "greek", "en": "english",
    "es": "spanish", "eu": "basque", "fi": "finnish", "fr": "french", "ga": "irish", "hi": "hindi", "hu": "hungarian",
    "hy": "armenian", "id": "indonesian", "it": "italian", "lt": "lithuanian", "ne": "nepali", "nl": "dutch",
    "no": "norwegian", "nb": "norwegian", "pl": "polish", "pt": "portuguese", "ro": "romanian", "ru": "russian",
    "sr": "serbian", "sv": "swedish", "ta": "tamil", "tr": "turkish", "yi": "yiddish", "fa": "persian",
}
"""ISO 639-1 code -> Snowball algorithm (PyStemmer)."""
TEAM_LANGUAGES = ("en", "pt", "ru", "es", "ro")
ENGLISH = "en"
UNSTEMMED = frozenset({ENGLISH})
"""Languages left unstemmed: English inflects little, and Snowball's English stemmer conflates more
than it finds. Measured on the msdocs title queries (English): BM25 with English stems fell from
0.977 to 0.948 MRR@10, hybrid from 0.992 to 0.981-0.984."""
UNDETERMINED = "und"
DETECTION_CHARACTERS = 2000  # py3langid reads this much of a document: enough, and bounded


def code(language: str | None) -> str:
    """The two-letter code of a language tag ("pt-BR" -> "pt", "EN" -> "en"); "und" when there is none."""
    tag = (language or "").strip().lower().replace("_", "-").split("-")[0]
    return tag or UNDETERMINED


@lru_cache(maxsize=64)
def _stemmer(language: str):
    import Stemmer

    return Stemmer.Stemmer(SNOWBALL[language], 20_000)  # PyStemmer's own word cache


def is_english(language: str | None) -> bool:
    """Whether a language tag is English ("en", "en-GB"): the English model embeds these documents and queries."""
    return code(language) == ENGLISH


def stemmable(language: str | None) -> bool:
    return code(language) in SNOWBALL and code(language) not in UNSTEMMED


@lru_cache(maxsize=200_000)
def stem(word: str, language: str) -> str:
    """A word's stem in `language`, folded like FTS5 tokens; the folded word itself when the language
    has no stemmer or the word holds a digit (0x80070005, 2019, kb5005565 stay whole)."""
    folded = text.fold(word)
    if language not in SNOWBALL or language in UNSTEMMED or any(c.isdigit() for c in word):
        return folded
    # Snowball wants the word with its accents (Portuguese "-ção"), so the stem is folded afterwards
    return text.fold(_stemmer(language).stemWord(word.lower()))


CYRILLIC_LANGUAGES = frozenset({"ru", "uk", "bg", "sr", "be", "mk"})


def stems(content: str, language: str | None) -> str:
    """The text of a document's stem column: each FTS5 token of `content` as its stem in `language`;
    a Cyrillic word in a document of a Latin-script language (a Russian error message quoted in a
    Portuguese case) as its Russian stem."""
    lang = code(language)
    if lang in UNSTEMMED and not _cyrillic(content):
        return ""  # its exact words are in the other columns already
    return " ".join(word_stem(content[start:end], lang) for start, end, _ in text.token_spans(content))


@lru_cache(maxsize=200_000)
def word_stem(word: str, language: str) -> str:
    """The stem of a document's word as its stem column holds it (`language`: a code from `code`)."""
    return stem(word, "ru" if language not in CYRILLIC_LANGUAGES and _cyrillic(word) else language)


def _cyrillic(word: str) -> bool:
    return any("\u0400" <= c <= "\u04ff" for c in word)


def query_stems(words: Iterable[str], languages: Sequence[str] = TEAM_LANGUAGES) -> tuple[str, ...]:
    """The stems of query words in each of `languages` (every token of each word), without repeats."""
    found: dict[str, None] = {}
    langs = [code(lang) for lang in languages if stemmable(lang)]
    for word in words:
        for start, end, _ in text.token_spans(word):
            token = word[start:end]
            for lang in langs:
                found[stem(token, lang)] = None
    return tuple(found)


_detector_folder: Path | None = None
DETECTOR_FORMAT = 2
"""Of the kept detector's file: 2 leaves out py3langid's table of every language (70 MB -> 41 MB)."""


def keep_detector_in(folder: Path | None) -> None:
    """Where the language detector, ready to use, is kept between processes (the model cache). py3langid
    ships its model LZMA-compressed: decompressing it took a process 0.49 s, reading it back 0.13 s."""
    global _detector_folder
    _detector_folder = folder


@lru_cache(maxsize=4)
def _identifier(languages: tuple[str, ...]):
    """py3langid restricted to `languages`: from the detector folder when it holds it, else made (and kept there)."""
    from importlib.metadata import version

    kept = _detector_folder / f"py3langid-{version('py3langid')}-{'-'.join(languages)}-{DETECTOR_FORMAT}.pickle" if _detector_folder else None
    if kept is not None and kept.is_file():
        try:
            return pickle.loads(kept.read_bytes())  # written below by this code, in the model cache
        except Exception as exc:  # a damaged or foreign file: made again
            log.warning("language detector %s is unusable (%s): making it again", kept, exc)
    from py3langid.langid import LanguageIdentifier, MODEL_FILE

    identifier = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
    identifier.set_languages(list(languages))
    identifier._full_model = None  # every language's table, kept to restrict again (27 MB): never needed here
    if kept is not None:
        _keep(identifier, kept)
    return identifier


def _keep(identifier, path: Path) -> None:
    """Write the detector beside the models, atomically; a folder that cannot be written is no error."""
    staging = path.with_name(f".{path.name}.{os.getpid()}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        staging.write_bytes(pickle.dumps(identifier, protocol=pickle.HIGHEST_PROTOCOL))
        os.replace(staging, path)
    except OSError as exc:
        log.info("language detector not kept in %s: %s", path.parent, exc)
        staging.unlink(missing_ok=True)


def warm_detector(languages: Sequence[str] = TEAM_LANGUAGES) -> None:
    """Load the detector `detect` uses for `languages` now (a searcher does it while its index loads)."""
    candidates = _candidates(languages)
    if len(candidates) > 1:
        _identifier(candidates)


def _candidates(languages: Sequence[str]) -> tuple[str, ...]:
    """The codes of `languages`, sorted: one detector serves every spelling of the same set."""
    return tuple(sorted({code(lang) for lang in languages}))


@lru_cache(maxsize=4096)
def query_language(query: str, languages: tuple[str, ...]) -> str:
    """`detect` for a query, remembered: a search asks for its query's language more than once (the
    stems, the vector's centering, BM25 across languages)."""
    return detect(query, languages)


def detect(content: str, languages: Sequence[str] = TEAM_LANGUAGES) -> str:
    """The language of a document among `languages` ("und" for text without words)."""
    sample = content[:DETECTION_CHARACTERS]
    if not any(w.isalpha() and len(w) > 1 for w in text.words(sample)):  # codes and numbers are in no language
        return UNDETERMINED
    candidates = _candidates(languages)
    if len(candidates) == 1:
        return candidates[0]
    return str(_identifier(candidates).classify(sample)[0])
