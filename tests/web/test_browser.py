"""The pages in a real browser (Debian's Chromium, driven by Playwright) against a real daemon.

Skipped, visibly, when /usr/bin/chromium is missing (``apt install chromium``; .ci/run installs it).
With ``MONITOR_SCREENSHOTS=docs/img`` the tests also save the screenshots docs/web.md and the README
show (hits, article, rules, playground, sources, outbox).
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.notify.receivers import WebhookReceiver
from tests.ops_support import WORKDIR_CONFIG, Daemon, make_workdir, wait_for
from tests.sources.feedserver import serve

CHROMIUM = Path("/usr/bin/chromium")
pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(),
    reason="browser tests need Debian's chromium at /usr/bin/chromium (apt install chromium)",
)
TOKEN = "browser-test-token-0123456789abcdef"
HOSTILE = '<script>window.__pwned = 1</script> La NATO <img src=x onerror="window.__pwned = 2">'
GAZA_RULE = """\
rules:
  - id: gaza-tregua
    name: Gaza, tregua
    query: '"cessate il fuoco" NEAR/5 Gaza'
    notify: [pager]
    tags: [esteri]
"""
ARTICLES = {
    "gaza.txt": (
        "Gaza, firmato il cessate il fuoco: festa nelle strade\n"
        "La tregua entra in vigore alle 6. Gli ostaggi liberati a gruppi nei prossimi giorni.\n"
        "Dopo quindici mesi di guerra è stato firmato il cessate il fuoco a Gaza. Migliaia di persone sono "
        "scese in strada a Khan Younis e a Gaza City. Il Qatar e l'Egitto garantiranno la tregua."
    ),
    "vilnius.txt": (
        "Vertice NATO a Vilnius, la Finlandia siede per la prima volta al tavolo\n"
        "Helsinki entra nell'Alleanza atlantica dopo 75 anni di neutralità.\n"
        "I capi di Stato e di governo della NATO si riuniscono a Vilnius. Per la Finlandia è il primo "
        "vertice da membro: il presidente finlandese parla di una giornata storica."
    ),
    "pentagon.txt": (
        "Pentagon and Kremlin talk by phone for the first time since the invasion\n"
        "The US defense secretary asked Moscow for an immediate ceasefire in Ukraine.\n"
        "The Pentagon said the defense secretary spoke by phone with his Russian counterpart, urging an "
        "immediate ceasefire and keeping lines of communication open with Moscow."
    ),
    "kharkiv.txt": (
        "Raid aerei nella notte su Kharkiv, colpita una centrale\n"
        "Le sirene sono suonate per tre ore.\n"
        "Nuovi attacchi aerei russi hanno colpito Kharkiv nella notte. La Russia non ha commentato; il "
        "Cremlino parla di obiettivi militari."
    ),
    "hostile.txt": HOSTILE + "\n\nUn titolo ostile: deve restare testo.",
}


def _config(feeds: str) -> str:
    return (
        WORKDIR_CONFIG
        + f"""sources:
  folders:
    - {{path: inbox/, interval: 1s}}
  feeds:
    - {{url: "{feeds}/esteri.rss", name: Esteri, interval: 1h}}
    - {{url: "{feeds}/gone", name: Archivio, interval: 1h}}
channels:
  hook: {{type: webhook, url: "${{HOOK_URL}}"}}
  pager: {{type: webhook, url: "${{PAGER_URL}}"}}
defaults:
  notify: [hook]
delivery: {{interval: 0.5s, retry_initial: 0s, retry_max: 1s, max_attempts: 1}}
server: {{enabled: true, port: 0}}
"""
    )


class Site:
    def __init__(self, daemon: Daemon, workdir: Path, hook: WebhookReceiver, pager: WebhookReceiver) -> None:
        self.daemon, self.workdir, self.hook, self.pager = daemon, workdir, hook, pager
        self.base = f"http://127.0.0.1:{daemon.port}"

    def api(self, path: str) -> Any:
        return httpx.get(self.base + path, timeout=30).json()


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    with serve() as feeds, WebhookReceiver() as hook, WebhookReceiver(statuses=[410]) as pager:
        workdir = make_workdir(tmp_path_factory.mktemp("site"), _config(feeds.base), rules=None)
        (workdir / "rules" / "gaza.yaml").write_text(GAZA_RULE, encoding="utf-8")
        for name, text in ARTICLES.items():
            (workdir / "inbox" / name).write_text(text, encoding="utf-8")
        daemon = Daemon(workdir, {"HOOK_URL": hook.url, "PAGER_URL": pager.url})
        try:
            site = Site(daemon, workdir, hook, pager)
            assert wait_for(lambda: len(site.api("/api/v1/hits?limit=200")["items"]) >= 10, 120), daemon.log
            yield site
        finally:
            assert daemon.stop() == 0, daemon.log


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        args = ["--no-sandbox"] if os.geteuid() == 0 else []  # Chromium's sandbox refuses root
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=args)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 860}, locale="it-IT")
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    yield page
    context.close()
    assert errors == []  # no script failed on any page


def shot(page: Any, name: str, *, full_page: bool = False) -> None:
    """Save a screenshot for the docs when asked (MONITOR_SCREENSHOTS=docs/img)."""
    folder = os.environ.get("MONITOR_SCREENSHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(folder) / f"{name}.png"), full_page=full_page)


def test_browser_a_dropped_file_appears_on_the_hits_page_without_reload(site: Site, page: Any) -> None:
    page.goto(site.base + "/")
    page.evaluate("window.__still_here = true")
    title = "Tregua a Gaza, la NATO chiede di rispettarla"
    (site.workdir / "inbox" / "nuova.txt").write_text(
        f"{title}\n\nLa NATO chiede che il cessate il fuoco a Gaza regga.", encoding="utf-8"
    )
    page.locator("li.hit h3", has_text=title).first.wait_for(timeout=60_000)
    assert page.evaluate("window.__still_here") is True  # the same page, not a reload
    assert page.locator("#live").inner_text().endswith("since you opened the page")
    shot(page, "hits")


def test_browser_a_search_narrows_the_list(site: Site, page: Any) -> None:
    page.goto(site.base + "/")
    everything = page.locator("li.hit").count()
    page.fill('input[name="q"]', "Vilnius")
    page.press('input[name="q"]', "Enter")
    page.wait_for_url("**/?q=Vilnius*")
    titles = page.locator("li.hit h3").all_inner_texts()
    assert 0 < len(titles) < everything
    assert all("Vilnius" in title for title in titles)


def test_browser_the_article_page_marks_the_terms(site: Site, page: Any) -> None:
    page.goto(site.base + "/?rule=gaza-tregua")
    page.locator("li.hit h3 a", has_text="Gaza, firmato").first.click()
    page.wait_for_url("**/articles/*")
    marked = page.locator("article.story mark").all_inner_texts()
    assert "cessate il fuoco" in marked and "Gaza" in marked
    assert page.locator("aside.explain code", has_text="NEAR/5").count() >= 1
    shot(page, "article")


def test_browser_the_playground_explains_near_on_pasted_text_and_backtests_it(site: Site, page: Any) -> None:
    page.goto(site.base + "/playground")
    page.fill("#query", '"cessate il fuoco" NEAR/5 Gaza')
    page.locator("#lint .outline").wait_for()  # parsed as it was typed
    assert "NEAR/5" in page.locator("#lint").inner_text()
    page.fill(
        'textarea[name="text"]', "Nella notte è stato firmato il cessate il fuoco: a Gaza si festeggia."
    )
    page.click('button[value="text"]')
    assert page.locator("#verdict").inner_text().startswith("Fires")
    assert page.locator(".trial mark").all_inner_texts() == ["cessate il fuoco", "Gaza"]
    assert page.locator("button.copy").is_visible()
    shot(page, "playground", full_page=True)
    page.fill('input[name="days"]', "1")
    page.click('button[value="backtest"]')
    counts = page.locator("#backtest-counts").inner_text()
    matched, scanned = (int(n) for n in counts.split(" stored")[0].split(" of "))
    assert matched >= 1 and scanned >= len(ARTICLES)


def test_browser_a_hostile_title_renders_as_text(site: Site, page: Any) -> None:
    page.goto(site.base + "/?q=ostile")
    link = page.locator("li.hit h3 a").first
    assert link.inner_text() == HOSTILE
    link.click()
    page.wait_for_url("**/articles/*")
    assert page.locator("article.story h1").inner_text() == HOSTILE
    assert page.evaluate("window.__pwned") is None
    assert page.locator("article.story img").count() == 0


def test_browser_the_rules_and_sources_pages(site: Site, page: Any) -> None:
    page.goto(site.base + "/rules")
    assert page.locator("#rule-gaza-tregua code.query").inner_text() == '"cessate il fuoco" NEAR/5 Gaza'
    assert page.locator("#rule-gaza-tregua svg.chart rect").count() >= 1
    shot(page, "rules")
    assert wait_for(
        lambda: {f["state"] for f in site.api("/api/v1/feeds")["feeds"]} == {"ok", "disabled"}, 60
    )
    page.goto(site.base + "/sources")
    assert page.locator("span.badge.disabled").count() == 1
    shot(page, "sources")


def test_browser_retrying_a_dead_alert_from_the_outbox_delivers_it(site: Site, page: Any) -> None:
    assert wait_for(lambda: site.api("/api/v1/deliveries?status=dead&channel=pager")["items"], 60)
    page.goto(site.base + "/outbox?status=dead&channel=pager")
    page.locator("tr.status-dead button", has_text="Retry").first.click()
    assert "queued again" in page.locator("#notice").inner_text()
    assert wait_for(lambda: len(site.pager.received) >= 2, 60)  # the 410, then the retry's 200
    page.goto(site.base + "/outbox")
    shot(page, "outbox")
    body = site.pager.received[-1][1]
    assert json.dumps(body).count("Gaza") >= 1


def test_browser_the_token_is_required_beyond_loopback(tmp_path: Path, browser: Any, page: Any) -> None:
    config = WORKDIR_CONFIG + (
        "sources: {folders: [{path: inbox/, interval: 1h}]}\n"
        f'server: {{enabled: true, port: 0, host: 0.0.0.0, token: "{TOKEN}"}}\n'
    )
    workdir = make_workdir(tmp_path, config)
    shutil.rmtree(workdir / "inbox")
    (workdir / "inbox").mkdir()
    daemon = Daemon(workdir, {})
    try:
        base = f"http://127.0.0.1:{_port(daemon)}"
        page.goto(base + "/rules")
        page.wait_for_url("**/login?next=%2Frules")
        page.fill('input[name="token"]', "not-the-token")
        page.click('button[type="submit"]')
        assert "not this server's token" in page.inner_text("form.login")
        page.fill('input[name="token"]', TOKEN)
        page.click('button[type="submit"]')
        page.wait_for_url("**/rules")
        assert page.locator("h1").inner_text().startswith("Rules")
        assert httpx.get(base + "/api/v1/hits", timeout=30).status_code == 401
    finally:
        assert daemon.stop() == 0, daemon.log


def _port(daemon: Daemon) -> int:
    """The port from the start-up line of a daemon listening on every address."""
    import re

    pattern = re.compile(r"listening on http://0\.0\.0\.0:(\d+)/")
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline and not pattern.search(daemon.log) and daemon.process.poll() is None:
        time.sleep(0.2)
    found = pattern.search(daemon.log)
    assert found, daemon.log
    return int(found[1])
