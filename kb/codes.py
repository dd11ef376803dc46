"""Error codes in free text: the tokens an engineer pastes that must match exactly, not semantically.

Hex codes (0x80070005, 0xC0000005), KB numbers (KB5005565), SMTP enhanced status codes (4.3.1),
SYMBOLIC_ERROR_NAMES (KRB_AP_ERR_SKEW), exception and error class names (UnauthorizedAccessException,
OutOfMemoryError; the class name without its namespace) and numbers introduced by "error", "event ID",
"Msg", "HTTP" and their Portuguese, Spanish, Romanian and Russian equivalents.
"""

from __future__ import annotations

import re

_PATTERNS = (
    re.compile(r"\b0x[0-9a-f]{4,16}\b", re.IGNORECASE),
    re.compile(r"\bKB\d{6,7}\b", re.IGNORECASE),
    re.compile(r"\b[245]\.\d{1,3}\.\d{1,3}\b"),
    re.compile(r"\b[A-Z][A-Z0-9]*(?:_[A-Z0-9]+){2,}\b"),
    re.compile(r"\b[A-Z][A-Za-z0-9]+(?:Exception|Error)\b"),
)
_NUMBERED = re.compile(
    r"(?:\berror|\berro|\beroare|ошибк[аиу]|\bc[óo]digo|\bcode|\bmsg|\bhttp|\bevent(?:\s+id)?|\bevento|\bevenimentul?|событи[ея])"
    r"\s*(?:id|n[º°o.]*|#|:)?\s*((?:(?<=[\s:#])-)?\d{2,6})\b",  # a minus only after a space: "event-153" is 153
    re.IGNORECASE,
)


def extract_codes(text: str) -> list[str]:
    """Distinct error codes in order of first appearance."""
    found: list[tuple[int, str]] = []
    for pattern in _PATTERNS:
        found.extend((m.start(), m.group()) for m in pattern.finditer(text))
    found.extend((m.start(1), m.group(1)) for m in _NUMBERED.finditer(text))
    return list(dict.fromkeys(code for _, code in sorted(found)))
