"""What the documentation meta-tests read: the README's command table and the pages under docs/."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
README = REPO / "README.md"
DOCS = REPO / "docs"

_HEADING = re.compile(r"^(#{1,6}) +(.+?) *$", re.MULTILINE)
_ROW_COMMAND = re.compile(r"^\| `monitor ([a-z ]+)` \|.*\| `(monitor [^`]+)` \|$", re.MULTILINE)


def page(name: str) -> str:
    """The text of a page under docs/ (``"rules.md"``), or of the README (``"README.md"``)."""
    path = README if name == "README.md" else DOCS / name
    return path.read_text(encoding="utf-8")


def section(text: str, heading: str) -> str:
    """The text under ``heading`` (a whole heading line, e.g. ``"## Channels"``), up to the next
    heading of the same or a higher level."""
    level = len(heading) - len(heading.lstrip("#"))
    start = text.index(f"\n{heading}\n") + len(heading) + 2
    following = (
        m.start()
        for m in _HEADING.finditer(text, start)
        if len(m.group(1)) <= level and not _in_code(text, m.start())
    )
    return text[start : next(following, len(text))]


def _in_code(text: str, at: int) -> bool:
    return text.count("\n```", 0, at) % 2 == 1


def readme_commands() -> dict[str, str]:
    """The README's command table: each command (``"rules test"``) and its example."""
    return {m.group(1): m.group(2) for m in _ROW_COMMAND.finditer(section(page("README.md"), "## Commands"))}


def code_blocks(text: str, language: str) -> list[str]:
    """The fenced blocks of ``language`` (``"yaml"``) in a page, in order."""
    return re.findall(rf"^```{language}\n(.*?)^```", text, re.MULTILINE | re.DOTALL)


def anchors(text: str) -> set[str]:
    """The fragment ids GitHub gives the page's headings (duplicates get -1, -2, …)."""
    seen: dict[str, int] = {}
    found = set()
    for match in _HEADING.finditer(text):
        if _in_code(text, match.start()):
            continue
        slug = re.sub(r"[^\w\- ]", "", match.group(2).lower()).replace(" ", "-")
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        found.add(slug if count == 0 else f"{slug}-{count}")
    return found
