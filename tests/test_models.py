"""An article's content fingerprint: what the store recognises a republished text by."""

from __future__ import annotations

import re
import unicodedata

from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.models import TermHit, _digest, content_fingerprint


def test_content_fingerprint_is_blind_to_case_spacing_and_unicode_form() -> None:
    stored = content_fingerprint("Cessate il fuoco a Gaza", "", "La tregua\u00a0regge.\n\nKyïv  e NATO")
    assert stored == "e4d7eac7d03ca58c25f91f1f8e2b2c9e"  # fingerprints already stored must not change
    assert (
        content_fingerprint(" cessate IL fuoco\ta gaza ", "", "la tregua regge. kyi\u0308v e nato") == stored
    )
    assert content_fingerprint("Cessate il fuoco a Gaza", "", "La tregua regge. Kyiv e NATO") != stored


@settings(max_examples=300, deadline=None)
@given(
    st.text(st.one_of(st.characters(), st.sampled_from(list(" \t\n\r\x0b\x0c\x1c\x85\u00a0\u2028\u3000"))))
)
def test_content_fingerprint_reads_whitespace_as_the_regex_would(text: str) -> None:
    def by_regex(part: str) -> str:
        return re.sub(r"\s+", " ", unicodedata.normalize("NFC", part)).strip().casefold()

    assert content_fingerprint(text, "", text) == _digest(by_regex(text), "", by_regex(text))


def test_a_term_hit_is_stored_with_every_field() -> None:
    hit = TermHit("Nato", "NATO", "body", 10, 14)
    assert hit.as_dict() == hit._asdict()
    assert hit.as_dict() == {"term": "Nato", "text": "NATO", "field": "body", "start": 10, "end": 14}
