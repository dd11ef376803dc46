"""Languages of the text: which language a document is in, and the Snowball stems BM25 matches on.

FTS5's unicode61 tokenizer folds case and diacritics but does not stem, so "falha" misses "falhas"
and "ошибка" misses "ошибки". The index therefore keeps, beside the exact words, a column of stems:
each document stemmed in its own language (front matter `language`, else detected among the team's
languages by py3langid). A query is stemmed in its own detected language only: stems of every team
language made English words meet Portuguese and Romanian stems by chance (README, Search quality).
Error codes and numbers are never stemmed.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from functools import lru_cache

from kb import text

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


@lru_cache(maxsize=4)
def _identifier(languages: tuple[str, ...]):
    from py3langid.langid import LanguageIdentifier, MODEL_FILE

    identifier = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)  # about 1 s: loaded on first use
    identifier.set_languages(list(languages))
    return identifier


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
    candidates = tuple(sorted({code(lang) for lang in languages}))
    if len(candidates) == 1:
        return candidates[0]
    return str(_identifier(candidates).classify(sample)[0])
