"""Bytes → text, and HTML → readable text: the parts every source shares.

Files arrive in whatever encoding the machine that saved them used, and feed
summaries and saved pages are HTML.  Rules match words, so both must become
plain Unicode text first, with paragraph breaks kept so that snippets read well
and with scripts, styles and navigation dropped so that a menu entry called
"NATO" does not fire a rule on every page of a site.

trafilatura is imported on the first saved page or full-text article: it
holds about 50 MB resident once imported, which the daemon and each feed
parser process would otherwise pay with no HTML page to read
(bench/bench_memory.py).
"""

from __future__ import annotations

import codecs
import re
from html.parser import HTMLParser

import charset_normalizer

from monitor.errors import ArticleParseError

# Byte-order marks decide the encoding outright; UTF-32 before UTF-16 because
# the UTF-32-LE mark starts with the UTF-16-LE one.
_BOMS = (
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
# On article-length Italian, charset-normalizer's language coherence can prefer
# Vietnamese cp1258 ("così" → "coś") and on short texts it ties dozens of code
# pages.  News in our languages was almost always saved as Windows-1252 when not
# UTF-8, so it wins whenever it decodes with no more mess than the best guess.
# The price: an undeclared ISO-8859-9 (Turkish) file decodes as Windows-1252.
_PREFERRED_LEGACY = "cp1252"
# Text has tabs and newlines; data has the other C0 controls.  Above this share
# of them a "text" is really a binary file that happened to decode.
_MAX_CONTROL_RATIO = 0.02
_CHARSET_PARAM = re.compile(r"""charset\s*=\s*["']?([\w.:-]+)""", re.IGNORECASE)
# Unicode's control characters (category Cc) but tab, line feed, vertical tab, form feed, carriage return.
_DATA_CONTROLS = re.compile("[\x00-\x08\x0e-\x1f\x7f-\x9f]")


def decode_bytes(data: bytes, declared: str | None = None) -> str:
    """Decode file or page bytes, trusting evidence in order of reliability.

    A byte-order mark wins, then UTF-8 (which almost never decodes by accident),
    then the ``declared`` charset (an HTTP header or ``<meta charset>``, often
    wrong, hence not first), then detection.  Binary data raises
    :class:`ArticleParseError` rather than becoming mojibake that rules would
    silently never match.
    """
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            try:
                return _checked(data[len(bom) :].decode(encoding))
            except UnicodeDecodeError as exc:
                raise ArticleParseError(f"invalid {encoding} after its byte-order mark") from exc
    if b"\x00" in data:
        raise ArticleParseError("binary data (NUL bytes), not text")
    try:
        return _checked(data.decode("utf-8"))
    except UnicodeDecodeError:
        pass
    if declared and _known_codec(declared):
        try:
            return _checked(data.decode(declared))
        except UnicodeDecodeError:
            pass
    return _checked(_detect(data))


def charset_of(content_type: str) -> str | None:
    """The ``charset`` parameter of a Content-Type header, if any."""
    found = _CHARSET_PARAM.search(content_type)
    return found.group(1) if found else None


def _known_codec(name: str) -> bool:
    try:
        codecs.lookup(name.strip())
    except LookupError:
        return False
    return True


def _detect(data: bytes) -> str:
    matches = charset_normalizer.from_bytes(data)
    best = matches.best()
    if best is None:
        raise ArticleParseError("binary data or an unknown text encoding")
    for match in matches:
        if match.chaos <= best.chaos and _PREFERRED_LEGACY in match.could_be_from_charset:
            return data.decode(_PREFERRED_LEGACY)
    return str(best)


def _checked(text: str) -> str:
    controls = len(_DATA_CONTROLS.findall(text)) if _DATA_CONTROLS.search(text) else 0
    if controls > len(text) * _MAX_CONTROL_RATIO:
        raise ArticleParseError("binary data (control characters), not text")
    return text


# Elements whose content is never article text.  <header> and <footer> are only
# dropped outside <article>/<main>: inside them they hold the headline and byline.
_DROP = frozenset(
    {
        "script",
        "style",
        "noscript",
        "template",
        "nav",
        "aside",
        "svg",
        "iframe",
        "object",
        "canvas",
        "select",
        "button",
    }
)
_DROP_OUTSIDE_ARTICLE = frozenset({"header", "footer"})
_CONTENT_ROOTS = frozenset({"article", "main"})
_BLOCKS = frozenset(
    {
        "p",
        "div",
        "section",
        "article",
        "main",
        "header",
        "footer",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "ul",
        "ol",
        "li",
        "dl",
        "dt",
        "dd",
        "blockquote",
        "pre",
        "table",
        "tr",
        "figure",
        "figcaption",
        "hr",
        "address",
        "details",
        "summary",
        "body",
    }
)
_VOID = frozenset(
    {
        "area",
        "base",
        "br",
        "col",
        "embed",
        "hr",
        "img",
        "input",
        "link",
        "meta",
        "param",
        "source",
        "track",
        "wbr",
    }
)
_PARAGRAPH = "\x00P"  # markers that cannot occur in parsed text (NULs are dropped)
_LINE = "\x00L"
_WHITESPACE = re.compile(r"\s+")
_BLANK_LINES = re.compile(r"\n{3,}")


class _TextCollector(HTMLParser):
    """Collects visible text as paragraphs, plus the page's ``<title>`` and og:title."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.title = ""
        self.og_title = ""
        self._dropping: list[str] = []
        self._content_depth = 0
        self._in_title = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "meta":
            values = dict(attrs)
            if values.get("property") == "og:title" and not self.og_title:
                self.og_title = (values.get("content") or "").strip()
            return
        if tag == "title":
            self._in_title = True
        if tag in _VOID:
            self._void(tag)
            return
        if self._dropping or tag in _DROP or (tag in _DROP_OUTSIDE_ARTICLE and not self._content_depth):
            self._dropping.append(tag)
            return
        if tag in _CONTENT_ROOTS:
            self._content_depth += 1
        if tag in _BLOCKS:
            self.parts.append(_PARAGRAPH)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _VOID or tag == "meta":
            self.handle_starttag(tag, attrs)

    def handle_endtag(self, tag: str) -> None:
        if tag == "title":
            self._in_title = False
        if self._dropping:
            if tag in self._dropping:  # tolerate unclosed children of a dropped element
                while self._dropping.pop() != tag:
                    pass
            return
        if tag in _CONTENT_ROOTS and self._content_depth:
            self._content_depth -= 1
        if tag in _BLOCKS:
            self.parts.append(_PARAGRAPH)

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title += data
        elif not self._dropping:
            self.parts.append(data.replace("\x00", ""))  # whitespace is collapsed once, in text()

    def _void(self, tag: str) -> None:
        if self._dropping:
            return
        if tag == "br":
            self.parts.append(_LINE)
        elif tag == "hr":
            self.parts.append(_PARAGRAPH)

    def text(self) -> str:
        joined = _WHITESPACE.sub(" ", "".join(self.parts)).replace(_PARAGRAPH, "\n\n").replace(_LINE, "\n")
        lines = (line.strip() for line in joined.split("\n"))
        return _BLANK_LINES.sub("\n\n", "\n".join(lines)).strip()


def _collect(html: str) -> _TextCollector:
    collector = _TextCollector()
    collector.feed(html)
    collector.close()
    return collector


def html_to_text(html: str) -> str:
    """Readable text of an HTML fragment or page, one blank line between blocks.

    Written on the standard library parser rather than trafilatura because it
    runs on every feed summary (trafilatura is far slower and needs a whole
    page to be useful) and must never drop a short summary as "boilerplate".  Text with
    no markup and no character reference (most feed summaries, though typed
    HTML) comes out as the parser would give it, without the parser.
    """
    if "<" not in html and "&" not in html:
        return _WHITESPACE.sub(" ", html.replace("\x00", "")).strip()
    return _collect(html).text()


# Navigation regions trafilatura keeps on short pages; pruned before it looks.
_PRUNE_XPATH = ["//nav", "//aside", "//body/header", "//body/footer"]


def extract_html_article(html: str) -> tuple[str, str]:
    """``(title, text)`` of a saved web page, without its menus and footers.

    trafilatura finds the main text of a full page far better than any
    tag-based rule; favouring recall keeps short articles it would otherwise
    discard.  When it finds nothing the whole visible text is used, so a page
    is never silently empty.  Either part may be ``""``.
    """
    import trafilatura  # here, not at the top: see the module's docstring

    document = trafilatura.bare_extraction(
        html,
        favor_recall=True,
        include_comments=False,
        with_metadata=True,
        prune_xpath=_PRUNE_XPATH,
    )
    title = _clean_line(getattr(document, "title", None) or "")
    text = (getattr(document, "text", None) or "").strip()
    if not text or not title:
        fallback = _collect(html)
        text = text or fallback.text()
        title = title or _clean_line(fallback.og_title or fallback.title)
    return title, text


def _clean_line(text: str) -> str:
    return _WHITESPACE.sub(" ", text).strip()
