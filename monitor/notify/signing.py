"""Standard Webhooks signatures: pure functions, no clock, no I/O.

A signed message carries three headers (https://www.standardwebhooks.com/)::

    webhook-id:         the message id, the same on every attempt (our alert key)
    webhook-timestamp:  integer Unix seconds of *this* attempt
    webhook-signature:  v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">  (one per key, space-separated)

The key is a ``whsec_`` secret: the prefix, then the base64 of 24 to 64 random
bytes.  During a key rotation several secrets are configured and each one
signs every message, so a receiver holding either the old or the new secret
verifies it.  The body signed must be the exact bytes sent: callers serialise
once and send those bytes.

A :class:`SigningKey` never shows its secret: not in a repr, not in an error.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Iterable, Sequence

from monitor.errors import ConfigError

__all__ = [
    "MAX_KEY_BYTES",
    "MIN_KEY_BYTES",
    "SECRET_PREFIX",
    "SigningKey",
    "parse_secrets",
    "sign",
    "signature_headers",
]

SECRET_PREFIX = "whsec_"
# "random, between 24 bytes (192 bits) and 64 bytes (512 bits)" (Standard Webhooks, symmetric keys)
MIN_KEY_BYTES = 24
MAX_KEY_BYTES = 64
_VERSION = "v1"


def _decode(secret: str) -> bytes:
    """The HMAC key inside a ``whsec_`` secret; the ValueError never quotes the secret."""
    text = secret.strip().removeprefix(SECRET_PREFIX)
    if not text:
        raise ValueError("it is empty")
    try:
        # Unpadded base64 is common (and accepted by the reference libraries).
        key = base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except binascii.Error:
        raise ValueError("it is not base64 after the whsec_ prefix") from None
    if not MIN_KEY_BYTES <= len(key) <= MAX_KEY_BYTES:
        raise ValueError(f"its key is {len(key)} bytes, not {MIN_KEY_BYTES} to {MAX_KEY_BYTES}")
    return key


class SigningKey:
    """One decoded ``whsec_`` secret, validated when built and masked in its repr."""

    __slots__ = ("_key",)

    def __init__(self, secret: str) -> None:
        self._key = _decode(secret)

    def __repr__(self) -> str:
        return f"SigningKey('{SECRET_PREFIX}**********')"

    def signature(self, content: bytes) -> str:
        """``v1,<base64 HMAC-SHA256>`` of ``content`` (the already joined id.timestamp.body)."""
        digest = hmac.new(self._key, content, hashlib.sha256).digest()
        return f"{_VERSION},{base64.b64encode(digest).decode('ascii')}"


def parse_secrets(secrets: Iterable[str], *, channel: str) -> tuple[SigningKey, ...]:
    """Every configured secret as a key, or a ConfigError naming the channel and which secret.

    Called when notifiers are built, so a mistyped secret stops the daemon at
    start-up instead of failing every delivery later.
    """
    listed = list(secrets)
    keys = []
    for number, secret in enumerate(listed, start=1):
        try:
            keys.append(SigningKey(secret))
        except ValueError as exc:
            which = f"secret {number} of {len(listed)}" if len(listed) > 1 else "secret"
            raise ConfigError(
                f"channel {channel!r}: {which} is not a Standard Webhooks secret "
                f"({SECRET_PREFIX} then base64 of {MIN_KEY_BYTES} to {MAX_KEY_BYTES} random bytes): {exc}"
            ) from None
    return tuple(keys)


def sign(msg_id: str, timestamp: int, body: bytes, secrets: Sequence[SigningKey]) -> str:
    """The ``webhook-signature`` value: one ``v1,…`` per key, separated by spaces."""
    if not secrets:
        raise ValueError("signing needs at least one key")
    content = f"{msg_id}.{timestamp}.".encode() + body
    return " ".join(key.signature(content) for key in secrets)


def signature_headers(
    msg_id: str, timestamp: int, body: bytes, secrets: Sequence[SigningKey]
) -> dict[str, str]:
    """The Standard Webhooks headers for one attempt; unsigned (no keys) it is id and timestamp only."""
    headers = {"webhook-id": msg_id, "webhook-timestamp": str(timestamp)}
    if secrets:
        headers["webhook-signature"] = sign(msg_id, timestamp, body, secrets)
    return headers
