"""OPML: real readers' exports → feeds with tags; feeds → OPML that reads back equal; hostile XML refused."""

from __future__ import annotations

import logging
import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from monitor.config import FeedSource
from monitor.errors import ConfigError, SourceError
from monitor.sources.opml import (
    OpmlError,
    OpmlFeed,
    config_entries,
    parse_opml,
    read_opml,
    render_opml,
)

DATA = Path(__file__).parent / "data" / "opml"
NOW = datetime(2024, 3, 14, 9, 30, tzinfo=UTC)


def read_sample(name: str) -> list[OpmlFeed]:
    path = DATA / name
    return parse_opml(path.read_bytes(), origin=str(path))


def test_parse_opml_feedly_export_merges_a_feed_filed_in_two_folders() -> None:
    feeds = read_sample("feedly.opml")
    assert [f.name for f in feeds] == [
        "ANSA.it - Mondo",
        "Internazionale",
        "BBC News - World",
        "Il Sole 24 ORE - Economia",
    ]
    assert feeds[0] == OpmlFeed(
        url="https://www.ansa.it/sito/notizie/mondo/mondo_rss.xml",
        name="ANSA.it - Mondo",
        html_url="https://www.ansa.it/sito/notizie/mondo/mondo.shtml",
        tags=("Esteri",),
    )
    assert feeds[2].tags == ("Esteri", "Economia & Finanza")


def test_parse_opml_inoreader_export_keeps_unicode_names_and_unfiled_feeds() -> None:
    feeds = {f.url: f for f in read_sample("inoreader.opml")}
    assert len(feeds) == 5
    yle = feeds["https://feeds.yle.fi/uutiset/v1/recent.rss?publisherIds=YLE_NEWS"]
    assert (yle.name, yle.tags) == ("Yle News – Uutiset", ("Nord Europa",))
    assert feeds["https://www.hs.fi/rss/ulkomaat.xml"].name == "Helsingin Sanomat — Ulkomaat"
    assert feeds["https://www.ilpost.it/feed/"].tags == ()


def test_parse_opml_netnewswire_export_with_comment_and_tabs() -> None:
    feeds = read_sample("netnewswire.opml")
    assert [(f.url, f.tags) for f in feeds] == [
        ("https://www.agenzianova.com/feed/", ("Agenzie",)),
        ("https://rsshub.app/apnews/topics/apf-topnews", ("Agenzie",)),
        ("https://daringfireball.net/feeds/main", ()),
        ("https://www.lemonde.fr/rss/une.xml", ()),
    ]
    assert feeds[3].name == "Le Monde.fr - Actualités et Infos en France et dans le monde"


def test_parse_opml_miniflux_export_with_escaped_query_string() -> None:
    feeds = read_sample("miniflux.opml")
    assert [(f.name, f.tags) for f in feeds] == [
        ("Rai News - Mondo", ("All",)),
        ("Deutsche Welle", ("Esteri",)),
        ("euronews", ("Esteri",)),
    ]
    assert feeds[2].url == "https://www.euronews.com/rss?level=theme&name=news"


def test_read_opml_nested_folders_categories_languages_and_latin1() -> None:
    path = DATA / "opml2-categories.opml"
    result = read_opml(path.read_bytes(), origin=str(path))
    politico, le_soir, haaretz, unnamed = result.feeds
    assert politico.tags == ("Esteri", "Europa", "Bruxelles", "Istituzioni", "UE")
    assert politico.language == "en"  # en-GB: the primary subtag picks the pipeline
    assert le_soir.url == "https://www.lesoir.be/rss/81853/cible_principale"  # xmlURL, other case
    assert (le_soir.language, le_soir.html_url) == ("fr", None)
    assert haaretz.tags == ("Esteri", "Medio Oriente") and haaretz.language is None
    assert unnamed == OpmlFeed(url="https://www.example.org/senza-nome.xml")
    assert [str(p) for p in result.problems] == [
        f"{path}: outline 'Haaretz': language 'english' is not a language code, ignored",
        f"{path}: outline 'Città di Gerusalemme (locale)': not an http(s) feed URL, skipped: "
        "feed://www.example.org/gerusalemme.xml",
        f"{path}: outline 'Archivio su disco': not an http(s) feed URL, skipped: file:///etc/passwd",
        f"{path}: outline 'Feed condivisi': an OPML include is not followed: import its file",
    ]


def test_parse_opml_logs_the_outlines_it_skips(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="monitor.sources.opml"):
        feeds = read_sample("opml2-categories.opml")
    assert len(feeds) == 4
    assert "file:///etc/passwd" in caplog.text and "opml=" in caplog.text


@pytest.mark.parametrize(
    ("sample", "entity"),
    [
        ("billion-laughs.opml", "'lol'"),
        ("external-entity.opml", "'secret' from file:///etc/passwd"),
        ("parameter-entity.opml", "'remote' from http://127.0.0.1:9/evil.dtd"),
    ],
)
def test_parse_opml_refuses_entity_declarations(sample: str, entity: str) -> None:
    path = DATA / sample
    with pytest.raises(OpmlError) as caught:
        parse_opml(path.read_bytes(), origin=str(path))
    assert str(caught.value).startswith(f"{path}: refused: the file declares the XML entity {entity}")
    assert isinstance(caught.value, SourceError)


def test_parse_opml_never_loads_an_external_dtd(tmp_path: Path) -> None:
    dtd = tmp_path / "opml.dtd"
    dtd.write_text('<!ENTITY secret "contents of the DTD">', encoding="utf-8")
    harmless = (
        f'<?xml version="1.0"?>\n<!DOCTYPE opml SYSTEM "{dtd.as_uri()}">\n'
        '<opml version="2.0"><body><outline text="A" xmlUrl="https://a.example/rss"/></body></opml>'
    )
    assert parse_opml(harmless.encode(), origin="harmless.opml") == [OpmlFeed("https://a.example/rss", "A")]
    # expat skips an entity it would have to read the DTD for: the DTD's text never arrives.
    using_it = harmless.replace('text="A"', 'text="&secret;"')
    assert parse_opml(using_it.encode(), origin="using-it.opml") == [OpmlFeed("https://a.example/rss")]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", r"^feeds\.opml:1:0: not well-formed XML: no element found"),
        (
            b"<opml><body><outline text='a'></body></opml>",
            r"^feeds\.opml:1:\d+: not well-formed XML: mismatched",
        ),
        (
            b"<rss version='2.0'><channel/></rss>",
            r"^feeds\.opml: not an OPML file: the root element is <rss>",
        ),
        (b"<opml version='2.0'><head/></opml>", r"^feeds\.opml: not an OPML file: <opml> has no <body>"),
    ],
)
def test_parse_opml_names_the_file_when_it_cannot_be_read(data: bytes, message: str) -> None:
    with pytest.raises(OpmlError, match=message):
        parse_opml(data, origin="feeds.opml")


def test_parse_opml_empty_body_is_no_feeds() -> None:
    assert parse_opml(b"<opml version='2.0'><body/></opml>", origin="empty.opml") == []


def test_parse_opml_unnamed_folders_add_no_tag_and_duplicate_tags_collapse() -> None:
    data = b"""<opml version="2.0"><body>
      <outline><outline text="Esteri">
        <outline text="esteri">
          <outline text="A" xmlUrl="https://a.example/rss" category="/ESTERI, /Europa ,"/>
        </outline>
      </outline></outline>
    </body></opml>"""
    (feed,) = parse_opml(data, origin="x.opml")
    assert feed.tags == ("Esteri", "Europa")


def test_render_opml_is_an_opml_2_document_with_folders_and_categories() -> None:
    feeds = [
        OpmlFeed("https://a.example/rss", "A & B <news>", "https://a.example/", ("Esteri", "Europa"), "it"),
        OpmlFeed("https://b.example/feed?x=1&y=2", None, None, ("Esteri",)),
        OpmlFeed("https://c.example/atom", "C", tags=()),
        OpmlFeed("https://d.example/rss", 'Il "Corriere"', tags=("Economia", "Borsa/Mercati", "Milano")),
    ]
    document = render_opml(feeds, title="Redazione & desk", now=NOW)
    assert document.startswith(b'<?xml version="1.0" encoding="UTF-8"?>\n<opml version="2.0">')
    root = ET.fromstring(document)
    assert root.findtext("head/title") == "Redazione & desk"
    assert root.findtext("head/dateCreated") == "Thu, 14 Mar 2024 09:30:00 +0000"
    body = root.find("body")
    assert body is not None
    esteri, c, economia = body
    assert esteri.attrib == {"text": "Esteri", "title": "Esteri"}
    assert [o.attrib for o in esteri] == [
        {
            "type": "rss",
            "text": "A & B <news>",
            "title": "A & B <news>",
            "xmlUrl": "https://a.example/rss",
            "htmlUrl": "https://a.example/",
            "language": "it",
            "category": "/Europa",
        },
        {"type": "rss", "text": "https://b.example/feed?x=1&y=2", "xmlUrl": "https://b.example/feed?x=1&y=2"},
    ]
    assert c.get("xmlUrl") == "https://c.example/atom"
    # A later tag holding "/" cannot be a category: the tags up to it become nested folders.
    (mercati,) = economia
    assert mercati.get("text") == "Borsa/Mercati"
    assert mercati[0].get("category") == "/Milano"
    assert b"A &amp; B &lt;news&gt;" in document and b"Il &quot;Corriere&quot;" in document


def test_render_opml_drops_characters_xml_cannot_carry() -> None:
    document = render_opml([OpmlFeed("https://a.example/rss", "Bell\x07 news")], title="t\x00", now=NOW)
    assert parse_opml(document, origin="x") == [OpmlFeed("https://a.example/rss", "Bell news")]


@pytest.mark.parametrize("sample", ["feedly.opml", "inoreader.opml", "netnewswire.opml", "miniflux.opml"])
def test_render_opml_reads_back_every_reader_export(sample: str) -> None:
    feeds = read_sample(sample)
    assert parse_opml(render_opml(feeds, title=sample, now=NOW), origin="again.opml") == feeds


_TEXT = st.text(
    st.characters(codec="utf-8", exclude_categories=("Cs", "Cc", "Cn", "Zl", "Zp")), min_size=1, max_size=20
).map(str.strip)
_TAGS = st.lists(_TEXT.filter(bool), max_size=4, unique_by=str.casefold).map(tuple)


@st.composite
def _feeds(draw: st.DrawFn) -> list[OpmlFeed]:
    count = draw(st.integers(0, 6))
    queries = st.sampled_from(["a&b", "<x>", "è", '"q"'])
    return [
        OpmlFeed(
            url=f"https://feeds.example/{i}?q={draw(queries)}",
            name=draw(st.none() | _TEXT.filter(bool)),
            html_url=draw(st.none() | st.just(f"https://site.example/{i}")),
            tags=draw(_TAGS),
            language=draw(st.none() | st.sampled_from(["it", "en", "fi"])),
        )
        for i in range(count)
    ]


@given(_feeds(), _TEXT)
def test_render_opml_then_parse_opml_gives_the_feeds_back(feeds: list[OpmlFeed], title: str) -> None:
    back = parse_opml(render_opml(feeds, title=title, now=NOW), origin="round-trip.opml")
    assert sorted(back, key=lambda f: f.url) == sorted(feeds, key=lambda f: f.url)  # grouped by folder


def test_opml_feed_refuses_a_url_that_is_not_http() -> None:
    with pytest.raises(ValueError, match="http"):
        OpmlFeed("file:///etc/passwd")
    with pytest.raises(ValueError, match="blank"):
        OpmlFeed("https://a.example/rss", tags=(" ",))


def test_config_entries_are_valid_feed_sources_with_only_what_the_opml_said() -> None:
    entries = config_entries(read_sample("opml2-categories.opml"), interval="15m")
    assert entries[0] == {
        "url": "https://www.politico.eu/feed/",
        "name": "Politico Europe",
        "interval": "15m",
        "language": "en",
        "tags": ["Esteri", "Europa", "Bruxelles", "Istituzioni", "UE"],
    }
    assert config_entries([OpmlFeed("https://a.example/rss")]) == [{"url": "https://a.example/rss"}]
    sources = [FeedSource.model_validate(entry) for entry in entries]
    assert sources[0].interval == 900.0 and sources[3].source_name == "https://www.example.org/senza-nome.xml"


def test_config_entries_refuse_an_interval_the_config_would_refuse() -> None:
    with pytest.raises(ConfigError, match=r"feed https://a\.example/rss: interval: .*not a duration"):
        config_entries([OpmlFeed("https://a.example/rss")], interval="every hour")
