"""Secrets out of every text we store or print: one mask for logs, stored errors, CLI output, config errors.

Masking a secret as a whole is not enough, because the text that carries it
seldom quotes it whole: a receiver answering 404 quotes the *path* it was asked
for (a Slack or Discord webhook's path is its token), echoes a query key or the
``Authorization`` header it got, a library names the host and user of a URL.
So each configured secret is taken apart into the pieces a message can carry
(:func:`secret_parts`), and a :class:`Redactor` masks every occurrence of any
of them, case-insensitively, overlaps included, so no fragment of a secret is
left beside a mask.

Pieces shorter than :data:`MIN_SECRET`, and path segments that read as plain
words (``services``, ``webhooks``, ``incoming-hook``), are not masked on their
own: masking them would blank ordinary words across every log line while
hiding nothing a reader could use.  The whole path that holds them still is.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterable
from urllib.parse import parse_qsl, unquote, urlsplit

__all__ = ["MASK", "MIN_SECRET", "Redactor", "looks_secret", "secret_parts"]

MIN_SECRET = 6  # shorter values (a "1", a port) would blank out ordinary words
MASK = "***"
_WORD = re.compile(r"[A-Za-z][a-z]*(?:[-_.][a-z]+)*\Z")  # "services", "Bearer", "incoming-webhook"
_WORD_MAX = 16  # a longer run of letters is as likely a token as a word
_PLAIN_SCHEMES = frozenset({"http", "https"})  # their host names a server, not a credential


def looks_secret(piece: str) -> bool:
    """Whether a piece of a secret is masked on its own: long enough, and not a plain word."""
    if len(piece) < MIN_SECRET:
        return False
    return not (len(piece) <= _WORD_MAX and _WORD.match(piece))


def secret_parts(secret: str) -> list[str]:
    """``secret`` and the pieces of it a message may quote on their own.

    For a URL: its path, each token-like path segment, its query, each query
    pair and value, its fragment, the user and password, and for schemes
    other than http(s) (Apprise's ``tgram://bot-token/chat``) the host part
    too.  For any other value (a header, a password): each token-like word,
    so ``Bearer <token>`` masks the token wherever it appears, and the user
    and password a ``Basic`` credential encodes.  Percent-decoded forms are
    included, since a receiver may quote the path it decoded.
    """
    parts = [secret]
    if "://" in secret:
        parts += _url_parts(secret)
    else:
        parts += _word_parts(secret)
    found = parts + [unquote(part) for part in parts]
    return [part for part in dict.fromkeys(found) if len(part) >= MIN_SECRET]


def _url_parts(url: str) -> list[str]:
    try:
        parts = urlsplit(url.strip())
        user, password, host = parts.username, parts.password, parts.hostname
    except ValueError:  # not a URL after all (a bad port, brackets): the words, then
        return _word_parts(url)
    found = [parts.path, parts.path.lstrip("/"), parts.query, parts.fragment]
    found += [segment for segment in parts.path.split("/") if looks_secret(unquote(segment))]
    for key, value in parse_qsl(parts.query, keep_blank_values=True):
        found += [f"{key}={value}", value]
    found += [p for p in (user, password) if p]
    if user and password:
        found.append(f"{user}:{password}")
    if parts.scheme.lower() not in _PLAIN_SCHEMES:
        netloc = parts.netloc.rpartition("@")[2]
        found += [netloc, *(p for p in (host, *re.split(r"[:@]", netloc)) if p and looks_secret(p))]
    return [part for part in found if part and part != "/"]


def _word_parts(value: str) -> list[str]:
    words = value.split()
    found = [word for word in words if looks_secret(word)]
    if len(words) == 2 and words[0].lower() == "basic":  # a credential anyone can decode
        found += _basic_credentials(words[1])
    return found


def _basic_credentials(encoded: str) -> list[str]:
    try:
        decoded = base64.b64decode(encoded, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return []
    user, _, password = decoded.partition(":")
    return [decoded, password] + ([user] if looks_secret(user) else [])


class Redactor:
    """Masks every piece of the given secrets in a text, with :data:`MASK` for each run it covers.

    Every occurrence of every piece is found first and the covered spans are
    merged, so two secrets that overlap (a token inside a URL quoted in part)
    leave nothing of either behind, whichever is longer.
    """

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        pieces = {part for secret in secrets if secret for part in secret_parts(secret)}
        self._patterns = [
            re.compile(re.escape(piece), re.IGNORECASE) for piece in sorted(pieces, key=len, reverse=True)
        ]

    def __bool__(self) -> bool:
        return bool(self._patterns)

    def __repr__(self) -> str:
        return f"Redactor({len(self._patterns)} pieces)"

    def __call__(self, text: str) -> str:
        if not text or not self._patterns:
            return text
        spans = sorted(m.span() for pattern in self._patterns for m in pattern.finditer(text))
        if not spans:
            return text
        out: list[str] = []
        done = 0
        start, end = spans[0]
        for next_start, next_end in spans[1:]:
            if next_start <= end:  # overlapping or touching: one mask
                end = max(end, next_end)
                continue
            out += [text[done:start], MASK]
            done, start, end = end, next_start, next_end
        out += [text[done:start], MASK, text[end:]]
        return "".join(out)
