"""A search text → FTS5 MATCH and tsquery text: the pure translation, as a table."""

from __future__ import annotations

import pytest

from monitor.store.ftsquery import search_query

TRANSLATIONS = [
    # search, FTS5 MATCH, PostgreSQL to_tsquery input
    ("Finlandia AND NATO", '"Finlandia" AND "NATO"', "'Finlandia' & 'NATO'"),
    ("Finlandia NATO", '"Finlandia" AND "NATO"', "'Finlandia' & 'NATO'"),
    (
        "(Finlandia OR Finland) NATO",
        '("Finlandia" OR "Finland") AND "NATO"',
        "('Finlandia' | 'Finland') & 'NATO'",
    ),
    ("gaza tregua OR ceasefire", '"gaza" AND ("tregua" OR "ceasefire")', "'gaza' & ('tregua' | 'ceasefire')"),
    ("a OR b AND c", '"a" OR ("b" AND "c")', "'a' | ('b' & 'c')"),
    ("a OR b OR c", '"a" OR "b" OR "c"', "'a' | 'b' | 'c'"),
    ("((a OR (b OR c)))", '"a" OR "b" OR "c"', "'a' | 'b' | 'c'"),
    ('"cessate il fuoco"', '"cessate il fuoco"', "'cessate' <-> 'il' <-> 'fuoco'"),
    (
        '"cessate il fuoco" OR tregua',
        '"cessate il fuoco" OR "tregua"',
        "('cessate' <-> 'il' <-> 'fuoco') | 'tregua'",
    ),
    ("“cessate il fuoco”", '"cessate il fuoco"', "'cessate' <-> 'il' <-> 'fuoco'"),
    ('"  cessate   il fuoco "', '"cessate il fuoco"', "'cessate' <-> 'il' <-> 'fuoco'"),
    ('"Roma - Milano"', '"Roma Milano"', "'Roma' <-> 'Milano'"),
    ("nato NOT helsinki", '"nato" NOT "helsinki"', "'nato' & !'helsinki'"),
    ("nato -helsinki", '"nato" NOT "helsinki"', "'nato' & !'helsinki'"),
    ("nato AND NOT helsinki", '"nato" NOT "helsinki"', "'nato' & !'helsinki'"),
    ("NOT helsinki nato", '"nato" NOT "helsinki"', "!'helsinki' & 'nato'"),
    ("a b -c -d", '("a" AND "b") NOT "c" NOT "d"', "'a' & 'b' & !'c' & !'d'"),
    ("(a OR b) -c", '("a" OR "b") NOT "c"', "('a' | 'b') & !'c'"),
    ("a -(b OR c)", '"a" NOT ("b" OR "c")', "'a' & !('b' | 'c')"),
    ('vilnius -"della nato"', '"vilnius" NOT "della nato"', "'vilnius' & !('della' <-> 'nato')"),
    ("a OR (b -c)", '"a" OR ("b" NOT "c")', "'a' | ('b' & !'c')"),
    ("--nato", '"nato"', "'nato'"),
    ("+nato +gaza", '"nato" AND "gaza"', "'nato' & 'gaza'"),
    ("negozia*", '"negozia" *', "('negozia':* | 'negozi' | 'negoz' | 'nego')"),
    ("cessat*", '"cessat" *', "('cessat':* | 'cessa' | 'cess' | 'ces')"),  # "cessate" is indexed as cess
    ("nat*", '"nat" *', "'nat':*"),
    ("na*", '"na" *', "'na':*"),
    ("anti-nat*", '"anti-nat" *', "'anti-nat':*"),
    (
        "negozia* OR trattativ*",
        '"negozia" * OR "trattativ" *',
        "('negozia':* | 'negozi' | 'negoz' | 'nego') | ('trattativ':* | 'trattati' | 'trattat' | 'tratta')",
    ),
    ("title:nato", 'title : "nato"', "'nato':A"),
    ("Title:nato", 'title : "nato"', "'nato':A"),
    ("summary:nato", 'summary : "nato"', "'nato':B"),
    ("body:nato", 'body : "nato"', "'nato':C"),
    ("title:cessat*", 'title : "cessat" *', "('cessat':*A | 'cessa':A | 'cess':A | 'ces':A)"),
    ('title:"cessate il fuoco"', 'title : "cessate il fuoco"', "'cessate':A <-> 'il':A <-> 'fuoco':A"),
    (
        "title:(nato OR otan) -body:calcio",
        '(title : "nato" OR title : "otan") NOT body : "calcio"',
        "('nato':A | 'otan':A) & !'calcio':C",
    ),
    ("title:(nato -calcio)", 'title : "nato" NOT title : "calcio"', "'nato':A & !'calcio':A"),
    # words are passed as typed: each database folds them as it folded the articles
    ("NEUTRALITÀ perché", '"NEUTRALITÀ" AND "perché"', "'NEUTRALITÀ' & 'perché'"),
    ("Łódź", '"Łódź"', "'Łódź'"),
    # what either engine would read as syntax stays inside a quoted string
    ("dell'Ucraina", '"dell\'Ucraina"', "'dell''Ucraina'"),
    ("'ndrangheta", '"\'ndrangheta"', "'''ndrangheta'"),
    ("it's OR l'Aquila", '"it\'s" OR "l\'Aquila"', "'it''s' | 'l''Aquila'"),
    ('x"y', '"x""y"', "'x\"y'"),
    ('"a \\"b\\" c"', '"a ""b"" c"', "'a' <-> '\"b\"' <-> 'c'"),
    ("a\\:b", '"a:b"', "'a:b'"),
    ("C\\\\x", '"C\\x"', "'C\\\\x'"),
    ("NEAR", '"NEAR"', "'NEAR'"),
    ("U.S. US$ anti-NATO", '"U.S." AND "US$" AND "anti-NATO"', "'U.S.' & 'US$' & 'anti-NATO'"),
    ("Android/Filecoder.C", '"Android/Filecoder.C"', "'Android/Filecoder.C'"),
    ("nato & gaza", '"nato" AND "gaza"', "'nato' & 'gaza'"),  # a lone symbol is no word: left out
    ("Roma – Milano OR Napoli", '"Roma" AND ("Milano" OR "Napoli")', "'Roma' & ('Milano' | 'Napoli')"),
    ("nato OR …", '"nato"', "'nato'"),
    ("nato\x00gaza", '"nato" AND "gaza"', "'nato' & 'gaza'"),
]


@pytest.mark.parametrize(("search", "fts5", "tsquery"), TRANSLATIONS)
def test_search_query_writes_fts5_and_tsquery(search: str, fts5: str, tsquery: str) -> None:
    written = search_query(search)
    assert (written.fts5, written.tsquery) == (fts5, tsquery)
