"""The JSON API over a real store and pipeline: listings, filters, cursors, rules, ingestion."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from monitor.models import make_article
from monitor.store.repo import Routed
from monitor.web import Limits
from tests.web.support import WebEnv, as_json


async def test_api_hits_are_newest_first_with_their_article_and_terms(web: WebEnv) -> None:
    web.add("La Finlandia nella NATO", "Helsinki entra nella NATO dopo il voto.")
    web.add("Gaza, cessate il fuoco", "Firmato il cessate il fuoco a Gaza nella notte.")
    async with web.client() as client:
        page = as_json(await client.get("/api/v1/hits"))
    rules = [hit["rule"] for hit in page["items"]]
    assert rules[0] == "gaza" and sorted(rules[1:]) == ["finlandia", "nato"]  # the newest article first
    gaza = page["items"][0]
    assert gaza["article"]["title"] == "Gaza, cessate il fuoco"
    assert {"cessate il fuoco", "Gaza"} <= {t["text"] for t in gaza["terms"]}
    assert all(t["field"] in ("title", "body") for t in gaza["terms"])
    assert page["next"] is None and page["newest_id"] == max(h["id"] for h in page["items"])


async def test_api_hits_filter_by_rule_source_language_and_tag(web: WebEnv) -> None:
    web.add("NATO a Vilnius", "Vertice NATO.", source="ANSA", language="it")
    web.add("NATO summit", "The NATO summit opens.", source="Reuters", language="en")
    web.add("Finlandia al voto", "La Finlandia vota.", source="ANSA", language="it")
    async with web.client() as client:

        async def titles(query: str) -> list[str]:
            page = as_json(await client.get("/api/v1/hits?" + query))
            return sorted(hit["article"]["title"] for hit in page["items"])

        assert await titles("rule=nato") == ["NATO a Vilnius", "NATO summit"]
        assert await titles("source=Reuters") == ["NATO summit"]
        assert await titles("language=it&rule=nato") == ["NATO a Vilnius"]
        assert await titles("tag=esteri") == ["NATO a Vilnius", "NATO summit"]  # the rule's tag
        assert await titles("rule=nato&source=nobody") == []


async def test_api_hits_search_uses_the_cli_grammar(web: WebEnv) -> None:
    web.add("NATO a Vilnius", "Il vertice di Vilnius discute l'Ucraina.")
    web.add("NATO e Finlandia", "Helsinki aderisce; Finlandia al voto.")
    async with web.client() as client:

        async def titles(search: str) -> list[str]:
            response = await client.get("/api/v1/hits", params={"q": search, "rule": "nato"})
            return sorted(hit["article"]["title"] for hit in as_json(response)["items"])

        assert await titles("Vilnius") == ["NATO a Vilnius"]
        assert await titles("Vilnius OR Helsinki") == ["NATO a Vilnius", "NATO e Finlandia"]
        assert await titles("NATO -Vilnius") == ["NATO e Finlandia"]
        assert await titles('"vertice di Vilnius"') == ["NATO a Vilnius"]
        refused = await client.get("/api/v1/hits", params={"q": '"'})
    assert refused.status_code == 400 and "no words to look for" in as_json(refused)["error"]


async def test_api_hits_pages_by_cursor_without_repeats_or_gaps(web: WebEnv) -> None:
    for n in range(7):
        web.add(f"NATO notizia {n}", f"Testo numero {n} sulla NATO.")
    seen: list[int] = []
    async with web.client() as client:
        cursor = None
        for _ in range(10):
            params = {"rule": "nato", "limit": "3", **({"cursor": cursor} if cursor else {})}
            page = as_json(await client.get("/api/v1/hits", params=params))
            seen += [hit["id"] for hit in page["items"]]
            cursor = page["next"]
            if cursor is None:
                break
        web.add("NATO dopo", "Un'altra notizia sulla NATO.")  # new while paging: on no old page
        newer = as_json(await client.get("/api/v1/hits", params={"after": str(max(seen)), "rule": "nato"}))
    assert len(seen) == 7 and len(set(seen)) == 7 and seen == sorted(seen, reverse=True)
    assert [hit["article"]["title"] for hit in newer["items"]] == ["NATO dopo"]


async def test_api_hits_refuse_bad_parameters_naming_them(web: WebEnv) -> None:
    async with web.client() as client:
        for query, named in [
            ("since=yesterday", "since="),
            ("limit=0", "limit="),
            ("limit=abc", "limit="),
            ("cursor=%%%", "cursor"),
            ("cursor=bm90IGEgY3Vyc29y", "cursor"),
            ("after=-1", "after="),
        ]:
            response = await client.get("/api/v1/hits?" + query)
            assert response.status_code == 400, query
            assert named in as_json(response)["error"], query


async def test_api_hits_since_takes_a_duration_or_a_date(web: WebEnv) -> None:
    web.add("NATO oggi", "La NATO oggi.")
    tomorrow = (datetime.now(UTC) + timedelta(days=1)).date().isoformat()
    async with web.client() as client:
        assert len(as_json(await client.get("/api/v1/hits?since=1h"))["items"]) == 1
        assert as_json(await client.get(f"/api/v1/hits?since={tomorrow}"))["items"] == []
        assert len(as_json(await client.get(f"/api/v1/hits?until={tomorrow}"))["items"]) == 1


async def test_api_article_has_its_text_hits_and_other_outlets(web: WebEnv) -> None:
    body = "Il vertice della NATO si apre oggi a Vilnius con i capi di governo dei paesi membri. " * 3
    web.add("Vertice NATO a Vilnius", body, source="ANSA")
    web.add("Vertice NATO a Vilnius", body + " Aggiornamento.", source="Repubblica")
    async with web.client() as client:
        hits = as_json(await client.get("/api/v1/hits?rule=nato"))["items"]
        first = as_json(await client.get(f"/api/v1/articles/{hits[-1]['article']['id']}"))
        missing = await client.get("/api/v1/articles/999999")
        huge = await client.get("/api/v1/articles/99999999999999999999999")
    assert first["body"] == body.strip() and first["source"] == "ANSA"
    assert [hit["rule"] for hit in first["hits"]] == ["nato"]
    assert missing.status_code == 404 and "no article 999999" in as_json(missing)["error"]
    assert huge.status_code == 404


async def test_api_articles_list_hits_or_not(web: WebEnv) -> None:
    web.add("Meteo", "Sole su Roma.")
    web.add("NATO", "La NATO.")
    async with web.client() as client:
        page = as_json(await client.get("/api/v1/articles"))
        searched = as_json(await client.get("/api/v1/articles", params={"q": "Roma"}))
    assert [(a["title"], a["hits"]) for a in page["items"]] == [("NATO", 1), ("Meteo", 0)]
    assert [a["title"] for a in searched["items"]] == ["Meteo"]


async def test_api_rules_list_files_queries_channels_and_counts(web: WebEnv) -> None:
    web.add("NATO", "La NATO.")
    async with web.client() as client:
        out = as_json(await client.get("/api/v1/rules"))
    nato = next(rule for rule in out["rules"] if rule["id"] == "nato")
    assert nato["query"] == "NATO" and nato["file"].endswith("web.yaml") and nato["line"] == 4
    assert nato["notify"] == ["console"] and nato["tags"] == ["esteri"]
    assert (nato["stats"]["day"], nato["stats"]["week"], nato["stats"]["month"]) == (1, 1, 1)
    assert nato["stats"]["daily"][-1] == 1 and len(nato["stats"]["daily"]) == 30
    assert out["checked"] is True and out["problems"] == []


async def test_api_rules_show_rule_file_problems_as_rules_check(web: WebEnv) -> None:
    (web.root / "rules" / "broken.yaml").write_text(
        "rules:\n  - id: bad\n    query: '(NATO'\n  - id: risky\n    query: 'NATO or Gaza'\n",
        encoding="utf-8",
    )
    async with web.client() as client:
        out = as_json(await client.get("/api/v1/rules"))
    texts = [p["text"] for p in out["problems"]]
    assert any("broken.yaml:3" in t and "rule 'bad'" in t for t in texts), texts
    assert any(p["warning"] and p["rule"] == "risky" for p in out["problems"])


async def test_api_rules_check_parses_lints_and_gives_yaml(web: WebEnv) -> None:
    async with web.client() as client:
        good = as_json(await client.get("/api/v1/rules/check", params={"query": "@tregua AND Gaza"}))
        bad = as_json(await client.get("/api/v1/rules/check", params={"query": "(NATO"}))
        lint = as_json(await client.get("/api/v1/rules/check", params={"query": "NATO or Gaza"}))
        options = as_json(
            await client.get(
                "/api/v1/rules/check",
                params={"query": "NATO", "languages": "it,en", "lemmas": "true", "min_mentions": "2"},
            )
        )
    assert good["ok"] and good["outline"][0] == "AND" and "  @tregua" in good["outline"]
    assert not bad["ok"] and "query:" in bad["problems"][0]["message"]
    assert lint["ok"] and any("'or' is looked for as a word" in p["message"] for p in lint["problems"])
    assert options["yaml"] == (
        "rules:\n  - id: my-rule\n    query: 'NATO'\n    languages: ['it', 'en']\n    lemmas: true\n"
        "    min_mentions: 2\n"
    )


async def test_api_rules_test_explains_a_query_on_a_text(web: WebEnv) -> None:
    text = "Nella notte è stato firmato il cessate il fuoco: a Gaza si festeggia."
    async with web.client() as client:
        fired = as_json(
            await client.post(
                "/api/v1/rules/test", json={"query": '"cessate il fuoco" NEAR/5 Gaza', "text": text}
            )
        )
        apart = "Il cessate il fuoco è stato firmato dopo lunghi e difficili negoziati; a Gaza si festeggia."
        far = as_json(
            await client.post(
                "/api/v1/rules/test", json={"query": '"cessate il fuoco" NEAR/5 Gaza', "text": apart}
            )
        )
    decision = fired["decision"]
    assert decision["fired"] and decision["explain"]["label"] == "NEAR/5"
    assert {t["text"] for t in decision["terms"]} == {"cessate il fuoco", "Gaza"}
    assert any("**cessate il fuoco**" in line and "**Gaza**" in line for line in decision["evidence"])
    assert fired["language"] == "it"
    assert far["decision"]["fired"] is False and far["decision"]["explain"]["value"] is False


async def test_api_backtest_counts_what_the_rule_would_have_matched(web: WebEnv) -> None:
    web.add("Gaza", "Il cessate il fuoco a Gaza regge.")
    web.add("Ucraina", "Nessun cessate il fuoco in vista.")
    web.add("Meteo", "Pioggia.")
    async with web.client() as client:
        out = as_json(
            await client.post("/api/v1/backtest", json={"query": '"cessate il fuoco" NEAR/5 Gaza', "days": 1})
        )
        bad = await client.post("/api/v1/backtest", json={"query": "NATO", "days": 0})
    assert (out["scanned"], out["matched"], out["complete"]) == (3, 1, True)
    assert [h["article"]["title"] for h in out["hits"]] == ["Gaza"]
    assert bad.status_code == 422 and "days" in as_json(bad)["error"]


async def test_api_backtest_stops_at_its_time_budget_and_says_so(web: WebEnv) -> None:
    """A budget that runs out after the first chunk: the newest articles were read, the answer says
    the rest were not (the budget is counted in chunks, never checked against a measured time here)."""
    articles = [
        make_article(title=f"Notizia {n}", body="NATO " * 20, source="x", origin="t") for n in range(450)
    ]
    web.pipeline.store.record([Routed(a, []) for a in articles], [], datetime.now(UTC))
    web.ctx.limits = Limits(backtest_seconds=0.0)
    async with web.client() as client:
        out = as_json(await client.post("/api/v1/backtest", json={"query": "NATO", "days": 1}))
    assert out["complete"] is False
    assert 0 < out["scanned"] < 450 and out["matched"] == out["scanned"]


async def test_api_ingests_a_posted_article_once(web: WebEnv) -> None:
    record = {
        "id": "a-1",
        "title": "La NATO a Vilnius",
        "body": "Vertice NATO.",
        "published": "2024-07-10T08:00Z",
    }
    async with web.client() as client:
        first = await client.post("/api/v1/articles", json=record)
        again = await client.post("/api/v1/articles", json={**record, "title": "La NATO a Vilnius (agg.)"})
        hits = as_json(await client.get("/api/v1/hits"))
    assert first.status_code == 202 and as_json(first)["duplicate"] is False
    assert [h["rule"] for h in as_json(first)["hits"]] == ["nato"]
    assert again.status_code == 202 and as_json(again)["duplicate"] is True  # same id: same story
    assert as_json(again)["id"] == as_json(first)["id"]
    assert len(hits["items"]) == 1


async def test_api_ingest_refuses_bad_input_with_a_clear_4xx(web: WebEnv) -> None:
    async with web.client() as client:
        as_text = await client.post(
            "/api/v1/articles", content=b"title=x", headers={"content-type": "text/plain"}
        )
        broken = await client.post(
            "/api/v1/articles", content=b'{"title": ', headers={"content-type": "application/json"}
        )
        empty = await client.post("/api/v1/articles", json={"summary": "only this"})
        wrong = await client.post("/api/v1/articles", json={"title": 5})
        array = await client.post("/api/v1/articles", json=[{"title": "x"}])
        huge = await client.post("/api/v1/articles", json={"title": "NATO", "body": "x" * 2_000_000})
    assert as_text.status_code == 415 and "application/json" in as_json(as_text)["error"]
    assert broken.status_code == 400 and "not valid JSON" in as_json(broken)["error"]
    assert empty.status_code == 422 and "neither a title nor a body" in as_json(empty)["error"]
    assert wrong.status_code == 422 and "'title' must be a string" in as_json(wrong)["error"]
    assert array.status_code == 422 and "expected a JSON object" in as_json(array)["error"]
    assert huge.status_code == 413 and "too large" in as_json(huge)["error"]


async def test_api_ingest_is_refused_by_a_server_that_only_reads(tmp_path, pipelines) -> None:  # type: ignore[no-untyped-def]
    from tests.web.support import make_env

    env = make_env(tmp_path, pipelines, ingest=False)
    async with env.client() as client:
        refused = await client.post("/api/v1/articles", json={"title": "NATO"})
        document = as_json(await client.get("/api/v1/openapi.json"))
    assert refused.status_code == 405 and "only reads" in as_json(refused)["error"]
    assert "post" not in document["paths"]["/api/v1/articles"]
    await env.ctx.close()


async def test_api_deliveries_list_and_retry_dead_ones_only(web: WebEnv) -> None:
    from monitor.store.repo import delivery_key

    web.add("NATO", "La NATO.")
    article = web.ingested[-1]
    key = delivery_key("nato", article.uid, "console")
    web.pipeline.store.mark_dead(key, "HTTP 404 from the receiver")
    async with web.client() as client:
        dead = as_json(await client.get("/api/v1/deliveries?status=dead"))
        assert [d["last_error"] for d in dead["items"]] == ["HTTP 404 from the receiver"]
        assert dead["channels"][0] == {"name": "console", "type": "console", "counts": {"dead": 1}}
        retried = as_json(
            await client.post("/api/v1/deliveries/retry", json={"ids": [dead["items"][0]["id"]]})
        )
        again = as_json(await client.post("/api/v1/deliveries/retry", json={"all_dead": True}))
        nothing = await client.post("/api/v1/deliveries/retry", json={})
        pending = as_json(await client.get("/api/v1/deliveries?status=pending"))
        wrong = await client.get("/api/v1/deliveries?status=lost")
    assert retried == {"queued": 1, "refused": {}} and again == {"queued": 0, "refused": {}}
    assert nothing.status_code == 400
    assert [d["attempts"] for d in pending["items"]] == [0]
    assert wrong.status_code == 400 and "status=" in as_json(wrong)["error"]


async def test_api_feeds_show_state_and_enable_a_disabled_one(tmp_path, pipelines) -> None:  # type: ignore[no-untyped-def]
    from dataclasses import replace

    from monitor.models import FeedState
    from tests.web.support import CONFIG, make_env

    config = CONFIG.replace(
        "  folders:",
        "  feeds:\n    - {url: 'https://feeds.example.org/esteri.rss', name: Esteri}\n  folders:",
    )
    env = make_env(tmp_path, pipelines, config=config)
    url = "https://feeds.example.org/esteri.rss"
    gone = replace(FeedState(url), last_fetch_at=datetime.now(UTC), last_status=410, disabled="410 Gone")
    env.pipeline.store.save_feed_state(gone)
    async with env.client() as client:
        before = as_json(await client.get("/api/v1/feeds"))
        enabled = await client.post("/api/v1/feeds/enable", json={"url": url})
        unknown = await client.post("/api/v1/feeds/enable", json={"url": "https://other.example.org/"})
        after = as_json(await client.get("/api/v1/feeds"))
    assert before["feeds"][0]["state"] == "disabled" and before["feeds"][0]["problem"] == "410 Gone"
    assert enabled.status_code == 200 and after["feeds"][0]["state"] == "ok"
    assert unknown.status_code == 404 and "not among the configured feeds" in as_json(unknown)["error"]
    assert before["folders"][0]["name"] == "inbox"
    await env.ctx.close()


async def test_api_ingest_refuses_a_language_this_monitor_does_not_read(web: WebEnv) -> None:
    """A stranger's language code would cost a spaCy pipeline and a rule table per code."""
    async with web.client() as client:
        refused = await client.post("/api/v1/articles", json={"title": "NATO", "language": "and"})
        regional = await client.post("/api/v1/articles", json={"title": "NATO", "language": "it-IT"})
        detected = await client.post("/api/v1/articles", json={"title": "La NATO e la Finlandia", "id": "d"})
    assert refused.status_code == 422 and "language 'and' is not read" in as_json(refused)["error"]
    assert regional.status_code == 202
    assert detected.status_code == 202
