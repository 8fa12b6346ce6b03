"""What each feed held when it was last read, so that its next poll reads only what is new.

A feed polled every few minutes answers mostly with entries the store already
holds, and many servers answer 200 with the very same body instead of 304.
Remembering, per feed, a digest of the body last read and the uids of its
entries lets the pipeline skip a body it has read already and pass over known
entries before their HTML is flattened.  Only what was recorded is remembered
(an entry the database refused is read again next time), and the memory is
the process's own: after a restart each feed is read in full once, and the
store's deduplication decides as it always did.  Pure: no I/O.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass

# A feed's entries come out differently when its name (bare ids are unique per source only),
# language or tags change: each combination is remembered apart.
FeedKey = tuple[str, str, str | None, tuple[str, ...]]


def body_digest(data: bytes) -> str:
    return hashlib.blake2b(data, digest_size=16).hexdigest()


@dataclass(frozen=True)
class _Read:
    digest: str | None  # None: something in that body was not recorded, read it again
    uids: frozenset[str]


class SeenEntries:
    """Per feed, the body last read in full and the uids of the entries it recorded."""

    def __init__(self) -> None:
        self._feeds: dict[FeedKey, _Read] = {}

    def unchanged(self, key: FeedKey, digest: str) -> bool:
        """True when this body was read in full last time and everything in it recorded."""
        read = self._feeds.get(key)
        return read is not None and read.digest == digest

    def known(self, key: FeedKey) -> frozenset[str]:
        read = self._feeds.get(key)
        return read.uids if read is not None else frozenset()

    def remember(self, key: FeedKey, digest: str, uids: Iterable[str], refused: Iterable[str] = ()) -> None:
        """What this poll read: ``uids`` of every entry of the body (new and known), less those refused.

        Only the entries of the latest body are kept, so the memory of a feed stays the size of
        the feed, however many stories it published over time.
        """
        left_out = frozenset(refused)
        self._feeds[key] = _Read(None if left_out else digest, frozenset(uids) - left_out)
