"""casebook core: files -> documents -> passages -> vectors and rows -> retrieval -> fusion -> results.

    >>> import kb
    >>> searcher = kb.open_searcher()          # the published index of the current directory's config
    >>> searcher.search("backup server uses ten times more CPU on ReFS", k=3)

Importing `kb` loads nothing heavy and changes nothing in the process; the names below are imported
on first use.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from kb.catalog import Filters
    from kb.config import Settings, load_settings
    from kb.results import Hit
    from kb.search import Searcher, open_searcher

_EXPORTS = {
    "Filters": "kb.catalog",
    "Hit": "kb.results",
    "Searcher": "kb.search",
    "Settings": "kb.config",
    "load_settings": "kb.config",
    "open_searcher": "kb.search",
}
__all__ = ["Filters", "Hit", "Searcher", "Settings", "load_settings", "open_searcher"]


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'kb' has no attribute {name!r}")
