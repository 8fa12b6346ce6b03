"""One article field's tokens, as the scan and the woken rules ask for them.

A field is folded once; its tokens are those of its chunks (the text between two runs of
spaces), which spaCy cuts each on its own (see monitor.matching.chunks).  Where the language's
tokenizer keeps letters together (most languages), one automaton pass over the text made of
letters and spaces names the chunks where an anchor's first word stands with no letter glued
to it (``LanguageIndex.chunks_to_read``), and only those are read, from their remembered
tokens (``scan_text``).  Elsewhere the scan compares the field's distinct chunks with the
chunks the index knows to start nothing (``LanguageIndex.plain``), in C, and works in Python
only on the few others (``scan_chunks``).  No Doc is made for the field: the tokenizer cuts
only chunks that may hold an anchor and that no article brought before.

Everything else a rule may ask is answered from the text and the chunks' tokens when asked:
a term that wakes no rule is looked up where its first word occurs in the text; word numbers
(proximity) come from a table of the field's tokens, built once when first needed.  Offsets
are those of the folded text until an occurrence is made, which maps them to the original.

A field whose language needs the whole text cut at once (lemmas in context, a tokenizer
that does not cut at whitespace) is tokenized whole into that same table instead.
"""

from __future__ import annotations

import re
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterable, Sequence
from itertools import accumulate, count, pairwise
from operator import add

from spacy.attrs import IDX, IS_PUNCT, IS_SPACE, LENGTH
from spacy.tokens import Doc

from monitor.folding import FoldedText
from monitor.matching.acronyms import may_be_a_common_word
from monitor.matching.chunks import Chunk, ChunkTokenizer
from monitor.matching.compiler import ChunkAnchors, LanguageIndex, Phrases
from monitor.matching.evaluate import Occurrence
from monitor.matching.letters import letters_only

Span = tuple[int, int]  # folded offsets, end exclusive
Hit = tuple[int, int, int]  # start, end (folded offsets), term key
Forms = list[tuple[str, tuple[str, ...]]]  # a term's forms: (first token, the tokens after it)
Token = tuple[int, str, bool]  # folded offset, text, punctuation
# Chunks remembered to start no anchor, or to start some (LanguageIndex.plain, chunk_anchors):
# when one of the two is this large it starts over, which bounds their memory.
CHUNK_MEMORY_LIMIT = 100_000
# A chunk with a letter or digit holds a word: a token with one is no punctuation.
_HOLDS_A_WORD = re.compile(r"[^\W_]")
# A term's first word occurring more often than this in a field is looked for in the field's
# token table (built once) rather than at each place the text holds it.
MAX_PLACES_TO_CHECK = 12


def _never(_word: str) -> bool:
    return False


def _is_chunk(text: str, start: int, end: int) -> bool:
    """Whether ``text[start:end]`` is a whole chunk: a space or the text's end on each side."""
    return (start == 0 or text[start - 1] == " ") and (end == len(text) or text[end] == " ")


class TokenTable:
    """Every token of a field: where it starts, its text, and how many words come before it."""

    __slots__ = ("_where", "punct", "starts", "texts", "words")

    def __init__(self, starts: list[int], texts: list[str], punct: list[bool]) -> None:
        self.starts = starts
        self.texts = texts
        self.punct = punct
        words, count = [], 0
        for is_punct in punct:
            words.append(count)
            count += not is_punct
        words.append(count)
        self.words = words  # before each token, then the field's number of words
        self._where: dict[str, list[int]] | None = None

    @classmethod
    def of_doc(cls, doc: Doc) -> TokenTable:
        rows = doc.to_array([IDX, LENGTH, IS_PUNCT, IS_SPACE]).tolist()
        text = doc.text
        kept = [row for row in rows if not row[3]]
        return cls(
            [at for at, _, _, _ in kept],
            [text[at : at + n] for at, n, _, _ in kept],
            [bool(p) for _, _, p, _ in kept],
        )

    def where(self, word: str) -> list[int]:
        """The positions of the tokens whose text is ``word``."""
        where = self._where
        if where is None:
            where = self._where = {}
            for i, text in enumerate(self.texts):
                where.setdefault(text, []).append(i)
        return where.get(word, [])

    def tokens_from(self, at: int, n: int) -> list[Token] | None:
        i = bisect_left(self.starts, at)
        if i == len(self.starts) or self.starts[i] != at:
            return None
        return [
            (self.starts[j], self.texts[j], self.punct[j]) for j in range(i, min(i + n, len(self.starts)))
        ]


class FieldText:
    """One folded field of an article, read through its chunks' tokens, kept while its rules are
    decided (it is each occurrence's ``positions``)."""

    __slots__ = ("_counts", "_letters", "_table", "chunks", "field", "folded", "original", "text", "whole")

    def __init__(
        self, field: str, original: str, folded: FoldedText, chunks: ChunkTokenizer, whole: Doc | None = None
    ) -> None:
        self.field = field
        self.original = original
        self.folded = folded
        self.text = folded.text
        self.chunks = chunks
        # the field cut whole, when its language needs it: then every token comes from the doc
        self.whole = whole is not None
        self._table = TokenTable.of_doc(whole) if whole is not None else None
        self._counts: tuple[list[int], list[int]] | None = None
        self._letters: str | None = None

    def table(self) -> TokenTable:
        """Every token of the field, from its chunks (the unknown ones cut together), once."""
        table = self._table
        if table is None:
            text = self.text
            bases, chunks, at = [], [], 0
            for part in text.split(" "):
                if part:
                    bases.append(at)
                    chunks.append(part)
                at += len(part) + 1
            starts: list[int] = []
            texts: list[str] = []
            punct: list[bool] = []
            for base, (words, offsets, mask, _) in zip(bases, self.chunks.all(chunks), strict=True):
                if not mask and len(words) == 1:
                    starts.append(base)
                    texts.append(words[0])
                    punct.append(False)
                    continue
                for j, word in enumerate(words):
                    starts.append(base + offsets[j])
                    texts.append(word)
                    punct.append(bool(mask >> j & 1))
            table = self._table = TokenTable(starts, texts, punct)
        return table

    def word_at(self, offset: int) -> int:
        """How many words (tokens that are no punctuation) start before folded ``offset``, a
        token's start or end: proximity counts words, not punctuation.

        Counted chunk by chunk (the words before the chunk, then those of the chunk before
        ``offset``), from each chunk's remembered count: no list of the field's tokens."""
        if self._table is not None:
            table = self._table
            return table.words[bisect_left(table.starts, offset)]
        counts = self._counts
        if counts is None:
            parts = self.text.split(" ")
            starts = [0, *map(add, accumulate(map(len, parts[:-1])), count(1))]
            before = list(accumulate(self.chunks.word_counts(parts), initial=0))
            counts = self._counts = (starts, before)
        starts, before = counts
        i = bisect_right(starts, offset) - 1
        base = starts[i]
        if offset == base:
            return before[i]
        end = starts[i + 1] - 1 if i + 1 < len(starts) else len(self.text)
        if offset >= end:
            return before[i + 1]
        _, offsets, mask, _ = self.chunks.tokens(self.text[base:end])
        inside = offset - base
        return before[i] + sum(1 for j, at in enumerate(offsets) if at < inside and not mask >> j & 1)

    def near_words(self, offsets: Sequence[int], distance: int) -> list[int]:
        """Word numbers for the sorted, distinct folded ``offsets`` (token starts and ends), exact
        between two consecutive ones at most ``distance`` words apart, more than ``distance``
        apart where they are further (what proximity needs: see ``evaluate.near_holds``).

        Counted between consecutive offsets only, and only until the count passes
        ``distance``: two names far apart need no word count of the field from its start, nor
        spaCy's cut of every chunk between them."""
        if self._table is not None or self._counts is not None:
            return [self.word_at(offset) for offset in offsets]
        cap = distance + 1
        between = [self._chunks_between(a, b, cap) for a, b in pairwise(offsets)]
        needed = list(dict.fromkeys(chunk for chunks in between for chunk, _ in chunks))
        tokens = dict(zip(needed, self.chunks.all(needed), strict=True))
        numbers = [0]
        for (a, b), chunks in zip(pairwise(offsets), between, strict=True):
            words = 0
            for chunk, base in chunks:
                _, starts, mask, count = tokens[chunk]
                if base >= a and base + len(chunk) <= b:
                    words += count
                else:
                    words += sum(1 for j, at in enumerate(starts) if a <= base + at < b and not mask >> j & 1)
                if words >= cap:
                    break
            numbers.append(numbers[-1] + min(words, cap))
        return numbers

    def _chunks_between(self, a: int, b: int, cap: int) -> list[tuple[str, int]]:
        """The chunks (text, start) where a token may start in folded ``[a, b)``, in order, up to
        the first where the words they surely hold pass ``cap``."""
        text = self.text
        out = []
        at = text.rfind(" ", 0, a) + 1
        surely = 0
        get = self.chunks.get
        while at < b:
            end = text.find(" ", at)
            if end < 0:
                end = len(text)
            if end > at:
                chunk = text[at:end]
                out.append((chunk, at))
                if at >= a and end <= b:
                    known = get(chunk)
                    surely += known[3] if known is not None else _HOLDS_A_WORD.search(chunk) is not None
                    if surely >= cap:
                        break
            at = end + 1
        return out

    def occurrence(self, start: int, end: int) -> Occurrence:
        """The occurrence of folded ``[start, end)``; its token places are folded offsets."""
        first, stop = self.folded.original_span(start, end) if self.folded.shifted else (start, end)
        return Occurrence(self.field, start, end, first, stop, self)

    def tokens_from(self, at: int, n: int) -> list[Token] | None:
        """The token that starts at folded ``at`` and the n - 1 after it (fewer at the field's
        end), or None when no token starts there."""
        if self._table is not None:
            return self._table.tokens_from(at, n)
        text = self.text
        start = text.rfind(" ", 0, at) + 1
        words, offsets, mask, _ = self.chunks.tokens(self._chunk_at(start))
        try:
            j = offsets.index(at - start)
        except ValueError:
            return None
        out: list[Token] = []
        while True:
            while j < len(words) and len(out) < n:
                out.append((start + offsets[j], words[j], bool(mask >> j & 1)))
                j += 1
            if len(out) == n:
                return out
            start = self._next_chunk(start)
            if start < 0:
                return out
            words, offsets, mask, _ = self.chunks.tokens(self._chunk_at(start))
            j = 0

    def _chunk_at(self, start: int) -> str:
        end = self.text.find(" ", start)
        return self.text[start:] if end < 0 else self.text[start:end]

    def _next_chunk(self, start: int) -> int:
        """Where the chunk after the one at ``start`` begins, or -1."""
        text = self.text
        at = text.find(" ", start)
        if at < 0:
            return -1
        while at < len(text) and text[at] == " ":
            at += 1
        return at if at < len(text) else -1

    def letters(self) -> str:
        """The text made of letters and spaces, with a space before and after it (see
        monitor.matching.letters): text offset i is offset i + 1 there."""
        spaced = self._letters
        if spaced is None:
            spaced = self._letters = f" {letters_only(self.text)} "
        return spaced

    def _places(self, word: str, apart: bool, *, prefix: bool = False) -> list[int] | None:
        """Where a token may start with ``word`` (be ``word``, unless ``prefix``), at most
        MAX_PLACES_TO_CHECK of them, else None.

        Where ``word`` is ``apart`` (letters that the tokenizer never cuts from other letters:
        ``LanguageIndex.stands_apart``), only the places with no letter glued to it; else
        wherever the text holds it."""
        if apart:  # the key's space before the word is at the word's offset in the text
            text, key = self.letters(), f" {word}" if prefix else f" {word} "
        else:
            text, key = self.text, word
        places: list[int] = []
        at = text.find(key)
        while at >= 0:
            if len(places) == MAX_PLACES_TO_CHECK:
                return None
            places.append(at)
            at = text.find(key, at + 1)
        return places

    def phrase_spans(self, forms: Forms, apart: Callable[[str], bool] = _never) -> list[Span]:
        """Where one of a term's ``forms`` occurs, in reading order: what a woken rule asks of a
        term the scan does not look for (``apart``: see ``_places``)."""
        spans: list[Span] = []
        text = self.text
        for first, rest in forms:
            n = len(rest) + 1
            alone = apart(first)
            places = self._places(first, alone) if self._table is None else None
            if places is not None:
                for at in places:
                    end = at + len(first)
                    if alone and not rest and _is_chunk(text, at, end):
                        spans.append((at, end))  # a chunk of letters is one token (LETTERS_GLUED)
                        continue
                    tokens = self.tokens_from(at, n)
                    if (
                        tokens
                        and len(tokens) == n
                        and tokens[0][1] == first
                        and tuple(t[1] for t in tokens[1:]) == rest
                    ):
                        spans.append((at, tokens[-1][0] + len(tokens[-1][1])))
                continue
            table = self.table()
            for i in table.where(first):
                if tuple(table.texts[i + 1 : i + n]) == rest:
                    last = i + n - 1
                    spans.append((table.starts[i], table.starts[last] + len(table.texts[last])))
        if len(forms) > 1:
            spans.sort()
        return spans

    def prefixed(self, prefix: str, apart: Callable[[str], bool] = _never) -> list[Span]:
        """The words (no punctuation) that start with ``prefix``: where a woken rule's deferred
        wildcard ``prefix*`` occurs (``apart``: see ``_places``)."""
        alone = apart(prefix)
        places = self._places(prefix, alone, prefix=True) if self._table is None else None
        if places is not None:
            spans = []
            text = self.text
            for at in places:
                if alone and (at == 0 or text[at - 1] == " "):
                    end = text.find(" ", at)
                    end = len(text) if end < 0 else end
                    if text[at:end].isalpha():  # a chunk of letters is one token (LETTERS_GLUED)
                        spans.append((at, end))
                        continue
                tokens = self.tokens_from(at, 1)
                if tokens and not tokens[0][2] and tokens[0][1].startswith(prefix):
                    spans.append((at, at + len(tokens[0][1])))
            return spans
        table = self.table()
        return [
            (table.starts[i], table.starts[i] + len(word))
            for i, word in enumerate(table.texts)
            if not table.punct[i] and word.startswith(prefix)
        ]

    def words(self) -> tuple[list[int], list[str]]:
        """The positions and texts of the field's words (tokens that are no punctuation)."""
        table = self.table()
        kept = [i for i, punct in enumerate(table.punct) if not punct]
        return kept, [table.texts[i] for i in kept]

    def capitals_ok(self, capitals: tuple[int, ...], start: int, table: LanguageIndex) -> bool:
        """An acronym in the query (NATO) matches NATO or Nato, never the word nato, nor a Nato
        that opens a sentence as the common word nato does (see ``acronyms``)."""
        tokens = self.tokens_from(start, max(capitals) + 1) or []
        for offset in capitals:
            at, word, _ = tokens[offset]
            first, end = at, at + len(word)
            if self.folded.shifted:
                first, end = self.folded.original_span(first, end)
            original = self.original
            if not original[first : first + 1].isupper():
                return False
            if may_be_a_common_word(original, first, end) and table.is_common_word(word):
                return False
        return True


def scan_chunks(table: LanguageIndex, field: FieldText) -> list[Hit]:
    """The anchors of ``field``'s text, found through its chunks (see the module)."""
    text = field.text
    todo = set(text.split(" ")).difference(table.plain)
    todo.discard("")
    if not todo:
        return []
    known = table.chunk_anchors
    found: list[tuple[str, ChunkAnchors]] = []
    new = []
    for chunk in todo:
        anchors = known.get(chunk)
        if anchors is None:
            new.append(chunk)
        else:
            found.append((chunk, anchors))
    if new:
        plain, maybe = table.sift(new)
        if maybe:
            for chunk, tokens in zip(maybe, field.chunks.all(maybe), strict=True):
                anchors = chunk_anchors(table, tokens)
                if anchors:
                    if len(known) >= CHUNK_MEMORY_LIMIT:
                        known.clear()
                    known[chunk] = anchors
                    found.append((chunk, anchors))
                else:
                    plain.append(chunk)
        _remember_plain(table, plain)
    hits: list[Hit] = []
    for chunk, anchors in found:
        for at in _places(text, chunk):
            _anchor_hits(field, at, anchors, hits)
    hits.sort()
    return hits


def scan_text(table: LanguageIndex, field: FieldText) -> list[Hit]:
    """The anchors of ``field``'s text, read in the chunks ``chunks_to_read`` names: those where
    a rule's word stands with no letter glued to it, found in one pass over the text."""
    text = field.text
    starts = table.chunks_to_read(text, field.letters())
    if not starts:
        return []
    known = table.chunk_anchors
    plain = table.plain
    found: list[tuple[int, ChunkAnchors]] = []
    unknown: dict[str, list[int]] = {}
    find = text.find
    for start in starts:
        end = find(" ", start)
        chunk = text[start:end] if end >= 0 else text[start:]
        anchors = known.get(chunk)
        if anchors is not None:
            found.append((start, anchors))
        elif chunk not in plain:
            unknown.setdefault(chunk, []).append(start)
    if unknown:
        nothing = []
        for (chunk, places), tokens in zip(unknown.items(), field.chunks.all(unknown), strict=True):
            anchors = chunk_anchors(table, tokens)
            if anchors:
                if len(known) >= CHUNK_MEMORY_LIMIT:
                    known.clear()
                known[chunk] = anchors
                found.extend((start, anchors) for start in places)
            else:
                nothing.append(chunk)
        _remember_plain(table, nothing)
    hits: list[Hit] = []
    for start, anchors in found:
        _anchor_hits(field, start, anchors, hits)
    hits.sort()
    return hits


def _remember_plain(table: LanguageIndex, chunks: list[str]) -> None:
    if len(table.plain) + len(chunks) > CHUNK_MEMORY_LIMIT:
        table.plain.clear()
    if len(chunks) <= CHUNK_MEMORY_LIMIT:
        table.plain.update(chunks)


def chunk_anchors(table: LanguageIndex, tokens: Chunk) -> ChunkAnchors:
    """The chunk's tokens that start something, with their offsets in the chunk."""
    words, offsets, mask, _ = tokens
    entry = table.entry
    return tuple(
        (offsets[j], word, found)
        for j, word in enumerate(words)
        if (found := entry(word, bool(mask >> j & 1))) is not None
    )


def _places(text: str, chunk: str) -> list[int]:
    """Where ``chunk`` stands in ``text`` as a whole chunk (spaces or the text's ends around it)."""
    places = []
    n = len(chunk)
    at = text.find(chunk)
    while at >= 0:
        end = at + n
        if (at == 0 or text[at - 1] == " ") and (end == len(text) or text[end] == " "):
            places.append(at)
            at = text.find(chunk, end + 1)
        else:
            at = text.find(chunk, at + 1)
    return places


def _anchor_hits(field: FieldText, at: int, anchors: ChunkAnchors, hits: list[Hit]) -> None:
    for offset, word, (alone, longer) in anchors:
        start = at + offset
        end = start + len(word)
        for key in alone:
            hits.append((start, end, key))
        if longer is not None and (len(longer) > FEW_SECOND_WORDS or _may_follow(field.text, end, longer)):
            _phrase_hits(field, start, longer, hits)


# An anchor beginning phrases with at most this many distinct second words has them looked for
# in the text before its tokens are read: most first names are not followed by the surname.
FEW_SECOND_WORDS = 8


def _may_follow(text: str, end: int, seconds: Iterable[str]) -> bool:
    """Whether one of ``seconds`` starts where the token after the one ending at ``end`` does:
    at ``end`` inside a chunk, else after the spaces (tokens cover their chunk)."""
    if text.startswith(" ", end):
        end = len(text) - len(text[end:].lstrip(" ")) if text.startswith("  ", end) else end + 1
    for second in seconds:  # noqa: SIM110  (a loop: no generator on the scan's hot path)
        if text.startswith(second, end):
            return True
    return False


def _phrase_hits(field: FieldText, start: int, longer: dict[str, Phrases], hits: list[Hit]) -> None:
    """The phrases starting at ``start`` whose second token comes next, and the rest after it."""
    after = field.tokens_from(start, 2)
    if after is None or len(after) < 2:
        return
    phrases = longer.get(after[1][1])
    if phrases is None:
        return
    longest = max(len(rest) for rest, _ in phrases) if len(phrases) > 1 else len(phrases[0][0])
    tokens = field.tokens_from(start, longest + 2) if longest else after
    assert tokens is not None
    for rest, key in phrases:
        n = len(rest)
        if len(tokens) >= n + 2 and all(tokens[2 + i][1] == word for i, word in enumerate(rest)):
            last = tokens[n + 1]
            hits.append((start, last[0] + len(last[1]), key))


def scan_table(table: LanguageIndex, field: FieldText) -> list[Hit]:
    """The anchors of a field cut whole (``FieldText.whole``), token by token."""
    tokens = field.table()
    entry = table.entry
    hits: list[Hit] = []
    texts, starts = tokens.texts, tokens.starts
    for i, word in enumerate(texts):
        found = entry(word, tokens.punct[i])
        if found is None:
            continue
        alone, longer = found
        for key in alone:
            hits.append((starts[i], starts[i] + len(word), key))
        if longer is not None and i + 1 < len(texts):
            for rest, key in longer.get(texts[i + 1], ()):
                end = i + 2 + len(rest)
                if tuple(texts[i + 2 : end]) == rest:
                    hits.append((starts[i], starts[end - 1] + len(texts[end - 1]), key))
    return hits


def lemma_hits(phrases: dict[str, Phrases], lemmas: Sequence[str], field: FieldText) -> list[Hit]:
    """The lemma phrases among a field cut whole, from the lemma of each of its tokens."""
    tokens = field.table()
    hits: list[Hit] = []
    for i, lemma in enumerate(lemmas):
        for rest, key in phrases.get(lemma, ()):
            end = i + 1 + len(rest)
            if tuple(lemmas[i + 1 : end]) == rest:
                last = end - 1
                hits.append((tokens.starts[i], tokens.starts[last] + len(tokens.texts[last]), key))
    return hits
