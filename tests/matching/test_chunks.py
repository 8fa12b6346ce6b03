"""A field's tokens are its chunks' tokens, each chunk cut by spaCy alone (monitor.matching.chunks).

The scan never asks spaCy for a whole field: these tests hold the chunk-wise tokens to spaCy's
own on the whole text, and pin down the one place where they differ.
"""

from __future__ import annotations

import random
import string

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.folding import fold
from monitor.matching.chunks import (
    CLOSING_MARKS,
    LETTERS_GLUED,
    OPENING_MARKS,
    ChunkTokenizer,
    cut_between_letters,
)
from monitor.matching.nlp import LanguagePipelines
from monitor.matching.scan import FieldText
from monitor.models import make_article
from tests.conftest import rule

PIPELINES = LanguagePipelines({"it": "blank", "en": "blank", "xx": "blank"}, "it")
PIECES = [
    "nato", "Nato", "dell'Ucraina", "l’Onu", "Finland's", "anti-NATO", "US$1", "(US$171-million)", "10km",
    "Android/Filecoder.C", "U.S.", "e.g.", "1.5", "v2.0", "https://www.nato.int/x", "mario.rossi@example.com",
    "Dolce&Gabbana", "Windows™", "#Nato🇺🇦", "@NATO", "Ucraina.Il", "cannot", "don't", "gonna", "c'è",
    "«Nato»", "—", "...", "2026,", "12:30", "½", "Straße", "ﬁnanza", "ＮＡＴＯ", "Kyïv", "(1)", ":", ")", "'",
]  # fmt: skip
SPACES = [" ", " ", " ", "  ", "\n", "\n\n  ", "\t", "\u00a0", "   "]


def whole(lang: str, text: str) -> list[tuple[int, str, bool]]:
    doc = PIPELINES.article_nlp(lang).tokenizer(text)
    return [(t.idx, t.text, t.is_punct) for t in doc if not t.is_space]


def news(pieces: list[str], spaces: list[str]) -> str:
    return "".join(piece + space for piece, space in zip(pieces, spaces, strict=False))


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.sampled_from(PIECES), max_size=20),
    st.lists(st.sampled_from(SPACES), min_size=20, max_size=20),
    st.sampled_from(["it", "en", "xx"]),
)
def test_chunks_field_tokens_are_spacys_on_the_whole_text(
    pieces: list[str], spaces: list[str], lang: str
) -> None:
    text = fold(news(pieces, spaces)).text
    field = FieldText("body", text, fold(text), PIPELINES.chunks(lang))
    table = field.table()
    expected = whole(lang, text)
    assert list(zip(table.starts, table.texts, table.punct, strict=True)) == expected
    words = 0
    for at, word, is_punct in expected:  # word numbers count the words before, chunk by chunk
        assert field.word_at(at) == words
        words += not is_punct
        assert field.word_at(at + len(word)) == words


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.sampled_from(PIECES), min_size=1, max_size=25),
    st.lists(st.sampled_from(SPACES), min_size=25, max_size=25),
    st.sampled_from(["it", "en"]),
    st.integers(0, 5),
    st.data(),
)
def test_chunks_near_words_differ_as_word_positions_up_to_the_distance(
    pieces: list[str], spaces: list[str], lang: str, distance: int, data: st.DataObject
) -> None:
    # proximity counts words only between the places it compares, and only up to its distance
    text = fold(news(pieces, spaces)).text
    tokens = whole(lang, text)
    places = sorted({at for start, word, _ in tokens for at in (start, start + len(word))})
    offsets = sorted(data.draw(st.sets(st.sampled_from(places), min_size=1)))
    numbers = FieldText("body", text, fold(text), PIPELINES.chunks(lang)).near_words(offsets, distance)
    exact = FieldText("body", text, fold(text), PIPELINES.chunks(lang))
    for i, a in enumerate(offsets):
        for j in range(i, len(offsets)):
            between = exact.word_at(offsets[j]) - exact.word_at(a)
            if between <= distance:
                assert numbers[j] - numbers[i] == between
            else:
                assert numbers[j] - numbers[i] > distance


def test_chunks_cut_together_are_cut_as_each_alone() -> None:
    nlp = PIPELINES.article_nlp("en")
    chunks = ChunkTokenizer(lambda: nlp)
    asked = [fold(piece).text for piece in PIECES if " " not in piece]
    for chunk, (texts, offsets, punct, words) in zip(asked, chunks.all(asked), strict=True):
        tokens = [t for t in nlp.tokenizer(chunk) if not t.is_space]
        assert list(texts) == [t.text for t in tokens]
        assert list(offsets) == [t.idx for t in tokens]
        assert [bool(punct >> i & 1) for i in range(len(tokens))] == [t.is_punct for t in tokens]
        assert words == sum(not t.is_punct for t in tokens)


@pytest.mark.parametrize("lang", sorted(LETTERS_GLUED))
def test_chunks_tokenizer_cuts_between_two_letters_only_in_special_cases(lang: str) -> None:
    # what lets a chunk of letters alone be one word without spaCy, and a rule's word glued to
    # letters go unread (LETTERS_GLUED)
    nlp = LanguagePipelines({lang: "blank"}, lang).article_nlp(lang)
    glued = cut_between_letters(nlp)
    letters = "abcdefghijklmnopqrstuvwxyzàèéìòùäöüßçñøåæœабвгдежзиклмнопαβγδεζηθικλאבגדהابتثج中文字日本ğış"
    others = "0123456789'’-.,:;!?()[]{}\"«»/\\@#$%^&*_+=<>|~`…–—"
    draw = random.Random(7)
    for _ in range(2_000):
        chunk = "".join(
            draw.choice(letters) if draw.random() < 0.8 else draw.choice(others)
            for _ in range(draw.randint(1, 12))
        )
        tokens = [t for t in nlp.tokenizer(chunk) if not t.is_space]
        alone = [t.text for t in tokens] == [chunk]
        if chunk.isalpha() and chunk not in nlp.tokenizer.rules:
            assert alone, chunk
        for token in tokens[1:]:
            at = token.idx
            if chunk[at - 1].isalpha() and chunk[at].isalpha():
                assert any(special in chunk for special in glued), (chunk, [t.text for t in tokens])


def _real_words(lang: str) -> list[str]:
    """Words of the language as spaCy's data has them: stop words, lemma table forms, and the
    tokenizer's own special cases (cannot, etc, mr…), lowercase letters alone."""
    from monitor.matching.acronyms import _vocabulary

    nlp = PIPELINES.article_nlp(lang)
    words = {w.lower() for w in [*_vocabulary(lang), *nlp.tokenizer.rules]}
    words |= {w.lower().rstrip(".") for w in nlp.tokenizer.rules}
    return sorted(w for w in words if w.isascii() and w.isalpha())


@pytest.mark.parametrize("lang", sorted(LETTERS_GLUED))
def test_chunks_a_word_between_marks_is_cut_as_spacy_cuts_it(lang: str) -> None:
    # the chunks cut without spaCy (a word of letters between an opening and a closing mark)
    # are cut exactly as spaCy cuts them, for generated words and the language's real ones
    nlp = LanguagePipelines({lang: "blank"}, lang).article_nlp(lang)
    draw = random.Random(11)
    generated = ["".join(draw.choices(string.ascii_lowercase, k=draw.randint(1, 12))) for _ in range(1500)]
    real = _real_words(lang) if lang in ("it", "en") else []
    words = generated + draw.sample(real, min(len(real), 4000)) + [w for w in real if len(w) <= 3]
    chunks = [
        draw.choice(["", "", *OPENING_MARKS]) + word + draw.choice(["", "", *CLOSING_MARKS]) for word in words
    ]
    chunks += [first + word for first in OPENING_MARKS for word in real[:: max(1, len(real) // 300)]]
    chunks += [word + last for last in CLOSING_MARKS for word in real[:: max(1, len(real) // 300)]]
    tokenizer = ChunkTokenizer(lambda: nlp)
    shortcut = 0
    for chunk in dict.fromkeys(chunks):
        cut = tokenizer._without_spacy(chunk)
        if cut is None:
            continue
        shortcut += 1
        tokens = [t for t in nlp.tokenizer(chunk) if not t.is_space]
        texts, offsets, punct, count = cut
        assert list(texts) == [t.text for t in tokens], chunk
        assert list(offsets) == [t.idx for t in tokens], chunk
        assert [bool(punct >> i & 1) for i in range(len(tokens))] == [t.is_punct for t in tokens], chunk
        assert count == sum(not t.is_punct for t in tokens), chunk
    assert shortcut > len(chunks) // 2


def test_chunks_a_special_case_straddling_a_space_is_where_chunks_and_whole_text_differ() -> None:
    # spaCy applies special cases of several pieces (emoticons) with a phrase matcher over the
    # whole text; a match across a space, discarded, can stop one in the next chunk: ":|" is one
    # token alone but two after "natoi) ". Cut alone, a chunk is always cut the same way.
    text = "natoi) :|@"
    assert [t[1] for t in whole("it", text)] == ["natoi", ")", ":", "|", "@"]
    field = FieldText("body", text, fold(text), PIPELINES.chunks("it"))
    assert field.table().texts == ["natoi", ")", ":|", "@"]


def test_matcher_reads_a_word_cut_off_after_digits_or_by_a_special_case() -> None:
    from monitor.matching.compiler import RuleIndex
    from monitor.matching.matcher import ArticleMatcher

    matcher = ArticleMatcher(RuleIndex([rule("km", "km"), rule("not", "not")], PIPELINES))

    def fired(body: str, language: str) -> set[str]:
        article = make_article(title="", body=body, source="t", origin="t", language=language)
        return {m.rule_id for m in matcher.match(article)}

    assert fired("a 10km dal confine", "it") == {"km"}  # spaCy cuts a unit off a number
    assert fired("we cannot say", "en") == {"not"}  # … and English "cannot" into can, not
    assert fired("kmnot notturno", "it") == set()  # glued to letters: no token there
