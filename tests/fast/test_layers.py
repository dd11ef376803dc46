"""Architecture: every module imports only modules of its own layer or below, following the data flow
files -> documents -> passages -> vectors/rows -> retrieval -> fusion -> results -> api/cli."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

LAYERS = [
    ("base", {"kb.store.fts_tokenizer", "kb.text", "kb.languages", "kb.config", "kb.codes"}),
    ("documents", {"kb.documents", "kb.validation", "kb.scaffold"}),
    ("passages", {"kb.chunking"}),
    ("vectors and rows", {"kb.embedding", "kb.packaged_models", "kb.onnx_runtime", "kb.tokenizing", "kb.batching", "kb.vectors", "kb.layout",
                          "kb.store", "kb.store.index_db", "kb.store.embeddings", "kb.store.searches"}),
    ("build", {"kb.indexer"}),
    ("retrieval", {"kb.query", "kb.paste", "kb.catalog", "kb.centering", "kb.bm25", "kb.retrieval"}),
    ("fusion", {"kb.fusion"}),
    ("results", {"kb.snippets", "kb.results", "kb.match_strength", "kb.gaps"}),
    ("search", {"kb.search", "kb.live", "kb.evaluation", "kb.calibration"}),
    ("api and cli", {"kb", "kb.cli", "api"}),
]


def layer_of(module: str) -> int:
    for number, (_, modules) in enumerate(LAYERS):
        if module in modules or (module.startswith("api.") and "api" in modules):
            return number
    raise AssertionError(f"{module} is in no layer: add it to LAYERS")


def modules() -> dict[str, Path]:
    found = {}
    for package in ("kb", "api"):
        for path in (ROOT / package).rglob("*.py"):
            parts = path.relative_to(ROOT).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            found[name] = path
    return found


def imported(path: Path, name: str) -> set[str]:
    """Project modules imported anywhere in a file (top level, functions, TYPE_CHECKING blocks)."""
    known = modules()
    out = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            submodules = {f"{node.module}.{alias.name}" for alias in node.names} & known.keys()
            out.update(submodules or {node.module})  # `from kb import text` imports kb.text, not kb's exports
    return {m for m in out if m in known and m != name}


def test_every_module_has_a_layer():
    for name in modules():
        layer_of(name)


def test_no_module_imports_one_above_it():
    upward = []
    for name, path in modules().items():
        for target in imported(path, name):
            if layer_of(target) > layer_of(name):
                upward.append(f"{name} ({LAYERS[layer_of(name)][0]}) imports {target} ({LAYERS[layer_of(target)][0]})")
    assert not upward, "\n".join(upward)


def test_only_the_store_writes_sql():
    statements = ("SELECT ", "INSERT ", "DELETE FROM", "CREATE TABLE", "UPDATE ")
    offenders = [name for name, path in modules().items()
                 if not name.startswith("kb.store") and any(s in path.read_text(encoding="utf-8") for s in statements)]
    assert not offenders
