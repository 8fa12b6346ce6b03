"""The scan reads the chunks that may start a rule's word, found in one pass over the text.

``LanguageIndex.chunks_to_read`` must name every chunk that ``LanguageIndex.sift`` (the same
question asked chunk by chunk, which the scan asked before) says must be cut: a chunk it
missed would be a missed match.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.folding import fold
from monitor.matching.chunks import cut_between_letters
from monitor.matching.compiler import RuleIndex
from monitor.matching.letters import letters_only
from monitor.matching.nlp import LanguagePipelines
from monitor.matching.scan import FieldText
from tests.conftest import rule

PIPELINES = LanguagePipelines({"it": "blank", "en": "blank"}, "it")
TERMS = [
    "nato", "NATO", "Nato", "ue", "USA", "l'Aquila", "'ndrangheta", "dell'Ucraina", "US$", "2026", "G7",
    "5G", "covid-19", "$ 5", "€5", "5%", "5 %", "Kyïv", "Łódź", "Straße", "Москва", "中国", "negozia*",
    "?ato", "att*co", "nato's", "not", "km", "can", "ma", "na", "x", "e", "e.g.", "1.5", "h2o",
]  # fmt: skip
PIECES = [
    "nato", "Nato", "NATO", "natoue", "uenato", "ue", "dell'Ucraina", "l’Onu", "L'Aquila", "Finland's",
    "anti-NATO", "US$1", "(US$171-million)", "10km", "Android/Filecoder.C", "U.S.", "e.g.", "1.5", "v2.0",
    "https://www.nato.int/x", "mario.rossi@example.com", "Dolce&Gabbana", "Windows™", "#Nato🇺🇦", "@NATO",
    "Ucraina.Il", "cannot", "don't", "gonna", "c'è", "«Nato»", "—", "...", "2026,", "a2026b", "G7,", "5G",
    "12:30", "½", "Straße", "ﬁnanza", "ＮＡＴＯ", "Kyïv", "Łódź", "Москва,", "中国", "(1)", ":", "'", "€5",
    "100%", "negoziato", "rinegoziato", "attacco", "ndrangheta", "'ndrangheta", "h2o", "covid-19", "can't",
    "𝐍𝐀𝐓𝐎", "nato🙂", "🙂nato", "x", "na", "ma.", "nato's", "notte", "not",
]  # fmt: skip
SPACES = [" ", "  ", "\n", "\t", "\u00a0", "   "]


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=40))
def test_scan_letters_only_makes_every_other_character_a_space(text: str) -> None:
    assert letters_only(text) == "".join(char if char.isalpha() else " " for char in text)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.sampled_from(TERMS), min_size=1, max_size=8),
    st.lists(st.sampled_from(PIECES), max_size=30),
    st.lists(st.sampled_from(SPACES), min_size=30, max_size=30),
    st.sampled_from(["it", "en"]),
)
def test_scan_chunks_to_read_holds_every_chunk_that_may_start_a_word_of_a_rule(
    terms: list[str], pieces: list[str], spaces: list[str], lang: str
) -> None:
    quoted = [term if "*" in term or "?" in term else f'"{term}"' for term in terms]
    index = RuleIndex([rule(f"r{i}", term) for i, term in enumerate(quoted)], PIPELINES)
    table = index.for_language(lang)
    assert table.by_text
    by_chunk = table._needles(table._needle_ends(cut_between_letters(PIPELINES.pattern_nlp(lang))))
    text = fold("".join(piece + space for piece, space in zip(pieces, spaces, strict=False))).text
    starts, chunks, at = [], [], 0
    for chunk in text.split(" "):
        if chunk:
            starts.append(at)
            chunks.append(chunk)
        at += len(chunk) + 1
    table.needles = by_chunk
    _, maybe = table.sift(chunks)
    read = set(table.chunks_to_read(text, f" {letters_only(text)} "))
    assert read <= set(starts)
    assert {start for start, chunk in zip(starts, chunks, strict=True) if chunk in maybe} <= read


FORMS = [
    ("nato", ()), ("ue", ()), ("not", ()), ("can", ()), ("gon", ("na",)), ("do", ("n't",)), ("s", ()),
    ("dell'", ("ucraina",)), ("l'", ("onu",)), ("onu", ()), ("km", ()), ("filecoder", ()), ("a", ()),
    ("ndrangheta", ()), ("kyiv", ()), ("москва", ()), ("x", ()), ("na", ()), ("int", ()), ("nato", ("s",)),
]  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.sampled_from(FORMS), min_size=1, max_size=3),
    st.lists(st.sampled_from(PIECES), max_size=30),
    st.lists(st.sampled_from(SPACES), min_size=30, max_size=30),
    st.sampled_from(["it", "en"]),
)
def test_scan_terms_looked_up_through_the_letters_are_found_as_in_the_text(
    forms: list[tuple[str, tuple[str, ...]]], pieces: list[str], spaces: list[str], lang: str
) -> None:
    # a woken rule's other terms are looked for where no letter is glued to their first word,
    # unless a special case of the tokenizer may cut it from other letters (English "cannot")
    table = RuleIndex([rule("r", "zzz")], PIPELINES).for_language(lang)
    text = fold("".join(piece + space for piece, space in zip(pieces, spaces, strict=False))).text
    chunks = PIPELINES.chunks(lang)
    by_letters = FieldText("body", text, fold(text), chunks)
    as_written = FieldText("body", text, fold(text), chunks)
    whole = FieldText("body", text, fold(text), chunks)
    whole.table()
    expected = whole.phrase_spans(forms)
    assert by_letters.phrase_spans(forms, table.stands_apart) == expected
    assert as_written.phrase_spans(forms) == expected
    for first, _ in forms:
        assert by_letters.prefixed(first, table.stands_apart) == whole.prefixed(first)
