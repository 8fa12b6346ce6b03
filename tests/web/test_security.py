"""What keeps the app safe to open: escaping, headers, the token, sessions, CSRF, hosts, sizes, secrets."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from starlette.routing import Route

from monitor.matching.nlp import LanguagePipelines
from monitor.web.middleware import CSP
from tests.web.support import CONFIG, WebEnv, as_json, csrf_of, make_env

TOKEN = "s3cret-token-of-32-characters-xx"
HOSTILE_TITLE = '<script>alert("t")</script> NATO <img src=x onerror=alert(1)>'
HOSTILE_BODY = "La NATO </div><script>alert('b')</script> e <a href=\"javascript:alert(2)\">qui</a>."


@pytest.fixture
async def locked(tmp_path: Path, pipelines: LanguagePipelines) -> AsyncIterator[WebEnv]:
    """The app with server.token set, as beyond loopback."""
    config = CONFIG + 'server: {host: 0.0.0.0, token: "${WEB_TOKEN}"}\n'
    env = make_env(tmp_path / "locked", pipelines, config=config, env={"WEB_TOKEN": TOKEN})
    yield env
    await env.ctx.close()


def _hostile(web: WebEnv) -> None:
    # a .txt-like article: its title and body are taken as written (no HTML is removed)
    web.add(HOSTILE_TITLE, HOSTILE_BODY)


async def test_security_hostile_title_and_body_render_as_text(web: WebEnv) -> None:
    _hostile(web)
    async with web.client() as client:
        listing = (await client.get("/")).text
        article_id = as_json(await client.get("/api/v1/hits"))["items"][0]["article"]["id"]
        article = (await client.get(f"/articles/{article_id}")).text
        fragment = (await client.get("/?fragment=new&after=0")).text
    for html in (listing, article, fragment):
        assert "<script>alert" not in html and "<img src=x" not in html
        assert "onerror=alert" not in html.replace("onerror=alert(1)&gt;", "")  # only as escaped text
        assert "&lt;script&gt;alert(&#34;t&#34;)&lt;/script&gt;" in html
    assert "&lt;/div&gt;&lt;script&gt;alert(&#39;b&#39;)&lt;/script&gt;" in article
    assert 'href="javascript:' not in article
    assert re.findall(r"<script[^>]*>", listing) == ['<script src="/static/app.js" defer>']


async def test_security_pages_carry_a_strict_content_security_policy(web: WebEnv) -> None:
    async with web.client() as client:
        for path in ("/", "/rules", "/playground", "/sources", "/outbox", "/api/v1/hits", "/livez"):
            response = await client.get(path)
            assert response.headers["content-security-policy"] == CSP, path
            assert response.headers["x-content-type-options"] == "nosniff"
            assert response.headers["x-frame-options"] == "DENY"
            assert response.headers["referrer-policy"] == "no-referrer"
    assert "'unsafe-inline'" not in CSP and "script-src 'self'" in CSP and "frame-ancestors 'none'" in CSP


def test_security_templates_hold_no_inline_script_style_or_handler() -> None:
    """The CSP forbids them; a template that used one would break silently in the browser."""
    folder = Path(__file__).resolve().parents[2] / "monitor" / "web" / "templates"
    for template in folder.glob("*.html"):
        text = template.read_text(encoding="utf-8")
        assert not re.search(r"<script(?![^>]*\bsrc=)", text), template.name
        assert not re.search(r"\sstyle=|<style", text), template.name
        assert not re.search(r"\son[a-z]+=", text), template.name


async def test_security_token_is_required_for_the_api_and_the_pages(locked: WebEnv) -> None:
    async with locked.client(host="news.example.org") as client:
        api = await client.get("/api/v1/hits")
        wrong = await client.get("/api/v1/hits", headers={"authorization": "Bearer not-the-token-at-all-xx"})
        right = await client.get("/api/v1/hits", headers={"authorization": f"Bearer {TOKEN}"})
        page = await client.get("/rules?x=1")
        live = await client.get("/livez")
        ready = await client.get("/readyz")
        metrics = await client.get("/metrics")
    assert api.status_code == 401 and api.headers["www-authenticate"].startswith("Bearer")
    assert "Authorization: Bearer" in as_json(api)["error"]
    assert wrong.status_code == 401 and right.status_code == 200
    assert page.status_code == 303 and page.headers["location"] == "/login?next=%2Frules%3Fx%3D1"
    assert live.status_code == 200 and ready.status_code == 200  # health checkers need no token
    assert metrics.status_code in (401, 404)


async def test_security_login_sets_a_strict_session_cookie(locked: WebEnv) -> None:
    async with locked.client(host="news.example.org") as client:
        form = await client.get("/login?next=/rules")
        csrf = csrf_of(form.text)
        bad = await client.post("/login", data={"token": "nope", "csrf": csrf, "next": "/rules"})
        good = await client.post("/login", data={"token": TOKEN, "csrf": csrf, "next": "/rules"})
        cookie = good.headers["set-cookie"]
        rules = await client.get("/rules")
        api = await client.get("/api/v1/rules")  # the pages' own fetches use the session
    assert form.status_code == 200 and 'type="password"' in form.text
    assert bad.status_code == 401 and "not this server's token" in bad.text
    assert good.status_code == 303 and good.headers["location"] == "/rules"
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie.replace("Strict", "strict")
    assert TOKEN not in cookie
    assert rules.status_code == 200 and api.status_code == 200


async def test_security_login_never_redirects_off_this_server(locked: WebEnv) -> None:
    async with locked.client(host="news.example.org") as client:
        csrf = csrf_of((await client.get("/login")).text)
        for target in ("//evil.example.org/", "https://evil.example.org/", "/\\evil.example.org"):
            answer = await client.post("/login", data={"token": TOKEN, "csrf": csrf, "next": target})
            assert answer.headers["location"] == "/", target


async def test_security_a_forged_or_expired_session_is_refused(locked: WebEnv) -> None:
    forged = "9999999999.abcdef.AAAA"
    expired = locked.ctx.guard.new_session(0)  # issued in 1970: long expired
    async with locked.client(host="news.example.org") as client:
        for cookie in (forged, expired):
            client.cookies.set("nm_session", cookie)
            assert (await client.get("/api/v1/hits")).status_code == 401


async def test_security_metrics_and_atom_take_the_token_as_basic_password(
    tmp_path: Path, pipelines: LanguagePipelines
) -> None:
    from prometheus_client import CollectorRegistry

    config = CONFIG + 'server: {token: "${WEB_TOKEN}"}\n'
    env = make_env(tmp_path, pipelines, config=config, env={"WEB_TOKEN": TOKEN}, registry=CollectorRegistry())
    async with env.client() as client:
        refused = await client.get("/metrics")
        scraped = await client.get("/metrics", auth=("prometheus", TOKEN))
        wrong = await client.get("/metrics", auth=("prometheus", "wrong"))
    assert refused.status_code == 401 and refused.headers["www-authenticate"].startswith("Basic")
    assert scraped.status_code == 200 and wrong.status_code == 401
    await env.ctx.close()


async def test_security_form_post_without_csrf_token_is_refused(web: WebEnv) -> None:
    async with web.client() as client:
        page = await client.get("/outbox")
        csrf = csrf_of(page.text)
        without = await client.post("/outbox/retry", data={"all_dead": "1"})
        wrong = await client.post("/outbox/retry", data={"all_dead": "1", "csrf": "x" * len(csrf)})
        right = await client.post("/outbox/retry", data={"all_dead": "1", "csrf": csrf})
    assert without.status_code == 403 and "CSRF" in without.text
    assert wrong.status_code == 403
    assert right.status_code == 303


async def test_security_cross_site_json_post_is_refused_in_open_mode(web: WebEnv) -> None:
    async with web.client() as client:
        same = await client.post("/api/v1/deliveries/retry", json={"all_dead": True})
        cross = await client.post(
            "/api/v1/deliveries/retry",
            json={"all_dead": True},
            headers={"origin": "https://evil.example.org"},
        )
        fetched = await client.post(
            "/api/v1/deliveries/retry", json={"all_dead": True}, headers={"sec-fetch-site": "cross-site"}
        )
        form = await client.post("/api/v1/deliveries/retry", data={"all_dead": "true"})
    assert same.status_code == 200  # a script or curl on this machine
    assert cross.status_code == 403 and fetched.status_code == 403
    assert form.status_code == 415  # a cross-site <form> cannot send JSON


async def test_security_session_changes_need_the_csrf_header_bearer_changes_do_not(locked: WebEnv) -> None:
    async with locked.client(host="news.example.org") as client:
        csrf = csrf_of((await client.get("/login")).text)
        await client.post("/login", data={"token": TOKEN, "csrf": csrf, "next": "/"})
        page_csrf = csrf_of((await client.get("/outbox")).text)
        without = await client.post("/api/v1/deliveries/retry", json={"all_dead": True})
        with_header = await client.post(
            "/api/v1/deliveries/retry", json={"all_dead": True}, headers={"x-csrf-token": page_csrf}
        )
    async with locked.client(host="news.example.org", authorization=f"Bearer {TOKEN}") as api:
        bearer = await api.post("/api/v1/deliveries/retry", json={"all_dead": True})
    assert without.status_code == 403 and with_header.status_code == 200 and bearer.status_code == 200


async def test_security_open_mode_answers_only_to_this_machines_names(web: WebEnv) -> None:
    for host, status in [
        ("127.0.0.1:9464", 200),
        ("localhost:9464", 200),
        ("[::1]:9464", 200),
        ("localhost", 200),
        ("evil.example.org", 400),
        ("127.0.0.1.evil.example.org:9464", 400),
    ]:
        async with web.client(host=host) as client:
            assert (await client.get("/api/v1/hits")).status_code == status, host


async def test_security_every_post_route_passes_the_csrf_check(web: WebEnv) -> None:
    """A meta-test: a new POST route without @changes would accept a forged request."""
    unguarded = [
        route.path
        for route in web.app.routes
        if isinstance(route, Route)
        and "POST" in (route.methods or ())
        and not getattr(route.endpoint, "changes", False)
    ]
    assert unguarded == []
    async with web.client() as client:
        for route in web.app.routes:
            if isinstance(route, Route) and "POST" in (route.methods or ()) and "/api/" not in route.path:
                path = route.path.replace("{name}", "console")
                answer = await client.post(path, data={"x": "1"})
                assert answer.status_code == 403, path


async def test_security_get_requests_change_nothing(web: WebEnv) -> None:
    web.add("NATO", "La NATO.")
    web.pipeline.store.mark_dead(*_first_key(web))
    async with web.client() as client:
        for path in ("/outbox/retry?all_dead=1", "/sources/enable?url=x", "/api/v1/deliveries/retry"):
            assert (await client.get(path)).status_code == 405, path
        dead = as_json(await client.get("/api/v1/deliveries?status=dead"))["items"]
    assert len(dead) == 1


def _first_key(web: WebEnv) -> tuple[str, str]:
    from monitor.store.repo import delivery_key

    return delivery_key("nato", web.ingested[-1].uid, "console"), "HTTP 410"


async def test_security_channel_secrets_never_reach_a_page_or_the_api(
    tmp_path: Path, pipelines: LanguagePipelines
) -> None:
    secret = "https://hooks.slack.com/services/T0SECRET/B0SECRET/xoxSECRETTOKEN"
    config = CONFIG.replace(
        "  console: {type: console}",
        '  console: {type: console}\n  slack: {type: slack, url: "${SLACK_URL}"}',
    ).replace("notify: [console]", "notify: [console, slack]")
    env = make_env(tmp_path, pipelines, config=config, env={"SLACK_URL": secret})
    env.add("NATO", "La NATO.")
    env.pipeline.store.mark_dead(*_first_key(env))
    async with env.client() as client:
        answers = [
            await client.get(p) for p in ("/outbox", "/api/v1/deliveries", "/rules", "/api/v1/rules", "/")
        ]
    for answer in answers:
        assert "SECRET" not in answer.text and "hooks.slack.com" not in answer.text
    assert "slack" in answers[0].text  # by name only
    await env.ctx.close()


async def test_security_long_addresses_and_large_bodies_are_refused(web: WebEnv) -> None:
    async with web.client() as client:
        long = await client.get("/api/v1/hits", params={"q": "x" * 10_000})
        large = await client.post("/api/v1/deliveries/retry", json={"ids": list(range(100_000))})
        headers = await client.get("/livez", headers={"x-big": "a" * 20_000})
    assert long.status_code == 414 and large.status_code == 413 and headers.status_code == 431


async def test_security_a_failed_login_keeps_where_it_was_going(locked: WebEnv) -> None:
    async with locked.client(host="news.example.org") as client:
        csrf = csrf_of((await client.get("/login?next=/rules")).text)
        failed = await client.post("/login", data={"token": "nope", "csrf": csrf, "next": "/rules"})
        again = await client.post(
            "/login", data={"token": TOKEN, "csrf": csrf_of(failed.text), "next": "/rules"}
        )
    assert 'name="next" value="/rules"' in failed.text
    assert again.headers["location"] == "/rules"
