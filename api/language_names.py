"""Languages as the page shows them: each by its own name and its code ("Português · pt"), so an
engineer recognises the ones they read whatever language the rest of the page is in."""

from __future__ import annotations

NAMES = {
    "en": "English", "pt": "Português", "ru": "Русский", "es": "Español", "ro": "Română",
    "ca": "Català", "cs": "Čeština", "de": "Deutsch", "fr": "Français", "it": "Italiano", "nl": "Nederlands",
    "pl": "Polski", "tr": "Türkçe", "uk": "Українська",
}
"""ISO 639-1 code -> the language's name in itself (endonym)."""
UNKNOWN = "und"  # what the index stores when a document's language could not be told


def language_name(code: str | None) -> str | None:
    """The language's own name for a code or a tag with a region ("pt-BR" -> "Português"); None when
    this table does not know it."""
    return NAMES.get((code or "").strip().lower().replace("_", "-").split("-")[0])


def language_label(code: str | None) -> str:
    """What a badge says: "Português · pt"; the bare code for a language without a name here, and
    "language unknown" for none at all (`und`)."""
    if not code or code.strip().lower() == UNKNOWN:
        return "language unknown"
    name = language_name(code)
    return f"{name} · {code}" if name else code
