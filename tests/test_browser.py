"""A real browser against a real server: type a symptom, see the right case first."""

from __future__ import annotations

import os
import re
import shutil
from contextlib import contextmanager
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
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    yield context.new_page()
    context.close()


NOT_FOUND = "/documents/cases/nope.md"
PHONE, DESKTOP = {"width": 390, "height": 844}, {"width": 1280, "height": 900}


@contextmanager
def fresh_page(browser, viewport: dict):
    """A page in its own context, and the console errors and page errors it logs: the test asserts none.
    Chromium logs the 404 status of a page opened on purpose at `/documents/cases/nope.md`; that one is expected."""
    context = browser.new_context(viewport=viewport)
    page = context.new_page()
    problems: list[str] = []

    def console(message):
        expected = message.location.get("url", "").endswith(NOT_FOUND) and "404" in message.text
        if message.type == "error" and not expected:
            problems.append(f"{message.text} ({message.location.get('url')})")

    page.on("console", console)
    page.on("pageerror", lambda exc: problems.append(str(exc)))
    try:
        yield page, problems
    finally:
        context.close()


def overflow(page) -> int:
    """How many pixels the page is wider than the window (it scrolls sideways when > 0)."""
    return page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")


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
    assert ["0x80070005" in (li.locator(".codes").text_content() if li.locator(".codes").count() else "") for li in firsts] == [True, True, True, False]
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


QUERY = "backup fails access denied"


@pytest.mark.parametrize("viewport", [PHONE, DESKTOP], ids=["390px", "1280px"])
def test_results_come_first_and_nothing_scrolls_sideways(live_server: str, browser, viewport):
    """At phone width the header wraps, the filters fold behind a "Filters" button and the first
    result is on the first screen; on a desktop the filters sit beside the results."""
    with fresh_page(browser, viewport) as (page, problems):
        page.goto(live_server + "/?q=" + QUERY.replace(" ", "+"))
        first = page.locator("ol.results li").first
        box = first.locator("a.title").bounding_box()
        assert box["y"] + box["height"] <= viewport["height"], "the first result's title is below the first screen"
        assert page.locator("button[type=submit]", has_text="Search").bounding_box()["x"] + 10 <= viewport["width"]
        assert overflow(page) == 0
        filters = page.locator("details.facets")
        if viewport is PHONE:
            assert filters.get_attribute("open") is None and filters.locator("summary").inner_text().startswith("Filters")
            assert filters.bounding_box()["y"] < first.bounding_box()["y"]  # the button is above the results...
            assert not filters.locator("a[data-facet=language]").first.is_visible()  # ...and the facets behind it
            page.screenshot(path=str(ARTIFACTS / "phone-search.png"), full_page=False)
            filters.locator("summary").click()
            assert filters.locator("a[data-facet=language]").first.is_visible()
            page.screenshot(path=str(ARTIFACTS / "phone-filters-open.png"), full_page=False)
        else:
            assert filters.get_attribute("open") is not None
            assert filters.bounding_box()["x"] > first.bounding_box()["x"] + first.bounding_box()["width"] - 1
            page.screenshot(path=str(ARTIFACTS / "desktop-search.png"), full_page=True)
        for path in ("/documents/cases/refs-fragmentation-backup-cpu-ram.md", "/paste", "/new-case?q=ups+dies",
                     "/documents/cases/nope.md", "/?q=0x8007005"):
            page.goto(live_server + path)
            assert overflow(page) == 0, path
        assert problems == []


@pytest.mark.parametrize("viewport", [PHONE, DESKTOP], ids=["390px", "1280px"])
def test_a_result_opens_at_its_passage_and_back_restores_the_list(live_server: str, browser, viewport):
    with fresh_page(browser, viewport) as (page, problems):
        page.goto(live_server + "/?q=" + QUERY.replace(" ", "+"))
        page.locator("details.weak summary").click()
        third = page.locator("li.result").nth(2)
        third.scroll_into_view_if_needed()
        heading = third.locator(".snippet .heading")
        heading = heading.inner_text() if heading.count() else None
        third.locator("a.title").click()
        page.wait_for_selector("article.document")
        assert page.url.endswith("#passage")
        passage = page.locator("#passage")
        box, header = passage.bounding_box(), page.locator("header.top").bounding_box()
        assert header["height"] - 1 <= box["y"] < viewport["height"] / 2, "the passage is not at the top of the screen"
        if heading:
            assert passage.locator("h1, h2, h3, h4").first.inner_text() == heading.split(" > ")[-1]
        assert passage.locator("mark").count() > 0  # the query's words, marked
        assert page.input_value("#q") == QUERY  # the search box keeps the query
        page.screenshot(path=str(ARTIFACTS / f"document-at-passage-{viewport['width']}.png"), full_page=False)

        page.locator("a.back-to-results").first.click()
        page.wait_for_selector("ol.results")
        assert page.url == live_server + "/?q=" + QUERY.replace(" ", "+") + "#r3"
        back_at = page.locator("#r3")
        assert back_at.is_visible()  # the folded list was unfolded to show it...
        top = back_at.bounding_box()["y"]
        assert page.locator("header.top").bounding_box()["height"] - 1 <= top < viewport["height"] / 2  # ...at the top of the screen

        # without the history (a shared link): the link itself returns to the result
        page.goto(live_server + "/?q=" + QUERY.replace(" ", "+"))
        href = page.locator("li.result a.title").nth(1).get_attribute("href")
        page.goto(live_server + href)
        back = page.locator("a.back-to-results").first.get_attribute("href")
        assert back == "/?q=" + QUERY.replace(" ", "+") + "#r2"
        assert problems == []


def test_api_docs_render_with_no_network_but_the_app(live_server: str, browser):
    with fresh_page(browser, DESKTOP) as (page, problems):
        outside: list[str] = []

        def only_the_app(route):
            if route.request.url.startswith(live_server):
                route.continue_()
            else:
                outside.append(route.request.url)
                route.abort()

        page.route("**/*", only_the_app)
        page.goto(live_server + "/docs")
        page.wait_for_selector(".swagger-ui .info .title", timeout=15000)
        assert "casebook" in page.locator(".swagger-ui .info .title").inner_text()
        assert page.locator(".opblock-summary-path", has_text="/api/search").count() >= 1
        page.screenshot(path=str(ARTIFACTS / "api-docs-offline.png"), full_page=False)
        assert outside == [] and problems == []


UPS_ANSWERS = {"articles/ups-battery-unexpected-shutdown.md", "cases/nobreak-descarrega-desliga-sala-servidores.md"}
""""ups keeps dying": the English UPS article and the Portuguese no-break case both answer it."""


def test_error_pages_are_pages_with_a_search_box(live_server: str, browser):
    with fresh_page(browser, PHONE) as (page, problems):
        response = page.goto(live_server + "/documents/cases/nope.md")
        assert response.status == 404
        assert page.locator("h1").inner_text() == "Not found"
        assert "no document" in page.locator(".error-page .notice").inner_text()
        page.screenshot(path=str(ARTIFACTS / "not-found.png"), full_page=False)
        page.fill("#q", "UPS battery shuts the servers down")
        page.press("#q", "Enter")
        page.wait_for_selector("ol.results li")
        assert page.locator("ol.results li").first.get_attribute("data-id")  in UPS_ANSWERS
        assert page.goto(live_server + "/favicon.ico").ok
        assert problems == []


@pytest.mark.parametrize("viewport", [PHONE, DESKTOP], ids=["390px", "1280px"])
def test_search_as_you_type(live_server: str, browser, viewport):
    """Results follow the typing (no Enter), stale requests are cancelled, the URL follows; Enter still submits."""
    with fresh_page(browser, viewport) as (page, problems):
        page.goto(live_server + "/")
        page.locator("#q").press_sequentially("ups keeps dying", delay=40)
        page.wait_for_url(re.compile(r".*/\?q=ups\+keeps\+dying$"), timeout=5000)
        assert page.locator("ol.results li").first.get_attribute("data-id")  in UPS_ANSWERS
        assert page.locator("#q").evaluate("box => box === document.activeElement")  # typing goes on in the same box
        page.reload()
        assert page.locator("ol.results li").first.get_attribute("data-id")  in UPS_ANSWERS
        page.fill("#q", "refs fragmentation backup server high cpu memory")
        page.press("#q", "Enter")
        page.wait_for_url(re.compile(r".*refs\+fragmentation.*"))
        assert page.locator("ol.results li").first.get_attribute("data-id") == "cases/refs-fragmentation-backup-cpu-ram.md"
        assert problems == []


@pytest.mark.parametrize("viewport", [PHONE, DESKTOP], ids=["390px", "1280px"])
def test_keyboard_reaches_results_before_filters_and_axe_finds_nothing_serious(live_server: str, browser, viewport):
    from axe_playwright_python.sync_playwright import Axe

    with fresh_page(browser, viewport) as (page, problems):
        page.goto(live_server + "/?q=" + QUERY.replace(" ", "+"))
        page.focus("#q")
        reached = []
        for _ in range(15):
            page.keyboard.press("Tab")
            reached.append(page.evaluate("document.activeElement.closest('li.result') ? 'result' : "
                                         "document.activeElement.closest('details.facets') ? 'filters' : 'other'"))
        assert "result" in reached and ("filters" not in reached or reached.index("result") < reached.index("filters"))
        outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
        assert outline not in ("none", ""), "the focused element shows no focus ring"
        for path in ("/?q=" + QUERY.replace(" ", "+"), "/documents/cases/refs-fragmentation-backup-cpu-ram.md?q=refs", "/paste",
                     "/documents/cases/nope.md"):
            page.goto(live_server + path)
            serious = [v for v in Axe().run(page).response["violations"] if v["impact"] in ("serious", "critical")]
            assert serious == [], (path, [(v["id"], v["help"], [n["target"] for n in v["nodes"]][:3]) for v in serious])
        assert problems == []


@pytest.mark.parametrize("viewport", [PHONE, DESKTOP], ids=["390px", "1280px"])
def test_snippets_show_the_documents_own_text_and_ids_resolve_in_any_case(live_server: str, browser, viewport):
    with fresh_page(browser, viewport) as (page, problems):
        page.goto(live_server + "/?q=" + QUERY.replace(" ", "+"))
        page.locator("details.weak summary").click()
        headings = [h.inner_text() for h in page.locator("li.result .snippet .heading").all()]
        assert headings and not any(h.split(" > ")[-1].lower() in ("references", "summary") for h in headings), headings
        page.goto(live_server + "/documents/CASES/Refs-Fragmentation-Backup-CPU-RAM?q=refs")
        assert page.url == live_server + "/documents/cases/refs-fragmentation-backup-cpu-ram.md?q=refs"
        assert "ReFS" in page.locator("article.document h1").first.inner_text()
        assert problems == []


def test_my_languages_are_remembered_and_every_result_shows_its_language(live_server: str, browser):
    """An engineer who reads Portuguese ticks it under "My languages": searches from the box (Enter or
    typing) show only Portuguese results, after a reload too, each with a language badge on a phone."""
    with fresh_page(browser, PHONE) as (page, problems):
        page.goto(live_server + "/")
        mine = page.locator("details.my-languages")
        mine.locator("summary").click()
        mine.locator("label", has_text="Português").click()
        page.wait_for_url(re.compile(r".*/\?language=pt$"))
        assert mine.get_attribute("open") is not None and mine.locator("summary").inner_text() == "My languages: pt"
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "my-languages-open-phone.png"), full_page=False)
        page.fill("#q", "0x800f0922 efi")
        page.press("#q", "Enter")
        page.wait_for_url(re.compile(r".*language=pt.*"))
        page.wait_for_selector("li.result", state="attached")  # weak results are folded, but there

        def only_portuguese():
            results = page.locator("li.result")
            assert results.count() > 0 and {li.get_attribute("data-language") for li in results.all()} == {"pt"}
            assert page.locator("details.my-languages input[value=pt]").is_checked()

        only_portuguese()
        badge = page.locator("li.result").first.locator(".lang")
        assert badge.is_visible() and badge.inner_text().endswith("Português · pt")
        box = badge.bounding_box()
        assert box["x"] + box["width"] <= PHONE["width"] and overflow(page) == 0
        page.screenshot(path=str(ARTIFACTS / "my-languages-phone.png"), full_page=False)

        page.reload()
        only_portuguese()
        page.goto(live_server + "/")  # no language in the URL: the browser remembers the choice
        page.locator("#q").press_sequentially("0x800f0922 efi", delay=20)
        page.wait_for_url(re.compile(r".*/\?q=0x800f0922\+efi&language=pt$"), timeout=5000)
        only_portuguese()
        page.goto(live_server + "/documents/cases/refs-fragmentation-backup-cpu-ram.md")
        assert page.locator("article.document .sub .lang").inner_text().endswith("English · en")
        assert problems == []
