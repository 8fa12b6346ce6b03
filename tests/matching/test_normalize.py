"""Folding: the fast path gives exactly what translating every non-ASCII run gives."""

from __future__ import annotations

import unicodedata

import pytest
from anyascii import anyascii
from hypothesis import example, given, settings
from hypothesis import strategies as st

from monitor.folding import (
    _DROPPED_CHARS,
    _NON_ASCII,
    _TABLE_RANGES,
    _UNMAPPED,
    _code_unit_table,
    _fold_char,
    _fold_code_units,
    _fold_lowered,
    _fold_non_ascii,
    _lower,
    _split_hyphenated,
    _translate_run,
    distinct_non_ascii,
    fold,
    fold_plain,
)

NEWS_CHARS = "àèéìòùçñüößæøœł’‘“”«»–—…\u00a0\u2009\u200bÆǝɛΓγπυ−｀ｅ"


@settings(max_examples=max(300, settings.default.max_examples), deadline=None)
@given(st.text(st.sampled_from(NEWS_CHARS + "abc XYZ'-`")) | st.text())
def test_normalize_fold_non_ascii_agrees_with_translating_each_run(text: str) -> None:
    assert _fold_non_ascii(text) == _NON_ASCII.sub(_translate_run, text)


@given(st.text(st.sampled_from(NEWS_CHARS + "abc XYZ'-`")) | st.text())
@example("lone \ud800 surrogate and \U0001f600 beyond the BMP")
def test_normalizedistinct_non_ascii_are_the_characters_beyond_ascii(text: str) -> None:
    assert distinct_non_ascii(text) == {c for c in text if ord(c) > 0x7F}


def test_lowering_neither_makes_nor_unmakes_a_dropped_character() -> None:
    # fold() asks the lowered text whether anything must be dropped: true for every code point
    for code in range(0x110000):
        char = chr(code)
        lowered = char.lower()
        if len(lowered) == 1:  # longer lowerings (İ) are kept whole by fold
            assert (char in _DROPPED_CHARS) == (lowered in _DROPPED_CHARS), hex(code)


def _fold_by_the_general_path(text: str) -> str:
    return _fold_lowered(_lower(text))


@settings(max_examples=max(300, settings.default.max_examples), deadline=None)
@given(st.text(st.sampled_from(NEWS_CHARS + "abc XYZ'-`\t\nΣσςİı\u0301\u00ad\U0001f600")) | st.text())
@example("ΟΔΟΣ Σ ΣΑ: the capital sigma lowers by its place in the word")
@example("İstanbul lowers to two characters")
@example("lone \ud800 surrogate and \U0001f600 beyond the BMP")
@example("\uffff is no character")
def test_normalize_fold_by_code_units_agrees_with_the_general_path(text: str) -> None:
    mapped = _fold_code_units(text)  # hyphens between letters are split after it
    if mapped is not None:
        assert _split_hyphenated(mapped) == _fold_by_the_general_path(text)
    if not (set(text) & _DROPPED_CHARS):  # else offsets shift, and fold keeps breakpoints
        assert fold(text).text == _fold_by_the_general_path(text)


def test_normalize_fold_by_code_units_takes_italian_news() -> None:
    assert _fold_code_units("L’Ucraina chiede il «cessate il fuoco»: è l’ora") == (
        "l'ucraina chiede il «cessate il fuoco»: e l'ora"
    )


def test_normalize_fold_by_code_units_agrees_on_every_character_it_maps() -> None:
    table = _code_unit_table()
    mapped = [chr(code) for code in range(0x10000) if table[code] != _UNMAPPED]
    assert len(mapped) > 60_000 and "\u03a3" not in mapped and "\u0130" not in mapped
    text = "è " + " ".join(mapped)  # spaces apart: a hyphen between letters is split, not mapped
    folded = _fold_code_units(text)
    assert folded is not None
    assert _split_hyphenated(folded) == _fold_by_the_general_path(text)


@pytest.mark.parametrize(
    ("written", "folded"),
    [
        ("Łódź", "lodz"),
        ("Straße", "strasse"),
        ("STRAẞE", "strasse"),
        ("Đoković", "dokovic"),
        ("Øresund", "oresund"),
        ("Ħamrun", "hamrun"),
        ("Dıyarbakır", "diyarbakir"),
        ("Æbeltoft", "aebeltoft"),
        ("Œuvre", "oeuvre"),
        ("Þórshöfn", "thorshofn"),
        ("ﬁnanza e ﬂussi", "finanza e flussi"),  # ligatures of text copied from a PDF
        ("ＮＡＴＯ ｅ ＵＥ", "nato e ue"),  # full-width letters
        ("𝐍𝐀𝐓𝐎", "nato"),  # mathematical bold, as in social posts
    ],
)
def test_normalize_fold_spells_letters_decomposition_does_not_fold(written: str, folded: str) -> None:
    assert fold_plain(written) == folded


def test_normalize_fold_takes_latin_spellings_from_anyascii() -> None:
    # the table is anyascii's for every cased Latin letter that decomposition leaves alone
    checked = 0
    for code in range(0x80, 0x250):
        char = chr(code)
        base = unicodedata.normalize("NFKD", char)
        spelt = anyascii(char).lower()
        if base == char and char.isalpha() and (char.islower() or char.isupper()) and spelt.isalpha():
            assert fold_plain(char) == spelt, hex(code)
            checked += 1
    assert checked > 100


def test_normalize_fold_keeps_other_scripts_and_symbols() -> None:
    assert fold_plain("Путин, Ζελένσκι, 서울, 東京") == "путин, ζελενσκι, 서울, 東京"
    assert fold_plain("Windows™ ½ … € ²") == "windows™ ½ … € 2"


def test_normalize_table_leaves_out_only_blocks_that_fold_to_nothing() -> None:
    covered = {code for codes in _TABLE_RANGES for code in codes}
    for code in range(0x80, 0x10000):
        char = chr(code)
        if code not in covered and not 0xD800 <= code < 0xE000:
            assert char.lower() == char and _fold_char(char) == char and not char.isspace(), hex(code)


SHIFTING = "ßæÆﬁﬃŁǄẞ\u0301\u00ad"


@settings(max_examples=max(300, settings.default.max_examples), deadline=None)
@given(st.text(st.sampled_from(SHIFTING + "abc XYZ'-àİ\U0001d40d")))
@example("Straße, Łódź e la ﬁnanza")
@example("ß\u0301æ\u00ad")
def test_normalize_fold_maps_every_folded_character_back_to_its_original(text: str) -> None:
    folded = fold(text)
    assert folded.text == _fold_by_the_general_path(text.replace("\u0301", "").replace("\u00ad", ""))
    origins = [folded.original_offset(i) for i in range(len(folded.text))]
    assert origins == sorted(origins)  # reading order kept
    for i, at in enumerate(origins):
        assert folded.text[i] in fold_plain(text[at]) or text[at] == "-", (i, at)
