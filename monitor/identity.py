"""Who we are on the wire: the User-Agent every request carries, with a contact for complaints.

In the core because both the configuration (which validates a contact when it is
read) and the sources (which send it) need it.
"""

from __future__ import annotations

from functools import cache

PROJECT_URL = "https://github.com/news-monitor/news-monitor"


@cache
def _version() -> str:
    import importlib.metadata  # here: it imports the email package, and only a request needs it

    try:
        return importlib.metadata.version("news-monitor")
    except importlib.metadata.PackageNotFoundError:  # running from a source tree that was never installed
        return "0+unknown"


def user_agent(contact: str | None = None) -> str:
    """``news-monitor/<version> (+<contact>)``: who we are and where to complain, in every request.

    ``contact`` is a URL (or ``mailto:``) of whoever runs this instance; the
    default points at the project.  It must be printable ASCII without
    parentheses, as it goes verbatim into a header comment.
    """
    where = PROJECT_URL if contact is None else contact.strip()
    if not where or not where.isascii() or not where.isprintable() or any(c in where for c in "()"):
        raise ValueError(
            f"a User-Agent contact must be a printable ASCII URL without parentheses: {contact!r}"
        )
    return f"news-monitor/{_version()} (+{where})"
