"""Reading a search with the rules' grammar: the tree, and every refusal in plain words."""

from __future__ import annotations

import pytest

from monitor.errors import MonitorError, SearchError
from monitor.store.searchquery import MAX_DEPTH, MAX_LENGTH, And, Not, Or, Term, parse_search


def test_parse_search_reads_operators_groups_fields_and_prefixes() -> None:
    assert parse_search('(Finlandia OR Finland) AND title:NATO -"della nato" negozia*') == And(
        (
            Or((Term("Finlandia"), Term("Finland"))),
            Term("NATO", field="title"),
            Not(Term("della nato")),
            Term("negozia", prefix=True),
        )
    )


REFUSED = [
    # search, what the message says, the column it points at (0-based, in the text as typed)
    ("", "no words to look for", 0),
    ('"', "no words to look for", 0),
    ("  -- ** ", "no words to look for", 0),
    ("((", "no words to look for", 0),
    ("*", "no words to look for", 0),
    ('"…"', "no words to look for", 0),
    ('"unbalanced', 'a phrase opened with " is never closed', 0),
    ('nato "cessate il', 'a phrase opened with " is never closed', 5),
    ("AND", "AND needs a word on both sides", 0),
    ("OR nato", "OR needs a word on both sides", 0),
    ("nato AND OR gaza", "OR needs a word on both sides", 9),
    ("nato AND", "ends too early", 8),
    ("nato -", "ends too early", 6),
    ("'; DROP TABLE articles; --", "ends too early", 26),
    ("NEAR(", "a '(' is never closed", 5),
    ("(nato OR gaza", "a '(' is never closed", 13),
    ("nato)", "a ')' closes no '('", 4),
    ("^nato", "unexpected '^nato'", 0),
    ("{nato}", "unexpected '}'", 5),
    ("x:y", "unknown field 'x' (a search looks in title:, summary:, body:)", 0),
    ("ore 10:30", "to look for '10:30' as words, put it in quotes", 4),
    ("source:ANSA", "unknown field 'source'", 0),
    ("a:b:c", "unknown field 'a'", 0),
    ("title:(nato body:gaza)", "body: inside title: can never match", 12),
    ('"Finlandia Nato"~10', "proximity", 0),
    ("Finlandia NEAR/10 Nato", "proximity (NEAR/10) is not supported", 10),
    ("nato~", "fuzzy matching (~) is not supported", 0),
    ("nato~2", "fuzzy matching (~) is not supported", 0),
    ("nato^2", "boosting (^) is not supported", 0),
    ("[a TO b]", "ranges ([a TO b]) are not supported", 0),
    ("{a TO b}", "ranges", 0),
    (">2020", "comparisons", 0),
    ("/nat.*/", "regular expressions", 0),
    ("ne*oziato", "a * only at the end of a word", 0),
    ("ne?oziato", "no ?", 0),
    ("nato**", "a * only at the end of a word", 0),
    ("n*", "give at least 2 letters before *", 0),
    ("title:*", "give at least 2 letters before *", 6),
    ("nato && gaza", "write AND instead of &&", 5),
    ("nato || gaza", "write OR instead of ||", 5),
    ("!nato", "write NOT nato or -nato instead of !nato", 0),
    ("Finlandia and Nato", "'and' is read as a word: write AND in capitals", 10),
    ("nato or otan", 'write OR in capitals for the operator, or "or" in quotes', 5),
    ("Not nato", "'Not' is read as a word: write NOT in capitals", 0),
    ("NOT nato", "a search needs a word to look for beside the excluded ones", None),
    ("-nato -gaza", "a search needs a word to look for beside the excluded ones", None),
    ("title:(-nato)", "a search needs a word to look for beside the excluded ones", None),
    ("nato OR -gaza", "NOT cannot be an alternative of OR", None),
    ("nato -(gaza OR -tregua)", "NOT cannot be an alternative of OR", None),
    ("(" * (MAX_DEPTH + 1) + "nato" + ")" * (MAX_DEPTH + 1), f"at most {MAX_DEPTH} levels", MAX_DEPTH),
    ("-" * (MAX_DEPTH + 1) + "nato", f"at most {MAX_DEPTH} levels", MAX_DEPTH),
    (
        "nato " * (MAX_LENGTH // 5 + 1),
        f"too long ({MAX_LENGTH + 5} characters; at most {MAX_LENGTH})",
        MAX_LENGTH,
    ),
]


@pytest.mark.parametrize(("search", "says", "column"), REFUSED)
def test_parse_search_refuses_in_plain_words(search: str, says: str, column: int | None) -> None:
    with pytest.raises(SearchError) as refused:
        parse_search(search)
    message = str(refused.value)
    assert message.startswith("search ") and says in message
    assert refused.value.column == column
    assert len(message) < 300  # a long search is shown cut, not echoed whole


def test_parse_search_error_columns_count_what_was_typed() -> None:
    """An apostrophe is escaped for luqum; the column still points into the user's text."""
    with pytest.raises(SearchError) as refused:
        parse_search("l'Aquila d'Abruzzo nato~2")
    assert refused.value.column == len("l'Aquila d'Abruzzo ")


def test_search_error_is_a_monitor_error_not_a_configuration_error() -> None:
    assert issubclass(SearchError, MonitorError)
    assert not any(base.__name__ == "ConfigError" for base in SearchError.__mro__)


def test_parse_search_deepest_accepted_nesting_is_read() -> None:
    search = "(nato OR " * (MAX_DEPTH // 2) + "gaza" + ")" * (MAX_DEPTH // 2)
    assert isinstance(parse_search(search), Or)
