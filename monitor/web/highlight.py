"""Article text as HTML with the matched words marked, every other character escaped.

The one place where text of a stranger's article becomes markup: each piece
between marks goes through ``markupsafe.escape``, and the only tags added are
our own ``<mark>``, so a title ``<script>…`` renders as the words it is.  Pure.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from itertools import pairwise

from markupsafe import Markup, escape

Span = tuple[int, int]


def marked(text: str, spans: Mapping[Span, Sequence[str]] | Iterable[Span]) -> Markup:
    """``text`` escaped, with each span in ``<mark>``; given rules per span, the mark names them.

    Overlapping spans are cut where they meet, so each character is marked once
    and a mark lists every rule whose term covers it.
    """
    labelled: dict[Span, set[str]] = {}
    items = spans.items() if isinstance(spans, Mapping) else ((span, ()) for span in spans)
    for (start, end), rules in items:
        start, end = max(0, start), min(len(text), end)
        if start < end:
            labelled.setdefault((start, end), set()).update(rules)
    cuts = sorted({0, len(text), *(p for span in labelled for p in span)})
    out: list[str] = []
    for left, right in pairwise(cuts):
        piece = escape(text[left:right])
        covering = [rules for (start, end), rules in labelled.items() if start <= left and right <= end]
        if not covering:
            out.append(piece)
            continue
        names = sorted(set().union(*covering))
        title = Markup(' title="{}"').format(", ".join(names)) if names else Markup("")
        out.append(Markup("<mark{}>{}</mark>").format(title, piece))
    return Markup("").join(out)


def find_words(text: str, words: Iterable[str]) -> list[Span]:
    """Where each of ``words`` occurs in ``text``, ignoring case and runs of spaces (snippets
    are stored on one line, so their words are looked for again rather than located)."""
    spans: list[Span] = []
    for word in {w.strip() for w in words if w and w.strip()}:
        pattern = r"\s+".join(re.escape(part) for part in word.split())
        boundary = r"(?<!\w)" + pattern + r"(?!\w)" if word[0].isalnum() and word[-1].isalnum() else pattern
        spans += [m.span() for m in re.finditer(boundary, text, re.IGNORECASE)]
    return spans


def marked_words(text: str, words: Iterable[str]) -> Markup:
    return marked(text, find_words(text, words))


def marked_stars(text: str) -> Markup:
    """A text whose marked words are between ``**`` (explanations, search headlines) as HTML."""
    parts = text.split("**")
    out = [
        escape(part) if i % 2 == 0 else Markup("<mark>{}</mark>").format(part) for i, part in enumerate(parts)
    ]
    if len(parts) % 2 == 0:  # an odd number of ** : the last one was a literal
        out[-1] = escape("**" + parts[-1])
    return Markup("").join(out)
