"""JSON records → Articles: the documented fields, their aliases and dates."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from monitor.errors import ArticleParseError
from monitor.sources.records import article_from_record, parse_published


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, None),
        ("", None),
        ("2022-06-28T09:00:00+02:00", datetime(2022, 6, 28, 7, tzinfo=UTC)),
        ("2022-06-28T07:00:00Z", datetime(2022, 6, 28, 7, tzinfo=UTC)),
        ("2022-06-28 07:00:00", datetime(2022, 6, 28, 7, tzinfo=UTC)),
        ("2022-06-28", datetime(2022, 6, 28, tzinfo=UTC)),
        ("Tue, 28 Jun 2022 09:00:00 +0200", datetime(2022, 6, 28, 7, tzinfo=UTC)),
        ("Tue, 28 Jun 2022 07:00:00 GMT", datetime(2022, 6, 28, 7, tzinfo=UTC)),
        (1656399600, datetime(2022, 6, 28, 7, tzinfo=UTC)),
        (1656399600.5, datetime(2022, 6, 28, 7, 0, 0, 500000, tzinfo=UTC)),
        ("1656399600", datetime(2022, 6, 28, 7, tzinfo=UTC)),
        (1656399600000, datetime(2022, 6, 28, 7, tzinfo=UTC)),
    ],
)
def test_parse_published_forms(value: object, expected: datetime | None) -> None:
    result = parse_published(value)
    assert result == expected
    if result is not None:
        assert result.utcoffset() == timedelta(0)


@pytest.mark.parametrize("value", ["next tuesday", "2022-13-45", True, [2022], 1e300])
def test_parse_published_rejects(value: object) -> None:
    with pytest.raises(ValueError):
        parse_published(value)


def test_parse_published_keeps_instant() -> None:
    rome = timezone(timedelta(hours=2))
    assert parse_published("2022-06-28T09:00:00+02:00") == datetime(2022, 6, 28, 9, tzinfo=rome)


def test_article_from_record_first_alias_wins() -> None:
    record = {"title": "T", "summary": "S", "description": "D", "text": "X", "content": "C"}
    article = article_from_record(record, where="w", source="src", origin="o")
    assert (article.summary, article.body, article.source) == ("S", "X", "src")


def test_article_from_record_null_is_absent() -> None:
    record = {"title": "T", "body": None, "text": "B", "url": None, "link": "https://e.org/a"}
    article = article_from_record(record, where="w", source="src", origin="o")
    assert (article.body, article.url) == ("B", "https://e.org/a")


def test_article_from_record_id_gives_identity() -> None:
    a = article_from_record({"id": 5, "title": "A"}, where="w", source="s", origin="o")
    b = article_from_record({"id": "5", "title": "B changed"}, where="w", source="s", origin="o")
    assert a.uid == b.uid
    assert a.fingerprint != b.fingerprint


@pytest.mark.parametrize(
    ("record", "reason"),
    [
        ({"title": "T", "id": {"x": 1}}, "field 'id' must be a string or an integer"),
        ({"title": "T", "url": 3}, "field 'url' must be a string"),
        ({"body": "   "}, "has neither a title nor a body"),
        ("text", "expected a JSON object, got a string"),
    ],
)
def test_article_from_record_bad_raises(record: object, reason: str) -> None:
    with pytest.raises(ArticleParseError, match=f"^file.json:3: {reason}"):
        article_from_record(record, where="file.json:3", source="s", origin="o")


def test_article_from_record_turns_html_fields_into_text_and_reads_common_aliases() -> None:
    article = article_from_record(
        {
            "headline": "Nato <b>vertice</b>",
            "content": "<p>Uno &amp; due</p><p>Tre</p>",
            "date": "2024-05-01",
        },
        where="export.json:1",
        source="cms",
        origin="export.json",
    )
    assert article.title == "Nato vertice"
    assert article.body.split() == ["Uno", "&", "due", "Tre"]
    assert article.published is not None and article.published.isoformat() == "2024-05-01T00:00:00+00:00"


def test_article_from_record_keeps_angle_brackets_that_are_not_markup() -> None:
    article = article_from_record({"title": "a < b > c", "body": "x<y"}, where="w", source="s", origin="o")
    assert (article.title, article.body) == ("a < b > c", "x<y")
