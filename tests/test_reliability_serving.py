"""The server when the search log fails or grows (issue 16): a full disk leaves search and the page up and
/healthz degraded, verdicts that cannot be stored are a 503, the log is pruned to `log_days`, and reading
it back (gaps, the verdict list) needs the admin token when one is set."""

from __future__ import annotations

import logging
import sqlite3
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from kb.config import Settings
from kb.store.searches import SearchLog
from tests.conftest import client_with_own_log

REFS_CASE = "cases/refs-fragmentation-backup-cpu-ram.md"


@pytest.fixture(scope="module")
def client(kb_settings: Settings, tmp_path_factory) -> TestClient:
    with client_with_own_log(kb_settings, tmp_path_factory.mktemp("serving")) as c:
        yield c


@pytest.fixture()
def fresh(client: TestClient, tmp_path: Path) -> TestClient:
    """The server with an empty log of its own; its log and settings are restored afterwards."""
    state = client.app.state
    shared = state.search_log, state.settings
    state.search_log = SearchLog(tmp_path / "searches.sqlite")
    yield client
    state.search_log.close()
    state.search_log, state.settings = shared


def fill_disk(log: SearchLog) -> None:
    """What a full disk does to SQLite: the database may not grow by another page."""
    log.conn.execute(f"PRAGMA max_page_count = {log.conn.execute('PRAGMA page_count').fetchone()[0]}")
    for insert in ("INSERT INTO searches(at, query, results, took_ms) VALUES ('', ?, 0, 1)",
                   "INSERT INTO feedback(at, query, doc_id, verdict) VALUES ('', ?, '', 'solved')"):
        for size in (2000, 200, 20, 0):
            while True:
                try:
                    log.conn.execute(insert, ("x" * size,))
                except sqlite3.OperationalError:
                    break


def days_ago(days: int) -> str:
    return (datetime.now(timezone.utc) - timedelta(days=days)).isoformat(timespec="seconds")


def test_a_full_disk_leaves_search_and_the_page_up_and_healthz_degraded(fresh: TestClient, caplog):
    client = fresh
    assert client.get("/healthz").json()["status"] == "ok"
    fill_disk(client.app.state.search_log)
    with caplog.at_level(logging.WARNING, logger="kb.store.searches"):
        for q in ("refs fragmentation backup", "outlook password", "zzqxv flibbertigibbet"):
            r = client.get("/api/search", params={"q": q})
            assert r.status_code == 200 and r.json()["results"], r.text
        page = client.get("/", params={"q": "refs fragmentation backup"})
        assert page.status_code == 200 and "refs-fragmentation-backup-cpu-ram" in page.text
    assert [rec.levelname for rec in caplog.records if rec.name == "kb.store.searches"] == ["WARNING"]  # once, not per search
    health = client.get("/healthz")
    assert health.status_code == 200
    assert health.json()["status"] == "degraded" and health.json()["documents"] > 0
    assert health.json()["problems"] == ["search log not writable (database or disk is full): searches are not being logged"]
    verdict = client.post("/api/feedback", json={"query": "refs", "document": REFS_CASE, "verdict": "solved"})
    assert verdict.status_code == 503 and "not saved (database or disk is full)" in verdict.json()["detail"]
    client.app.state.search_log.conn.execute("PRAGMA max_page_count = 1073741823")  # space freed
    assert client.get("/api/search", params={"q": "outlook password"}).status_code == 200
    assert client.get("/healthz").json() | {"status": "ok", "problems": []} == client.get("/healthz").json()


def test_reading_the_log_needs_the_admin_token_when_one_is_set(fresh: TestClient):
    client = fresh
    assert client.get("/api/gaps").status_code == 200 and client.get("/api/feedback").status_code == 200  # no token: open
    client.app.state.settings = client.app.state.settings.with_(admin_token="s3cret")
    for path in ("/api/gaps", "/api/feedback"):
        assert client.get(path).status_code == 401
        assert client.get(path, headers={"Authorization": "Bearer wrong"}).status_code == 401
        assert client.get(path, headers={"Authorization": "s3cret"}).status_code == 401
        assert client.get(path, headers={"Authorization": "bearer s3cret"}).status_code == 200
    assert client.get("/api/search", params={"q": "zzqxv"}).status_code == 200  # searching and giving verdicts stay open
    assert client.post("/api/feedback", json={"query": "refs", "document": REFS_CASE, "verdict": "not-helpful"}).status_code == 201
    gaps = client.get("/api/gaps", headers={"Authorization": "Bearer s3cret"}).json()["gaps"]
    assert {g["query"] for g in gaps} == {"zzqxv", "refs"}


def test_the_server_prunes_the_log_at_startup_and_gaps_default_to_its_window(client: TestClient, kb_settings: Settings,
                                                                           tmp_path: Path):
    settings = kb_settings.with_(index=tmp_path / "index", log_days=30)
    log = SearchLog(settings.search_log)
    for days, query in ((400, "last year"), (45, "last month"), (1, "yesterday")):
        log.conn.execute("INSERT INTO searches(at, query, results, took_ms, answered) VALUES (?, ?, 0, 1, 0)", (days_ago(days), query))
    log.close()
    with TestClient(create_app(settings, live=client.app.state.live)) as served:
        log = served.app.state.search_log
        assert [r.query for r in log.rows()] == ["yesterday"]  # pruned when the server started
        log.conn.execute("INSERT INTO searches(at, query, results, took_ms, answered) VALUES (?, 'aged since', 0, 1, 0)",
                         (days_ago(31),))  # older than the window, not yet pruned (that is daily)
        report = served.get("/api/gaps").json()
        assert [g["query"] for g in report["gaps"]] == ["yesterday"] and report["since"][:10] == days_ago(30)[:10]
        every = served.get("/api/gaps", params={"since": "2000-01-01"}).json()["gaps"]
        assert {g["query"] for g in every} == {"yesterday", "aged since"}


def test_a_failed_build_shows_in_healthz_until_one_succeeds(client: TestClient):
    from kb.layout import IndexLayout

    layout = IndexLayout(client.app.state.settings.index)
    layout.record_failure("no space left on device writing /secret/path/kb.sqlite: free space or point KB_INDEX elsewhere")
    try:
        health = client.get("/healthz").json()
        assert health["status"] == "degraded"
        problem = next(p for p in health["problems"] if p.startswith("the last build failed at "))
        assert "/secret/path" not in problem  # /healthz is open: no paths
    finally:
        layout.clear_failure()
    assert not any("build failed" in p for p in client.get("/healthz").json()["problems"])
