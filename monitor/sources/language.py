"""Which language an article is in, when its source does not say.

lingua is accurate on short news text; its models are loaded lazily and only
for the configured languages (preloading every model costs much memory, DESIGN.md).
Detection reads the first 1,000 characters: as accurate for news, and much cheaper
than the whole text.  A batch's articles are detected together on every core
(lingua's own threads): the same answers as one by one, in less wall-clock time
(the same CPU time; RAYON_NUM_THREADS=1 keeps it to one thread).
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections.abc import Iterable, Sequence

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
        return self.guess_all([text])[0]

    def guess_all(self, texts: Sequence[str]) -> list[str]:
        """Each text's language, or the default for an empty one or when lingua is unsure."""
        detector = self._get()
        if detector is None:
            return [self.default] * len(texts)
        samples = [text[:SAMPLE_CHARS] for text in texts]
        wanted = [i for i, sample in enumerate(samples) if sample.strip()]
        found = (
            detector.detect_languages_in_parallel_of([samples[i] for i in wanted])
            if len(wanted) > 1
            else [detector.detect_language_of(samples[i]) for i in wanted]
        )
        out = [self.default] * len(texts)
        for i, language in zip(wanted, found, strict=True):
            if language is not None:
                out[i] = language.iso_code_639_1.name.lower()
        return out

    def ensure(self, article: Article) -> Article:
        return self.ensure_all([article])[0]

    def ensure_all(self, articles: Sequence[Article]) -> list[Article]:
        """The articles with a language each: the declared one, else the detected one."""
        unknown = [i for i, article in enumerate(articles) if not article.language]
        guessed = self.guess_all([_sample(articles[i]) for i in unknown])
        out = list(articles)
        for i, language in zip(unknown, guessed, strict=True):
            out[i] = dataclasses.replace(out[i], language=language)
        return out


def _sample(article: Article) -> str:
    return " ".join(p for p in (article.title, article.summary, article.body) if p)
