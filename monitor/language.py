"""Which language an article is in, when its source does not say.

lingua is accurate on short news text; its models are loaded lazily and only
for the configured languages (all models preloaded cost ≈250 MB, DESIGN.md).
Detection reads the first 1,000 characters: as accurate for news, 4× cheaper.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections.abc import Iterable

from lingua import IsoCode639_1, LanguageDetector, LanguageDetectorBuilder

from monitor.models import Article

log = logging.getLogger(__name__)
SAMPLE_CHARS = 1000


class LanguageGuesser:
    """Fills in ``Article.language`` from the text, among the configured languages."""

    def __init__(self, languages: Iterable[str], default: str) -> None:
        self.default = default
        codes = []
        for lang in sorted(set(languages) | {default}):
            try:
                codes.append(IsoCode639_1.from_str(lang))
            except ValueError:
                log.warning("language %r cannot be detected automatically; only declared", lang)
        self._codes = codes
        self._detector: LanguageDetector | None = None
        self._lock = threading.Lock()

    def _get(self) -> LanguageDetector | None:
        if len(self._codes) < 2:
            return None
        with self._lock:
            if self._detector is None:
                self._detector = (
                    LanguageDetectorBuilder.from_iso_codes_639_1(*self._codes)
                    .with_minimum_relative_distance(0.05)
                    .build()
                )
            return self._detector

    def guess(self, text: str) -> str:
        detector = self._get()
        if detector is None or not text.strip():
            return self.default
        found = detector.detect_language_of(text[:SAMPLE_CHARS])
        return found.iso_code_639_1.name.lower() if found is not None else self.default

    def ensure(self, article: Article) -> Article:
        if article.language:
            return article
        sample = " ".join(p for p in (article.title, article.summary, article.body) if p)
        return dataclasses.replace(article, language=self.guess(sample))
