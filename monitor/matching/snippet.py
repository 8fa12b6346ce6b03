"""The few lines of text around a hit that let a person judge it without opening the article."""

from __future__ import annotations

import re

_SPACES = re.compile(r"\s+")


def make_snippet(text: str, start: int, end: int, *, before: int = 90, after: int = 160) -> str:
    """A window around ``text[start:end]``, cut at word boundaries, whitespace collapsed."""
    left = max(0, start - before)
    right = min(len(text), end + after)
    if left > 0:
        space = text.find(" ", left, start)
        left = space + 1 if space != -1 else left
    if right < len(text):
        space = text.rfind(" ", end, right)
        right = space if space != -1 else right
    body = _SPACES.sub(" ", text[left:right]).strip()
    return f"{'…' if left > 0 else ''}{body}{'…' if right < len(text) else ''}"
