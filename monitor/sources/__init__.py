"""Sources turn bytes into :class:`~monitor.models.Article`s, and do nothing else.

They never match rules, store or notify, so a new kind of source only has to
produce Articles.  ``files`` reads watched folders, ``feeds`` fetches RSS/Atom
over HTTP, ``parse`` turns feed bytes into Articles, ``records`` reads JSON
exports and ``text`` decodes bytes and flattens HTML for all of them.
"""

from monitor.sources.feeds import FeedFetch, fetch_feed
from monitor.sources.files import iter_folder, read_article_file
from monitor.sources.parse import parse_feed
from monitor.sources.records import article_from_record, parse_published
from monitor.sources.text import decode_bytes, extract_html_article, html_to_text

__all__ = [
    "FeedFetch",
    "article_from_record",
    "decode_bytes",
    "extract_html_article",
    "fetch_feed",
    "html_to_text",
    "iter_folder",
    "parse_feed",
    "parse_published",
    "read_article_file",
]
