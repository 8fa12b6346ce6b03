# cython: language_level=3, boundscheck=False, wraparound=False, initializedcheck=False
"""A field's scan columns in one pass over spaCy's token array (see monitor.matching.columns)."""

import numpy as np

from spacy.attrs cimport IS_PUNCT, IS_SPACE, attr_id_t
from spacy.lexeme cimport Lexeme
from spacy.structs cimport LexemeC
from spacy.tokens.doc cimport Doc
from spacy.typedefs cimport attr_t


def word_columns(Doc doc, attr_id_t start):
    """(hashes of the non-space tokens, their positions in the doc or None when no token is
    space, the positions among them of the tokens whose lexeme has the ``start`` flag)."""
    cdef int n = doc.length
    cdef int i
    cdef int k = 0
    cdef int s = 0
    orths = np.empty(n, dtype=np.uint64)
    kept = np.empty(n, dtype=np.intp)
    starting = np.empty(n, dtype=np.intp)
    cdef attr_t[::1] orth_at = orths
    cdef Py_ssize_t[::1] kept_at = kept
    cdef Py_ssize_t[::1] starting_at = starting
    cdef const LexemeC* lex
    for i in range(n):
        lex = doc.c[i].lex
        if Lexeme.c_check_flag(lex, IS_SPACE):
            continue
        orth_at[k] = lex.orth
        kept_at[k] = i
        if Lexeme.c_check_flag(lex, start):
            starting_at[s] = k
            s += 1
        k += 1
    return orths[:k], (None if k == n else kept[:k]), starting[:s]


def word_numbers(Doc doc):
    """For each non-space token, how many words (tokens that are no punctuation) come before
    it, and last the field's number of words: proximity counts words, not punctuation."""
    cdef int n = doc.length
    cdef int i
    cdef int words = 0
    cdef const LexemeC* lex
    numbers = []
    for i in range(n):
        lex = doc.c[i].lex
        if Lexeme.c_check_flag(lex, IS_SPACE):
            continue
        numbers.append(words)
        if not Lexeme.c_check_flag(lex, IS_PUNCT):
            words += 1
    numbers.append(words)
    return numbers


def flagged_words(Doc doc, str text, attr_id_t flag):
    """(the positions among the non-space tokens of those whose lexeme has ``flag``, their texts
    cut from ``text``, the doc's text): what a woken rule tests a deferred wildcard against."""
    cdef int n = doc.length
    cdef int i
    cdef int k = 0
    cdef Py_ssize_t at
    cdef const LexemeC* lex
    positions = []
    words = []
    for i in range(n):
        lex = doc.c[i].lex
        if Lexeme.c_check_flag(lex, IS_SPACE):
            continue
        if Lexeme.c_check_flag(lex, flag):
            at = doc.c[i].idx
            positions.append(k)
            words.append(text[at : at + lex.length])
        k += 1
    return positions, words
