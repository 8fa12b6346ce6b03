"""All rules → one index: every distinct term once, one token table per language.

An article is tokenized once and its tokens scanned once, whatever the number
of rules; boolean logic then runs only for the rules one of whose terms
occurred (a rule that could fire with none of its terms present is refused by
the rule loader).

The table maps the hash of a phrase's first token (spaCy's ORTH, the murmur
hash of the folded text) to the phrases starting with it.  Whether a word
starts anything is decided once per word, when spaCy creates its lexeme, and
kept in one of the lexeme's flag bits: the scan of a field reads that column
in C and touches in Python only the tokens that start something.  Against a
PhraseMatcher over the same phrases it scans as fast and builds far faster (no
pattern Docs, no lexemes for rule terms), which is what keeps a reload of a
large rule set short.
"""

from __future__ import annotations

import re
import threading
import weakref
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from itertools import islice, product

from spacy.attrs import FLAG62, FLAG63, IS_PUNCT
from spacy.language import Language
from spacy.strings import StringStore, get_string_id
from spacy.vocab import Vocab

from monitor.folding import fold_plain
from monitor.matching.acronyms import common_words
from monitor.matching.lemmas import MAX_VARIANTS, lemma_table
from monitor.matching.nlp import LanguagePipelines, lex_attr_getters
from monitor.matching.query import And, Near, Node, Or, Term, terms
from monitor.matching.rulefile import RuleSpec
from monitor.matching.wildcard import MAX_WILDCARD_WORD, Wildcard

_WORD = re.compile(r"[^\W_]+")
_PLAIN = re.compile(r"[a-z]+|[0-9]+")
# Words remembered that wildcards match, per generation (see WildcardSet.remember): bounds its memory.
TOKEN_CACHE_LIMIT = 10_000


def acronym_spans(text: str) -> tuple[tuple[int, int], ...]:
    """Spans of words written in capitals (NATO, USA, UE): those must not match lowercase words."""
    return tuple(
        m.span()
        for m in _WORD.finditer(text)
        if m.group().isupper() and sum(c.isalpha() for c in m.group()) >= 2
    )


def term_key(term: Term, lemmas: bool = False) -> str:
    """Identity of a term across rules: how it is matched, its folded text, where capitals count."""
    if term.wildcard:
        return f"wild:{fold_plain(term.text)}"
    marks = ",".join(f"{s}-{e}" for s, e in acronym_spans(term.text))
    return f"{'lemma' if lemmas else 'exact'}:{fold_plain(term.text)}|{marks}"


@dataclass(frozen=True, slots=True)
class CompiledRule:
    spec: RuleSpec
    keys: dict[int, int]  # id() of every Term node of the query → its key id (no dataclass hashing)
    positive_terms: tuple[Term, ...]  # the Term nodes that can make it true, in query order
    positive_keys: tuple[int, ...]  # their keys
    # the query is one term or an OR of terms, none scoped to a field: it holds when one of them
    # occurred, which the matcher learns while gathering the mentions (most rules of a desk are)
    any_of: bool


def is_any_of(node: Node) -> bool:
    """Whether ``node`` is a term, or ORs of terms, none scoped to a field."""
    if isinstance(node, Term):
        return node.field is None
    return isinstance(node, Or) and all(is_any_of(item) for item in node.items)


Phrases = list[tuple[tuple[int, ...], int]]  # (the tokens after the first, term key) of each phrase
# What one word starts: the keys it matches alone (one-word terms, wildcards), and the longer
# phrases it begins, by their second token (a common first word may begin thousands of them).
Entry = tuple[tuple[int, ...], dict[int, Phrases] | None]

# The lexeme flag bit that marks the words starting something in the table a vocabulary serves.
# spaCy's own flags end at IS_CURRENCY (18); FLAG19…FLAG63 are left to applications.
START = FLAG63
# The flag bit of the words that match a wildcard term that wakes no rule (see LanguageIndex).
WILD = FLAG62


def _never(_text: str) -> bool:
    return False


class WildcardSet:
    """Prefix (``negozia*``) and pattern (``n?to``) terms, and the words found to match them.

    Whether a word matches is asked once per word (when spaCy creates its lexeme) and its keys
    are remembered, so a scan finds them by the token's hash.  A prefix is one comparison; a
    pattern is tested against every word, in time linear in the word's length (see
    ``monitor.matching.wildcard``), and never against a word longer than MAX_WILDCARD_WORD.
    """

    __slots__ = (
        "__weakref__",
        "all_keys",
        "heads",
        "is_punct",
        "learnt",
        "lengths",
        "older",
        "patterns",
        "prefixes",
        "shortest",
        "term_of",
    )

    def __init__(self) -> None:
        self.prefixes: dict[str, list[int]] = {}
        self.lengths: tuple[int, ...] = ()
        self.shortest = 0
        self.heads: frozenset[str] = frozenset()  # every prefix cut to ``shortest`` characters
        self.patterns: list[tuple[Wildcard, int]] = []
        self.is_punct: Callable[[str], bool] = _never
        self.learnt: dict[int, tuple[int, ...]] = {}  # word hash → its keys (see ``learnt_keys``)
        self.older: dict[int, tuple[int, ...]] = {}  # the generation before ``learnt``
        self.all_keys: frozenset[int] = frozenset()
        self.term_of: dict[int, str | Wildcard] = {}  # key → its prefix, or its pattern

    def add(self, text: str, key: int) -> None:
        head, star, tail = text.partition("*")
        if star and not tail and "?" not in head:
            self.prefixes.setdefault(head, []).append(key)
        else:
            self.patterns.append((Wildcard(text), key))

    def finish(self, is_punct: Callable[[str], bool]) -> None:
        self.is_punct = is_punct
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

    def matches(self, word: str, *, remember: bool = True) -> bool:
        """Whether an article word (folded) matches; unless told not to, its keys are remembered
        for ``learnt_keys``."""
        if not self or self.is_punct(word):
            return False
        keys = self.keys(word)
        if keys and remember:
            self.remember(get_string_id(word), keys)  # what ``learnt_keys`` is asked next
        return bool(keys)

    def matching(self, key: int, words: Sequence[str]) -> list[int]:
        """The indexes of the ``words`` (folded, none punctuation) that match the term of ``key``.

        What a woken rule asks of a deferred wildcard: one test per word of the article that
        matches some deferred wildcard, instead of working out every such word's keys.
        """
        term = self.term_of[key]
        if isinstance(term, str):
            return [i for i, word in enumerate(words) if word.startswith(term)]
        return [i for i, word in enumerate(words) if len(word) <= MAX_WILDCARD_WORD and term.matches(word)]

    def prefix_of(self, key: int) -> str | None:
        """The prefix of a ``prefix*`` term, None for a pattern (``?ato``, ``att*co``)."""
        term = self.term_of[key]
        return term if isinstance(term, str) else None

    def learnt_keys(self, orth: int, strings: StringStore) -> tuple[int, ...]:
        """The keys of a word that ``matches`` said yes to."""
        found = self.learnt.get(orth)
        if found is None:
            found = self.older.get(orth)
            if found is None:
                found = self.keys(strings[orth])
            self.remember(orth, found)
        return found

    def remember(self, orth: int, keys: tuple[int, ...]) -> None:
        """Keep a word's keys, in two generations of at most TOKEN_CACHE_LIMIT words: when one is
        full it becomes the older and a new one starts, and a word met again is carried over.

        News brings new words in every article (names, typos), each remembered when spaCy makes
        it; a cache that simply started over when full then had to work out again the keys of
        every common word, over and over in a large index.
        """
        learnt = self.learnt
        if len(learnt) >= TOKEN_CACHE_LIMIT:
            self.older, self.learnt = learnt, {}
        self.learnt[orth] = keys

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

    The scanned part holds the anchors, the terms that wake rules up (see ``_anchors``):
    whether an article word starts one is a property of the word alone, so it is decided once
    per word, when spaCy creates its lexeme, and kept in a flag bit of the lexeme
    (``mark_starts``).  A scan then reads the flag column of the whole field in one C call and
    does Python work only for the few tokens that start something: ``starts`` (or
    ``wildcard_entry``) says what each starts.

    The other terms are only looked up when a woken rule asks about them (``deferred``, and
    ``deferred_wildcards`` whose words carry the WILD flag).  Measured on generated news at
    10,000 rules, an article's words start about a hundred terms and five anchors.
    """

    phrases: dict[int, Phrases] = field(default_factory=dict)  # anchors, by first token
    # lemma sequences of lemma terms, when a trained pipeline lemmatizes articles in context
    lemma_phrases: dict[int, Phrases] = field(default_factory=dict)
    capitals: dict[int, tuple[int, ...]] = field(default_factory=dict)  # key → pattern tokens in capitals
    wildcards: WildcardSet = field(default_factory=WildcardSet)  # anchors
    starts: dict[int, Entry] = field(default_factory=dict)  # first-token hash → what it starts
    first_words: frozenset[str] = frozenset()  # the same first tokens, as text
    # not anchors: key → its forms, each as (first token, the tokens after it)
    deferred: dict[int, list[tuple[int, tuple[int, ...]]]] = field(default_factory=dict)
    deferred_wildcards: WildcardSet = field(default_factory=WildcardSet)
    lazy_keys: frozenset[int] = frozenset()  # the keys of both
    lang: str = ""
    capital_words: set[str] = field(default_factory=set)  # the folded words that need capitals
    _common: frozenset[str] | None = None  # those of them that are common words of ``lang``

    def finish(self, first_words: dict[int, str], is_punct: Callable[[str], bool]) -> None:
        """Build the look-up table once phrases and wildcards are known."""
        self.wildcards.finish(is_punct)
        self.deferred_wildcards.finish(is_punct)
        for orth, phrases in self.phrases.items():
            word = first_words[orth]
            alone = [key for rest, key in phrases if not rest]
            if not is_punct(word):
                alone.extend(self.wildcards.keys(word))
            longer: defaultdict[int, Phrases] = defaultdict(list)
            for rest, key in phrases:
                if rest:
                    longer[rest[0]].append((rest[1:], key))
            self.starts[orth] = (tuple(alone), dict(longer) if longer else None)
        self.first_words = frozenset(first_words.values())
        self.lazy_keys = frozenset(self.deferred.keys() | self.deferred_wildcards.all_keys)

    def mark_starts(self, vocab: Vocab) -> None:
        """Flag (START) the vocabulary's words that start an anchor here, and (WILD) those that
        match a deferred wildcard, and have spaCy flag each word it creates from now on.

        A vocabulary serves one table at a time: the first scan with another table (after a
        reload) marks every word again, tens of milliseconds for a warmed-up vocabulary.
        """
        getter = lex_attr_getters(vocab).get(START)
        if not (isinstance(getter, _StartTest) and getter.table() is self):
            vocab.add_flag(_StartTest(self), START)
            vocab.add_flag(_WildTest(self.deferred_wildcards, remember=False), WILD)

    def is_common_word(self, word: str) -> bool:
        """Whether a folded word that a term needs in capitals is a common word of the language
        (see ``acronyms``): asked only of a title-case word opening a sentence, and answered for
        every such word of the table the first time."""
        common = self._common
        if common is None:
            common = self._common = common_words(self.lang, self.capital_words)
        return word in common or (word not in self.capital_words and bool(common_words(self.lang, (word,))))

    def wildcard_entry(self, orth: int, strings: StringStore) -> Entry:
        """What a flagged token that is no phrase's first word (not in ``starts``) starts."""
        return self.wildcards.learnt_keys(orth, strings), None


class _WildTest:
    """A wildcard flag's getter, called by spaCy for every word it creates: the word matches one
    of the set's terms.  Most words are answered by one set look-up (``may_match``).

    Only the anchors' wildcards remember each word's keys, which the scan reads for every
    flagged token; a deferred wildcard is asked about only when a rule wakes (``matching``).
    """

    __slots__ = ("remember", "wildcards")

    def __init__(self, wildcards: WildcardSet, *, remember: bool = True) -> None:
        self.wildcards = weakref.ref(wildcards)
        self.remember = remember

    def __call__(self, word: str) -> bool:
        wildcards = self.wildcards()
        return (
            wildcards is not None
            and wildcards.may_match(word)
            and wildcards.matches(word, remember=self.remember)
        )


class _StartTest(_WildTest):
    """The START flag's getter: the word is an anchor phrase's first word, or matches an anchor
    wildcard.

    The table is held weakly: a vocabulary must not keep a swapped-out index alive, and once
    that index is gone nobody reads its flags.
    """

    __slots__ = ("first_words", "table")

    def __init__(self, table: LanguageIndex) -> None:
        super().__init__(table.wildcards)
        self.table = weakref.ref(table)
        self.first_words = table.first_words

    def __call__(self, word: str) -> bool:
        return word in self.first_words or super().__call__(word)


def punct_test(vocab: Vocab) -> Callable[[str], bool]:
    """The language's own IS_PUNCT test: punctuation never matches a wildcard."""
    return lex_attr_getters(vocab).get(IS_PUNCT, _never)  # type: ignore[return-value]


class RuleIndex:
    """The compiled form of a rule set, shared by every article until the next reload."""

    def __init__(self, specs: Sequence[RuleSpec], pipelines: LanguagePipelines) -> None:
        self.pipelines = pipelines
        self.rules: list[CompiledRule] = []
        self.key_ids: dict[str, int] = {}
        self.key_terms: list[Term] = []  # key id → the term as first written
        self.key_lemmas: list[bool] = []
        self.rules_by_key: dict[int, list[int]] = defaultdict(list)
        for spec in specs:
            keys: dict[int, int] = {}
            positive: set[int] = set()
            for term, is_positive in terms(spec.expr):
                key = keys[id(term)] = self._key_id(term, spec.lemmas)
                if is_positive:
                    positive.add(key)
            index = len(self.rules)
            positive_terms = tuple(t for t, is_positive in terms(spec.expr) if is_positive)
            positive_keys = tuple(keys[id(t)] for t in positive_terms)
            any_of = is_any_of(spec.expr)
            self.rules.append(CompiledRule(spec, keys, positive_terms, positive_keys, any_of))
            for key in _anchors(spec.expr, keys) or positive:
                self.rules_by_key[key].append(index)
        self._languages: dict[str, LanguageIndex] = {}
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self.rules)

    def _key_id(self, term: Term, lemmas: bool) -> int:
        key = term_key(term, lemmas)
        found = self.key_ids.get(key)
        if found is None:
            found = self.key_ids[key] = len(self.key_terms)
            self.key_terms.append(term)
            self.key_lemmas.append(lemmas and not term.wildcard)
        return found

    @property
    def languages(self) -> tuple[str, ...]:
        """The languages whose tables are built: those articles have met, and the default one."""
        with self._lock:
            return tuple(self._languages)

    def for_language(self, lang: str) -> LanguageIndex:
        with self._lock:
            if lang not in self._languages:
                self._languages[lang] = self._build(lang)
            return self._languages[lang]

    def build(self, languages: Sequence[str]) -> RuleIndex:
        """Build the tables of ``languages`` now (before a swap), rather than on first use."""
        for lang in languages:
            self.for_language(lang)
        return self

    def _build(self, lang: str) -> LanguageIndex:
        nlp = self.pipelines.pattern_nlp(lang)
        in_context = any(self.key_lemmas) and self.pipelines.trained_lemmatizer(lang)
        anchors = self.rules_by_key.keys()
        table = LanguageIndex(lang=lang)
        phrases: defaultdict[int, Phrases] = defaultdict(list)
        lemma_phrases: defaultdict[int, Phrases] = defaultdict(list)
        first_words: dict[int, str] = {}
        for key, term in enumerate(self.key_terms):
            anchor = key in anchors
            if term.wildcard:
                (table.wildcards if anchor else table.deferred_wildcards).add(fold_plain(term.text), key)
                continue
            expand = self.key_lemmas[key] and not in_context
            for words, capitals in _variants(nlp, lang, term.text, expand):
                orths = tuple(get_string_id(word) for word in words)
                if anchor:
                    first_words[orths[0]] = words[0]
                    phrases[orths[0]].append((orths[1:], key))
                else:
                    table.deferred.setdefault(key, []).append((orths[0], orths[1:]))
                if capitals:
                    table.capitals[key] = capitals
                    table.capital_words.update(words[i] for i in capitals)
            if self.key_lemmas[key] and in_context:
                for lemmas in self._pattern_lemmas(lang, term.text):
                    lemma_phrases[lemmas[0]].append((lemmas[1:], key))
        table.phrases = dict(phrases)
        table.lemma_phrases = dict(lemma_phrases)
        table.finish(first_words, punct_test(nlp.vocab))
        return table

    def _pattern_lemmas(self, lang: str, text: str) -> Iterator[tuple[int, ...]]:
        """Lemma sequences an article may show for the term: each word's lemma, or the word itself
        (a rule names headwords; a lemmatizer without context may send "attacco" to "attaccare")."""
        doc = self.pipelines.article_nlp(lang).make_doc(fold_plain(text))
        lemmas = self.pipelines.lemmas(lang, doc)
        choices = [sorted({lemma, token.text}) for lemma, token in zip(lemmas, doc, strict=True)]
        for combination in islice(product(*choices), MAX_VARIANTS):
            yield tuple(get_string_id(word) for word in combination)


def _anchors(node: Node, keys: dict[int, int]) -> set[int] | None:
    """Keys of which at least one must occur for ``node`` to hold; None when no such set exists.

    The index only wakes a rule up for these: for ``(Finlandia OR Suomi) AND (voto OR elezioni)``
    the names are enough, and the common words no longer make the rule a candidate in every
    article that mentions a vote.  The rarer-looking side of an AND is chosen (phrases, names
    in capitals and long words are rarer than short lowercase words).
    """
    if isinstance(node, Term):
        return {keys[id(node)]}
    if isinstance(node, Or):
        union: set[int] = set()
        for item in node.items:
            anchors = _anchors(item, keys)
            if anchors is None:
                return None
            union |= anchors
        return union
    if isinstance(node, And | Near):
        options = [a for item in node.items if (a := _anchors(item, keys)) is not None]
        if not options:
            return None
        by_key = {keys[id(term)]: term for term, _ in terms(node)}  # once: an AND may hold thousands
        return min(options, key=lambda a: _commonness(a, by_key))
    return None  # Not, Meta: their truth needs no occurrence


def _commonness(anchors: set[int], by_key: dict[int, Term]) -> float:
    return sum(_term_commonness(by_key[key].text) for key in anchors if key in by_key)


def _term_commonness(text: str) -> float:
    """A guess at how often a term occurs: a lowercase short word often, a phrase or a name rarely."""
    if " " in text:
        return 0.1
    if text[:1].isupper():
        return 0.3
    return 1.0 + 8.0 / max(len(text), 1)


def pattern_tokens(nlp: Language, folded: str) -> list[tuple[str, int]]:
    """Tokens of a folded term (text, offset), exactly as the article tokenizer would cut them.

    Plain lowercase words and numbers that are no tokenizer exception are one
    token each: that shortcut skips spaCy for most terms and keeps reloads fast.
    """
    words = folded.split(" ")
    special = getattr(nlp.tokenizer, "rules", None) or {}
    if all(_PLAIN.fullmatch(w) and w not in special for w in words):
        tokens, offset = [], 0
        for word in words:
            tokens.append((word, offset))
            offset += len(word) + 1
        return tokens
    return [(t.text, t.idx) for t in nlp.tokenizer(folded) if not t.is_space]


def _variants(
    nlp: Language, lang: str, text: str, lemmas: bool
) -> Iterator[tuple[tuple[str, ...], tuple[int, ...]]]:
    """The tokens of every form of a term, each with the positions that need capitals."""
    folded = fold_plain(text)
    tokens = pattern_tokens(nlp, folded)
    if not tokens:
        return
    spans = acronym_spans(text)
    capitals = tuple(
        i for i, (tok, idx) in enumerate(tokens) if any(idx < e and idx + len(tok) > s for s, e in spans)
    )
    if not lemmas:
        yield tuple(tok for tok, _ in tokens), capitals
        return
    table = lemma_table(lang)
    choices = [
        sorted(f for f in table.variants(tok) if len(pattern_tokens(nlp, f)) == 1) if tok.isalpha() else [tok]
        for tok, _ in tokens
    ]
    for combination in islice(product(*choices), MAX_VARIANTS):
        yield tuple(combination), capitals
