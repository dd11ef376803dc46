"""A real browser against a real server: type a symptom, see the right case first."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from kb.config import Settings
from tests.conftest import running_server


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


@pytest.fixture(scope="module")
def page():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 1200, "height": 900})
        yield context.new_page()
        browser.close()


def test_typing_a_symptom_shows_the_refs_case_first(live_server: str, page):
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(live_server + "/")
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


HOSTILE = """---
title: "Printer <img src=x onerror=\\"window.__pwned='title'\\"> driver crash"
tags: ["<script>window.__pwned='tag'</script>", printing]
language: en
product: "<b onmouseover=\\"window.__pwned='product'\\">Spooler</b>"
---
## Symptoms
The spooler crashes with hostile markup. <script>window.__pwned='body'</script>

<img src=x onerror="window.__pwned='img'">

[Click for the fix](javascript:window.__pwned='link') and [data link](data:text/html,<script>window.__pwned='data'</script>)

<a href="javascript:window.__pwned='raw-a'">raw anchor</a>
"""


@pytest.fixture(scope="module")
def hostile_server(embedder, tmp_path_factory):
    from kb.indexer import build_index

    root = tmp_path_factory.mktemp("hostile")
    (root / "articles" / "articles").mkdir(parents=True)
    (root / "articles" / "articles" / "hostile.md").write_text(HOSTILE)
    settings = Settings(articles=root / "articles", index=root / "index")
    build_index(settings, embedder, progress=False)
    with running_server(settings, root / "server.log") as url:
        yield url


def test_hostile_article_renders_inert(hostile_server: str, page):
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.goto(hostile_server + "/?q=spooler+crashes+hostile+markup")
    first = page.locator("ol.results li").first
    assert first.get_attribute("data-id") == "articles/hostile.md"
    assert "<img src=x" in first.locator("a.title").inner_text()  # shown as text, not markup
    first.locator("a.title").click()
    page.wait_for_selector("article.document")
    assert page.locator("article.document script, article.document img, article.document [onerror]").count() == 0
    for name in ("Click for the fix", "data link"):
        links = page.locator("a", has_text=name)
        assert links.count() == 0 or not (links.first.get_attribute("href") or "").startswith(("javascript:", "data:"))
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "hostile-document.png"), full_page=True)
    assert page.evaluate("window.__pwned") is None
    assert dialogs == []


def test_match_strength_no_match_code_group_and_did_you_mean(live_server: str, page):
    """What an engineer sees: strong answers first with weaker ones folded, an honest "no strong match",
    the documents containing a code grouped first, a typo'd code corrected, and feedback in place."""
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    ARTIFACTS.mkdir(exist_ok=True)

    page.goto(live_server + "/?q=" + "refs fragmentation backup server high cpu memory".replace(" ", "+"))
    strong = page.locator("ol.results > li[data-match=strong]")
    assert strong.first.get_attribute("data-id") == "cases/refs-fragmentation-backup-cpu-ram.md"
    assert strong.first.locator(".match.strong").is_visible()
    folded = page.locator("details.weak")
    assert not folded.get_attribute("open") and "Less related (" in folded.locator("summary").inner_text()
    assert not folded.locator("li").first.is_visible()  # folded until asked for
    assert page.locator(".no-match").count() == 0
    page.screenshot(path=str(ARTIFACTS / "trust-strong-and-folded.png"), full_page=True)
    folded.locator("summary").click()
    assert folded.locator("li").first.is_visible()
    strong.first.locator("button[value=solved]").click()  # JavaScript posts the verdict and thanks in place
    page.wait_for_selector("form.feedback.sent")
    assert "marked as solved" in strong.first.locator("form.feedback").inner_text()

    page.goto(live_server + "/?q=zzqxv+flibbertigibbet")
    assert "No strong match for “zzqxv flibbertigibbet”" in page.locator(".no-match h2").inner_text()
    assert page.locator(".no-match a.write-case").get_attribute("href") == "/new-case?q=zzqxv+flibbertigibbet"
    assert page.locator("ol.results > li[data-match=strong], ol.results > li[data-match=partial]").count() == 0
    assert page.locator("details.weak summary").is_visible()
    page.screenshot(path=str(ARTIFACTS / "trust-no-match.png"), full_page=True)

    page.goto(live_server + "/?q=0x80070005")
    group = page.locator(".code-group")
    assert "3 documents contain 0x80070005, listed first" in group.inner_text()
    firsts = page.locator("li.result").all()[:4]
    assert ["0x80070005" in (li.locator(".codes").inner_text() if li.locator(".codes").count() else "") for li in firsts] == [True, True, True, False]
    page.screenshot(path=str(ARTIFACTS / "trust-code-group.png"), full_page=True)

    page.goto(live_server + "/?q=0x8007005")
    suggestion = page.locator("a.did-you-mean")
    assert "No document contains 0x8007005" in page.locator(".code-missing").inner_text() and suggestion.inner_text() == "0x80070005"
    page.screenshot(path=str(ARTIFACTS / "trust-did-you-mean.png"), full_page=True)
    suggestion.click()
    page.wait_for_selector(".code-group")
    assert page.locator("input[name=q]").input_value() == "0x80070005"
    assert errors == []


def test_paste_mode_finds_the_case_and_says_why(live_server: str, page):
    """An engineer pastes a job log (Ctrl+Enter sends it) and sees the resolved case first with its
    resolution and what it matched on; a paste nothing answers offers a case draft."""
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(live_server + "/")
    page.click("a.paste-link")
    log = "".join(f"2026-11-03 02:14:{s:02d}.551 [ERROR] Job 'Nightly VMs': failed to create file \\\\nas01\\repo\\vm{s}.vbk: "
                  f"Access is denied. (0x80070005)\n" for s in range(8))
    page.fill("#paste-text", log + "The svc-backup account gets locked out since we rotated its password.\n")
    page.press("#paste-text", "Control+Enter")
    page.wait_for_selector("ol.results li")
    first = page.locator("ol.results li").first
    assert first.get_attribute("data-id") == "cases/backup-nas-access-denied-after-password-rotation.md"
    assert first.locator(".answer dt", has_text="Resolution").is_visible()
    assert "0x80070005" in first.locator(".why").inner_text()
    assert "kept 2, 7 repeated" in page.locator(".notice.analysis").inner_text()
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "paste-mode.png"), full_page=True)

    page.fill("#paste-text", "Subject: Coffee machine in the lab shows E17 and leaks water onto the floor\n"
                             "It beeps three times and the display goes dark after the descaling cycle.\n")
    page.press("#paste-text", "Control+Enter")
    page.wait_for_selector(".no-match")
    assert "title: Coffee machine in the lab shows E17" in page.locator(".no-match textarea.draft").input_value()
    page.screenshot(path=str(ARTIFACTS / "paste-no-match-draft.png"), full_page=True)
    assert errors == []
