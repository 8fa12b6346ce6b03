"""All rules → one index: every distinct term once, one token table per language.

An article is tokenized once and its tokens scanned once, whatever the number
of rules; boolean logic then runs only for the rules one of whose terms
occurred (a rule that could fire with none of its terms present is refused by
the rule loader).

The table maps a phrase's first token (its folded text) to the phrases starting
with it.  Whether a chunk of an article (the text between two runs of whitespace)
holds a token that starts anything is decided once per chunk and remembered
(``LanguageIndex.plain``, ``chunk_anchors``): the scan of a field compares its
chunks with those sets in C and touches in Python only the chunks that start
something (monitor.matching.scan).  No pattern Docs, no lexemes for rule terms:
a reload of a large rule set stays short.
"""

from __future__ import annotations

import threading
from bisect import bisect_left
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from itertools import accumulate, islice, product
from typing import ClassVar

import ahocorasick
from spacy.attrs import IS_PUNCT
from spacy.language import Language
from spacy.vocab import Vocab

from monitor.folding import fold_plain
from monitor.gcpause import collector_paused
from monitor.matching.acronyms import common_words
from monitor.matching.anchors import anchor_keys, is_any_of
from monitor.matching.chunks import LETTERS_GLUED, cut_between_letters
from monitor.matching.lemmas import MAX_VARIANTS
from monitor.matching.letters import letters_only
from monitor.matching.nlp import LanguagePipelines, lex_attr_getters
from monitor.matching.query import Term, terms
from monitor.matching.rulefile import RuleSpec
from monitor.matching.termforms import Spans, acronym_spans, key_of, term_variants
from monitor.matching.termforms import pattern_tokens as pattern_tokens
from monitor.matching.wildcard import MAX_WILDCARD_WORD, Wildcard


@dataclass(frozen=True, slots=True)
class CompiledRule:
    spec: RuleSpec
    keys: dict[int, int]  # id() of every Term node of the query → its key id (no dataclass hashing)
    positive_terms: tuple[Term, ...]  # the Term nodes that can make it true, in query order
    positive_keys: tuple[int, ...]  # their keys
    # the query is one term or an OR of terms, none scoped to a field: it holds when one of them
    # occurred, which the matcher learns while gathering the mentions (most rules of a desk are)
    any_of: bool
    anchors: tuple[int, ...]  # the keys that wake it up (monitor.matching.anchors)


Phrases = list[tuple[tuple[str, ...], int]]  # (the tokens after the first, term key) of each phrase
# What one word starts: the keys it matches alone (one-word terms, wildcards), and the longer
# phrases it begins, by their second token (a common first word may begin thousands of them).
Entry = tuple[tuple[int, ...], dict[str, Phrases] | None]
# A chunk's tokens that start something: (the token's offset in the chunk, its text, its entry).
ChunkAnchors = tuple[tuple[int, str, Entry], ...]


def _never(_text: str) -> bool:
    return False


class WildcardSet:
    """Prefix (``negozia*``) and pattern (``n?to``) terms.

    Whether a word matches is asked once per chunk that holds it (see LanguageIndex.plain). A
    prefix is one comparison; a pattern is tested against every word, in time linear in the
    word's length (see ``monitor.matching.wildcard``), and never against a word longer than
    MAX_WILDCARD_WORD.
    """

    __slots__ = ("all_keys", "heads", "lengths", "patterns", "prefixes", "shortest", "term_of")

    def __init__(self) -> None:
        self.prefixes: dict[str, list[int]] = {}
        self.lengths: tuple[int, ...] = ()
        self.shortest = 0
        self.heads: frozenset[str] = frozenset()  # every prefix cut to ``shortest`` characters
        self.patterns: list[tuple[Wildcard, int]] = []
        self.all_keys: frozenset[int] = frozenset()
        self.term_of: dict[int, str | Wildcard] = {}  # key → its prefix, or its pattern

    def add(self, text: str, key: int) -> None:
        head, star, tail = text.partition("*")
        if star and not tail and "?" not in head:
            self.prefixes.setdefault(head, []).append(key)
        else:
            self.patterns.append((Wildcard(text), key))

    def finish(self) -> None:
        self.lengths = tuple(sorted({len(p) for p in self.prefixes}))
        self.shortest = self.lengths[0] if self.lengths else 0
        self.heads = frozenset(p[: self.shortest] for p in self.prefixes)
        self.term_of = {key: prefix for prefix, keys in self.prefixes.items() for key in keys}
        self.term_of.update((key, pattern) for pattern, key in self.patterns)
        self.all_keys = frozenset(self.term_of)

    def __bool__(self) -> bool:
        return bool(self.prefixes or self.patterns)

    def may_match(self, word: str) -> bool:
        """False for most words, from one set look-up: no prefix begins like them."""
        return bool(self.patterns) or (bool(self.prefixes) and word[: self.shortest] in self.heads)

    def needles(self) -> tuple[list[str], bool]:
        """Text that every word matching one of the terms holds (a prefix, a pattern's longest
        run of letters), and whether some pattern has none (``?*``): then every word may match."""
        needles = [prefix for prefix in self.prefixes if prefix]
        every_word = "" in self.prefixes
        for pattern, _key in self.patterns:
            runs = [run for piece in pattern.text.split("*") for run in piece.split("?") if run]
            if runs:
                needles.append(max(runs, key=len))
            else:
                every_word = True
        return needles, every_word

    def matching(self, key: int, words: Sequence[str]) -> list[int]:
        """The indexes of the ``words`` (folded, none punctuation) that match the term of ``key``.

        What a woken rule asks of a deferred wildcard: one test per word of the field.
        """
        term = self.term_of[key]
        if isinstance(term, str):
            return [i for i, word in enumerate(words) if word.startswith(term)]
        return [i for i, word in enumerate(words) if len(word) <= MAX_WILDCARD_WORD and term.matches(word)]

    def prefix_of(self, key: int) -> str | None:
        """The prefix of a ``prefix*`` term, None for a pattern (``?ato``, ``att*co``)."""
        term = self.term_of[key]
        return term if isinstance(term, str) else None

    def keys(self, text: str) -> tuple[int, ...]:
        found: list[int] = []
        if len(text) >= self.shortest and text[: self.shortest] in self.heads:
            prefixes = self.prefixes
            found = [key for n in self.lengths if len(text) >= n for key in prefixes.get(text[:n], ())]
        if len(text) <= MAX_WILDCARD_WORD:
            found.extend(key for pattern, key in self.patterns if pattern.matches(text))
        return tuple(found)


@dataclass(slots=True, weakref_slot=True)
class LanguageIndex:
    """The token table of one language, in two parts.

    The scanned part holds the anchors, the terms that wake rules up (see ``monitor.matching.anchors``):
    whether an article's chunk (the text between two runs of whitespace, which spaCy cuts on
    its own) holds a token that starts one is a property of the chunk alone, so it is decided
    once per chunk and remembered: ``plain`` holds the chunks that start nothing,
    ``chunk_anchors`` what the others start.  A scan compares a field's chunks with ``plain``
    in C and does Python work only for the few others (monitor.matching.scan).  A chunk never
    seen before that holds none of the ``needles`` (every anchor's first word, a wildcard's
    letters) starts nothing either, and is not even cut into tokens.  Where the tokenizer keeps
    letters together, the needles are looked for in the whole text at once instead
    (``chunks_to_read``), and a field's other chunks are never looked at.

    The other terms are only looked up when a woken rule asks about them (``deferred`` and
    ``deferred_wildcards``).  Measured on generated news at 10,000 rules, an article's words
    start about a hundred terms and five anchors.
    """

    phrases: dict[str, Phrases] = field(default_factory=dict)  # anchors, by first token
    # lemma sequences of lemma terms, when a trained pipeline lemmatizes articles in context
    lemma_phrases: dict[str, Phrases] = field(default_factory=dict)
    capitals: dict[int, tuple[int, ...]] = field(default_factory=dict)  # key → pattern tokens in capitals
    wildcards: WildcardSet = field(default_factory=WildcardSet)  # anchors
    starts: dict[str, Entry] = field(default_factory=dict)  # first token → what it starts
    # not anchors: key → its forms, each as (first token, the tokens after it)
    deferred: dict[int, list[tuple[str, tuple[str, ...]]]] = field(default_factory=dict)
    deferred_wildcards: WildcardSet = field(default_factory=WildcardSet)
    lazy_keys: frozenset[int] = frozenset()  # the keys of both
    lang: str = ""
    capital_words: set[str] = field(default_factory=set)  # the folded words that need capitals
    _common: frozenset[str] | None = None  # those of them that are common words of ``lang``
    needles: ahocorasick.Automaton | None = None  # by chunk (``sift``); None: none, or by text
    # where the tokenizer keeps letters together: the needles as keys over the text made of
    # letters and spaces (see ``chunks_to_read``), and those without a letter, looked for as is
    text_needles: ahocorasick.Automaton | None = None
    loose_needles: tuple[str, ...] = ()
    every_chunk: bool = False  # a wildcard anchor without letters (``?*``): every chunk is cut
    by_text: bool = False  # the text's chunks to read are found by ``chunks_to_read``
    glued_pieces: frozenset[str] = frozenset()  # every piece of text of those special cases
    # the tokenizer cuts between two letters only in special cases (see ``_needles``)
    letters_glued: bool = False
    plain: set[str] = field(default_factory=set)  # chunks known to start no anchor
    chunk_anchors: dict[str, ChunkAnchors] = field(default_factory=dict)  # the other chunks met

    def finish(self, is_punct: Callable[[str], bool], glued: frozenset[str] = frozenset()) -> None:
        """Build the look-up table once phrases and wildcards are known."""
        self.wildcards.finish()
        self.deferred_wildcards.finish()
        for word, phrases in self.phrases.items():
            if word in self.starts:  # kept from the index this one replaces (monitor.matching.rebuild)
                continue
            alone = [key for rest, key in phrases if not rest]
            if not is_punct(word):
                alone.extend(self.wildcards.keys(word))
            longer: defaultdict[str, Phrases] = defaultdict(list)
            for rest, key in phrases:
                if rest:
                    longer[rest[0]].append((rest[1:], key))
            self.starts[word] = (tuple(alone), dict(longer) if longer else None)
        self.lazy_keys = frozenset(self.deferred.keys() | self.deferred_wildcards.all_keys)
        self.glued_pieces = frozenset(
            text[i:j] for text in glued for i in range(len(text)) for j in range(i + 1, len(text) + 1)
        )
        ends = self._needle_ends(glued)
        self.by_text = self.letters_glued and not self.every_chunk
        if not ends:
            return
        if self.by_text:
            self._text_needles(ends)
        else:
            self.needles = self._needles(ends)

    def _needle_ends(self, glued: frozenset[str]) -> dict[str, tuple[bool, bool]]:
        """The needles, each with whether a token must start with it (a first word, a prefix) and
        end with it (a first word).

        Where the tokenizer never cuts between two letters but in special cases (``glued``, the
        special cases that do), a first word found glued to letters (``ue`` in ``questo``) is
        no token: the chunk need not be cut, unless it holds one of those special cases where
        it could be the chunk, less its prefixes and suffixes (``dont`` in ``dont,``)."""
        prefixes, self.every_chunk = self.wildcards.needles()
        ends: dict[str, tuple[bool, bool]] = {}
        letters = self.letters_glued
        for needle in prefixes:
            ends[needle] = (letters and needle in self.wildcards.prefixes, False)
        for word in self.starts:
            left, right = ends.get(word, (True, True))
            ends[word] = (letters and left, letters and right)
        for special in glued:  # it cuts only a whole chunk, less what prefixes and suffixes cut off
            ends[special] = (letters, letters)
        return ends

    def _text_needles(self, ends: dict[str, tuple[bool, bool]]) -> None:
        """One automaton over the text made of letters and spaces (monitor.matching.letters).

        A needle's key is the needle with each character that is no letter made a space, and a
        space before (after) it where a token must start (end) with it and it starts (ends)
        with a letter: the key occurs wherever the needle does with no letter glued to it
        where ``sift`` asks for none, and perhaps in a few more places, which the chunk's
        tokens then rule out.  Its value is how far back from the key's end its first letter
        is: a place inside the chunk.  A needle without letters (``2026``, ``$``) is looked
        for in the text as it is."""
        automaton = ahocorasick.Automaton()
        loose = []
        for needle, (left, right) in ends.items():
            spaced = letters_only(needle)
            if spaced.isspace():
                loose.append(needle)
                continue
            before = " " if left and needle[0].isalpha() else ""
            key = f"{before}{spaced}{' ' if right and needle[-1].isalpha() else ''}"
            first_letter = len(key) - len(key.lstrip(" "))
            automaton.add_word(key, len(key) - first_letter)
        if len(automaton):
            automaton.make_automaton()
            self.text_needles = automaton
        self.loose_needles = tuple(loose)

    def chunks_to_read(self, text: str, letters: str) -> list[int]:
        """Where the chunks of a field's folded ``text`` start that hold a needle where a token
        may start: what ``sift`` says of chunks one by one, in one pass over the whole text
        (``text_needles``), in order.  ``letters`` is the text made of letters and spaces with a
        space around it (``FieldText.letters``)."""
        inside = []
        needles = self.text_needles
        if needles is not None:
            inside = [end - back for end, back in needles.iter(letters)]
        for needle in self.loose_needles:
            at = text.find(needle)
            while at >= 0:
                inside.append(at)
                at = text.find(needle, at + 1)
        if not inside:
            return []
        rfind = text.rfind
        return sorted({rfind(" ", 0, at) + 1 for at in inside})

    def stands_apart(self, word: str) -> bool:
        """Whether a token that is (or starts with) ``word`` never has a letter glued to it
        where it starts or ends: ``word`` is letters, the tokenizer keeps letters together
        (``by_text``), and no special case that cuts between two letters holds it (English
        ``cannot`` holds ``not``)."""
        return self.by_text and word.isalpha() and word not in self.glued_pieces

    def _needles(self, ends: dict[str, tuple[bool, bool]]) -> ahocorasick.Automaton:
        """The needles by their length and ends: one automaton over every new chunk."""
        automaton = ahocorasick.Automaton()
        for needle, (left, right) in ends.items():
            automaton.add_word(needle, (len(needle), left, right))
        automaton.make_automaton()
        return automaton

    def entry(self, word: str, punct: bool) -> Entry | None:
        """What an article token starts, or None."""
        entry = self.starts.get(word)
        if entry is None and not punct and self.wildcards.may_match(word):
            keys = self.wildcards.keys(word)
            if keys:
                entry = (keys, None)
        return entry

    def sift(self, chunks: list[str]) -> tuple[list[str], list[str]]:
        """``chunks`` (never seen) parted into those whose tokens surely start nothing, which
        hold no needle where a token could start, and the others, which must be cut to tell:
        one pass over them all."""
        needles = self.needles
        if needles is None:
            return chunks, []
        if self.every_chunk:
            return [], chunks
        joined = "\0".join(chunks)  # no needle holds a NUL: no match straddles two chunks
        holding = set()
        last = len(joined) - 1
        for end, (length, left, right) in needles.iter(joined):
            start = end - length + 1
            if left and start and joined[start].isalpha() and joined[start - 1].isalpha():
                continue  # glued to the letters before it: no token starts there
            if right and end < last and joined[end].isalpha() and joined[end + 1].isalpha():
                continue
            holding.add(end)
        if not holding:
            return chunks, []
        ends = list(accumulate(len(chunk) + 1 for chunk in chunks))
        cut = {bisect_left(ends, end + 1) for end in holding}
        plain = [chunk for i, chunk in enumerate(chunks) if i not in cut]
        return plain, [chunks[i] for i in sorted(cut)]

    def is_common_word(self, word: str) -> bool:
        """Whether a folded word that a term needs in capitals is a common word of the language
        (see ``acronyms``): asked only of a title-case word opening a sentence, and answered for
        every such word of the table the first time."""
        common = self._common
        if common is None:
            common = self._common = common_words(self.lang, self.capital_words)
        return word in common or (word not in self.capital_words and bool(common_words(self.lang, (word,))))


def punct_test(vocab: Vocab) -> Callable[[str], bool]:
    """The language's own IS_PUNCT test: punctuation never matches a wildcard."""
    return lex_attr_getters(vocab).get(IS_PUNCT, _never)  # type: ignore[return-value]


class _LastBuild:
    """The terms of the last build folded (with their spans in capitals), for the next one: a
    reload changes few terms.  A pure function of the text; every build replaces it with the
    terms it used, so it holds those of one rule set at most."""

    folded: ClassVar[dict[str, tuple[str, Spans]]] = {}


class RuleIndex:
    """The compiled form of a rule set, shared by every article until the next reload.

    Building it makes tens of thousands of objects that all live until the next reload: it
    runs with the cyclic collector paused (see ``monitor.gcpause``).

    Given the ``previous`` index (a reload's: the running one, same pipelines), the new one
    keeps its term keys, so a key names the same term in both, and takes over the compiled
    rule of every spec it shares with it (the same object: the rule files' cache hands back
    the specs of unchanged files); only the other rules are compiled.  Keys no rule uses any
    more stay, unused (``dead``), until a build without ``previous`` (monitor.matching.rebuild
    decides when).  It reads nothing of ``previous`` that matching changes, so the running
    index keeps matching meanwhile.
    """

    def __init__(
        self, specs: Sequence[RuleSpec], pipelines: LanguagePipelines, *, previous: RuleIndex | None = None
    ) -> None:
        with collector_paused():
            self._compile(specs, pipelines, previous)

    def _compile(
        self, specs: Sequence[RuleSpec], pipelines: LanguagePipelines, previous: RuleIndex | None
    ) -> None:
        self.pipelines = pipelines
        self.rules: list[CompiledRule] = []
        self.key_ids: dict[str, int] = {}
        self.key_terms: list[Term] = []  # key id → the term as first written
        self.key_lemmas: list[bool] = []
        # each key's term folded, and its spans in capitals: worked out once, read by every language
        self._key_forms: list[tuple[str, Spans]] = []
        self.rules_by_key: dict[int, list[int]] = defaultdict(list)
        self._folded: dict[str, tuple[str, Spans]] = {}
        compiled: dict[int, CompiledRule] = {}
        if previous is not None:
            self.key_ids = dict(previous.key_ids)
            self.key_terms = list(previous.key_terms)
            self.key_lemmas = list(previous.key_lemmas)
            self._key_forms = list(previous._key_forms)
            compiled = {id(rule.spec): rule for rule in previous.rules}
        for spec in specs:
            rule = compiled.get(id(spec))
            if rule is None or rule.spec is not spec:
                rule = self._compile_rule(spec)
            index = len(self.rules)
            self.rules.append(rule)
            for key in rule.anchors:
                self.rules_by_key[key].append(index)
        if previous is None:
            _LastBuild.folded = self._folded
            self.dead: frozenset[int] = frozenset()
        else:
            live = set().union(*(rule.keys.values() for rule in self.rules))
            self.dead = frozenset(range(len(self.key_terms))) - live
        self._folded = {}
        self._lemmas = any(self.key_lemmas) and any(
            lemmas for key, lemmas in enumerate(self.key_lemmas) if key not in self.dead
        )
        self._languages: dict[str, LanguageIndex] = {}
        self._lock = threading.Lock()

    def _compile_rule(self, spec: RuleSpec) -> CompiledRule:
        keys: dict[int, int] = {}
        positive_terms_list: list[Term] = []
        for term, is_positive in terms(spec.expr):
            keys[id(term)] = self._key_id(term, spec.lemmas)
            if is_positive:
                positive_terms_list.append(term)
        positive_terms = tuple(positive_terms_list)
        positive_keys = tuple(keys[id(t)] for t in positive_terms)
        anchors = tuple(anchor_keys(spec.expr, keys) or set(positive_keys))
        return CompiledRule(spec, keys, positive_terms, positive_keys, is_any_of(spec.expr), anchors)

    def __len__(self) -> int:
        return len(self.rules)

    def _key_id(self, term: Term, lemmas: bool) -> int:
        text = term.text
        folded_spans = self._folded.get(text) or _LastBuild.folded.get(text)
        if folded_spans is None:
            folded_spans = (fold_plain(text), acronym_spans(text))
        self._folded[text] = folded_spans
        key = key_of(text, term.wildcard, lemmas, *folded_spans)
        found = self.key_ids.get(key)
        if found is None:
            found = self.key_ids[key] = len(self.key_terms)
            self.key_terms.append(term)
            self.key_lemmas.append(lemmas and not term.wildcard)
            self._key_forms.append(folded_spans)
        return found

    @property
    def languages(self) -> tuple[str, ...]:
        """The languages whose tables are built: those articles have met, and the default one."""
        with self._lock:
            return tuple(self._languages)

    def for_language(self, lang: str) -> LanguageIndex:
        with self._lock:
            if lang not in self._languages:
                with collector_paused():
                    self._languages[lang] = self._build(lang)
            return self._languages[lang]

    def build(self, languages: Sequence[str]) -> RuleIndex:
        """Build the tables of ``languages`` now (before a swap), rather than on first use."""
        for lang in languages:
            self.for_language(lang)
        return self

    def tables(self) -> dict[str, LanguageIndex]:
        """The language tables built so far."""
        with self._lock:
            return dict(self._languages)

    def adopt(self, lang: str, table: LanguageIndex) -> None:
        """Take ``table`` as the table of ``lang`` (one built from this index's keys elsewhere)."""
        with self._lock:
            self._languages[lang] = table

    def in_context(self, lang: str) -> bool:
        """Whether lemma terms are matched on the lemmas ``lang``'s trained pipeline gives articles
        (else their inflected forms are looked for, from the lemma table)."""
        return self._lemmas and self.pipelines.trained_lemmatizer(lang)

    def _build(self, lang: str) -> LanguageIndex:
        nlp = self.pipelines.pattern_nlp(lang)
        in_context = self.in_context(lang)
        anchors = self.rules_by_key.keys()
        dead = self.dead
        table = LanguageIndex(lang=lang)
        phrases: defaultdict[str, Phrases] = defaultdict(list)
        lemma_phrases: defaultdict[str, Phrases] = defaultdict(list)
        for key, term in enumerate(self.key_terms):
            if dead and key in dead:
                continue
            anchor = key in anchors
            if term.wildcard:
                (table.wildcards if anchor else table.deferred_wildcards).add(self._key_forms[key][0], key)
                continue
            for words, capitals in self.key_variants(key, nlp, lang, in_context):
                if anchor:
                    phrases[words[0]].append((words[1:], key))
                else:
                    table.deferred.setdefault(key, []).append((words[0], words[1:]))
                if capitals:
                    table.capitals[key] = capitals
                    table.capital_words.update(words[i] for i in capitals)
            if self.key_lemmas[key] and in_context:
                for lemmas in self._pattern_lemmas(lang, term.text):
                    lemma_phrases[lemmas[0]].append((lemmas[1:], key))
        table.phrases = dict(phrases)
        table.lemma_phrases = dict(lemma_phrases)
        table.letters_glued = nlp.lang in LETTERS_GLUED
        table.finish(punct_test(nlp.vocab), cut_between_letters(nlp))
        return table

    def key_variants(
        self, key: int, nlp: Language, lang: str, in_context: bool
    ) -> Iterator[tuple[tuple[str, ...], tuple[int, ...]]]:
        """The tokens of every form of a term that is no wildcard, each with the positions that
        need capitals (see ``term_variants``)."""
        folded, spans = self._key_forms[key]
        expand = self.key_lemmas[key] and not in_context
        return term_variants(nlp, lang, folded, spans, expand)

    def key_text(self, key: int) -> str:
        """A key's term folded (a wildcard's, with its ``*`` and ``?``)."""
        return self._key_forms[key][0]

    def _pattern_lemmas(self, lang: str, text: str) -> Iterator[tuple[str, ...]]:
        """Lemma sequences an article may show for the term: each word's lemma, or the word itself
        (a rule names headwords; a lemmatizer without context may send "attacco" to "attaccare")."""
        doc = self.pipelines.article_nlp(lang).make_doc(fold_plain(text))
        lemmas = self.pipelines.lemmas(lang, doc)
        choices = [sorted({lemma, token.text}) for lemma, token in zip(lemmas, doc, strict=True)]
        yield from islice(product(*choices), MAX_VARIANTS)
