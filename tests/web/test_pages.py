"""The HTML pages over a real store: what each shows, how its forms act, and its JSON twin."""

from __future__ import annotations

from pathlib import Path

from monitor.matching.nlp import LanguagePipelines
from monitor.store.repo import delivery_key
from tests.notify.receivers import WebhookReceiver
from tests.web.support import CONFIG, WebEnv, as_json, csrf_of, make_env, serve_pages

GAZA = "Nella notte è stato firmato il cessate il fuoco: a Gaza la gente scende in strada."


async def test_pages_hits_show_rule_title_source_terms_and_marked_snippet(web: WebEnv) -> None:
    web.add("Gaza, tregua firmata", GAZA, source="ANSA")
    async with web.client() as client:
        html = (await client.get("/")).text
    assert "Gaza e tregua" in html and "Gaza, tregua firmata" in html and "ANSA" in html
    assert "<mark>cessate il fuoco</mark>" in html and "<mark>Gaza</mark>" in html
    assert 'href="/articles/1"' in html
    assert 'href="/api/v1/hits?"' in html  # the JSON twin


async def test_pages_hits_search_and_filters_narrow_the_list(web: WebEnv) -> None:
    web.add("NATO a Vilnius", "Vertice della NATO a Vilnius.", source="ANSA")
    web.add("NATO e Finlandia", "La Finlandia nella NATO.", source="Reuters")
    async with web.client() as client:
        everything = (await client.get("/")).text
        searched = (await client.get("/", params={"q": "Vilnius"})).text
        filtered = (await client.get("/", params={"source": "Reuters", "rule": "nato"})).text
        empty = (await client.get("/", params={"q": "Tokyo"})).text
    assert "NATO a Vilnius" in everything and "NATO e Finlandia" in everything
    assert "NATO a Vilnius" in searched and "NATO e Finlandia" not in searched
    assert "NATO e Finlandia" in filtered and "NATO a Vilnius" not in filtered
    assert "No hits with these filters" in empty
    assert 'value="Vilnius"' in searched  # the form keeps what was asked


async def test_pages_hits_page_on_to_older_ones(web: WebEnv) -> None:
    for n in range(5):
        web.add(f"NATO {n}", "La NATO.")
    async with web.client() as client:
        first = (await client.get("/", params={"limit": "2", "rule": "nato"})).text
        link = first.split('rel="next"')[0].rsplit('href="', 1)[1].split('"')[0].replace("&amp;", "&")
        second = (await client.get(link)).text
    assert "NATO 4" in first and "NATO 3" in first and "NATO 2" not in first
    assert "NATO 2" in second and "NATO 4" not in second
    assert 'data-live="no"' in second  # an older page does not poll for new hits


async def test_pages_hits_fragment_holds_only_hits_newer_than_asked(web: WebEnv) -> None:
    web.add("NATO prima", "La NATO.")
    async with web.client() as client:
        newest = int((await client.get("/")).text.split('data-newest="')[1].split('"')[0])
        web.add("NATO dopo", "La NATO ancora.")
        fragment = await client.get("/", params={"fragment": "new", "after": str(newest)})
    assert "NATO dopo" in fragment.text and "NATO prima" not in fragment.text
    assert "<html" not in fragment.text
    assert int(fragment.headers["x-newest-id"]) > newest


async def test_pages_hits_explain_a_bad_search(web: WebEnv) -> None:
    async with web.client() as client:
        answer = await client.get("/", params={"q": '"'})
    assert answer.status_code == 400 and "no words to look for" in answer.text


async def test_pages_article_marks_every_rules_terms_and_explains_them(web: WebEnv) -> None:
    web.add("La NATO e il cessate il fuoco a Gaza", GAZA + " La NATO osserva.")
    async with web.client() as client:
        html = (await client.get("/articles/1")).text
    assert '<mark title="nato">NATO</mark>' in html
    assert '<mark title="gaza">cessate il fuoco</mark>' in html and '<mark title="gaza">Gaza</mark>' in html
    assert "<code>NEAR/5</code>" in html  # the explanation, clause by clause
    assert "<mark>cessate il fuoco</mark>" in html  # the evidence sentence
    assert 'href="/api/v1/articles/1"' in html


async def test_pages_article_unknown_is_404(web: WebEnv) -> None:
    async with web.client() as client:
        answer = await client.get("/articles/42")
    assert answer.status_code == 404 and "no article 42" in answer.text


async def test_pages_rules_show_file_line_query_counts_chart_and_problems(web: WebEnv) -> None:
    web.add("NATO", "La NATO.")
    (web.root / "rules" / "broken.yaml").write_text(
        "rules:\n  - id: bad\n    query: '(NATO'\n", encoding="utf-8"
    )
    async with web.client() as client:
        html = (await client.get("/rules")).text
    assert "web.yaml:4" in html and '<code class="query">NATO</code>' in html
    assert "<rect " in html  # one day of the chart has hits
    assert "broken.yaml:3" in html and "unbalanced parenthesis" in html
    assert "/playground?query=NATO" in html


async def test_pages_playground_explains_near_on_pasted_text(web: WebEnv) -> None:
    async with web.client() as client:
        form = await client.get("/playground")
        answer = await client.post(
            "/playground",
            data={
                "csrf": csrf_of(form.text),
                "query": '"cessate il fuoco" NEAR/5 Gaza',
                "title": "",
                "text": GAZA,
                "action": "text",
                "min_mentions": "1",
            },
        )
    html = answer.text
    assert answer.status_code == 200
    assert 'id="verdict">Fires' in html
    assert "<mark>cessate il fuoco</mark>" in html and "<mark>Gaza</mark>" in html
    assert "query: &#39;&#34;cessate il fuoco&#34; NEAR/5 Gaza&#39;" in html  # the YAML to copy


async def test_pages_playground_backtests_over_stored_articles(web: WebEnv) -> None:
    web.add("Gaza", GAZA)
    web.add("Altro", "Nessuna tregua.")
    async with web.client() as client:
        csrf = csrf_of((await client.get("/playground")).text)
        html = (
            await client.post(
                "/playground",
                data={
                    "csrf": csrf,
                    "query": '"cessate il fuoco" NEAR/5 Gaza',
                    "action": "backtest",
                    "days": "7",
                },
            )
        ).text
    assert "<strong>1</strong> of 2 stored articles matched" in html
    assert 'href="/articles/1"' in html


async def test_pages_playground_shows_query_errors_where_they_are(web: WebEnv) -> None:
    async with web.client() as client:
        csrf = csrf_of((await client.get("/playground")).text)
        html = (
            await client.post("/playground", data={"csrf": csrf, "query": "(NATO", "action": "text"})
        ).text
    assert "unbalanced parenthesis" in html and "Copy as YAML" not in html


async def test_pages_playground_fetches_a_page_through_the_guarded_client(
    tmp_path: Path, pipelines: LanguagePipelines
) -> None:
    allowed = CONFIG + "http: {allow_private_networks: true}\n"
    guarded = make_env(tmp_path / "guarded", pipelines)
    opened = make_env(tmp_path / "opened", pipelines, config=allowed)
    page = (Path(__file__).parents[1] / "sources" / "data" / "pagina.html").read_bytes()
    with serve_pages({"/ucraina.html": page}) as base:
        url = f"{base}/ucraina.html"
        results = []
        for env in (guarded, opened):
            async with env.client() as client:
                csrf = csrf_of((await client.get("/playground")).text)
                data = {"csrf": csrf, "query": '"cessate il fuoco"', "action": "url", "url": url}
                results.append(await client.post("/playground", data=data))
    blocked, fetched = results
    assert blocked.status_code == 422 and "loopback" in blocked.text  # no local network by default
    assert fetched.status_code == 200 and 'id="verdict">Fires' in fetched.text
    assert "NATO tracking" not in fetched.text  # the page's text, not its scripts
    for env in (guarded, opened):
        await env.ctx.close()


async def test_pages_sources_show_folders_and_enable_a_disabled_feed(
    tmp_path: Path, pipelines: LanguagePipelines
) -> None:
    from dataclasses import replace
    from datetime import UTC, datetime

    from monitor.models import FeedState

    url = "https://feeds.example.org/esteri.rss"
    config = CONFIG.replace("  folders:", f"  feeds:\n    - {{url: '{url}', name: Esteri}}\n  folders:")
    env = make_env(tmp_path, pipelines, config=config)
    env.pipeline.store.save_feed_state(
        replace(
            FeedState(url), last_fetch_at=datetime.now(UTC), last_status=410, disabled="410 Gone: removed"
        )
    )
    (env.root / "inbox" / "bad.json").write_text("{", encoding="utf-8")
    env.pipeline.scan_folder(env.settings.sources.folders[0])
    async with env.client() as client:
        page = await client.get("/sources")
        enabled = await client.post("/sources/enable", data={"csrf": csrf_of(page.text), "url": url})
        after = await client.get(enabled.headers["location"])
    assert "badge disabled" in page.text and "410 Gone: removed" in page.text
    assert "1 failed" in page.text and "invalid JSON" in page.text
    assert enabled.status_code == 303 and "enabled; polled on its next run" in after.text
    assert "badge ok" in after.text
    await env.ctx.close()


async def test_pages_outbox_retries_a_dead_alert(web: WebEnv) -> None:
    web.add("NATO", "La NATO.")
    key = delivery_key("nato", web.ingested[-1].uid, "console")
    web.pipeline.store.mark_dead(key, "HTTP 404: no such hook")
    async with web.client() as client:
        page = await client.get("/outbox?status=dead")
        delivery = as_json(await client.get("/api/v1/deliveries?status=dead"))["items"][0]["id"]
        done = await client.post("/outbox/retry", data={"csrf": csrf_of(page.text), "id": str(delivery)})
        after = await client.get(done.headers["location"])
    assert "HTTP 404: no such hook" in page.text and ">Retry</button>" in page.text
    assert done.status_code == 303 and "1 alert(s) queued again" in after.text
    assert "badge pending" in after.text


async def test_pages_outbox_sends_a_test_alert_and_shows_the_answer(
    tmp_path: Path, pipelines: LanguagePipelines
) -> None:
    with WebhookReceiver(statuses=[200, 404]) as hook:
        config = CONFIG.replace(
            "  console: {type: console}",
            f'  console: {{type: console}}\n  hook: {{type: webhook, url: "{hook.url}"}}',
        )
        env = make_env(tmp_path, pipelines, config=config)
        async with env.client() as client:
            csrf = csrf_of((await client.get("/outbox")).text)
            sent = await client.post("/outbox/test", data={"csrf": csrf, "channel": "hook"})
            failed = await client.post("/outbox/test", data={"csrf": csrf, "channel": "hook"})
            unknown = await client.post("/outbox/test", data={"csrf": csrf, "channel": "nope"})
        await env.ctx.close()
    assert 'id="tested">hook: sent' in sent.text
    assert 'id="tested">hook: failed' in failed.text and "404" in failed.text
    assert unknown.status_code == 404 and "no channel named" in unknown.text
    assert len(hook.received) == 2
    assert hook.url not in sent.text


async def test_pages_work_without_javascript_links_and_forms(web: WebEnv) -> None:
    """Reading needs no script: every page is complete HTML with plain links and GET/POST forms."""
    web.add("NATO", "La NATO.")
    async with web.client() as client:
        for path in ("/", "/articles/1", "/rules", "/playground", "/sources", "/outbox"):
            response = await client.get(path)
            assert response.status_code == 200, path
            assert response.text.rstrip().endswith("</html>")
            assert "<nav>" in response.text


async def test_pages_rules_are_found_by_text_and_paged(web: WebEnv) -> None:
    async with web.client() as client:
        found = (await client.get("/rules", params={"q": "finland"})).text
        first = (await client.get("/rules", params={"limit": "2"})).text
        api = as_json(await client.get("/api/v1/rules", params={"limit": "2", "offset": "2"}))
    assert (
        "Rules <small>1 found" in found and 'id="rule-finlandia"' in found and 'id="rule-nato"' not in found
    )
    assert first.count('<tr id="rule-') == 2 and "offset=2" in first
    assert api["total"] == 3 and [rule["id"] for rule in api["rules"]] == ["finlandia"]
    assert api["next_offset"] is None
