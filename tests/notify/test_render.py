"""Rendering: what each channel would show, including hostile and oversized articles."""

from __future__ import annotations

import json
import re
import unicodedata
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.notify.render import (
    SLACK_MAX_HEADER,
    SLACK_MAX_SECTION,
    render_console,
    render_slack,
    render_webhook,
    slack_escape,
    web_url,
)
from tests.notify.conftest import make_alert
from tests.notify.receivers import slack_problems

# An escaped text may hold only these entities; anything else with & is a cut one.
_BAD_AMP = re.compile(r"&(?!amp;|lt;|gt;)")


def _texts(payload: dict) -> list[str]:
    """Every mrkdwn string in a Slack payload, fallback text included."""
    out = [payload["text"]]
    for block in payload["blocks"]:
        if block["type"] == "section":
            out.append(block["text"]["text"])
        elif block["type"] == "context":
            out += [e["text"] for e in block["elements"]]
    return out


def _section_texts(payload: dict) -> list[str]:
    return [b["text"]["text"] for b in payload["blocks"] if b["type"] == "section"]


# ---------------------------------------------------------------- console


def test_render_console_shows_everything_a_reader_needs() -> None:
    text = render_console(make_alert())
    assert text.startswith("[Cessate il fuoco] Tregua a Gaza: accordo raggiunto")
    for part in (
        "https://www.example.org/esteri/tregua?id=1&lang=it",
        "Esteri",
        "2024-05-01T11:58:00Z",
        "terms: tregua, cessate il fuoco",
        "firmato una tregua",
    ):
        assert part in text


def test_render_console_strips_terminal_escapes_and_newlines() -> None:
    text = render_console(
        make_alert(title="Evil\x1b[2J\x1b[31m title\nsecond line", snippet="a\r\nb\x00c\x07")
    )
    assert "\x1b" not in text and "\x00" not in text and "\x07" not in text and "\r" not in text
    assert "Evil[2J[31m title second line" in text
    assert text.count("\n") == 4  # five lines: rule+title, source, url, terms, snippet


def test_render_console_omits_missing_parts() -> None:
    text = render_console(make_alert(url=None, published=None, terms=(), snippet="", title=""))
    assert text == "[Cessate il fuoco] (untitled)\n  source: Esteri"


# ---------------------------------------------------------------- webhook


def test_render_webhook_has_the_documented_shape() -> None:
    body = render_webhook(make_alert())
    assert body == {
        "type": "hit.created",
        "timestamp": "2024-05-01T12:00:00Z",
        "data": {
            "rule": {"id": "cessate-il-fuoco", "name": "Cessate il fuoco", "tags": ["esteri"]},
            "article": {
                "title": "Tregua a Gaza: accordo raggiunto",
                "url": "https://www.example.org/esteri/tregua?id=1&lang=it",
                "source": "Esteri",
                "published": "2024-05-01T11:58:00Z",
                "language": "it",
            },
            "terms": ["tregua", "cessate il fuoco"],
            "snippet": "… le parti hanno firmato una tregua; il cessate il fuoco inizia domani …",
            "key": "d3b07384d113edec49eaa6238ad5ff00",
        },
    }
    assert json.loads(json.dumps(body)) == body


def test_render_webhook_converts_times_to_utc() -> None:
    rome = timezone(timedelta(hours=2))
    body = render_webhook(
        make_alert(
            matched_at=datetime(2024, 5, 1, 14, 0, tzinfo=rome), published=datetime(2024, 5, 1, 11, 0)
        )  # naive: taken as UTC
    )
    assert body["timestamp"] == "2024-05-01T12:00:00Z"
    assert body["data"]["article"]["published"] == "2024-05-01T11:00:00Z"


def test_render_webhook_keeps_article_text_verbatim_and_nulls_missing() -> None:
    body = render_webhook(make_alert(title="<!channel> & co", url=None, published=None, language=None))
    article = body["data"]["article"]
    assert article == {
        "title": "<!channel> & co",
        "url": None,
        "source": "Esteri",
        "published": None,
        "language": None,
    }


# ---------------------------------------------------------------- slack


def test_render_slack_builds_a_valid_block_kit_message() -> None:
    payload = render_slack(make_alert())
    assert slack_problems(payload) == []
    assert [b["type"] for b in payload["blocks"]] == ["header", "section", "context", "section", "section"]
    assert payload["blocks"][0]["text"]["text"] == "Cessate il fuoco"
    title, terms, snippet = _section_texts(payload)
    assert title == (
        "*<https://www.example.org/esteri/tregua?id=1&amp;lang=it|Tregua a Gaza: accordo raggiunto>*"
    )
    assert terms == "*Matched:* tregua, cessate il fuoco"
    assert "una *tregua*; il *cessate il fuoco* inizia" in snippet
    assert payload["text"] == "Cessate il fuoco: Tregua a Gaza: accordo raggiunto"


def test_render_slack_escapes_channel_mentions_in_article_text() -> None:
    payload = render_slack(
        make_alert(
            title="<!channel> alert",
            source="<@U123> & <#C1>",
            snippet="ping <!here> and <https://evil.example|click>",
            terms=("ping",),
        )
    )
    for text in _texts(payload):
        assert "<!channel>" not in text and "<!here>" not in text and "<@U123>" not in text
        assert "<https://evil" not in text
    assert "&lt;!channel&gt; alert" in _section_texts(payload)[0]
    assert "&lt;@U123&gt; &amp; &lt;#C1&gt;" in payload["blocks"][2]["elements"][0]["text"]


def test_render_slack_neutralises_urls_that_would_break_the_link() -> None:
    payload = render_slack(make_alert(url="https://ex.org/a|<!channel>?q=a b>"))
    title = _section_texts(payload)[0]
    assert title.startswith("*<https://ex.org/a%7C%3C!channel%3E?q=a%20b%3E|")
    assert title.count("<") == 1 and title.count(">") == 1


@pytest.mark.parametrize("url", ["javascript:alert(1)", "mailto:a@b.c", "ftp://x/y", None, ""])
def test_render_slack_links_only_web_urls(url: str | None) -> None:
    title = _section_texts(render_slack(make_alert(url=url)))[0]
    assert title == "*Tregua a Gaza: accordo raggiunto*"


def test_render_slack_cuts_every_field_to_slack_limits() -> None:
    payload = render_slack(
        make_alert(
            rule_name="R" * 400,
            title="T & " * 3000,
            source="S" * 5000,
            terms=tuple(f"term{i}" for i in range(2000)),
            snippet="x & y " * 5000,
        )
    )
    assert slack_problems(payload) == []
    header = payload["blocks"][0]["text"]["text"]
    assert len(header) == SLACK_MAX_HEADER and header.endswith("…")
    for text in _section_texts(payload):
        assert len(text) <= SLACK_MAX_SECTION and text.endswith(("…", "…>*"))
    for text in _texts(payload):
        assert not _BAD_AMP.search(text), "an entity was cut in half"


def test_render_slack_never_cuts_inside_bold_markers() -> None:
    snippet = "NATO " * 1000
    text = _section_texts(render_slack(make_alert(snippet=snippet, terms=("NATO",))))[-1]
    assert len(text) <= SLACK_MAX_SECTION
    assert text.endswith("*NATO*…")  # whole words only: never "NAT…"
    assert text.count("*") % 2 == 0


def test_render_slack_keeps_huge_url_out_of_the_section() -> None:
    payload = render_slack(make_alert(url="https://ex.org/" + "a" * 4000))
    assert slack_problems(payload) == []
    assert _section_texts(payload)[0] == "*Tregua a Gaza: accordo raggiunto*"


def test_render_slack_skips_empty_parts_and_names_untitled() -> None:
    payload = render_slack(make_alert(title="  ", terms=(), snippet="", published=None, language=None))
    assert slack_problems(payload) == []
    assert [b["type"] for b in payload["blocks"]] == ["header", "section", "context"]
    assert "(untitled)" in _section_texts(payload)[0]
    assert payload["blocks"][2]["elements"][0]["text"] == "Esteri"


def test_render_slack_shows_published_time_in_the_reader_zone() -> None:
    context = render_slack(make_alert())["blocks"][2]["elements"][0]["text"]
    stamp = int(datetime(2024, 5, 1, 11, 58, tzinfo=UTC).timestamp())
    assert f"<!date^{stamp}^{{date_short_pretty}} {{time}}|2024-05-01T11:58:00Z>" in context


def test_slack_escape_touches_only_the_three_control_characters() -> None:
    assert slack_escape("a & <b> *c* _d_ 'e' \"f\"") == "a &amp; &lt;b&gt; *c* _d_ 'e' \"f\""


@settings(max_examples=150, deadline=None)
@given(
    title=st.text(max_size=4000),
    snippet=st.text(max_size=4000),
    source=st.text(max_size=100),
    rule_name=st.text(max_size=300),
    terms=st.lists(st.text(max_size=30), max_size=20).map(tuple),
)
def test_render_slack_is_always_accepted(
    title: str, snippet: str, source: str, rule_name: str, terms: tuple[str, ...]
) -> None:
    payload = render_slack(
        make_alert(title=title, snippet=snippet, source=source, rule_name=rule_name, terms=terms)
    )
    assert slack_problems(payload) == []
    for text in _texts(payload):
        assert "<!" not in text.replace("<!date^", "")


def test_render_web_url_refuses_every_white_space_and_control_character() -> None:
    """Every code point str.isspace() or Unicode category Cc calls so, anywhere in the URL; no other."""
    for code in range(0x110000):
        ch = chr(code)
        refused = ch.isspace() or unicodedata.category(ch) == "Cc"
        if refused or code < 0x3000:  # past U+3000 no character is a space or a control
            assert (web_url(f"https://ex.org/a{ch}b") is None) is refused, hex(code)
