"""A reload's index, made of what the running one already compiled: the cost of an edit is the edit's.

A cold build compiles every rule and works out, for every term and language,
the tokens of each of its forms (spaCy's tokenizer, the lemma table), then
lays them out in the token tables.  After an edit nearly all of that is the
same as in the running index.  :func:`rebuild_index` builds the new index
on the running one's (``RuleIndex(..., previous=...)``): the term keys stay,
the compiled rules of unchanged specs are taken over, and each language's
table is the running table with the changes applied: the keys that were
added, dropped, or became or stopped being anchors (the terms that wake rules
up) have their forms worked out again and put in or taken out; the rest of
the table is shared, read-only, with the running one.  What depends on every
term at once is rebuilt whole: the needles' automaton (a pyahocorasick
automaton cannot be changed without being rebuilt) and the set of keys
looked up on demand.  The chunk caches (``plain``, ``chunk_anchors``) start
empty, as in any new table.  A language whose articles are lemmatized in
context (a trained pipeline with a lemmatizer, for lemma rules) and one the
running index has not met get a cold table.

It answers exactly as a cold build would (a property test holds it to one).
Two things differ and cannot be seen: the key ids (a cold build numbers keys
in rule order), and the words known to need capitals, a superset of the
cold build's (``LanguageIndex.is_common_word`` answers the same for any
superset).  Keys no rule uses any more stay in the index, unused; when they
are over a thousand and a quarter of the live ones, the next reload is a cold
build, which drops them.

Like the cold build it runs on the reload's thread, swaps in nothing, and
reads of the running index only what matching never changes.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from monitor.gcpause import collector_paused
from monitor.matching.chunks import LETTERS_GLUED, cut_between_letters
from monitor.matching.compiler import LanguageIndex, Phrases, RuleIndex, WildcardSet, punct_test
from monitor.matching.rulefile import RuleSpec
from monitor.matching.wildcard import MAX_WILDCARD_WORD

__all__ = ["KeyChange", "rebuild_index"]

# A reload builds cold once the keys no rule uses are this many, and a quarter of the live ones.
_DEAD_KEYS_FLOOR = 1_000
Tokens = tuple[str, ...]


def rebuild_index(previous: RuleIndex, specs: Sequence[RuleSpec], languages: Iterable[str]) -> RuleIndex:
    """The index of ``specs`` with the tables of ``languages`` built, answering as
    ``RuleIndex(specs, previous.pipelines).build(languages)`` does, made from ``previous``."""
    wanted = sorted(set(languages))
    live = len(previous.key_terms) - len(previous.dead)
    if len(previous.dead) > max(_DEAD_KEYS_FLOOR, live // 4):
        return RuleIndex(specs, previous.pipelines).build(wanted)
    with collector_paused():
        index = RuleIndex(specs, previous.pipelines, previous=previous)
        change = KeyChange.between(previous, index)
        running = previous.tables()
        for lang in wanted:
            old = running.get(lang)
            if old is not None and not index.in_context(lang) and not previous.in_context(lang):
                index.adopt(lang, _carried(index, old, lang, change))
            else:
                index.for_language(lang)
    return index


@dataclass(frozen=True)
class KeyChange:
    """The keys whose place in the tables differs between two indexes sharing their key ids: those
    that joined or left the anchors, and those that began or stopped being used by a rule."""

    was_anchor: frozenset[int]
    is_anchor: frozenset[int]
    was_live: frozenset[int]
    is_live: frozenset[int]

    @classmethod
    def between(cls, old: RuleIndex, new: RuleIndex) -> KeyChange:
        old_anchors, new_anchors = old.rules_by_key.keys(), new.rules_by_key.keys()
        old_live = frozenset(range(len(old.key_terms))) - old.dead
        new_live = frozenset(range(len(new.key_terms))) - new.dead
        moved = (old_anchors ^ new_anchors) | (old_live ^ new_live)
        return cls(
            frozenset(moved & old_anchors),
            frozenset(moved & new_anchors),
            frozenset(moved & old_live),
            frozenset(moved & new_live),
        )

    @property
    def keys(self) -> frozenset[int]:
        return self.was_live | self.is_live

    def left(self, anchors: bool) -> frozenset[int]:
        """The keys that left the anchors (``anchors``), or the keys looked up on demand."""
        if anchors:
            return self.was_anchor - self.is_anchor
        return (self.was_live - self.was_anchor) - (self.is_live - self.is_anchor)

    def joined(self, anchors: bool) -> frozenset[int]:
        """The keys that joined the anchors (``anchors``), or the keys looked up on demand."""
        if anchors:
            return self.is_anchor - self.was_anchor
        return (self.is_live - self.is_anchor) - (self.was_live - self.was_anchor)


def _carried(index: RuleIndex, old: LanguageIndex, lang: str, change: KeyChange) -> LanguageIndex:
    """``old`` (the running index's table of ``lang``) with ``change`` applied, for ``index``."""
    nlp = index.pipelines.pattern_nlp(lang)
    wild = frozenset(key for key in change.keys if index.key_terms[key].wildcard)
    forms = {key: list(index.key_variants(key, nlp, lang, False)) for key in change.keys - wild}
    words = {key: [tokens for tokens, _capitals in variants] for key, variants in forms.items()}
    table = LanguageIndex(lang=lang, letters_glued=nlp.lang in LETTERS_GLUED)
    table.phrases, touched = _phrases(old.phrases, words, change.left(True), change.joined(True))
    table.deferred = dict(old.deferred)
    for key in change.left(False) - wild:
        table.deferred.pop(key, None)
    for key in sorted(change.joined(False) - wild):
        if words[key]:
            table.deferred[key] = [(tokens[0], tokens[1:]) for tokens in words[key]]
    table.capitals = dict(old.capitals)
    table.capital_words = set(old.capital_words)  # a superset of the live keys': see the module
    for key in change.was_live - change.is_live:
        table.capitals.pop(key, None)
    for key in sorted(change.is_live - change.was_live - wild):
        for tokens, capitals in forms[key]:
            if capitals:
                table.capitals[key] = capitals
                table.capital_words.update(tokens[i] for i in capitals)
    table.wildcards = _wildcards(index, old.wildcards, change.left(True), change.joined(True) & wild)
    table.deferred_wildcards = _wildcards(
        index, old.deferred_wildcards, change.left(False), change.joined(False) & wild
    )
    stale = touched | _matched_by(old.wildcards, table.wildcards, table.phrases)
    table.starts = {word: entry for word, entry in old.starts.items() if word not in stale}
    table.finish(punct_test(nlp.vocab), cut_between_letters(nlp))  # the entries of ``stale``, the needles
    return table


def _phrases(
    old: dict[str, Phrases], forms: dict[int, list[Tokens]], left: Iterable[int], joined: Iterable[int]
) -> tuple[dict[str, Phrases], set[str]]:
    """``old`` (phrases by first token) less the phrases of the keys that ``left``, with those of
    the keys that ``joined``, and the first tokens whose phrases changed.  Each list stays in key
    order, as a cold build has it."""
    removed: dict[str, set[int]] = {}
    for key in left:
        for tokens in forms.get(key, ()):
            removed.setdefault(tokens[0], set()).add(key)
    added: dict[str, Phrases] = {}
    for key in sorted(joined):
        for tokens in forms.get(key, ()):
            added.setdefault(tokens[0], []).append((tokens[1:], key))
    phrases = dict(old)
    touched = removed.keys() | added.keys()
    for word in touched:
        dropping = removed.get(word, set())
        kept = [entry for entry in old.get(word, ()) if entry[1] not in dropping]
        kept += added.get(word, [])
        kept.sort(key=lambda entry: entry[1])  # stable: a key's forms keep their order
        if kept:
            phrases[word] = kept
        else:
            phrases.pop(word, None)
    return phrases, touched


def _wildcards(
    index: RuleIndex, old: WildcardSet, left: frozenset[int], joined: frozenset[int]
) -> WildcardSet:
    """``old`` less the wildcards that ``left``, with those that ``joined``, added in key order as
    a cold build adds them (a new set: the running table keeps its own)."""
    fresh = WildcardSet()
    for key in sorted((old.all_keys - left) | joined):
        fresh.add(index.key_text(key), key)
    fresh.finish()
    return fresh


def _matched_by(old: WildcardSet, new: WildcardSet, words: Iterable[str]) -> set[str]:
    """The ``words`` that a wildcard found in only one of ``old`` and ``new`` matches: what they
    start (``LanguageIndex.starts``) lists the wildcards they match."""
    changed = old.all_keys ^ new.all_keys
    if not changed:
        return set()
    prefixes = {
        prefix
        for wildcards in (old, new)
        for prefix, keys in wildcards.prefixes.items()
        if not changed.isdisjoint(keys)
    }
    patterns = [pattern for wildcards in (old, new) for pattern, key in wildcards.patterns if key in changed]
    return {
        word
        for word in words
        if any(word.startswith(prefix) for prefix in prefixes)
        or (len(word) <= MAX_WILDCARD_WORD and any(pattern.matches(word) for pattern in patterns))
    }
