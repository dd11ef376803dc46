"""casebook core: documents -> passages -> vectors and rows -> ranked results.

    >>> import kb
    >>> kb.search("backup server uses ten times more CPU on ReFS", k=3)
"""

from __future__ import annotations

from functools import lru_cache

from kb.config import Settings, load_settings
from kb.search import Filters, Hit, Searcher

__all__ = ["Filters", "Hit", "Searcher", "Settings", "load_settings", "open_searcher", "search"]


@lru_cache(maxsize=4)
def open_searcher(settings: Settings | None = None) -> Searcher:
    """A Searcher over the published index for `settings` (default: current directory's config)."""

    settings = settings or load_settings()
    return Searcher.open(settings.index, settings.embedder())


def search(query: str, k: int = 10, filters: Filters | None = None, settings: Settings | None = None) -> list[Hit]:
    """Ranked documents for a symptom: best passage per document, snippet with highlights, score."""
    return open_searcher(settings).search(query, k=k, filters=filters)
