"""Decoding bytes and flattening HTML: the text every source hands on."""

from __future__ import annotations

import pytest

from monitor.errors import ArticleParseError
from monitor.sources.text import _collect, decode_bytes, extract_html_article, html_to_text

RUSSIAN = "Министры обороны России и США провели телефонный разговор впервые с начала войны."
ITALIAN = "Perché la città è più cara: il caffè costa già il doppio, e così il tè. " * 4


@pytest.mark.parametrize(
    ("data", "declared", "expected"),
    [
        ("città".encode(), None, "città"),
        ("città".encode("utf-8-sig"), None, "città"),
        ("città".encode("utf-16"), None, "città"),
        ("città".encode("utf-32"), None, "città"),
        ("città €".encode("cp1252"), "windows-1252", "città €"),
        ("città".encode("latin-1"), "no-such-charset", "città"),
        ("città".encode(), "latin-1", "città"),  # valid UTF-8 wins over a wrong declaration
        (ITALIAN.encode("latin-1"), None, ITALIAN),
        ("Città\nè".encode("latin-1"), None, "Città\nè"),
        (RUSSIAN.encode("cp1251"), None, RUSSIAN),
        (b"", None, ""),
    ],
)
def test_decode_bytes_picks_encoding(data: bytes, declared: str | None, expected: str) -> None:
    assert decode_bytes(data, declared) == expected


@pytest.mark.parametrize(
    "data",
    [
        b"PK\x03\x04\x14\x00\x00\x00\x08\x00",
        bytes(range(1, 32)) * 20,
        b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4,
    ],
)
def test_decode_bytes_binary_raises(data: bytes) -> None:
    with pytest.raises(ArticleParseError, match="binary"):
        decode_bytes(data)


def test_html_to_text_keeps_paragraphs_and_line_breaks() -> None:
    html = "<p>Uno   due\n tre</p><p>Quattro<br>cinque</p><ul><li>sei</li><li>sette</li></ul>"
    assert html_to_text(html) == "Uno due tre\n\nQuattro\ncinque\n\nsei\n\nsette"


def test_html_to_text_drops_scripts_styles_and_navigation() -> None:
    html = (
        "<html><head><title>T</title><style>p {color: red}</style></head><body>"
        "<header>Testata</header><nav><a>NATO</a></nav><script>alert('x')</script>"
        "<article><header><h1>Titolo</h1></header><p>Testo &amp; altro</p></article>"
        "<aside>Correlati</aside><footer>Copyright</footer></body></html>"
    )
    assert html_to_text(html) == "Titolo\n\nTesto & altro"


def test_html_to_text_tolerates_unclosed_tags() -> None:
    assert html_to_text("<p>uno<p>due<nav><a>menu</nav><p>tre") == "uno\n\ndue\n\ntre"


def test_html_to_text_plain_text_unchanged() -> None:
    assert html_to_text("Solo testo, niente tag") == "Solo testo, niente tag"


def test_extract_html_article_title_from_meta() -> None:
    html = (
        '<html><head><title>Pagina | Sito</title><meta property="og:title" content="Il titolo">'
        "</head><body><article><p>" + ITALIAN + "</p></article></body></html>"
    )
    title, text = extract_html_article(html)
    assert title == "Il titolo"
    assert text.startswith("Perché la città")


def test_extract_html_article_falls_back_to_visible_text() -> None:
    title, text = extract_html_article("<html><head><title>Breve</title></head><body>ok</body></html>")
    assert (title, text) == ("Breve", "ok")


def test_extract_html_article_empty_page() -> None:
    assert extract_html_article("<html><body><script>x()</script></body></html>") == ("", "")


@pytest.mark.parametrize(
    "text",
    ["Roma, 3 mar.  Il governo\n\tapprova  ", "  ", "", "nul\x00byte", "a > b; c = d", "riga\r\nriga"],
)
def test_html_to_text_plain_text_shortcut_gives_what_the_parser_gives(text: str) -> None:
    assert html_to_text(text) == _collect(text).text()


def test_html_to_text_collapses_spaces_across_inline_elements() -> None:
    assert html_to_text("<p>Il <b>vertice </b> della <i> NATO</i>\n a Vilnius</p><p>Due</p>") == (
        "Il vertice della NATO a Vilnius\n\nDue"
    )


def test_extract_html_article_imports_trafilatura_only_when_a_page_is_read() -> None:
    """The daemon and each feed parser process import the HTML code; trafilatura's ~50 MB
    are paid only by a process that reads a saved page or a full-text article."""
    import subprocess
    import sys

    script = (
        "import sys\n"
        "import monitor.service.wiring, monitor.sources.parse, monitor.sources.files\n"
        "print('trafilatura' in sys.modules)\n"
        "from monitor.sources.text import extract_html_article\n"
        "page = '<html><title>T</title><body><p>Finland joins NATO.</p></body></html>'\n"
        "title, text = extract_html_article(page)\n"
        "print('trafilatura' in sys.modules, 'NATO' in text)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["False", "True", "True"]
