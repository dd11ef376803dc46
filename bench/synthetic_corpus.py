"""Generated support articles for benchmarks: valid casebook Markdown, deterministic for a seed.

The text is drawn from a support-engineering vocabulary, so the tokenizer sees ordinary word pieces
and passages are as long as the `words` argument says; it is not meant to be searched.
"""

from __future__ import annotations

import random
from pathlib import Path

PRODUCTS = ("Windows Server", "SQL Server", "Hyper-V", "Exchange", "Active Directory", "Azure VM", "Backup")
HEADINGS = ("Symptoms", "Cause", "Resolution", "More information")
WORDS = (
    "backup job server disk volume latency timeout error event log service account permission share "
    "replication cluster node network adapter driver update restart snapshot checkpoint certificate "
    "expired renew database transaction log growth memory cpu usage high slow query index fragmentation "
    "storage controller firmware policy group domain controller dns resolution intermittent failure "
    "connection refused retry registry key value configuration mailbox queue transport tls handshake "
    "virtual machine host migration paused saved state agent console credential password rotation "
    "quota limit threshold alert warning critical install upgrade rollback patch cumulative hotfix"
).split()


def sentence(rng: random.Random, words: int) -> str:
    body = " ".join(rng.choice(WORDS) for _ in range(words))
    return body[0].upper() + body[1:] + (f" (0x{rng.randrange(16**8):08X})." if rng.random() < 0.2 else ".")


def article(rng: random.Random, number: int, sections: int, words: int) -> str:
    """One article: front matter and `sections` sections of about `words` words each."""
    title = f"{sentence(rng, 6)[:-1]} #{number}"
    tags = ", ".join(sorted({rng.choice(WORDS) for _ in range(3)}))
    body = []
    for heading in HEADINGS[:sections]:
        text = " ".join(sentence(rng, 10) for _ in range(max(1, words // 10)))
        body.append(f"## {heading}\n\n{text}\n")
    front = (f'---\ntitle: "{title}"\ntype: article\nproduct: {rng.choice(PRODUCTS)}\n'
             f"tags: [{tags}]\nlanguage: en\n---\n\n")
    return front + "\n".join(body)


def generate_corpus(folder: Path, count: int, seed: int = 0, sections: int = 4, words: int = 120) -> list[Path]:
    """Write `count` articles as folder/generated/gen-NNNNNN.md; returns their paths."""
    rng = random.Random(seed)
    target = folder / "generated"
    target.mkdir(parents=True, exist_ok=True)
    paths = []
    for number in range(count):
        path = target / f"gen-{number:06d}.md"
        path.write_text(article(rng, number, sections, words), encoding="utf-8")
        paths.append(path)
    return paths
