"""Where the stages meet: sources → articles → matcher → store → outbox → channels.

Read top to bottom, this module is the whole flow (like miniflux's RefreshFeed):
``scan_folder``/``scan_files`` and ``poll_feed`` turn inputs into articles, ``process``
matches and records them with their alerts in one transaction, and
``deliver_due`` sends what the outbox holds (monitor/pipeline/deliver.py).  It is one of the two places
allowed to catch broadly: a bad file or feed is logged with its name and the
run goes on.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import random
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import ParamSpec, TypeVar

from monitor.config import FeedSource, FolderSource, Settings, secret_values
from monitor.errors import (
    ArticleParseError,
    FeedFetchError,
    SourceError,
    StoreError,
)
from monitor.matching.matcher import ArticleMatcher
from monitor.metrics import Metrics
from monitor.models import Article, FeedState, Match, clean_text, content_fingerprint
from monitor.notify.base import Notifier
from monitor.pipeline.deliver import DeliveryReport, Outbox, RunBlocking, utcnow
from monitor.pipeline.seen import FeedKey, SeenEntries, body_digest
from monitor.pipeline.stories import StoryGrouper
from monitor.redact import Redactor
from monitor.sources.confine import FolderBounds, RefusedFile
from monitor.sources.feeds import FeedFetch, FeedFetcher
from monitor.sources.feedstate import Polled, after_poll
from monitor.sources.files import iter_article_file, iter_folder, size_limit
from monitor.sources.language import LanguageGuesser
from monitor.sources.parse import ParsedFeed, parse_feed_entries
from monitor.sources.parsepool import FeedParsers
from monitor.sources.text import charset_of, decode_bytes, extract_html_article
from monitor.store.leases import claims_for
from monitor.store.repo import BatchResult, FileRecord, Routed, Store

log = logging.getLogger(__name__)
BATCH_ARTICLES = 200
MAX_FILE_BYTES = 50 * 2**20  # an article file larger than this is a mistake, not news
# Files read before their fingerprints are checked in one query: a query per file cost about
# a tenth of `monitor scan`; the bytes held are bounded as well as the count.
READ_AHEAD_FILES = 50
READ_AHEAD_BYTES = 16 * 2**20
P = ParamSpec("P")
T = TypeVar("T")


@dataclass
class IngestReport:
    """What one pass over a source did: the numbers ``monitor scan`` prints."""

    files: int = 0
    skipped: int = 0
    failed: int = 0
    articles: int = 0
    duplicates: int = 0
    hits: int = 0
    alerts: int = 0
    failures: list[str] = field(default_factory=list)

    def add(self, batch: BatchResult) -> None:
        self.articles += batch.articles
        self.duplicates += batch.duplicates
        self.hits += batch.hits
        self.alerts += batch.deliveries

    def merge(self, other: IngestReport) -> None:
        for name in ("files", "skipped", "failed", "articles", "duplicates", "hits", "alerts"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.failures.extend(other.failures)

    def summary(self) -> str:
        return (
            f"files={self.files} skipped={self.skipped} failed={self.failed} "
            f"articles={self.articles} duplicates={self.duplicates} hits={self.hits} "
            f"alerts={self.alerts}"
        )


class Pipeline:
    """The stages wired together for one configuration."""

    def __init__(
        self, settings: Settings, store: Store, matcher: ArticleMatcher, guesser: LanguageGuesser
    ) -> None:
        self.settings = settings
        self.store = store
        self.matcher = matcher
        self.guesser = guesser
        self.stopping = threading.Event()  # set by the daemon: long scans stop between files
        self.stories = StoryGrouper(settings.dedup, store)
        # which replica does what, when several share one PostgreSQL (store/leases.py)
        self.claims = claims_for(store, settings.leases.ttl)
        self._rng = random.Random()  # jitter of feed schedules
        self.metrics: Metrics | None = None  # the daemon's, when there is one
        self.seen = SeenEntries()  # each feed's last body and entries: what the next poll passes over
        self._redactor: tuple[Settings, Redactor] | None = None
        self.outbox = Outbox(self)

    def redact(self, text: str) -> str:
        """``text`` with every secret of the current settings masked: what a stored error may hold."""
        if self._redactor is None or self._redactor[0] is not self.settings:
            self._redactor = (self.settings, Redactor(secret_values(self.settings)))
        return self._redactor[1](text)

    # -- matching and recording ----------------------------------------------------------
    def route(self, match: Match, article: Article) -> list[str]:
        """The channels a match goes to: the rule's own, else the configured defaults, each
        unless its ``sources``/``tags`` filter leaves this article's source out."""
        channels = self.settings.channels
        return [
            name
            for name in match.notify or self.settings.default_notify
            if channels[name].wants(article.source, article.tags)
        ]

    def process(self, articles: Sequence[Article], files: Sequence[FileRecord] = ()) -> BatchResult:
        """Match the new articles among ``articles`` and record them with their alerts, atomically."""
        fresh = self.guesser.ensure_all(self.store.unseen(articles))
        now = utcnow()
        routed = [
            Routed(article, [(m, self.route(m, article)) for m in matches], *self.stories.place(article, now))
            for article, matches in zip(fresh, self.matcher.match_many(fresh), strict=True)
        ]
        result = self.store.record(routed, files, now)
        result.duplicates += len(articles) - len(fresh)
        for item in routed:
            if item.story:
                log.info("article=%r republishes story %s: no new alert", item.article.title[:80], item.story)
            for match, _channels in item.matches:
                log.info(
                    "hit rule=%s article=%r terms=%s",
                    match.rule_id,
                    item.article.title[:80],
                    ",".join(match.matched_texts),
                )
        return result

    # -- files ---------------------------------------------------------------------------
    def scan_folder(
        self, folder: FolderSource, on_file: Callable[[Path], None] | None = None
    ) -> IngestReport:
        """One pass over a watched folder: new or changed files are read, the rest skipped unread."""
        return self.scan_folder_files(folder, self.list_folder(folder), on_file)

    def list_folder(self, folder: FolderSource) -> list[Path]:
        if not folder.path.is_dir():
            raise SourceError(f"folder {folder.path} does not exist or is not a folder")
        return list(iter_folder(folder, refused_links=True))

    def scan_folder_files(
        self, folder: FolderSource, paths: Sequence[Path], on_file: Callable[[Path], None] | None = None
    ) -> IngestReport:
        """Some of a watched folder's files, recorded as that folder's (name, language, tags).

        One replica at a time scans a folder: if another holds it, nothing is
        done now and the next scan finds what is left.
        """
        lease = f"folder:{folder.path}"
        if not self.claims.task(lease, utcnow()):
            log.debug("folder=%s is being scanned by another replica", folder.path)
            return IngestReport()
        try:
            return self.scan_files(
                paths,
                source=folder.source_name,
                language=folder.language,
                tags=tuple(folder.tags),
                under=str(folder.path),
                on_file=on_file,
                bounds=FolderBounds.of(folder),
            )
        finally:
            self.claims.release_task(lease)

    def scan_files(
        self,
        paths: Sequence[Path],
        *,
        source: str,
        language: str | None = None,
        tags: tuple[str, ...] = (),
        under: str = "",
        on_file: Callable[[Path], None] | None = None,
        bounds: FolderBounds | None = None,
    ) -> IngestReport:
        """Files in batches of at most BATCH_ARTICLES articles (or files), each one transaction.

        A file with more articles than a batch goes in several: its record (what
        makes the next scan skip it) with the last, so a crash midway reads it again
        and the articles already stored are recognised as duplicates.
        """
        report = IngestReport()
        known = self.store.file_index(under)
        batch: list[_Part] = []
        unread = _ReadAhead()
        unrecorded: set[str] = set()  # fingerprints parsed in this scan and not yet recorded

        def add(parts: Iterable[_Part]) -> None:
            for part in parts:
                batch.append(part)
                if len(batch) >= BATCH_ARTICLES or sum(len(p.articles) for p in batch) >= BATCH_ARTICLES:
                    self._record_files(batch, report)
                    unrecorded.difference_update(p.record.fingerprint for p in batch if p.last)
                    batch.clear()

        for path in paths:
            if self.stopping.is_set():
                log.info("stopping: scan interrupted after %d file(s); the rest next time", report.files)
                break
            if on_file:
                on_file(path)
            read = self._read_file(path, known, report, bounds)
            if read is None:
                continue
            if isinstance(read, FileRecord):  # failed before its content could be checked
                add([_Part(read, [])])
            else:
                unread.add(*read)
            if unread.full():
                add(self._parse_files(unread.take(), unrecorded, source, language, tags, report))
        add(self._parse_files(unread.take(), unrecorded, source, language, tags, report))
        if batch:
            self._record_files(batch, report)
        return report

    def _record_files(self, batch: list[_Part], report: IngestReport) -> None:
        """Record a batch in one transaction; if the database refuses it, find the file to blame.

        A row the database rejects (a value it cannot store) would fail its whole
        batch on every scan; retried file by file, only the culprit is recorded as
        failed, with the database's reason, and the rest go in.  A part of a large
        file is retried article by article instead: its file is recorded with its last part.
        """
        try:
            articles = [a for part in batch for a in part.articles]
            report.add(self.process(articles, [part.record for part in batch if part.last]))
            return
        except StoreError as exc:
            if exc.transient:
                raise
            log.warning("a batch of %d file(s) was refused (%s); retrying file by file", len(batch), exc)
        for part in batch:
            if not part.last:
                report.add(self._record_one_by_one(part.articles, f"file={part.record.path}"))
                continue
            try:
                report.add(self.process(part.articles, [part.record]))
            except StoreError as exc:
                if exc.transient:
                    raise
                failed = self._failed(report, part.record, f"{part.record.path}: {exc}")
                report.add(self.process([], [failed]))

    def _record_entries(
        self, articles: list[Article], feed: FeedSource, refused: set[str] | None = None
    ) -> BatchResult:
        """A feed's entries in batches of BATCH_ARTICLES, each one transaction; an entry the
        database refuses is named and skipped (and its uid added to ``refused``)."""
        total = BatchResult()
        for start in range(0, len(articles), BATCH_ARTICLES):
            part = articles[start : start + BATCH_ARTICLES]
            try:
                total.merge(self.process(part))
                continue
            except StoreError as exc:
                if exc.transient:
                    raise
                log.warning("feed=%s batch refused (%s); retrying entry by entry", feed.source_name, exc)
            total.merge(self._record_one_by_one(part, f"feed={feed.source_name}", refused))
        return total

    def _record_one_by_one(
        self, articles: Sequence[Article], where: str, refused: set[str] | None = None
    ) -> BatchResult:
        total = BatchResult()
        for article in articles:
            try:
                total.merge(self.process([article]))
            except StoreError as exc:
                if exc.transient:
                    raise
                log.error("%s entry=%s skipped: %s", where, article.origin, exc)
                if refused is not None:
                    refused.add(article.uid)
        return total

    def _read_file(
        self, path: Path, known: dict[str, tuple[int, int]], report: IngestReport, bounds: FolderBounds | None
    ) -> FileRecord | tuple[FileRecord, bytes] | None:
        """A new or changed file's bytes; None when it is unchanged or gone, a failed record when
        it cannot be read, or may not be (a link out of its folder: known by the link's own
        size and time, so it is reported once)."""
        refused = bounds.refusal(path) if bounds is not None else None
        try:
            stat = path.lstat() if refused else path.stat()
        except OSError:  # gone between listing and reading: nothing to report
            return None
        if known.get(str(path)) == (stat.st_size, stat.st_mtime_ns):
            report.skipped += 1
            return None
        report.files += 1
        unread = FileRecord(str(path), stat.st_size, stat.st_mtime_ns, "", "failed")
        if refused:
            return self._failed(report, unread, refused)
        limit = min(MAX_FILE_BYTES, size_limit(path))
        if stat.st_size > limit:
            return self._failed(report, unread, f"{path}: larger than {_size(limit)}, not read")
        try:
            data = bounds.read(path, limit) if bounds is not None else path.read_bytes()
        except OSError as exc:
            return self._failed(report, unread, f"{path}: cannot be read: {exc.strerror}")
        except RefusedFile as exc:
            return self._failed(report, unread, str(exc))
        fingerprint = hashlib.sha256(data).hexdigest()[:32]
        return replace(unread, fingerprint=fingerprint, status="ingested"), data

    def _parse_files(
        self,
        files: list[tuple[FileRecord, bytes]],
        unrecorded: set[str],
        source: str,
        language: str | None,
        tags: tuple[str, ...],
        report: IngestReport,
    ) -> Iterator[_Part]:
        """Parse files read ahead, except those whose content is already stored (one query for all)
        or repeats a file this scan parsed and has not recorded yet."""
        if not files:
            return
        stored = self.store.fingerprint_seen(record.fingerprint for record, _ in files)
        for record, data in files:
            if record.fingerprint in stored or record.fingerprint in unrecorded:
                report.skipped += 1
                same = "same content as a file already read"
                yield _Part(replace(record, status="duplicate", reason=same), [])
                continue
            unrecorded.add(record.fingerprint)
            yield from self._file_parts(record, data, source, language, tags, report)

    def _file_parts(
        self,
        record: FileRecord,
        data: bytes,
        source: str,
        language: str | None,
        tags: tuple[str, ...],
        report: IngestReport,
    ) -> Iterator[_Part]:
        """One file's articles, BATCH_ARTICLES at a time, parsed as they are consumed."""
        path = Path(record.path)
        found: list[Article] = []
        count = 0
        try:
            for article in iter_article_file(path, data, source=source, language=language, tags=tags):
                found.append(article)
                count += 1
                if len(found) >= BATCH_ARTICLES:
                    yield _Part(record, found, last=False)
                    found = []
        except ArticleParseError as exc:
            yield _Part(self._failed(report, record, str(exc)), [])
            return
        except Exception as exc:  # a parser bug must not stop the folder; the file is named
            log.exception("file=%s failed unexpectedly", path)
            yield _Part(self._failed(report, record, f"{path}: {exc!r}"), [])
            return
        yield _Part(replace(record, articles=count), found)

    @staticmethod
    def _failed(report: IngestReport, record: FileRecord, reason: str) -> FileRecord:
        """Recorded with its size and time, so it is reported once and retried only when it changes."""
        log.error("file failed: %s", reason)
        report.failed += 1
        report.failures.append(reason)
        return replace(record, status="failed", reason=reason)

    # -- feeds ---------------------------------------------------------------------------
    async def poll_feed(
        self,
        fetcher: FeedFetcher,
        feed: FeedSource,
        run: RunBlocking,
        parsers: FeedParsers | None = None,
    ) -> IngestReport:
        """Fetch one feed if it is due (conditional GET) and process its new entries.

        ``run`` executes blocking work (database, spaCy) off the event loop, in the
        single worker thread the daemon owns; ``parsers``, when given, parse the
        feed in other processes (else ``run`` does).  Whatever happens, the feed's
        state (validators, backoff, health) is stored, and a health change is alerted.
        Replicas on one PostgreSQL claim the feed first: if another holds it, or
        fetched it less than ¾ of its interval ago, nothing is done now.
        """
        if self.stopping.is_set():  # stopping: no new work
            return IngestReport()
        if not await run(self.claims.feed, feed.url, feed.interval, utcnow()):
            log.debug("feed=%s polled by another replica (or within its interval)", feed.source_name)
            return IngestReport()
        try:
            return await self._poll_claimed(fetcher, feed, run, parsers)
        finally:
            await run(self.claims.release_feed, feed.url)

    async def _poll_claimed(
        self, fetcher: FeedFetcher, feed: FeedSource, run: RunBlocking, parsers: FeedParsers | None
    ) -> IngestReport:
        report = IngestReport()
        state = await run(self.store.feed_state, feed.url)
        now = utcnow()
        if not state.due(now, feed.interval):
            if state.disabled:
                log.debug("feed=%s disabled: %s", feed.source_name, state.disabled)
            return report
        polled = Polled()
        started = time.monotonic()
        try:
            fetched = await fetcher.fetch(
                state.current_url,
                etag=state.etag,
                last_modified=state.last_modified,
                timeout=self.settings.http.timeout,
                max_bytes=self.settings.http.max_bytes,
            )
            polled = Polled(fetched.status, fetched.etag, fetched.last_modified, fetched.permanent_url)
            if fetched.content is not None:
                report = await self._ingest_feed(fetcher, feed, fetched, run, parsers)
                polled = replace(polled, new_entries=report.articles)
            else:
                log.debug("feed=%s not modified (304)", feed.source_name)
        except (FeedFetchError, ArticleParseError, StoreError) as exc:
            # a feed the database refuses is shown failing in `monitor feeds`, like one that
            # cannot be fetched, and backs off the same way; its neighbours are not held up
            polled = replace(polled, error=exc)
            log.warning("feed=%s failed (streak %d): %s", feed.source_name, state.error_streak + 1, exc)
            report.failed += 1
            report.failures.append(str(exc))
        if polled.error is None and polled.permanent_url and polled.permanent_url != state.current_url:
            log.warning(
                "feed=%s moved permanently to %s: fetching it there from now on (update the config)",
                feed.source_name,
                polled.permanent_url,
            )
        if self.metrics is not None:
            self.metrics.feed_polled(
                feed.source_name, time.monotonic() - started, failed=polled.error is not None
            )
        await run(self._save_poll, feed, state, polled)
        return report

    async def _ingest_feed(
        self,
        fetcher: FeedFetcher,
        feed: FeedSource,
        fetched: FeedFetch,
        run: RunBlocking,
        parsers: FeedParsers | None,
    ) -> IngestReport:
        # feedparser is CPU work: off the loop; the final URL resolves relative links
        # (the URL fetched is the base of relative links, whatever Content-Location says: RFC 9110)
        content, headers = fetched.content or b"", {**fetched.headers, "content-location": fetched.url}
        name, lang, tags = feed.source_name, feed.language, tuple(feed.tags)
        key: FeedKey = (feed.url, name, lang, tags)
        digest = body_digest(content)
        if self.seen.unchanged(key, digest):
            log.debug("feed=%s the same body as last read: nothing new", name)
            return IngestReport()
        known = self.seen.known(key)
        parsed: ParsedFeed
        if parsers is not None:
            parsed = await parsers.parse_entries(
                content, source=name, origin=feed.url, headers=headers, language=lang, tags=tags, known=known
            )
        else:
            parsed = await run(
                parse_feed_entries,
                content,
                source=name,
                origin=feed.url,
                headers=headers,
                language=lang,
                tags=tags,
                known=known,
            )
        articles = parsed.articles
        uids = [article.uid for article in articles]
        if feed.full_text:
            fresh = await run(self.store.unseen, articles)
            articles = await asyncio.gather(*(self._with_full_text(fetcher, feed, a) for a in fresh))
        report = IngestReport(duplicates=len(parsed.known))
        refused: set[str] = set()
        report.add(await run(self._record_entries, list(articles), feed, refused))
        self.seen.remember(key, digest, [*uids, *parsed.known], refused)
        log.info(
            "feed=%s entries=%d new=%d seen=%d hits=%d alerts=%d",
            feed.source_name,
            len(uids) + len(parsed.known),
            report.articles,
            report.duplicates,
            report.hits,
            report.alerts,
        )
        return report

    async def _with_full_text(self, fetcher: FeedFetcher, feed: FeedSource, article: Article) -> Article:
        """The entry with its linked page's article text as body; the feed's text if that fails.

        The link is a stranger's URL: it goes through the guarded client, so it
        cannot reach the local network, under the same size and time limits.
        """
        if not article.url:
            return article
        try:
            page = await fetcher.fetch_untrusted(
                article.url, timeout=self.settings.http.timeout, max_bytes=self.settings.http.max_bytes
            )
            html = decode_bytes(page.content or b"", charset_of(page.headers.get("content-type", "")))
            _title, text = await asyncio.to_thread(extract_html_article, html)
        except (FeedFetchError, ArticleParseError) as exc:
            log.warning(
                "feed=%s full text of %s not fetched, using the feed's: %s",
                feed.source_name,
                article.url,
                exc,
            )
            return article
        if len(text) <= len(article.body):
            return article
        summary, body = article.summary or article.body, clean_text(text)
        # the same story (uid from its entry id or link), with what the page says
        return replace(
            article, summary=summary, body=body, fingerprint=content_fingerprint(article.title, summary, body)
        )

    def _save_poll(self, feed: FeedSource, state: FeedState, polled: Polled) -> None:
        now = utcnow()
        new, event = after_poll(state, feed, polled, now, self.settings.health, self._rng)
        self.store.save_feed_state(new)
        if event is None:
            return
        channel = self.settings.health.channel
        log.warning("source health: %s%s", event.message, "" if channel else " (no health.channel to alert)")
        self.store.record_health(feed.url, feed.source_name, event, channel, now)

    # -- delivery ------------------------------------------------------------------------
    async def deliver_due(self, notifiers: dict[str, Notifier], run: RunBlocking) -> DeliveryReport:
        """Send every due alert (monitor/pipeline/deliver.py): channels in parallel, each channel's
        alerts in order; nothing while the database does not record what is sent."""
        return await self.outbox.deliver_due(notifiers, run)


@dataclass
class _Part:
    """Articles of one file; the file's record is stored with its ``last`` part."""

    record: FileRecord
    articles: list[Article]
    last: bool = True


def _size(limit: int) -> str:
    return f"{limit // 2**20} MiB" if limit >= 2**20 else f"{limit} bytes"


class _ReadAhead:
    """Files read but not yet parsed, up to READ_AHEAD_FILES or READ_AHEAD_BYTES."""

    def __init__(self) -> None:
        self.files: list[tuple[FileRecord, bytes]] = []
        self.size = 0

    def add(self, record: FileRecord, data: bytes) -> None:
        self.files.append((record, data))
        self.size += len(data)

    def full(self) -> bool:
        return len(self.files) >= READ_AHEAD_FILES or self.size >= READ_AHEAD_BYTES

    def take(self) -> list[tuple[FileRecord, bytes]]:
        files, self.files, self.size = self.files, [], 0
        return files
