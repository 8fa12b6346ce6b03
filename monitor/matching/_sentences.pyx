# cython: language_level=3, boundscheck=False, wraparound=False
"""Sentence boundaries around a hit, read character by character in C (see monitor.matching.snippet).

The same boundaries as ``snippet._SENTENCE_END`` finds (end punctuation, closing marks, then
whitespace; or a blank line) by the left-to-right scan the regular expression engine makes,
without its per-position overhead, and looking back from the hit only as far as the last
boundary: under a microsecond where the regex searches took about eight, and a fired rule's snippet
was the largest part of building its match.
"""

from cpython.unicode cimport PyUnicode_DATA, PyUnicode_KIND, PyUnicode_READ, Py_UNICODE_ISSPACE


cdef struct Text:
    int kind
    void* data


cdef inline Py_UCS4 _at(Text t, Py_ssize_t i) noexcept:
    return PyUnicode_READ(t.kind, t.data, i)


cdef inline bint _ends(Py_UCS4 c) noexcept:
    return c == u"." or c == u"!" or c == u"?" or c == u"…"


cdef inline bint _closes(Py_UCS4 c) noexcept:
    return c == u'"' or c == u"'" or c == u"»" or c == u"”" or c == u"’" or c == u")" or c == u"]"


cdef inline bint _plain(Py_UCS4 c) noexcept:
    """No part of a boundary: a boundary, and the punctuation it looks back at, lie inside one
    run of characters that are not plain."""
    return not (Py_UNICODE_ISSPACE(c) or _ends(c) or _closes(c))


cdef Py_ssize_t _boundary_end(Text t, Py_ssize_t at, Py_ssize_t stop) noexcept:
    """Where a boundary that starts at ``at`` ends, seeing no further than ``stop``; -1 if none
    starts there.  The first form (after end punctuation: closing marks, then whitespace) is
    tried first, as the regular expression's alternation does."""
    cdef Py_ssize_t i
    cdef Py_ssize_t last
    if at > 0 and _ends(_at(t, at - 1)):
        i = at
        while i < stop and _closes(_at(t, i)):
            i += 1
        if i < stop and Py_UNICODE_ISSPACE(_at(t, i)):
            while i < stop and Py_UNICODE_ISSPACE(_at(t, i)):
                i += 1
            return i
    if at < stop and _at(t, at) == u"\n":
        last = -1
        i = at + 1
        while i < stop and Py_UNICODE_ISSPACE(_at(t, i)):
            if _at(t, i) == u"\n":
                last = i + 1
            i += 1
        return last
    return -1


cdef Py_ssize_t _last_boundary(Text t, Py_ssize_t window, Py_ssize_t start) noexcept:
    """The end of the last boundary a scan from ``window`` finds before ``start``, or -1.

    Runs of characters that are not plain are taken from the right: the scan is in step at
    the start of each (a plain character before it, or the window's edge), so scanning the
    run alone finds what the whole scan would find there.
    """
    cdef Py_ssize_t i = start - 1
    cdef Py_ssize_t first, at, found, last
    while i >= window:
        if _plain(_at(t, i)):
            i -= 1
            continue
        first = i
        while first > window and not _plain(_at(t, first - 1)):
            first -= 1
        last = -1
        at = first
        while at <= i:
            found = _boundary_end(t, at, start)
            if found > at:
                last = found
                at = found
            else:
                at += 1
        if last != -1:
            return last
        i = first - 1
    return -1


def sentence_bounds(str text, Py_ssize_t start, Py_ssize_t end, Py_ssize_t reach):
    """Start and end of the sentence(s) holding ``text[start:end]``, looking at most ``reach`` away."""
    cdef Text t
    t.kind = PyUnicode_KIND(text)
    t.data = PyUnicode_DATA(text)
    cdef Py_ssize_t n = len(text)
    cdef Py_ssize_t window = start - reach if start > reach else 0
    cdef Py_ssize_t stop = end + reach if end + reach < n else n
    cdef Py_ssize_t left = _last_boundary(t, window, start)
    if left == -1:
        left = window
    cdef Py_ssize_t at = end
    while at < stop:
        if _boundary_end(t, at, stop) > at:
            return left, at
        at += 1
    return left, stop
