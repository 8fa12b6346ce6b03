"""The history read back for backtests: the window's texts first, the rest of an article by id."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from monitor.models import make_article
from monitor.store.repo import Routed, Store

NOW = datetime(2026, 12, 7, 8, 0, tzinfo=UTC)


def test_history_texts_then_the_rest_give_the_stored_articles(store: Store) -> None:
    """Every field as ``iter_articles`` reads it, newest first, for the articles asked for only."""
    for n in range(5):
        article = make_article(
            title=f"Titolo {n}",
            summary=f"Sommario {n}",
            body=f"Testo {n}",
            url=f"https://example.org/{n}",
            published=NOW - timedelta(days=n),
            language=["it", "en", None][n % 3],
            source="Esteri",
            origin=f"feed/{n}",
            tags=("esteri", f"t{n}"),
            authors=(f"Autore {n}",) if n % 2 else (),
        )
        store.record([Routed(article, [])], [], NOW + timedelta(minutes=n))
    texts = [text for chunk in store.newest_texts(chunk=2) for text in chunk]
    assert [text.title for text in texts] == [f"Titolo {n}" for n in reversed(range(5))]
    assert store.with_texts(texts) == list(store.iter_articles())
    assert store.with_texts(texts[1::2]) == list(store.iter_articles())[1::2]
