"""The sentence around a hit: what lets a person judge it without opening the article.

Pure: a light sentence splitter (end punctuation followed by a capital or a
line break) is enough to frame a hit, and costs nothing per article because
it only runs for rules that fired.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable

# A sentence ends at . ! ? … (possibly closed by quotes/brackets) before whitespace, or at a blank line.
# This is the definition, which the tests read boundaries with; the searches below use the faster
# form after it, which finds the same ones.
_SENTENCE_END = re.compile(r"(?<=[.!?…])[\"'»”’)\]]*\s+|\n\s*\n")
# The same boundaries, each found from its first character: a pattern that opens with a character
# class lets the regex engine skip ahead to the candidates, where the look-behind above is tried
# at every position.  A match starts at the
# punctuation, one before the boundary, or at the blank line's first line break, which is it;
# it ends where the boundary does.
_SENTENCE_END_AT = re.compile(r"[.!?…\n](?:(?<=[.!?…])[\"'»”’)\]]*\s+|(?<=\n)\s*\n)")
MAX_SNIPPET = 300


def regex_sentence_bounds(
    text: str, start: int, end: int, *, reach: int = 2 * MAX_SNIPPET
) -> tuple[int, int]:
    """``sentence_bounds`` through the regular expressions, where the compiled module is not built."""
    left = _nearest_boundary(text, start, max(0, start - reach)) if reach > _NEAR else None
    if left is None:
        window = max(0, start - reach)
        left = _last_boundary(text, window, start)
        left = window if left is None else left
    stop = min(len(text), end + reach)
    ended = end > 0 and text[end - 1] in _END_PUNCTUATION  # a hit may end with its sentence's "."
    following = _SENTENCE_END_AT.search(text, end - 1 if ended else end, stop)
    if following is None:
        return left, stop
    at = following.start()
    return left, at if text[at] == "\n" else at + 1


_NEAR = 200  # most sentences start this close: look there first
_BOUNDARY_CHARS = frozenset("\"'»”’)]")
_END_PUNCTUATION = frozenset(".!?…")


def _nearest_boundary(text: str, start: int, limit: int) -> int | None:
    """The end of the last sentence boundary before ``start``, if one is within ``_NEAR``.

    The window's edge is moved back over spaces and closing marks, so it never cuts a
    boundary short; if that would take it past ``limit``, None (look wider).
    """
    window = max(0, start - _NEAR)
    while window > 0 and (text[window].isspace() or text[window] in _BOUNDARY_CHARS):
        window -= 1
        if window < limit:
            return None
    return _last_boundary(text, window, start)


def _last_boundary(text: str, window: int, start: int) -> int | None:
    """The end of the last sentence boundary that ``_SENTENCE_END`` finds scanning ``text``
    from ``window`` to ``start``: a boundary's punctuation just before ``window`` counts, as
    its look-behind sees it."""
    at = window - 1 if window > 0 and text[window - 1] in _END_PUNCTUATION else window
    last = None
    for last in _SENTENCE_END_AT.finditer(text, at, start):  # noqa: B007  (the last one is wanted)
        pass
    return last.end() if last is not None else None


def _compiled_bounds() -> Callable[[str, int, int, int], tuple[int, int]] | None:
    if os.environ.get("MONITOR_COMPILED_SCAN", "1") == "0":
        return None
    try:
        from monitor.matching._sentences import sentence_bounds as compiled
    except ImportError:
        return None
    return compiled  # type: ignore[no-any-return]


_compiled = _compiled_bounds()


def compiled() -> bool:
    """Whether the compiled module finds the sentences (for tests and the bench)."""
    return _compiled is not None


def sentence_bounds(text: str, start: int, end: int, *, reach: int = 2 * MAX_SNIPPET) -> tuple[int, int]:
    """Start and end of the sentence(s) holding ``text[start:end]``, looking at most ``reach`` away.

    A sentence longer than that is cut by the snippet anyway, so the search never reads a
    whole long article for each hit.  The compiled module (``_sentences.pyx``) scans the
    characters as the regular expression would, in a microsecond where the regex searches
    take about eight; the tests hold both to the definition, ``_SENTENCE_END``.
    """
    if _compiled is not None:
        return _compiled(text, start, end, reach)
    return regex_sentence_bounds(text, start, end, reach=reach)


def make_snippet(text: str, start: int, end: int, *, limit: int = MAX_SNIPPET) -> str:
    """The sentence around ``text[start:end]``; a long one is cut at spaces to about ``limit`` characters."""
    sentence_left, sentence_right = sentence_bounds(text, start, end)
    left, right = sentence_left, sentence_right
    if right - left > limit:
        left = max(left, start - limit // 3)
        right = min(right, max(end, left + limit))
        if left > sentence_left:
            space = text.find(" ", left, start)
            left = space + 1 if space != -1 else left
        if right < sentence_right:
            space = text.rfind(" ", end, right)
            right = space if space != -1 else right
    body = " ".join(text[left:right].split())
    return f"{'…' if left > sentence_left else ''}{body}{'…' if right < sentence_right else ''}"


def mark(text: str, spans: Iterable[tuple[int, int]], *, before: str = "**", after: str = "**") -> str:
    """``text`` with each (start, end) span wrapped in markers; overlapping spans are merged."""
    merged: list[list[int]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    out, position = [], 0
    for start, end in merged:
        out += [text[position:start], before, text[start:end], after]
        position = end
    out.append(text[position:])
    return "".join(out)
