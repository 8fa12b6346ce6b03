"""Article text as HTML: marks where the terms are, everything else escaped."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from markupsafe import escape

from monitor.web.highlight import find_words, marked, marked_stars, marked_words


def test_highlight_marks_spans_and_escapes_the_rest() -> None:
    text = "<b>NATO</b> & Gaza"
    assert marked(text, [(3, 7), (14, 18)]) == "&lt;b&gt;<mark>NATO</mark>&lt;/b&gt; &amp; <mark>Gaza</mark>"


def test_highlight_overlapping_spans_of_rules_are_cut_and_name_every_rule() -> None:
    out = marked("cessate il fuoco", {(0, 16): ["gaza"], (11, 16): ["fuoco"]})
    assert out == '<mark title="gaza">cessate il </mark><mark title="fuoco, gaza">fuoco</mark>'


def test_highlight_rule_names_are_escaped_too() -> None:
    out = marked("NATO", {(0, 4): ['"><script>']})
    assert out == '<mark title="&#34;&gt;&lt;script&gt;">NATO</mark>'


def test_highlight_spans_outside_the_text_are_clipped() -> None:
    assert marked("NATO", [(-5, 2), (3, 99), (10, 20)]) == "<mark>NA</mark>T<mark>O</mark>"


def test_highlight_words_are_found_whole_ignoring_case_and_spacing() -> None:
    snippet = "La Nato, il cessate  il fuoco e la natoinfo."
    assert sorted(find_words(snippet, ["NATO", "cessate il fuoco"])) == [(3, 7), (12, 29)]
    assert marked_words("a<NATO>b", ["NATO"]) == "a&lt;<mark>NATO</mark>&gt;b"


def test_highlight_stars_become_marks_and_a_lone_star_pair_stays_text() -> None:
    assert (
        marked_stars("il **cessate il fuoco** a <Gaza>") == "il <mark>cessate il fuoco</mark> a &lt;Gaza&gt;"
    )
    assert marked_stars("a ** b") == "a ** b"


@given(st.text(), st.lists(st.tuples(st.integers(-3, 40), st.integers(-3, 40)), max_size=6))
def test_highlight_never_lets_markup_through(text: str, spans: list[tuple[int, int]]) -> None:
    out = str(marked(text, spans))
    assert out.replace("<mark>", "").replace("</mark>", "") == str(escape(text))
