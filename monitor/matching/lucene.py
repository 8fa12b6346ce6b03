"""luqum's Lucene grammar, built into a parser whose AND/OR lists grow in linear time.

luqum builds ``a OR b OR c …`` one operator at a time, and each step copies the list of
operands so far into a new node (``luqum.tree.create_operation``): a query of n OR-ed
terms cost time in n², seconds for a few thousand terms.  The parser here is luqum's own
grammar and parse tables, with one change: a list that the parse is still building (the
left operand of the operator being reduced, used by nothing else yet) takes the new
operands in place.  The tree it returns is the tree luqum returns.

The lexer keeps its state on itself, so each thread has a clone of its own.
"""

from __future__ import annotations

import threading
import types
from typing import Any

import ply.yacc as yacc
from luqum import parser as _luqum
from luqum import tree

_local = threading.local()


class _Growing(list[tree.Item]):
    """The operands of an operation this parse is still building (a tuple once luqum's)."""


def _grow_operation(cls: type[tree.BaseOperation], a: tree.Item, b: tree.Item, op_tail: str = " ") -> Any:
    """``luqum.tree.create_operation``, without copying the left operand's operands each time."""
    right = list(b.operands) if isinstance(b, cls) else [b]
    right[0].head += op_tail
    if type(a) is cls and isinstance(a.operands, _Growing):
        a.operands.extend(right)
        return a
    node = cls()
    node.operands = _Growing([*(a.operands if isinstance(a, cls) else (a,)), *right])
    return node


def _grammar() -> dict[str, Any]:
    """luqum.parser's grammar (tokens, precedence, rules), its rules reading ``_grow_operation``."""
    names = vars(_luqum)
    if names.get("create_operation") is not tree.create_operation:  # luqum changed: look again
        raise ImportError("luqum.parser no longer builds its operations with luqum.tree.create_operation")
    rule_globals = {**names, "create_operation": _grow_operation}
    grammar: dict[str, Any] = {}
    for name, value in names.items():
        if name.startswith("p_") and isinstance(value, types.FunctionType):
            rule = types.FunctionType(value.__code__, rule_globals, name, value.__defaults__)
            rule.__doc__ = value.__doc__
            rule.__module__ = value.__module__
            grammar[name] = rule
        elif name in ("tokens", "precedence", "__file__"):
            grammar[name] = value
    grammar["__module__"] = _luqum.__name__
    return grammar


# the same rules in the same order as luqum's, so its own tables fit and are read, not rebuilt
_parser = yacc.yacc(
    module=types.SimpleNamespace(**_grammar()),
    tabmodule="luqum.parsetab",
    write_tables=False,
    debug=False,
    errorlog=yacc.NullLogger(),
)


def parse_lucene(text: str) -> tree.Item:
    """The luqum tree of ``text``; raises luqum's ParseError (or IllegalCharacterError)."""
    lexer = getattr(_local, "lexer", None)
    if lexer is None:
        lexer = _local.lexer = _luqum.lexer.clone()
    found: tree.Item = _parser.parse(text, lexer=lexer)
    _freeze(found)
    return found


def _freeze(root: tree.Item) -> None:
    """Give every operation luqum's tuple of operands back (iteratively: the tree may be deep)."""
    stack = [root]
    while stack:
        node = stack.pop()
        if isinstance(node, tree.BaseOperation) and isinstance(node.operands, _Growing):
            node.operands = tuple(node.operands)
        stack.extend(node.children)
