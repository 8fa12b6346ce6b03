import numpy as np
from spacy.tokens import Doc

def word_columns(doc: Doc, start: int, /) -> tuple[np.ndarray, np.ndarray | None, np.ndarray]: ...
