"""One story, one alert: recognise the same wire story republished with small edits.

An agency story (ANSA, Reuters) reaches us through several outlets within hours,
each with its own headline, boilerplate ("(ANSA) - ROMA, 14 MAR -", "Leggi
anche…", "Copyright Thomson Reuters"), a sentence added or cut, a paragraph
moved.  Their content fingerprints differ, so the store sees new articles; this
module says which earlier article each one repeats, so the first alerts and the
later ones attach to it ("also reported by …").  Pure: no database, no clock
(the caller passes ``at``), no I/O.

How, and why so:

- **Text → shingles.** Title, summary and body are folded like rule terms
  (:func:`monitor.folding.fold_plain`: case, accents, typographic
  apostrophes, hyphens), cut into words, and every run of ``shingle_size``
  words is a shingle.  Resemblance is the Jaccard similarity of two shingle
  sets.  On the test corpus (``tests/data/near_duplicates/``) 4-word shingles
  put every republished variant at Jaccard ≥ 0.60 of an earlier copy and every
  pair of different stories on the same topic at ≤ 0.07; 3-word shingles give
  0.62 / 0.13 (two days' stock-market openings share their template) and
  5-word shingles make each edited word cost more.  Hence 4, and a default
  ``threshold`` of 0.5, the middle of that gap.
- **MinHash from datasketch** (its ``affine32`` scheme) over 32-bit shingle
  hashes computed for the whole text at once in numpy (:func:`shingle_hashes`),
  far cheaper than hashing each shingle's text in Python.  The scheme's
  documented step (the MurmurHash3 premix, then ``a·h + b`` in uint32 for each
  of datasketch's own permutations, then the minimum) is applied to that array
  directly (:func:`min_hashes`), since ``MinHash.update_batch`` takes a Python
  sequence and calls a hash function per value; a test holds the two equal.
  256 values estimate Jaccard with a standard error of ≤ 0.03.  With 128, one
  corpus pair at 0.62 was estimated at 0.45 and split from its story; 256 cost
  little more.  The signature is bytes with a
  small header, so the store can keep it (1 KB) and a restart can rebuild the
  index (:meth:`NearDuplicateIndex.from_signatures`); a signature made with
  other settings is recognised and skipped rather than compared wrongly.
- **Banding (LSH) of our own over those signatures**: one dict per band from
  the band's hash to the articles sharing it; the candidates it finds are then
  verified on the whole signature.  datasketch's ``MinHashLSH`` does the same
  with a Python set per bucket: at the band shape we need it held more than
  twice the memory and inserted several times slower.  The
  shape comes from the threshold (:func:`choose_bands`), over the first 128
  values at most, so that an article exactly at the threshold is a candidate
  95 % of the time (one at 0.6, 99.6 %).
- **Cost**: a signature is a noticeable part of ``monitor scan``, so every step
  works on arrays: words read by ``bytes.translate`` (:func:`joined_words`),
  shingle hashes from one prefix sum, distinct hashes by a sort, and the MinHash
  scheme applied to the whole array.  The figures are in bench/RESULTS.md.
- **Short texts are never grouped**: below ``min_shingles`` shingles (about
  30 words) a text has no signature.  A two-sentence summary from a templated
  story ("Borsa: Milano apre in rialzo …") is too small a sample to tell a
  republication from the next day's edition, and exact copies are caught by
  the content fingerprint anyway.
- **Bounded memory**: the index keeps at most ``max_articles`` (oldest out
  first) and :meth:`NearDuplicateIndex.forget_before` drops what was added
  before a time, so a daemon keeps e.g. the last two days.

A group is named by its first article.  A later article that matches any
member (not only the first) joins that member's group, so a third outlet that
copied the second outlet's edit still lands in the story's group; groups
survive the eviction of their first article, whose id is only a name.
"""

from __future__ import annotations

import logging
import math
import struct
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt

from monitor.folding import distinct_non_ascii, fold_plain
from monitor.models import Article, StoredSignature

log = logging.getLogger(__name__)
_U = TypeVar("_U", np.uint32, np.uint64)

# bytes.translate table: the ASCII bytes no \w matches become spaces, the rest stay
_ASCII_NON_WORD_TO_SPACE = bytes(
    code if code > 0x7F or chr(code).isalnum() or code == 0x5F else 0x20 for code in range(256)
)
# Signature layout: format version, shingle size, number of values, seed, then
# the values as little-endian uint32.  Bump the version when shingling changes.
_FORMAT_VERSION = 2  # 1: CRC-32 of each shingle's text
_HEADER = struct.Struct("<BBHI")
_SEED = 1
# How often an article exactly at the threshold must reach the verification step.
_CANDIDATE_RECALL = 0.95
# Banding uses at most this many values: more would add bucket entries (memory)
# without finding more candidates at the thresholds that make sense here.
_MAX_BANDED_VALUES = 128

Signature = npt.NDArray[np.uint32]
# Shingle hashing: a polynomial of the shingle's bytes modulo 2**64.  The multiplier is odd, hence
# invertible modulo 2**64, which is what lets every shingle be hashed from one prefix sum.
_BASE = 0x100000001B3  # the FNV-64 prime
_BASE_INVERSE = pow(_BASE, -1, 2**64)
_ONE, _ZERO = np.ones(1, dtype=np.uint64), np.zeros(1, dtype=np.uint64)  # not [0]: that makes floats


def joined_words(text: str) -> tuple[bytes, int]:
    """The words (``\\w+``) of ``text`` joined by one space, in UTF-8, and how many there are.

    What ``re.findall(r"\\w+", text)`` and a join give, read with bytes.translate and split after the few
    distinct non-ASCII characters that are no word characters became spaces, a few times
    faster than the regex.  ``\\w`` is exactly ``str.isalnum()`` or
    the underscore (tests/test_dedup.py holds the two ways equal on any text).
    """
    if not text.isascii():
        for char in distinct_non_ascii(text):
            if not char.isalnum():
                text = text.replace(char, " ")
    words = text.encode("utf-8", "surrogatepass").translate(_ASCII_NON_WORD_TO_SPACE).split()
    return b" ".join(words), len(words)


def shingle_hashes(words: list[str], size: int) -> set[int]:
    """The distinct 32-bit hashes of every run of ``size`` words.

    A run is hashed as its text (the words joined by one space) would be by the polynomial
    H = Σ c_j · B^(end-1-j) over its bytes c_j, modulo 2**64, then mixed by MurmurHash3's
    finaliser.  All runs at once, in numpy: with S[i] = Σ_{j<i} c_j · B^-j, a run over bytes
    [a, e) is (S[e] - S[a]) · B^(e-1).  Hashing each run's text in Python (a join, an encode
    and a CRC-32 per shingle) cost more than the rest of an article's signature.
    """
    joined = " ".join(words).encode("utf-8", "surrogatepass")
    return set(joined_shingle_hashes(joined, len(words), size).tolist())


def affine_permutations(num_perm: int, seed: int) -> npt.NDArray[np.uint32]:
    """The ``(a, b)`` pairs of the 32-bit affine permutations ``h -> a*h + b mod 2**32``.

    The same numbers, drawn the same way from the same seeded ``RandomState``, as
    datasketch's MinHash ``affine32`` scheme, which made the signatures already stored:
    an odd ``a`` keeps each map a bijection.  Drawing them here spares the install
    datasketch and the scipy it pulls in.
    """
    draw = np.random.RandomState(seed)
    a = draw.randint(0, 1 << 31, num_perm, dtype=np.uint32) * np.uint32(2) + np.uint32(1)
    b = draw.randint(0, 1 << 32, num_perm, dtype=np.uint32)
    return np.array([a, b])


def min_hashes(hashes: npt.NDArray[np.uint64], permutations: npt.NDArray[np.uint32]) -> Signature:
    """The MinHash values of a set of 32-bit hashes under datasketch's ``affine32`` scheme,
    what ``MinHash(permutations=…, scheme="affine32", hashfunc=int).update_batch`` keeps."""
    a, b = permutations
    premixed = _fmix(hashes.astype(np.uint32), _FMIX32)
    # uint32 arithmetic wraps around: the products and sums are modulo 2**32, as the scheme says.
    # The sum is added in place: a second temporary of this size (shingles × permutations
    # values) made the step several times slower.
    permuted = premixed[:, np.newaxis] * a
    permuted += b
    values: Signature = permuted.min(axis=0, initial=np.iinfo(np.uint32).max)
    return values


def joined_shingle_hashes(joined: bytes, count: int, size: int) -> npt.NDArray[np.uint64]:
    """``shingle_hashes`` of the ``count`` words joined in ``joined`` (see ``joined_words``), as
    a sorted array."""
    if count < size:
        return np.zeros(0, dtype=np.uint64)
    data = np.frombuffer(joined, dtype=np.uint8)
    n = len(data)
    powers, inverse = _powers(n)
    # integer arrays wrap around silently: every product and sum below is modulo 2**64
    prefix = np.concatenate((_ZERO, np.cumsum(data * inverse[:n])))
    spaces = np.flatnonzero(data == 0x20)  # UTF-8 puts 0x20 in no other character
    starts = np.concatenate(([0], spaces + 1))[: count - size + 1]
    ends = np.concatenate((spaces, [n]))[size - 1 :]
    scale = powers[ends - 1]  # B^(e-1)
    hashes = np.sort(_fmix((prefix[ends] - prefix[starts]) * scale, _FMIX64) >> np.uint64(32))
    # the distinct ones: a sort and a mask, cheaper here than np.unique
    return hashes[np.concatenate(([True], hashes[1:] != hashes[:-1]))]


_power_tables = (np.ones(1, dtype=np.uint64), np.ones(1, dtype=np.uint64))


def _powers(n: int) -> tuple[npt.NDArray[np.uint64], npt.NDArray[np.uint64]]:
    """B^0 … and B^-0 … for at least ``n`` bytes, grown by doubling and kept: computing them
    for each article cost as much as hashing it."""
    global _power_tables
    tables = _power_tables
    if len(tables[0]) < n:
        size = max(n, 2 * len(tables[0]), 8192)
        tables = _power_tables = tuple(  # type: ignore[assignment]
            np.concatenate((_ONE, np.cumprod(np.full(size - 1, base, dtype=np.uint64))))
            for base in (_BASE, _BASE_INVERSE)
        )
    return tables


# MurmurHash3's finalisers, by width: (shift, multiplier, shift, multiplier, shift).  The 64-bit
# one mixes the shingle hashes; the 32-bit one is the premix of datasketch's ``affine32`` scheme.
_FMIX32 = tuple(np.uint32(c) for c in (16, 0x85EBCA6B, 13, 0xC2B2AE35, 16))
_FMIX64 = tuple(np.uint64(c) for c in (33, 0xFF51AFD7ED558CCD, 33, 0xC4CEB9FE1A85EC53, 33))


def _fmix(h: npt.NDArray[_U], constants: tuple[np.unsignedinteger[Any], ...]) -> npt.NDArray[_U]:
    """A MurmurHash3 finaliser (every input bit reaches every output bit); the array's unsigned
    arithmetic wraps around, which is the modulo the finaliser is defined with."""
    s1, m1, s2, m2, s3 = constants
    h = h ^ (h >> s1)
    h = h * m1
    h = h ^ (h >> s2)
    h = h * m2
    return h ^ (h >> s3)


def choose_bands(threshold: float, num_perm: int) -> tuple[int, int]:
    """The LSH band shape (bands, rows) for a Jaccard threshold.

    Longer bands produce fewer chance candidates; more bands find more of the
    true ones.  The longest band that still lets an article at ``threshold``
    become a candidate with probability ``_CANDIDATE_RECALL`` within
    ``num_perm`` values wins; a threshold too low for that uses every value in
    single-value bands, the best recall there is.
    """
    for rows in range(8, 0, -1):
        p_band = threshold**rows
        if p_band >= 1.0:
            return 1, rows
        if p_band <= 0.0:
            continue
        bands = math.ceil(math.log(1 - _CANDIDATE_RECALL) / math.log(1 - p_band))
        if bands * rows <= num_perm:
            return max(bands, 1), rows
    return num_perm, 1


def article_text(article: Article) -> str:
    """The text an article is compared by: what it says, not where it was found."""
    return "\n".join(part for part in (article.title, article.summary, article.body) if part)


def estimate_similarity(a: bytes, b: bytes) -> float:
    """Estimated Jaccard similarity of the texts behind two signatures of the same settings."""
    if a[: _HEADER.size] != b[: _HEADER.size]:
        raise ValueError("signatures made with different settings cannot be compared")
    va = np.frombuffer(a, dtype="<u4", offset=_HEADER.size)
    vb = np.frombuffer(b, dtype="<u4", offset=_HEADER.size)
    return float(np.count_nonzero(va == vb)) / len(va)


@dataclass(slots=True)
class _Entry:
    values: Signature
    first: str  # the id of its group's first article
    at: datetime | None
    rank: int  # arrival order


@dataclass(frozen=True, slots=True)
class NearDuplicateSettings:
    """How alike two texts must be to count as one story, and how much the index remembers.

    Validated here so a bad value fails when the configuration is read, not at
    the first article.
    """

    threshold: float = 0.5  # estimated Jaccard of the shingle sets
    num_perm: int = 256  # MinHash values: the estimate's standard error is ≤ 0.5 / sqrt(num_perm)
    shingle_size: int = 4  # words per shingle
    min_shingles: int = 30  # shorter texts are never grouped
    max_articles: int = 20_000

    def __post_init__(self) -> None:
        if not 0.0 < self.threshold <= 1.0:
            raise ValueError(f"threshold must be in (0, 1], not {self.threshold}")
        if not 16 <= self.num_perm <= 1024:
            raise ValueError(f"num_perm must be between 16 and 1024, not {self.num_perm}")
        if not 1 <= self.shingle_size <= 16:
            raise ValueError(f"shingle_size must be between 1 and 16 words, not {self.shingle_size}")
        if self.min_shingles < 1:
            raise ValueError(f"min_shingles must be at least 1, not {self.min_shingles}")
        if self.max_articles < 1:
            raise ValueError(f"max_articles must be at least 1, not {self.max_articles}")


class NearDuplicateIndex:
    """The recent articles' signatures, and which group each belongs to.

    Article ids are kept and returned as ``str``.  Not thread-safe: one
    pipeline adds articles in the order it records them.
    """

    def __init__(self, settings: NearDuplicateSettings | None = None) -> None:
        self.settings = settings = settings or NearDuplicateSettings()
        self._header = _HEADER.pack(_FORMAT_VERSION, settings.shingle_size, settings.num_perm, _SEED)
        # Generated once: drawing them costs more than hashing an article.
        self._permutations = affine_permutations(settings.num_perm, _SEED)
        self._bands, self._rows = choose_bands(settings.threshold, min(settings.num_perm, _MAX_BANDED_VALUES))
        self._needed = math.ceil(settings.threshold * settings.num_perm - 1e-9)  # equal values to match
        # Band hashes use Python's per-process hash(): buckets are never stored.
        self._buckets: list[dict[int, str | list[str]]] = [{} for _ in range(self._bands)]
        self._entries: dict[str, _Entry] = {}  # insertion order is eviction order
        self._added = 0

    def __repr__(self) -> str:
        s = self.settings
        return (
            f"NearDuplicateIndex(threshold={s.threshold}, num_perm={s.num_perm}, "
            f"shingle_size={s.shingle_size}, articles={len(self)}/{s.max_articles})"
        )

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, article_id: object) -> bool:
        return str(article_id) in self._entries

    @property
    def band_shape(self) -> tuple[int, int]:
        """(bands, rows) of the LSH banding in use."""
        return self._bands, self._rows

    def shingle_hashes(self, text: str) -> npt.NDArray[np.uint64]:
        """The distinct 32-bit hashes of the ``shingle_size``-word runs of the folded text."""
        return joined_shingle_hashes(*joined_words(fold_plain(text)), self.settings.shingle_size)

    def signature(self, text: str) -> bytes | None:
        """The MinHash of ``text`` as bytes to store, or None when it is too short to compare."""
        hashes = self.shingle_hashes(text)
        if len(hashes) < self.settings.min_shingles:
            return None
        values = min_hashes(hashes, self._permutations).astype("<u4")
        return self._header + values.tobytes()

    def compatible(self, signature: bytes) -> bool:
        """True when ``signature`` was made with this index's settings."""
        size = _HEADER.size + 4 * self.settings.num_perm
        return len(signature) == size and signature[: _HEADER.size] == self._header

    def query(self, text: str) -> str | None:
        """The first article of the group ``text`` repeats, without adding it."""
        signature = self.signature(text)
        if signature is None:
            return None
        match = self._best_match(_values(signature))
        return match.first if match is not None else None

    def add(self, article_id: int | str, text: str, *, at: datetime | None = None) -> str | None:
        """Add an article; return the first article of the group it repeats, or None when it is new.

        ``at`` (when it was seen) is what :meth:`forget_before` evicts by; an
        article added without it leaves only to respect ``max_articles``.
        """
        return self.add_signature(article_id, self.signature(text), at=at)

    def add_signature(
        self,
        article_id: int | str,
        signature: bytes | None,
        *,
        at: datetime | None = None,
        first_id: int | str | None = None,
    ) -> str | None:
        """:meth:`add` for a signature already computed (and perhaps already stored).

        A None signature (short text) is not indexed.  Adding an id twice
        changes nothing and answers as the first time did.  ``first_id``, when
        given, puts the article in that group without comparing.
        """
        key = str(article_id)
        known = self._entries.get(key)
        if known is not None:
            return None if known.first == key else known.first
        if signature is None:
            return None
        if not self.compatible(signature):
            raise ValueError(f"article {key}: signature made with other settings than {self!r}")
        values = _values(signature)
        if first_id is not None:
            first = str(first_id)
        else:
            match = self._best_match(values)
            first = match.first if match is not None else key
        self._insert(key, values, first, at)
        return None if first == key else first

    def forget_before(self, cutoff: datetime) -> int:
        """Drop the articles added with ``at`` before ``cutoff``; return how many."""
        old = [key for key, entry in self._entries.items() if entry.at is not None and entry.at < cutoff]
        for key in old:
            self._remove(key)
        return len(old)

    @classmethod
    def from_signatures(
        cls, stored: Iterable[StoredSignature], settings: NearDuplicateSettings | None = None
    ) -> NearDuplicateIndex:
        """Rebuild an index from the store, oldest first, after a restart.

        Signatures made with other settings (the configuration changed) are
        skipped and counted in the log: those articles can no longer be
        matched, which costs at most one extra alert per story in the window.
        The newest ``max_articles`` are kept, as if they had arrived live.
        """
        index = cls(settings)
        skipped = 0
        for item in stored:
            if not index.compatible(item.signature):
                skipped += 1
                continue
            index.add_signature(item.article_id, item.signature, at=item.at, first_id=item.first_id)
        if skipped:
            log.info("near-duplicate index: skipped=%d signatures made with other settings", skipped)
        return index

    def _band_keys(self, values: Signature) -> list[int]:
        raw = values.tobytes()
        width = 4 * self._rows
        return [hash(raw[i * width : (i + 1) * width]) for i in range(self._bands)]

    def _best_match(self, values: Signature) -> _Entry | None:
        candidates: set[str] = set()
        for bucket, band_key in zip(self._buckets, self._band_keys(values), strict=True):
            found = bucket.get(band_key)
            if isinstance(found, str):
                candidates.add(found)
            elif found is not None:
                candidates.update(found)
        best: _Entry | None = None
        best_score = self._needed - 1
        # The earliest of equally close candidates wins, so iterate in arrival order.
        for entry in sorted((self._entries[key] for key in candidates), key=lambda e: e.rank):
            score = int(np.count_nonzero(entry.values == values))
            if score > best_score:
                best, best_score = entry, score
        return best

    def _insert(self, key: str, values: Signature, first: str, at: datetime | None) -> None:
        while len(self._entries) >= self.settings.max_articles:
            self._remove(next(iter(self._entries)))
        self._added += 1
        self._entries[key] = _Entry(values, first, at, self._added)
        for bucket, band_key in zip(self._buckets, self._band_keys(values), strict=True):
            found = bucket.get(band_key)
            if found is None:
                bucket[band_key] = key
            elif isinstance(found, str):
                bucket[band_key] = [found, key]
            else:
                found.append(key)

    def _remove(self, key: str) -> None:
        entry = self._entries.pop(key)
        for bucket, band_key in zip(self._buckets, self._band_keys(entry.values), strict=True):
            found = bucket.get(band_key)
            if found == key:
                del bucket[band_key]
            elif isinstance(found, list):
                found.remove(key)
                if len(found) == 1:
                    bucket[band_key] = found[0]


def _values(signature: bytes) -> Signature:
    return np.frombuffer(signature, dtype="<u4", offset=_HEADER.size)
