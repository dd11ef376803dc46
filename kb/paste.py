"""A pasted ticket or log -> what to search with: its identifiers, the products and versions it names,
and the lines that describe behaviour, without the noise.

Engineers paste what they have: an event-log excerpt, a backup job log, a stack trace, a user's
e-mail. Most of it is noise for search (timestamps, GUIDs, hashes, IP addresses, host and user names,
paths, counters, the same warning a hundred times, colour codes, signatures). The analysis keeps the
error codes (`kb.codes`: HRESULTs, event IDs with their source, SQL and HTTP errors, KB numbers,
exception names), the products and versions the index knows, and the distinct lines that still say
something once the noise is taken out, those with an error word or a code first. The same analysis
serves `/api/similar`, the page's paste mode and `kb similar`, and drafts a case when nothing matches.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from kb import text
from kb.codes import extract_codes
from kb.scaffold import draft_case

MAX_CHARS = 20_000
MAX_LINES = 12
"""Lines kept for the embedding: enough for a ticket's story, few enough that noise cannot outvote it."""

_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b[@-_]")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
_NOISE = [re.compile(p, re.IGNORECASE) for p in (  # in this order: an address is not taken for a date
    r"\{?\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b\}?",  # GUIDs
    r"\b(?:\d{1,3}\.){3}\d{1,3}(?::\d+)?\b",  # IPv4
    r"\b(?:[0-9a-f]{1,4}:){3,7}[0-9a-f]{1,4}\b",  # IPv6
    r"(?<![\w.+-])[\w.+-]{1,64}@[\w-]{1,63}(?:\.[\w-]{1,63}){1,10}\b",  # e-mail addresses (bounded: no backtracking)
    r"\\\\[^\s\\]+(?:\\[^\s\\]+)*",  # UNC paths
    r"\b[a-z]:\\[^\s\"']*",  # Windows paths
    r"(?<![\w.])/(?:[\w.-]+/)+[\w.-]*",  # POSIX paths
    r"(?<![\w-])[\w-]{1,63}\\[\w.$-]{1,64}",  # DOMAIN\user
    r"(?<![\w.-])(?:[a-z0-9-]{1,63}\.){2,10}(?:local|lan|corp|internal|intra|com|net|org|ru|br|es|ro|pt|de|uk|eu)\b(?!\.\w)",  # host names (not System.Net.WebException)
    r"\b\d{4}-\d{2}-\d{2}[T ]\d{1,2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?",  # ISO date-times
    r"(?:\b\d{1,4}[/-]\d{1,2}[/-]\d{2,4}|\b\d{1,2}\.\d{1,2}\.\d{4}\b)"  # 11/3/2026, 03.11.2026 (not 10.0.17763)
    r"(?:,?\s+\d{1,2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?(?:\s*[AP]M)?)?",
    r"\b\d{1,2}:\d{2}:\d{2}(?:[.,]\d+)?(?:\s*[AP]M)?",  # times
    r"(?<!0x)\b[0-9a-f]{16,}\b",  # hashes (an HRESULT has its 0x)
    r"\b(?:pid|tid|thread|process id|session)[\s:=#]*\d+\b",  # process and thread ids
    r"\[(?:info|debug|trace|verbose|warn|warning|error|err|fatal|critical|[idwe])\]",  # log levels (a line's weight reads them first)
)]
_DATES = re.compile("|".join(p.pattern for p in _NOISE[9:12]), re.IGNORECASE)
_EMPTY_PAIRS = re.compile(r"(['\"`])\s*\1|\(\s*\)|\[\s*\]|\{\s*\}|<\s*>")
_LONG_NUMBER = re.compile(r"(?<![.\d])\b\d{5,}\b(?![.\d])")  # not inside a version such as 10.0.17763.1
_FIELD = re.compile(r"^\s*(?:log name|source|date|event id|task category|level|keywords|user|computer|opcode|"
                    r"record number|correlation|relatedactivityid|nome do log|fonte|origem|data|identificação do evento|"
                    r"nivel|nível|usuário|usuario|equipo|computador|origen|fecha|id\. de evento|id del evento|"
                    r"имя журнала|источник|дата|код события|уровень|пользователь|компьютер|"
                    r"sursă|sursa|nivel|utilizator|computer)\s*:", re.IGNORECASE)
_SUBJECT = re.compile(r"^[ \t]*(?:subject|assunto|asunto|тема|subiect)[ \t]*:[ \t]*(.+)$", re.IGNORECASE | re.MULTILINE)
_SOURCE = re.compile(r"^[ \t]*(?:source|fonte|origem|origen|источник|sursa|sursă)[ \t]*:[ \t]*(\S.*?)[ \t]*$", re.IGNORECASE)
_EVENT = re.compile(r"(?:event[ \t]*id|identificação do evento|id\. de evento|id del evento|код события|id eveniment)[ \t]*:[ \t]*(\d{1,6})",
                    re.IGNORECASE)
_PREFIXES = re.compile(r"^(?:(?:re|fw|fwd|enc|rv|aw)[ \t]*:[ \t]*)+", re.IGNORECASE)
MAX_LINE = 2000
"""Characters of one line that are read: a 20,000-character line of junk costs no more than a long one."""
_ERROR_WORDS = re.compile(
    r"error|fail|exception|denied|refused|timed? ?out|cannot|can't|unable|not respond|stopp|crash|hang|full|"
    r"corrupt|invalid|warning|erro|falh|negad|não|nao|no se|fall[oó]|deneg|ошибк|сбой|не удал|отказ|"
    r"завис|eroare|eșu|esu|nu se|refuz", re.IGNORECASE)
_VERSION = re.compile(r"\b\d+\.\d+(?:\.\d+){1,2}\b|\b(?:19|20)\d{2}(?:\s*R2)?\b")
_ENVIRONMENT = re.compile(r"windows|server|sql|exchange|outlook|hyper-v|vmware|veeam|version|versão|versión|версия|"
                          r"versiune|build|kb\d{6,7}", re.IGNORECASE)
_DISCLAIMER = re.compile(r"confidential|intended recipient|disclaimer|confidencial|destinatário|конфиденциальн|"
                         r"confidențial|unsubscribe|sent from my", re.IGNORECASE)


@dataclass(frozen=True)
class PasteAnalysis:
    """What a paste says, for search and for a case draft."""

    identifiers: tuple[str, ...]            # error codes, event IDs, KB numbers... in order of appearance
    event_sources: dict[str, str]           # event ID -> the source that logged it
    products: tuple[str, ...]               # products of the index that the paste names
    versions: tuple[str, ...]               # version and build numbers in the paste
    lines: tuple[str, ...]                  # distinct behaviour lines, noise removed, in paste order
    environment: tuple[str, ...]            # lines that describe the environment (OS, product, version)
    title: str                              # a title guess: the subject line, else the first line with an error word
    total_lines: int = 0
    repeated_lines: int = 0                 # lines that repeat an earlier one once noise is removed
    dropped_lines: int = 0                  # lines with nothing left but noise or log fields
    original: str = field(default="", repr=False)

    @property
    def text(self) -> str:
        """What the embedding model reads: the kept lines."""
        return "\n".join(self.lines)

    @property
    def empty(self) -> bool:
        """Nothing left to search with: no code and no line once the noise is out (timestamps and GUIDs only)."""
        return not self.lines and not self.identifiers


def normalise(pasted: str) -> str:
    """CRLF and CR to LF, tabs to spaces, colour codes and other control characters removed, cut to MAX_CHARS."""
    cleaned = _ANSI.sub("", pasted[: MAX_CHARS * 2].lstrip("\ufeff")).replace("\r\n", "\n").replace("\r", "\n").replace("\t", " ")
    return _CONTROL.sub("", cleaned)[:MAX_CHARS]


def without_noise(line: str, keep: Iterable[str] = ()) -> str:
    """A line with timestamps, GUIDs, hashes, addresses, names, paths and long numbers taken out; the
    identifiers in `keep` stay even when they look like noise (a 5-digit event ID)."""
    kept = {k.lower() for k in keep}
    for pattern in _NOISE:
        line = pattern.sub(lambda m: m.group() if m.group().lower() in kept else " ", line)
    line = _LONG_NUMBER.sub(lambda m: m.group() if m.group() in kept else " ", line)
    line = _EMPTY_PAIRS.sub(" ", line)  # the quotes or brackets around what was taken out
    return " ".join(line.split()).strip(" -|:;,.[]()<>=*#")


def analyse(pasted: str, products: Iterable[str] = ()) -> PasteAnalysis:
    """The analysis of a paste; `products`: the product names the index knows."""
    body = normalise(pasted)
    identifiers = tuple(extract_codes(body))
    raw_lines = [line for line in body.split("\n") if line.strip()]
    seen: dict[str, int] = {}
    kept: list[tuple[int, str]] = []
    short: list[str] = []  # lines of one or two words: kept only when nothing longer is left ("UPS dies")
    dropped = repeated = 0
    for line in raw_lines:
        line = line[:MAX_LINE]
        field = _FIELD.match(line)
        if (field and len(line[field.end():].split()) <= 3) or _DISCLAIMER.search(line):  # "User: N/A", not "User: cannot log on ..."
            dropped += 1
            continue
        subject = _SUBJECT.match(line)
        clean = _PREFIXES.sub("", without_noise(subject.group(1) if subject else line, identifiers))
        letters = [w for w in text.words(clean) if w.isalpha() and len(w) > 1]
        if len(letters) < 3:
            dropped += 1
            if letters:
                short.append(clean)
            continue
        key = re.sub(r"\d+", "#", text.fold(clean))
        if key in seen:
            repeated += 1
            continue
        seen[key] = len(kept)
        kept.append((_weight(line, identifiers), clean))
    if not kept and short:
        kept = [(_weight(line, identifiers), line) for line in dict.fromkeys(short)]
        dropped -= len(kept)
    chosen = sorted(sorted(range(len(kept)), key=lambda i: -kept[i][0])[:MAX_LINES])
    lines = tuple(kept[i][1] for i in chosen)
    return PasteAnalysis(
        identifiers=identifiers, event_sources=_event_sources(body),
        products=tuple(p for p in products if p and text.fold(p) in text.fold(body)),
        versions=tuple(dict.fromkeys(_VERSION.findall(_DATES.sub(" ", body))))[:10],
        lines=lines, environment=tuple(line for _, line in kept if _ENVIRONMENT.search(line))[:5],
        title=_title(body, [line for _, line in kept], identifiers), total_lines=len(raw_lines), repeated_lines=repeated,
        dropped_lines=dropped, original=body,
    )


def _weight(line: str, identifiers: tuple[str, ...]) -> int:
    """Lines with an error word or a code say more about the problem than the rest."""
    folded = text.fold(line)
    return 2 * bool(_ERROR_WORDS.search(line)) + 2 * any(text.fold(i) in folded for i in identifiers)


def _event_sources(body: str) -> dict[str, str]:
    """Event ID -> source, from the "Source: ... Event ID: ..." fields of an event-log export: each
    Event ID goes with the nearest Source line above it (a blank line ends an event)."""
    found: dict[str, str] = {}
    source = None
    for line in body.split("\n"):
        if not line.strip():
            source = None
        elif (m := _SOURCE.match(line[:MAX_LINE])) is not None:
            source = m.group(1)[:80]
        elif source and (event := _EVENT.search(line[:MAX_LINE])):
            found.setdefault(event.group(1), source)
    return found


def _title(body: str, lines: list[str], identifiers: tuple[str, ...]) -> str:
    """The subject of an e-mail, else the first kept line with an error word, else the first kept line."""
    subject = _SUBJECT.search(body)
    candidate = _PREFIXES.sub("", without_noise(subject.group(1)[:MAX_LINE], identifiers)) if subject else ""
    if not candidate:
        candidate = next((line for line in lines if _ERROR_WORDS.search(line)), lines[0] if lines else "")
    return candidate[:120].rsplit(" ", 1)[0] if len(candidate) > 120 else candidate


def case_draft(analysis: PasteAnalysis, language: str = "en", product: str = "", tags: Iterable[str] = ()) -> str:
    """A case write-up started from a paste: title guess, symptoms (the lines with an error word or a
    code first), error codes, environment lines, the first product and version it names, and the
    paste itself; what `kb new case --from`, the page and `/api/similar` offer when nothing matches."""
    ranked = sorted((line for line in analysis.lines if line != analysis.title),
                    key=lambda line: -_weight(line, analysis.identifiers))
    return draft_case(analysis.title or "Describe the symptom", symptoms=ranked[:3], error_codes=list(analysis.identifiers),
                      environment=list(analysis.environment), original=analysis.original,
                      product=product or (analysis.products[0] if analysis.products else ""),
                      version=analysis.versions[0] if analysis.versions else "", language=language, tags=list(tags))
