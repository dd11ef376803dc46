"""The index folder: immutable builds and an atomically switched `current` pointer.

    index/
      current -> builds/20261126T101500-1234   (symlink, replaced with os.replace)
      builds/<stamp>/{kb.sqlite, vectors.faiss, manifest.json}
      embeddings.sqlite                         (cache: model + text hash -> vector)
      last-build-failed.json                    (why the last build failed; removed by a successful one)
      .lock

A build writes a new folder and only then moves the pointer, so a build killed at any moment leaves
the previous index intact, and a reader always sees a complete build. A folder still named
`*.partial` belongs to a build that failed or was killed: the next build removes it under the lock.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import shutil
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import TypeVar

DB_FILE = "kb.sqlite"
VECTORS_FILE = "vectors.faiss"
ENGLISH_VECTORS_FILE = "vectors-english.faiss"
"""The English model's vectors of the English documents' passages (kb.config `english_model`)."""
MANIFEST_FILE = "manifest.json"
FAILURE_FILE = "last-build-failed.json"

log = logging.getLogger("kb.layout")
T = TypeVar("T")


class IndexMissing(FileNotFoundError):
    """No built index where one is expected."""


class IndexUnusable(RuntimeError):
    """The published index cannot be used as it is."""


class ModelMismatch(RuntimeError):
    """The existing index was embedded with another model; vectors of two models must never mix."""


class BuildFailed(RuntimeError):
    """A build that could not finish, said in one line: what went wrong, then what to do about it.
    The previous build stays published and the failed build's folder is removed."""

    def __init__(self, cause: str, fix: str):
        super().__init__(f"{cause}: {fix}")
        self.cause = cause
        self.fix = fix


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

    def open_first_good(self, load: Callable[[Path], T], current: Path | None = None) -> T:
        """`load` of the current build, or when it raises IndexUnusable, of the newest older build that
        loads, with a warning naming the build that did not. A build is only ever loaded after its
        checks pass, so a damaged newest build never hides the good one before it."""
        current = current or self.require_current()
        first_error: Exception | None = None
        for build in [current] + [b for b in self.finished_builds() if b != current]:
            try:
                loaded = load(build)
            except IndexUnusable as exc:
                log.warning("%s", exc)
                first_error = first_error or exc
                continue
            if build != current:
                log.warning("serving older build %s because the current one %s cannot be loaded", build.name, current.name)
            return loaded
        raise first_error

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
        """Seal a finished build and switch `current` to it atomically. A sealed build that could not be
        switched to is removed: it must not become a fallback that no one published."""
        for name in os.listdir(partial):
            _fsync(partial / name)
        final = partial.with_suffix("")
        partial.rename(final)
        try:
            _fsync(self.builds)
            tmp_link = self.root / f".current.{os.getpid()}"
            if tmp_link.is_symlink():
                tmp_link.unlink()
            os.symlink(final.relative_to(self.root), tmp_link)
            os.replace(tmp_link, self.pointer)
        except OSError:
            shutil.rmtree(final, ignore_errors=True)
            raise
        _fsync(self.root)
        return final

    def remove_partials(self) -> list[Path]:
        """Delete the folders of builds that failed or were killed. Call it holding `lock()`: no other
        build of this index can be writing one then."""
        stale = [p for p in self.builds.iterdir() if p.suffix == ".partial"] if self.builds.is_dir() else []
        for path in stale:
            shutil.rmtree(path, ignore_errors=True)
        return stale

    def size_of_current(self) -> int:
        """Bytes in the published build (0 when there is none): what the next build is sized on."""
        build = self.current()
        return sum(p.stat().st_size for p in build.iterdir() if p.is_file()) if build else 0

    # -- the last failure, for `/healthz` ---------------------------------------------------------

    def record_failure(self, message: str) -> None:
        """Remember why a build failed, until one succeeds. Best effort: on a full disk even this may fail."""
        record = {"time": datetime.now(timezone.utc).isoformat(timespec="seconds"), "message": message}
        tmp = self.root / f".{FAILURE_FILE}.{os.getpid()}"
        try:
            tmp.write_text(json.dumps(record, ensure_ascii=False), encoding="utf-8")
            os.replace(tmp, self.root / FAILURE_FILE)
        except OSError:
            tmp.unlink(missing_ok=True)

    def clear_failure(self) -> None:
        (self.root / FAILURE_FILE).unlink(missing_ok=True)

    def last_failure(self) -> str | None:
        """'<UTC time> <message>' of the last build if it failed, else None."""
        try:
            record = json.loads((self.root / FAILURE_FILE).read_text(encoding="utf-8"))
            return f"{record['time']} {record['message']}"
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError) as exc:
            return f"unreadable {FAILURE_FILE}: {exc}"

    def prune(self, keep: int = 2) -> None:
        """Delete abandoned partial builds and all but the newest `keep` finished ones (never `current`)."""
        if not self.builds.is_dir():
            return
        self.remove_partials()
        current = self.current()
        for path in sorted(p for p in self.builds.iterdir() if p.suffix != ".partial")[:-keep]:
            if path != current:
                shutil.rmtree(path, ignore_errors=True)

    @contextmanager
    def lock(self) -> Iterator[None]:
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
