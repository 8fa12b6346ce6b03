"""A search tree → the text each database's full-text engine reads: FTS5 MATCH and tsquery.

Both are query languages of their own, so no typed character may reach them
as syntax: every FTS5 word or phrase is a double-quoted string (``"`` doubled
inside), the one FTS5 construct whose content is never an operator; every
tsquery word is a single-quoted lexeme (``'`` and ``\\`` doubled), read by
``to_tsquery`` in the article's own configuration.  Operators, parentheses,
prefixes and fields are written here from the tree, never copied from the
input.

- FTS5: ``"a" AND "b"``, ``OR``, ``"a" NOT "b"`` (FTS5's NOT only subtracts,
  which is why the tree never holds a NOT without a word beside it),
  ``"negozia" *``, ``title : "nato"``; a phrase stays one string, split into
  words by the same tokenizer that indexed the articles.
- tsquery: ``&``, ``|``, ``!``, a phrase as its words joined by ``<->``,
  ``'negozia':*`` (with the cuts of ``_prefix``: the index holds stems), and
  a field as the weight its column was given (title A, summary B, body C).
  Stop words dropped by the configuration become gaps
  (``'cessate' <2> 'fuoco'``), as they are in the indexed text.

Pure: no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass

from monitor.store.searchindex import SEARCH_FIELDS
from monitor.store.searchquery import And, Node, Not, Or, Term, parse_search

# Letters a stemmer takes off the end of most words: on Italian and English news, a typed start
# cut by up to this many letters meets the stem of nearly every word it starts; cutting more
# mostly adds words that merely share a stem.
PREFIX_SLACK = 3
MIN_STEM = 3  # a cut shorter than this would be a word of its own ("ne", "in")


@dataclass(frozen=True, slots=True)
class SearchQuery:
    """One search, ready for either database."""

    fts5: str  # an SQLite FTS5 MATCH expression
    tsquery: str  # PostgreSQL to_tsquery input, read with the article's configuration


def search_query(text: str) -> SearchQuery:
    """Parse ``text`` and write it for both databases; raises SearchError."""
    node = parse_search(text)
    return SearchQuery(fts5_query(node), ts_query(node))


# -- SQLite FTS5 -------------------------------------------------------------------------------------
def fts5_query(node: Node) -> str:
    if isinstance(node, Term):
        column = f"{node.field} : " if node.field else ""
        return column + '"' + node.text.replace('"', '""') + '"' + (" *" if node.prefix else "")
    if isinstance(node, Or):
        return " OR ".join(_fts5_operand(item) for item in node.items)
    if isinstance(node, And):
        wanted = [item for item in node.items if not isinstance(item, Not)]
        excluded = [item.item for item in node.items if isinstance(item, Not)]
        looked_for = " AND ".join(_fts5_operand(item) for item in wanted)
        if excluded and len(wanted) > 1:
            looked_for = f"({looked_for})"
        return " NOT ".join([looked_for, *(_fts5_operand(item) for item in excluded)])
    raise ValueError("a NOT without a word beside it cannot be written for FTS5")  # parse_search refuses it


def _fts5_operand(node: Node) -> str:
    text = fts5_query(node)
    return text if isinstance(node, Term) else f"({text})"


# -- PostgreSQL tsquery ------------------------------------------------------------------------------
def ts_query(node: Node) -> str:
    if isinstance(node, Term):
        weight = SEARCH_FIELDS[node.field] if node.field else ""
        *words, last = node.text.split(" ")
        lexemes = [_lexeme(word, weight) for word in words]
        return " <-> ".join([*lexemes, _prefix(last, weight) if node.prefix else _lexeme(last, weight)])
    if isinstance(node, Not):
        return "!" + _ts_operand(node.item)
    if isinstance(node, Or):
        return " | ".join(_ts_operand(item) for item in node.items)
    return " & ".join(_ts_operand(item) for item in node.items)


def _ts_operand(node: Node) -> str:
    text = ts_query(node)
    phrase = isinstance(node, Term) and " " in node.text
    return f"({text})" if phrase or isinstance(node, And | Or) else text


def _prefix(start: str, weight: str) -> str:
    """``start*`` against stems: those that begin like it, or that it begins with (slack letters apart).

    The index holds stems, and a stem may be shorter than what was typed
    (``cessat*``: "cessate" is indexed as ``cess``), so the typed start cut by
    up to PREFIX_SLACK letters is also taken as a whole word, stemmed as well.
    """
    begins = _lexeme(start, "*" + weight)
    if not start.isalnum():
        return begins
    shorter = range(len(start) - 1, max(MIN_STEM, len(start) - PREFIX_SLACK) - 1, -1)
    cut = [_lexeme(start[:length], weight) for length in shorter]
    return f"({' | '.join([begins, *cut])})" if cut else begins


def _lexeme(word: str, label: str) -> str:
    """A quoted tsquery operand; ``label`` is ``*`` for a prefix and/or the weight letter."""
    quoted = "'" + word.replace("\\", "\\\\").replace("'", "''") + "'"
    return f"{quoted}:{label}" if label else quoted
