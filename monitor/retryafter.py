"""Reading an HTTP ``Retry-After`` header, for webhook receivers and feed servers alike.

Pure: the caller passes the clock.  What each side does with the answer
(bounds, backoff) stays with it.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_tz

__all__ = ["parse_retry_after"]

# delay-seconds is 1*DIGIT; a fraction is read too, as servers send "1.5"
_SECONDS = re.compile(r"^\d+(?:\.\d+)?$")


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (RFC 9110 §10.2.3), or None if unusable.

    Both forms are read: delay-seconds and an HTTP-date (IMF-fixdate and the
    two obsolete formats recipients must still read).  A date in the past
    means "now" (0).  Anything else (a signed number, "soon") is ignored
    rather than trusted, so the caller's normal backoff applies.
    """
    text = (value or "").strip()
    if not text:
        return None
    if _SECONDS.match(text):
        return float(text)
    parts = parsedate_tz(text)
    if parts is None:
        return None
    try:
        when = datetime(*parts[:6], tzinfo=UTC) - timedelta(seconds=parts[9] or 0)
    except (ValueError, OverflowError):
        return None
    if now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    return max((when - now).total_seconds(), 0.0)
