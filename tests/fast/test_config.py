"""Settings layer (kb.config) and the `kb` package surface: env vars, pyproject.toml, paths, cheap import."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from pydantic import ValidationError

from kb.config import DEFAULT_MODEL, SearchSettings, Settings, load_settings

ROOT = Path(__file__).resolve().parents[2]

PYPROJECT = """\
[tool.casebook]
articles = "docs"
index = "out"
[tool.casebook.search]
dense = 0.5
"""


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    """No KB_* variable of the machine running the tests leaks into these tests."""
    for name in list(os.environ):
        if name.startswith("KB_"):
            monkeypatch.delenv(name)


@pytest.fixture()
def project(tmp_path: Path) -> Path:
    root = tmp_path.resolve() / "project"
    (root / "sub" / "deeper").mkdir(parents=True)
    (root / "pyproject.toml").write_text(PYPROJECT, encoding="utf-8")
    return root


# --- environment variables ---------------------------------------------------------------------------


def test_defaults_without_env_or_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    s = Settings()
    assert s.model == DEFAULT_MODEL and s.runtime == "onnx"
    assert s.articles == Path.cwd() / "articles" and s.index == Path.cwd() / "index"
    assert s.search == SearchSettings()
    assert s.cache_db == s.index / "embeddings.sqlite"
    assert s.search_log == s.index / "searches.sqlite"


def test_env_vars_become_typed_values(monkeypatch):
    monkeypatch.setenv("KB_MODEL", "my-model")
    monkeypatch.setenv("KB_RUNTIME", "torch")
    monkeypatch.setenv("KB_SEARCH__DENSE", "0.7")
    monkeypatch.setenv("KB_VECTORS__FLAT_LIMIT", "10")
    monkeypatch.setenv("KB_MAX_FILE_BYTES", "1024")
    s = Settings()
    assert s.model == "my-model"
    assert s.runtime == "torch"
    assert s.search.dense == 0.7 and isinstance(s.search.dense, float)
    assert s.search.lexical == SearchSettings().lexical  # untouched nested fields keep their defaults
    assert s.vectors.flat_limit == 10 and isinstance(s.vectors.flat_limit, int)
    assert s.max_file_bytes == 1024


@pytest.mark.parametrize("name, value", [("KB_RUNTIME", "gpu"), ("KB_SEARCH__FUSION", "max"),
                                         ("KB_VECTORS__FLAT_LIMIT", "many")])
def test_bad_env_value_raises(monkeypatch, name, value):
    monkeypatch.setenv(name, value)
    with pytest.raises(ValidationError):
        Settings()


def test_relative_env_paths_are_relative_to_cwd(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("KB_INDEX", "builds/idx")
    monkeypatch.setenv("KB_EMBEDDING_CACHE", "cache.sqlite")
    s = Settings()
    assert s.index == Path.cwd() / "builds" / "idx"
    assert s.cache_db == Path.cwd() / "cache.sqlite"


# --- pyproject.toml ----------------------------------------------------------------------------------


def test_pyproject_paths_are_relative_to_its_folder_from_a_subfolder(project, monkeypatch):
    monkeypatch.chdir(project / "sub")
    s = load_settings(cwd=project / "sub" / "deeper")
    assert s.articles == project / "docs"
    assert s.index == project / "out"
    assert s.search.dense == 0.5
    assert s.search.lexical == SearchSettings().lexical


def test_load_settings_defaults_to_the_current_directory(project, monkeypatch):
    monkeypatch.chdir(project / "sub" / "deeper")
    assert load_settings().articles == project / "docs"


def test_env_overrides_the_file(project, monkeypatch):
    monkeypatch.chdir(project / "sub")
    monkeypatch.setenv("KB_INDEX", "elsewhere")          # relative to the current directory, not the file
    monkeypatch.setenv("KB_SEARCH__DENSE", "0.9")
    monkeypatch.setenv("KB_SEARCH__LEXICAL", "0.1")
    s = load_settings(cwd=project / "sub")
    assert s.index == Path.cwd() / "elsewhere" == project / "sub" / "elsewhere"
    assert s.articles == project / "docs"                # still from the file
    assert (s.search.dense, s.search.lexical) == (0.9, 0.1)


def test_env_and_file_nested_settings_merge(project, monkeypatch):
    monkeypatch.setenv("KB_SEARCH__DEPTH", "7")
    s = load_settings(cwd=project)
    assert s.search.depth == 7 and s.search.dense == 0.5  # one from env, one from the file


def test_absolute_paths_stay_absolute(project, tmp_path, monkeypatch):
    elsewhere = tmp_path.resolve() / "abs-articles"
    (project / "pyproject.toml").write_text(
        PYPROJECT.replace('articles = "docs"', f"articles = {json.dumps(str(elsewhere))}"), encoding="utf-8")
    absolute_index = tmp_path.resolve() / "abs-index"
    monkeypatch.setenv("KB_INDEX", str(absolute_index))
    monkeypatch.chdir(project / "sub")
    s = load_settings(cwd=project)
    assert s.articles == elsewhere
    assert s.index == absolute_index


def test_without_casebook_table_the_file_is_ignored(tmp_path, monkeypatch):
    root = tmp_path.resolve()
    (root / "pyproject.toml").write_text('[tool.other]\narticles = "nope"\n', encoding="utf-8")
    monkeypatch.chdir(root)
    s = load_settings(cwd=root)
    assert s.articles.name == "articles" and s.articles.is_absolute()


def test_file_is_only_read_by_load_settings(project, monkeypatch):
    monkeypatch.chdir(project)
    load_settings(cwd=project)
    assert Settings().articles == project / "articles"  # a later direct Settings() sees no file


def test_default_folders_are_relative_to_the_file_too(project, monkeypatch):
    (project / "pyproject.toml").write_text("[tool.casebook]\nmodel = \"m\"\n", encoding="utf-8")
    monkeypatch.chdir(project / "sub")
    s = load_settings()
    assert (s.articles, s.index, s.model) == (project / "articles", project / "index", "m")


def test_empty_env_vars_are_ignored(project, monkeypatch):
    monkeypatch.setenv("KB_API_KEY", "")   # an empty key must not lock every API request out
    monkeypatch.setenv("KB_INDEX", "")
    s = load_settings(cwd=project)
    assert s.api_key is None and s.index == project / "out"


@pytest.mark.parametrize("table", ['[tool.casebook]\nmodle = "x"\n', "[tool.casebook]\n[tool.casebook.search]\ndence = 0.7\n"])
def test_a_misspelt_key_is_an_error_not_ignored(project, table):
    (project / "pyproject.toml").write_text(table, encoding="utf-8")
    with pytest.raises(ValidationError, match="Extra inputs are not permitted"):
        load_settings(cwd=project)


def test_secrets_in_the_committed_file_are_refused(project):
    (project / "pyproject.toml").write_text('[tool.casebook]\napi_key = "s3cret"\n', encoding="utf-8")
    with pytest.raises(ValueError, match="api_key must come from the environment"):
        load_settings(cwd=project)


# --- copies, hashing ---------------------------------------------------------------------------------


def test_with_returns_a_typed_copy_and_leaves_the_original(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    original = Settings()
    changed = original.with_(index=str(tmp_path / "other"), runtime="torch", max_file_bytes="2048")
    assert changed.index == tmp_path / "other" and isinstance(changed.index, Path)
    assert changed.runtime == "torch" and changed.max_file_bytes == 2048
    assert original.index == Path.cwd() / "index" and original.runtime == "onnx"
    assert changed.model == original.model and changed.search == original.search
    assert original.with_(index="rel").index == Path.cwd() / "rel"
    with pytest.raises(ValidationError):
        original.with_(runtime="gpu")


def test_settings_are_frozen_and_hashable():
    a, b = Settings(), Settings()
    assert a == b and hash(a) == hash(b)
    assert len({a, b, a.with_(model="other")}) == 2
    with pytest.raises(ValidationError):
        a.model = "changed"


# --- the kb package ----------------------------------------------------------------------------------


def run_python(code: str) -> dict:
    env = {k: v for k, v in os.environ.items()
           if k not in ("HF_HUB_OFFLINE", "TOKENIZERS_PARALLELISM") and not k.startswith("KB_")}
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


HEAVY = ("torch", "faiss", "sentence_transformers", "transformers", "onnxruntime")


def test_importing_kb_is_cheap_and_changes_nothing():
    out = run_python(f"""
        import json, os, sys
        import kb
        after_import = [m for m in {HEAVY!r} if m in sys.modules]
        kb.Settings, kb.load_settings, kb.Filters, kb.Hit  # light exports stay light
        after_light = [m for m in {HEAVY!r} if m in sys.modules]
        env = [v for v in ("HF_HUB_OFFLINE", "TOKENIZERS_PARALLELISM") if v in os.environ]
        print(json.dumps({{"after_import": after_import, "after_light": after_light, "env": env}}))
    """)
    assert out == {"after_import": [], "after_light": [], "env": []}


def test_open_searcher_exists_and_kb_search_is_the_module():
    out = run_python("""
        import json, os, sys, types
        import kb
        from kb import search
        ok_from = search is sys.modules["kb.search"] and isinstance(search, types.ModuleType)
        opener = kb.open_searcher
        print(json.dumps({
            "from_import_is_module": ok_from,
            "attribute_is_module": kb.search is sys.modules["kb.search"],
            "open_searcher_callable": callable(opener),
            "open_searcher_from_search": opener is sys.modules["kb.search"].open_searcher,
            "model_libraries": [m for m in ("torch", "sentence_transformers") if m in sys.modules],
            "env": [v for v in ("HF_HUB_OFFLINE", "TOKENIZERS_PARALLELISM") if v in os.environ],
        }))
    """)
    assert out == {"from_import_is_module": True, "attribute_is_module": True, "open_searcher_callable": True,
                   "open_searcher_from_search": True, "model_libraries": [], "env": []}
