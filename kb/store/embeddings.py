"""Cache of embeddings keyed by (model, hash of the exact model input), so unchanged passages are never
embedded twice, across incremental and full builds alike."""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np


def text_key(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class EmbeddingCache:
    """SQLite table of float32 vectors; writes commit per batch so a killed build keeps its work."""

    def __init__(self, path: Path, model_id: str):
        path.parent.mkdir(parents=True, exist_ok=True)
        self.conn = sqlite3.connect(path)
        self.conn.execute(
            "CREATE TABLE IF NOT EXISTS vectors (model TEXT, key TEXT, vector BLOB, PRIMARY KEY (model, key)) WITHOUT ROWID"
        )
        self.model_id = model_id

    def close(self) -> None:
        self.conn.close()

    def get_many(self, keys: Sequence[str]) -> dict[str, np.ndarray]:
        found: dict[str, np.ndarray] = {}
        for start in range(0, len(keys), 500):
            chunk = list(keys[start : start + 500])
            marks = ",".join("?" * len(chunk))
            rows = self.conn.execute(
                f"SELECT key, vector FROM vectors WHERE model = ? AND key IN ({marks})", [self.model_id, *chunk]
            )
            found.update((k, np.frombuffer(v, dtype=np.float32)) for k, v in rows)
        return found

    def put_many(self, items: dict[str, np.ndarray]) -> None:
        with self.conn:
            self.conn.executemany(
                "INSERT OR REPLACE INTO vectors(model, key, vector) VALUES (?, ?, ?)",
                [(self.model_id, k, np.asarray(v, dtype=np.float32).tobytes()) for k, v in items.items()],
            )

    def copy_from(self, source: Path) -> None:
        """Add every vector of another cache file that this one lacks (benchmarks seed caches with it)."""
        self.conn.execute("ATTACH DATABASE ? AS src", (f"file:{source}?mode=ro",))
        try:
            with self.conn:
                self.conn.execute("INSERT OR IGNORE INTO vectors SELECT model, key, vector FROM src.vectors")
        finally:
            self.conn.execute("DETACH DATABASE src")

    def embed(self, texts: Sequence[str], encode: Callable[[list[str]], np.ndarray],
              batch: int = 256, on_batch: Callable[[int], None] | None = None) -> tuple[np.ndarray, int]:
        """Vectors for `texts` in order, encoding only the ones not cached; also returns how many were encoded."""
        keys = [text_key(t) for t in texts]
        cached = self.get_many(sorted(set(keys)))
        todo = list(dict.fromkeys(k_t for k_t in zip(keys, texts) if k_t[0] not in cached))
        for start in range(0, len(todo), batch):
            part = todo[start : start + batch]
            vectors = encode([t for _, t in part])
            fresh = {k: v for (k, _), v in zip(part, vectors)}
            self.put_many(fresh)
            cached.update(fresh)
            if on_batch:
                on_batch(len(part))
        if not keys:
            return np.zeros((0, 0), dtype=np.float32), 0
        return np.stack([cached[k] for k in keys]), len(todo)
