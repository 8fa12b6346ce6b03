# cython: language_level=3, boundscheck=False, wraparound=False, initializedcheck=False
"""A field's scan columns in one pass over spaCy's token array (see monitor.matching.columns)."""

import numpy as np

from libcpp.vector cimport vector

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
    cdef int k = 0
    cdef Py_ssize_t words = 0
    cdef const LexemeC* lex
    numbers = np.empty(n + 1, dtype=np.intp)
    cdef Py_ssize_t[::1] number_at = numbers
    for i in range(n):
        lex = doc.c[i].lex
        if Lexeme.c_check_flag(lex, IS_SPACE):
            continue
        number_at[k] = words
        k += 1
        if not Lexeme.c_check_flag(lex, IS_PUNCT):
            words += 1
    number_at[k] = words
    return numbers[: k + 1]


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


def phrase_spans(const attr_t[:] orths, list forms):
    """Token spans (end exclusive) where one of ``forms``, each (first token's hash, the hashes
    of the tokens after it), occurs among ``orths``, in reading order."""
    cdef Py_ssize_t n = orths.shape[0]
    cdef Py_ssize_t i, j, m
    cdef attr_t first
    cdef vector[attr_t] rest
    cdef bint same
    spans = []
    for form_first, form_rest in forms:
        first = form_first
        rest.clear()
        for value in form_rest:
            rest.push_back(value)
        m = rest.size()
        for i in range(n - m):
            if orths[i] != first:
                continue
            same = True
            for j in range(m):
                if orths[i + 1 + j] != rest[j]:
                    same = False
                    break
            if same:
                spans.append((i, i + 1 + m))
    if len(forms) > 1:
        spans.sort()
    return spans


def prefixed_words(Doc doc, str text, attr_id_t flag, str prefix):
    """The positions among the non-space tokens of those whose lexeme has ``flag`` and whose
    text in ``text`` (the doc's) starts with ``prefix``: one deferred wildcard's words, compared
    in place rather than cut out of the text."""
    cdef int n = doc.length
    cdef int i
    cdef int k = 0
    cdef Py_ssize_t j, at
    cdef Py_ssize_t m = len(prefix)
    cdef const LexemeC* lex
    positions = []
    for i in range(n):
        lex = doc.c[i].lex
        if Lexeme.c_check_flag(lex, IS_SPACE):
            continue
        if lex.length >= m and Lexeme.c_check_flag(lex, flag):
            at = doc.c[i].idx
            for j in range(m):
                if text[at + j] != prefix[j]:
                    break
            else:
                positions.append(k)
        k += 1
    return positions
