"""parse_feed on hostile, mis-declared and old-fashioned feeds: bounded, local, and still useful.

Every hostile document must either give safe entries or raise ArticleParseError, within a
memory budget (tracemalloc peak) and a generous time budget, and never let a local file's
contents or a network request through.
"""

from __future__ import annotations

import dataclasses
import logging
import time
import tracemalloc
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import feedparser
import pytest

from monitor.errors import ArticleParseError
from monitor.models import Article
from monitor.sources.parse import entry_authors, parse_feed

HOSTILE = Path(__file__).parent / "data" / "hostile"
MAX_PEAK_BYTES = 50_000_000
MAX_SECONDS = 10.0  # each attack here runs in well under a second; this only catches a hang
PASSWD = Path("/etc/passwd")


def parse_bounded(data: bytes, headers: dict[str, str] | None = None) -> list[Article]:
    """parse_feed under the memory and time budget; ArticleParseError is a safe outcome (no entries)."""
    tracemalloc.start()
    started = time.monotonic()
    try:
        try:
            articles = parse_feed(data, source="ostile", origin="hostile.rss", headers=headers)
        except ArticleParseError:
            articles = []
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    elapsed = time.monotonic() - started
    assert peak < MAX_PEAK_BYTES, f"peak {peak / 1e6:.0f} MB"
    assert elapsed < MAX_SECONDS, f"took {elapsed:.1f}s"
    return articles


def texts(articles: list[Article]) -> str:
    return "\n".join(f"{a.title}\n{a.summary}\n{a.body}\n{a.url}\n{a.origin}" for a in articles)


def rss(prolog: str, title: str, *, encoding: str = "utf-8") -> str:
    return (
        f'<?xml version="1.0" encoding="{encoding}"?>\n{prolog}\n'
        '<rss version="2.0"><channel><title>Attacco</title>'
        f"<item><title>{title}</title><guid>h-1</guid><description>Testo</description></item>"
        "</channel></rss>"
    )


# --- entity expansion -----------------------------------------------------------------------------------

BIG = "A" * 100_000
REFERENCES = "&a;" * 2_000  # 200 MB once expanded
QUADRATIC = f'<!DOCTYPE rss [\n<!ENTITY a "{BIG}">\n]>'

# Each slips a 100 kB entity past feedparser's own DOCTYPE filter, or past a filter reading bytes.
QUADRATIC_VARIANTS: dict[str, Callable[[], tuple[bytes, dict[str, str] | None]]] = {
    "one entity per line": lambda: (rss(QUADRATIC, REFERENCES).encode(), None),
    "whole doctype on one line": lambda: (rss(QUADRATIC.replace("\n", ""), REFERENCES).encode(), None),
    "text before the doctype": lambda: (rss("junk\n" + QUADRATIC, REFERENCES).encode(), None),
    "doctype inside a comment": lambda: (rss(f"<!--\n{QUADRATIC}\n-->", REFERENCES).encode(), None),
    "'<' in an earlier entity value": lambda: (
        rss(QUADRATIC.replace("[\n", '[\n<!ENTITY x "<b>">\n'), REFERENCES).encode(),
        None,
    ),
    "utf-16 document": lambda: (rss(QUADRATIC, REFERENCES, encoding="utf-16").encode("utf-16"), None),
    "utf-7 served charset": lambda: (
        rss(QUADRATIC, REFERENCES, encoding="utf-7").encode("utf-7"),
        {"Content-Type": "application/rss+xml; charset=utf-7"},
    ),
}


@pytest.mark.parametrize("variant", QUADRATIC_VARIANTS)
def test_parse_feed_quadratic_blowup_stays_bounded(variant: str) -> None:
    data, headers = QUADRATIC_VARIANTS[variant]()
    articles = parse_bounded(data, headers)
    assert "AAAAAAAAAA" not in texts(articles)


@pytest.mark.parametrize("path", sorted(HOSTILE.iterdir()), ids=lambda path: path.name)
def test_parse_feed_hostile_file_stays_bounded_and_local(path: Path) -> None:
    articles = parse_bounded(path.read_bytes())
    found = texts(articles)
    assert "lollollol" not in found
    if PASSWD.exists():
        assert PASSWD.read_text().splitlines()[0] not in found


def test_parse_feed_billion_laughs_keeps_the_entry_with_references_unexpanded(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING, logger="monitor.sources.parse"):
        [article] = parse_bounded((HOSTILE / "billion-laughs.rss").read_bytes())
    assert article.title == "Notizia &lol9;"
    assert any("hostile.rss refused=9 DTD entity declarations" in r.getMessage() for r in caplog.records)


def test_parse_feed_unterminated_doctype_raises_naming_the_feed() -> None:
    with pytest.raises(ArticleParseError, match=r"^bad\.rss: malformed DOCTYPE"):
        parse_feed((HOSTILE / "unterminated-doctype.rss").read_bytes(), source="s", origin="bad.rss")


# --- local files and the network --------------------------------------------------------------------------


def xxe_documents(secret: Path) -> dict[str, str]:
    url = secret.as_uri()
    return {
        "general entity, file URL": rss(f'<!DOCTYPE rss [\n<!ENTITY s SYSTEM "{url}">\n]>', "x &s; y"),
        "general entity, bare path": rss(f'<!DOCTYPE rss [<!ENTITY s SYSTEM "{secret}">]>', "x &s; y"),
        "public entity": rss(f'<!DOCTYPE rss [<!ENTITY s PUBLIC "-//X//Y" "{url}">]>', "x &s; y"),
        "parameter entity": rss(f'<!DOCTYPE rss [<!ENTITY % s SYSTEM "{url}"> %s;]>', "x y"),
        "external DTD": rss(f'<!DOCTYPE rss SYSTEM "{url}">', "x &s; y"),
        "entity in an attribute": rss(f'<!DOCTYPE rss [<!ENTITY s SYSTEM "{url}">]>', "<a href='&s;'>x</a>"),
        "xinclude": rss(
            "", f'<xi:include xmlns:xi="http://www.w3.org/2001/XInclude" href="{url}" parse="text"/>'
        ),
    }


@pytest.mark.parametrize("attack", list(xxe_documents(Path("/x"))))
def test_parse_feed_never_reads_a_local_file(tmp_path: Path, attack: str) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("SEGRETISSIMO-4242", encoding="utf-8")
    articles = parse_bounded(xxe_documents(secret)[attack].encode())
    assert "SEGRETISSIMO" not in texts(articles)


def test_parse_feed_never_fetches_an_external_dtd_or_entity(
    server: tuple[str, list[dict[str, str]]],
) -> None:
    base, seen = server
    documents = [
        rss(f'<!DOCTYPE rss SYSTEM "{base}/evil.dtd">', "x &ext; y"),
        rss(f'<!DOCTYPE rss PUBLIC "-//Evil//DTD//EN" "{base}/public.dtd">', "x"),
        rss(f'<!DOCTYPE rss [<!ENTITY ext SYSTEM "{base}/entity.txt">]>', "x &ext; y"),
        rss(f'<!DOCTYPE rss [<!ENTITY % remote SYSTEM "{base}/remote.dtd"> %remote;]>', "x"),
    ]
    for document in documents:
        parse_bounded(document.encode())
    time.sleep(0.2)  # a request sent from another thread would have arrived by now
    assert seen == []


# --- what hardening keeps working -----------------------------------------------------------------------


def test_parse_feed_short_declared_entities_still_expand() -> None:
    prolog = '<!DOCTYPE rss [\n<!ENTITY euro "&#8364;">\n<!ENTITY paese "Italia">\n]>'
    [article] = parse_feed(rss(prolog, "Prezzi in &paese;: 5 &euro;").encode(), source="s", origin="e.rss")
    assert article.title == "Prezzi in Italia: 5 €"


def test_parse_feed_character_entity_survives_the_loose_parser() -> None:
    prolog = '<!DOCTYPE rss [\n<!ENTITY euro "&#8364;">\n<!ENTITY lt2 "&#60;">\n]>'
    # &ext; is undefined, so expat gives up and feedparser's loose parser reads the document.
    [article] = parse_feed(rss(prolog, "5 &euro; &ext;").encode(), source="s", origin="e.rss")
    assert article.title == "5 € &ext;"


def test_parse_feed_longer_entity_within_the_budget_expands() -> None:
    prolog = '<!DOCTYPE rss [\n<!ENTITY id "tag:example.com,">\n]>'  # from feedparser's own tests
    data = rss(prolog, "Titolo").replace("<guid>h-1</guid>", "<guid>&id;2006-05-04:/blog/</guid>")
    [article] = parse_feed(data.encode(), source="s", origin="id.rss")
    assert article.origin == "id.rss#tag:example.com,2006-05-04:/blog/"


def test_parse_feed_entities_past_the_expansion_budget_are_refused_with_a_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    prolog = f'<!DOCTYPE rss [<!ENTITY ok "sì"><!ENTITY long "{"x" * 1_000}">]>'
    title = "&ok; " + "&long;" * 1_001  # one reference more than 1,000,000 characters allow
    with caplog.at_level(logging.WARNING, logger="monitor.sources.parse"):
        [article] = parse_bounded(rss(prolog, title).encode())
    assert article.title.startswith("sì &long;&long;")
    assert any("feed=hostile.rss refused=1" in record.getMessage() for record in caplog.records)


def test_parse_feed_entity_markup_inside_escaped_content_is_only_text() -> None:
    payload = "&lt;!DOCTYPE x [&lt;!ENTITY a SYSTEM 'file:///etc/passwd'&gt;]&gt;&lt;p&gt;&amp;a;&lt;/p&gt;"
    [article] = parse_bounded(rss("", "Sicurezza").replace("Testo", payload).encode())
    assert article.summary.endswith("&a;")


def test_parse_feed_netscape_rss091_doctype_keeps_its_entities() -> None:
    prolog = (
        '<!DOCTYPE rss PUBLIC "-//Netscape Communications//DTD RSS 0.91//EN"\n'
        '  "http://my.netscape.com/publish/formats/rss-0.91.dtd">'
    )
    data = rss(prolog, "Caff&egrave; e citt&agrave;").replace('version="2.0"', 'version="0.91"')
    [article] = parse_feed(data.encode(), source="s", origin="n.rss")
    assert article.title == "Caffè e città"


# --- encodings and broken documents ---------------------------------------------------------------------

CRONACA = (
    "<rss version='2.0'><channel><title>Cronaca</title>"
    "<item><title>Città più cara</title><guid>c1</guid><description>Perché? Costa 5 €.</description></item>"
    "</channel></rss>"
)


@pytest.mark.parametrize(
    ("declared", "actual", "headers", "problem"),
    [
        ("utf-8", "cp1252", None, "declared as utf-8, but parsed as windows-1252"),
        ("iso-8859-1", "utf-8", None, "declared as iso-8859-1, but parsed as utf-8"),
        ("utf-8", "utf-8", {"Content-Type": "application/rss+xml; charset=iso-8859-1"}, "parsed as utf-8"),
        ("utf-8", "cp1252", {"Content-Type": "application/rss+xml; charset=utf-8"}, "as windows-1252"),
    ],
)
def test_parse_feed_wrong_declared_charset_reads_the_text_and_warns(
    caplog: pytest.LogCaptureFixture,
    declared: str,
    actual: str,
    headers: dict[str, str] | None,
    problem: str,
) -> None:
    data = f'<?xml version="1.0" encoding="{declared}"?>\n{CRONACA}'.encode(actual)
    with caplog.at_level(logging.WARNING, logger="monitor.sources.parse"):
        [article] = parse_feed(data, source="s", origin="cronaca.rss", headers=headers)
    assert (article.title, article.summary) == ("Città più cara", "Perché? Costa 5 €.")
    [record] = caplog.records
    assert "feed=cronaca.rss" in record.getMessage()
    assert "CharacterEncodingOverride" in record.getMessage()
    assert problem in record.getMessage()


def test_parse_feed_correct_charset_logs_nothing(caplog: pytest.LogCaptureFixture) -> None:
    data = f'<?xml version="1.0" encoding="iso-8859-1"?>\n{CRONACA.replace(" €", "")}'.encode("latin-1")
    with caplog.at_level(logging.WARNING, logger="monitor.sources.parse"):
        [article] = parse_feed(data, source="s", origin="cronaca.rss")
    assert article.title == "Città più cara"
    assert caplog.records == []


def test_parse_feed_truncated_feed_keeps_complete_entries_and_warns(caplog: pytest.LogCaptureFixture) -> None:
    data = CRONACA.replace("</channel></rss>", "<item><title>Seconda</title><description>tronc").encode()
    with caplog.at_level(logging.WARNING, logger="monitor.sources.parse"):
        articles = parse_feed(data, source="s", origin="tronco.rss")
    assert [a.title for a in articles] == ["Città più cara", "Seconda"]
    assert "feed=tronco.rss problem='SAXParseException" in caplog.records[0].getMessage()


@pytest.mark.parametrize(
    "data",
    [b"   \n", b"\x00\x01\x02garbage", b"<<<<<<<<", b"<?xml version='1.0'?><!-- never closed", b"{}"],
    ids=["blank", "binary", "brackets", "open comment", "json"],
)
def test_parse_feed_document_without_entries_raises_naming_the_feed(data: bytes) -> None:
    with pytest.raises(ArticleParseError, match=r"^junk\.xml: "):
        parse_feed(data, source="s", origin="junk.xml")


# --- every feed format ----------------------------------------------------------------------------------

RSS_091 = """<?xml version="1.0" encoding="ISO-8859-1"?>
<!DOCTYPE rss PUBLIC "-//Netscape Communications//DTD RSS 0.91//EN"
  "http://my.netscape.com/publish/formats/rss-0.91.dtd">
<rss version="0.91"><channel>
  <title>Cronaca di Bologna</title><link>https://cronaca.example.it/</link>
  <description>Le notizie della citt&#224;</description><language>it</language>
  <managingEditor>redazione@cronaca.example.it (Redazione)</managingEditor>
  <item>
    <title>Nevicata sull'Appennino, strade chiuse</title>
    <link>https://cronaca.example.it/2024/01/15/neve</link>
    <description>Disagi sulla Porrettana: &lt;b&gt;tre&lt;/b&gt; comuni isolati.</description>
  </item>
</channel></rss>""".encode("latin-1")

RSS_092 = b"""<?xml version="1.0" encoding="UTF-8"?>
<rss version="0.92"><channel>
  <title>Economia</title><link>https://economia.example.it/</link><description>Mercati</description>
  <language>it-IT</language>
  <item>
    <title>La Borsa di Milano chiude in rialzo</title>
    <description>&lt;p&gt;Il &lt;em&gt;Ftse Mib&lt;/em&gt; guadagna l'1,2%.&lt;/p&gt;</description>
    <link>https://economia.example.it/borsa/2024-03-08</link>
    <source url="https://agenzia.example.it/rss">Agenzia</source>
    <enclosure url="https://economia.example.it/audio/borsa.mp3" length="1200" type="audio/mpeg"/>
  </item>
</channel></rss>"""

RSS_10 = """<?xml version="1.0" encoding="utf-8"?>
<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" xmlns="http://purl.org/rss/1.0/"
         xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:content="http://purl.org/rss/1.0/modules/content/">
  <channel rdf:about="https://cultura.example.it/rss">
    <title>Cultura</title><link>https://cultura.example.it/</link><description>Mostre</description>
    <dc:language>it</dc:language>
    <items><rdf:Seq><rdf:li rdf:resource="https://cultura.example.it/mostre/caravaggio"/></rdf:Seq></items>
  </channel>
  <item rdf:about="https://cultura.example.it/mostre/caravaggio">
    <title>Caravaggio a Palazzo Barberini</title>
    <link>https://cultura.example.it/mostre/caravaggio</link>
    <description>Oltre venti tele riunite.</description>
    <content:encoded><![CDATA[<p>La mostra apre sabato.</p>
      <p>Resterà aperta fino a luglio.</p>]]></content:encoded>
    <dc:creator>Giulia Verdi</dc:creator>
    <dc:date>2024-03-02T10:15:00+01:00</dc:date>
  </item>
</rdf:RDF>""".encode()

RSS_20 = """<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0" xmlns:dc="http://purl.org/dc/elements/1.1/"
     xmlns:content="http://purl.org/rss/1.0/modules/content/"><channel>
  <title>Politica</title><link>https://politica.example.it/</link><description>Governo</description>
  <language>it</language>
  <item>
    <title>Il Senato approva la riforma</title>
    <link>https://politica.example.it/senato/riforma?utm_source=rss</link>
    <guid isPermaLink="false">politica-4411</guid>
    <pubDate>Thu, 07 Mar 2024 18:45:00 +0100</pubDate>
    <author>mario.rossi@politica.example.it (Mario Rossi)</author>
    <dc:creator>Anna Bianchi</dc:creator>
    <description>Voto finale con 98 sì.</description>
    <content:encoded><![CDATA[<p>Il testo passa ora alla <b>Camera</b>.</p>]]></content:encoded>
  </item>
</channel></rss>""".encode()

ATOM_03 = """<?xml version="1.0" encoding="utf-8"?>
<feed version="0.3" xmlns="http://purl.org/atom/ns#" xml:lang="it">
  <title>Sport</title><link rel="alternate" type="text/html" href="https://sport.example.it/"/>
  <modified>2024-02-25T21:00:00Z</modified>
  <author><name>Redazione Sport</name></author>
  <entry>
    <title>Derby della Madonnina, finisce in parità</title>
    <link rel="alternate" type="text/html" href="https://sport.example.it/calcio/derby"/>
    <id>tag:sport.example.it,2024:derby</id>
    <issued>2024-02-25T22:45:00+01:00</issued><modified>2024-02-25T21:50:00Z</modified>
    <author><name>Luca Neri</name><email>luca.neri@sport.example.it</email></author>
    <summary type="text/plain">Un gol per parte a San Siro.</summary>
    <content type="text/html" mode="escaped">
      &lt;p&gt;Pareggio &lt;b&gt;1-1&lt;/b&gt; nel recupero.&lt;/p&gt;</content>
  </entry>
  <entry>
    <title>Tennis, Sinner in semifinale</title><id>tag:sport.example.it,2024:sinner</id>
    <issued>2024-02-25T18:00:00Z</issued>
    <summary>Vittoria in due set.</summary>
  </entry>
</feed>""".encode()

ATOM_10 = b"""<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom" xml:lang="it">
  <title>Scienza</title><id>urn:uuid:6f1c2b0e-1d1a-4c55-9b2e-3f7e1a0c9d10</id>
  <updated>2024-03-10T08:00:00Z</updated><link href="https://scienza.example.it/"/>
  <author><name>Redazione Scienza</name></author>
  <entry>
    <title type="html">Scoperto un nuovo &lt;i&gt;esopianeta&lt;/i&gt;</title>
    <link href="https://scienza.example.it/spazio/esopianeta"/>
    <id>https://scienza.example.it/spazio/esopianeta</id>
    <updated>2024-03-10T07:30:00Z</updated>
    <author><name>Sara Galli</name></author><author><name>Paolo Conti</name></author>
    <summary>Orbita una nana rossa a 40 anni luce.</summary>
    <content type="xhtml"><div xmlns="http://www.w3.org/1999/xhtml"><p>Lo annuncia l'INAF.</p></div></content>
  </entry>
</feed>"""


@dataclasses.dataclass(frozen=True)
class Expected:
    title: str
    summary: str
    body: str
    url: str | None
    published: datetime | None
    origin: str
    authors: tuple[str, ...]


FORMATS = {
    "rss 0.91": (
        RSS_091,
        Expected(
            "Nevicata sull'Appennino, strade chiuse",
            "Disagi sulla Porrettana: tre comuni isolati.",
            "",
            "https://cronaca.example.it/2024/01/15/neve",
            None,
            "f#1",
            (),
        ),
    ),
    "rss 0.92": (
        RSS_092,
        Expected(
            "La Borsa di Milano chiude in rialzo",
            "Il Ftse Mib guadagna l'1,2%.",
            "",
            "https://economia.example.it/borsa/2024-03-08",
            None,
            "f#1",
            (),
        ),
    ),
    "rss 1.0": (
        RSS_10,
        Expected(
            "Caravaggio a Palazzo Barberini",
            "Oltre venti tele riunite.",
            "La mostra apre sabato.\n\nResterà aperta fino a luglio.",
            "https://cultura.example.it/mostre/caravaggio",
            datetime(2024, 3, 2, 9, 15, tzinfo=UTC),
            "f#https://cultura.example.it/mostre/caravaggio",
            ("Giulia Verdi",),
        ),
    ),
    "rss 2.0": (
        RSS_20,
        Expected(
            "Il Senato approva la riforma",
            "Voto finale con 98 sì.",
            "Il testo passa ora alla Camera.",
            "https://politica.example.it/senato/riforma",
            datetime(2024, 3, 7, 17, 45, tzinfo=UTC),
            "f#politica-4411",
            ("Mario Rossi", "Anna Bianchi"),
        ),
    ),
    "atom 0.3": (
        ATOM_03,
        Expected(
            "Derby della Madonnina, finisce in parità",
            "Un gol per parte a San Siro.",
            "Pareggio 1-1 nel recupero.",
            "https://sport.example.it/calcio/derby",
            datetime(2024, 2, 25, 21, 45, tzinfo=UTC),
            "f#tag:sport.example.it,2024:derby",
            ("Luca Neri",),
        ),
    ),
    "atom 1.0": (
        ATOM_10,
        Expected(
            "Scoperto un nuovo esopianeta",
            "Orbita una nana rossa a 40 anni luce.",
            "Lo annuncia l'INAF.",
            "https://scienza.example.it/spazio/esopianeta",
            datetime(2024, 3, 10, 7, 30, tzinfo=UTC),
            "f#https://scienza.example.it/spazio/esopianeta",
            ("Sara Galli", "Paolo Conti"),
        ),
    ),
}


@pytest.mark.parametrize("name", FORMATS)
def test_parse_feed_reads_every_feed_format(name: str, caplog: pytest.LogCaptureFixture) -> None:
    data, expected = FORMATS[name]
    with caplog.at_level(logging.WARNING, logger="monitor.sources.parse"):
        article = parse_feed(data, source="s", origin="f")[0]
    got = (article.title, article.summary, article.body, article.url, article.published, article.origin)
    assert got == dataclasses.astuple(expected)[:6]
    assert article.language == "it"
    assert entry_authors(feedparser.parse(data).entries[0]) == expected.authors
    assert [r for r in caplog.records if "refused" in r.getMessage()] == []


def test_parse_feed_passes_authors_when_article_has_them() -> None:
    if "authors" not in {field.name for field in dataclasses.fields(Article)}:
        pytest.skip("models.Article has no authors field yet: parse_feed computes authors and drops them")
    articles = parse_feed(ATOM_03, source="s", origin="f")
    assert [article.authors for article in articles] == [("Luca Neri",), ("Redazione Sport",)]  # type: ignore[attr-defined]


# --- authors -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        (
            {"authors": [{"name": "Mario Rossi", "email": "m@x.it"}, {"name": "Anna Bianchi"}]},
            ("Mario Rossi", "Anna Bianchi"),
        ),
        ({"authors": [{"email": "redazione@x.it"}]}, ("redazione@x.it",)),
        ({"authors": [{"name": " Mario\n Rossi "}, {"name": "mario rossi"}]}, ("Mario Rossi",)),
        ({"authors": [{"name": "<a href='/autori/anna'>Anna <b>Bianchi</b></a>"}]}, ("Anna Bianchi",)),
        ({"authors": [{}], "author": "Luca Neri"}, ("Luca Neri",)),
        ({"authors": [{"name": ""}, "not a mapping"]}, ()),
        ({}, ()),
    ],
    ids=[
        "names in order",
        "address when no name",
        "duplicates once",
        "markup flattened",
        "plain author",
        "empty",
        "none",
    ],
)
def test_entry_authors_names_each_author_once(entry: dict[str, object], expected: tuple[str, ...]) -> None:
    assert entry_authors(entry) == expected


def test_entry_authors_atom_entry_inherits_feed_author_rss_does_not() -> None:
    atom = feedparser.parse(ATOM_03)
    assert entry_authors(atom.entries[1]) == ()
    assert entry_authors(atom.feed) == ("Redazione Sport",)
    assert entry_authors(feedparser.parse(RSS_091).feed) == ("Redazione",)  # managingEditor: not inherited


# --- language ------------------------------------------------------------------------------------------


def language_of(data: bytes, headers: dict[str, str] | None = None) -> str | None:
    [article] = parse_feed(data, source="s", origin="l.xml", headers=headers)
    return article.language


RSS_LANG = (
    '<rss version="2.0" xmlns:dc="http://purl.org/dc/elements/1.1/"><channel><title>t</title>{feed}'
    "<item{attr}><title>Titolo</title><guid>g</guid>{entry}<description>Testo</description></item>"
    "</channel></rss>"
)


@pytest.mark.parametrize(
    ("feed", "attr", "entry", "headers", "expected"),
    [
        ("<language>it</language>", "", "<dc:language>en</dc:language>", None, "en"),
        ("<language>it</language>", ' xml:lang="de"', "", {"Content-Language": "en"}, "de"),
        ("<language>it-IT</language>", "", "", {"Content-Language": "en"}, "it"),
        ("", "", "", {"Content-Language": "fr, en"}, "fr"),
        ("", "", "", None, None),
    ],
    ids=["entry dc:language", "entry xml:lang", "feed over header", "header", "none: detection later"],
)
def test_parse_feed_language_entry_then_feed_then_header(
    feed: str, attr: str, entry: str, headers: dict[str, str] | None, expected: str | None
) -> None:
    data = RSS_LANG.format(feed=feed, attr=attr, entry=entry).encode()
    assert language_of(data, headers) == expected


def test_parse_feed_language_content_language_alone_is_not_a_problem(
    caplog: pytest.LogCaptureFixture,
) -> None:
    data = RSS_LANG.format(feed="", attr="", entry="").encode()
    with caplog.at_level(logging.WARNING, logger="monitor.sources.parse"):
        assert language_of(data, {"Content-Language": "it"}) == "it"
    assert caplog.records == []


# --- links ---------------------------------------------------------------------------------------------

LINKS = """<rss version="2.0"><channel><title>Cronaca</title><link>https://cronaca.example.it/</link>
<item><title>Relativo alla radice</title><link>/notizie/1.html</link><guid>c-1</guid></item>
<item><title>Relativo</title><link>notizie/2.html?utm_source=rss#commenti</link></item>
<item><title>Guid senza link</title><guid>c-3</guid><description>Solo un identificativo</description></item>
<item><title>Script</title><link>javascript:alert(1)</link><guid isPermaLink="false">c-4</guid></item>
<item><title>Assoluto</title><link>https://altro.example.org/a</link></item>
</channel></rss>"""


def test_parse_feed_links_become_absolute_http_urls_or_none() -> None:
    articles = parse_feed(LINKS.encode(), source="Cronaca", origin="cronaca.rss")
    assert [a.url for a in articles] == [
        "https://cronaca.example.it/notizie/1.html",  # a saved feed: against the channel's <link>
        "https://cronaca.example.it/notizie/2.html",  # tracking parameters and fragment gone
        None,  # feedparser takes the guid "c-3" for a link: it is no web page
        None,
        "https://altro.example.org/a",
    ]


def test_parse_feed_relative_links_resolve_against_the_url_fetched_first() -> None:
    headers = {
        "Content-Location": "https://www.example.it/feed/rss.xml",
        "Content-Type": "application/rss+xml",
    }
    articles = parse_feed(LINKS.encode(), source="Cronaca", origin="cronaca.rss", headers=headers)
    assert [a.url for a in articles] == [
        "https://www.example.it/notizie/1.html",
        "https://www.example.it/feed/notizie/2.html",
        None,  # feedparser resolved the guid "c-3" like a link: still no web page
        None,
        "https://altro.example.org/a",
    ]


def test_parse_feed_same_relative_link_on_two_sites_is_two_stories() -> None:
    def site(host: str) -> bytes:
        return (
            f"<rss version='2.0'><channel><title>t</title><link>https://{host}/</link>"
            "<item><title>Ultima ora</title><link>/news/1</link><description>Testo</description></item>"
            "</channel></rss>"
        ).encode()

    [one] = parse_feed(site("a.example.it"), source="A", origin="a.rss")
    [two] = parse_feed(site("b.example.it"), source="B", origin="b.rss")
    assert one.uid != two.uid and (one.url, two.url) == (
        "https://a.example.it/news/1",
        "https://b.example.it/news/1",
    )


def test_parse_feed_atom_xml_base_resolves_entry_links() -> None:
    data = b"""<feed xmlns="http://www.w3.org/2005/Atom" xml:base="https://blog.example.org/it/">
    <title>Blog</title><id>urn:blog</id><updated>2024-05-01T00:00:00Z</updated>
    <entry xml:base="2024/05/"><title>Post</title><link href="primo.html"/><id>urn:blog:1</id>
    <updated>2024-05-01T00:00:00Z</updated><summary>Testo</summary></entry></feed>"""
    [article] = parse_feed(data, source="s", origin="b.atom")
    assert article.url == "https://blog.example.org/it/2024/05/primo.html"


def test_parse_feed_entries_without_link_id_or_date_keep_distinct_identities() -> None:
    data = b"""<rss version="2.0"><channel><title>t</title>
    <item><description>Solo testo, &lt;b&gt;niente&lt;/b&gt; titolo</description></item>
    <item><title>Solo un titolo</title></item>
    <item><title>Solo un titolo</title></item>
    </channel></rss>"""
    articles = parse_feed(data, source="s", origin="nudo.rss")
    assert [(a.title, a.summary, a.url, a.published) for a in articles] == [
        ("", "Solo testo, niente titolo", None, None),
        ("Solo un titolo", "", None, None),
        ("Solo un titolo", "", None, None),
    ]
    assert articles[0].uid != articles[1].uid
    assert articles[1].uid == articles[2].uid  # the same words twice: the same story, stored once


def test_parse_feed_cdata_html_becomes_clean_text_without_scripts() -> None:
    data = b"""<rss version="2.0"><channel><title>t</title><item><guid>x-1</guid>
    <title><![CDATA[Caff&egrave; <b>amaro</b> &amp; dolce]]></title>
    <description><![CDATA[<p>Primo paragrafo</p><script>alert("x")</script>
    <p>Secondo &egrave; qui</p>]]></description>
    </item></channel></rss>"""
    [article] = parse_feed(data, source="s", origin="cdata.rss")
    assert (article.title, article.summary) == ("Caffè amaro & dolce", "Primo paragrafo\n\nSecondo è qui")


def test_parse_feed_many_entries_each_become_an_article() -> None:
    items = "".join(
        f"<item><title>Notizia {i}</title><guid>n-{i}</guid><description>Testo {i}</description></item>"
        for i in range(5_000)
    )
    data = f"<rss version='2.0'><channel><title>t</title>{items}</channel></rss>".encode()
    articles = parse_feed(data, source="s", origin="tante.rss")
    assert len(articles) == 5_000 and len({a.uid for a in articles}) == 5_000
    assert articles[-1].title == "Notizia 4999"


@pytest.mark.parametrize(
    ("data", "headers"),
    [
        (b"<rss version='2.0'><channel><title>Vuoto</title></channel></rss>", {"Server": "x"}),
        (
            b'<?xml version="1.0" encoding="bogus"?>'
            b'<rss version="2.0"><channel><title>V</title></channel></rss>',
            None,
        ),
        (
            b"<rss version='2.0'><channel><title>Vuoto</title></channel></rss>",
            {"Content-Type": "text/plain; charset=iso-8859-1"},
        ),
    ],
    ids=["no content type", "unknown declared charset", "text/plain"],
)
def test_parse_feed_well_formed_empty_feed_with_a_served_oddity_is_empty_not_an_error(
    data: bytes, headers: dict[str, str] | None
) -> None:
    assert parse_feed(data, source="s", origin="vuoto.rss", headers=headers) == []


def test_parse_feed_bare_guid_identity_does_not_change_when_the_feed_moves() -> None:
    data = b"""<rss version="2.0"><channel><title>t</title>
    <item><title>Ultima ora</title><guid>4411</guid><description>Testo</description></item></channel></rss>"""

    def fetched_from(url: str) -> Article:
        [article] = parse_feed(data, source="s", origin="s.rss", headers={"Content-Location": url})
        return article

    before, after = (
        fetched_from("https://old.example.it/rss"),
        fetched_from("https://new.example.it/feed/rss"),
    )
    assert before.uid == after.uid and before.url is None and before.origin == "s.rss#4411"
