"""Blind spots: outside them, each full-text index holds every word the matcher can see.

The claim the backtest's prefilter rests on, checked against the real engines on generated
text: wherever ``BlindSpots.hide`` says no, every word (ASCII letters and digits) of every token
the matcher makes of a text is a word of the index, unless spaCy cut the token out of a longer
word (the prefilter loosens those) or, on PostgreSQL, the word is joined to another by
punctuation inside its token (the prefilter asks nothing of those there).
"""

from __future__ import annotations

import random
import re

import pytest
from sqlalchemy import text

from monitor.folding import fold_plain
from monitor.matching.nlp import LanguagePipelines
from monitor.store.blindspots import blind_spots, probed_characters
from monitor.store.repo import Store
from monitor.store.searchindex import PG_BODY_INDEXED, PG_OTHER_CONFIG, SQLITE_TOKENIZE

WORD = re.compile(r"[^\W_]+")


def index_words(store: Store, texts: list[str]) -> list[set[str]]:
    """The words the store's full-text index makes of each text (PostgreSQL: before stemming)."""
    engine = store.engine
    if engine.dialect.name == "sqlite":
        with engine.begin() as db:
            db.exec_driver_sql(f"CREATE VIRTUAL TABLE temp.probe USING fts5(x, tokenize='{SQLITE_TOKENIZE}')")
            db.exec_driver_sql("CREATE VIRTUAL TABLE temp.probe_words USING fts5vocab(temp, probe, instance)")
            db.exec_driver_sql("INSERT INTO probe(rowid, x) VALUES (?, ?)", list(enumerate(texts)))
            out: list[set[str]] = [set() for _ in texts]
            for row, word in db.exec_driver_sql("SELECT doc, term FROM probe_words"):
                out[row].add(word)
            db.exec_driver_sql("DROP TABLE temp.probe_words")
            db.exec_driver_sql("DROP TABLE temp.probe")
        return out
    query = text(
        f"SELECT tsvector_to_array(to_tsvector('{PG_OTHER_CONFIG}'::regconfig, t)) "
        "FROM unnest(CAST(:texts AS text[])) WITH ORDINALITY AS p(t, n) ORDER BY n"
    )
    with engine.connect() as db:
        return [set(words) for (words,) in db.execute(query, {"texts": texts})]


def test_blind_spots_of_each_index(store: Store) -> None:
    spots = blind_spots(store.engine)
    seen = ["perché", "l'onu e dell’invasione", "anti-NATO", "cessate-il-fuoco", "3.5 e 1,000 e 10:30", "2°C"]
    hidden = ["Straße", "Fin\u00adlandia", "Fin\u200blandia", "ﬁnlandia", "ＮＡＴＯ", "km²"]
    if store.engine.dialect.name == "postgresql":
        # PostgreSQL's unaccent spells ß, ﬁ and ＮＡＴＯ as folding does; its parser makes hosts and numbers
        hidden = [h for h in hidden if h not in ("Straße", "ﬁnlandia", "ＮＡＴＯ")]
        hidden += [
            "nato.int",
            "U.S. Army",
            "info@nato.int",
            "-20",
            "covid-19",
            "10-20",
            "<b>x</b>",
            "10città",
        ]
        assert spots.hide("", "", "x " * (PG_BODY_INDEXED // 2 + 1))
    else:
        seen += ["nato.int", "U.S. Army", "info@nato.int", "-20", "covid-19", "10-20", "<b>x</b>"]
    assert [t for t in seen if spots.hide(t, "", "")] == []
    assert [t for t in hidden if not spots.hide("", "", t)] == []


def test_blind_spots_of_sqlite_use_the_index_s_own_tokenizer(store: Store) -> None:
    if store.engine.dialect.name != "sqlite":
        pytest.skip("SQLite's FTS5 table")
    with store.engine.connect() as db:
        created = db.exec_driver_sql("SELECT sql FROM sqlite_master WHERE name = 'articles_fts'").scalar_one()
    assert f"tokenize='{SQLITE_TOKENIZE}'" in created


def test_blind_spots_probe_every_character_that_may_stand_in_an_ascii_word() -> None:
    """The probes skip folding the ideographs and syllables (folding leaves them as they are):
    the same characters as folding every code point would pick."""
    import unicodedata

    from monitor.store.blindspots import fold_many

    planes = (range(0x80, 0xD800), range(0xE000, 0x10000), range(0x1D400, 0x1D800), range(0x1F100, 0x1F200))
    chars = [chr(code) for codes in planes for code in codes if unicodedata.category(chr(code)) != "Cn"]
    folded = fold_many([f"a{char}b" for char in chars])
    every = {c for c, probe in zip(chars, folded, strict=True) if not re.search(r"[^\W_\x00-\x7f]", probe)}
    assert set(probed_characters()) == every


PIECES = [
    "nato", "NATO", "gaza", "cessate", "fuoco", "il", "un", "po", "the", "can", "not", "cannot",
    "do", "n't", "10", "2024", "km", "kg", "g7", "pm", "3", "5", "1000", "città", "perché",
    "perche\u0301", "Straße", "Łódź", "ﬁn", "ＮＡＴＯ", "ecco", "a", "è", "u", "s", "int", "www",
]  # fmt: skip
GLUE = [
    " ", " ", " ", " ", "", "'", "’", "-", "–", ".", ",", ":", ";", "/", "@", "&", "+", "_", "~",
    "<", ">", "(", ")", '"', "«", "»", "?", "!", "#", "%", "$", "€", "°", "\u00ad", "\u200b", "\n",
]  # fmt: skip


def generated(rng: random.Random) -> str:
    parts = []
    for _ in range(rng.randint(1, 12)):
        parts.append(rng.choice(PIECES))
        parts.append(rng.choice(GLUE))
        if rng.random() < 0.05:
            parts.append(rng.choice(probed_characters()))  # any character that folds to ASCII
    return "".join(parts)


def test_outside_blind_spots_the_index_holds_every_word_the_matcher_sees(
    store: Store, pipelines: LanguagePipelines
) -> None:
    rng = random.Random(7)
    texts = [generated(rng) for _ in range(3000)]
    spots = blind_spots(store.engine)
    shown = [t for t in texts if not spots.hide(t, "", "")]
    assert len(shown) > 500  # most generated texts are no blind spot
    postgres = store.engine.dialect.name == "postgresql"
    missing = []
    for original, words in zip(shown, index_words(store, shown), strict=True):
        for lang in ("it", "en"):
            for token, word in unread_words(pipelines, lang, original, words, postgres):
                missing.append((original, lang, token, word, sorted(words)))
    assert missing == []


def unread_words(
    pipelines: LanguagePipelines, lang: str, original: str, words: set[str], postgres: bool
) -> list[tuple[str, str]]:
    """(token, word) for each word of the matcher's tokens of ``original`` the prefilter asks the
    index for (see the module's docstring) and the index lacks."""
    folded = fold_plain(original)
    out = []
    for token in pipelines.article_nlp(lang).tokenizer(folded):
        for found in WORD.finditer(token.text):
            word, first, last = found.group(), found.start() == 0, found.end() == len(token.text)
            start, end = token.idx + found.start(), token.idx + found.end()
            inside = (
                token.text[found.start() - 1 : found.start()],
                token.text[found.end() : found.end() + 1],
            )
            if not word.isascii() or (first and folded[start - 1 : start].isalnum()):
                continue  # another script; or cut off a longer word's end: the prefilter asks nothing
            if postgres and any(c not in ("", "'") for c in inside):
                continue  # joined to another word: the prefilter asks nothing of PostgreSQL
            if (
                last
                and folded[end : end + 1].isalnum()
                and (postgres or any(w.startswith(word) for w in words))
            ):
                continue  # cut off a longer word's start: a prefix (none asked of PostgreSQL)
            if word not in words:
                out.append((token.text, word))
    return out
