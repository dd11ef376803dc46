"""A real browser against a real server: type a symptom, see the right case first."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from kb.config import Settings

pytestmark = pytest.mark.browser
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = Path(__file__).parent / "artifacts"
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
]

if not Path(CHROMIUM).exists():
    if os.environ.get("CI"):
        raise RuntimeError("chromium is not installed; .ci/run installs Debian's chromium package")
    pytest.skip("Debian chromium not installed (apt-get install chromium)", allow_module_level=True)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(kb_settings: Settings):
    """`kb serve` in a subprocess over the test index, as `make run` starts it."""
    port = _free_port()
    env = {**os.environ, "KB_INDEX": str(kb_settings.index), "KB_ARTICLES": str(kb_settings.articles)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "kb.cli", "serve", "--port", str(port)],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"server exited: {proc.stdout.read()}")
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.3)
    else:
        proc.kill()
        pytest.fail("server did not become healthy in 90 s")
    yield url
    proc.terminate()
    proc.wait(timeout=20)


@pytest.fixture(scope="module")
def page():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 1200, "height": 900})
        yield context.new_page()
        browser.close()


def test_typing_a_symptom_shows_the_refs_case_first(server: str, page):
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(server + "/")
    page.fill("input[name=q]", "refs fragmentation backup server high cpu memory")
    page.keyboard.press("Enter")
    page.wait_for_selector("ol.results li")
    first = page.locator("ol.results li").first
    assert first.get_attribute("data-id") == "cases/refs-fragmentation-backup-cpu-ram.md"
    assert first.locator(".badge.case").is_visible()
    assert first.locator(".resolution").inner_text().startswith("Resolution:")
    assert first.locator("mark").count() > 0
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "search-refs.png"), full_page=True)

    first.locator("a.title").click()
    page.wait_for_selector("article.document")
    assert "ReFS" in page.locator("h1").inner_text()
    assert page.locator("dl.case-fields dt", has_text="Root cause").is_visible()
    page.screenshot(path=str(ARTIFACTS / "document-refs.png"), full_page=True)
    assert errors == []
