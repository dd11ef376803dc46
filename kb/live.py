"""The published index as seen by a long-running process: reloaded when `index/current` moves.

A new Searcher is fully loaded before it replaces the old one, so a request is never answered from a
half-loaded index; a build that fails to load (missing files, or a database that fails SQLite's and
FTS5's integrity checks) leaves the previous one serving.
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

from kb.config import SearchSettings
from kb.embedding import Embedder
from kb.layout import IndexLayout, IndexUnusable
from kb.match_strength import MatchModel
from kb.search import Searcher

log = logging.getLogger("kb.live")


class LiveIndex:
    """Holds the current Searcher; `get()` is cheap and checks the pointer at most every `interval` s."""

    def __init__(self, layout: IndexLayout, embedder: Embedder, weights: SearchSettings = SearchSettings(), interval: float = 1.0,
                 match_model: MatchModel | None = None):
        self.layout = layout
        self.embedder = embedder
        self.weights = weights
        self.match_model = match_model
        self.interval = interval
        self._lock = threading.Lock()
        self._checked = time.monotonic()
        self._failed: Path | None = None
        self.searcher = self._load_first_good(layout.require_current())
        # the Searcher has loaded and run its query models; the language detector loads on first use
        self.searcher.lexical.language_of("warm up")  # so now, not on the first user's request

    def _load_first_good(self, current: Path) -> Searcher:
        """The current build, or when it cannot be loaded the newest older build that can (said loudly)."""
        searcher = self.layout.open_first_good(self._searcher, current)
        if searcher.build != current:
            self._failed = current
        return searcher

    def _searcher(self, build: Path) -> Searcher:
        return Searcher(build, self.embedder, self.weights, self.match_model)

    def get(self) -> Searcher:
        if time.monotonic() - self._checked >= self.interval:
            self.reload()
        return self.searcher

    def reload(self) -> bool:
        """Switch to the published build if it changed; True when it did."""
        with self._lock:
            self._checked = time.monotonic()
            build = self.layout.current()
            if build is None or build in (self.searcher.build, self._failed):
                return False
            try:
                fresh = self._searcher(build)
            except IndexUnusable as exc:  # keep serving the last good index, loudly, once per bad build
                log.error("%s; still serving %s", exc, self.searcher.build.name)
                self._failed = build
                return False
            self.searcher = fresh
            log.info("now serving index build %s", build.name)
            return True
