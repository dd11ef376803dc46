"""The published index as seen by a long-running process: reloaded when `index/current` moves.

A new Searcher is fully loaded before it replaces the old one, so a request is never answered from a
half-loaded index; a build that fails to load leaves the previous one serving.
"""

from __future__ import annotations

import logging
import threading
import time

from kb.embedding import Embedder
from kb.layout import IndexLayout
from kb.search import Searcher, Weights

log = logging.getLogger("kb.live")


class LiveIndex:
    """Holds the current Searcher; `get()` is cheap and checks the pointer at most every `interval` s."""

    def __init__(self, layout: IndexLayout, embedder: Embedder, weights: Weights = Weights(), interval: float = 1.0):
        self.layout = layout
        self.embedder = embedder
        self.weights = weights
        self.interval = interval
        self._lock = threading.Lock()
        self._checked = time.monotonic()
        self.searcher = Searcher(layout.require_current(), embedder, weights)
        self.searcher.embed_query("warm up")  # load the model now, not on the first user's request

    def get(self) -> Searcher:
        if time.monotonic() - self._checked >= self.interval:
            self.reload()
        return self.searcher

    def reload(self) -> bool:
        """Switch to the published build if it changed; True when it did."""
        with self._lock:
            self._checked = time.monotonic()
            build = self.layout.current()
            if build is None or build == self.searcher.build:
                return False
            try:
                fresh = Searcher(build, self.embedder, self.weights)
            except Exception:  # keep serving the last good index, loudly
                log.exception("cannot load index build %s; still serving %s", build, self.searcher.build)
                return False
            self.searcher = fresh
            log.info("now serving index build %s", build.name)
            return True
