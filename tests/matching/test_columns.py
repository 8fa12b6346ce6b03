"""The scan reads the same token columns through the compiled module as through spaCy's arrays."""

from __future__ import annotations

import logging
import os
import shutil
from collections import Counter
from types import SimpleNamespace

import numpy as np
import pytest
import spacy
from hypothesis import given, settings
from hypothesis import strategies as st
from spacy.attrs import FLAG63, IS_PUNCT

from monitor.folding import fold
from monitor.matching import columns

needs_compiled = pytest.mark.skipif(not columns.compiled(), reason="the compiled token scan is not built")
needs_compiler = pytest.mark.skipif(shutil.which("g++") is None, reason="no C++ compiler: no compiled scan")
STARTS = {"nato", "cessate", "finlandia", "l'", "usa", "-", "10"}


@pytest.fixture(scope="module")
def nlp() -> spacy.language.Language:
    nlp = spacy.blank("it")
    nlp.vocab.add_flag(lambda word: word in STARTS, FLAG63)
    return nlp


@needs_compiler
def test_the_install_builds_the_compiled_token_scan() -> None:
    if os.environ.get("MONITOR_COMPILED_SCAN") == "0":
        pytest.skip("MONITOR_COMPILED_SCAN=0 turns the compiled scan off")
    assert columns.compiled()


pieces = st.sampled_from(
    ["NATO", "nato", "cessate", "il", "fuoco", "Finlandia", "l'Usa", "10", "-", ",", ".", "città", "Kyïv"]
)
spaces = st.sampled_from([" ", "  ", "   ", "\n", "\r\n\r\n  ", "\t", "\u00a0", " - "])


@needs_compiled
@settings(max_examples=300, deadline=None)
@given(
    words=st.lists(st.tuples(spaces, pieces), max_size=40),
    lead=st.sampled_from(["", " ", "  ", "\n\n"]),
    picks=st.lists(st.integers(0, 39), max_size=4),
    sizes=st.lists(st.integers(0, 3), min_size=4, max_size=4),
)
def test_compiled_and_numpy_columns_agree_on_any_spacing(
    nlp: spacy.language.Language, words: list[tuple[str, str]], lead: str, picks: list[int], sizes: list[int]
) -> None:
    text = fold(lead + "".join(space + word for space, word in words)).text
    doc = nlp.tokenizer(text)
    compiled = columns._compiled
    assert compiled is not None
    got, expected = compiled.word_columns(doc, FLAG63), columns.numpy_columns(doc, text, FLAG63)
    assert columns._same(got, expected)
    orths, kept, starting = got
    for flag in (FLAG63, IS_PUNCT):
        assert compiled.flagged_words(doc, text, flag) == columns.numpy_flagged_words(doc, text, kept, flag)
    flagged, words = columns.flagged_words(doc, text, kept, FLAG63)
    assert flagged == starting.tolist()
    assert words == [t.text for t in doc if t.text in STARTS and not t.is_space]
    assert compiled.word_numbers(doc).tolist() == columns.numpy_word_numbers(doc, kept).tolist()
    positions = range(len(doc)) if kept is None else kept.tolist()
    assert [doc[i].text for i in positions] == [t.text for t in doc if not t.is_space]
    assert [doc[positions[i]].text for i in starting.tolist()] == [
        t.text for t in doc if t.text in STARTS and not t.is_space
    ]
    assert orths.tolist() == [doc[i].orth for i in positions]
    hashes = orths.tolist()
    forms = [
        (hashes[i], tuple(hashes[i + 1 : i + 1 + size]))
        for i, size in zip(picks, sizes, strict=False)
        if i < len(hashes)
    ]
    forms += [(12345, ()), (12345, (1, 2))] + (
        [(hashes[-1], (hashes[0],))] if hashes else []
    )  # no, past the end
    numpy_orths = columns.numpy_columns(doc, text, FLAG63)[0]  # a strided view of Doc.to_array's
    assert compiled.phrase_spans(orths, forms) == columns.numpy_phrase_spans(orths, forms)
    assert compiled.phrase_spans(numpy_orths, forms) == columns.numpy_phrase_spans(numpy_orths, forms)
    for first, end in compiled.phrase_spans(orths, forms):
        assert (hashes[first], tuple(hashes[first + 1 : end])) in forms
    texts = [t.text for t in doc if not t.is_space]
    for prefix in ("", "n", "nat", "nato", "natoo", "citta", "l'", "-", "\u00a0"):  # and past a word's end
        expected = [i for i, word in enumerate(texts) if word in STARTS and word.startswith(prefix)]
        assert compiled.prefixed_words(doc, text, FLAG63, prefix) == expected
        assert columns.numpy_prefixed_words(doc, text, kept, FLAG63, prefix) == expected


def test_a_compiled_scan_that_disagrees_with_spacy_is_dropped_with_a_warning(
    nlp: spacy.language.Language, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def built_against_another_spacy(doc: object, start: int) -> columns.Columns:
        return np.zeros(3, dtype=np.uint64), None, np.zeros(0, dtype=np.intp)

    monkeypatch.setattr(columns, "_compiled", SimpleNamespace(word_columns=built_against_another_spacy))
    monkeypatch.setattr(columns, "_checked", Counter())
    text = fold("Il vertice NATO  di  Helsinki").text
    doc = nlp.tokenizer(text)
    with caplog.at_level(logging.WARNING, logger="monitor.matching.columns"):
        got = columns.word_columns(doc, text, FLAG63)
    assert columns._same(got, columns.numpy_columns(doc, text, FLAG63))
    assert not columns.compiled()
    assert "compiled token scan disagrees" in caplog.text


def test_a_compiled_flagged_word_reader_that_disagrees_is_dropped_with_a_warning(
    nlp: spacy.language.Language, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def built_against_another_spacy(doc: object, text: str, flag: int) -> columns.FlaggedWords:
        return [0], ["il"]

    monkeypatch.setattr(columns, "_compiled", SimpleNamespace(flagged_words=built_against_another_spacy))
    monkeypatch.setattr(columns, "_checked", Counter())
    text = fold("Il vertice NATO  di  Helsinki").text
    doc = nlp.tokenizer(text)
    kept = np.array([i for i, token in enumerate(doc) if not token.is_space])
    with caplog.at_level(logging.WARNING, logger="monitor.matching.columns"):
        got = columns.flagged_words(doc, text, kept, FLAG63)
    assert got == ([2], ["nato"])  # il, vertice, nato: the spaces are no words
    assert not columns.compiled()
    assert "compiled token scan disagrees" in caplog.text
