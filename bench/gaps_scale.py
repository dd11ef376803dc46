"""The gap report (`GET /api/gaps`, `kb gaps`) on a large search log, and pruning it to the retention window.

    python bench/gaps_scale.py                      # 100,000 searches, 3,000 distinct weak wordings
    python bench/gaps_scale.py --rows 8000 --pairwise 8000   # also the old pairwise grouping, same result
    python bench/gaps_scale.py --rows 0 --unique 8000 --pairwise 8000  # the issue's case: 8,000 one-off weak queries

Fills a temporary `searches.sqlite` with a realistic mix: most searches are answered (strong first
result), the rest come from a few thousand distinct weak wordings (products x symptoms x error codes,
a few in Portuguese and Russian) repeated with a Zipf-like skew, as real logs repeat their top
questions; one in twenty weak searches also gets a "not helpful" verdict. Timestamps span the last
120 days. Prints the time to read the log (`SearchLog.rows` without the answered searches, as
/api/gaps reads it, and `feedback`) and to group it (`kb.gaps.find_gaps`): together, what /api/gaps
computes; and, for comparison, reading every row. `--pairwise N` also times the grouping
this replaced (each query compared with every group) on the first N rows and checks both agree.
`--unique N` adds N weak searches that are all different (three words of a 5,000-word vocabulary and
one of a few common ones): few share a group, the case where comparing with every group was slowest.
Then prunes the log to 90 days (`SearchLog.prune`, what `log_days` does daily). Figures only.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from kb.gaps import Gap, PairwiseGrouping, find_gaps, is_gap  # noqa: E402
from kb.store.searches import FeedbackRow, SearchLog, SearchRow  # noqa: E402

PRODUCTS = ["outlook", "sharepoint", "teams", "onedrive", "exchange", "vpn client", "ups", "nas", "veeam", "hyper-v",
            "printer", "scanner", "citrix", "sql server", "iis", "active directory", "dns", "dhcp", "wsus", "intune",
            "bitlocker", "azure ad", "firewall", "switch", "wifi", "laptop dock", "monitor", "excel", "word", "sap gui"]
SYMPTOMS = ["keeps crashing", "slow after update", "asks for password", "cannot connect", "sync stuck", "login fails",
            "disconnects randomly", "high cpu", "out of memory", "certificate expired", "license error", "not starting",
            "freezes on startup", "access denied", "timeout", "blank screen", "missing permissions", "backup fails",
            "quota exceeded", "wrong time", "stuck in loop", "error on save", "cannot print", "no sound", "drops calls"]
EXTRAS = ["again", "since monday", "for all users", "only on wifi", "after reboot", "windows 11", "mac", "remote", "urgent"]
CODES = ["0x80070005", "0x8004010f", "0x80072ee2", "event 1000", "error 53", "error 1603", "0xc000021a", "http 503"]
FOREIGN = ["impressora não imprime", "senha expirada no outlook", "vpn não conecta", "ошибка при подключении",
           "не запускается outlook", "принтер не печатает", "o backup falha", "сервер не отвечает"]


def weak_wordings(count: int, rng: random.Random) -> list[str]:
    """Distinct queries nothing answers well, as engineers type them."""
    found: dict[str, None] = {}
    while len(found) < count:
        words = [rng.choice(PRODUCTS), rng.choice(SYMPTOMS)]
        if rng.random() < 0.4:
            words.append(rng.choice(EXTRAS))
        if rng.random() < 0.25:
            words.append(rng.choice(CODES))
        if rng.random() < 0.05:
            words = [rng.choice(FOREIGN)] + words[1:]
        rng.shuffle(words)
        found[" ".join(words)] = None
    return list(found)


def fill(log: SearchLog, rows: int, distinct: int, answered_share: float, unique: int, rng: random.Random) -> None:
    """`rows` searches and their verdicts, then `unique` one-off weak searches, written in one
    transaction (what months of serving would log)."""
    weak = weak_wordings(distinct, rng)
    strong = [f"{p} {s} howto" for p in PRODUCTS for s in SYMPTOMS]
    weights = [1 / (rank + 1) ** 0.9 for rank in range(len(weak))]  # a few questions come back again and again
    now = datetime.now(timezone.utc)
    searches, verdicts = [], []
    for n in range(rows):
        at = (now - timedelta(seconds=rng.uniform(0, 120 * 86400))).isoformat(timespec="seconds")
        if rng.random() < answered_share:
            searches.append((at, rng.choice(strong), 20, 0.71, 12.0, None, 20, "strong", 1))
            continue
        query = rng.choices(weak, weights)[0]
        results = 0 if rng.random() < 0.1 else 20
        searches.append((at, query, results, 0.3 if results else None, 15.0, None, results, "weak", 0))
        if rng.random() < 0.05:
            verdicts.append((at, query, f"cases/doc-{rng.randrange(300)}.md", None, None, "not-helpful"))
    vocabulary = [f"{rng.choice('bcdfgklmnprstvz')}{rng.choice('aeiou')}{n}x" for n in range(5000)]
    for n in range(unique):
        at = (now - timedelta(seconds=rng.uniform(0, 120 * 86400))).isoformat(timespec="seconds")
        query = " ".join(rng.sample(vocabulary, 3) + [rng.choice(["error", "fails", "slow", "server", "cannot"])])
        searches.append((at, query, 20, 0.3, 15.0, None, 20, "weak", 0))
    with log.lock:
        log.conn.execute("BEGIN")
        log.conn.executemany("INSERT INTO searches(at, query, results, top_score, took_ms, filters, unfiltered, best_match,"
                             " answered) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", searches)
        log.conn.executemany("INSERT INTO feedback(at, query, doc_id, heading, line, verdict) VALUES (?, ?, ?, ?, ?, ?)",
                             verdicts)
        log.conn.execute("COMMIT")


def pairwise_gaps(rows: list[SearchRow], feedback: list[FeedbackRow]) -> list[Gap]:
    """The gap report with the plain quadratic grouping (the reference)."""
    return find_gaps(rows, feedback=feedback, grouping=PairwiseGrouping)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=100_000, help="Searches in the log.")
    parser.add_argument("--distinct", type=int, default=3000, help="Distinct weak wordings.")
    parser.add_argument("--answered", type=float, default=0.6, help="Share of searches with a strong answer.")
    parser.add_argument("--unique", type=int, default=0, help="One-off weak searches added (all different).")
    parser.add_argument("--pairwise", type=int, default=0, help="Also time the old pairwise grouping on this many rows.")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as folder:
        log = SearchLog(Path(folder) / "searches.sqlite")
        fill(log, args.rows, args.distinct, args.answered, args.unique, random.Random(args.seed))
        start = time.perf_counter()
        every = log.rows()
        read_all = time.perf_counter() - start
        start = time.perf_counter()
        rows, feedback = log.rows(answered=False), log.feedback()
        read = time.perf_counter() - start
        start = time.perf_counter()
        gaps = find_gaps(rows, feedback=feedback)
        grouped = time.perf_counter() - start
        assert gaps == find_gaps(every, feedback=feedback)
        weak = sum(map(is_gap, rows))
        print(f"log: {len(every):,} searches ({weak:,} unanswered, {len({r.query for r in rows if is_gap(r)}):,} distinct), "
              f"{len(feedback):,} verdicts")
        print(f"/api/gaps: read {read:.3f} s (every row: {read_all:.3f} s) + find_gaps {grouped:.3f} s = {read + grouped:.3f} s; "
              f"{len(gaps):,} groups" + (f", top: {gaps[0].query!r} x{gaps[0].count}" if gaps else ""))
        if args.pairwise:
            subset = every[:args.pairwise]
            start = time.perf_counter()
            new = find_gaps(subset, feedback=feedback)
            indexed = time.perf_counter() - start
            start = time.perf_counter()
            old = pairwise_gaps(subset, feedback)
            pairwise = time.perf_counter() - start
            print(f"first {len(subset):,} rows: indexed {indexed:.3f} s, pairwise {pairwise:.3f} s; "
                  f"same groups: {old == new}")
        start = time.perf_counter()
        pruned = log.prune(90)
        print(f"prune to 90 days: {pruned.searches:,} searches and {pruned.feedback:,} verdicts removed "
              f"in {time.perf_counter() - start:.3f} s")
        log.close()


if __name__ == "__main__":
    main()
