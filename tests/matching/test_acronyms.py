"""An acronym in capitals is not the common word that opens a sentence: "Nato a Napoli" is born."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from monitor.matching.acronyms import common_words, marked_as_acronym, opens_sentence
from monitor.matching.matcher import ArticleMatcher
from tests.matching.test_matcher import article, fired

ITALIAN_RULES = {"nato": "NATO", "usa": "USA", "un": "UN", "ai": "AI"}


@pytest.mark.parametrize(
    "text",
    [
        "Nato a Napoli nel 1950, ha insegnato filosofia all'università di Bologna per trent'anni.",
        "È morto ieri a 91 anni Mario Rossi. Nato a Torino nel 1932, fu sindaco per due mandati.",
        "Si è spento a Milano il regista. Nato in una famiglia di operai, esordì nel 1968.",
        "Usa la carta di credito solo su siti sicuri, raccomanda la polizia postale.",
        "Un portavoce ha detto che il vertice è rinviato a data da destinarsi.",
        "«Usa la testa», ha detto il ministro ai giovani.",
        'Il ministro ha detto: "Usa la testa, non la pancia".',
        "ROMA – Un portavoce della Farnesina ha confermato la notizia.",
        "Il bilancio della giornata.\nUn anno dopo, la città non è ancora ricostruita.",
        "- Un esempio di cosa si può fare con pochi euro",
        "Ai cittadini il sindaco chiede pazienza.",
        "Fu un successo. Un successo che nessuno si aspettava!",
        "Tre consigli per l'estate:\n1) Usa la crema solare.\n2) Bevi molta acqua.",
        'Il regista ha detto "Un film è un sogno" e ha lasciato la sala.',
    ],
)
def test_acronym_is_not_the_common_word_that_opens_an_italian_sentence(
    make_matcher: Callable[..., ArticleMatcher], text: str
) -> None:
    assert fired(make_matcher(**ITALIAN_RULES), article(text)) == set()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Finlandia e Svezia entrano nella Nato, gli Usa applaudono.", {"nato", "usa"}),  # mid-sentence
        ("Nato, vertice a Vilnius: sul tavolo l'adesione dell'Ucraina.", {"nato"}),  # headline style
        ("Nato: i leader firmano la dichiarazione finale.", {"nato"}),
        ("Usa e Cina firmano l'accordo sui dazi.", {"usa"}),  # joined to a name
        ("Usa-Cina, accordo sui dazi.", {"usa"}),
        ("Nato/Russia, tensione sul Baltico.", {"nato"}),
        ("NATO a Vilnius, vertice di due giorni.", {"nato"}),  # written in capitals
        ("Un portavoce dell'Onu. UN Women chiede fondi.", {"un"}),
        ("Vertice della Nato. Nato e Ue discutono di difesa comune.", {"nato"}),
        ("Usa", {"usa"}),  # a title of one word
    ],
)
def test_acronym_in_title_case_still_matches_where_its_context_says_so(
    make_matcher: Callable[..., ArticleMatcher], text: str, expected: set[str]
) -> None:
    assert fired(make_matcher(**ITALIAN_RULES), article(text)) == expected


def test_acronym_opening_a_title_needs_what_follows_to_say_so(
    make_matcher: Callable[..., ArticleMatcher],
) -> None:
    matcher = make_matcher(nato="NATO")
    assert fired(matcher, article("Il testo.", title="Nato: la dichiarazione di Vilnius")) == {"nato"}
    assert fired(matcher, article("Il testo.", title="Nato a Vilnius il vertice")) == set()
    assert fired(matcher, article("Il testo.", title="Il vertice della Nato a Vilnius")) == {"nato"}


def test_acronym_hits_keep_their_place_when_one_mention_is_left_out(
    make_matcher: Callable[..., ArticleMatcher],
) -> None:
    body = "Nato a Napoli nel 1950, è stato ambasciatore presso la Nato."
    [match] = make_matcher(nato="NATO").match(article(body))
    [hit] = match.terms
    assert (hit.start, hit.end) == (body.rindex("Nato"), body.rindex("Nato") + 4)


def test_acronym_opening_a_sentence_is_read_in_the_article_language(
    make_matcher: Callable[..., ArticleMatcher],
) -> None:
    matcher = make_matcher(nato="NATO", us="US", it="IT", who="WHO")
    assert fired(matcher, article("Nato leaders met in Vilnius.", language="en")) == {
        "nato"
    }  # no English word
    assert fired(matcher, article("US officials said the talks failed.", language="en")) == {"us"}
    assert fired(matcher, article("Us and them: a history of the divide.", language="en")) == set()
    assert fired(matcher, article("It is the end of an era. Who knows?", language="en")) == set()
    assert fired(matcher, article("WHO warns of a new wave. IT spending grows.", language="en")) == {
        "who",
        "it",
    }
    assert fired(matcher, article("The talks. Us, the EU and the others.", language="en")) == {"us"}


@pytest.mark.parametrize(
    ("text", "start", "opens"),
    [
        ("Nato a Napoli", 0, True),
        ("  Nato a Napoli", 2, True),
        ("Fine. Nato a Napoli", 6, True),
        ("Davvero? Usa la testa", 9, True),
        ("Riga\nUsa la testa", 5, True),
        ("«Usa la testa»", 1, True),
        ('Ha detto: "Usa la testa"', 11, True),
        ("ROMA – Un portavoce", 7, True),
        ("- Un esempio", 2, True),
        ("Casi ridicoli:\n1) Un tizio", 18, True),
        ("\t(2)  Usa nastro", 6, True),
        ("la sigla (ONU) Un", 15, False),
        ("Il linguaggio C -- Un linguaggio", 17, True),
        ("Russia --Nato", 9, True),
        ("entrare nella Nato", 14, False),
        ("Ha detto: Usa la testa", 10, False),  # a colon without a quote goes on with the sentence
        ("la guerra Russia-Nato", 17, False),
        ("dell'Usa", 5, False),
        ("la (Nato)", 4, False),
        ('Eastwood disse: "Un film', 17, True),
        ("il film «Un giorno di pioggia»", 9, True),
        ("l'accordo 'Usa", 11, False),
    ],
)
def test_acronyms_opens_sentence(text: str, start: int, opens: bool) -> None:
    assert opens_sentence(text, start) is opens


@pytest.mark.parametrize(
    ("text", "end", "marked"),
    [
        ("Nato, vertice", 4, True),
        ("Nato: vertice", 4, True),
        ("Usa-Cina", 3, True),
        ("Usa/Cina", 3, True),
        ("Usa", 3, True),
        ("Usa e Cina", 3, True),
        ("Nato o «Ue»", 4, True),
        ("US and EU", 2, True),
        ("Nato a Napoli", 4, False),
        ("Nato e cresciuto", 4, False),
        ("Us and them", 2, False),
        ("Un'altra", 2, False),
        ("Usa e\nCina", 3, False),
    ],
)
def test_acronyms_marked_as_acronym(text: str, end: int, marked: bool) -> None:
    assert marked_as_acronym(text, end) is marked


def test_acronyms_common_words_come_from_spacy_data() -> None:
    assert common_words("it", {"nato", "usa", "un", "ai", "ue", "onu", "fmi"}) == {"nato", "usa", "un", "ai"}
    assert common_words("en", {"nato", "usa", "us", "it", "who", "eu"}) == {"us", "it", "who"}
    assert common_words("en-GB", {"us"}) == {"us"}  # a regional tag reads its language's data
    assert common_words("zz", {"us"}) == frozenset()  # no data: nothing is a common word
