"""A text with every character that is not a letter made a space, offsets unchanged.

Where the tokenizer never cuts between two letters but in special cases (monitor.matching.chunks,
LETTERS_GLUED), a token can start only where no letter stands before it and end only where
none follows.  In the text made of letters and spaces, that is a word written between two
spaces: an automaton whose keys carry those spaces (``" nato "``) finds a rule's word only
where a token may begin with it, in C, and never inside another word (see
``LanguageIndex.chunks_to_read``).  "Letter" is ``str.isalpha``, the test the rest of the
scan uses.
"""

from __future__ import annotations

import functools

import numpy as np

_ASCII_LETTERS_ONLY = bytes(code if chr(code).isalpha() else 0x20 for code in range(256))
_BMP = 0x10000


@functools.cache
def _bmp_table() -> np.ndarray:
    """Each character of the Basic Multilingual Plane → itself if it is a letter, else a space."""
    codes = np.arange(_BMP, dtype=np.uint32)
    letters = np.fromiter((chr(code).isalpha() for code in range(_BMP)), dtype=bool, count=_BMP)
    return np.where(letters, codes, 0x20).astype(np.uint32)


def letters_only(text: str) -> str:
    """``text`` with each character that is not a letter replaced by a space (same length)."""
    if text.isascii():  # nearly every folded text: one C-level translate of its bytes
        return text.encode("ascii").translate(_ASCII_LETTERS_ONLY).decode("ascii")
    codes = np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
    beyond = codes >= _BMP
    if not beyond.any():
        return _bmp_table().take(codes).tobytes().decode("utf-32-le", "surrogatepass")
    out = _bmp_table().take(np.where(beyond, 0, codes))
    for code in set(codes[beyond].tolist()):  # emoji, mathematical letters: a few kinds
        out[codes == code] = code if chr(code).isalpha() else 0x20
    return out.tobytes().decode("utf-32-le", "surrogatepass")
