"""The index folder: immutable builds and an atomically switched `current` pointer.

    index/
      current -> builds/20261126T101500-1234   (symlink, replaced with os.replace)
      builds/<stamp>/{kb.sqlite, vectors.faiss, manifest.json}
      embeddings.sqlite                         (cache: model + text hash -> vector)
      .lock

A build writes a new folder and only then moves the pointer, so a build killed at any moment leaves
the previous index intact, and a reader always sees a complete build.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import time
from contextlib import contextmanager
from pathlib import Path

DB_FILE = "kb.sqlite"
VECTORS_FILE = "vectors.faiss"
MANIFEST_FILE = "manifest.json"


class IndexMissing(FileNotFoundError):
    """No built index where one is expected."""


class IndexUnusable(RuntimeError):
    """The published index cannot be used as it is."""


class ModelMismatch(RuntimeError):
    """The existing index was embedded with another model; vectors of two models must never mix."""


class IndexLayout:
    """Paths and publishing inside one index folder."""

    def __init__(self, root: Path, cache_db: Path | None = None):
        self.root = Path(root)
        self.builds = self.root / "builds"
        self.pointer = self.root / "current"
        self.cache_db = cache_db or self.root / "embeddings.sqlite"

    def current(self) -> Path | None:
        """The published build, or None when nothing has been built yet."""
        if not self.pointer.is_symlink() and not self.pointer.exists():
            return None
        target = self.pointer.resolve()
        return target if (target / MANIFEST_FILE).is_file() else None

    def require_current(self) -> Path:
        build = self.current()
        if build is None:
            raise IndexMissing(f"no index in {self.root}; run `kb index` (or `make index`) first")
        return build

    def finished_builds(self) -> list[Path]:
        """Sealed builds, newest first (fallbacks when the current one cannot be loaded)."""
        if not self.builds.is_dir():
            return []
        return sorted((p for p in self.builds.iterdir() if p.suffix != ".partial" and (p / MANIFEST_FILE).is_file()),
                      reverse=True)

    def new_build(self) -> Path:
        """A fresh folder to build into; its name tells a half-written build from a finished one."""
        self.builds.mkdir(parents=True, exist_ok=True)
        # names sort by creation time (to the nanosecond), which `prune` and `finished_builds` rely on
        now = time.time_ns()
        stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime(now // 10**9))
        path = self.builds / f"{stamp}_{now % 10**9:09d}-{os.getpid()}.partial"
        path.mkdir()
        return path

    def publish(self, partial: Path) -> Path:
        """Seal a finished build and switch `current` to it atomically."""
        for name in os.listdir(partial):
            _fsync(partial / name)
        final = partial.with_suffix("")
        partial.rename(final)
        _fsync(self.builds)
        tmp_link = self.root / f".current.{os.getpid()}"
        if tmp_link.is_symlink():
            tmp_link.unlink()
        os.symlink(final.relative_to(self.root), tmp_link)
        os.replace(tmp_link, self.pointer)
        _fsync(self.root)
        return final

    def prune(self, keep: int = 2) -> None:
        """Delete abandoned partial builds and all but the newest `keep` finished ones (never `current`)."""
        if not self.builds.is_dir():
            return
        current = self.current()
        finished = sorted(p for p in self.builds.iterdir() if p.suffix != ".partial")
        stale = [p for p in self.builds.iterdir() if p.suffix == ".partial"] + finished[:-keep]
        for path in stale:
            if path != current:
                shutil.rmtree(path, ignore_errors=True)

    @contextmanager
    def lock(self):
        """One build at a time per index folder (a second `kb index` waits)."""
        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.root / ".lock", "w") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)


def read_manifest(build: Path) -> dict:
    return json.loads((build / MANIFEST_FILE).read_text(encoding="utf-8"))


def check_model(manifest: dict, model_id: str) -> None:
    """Refuse to combine vectors of different models."""
    if manifest.get("model") != model_id:
        raise ModelMismatch(
            f"the index was built with model {manifest.get('model')!r} but {model_id!r} is configured; "
            "vectors of two models cannot be mixed: rebuild with `kb index --full`"
        )


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
