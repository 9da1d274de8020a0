"""One ingestion cycle: fetch, archive, read, classify, parse, attribute, record.

Each message goes through the stages on its own. Whatever goes wrong with one
message (unreadable MIME, a hostile attachment, a parser bug) is recorded against
it as a specific error, and the cycle goes on with the next. Only failures of the
service itself (mailbox unreachable, disk full) stop a cycle, and then nothing is
marked as processed, so the next cycle picks the same messages up again.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import time
from collections import Counter, deque
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, NamedTuple

import parsers
from mail_ingest import mime
from mail_ingest.archive import Archive, sha256
from mail_ingest.classify import classify
from mail_ingest.config import Config
from mail_ingest.errors import MailIngestError, TransientError
from mail_ingest.mailbox import FetchedMessage, MaildirSource, Partial, Preview, Source
from mail_ingest.outcomes import Outcome
from mail_ingest.reading import process, unread
from mail_ingest.store import MessageRecord, Store
from parsers.vocabulary import Taught
from rules.match_model import DEFAULT_SETTINGS, MatchSettings
from rules.units import UnitDirectory

if TYPE_CHECKING:  # at run time imported by the first message: a poll with nothing new,
    # the service's usual one, loads neither the name matcher nor the parsers
    from rules.matching import UnitMatcher

log = logging.getLogger(__name__)

# Called after each message with (messages done, messages planned if known).
Progress = Callable[[int, int | None], None]

# A poll stops taking new messages after this long, so the store lock is released (the
# scheduler, `assign`, `mark` wait for it); what is left is read by the next poll.
POLL_BUDGET_SECONDS = 10 * 60.0
# A position whose processing started this often without ending killed the process
# (an OOM kill, a SIGKILL): it is recorded as an error instead of read again.
MAX_ATTEMPTS = 2
# Messages read ahead a sandbox worker, and their bytes in all: enough that the workers
# stay busy while the poll fetches and triages the next batch of headers and downloads
# its bodies (200 headers: a fifth of a second of the poll's own work, in which the
# workers read some 60 messages). Two threads a worker carry them: one waits on a server
# while the other archives the next message or hands back an answer.
AHEAD_PER_WORKER = 32
AHEAD_BYTES = 64 * 2**20
THREADS_PER_WORKER = 2
CRASHED = (
    "the service stopped twice while reading this message (out of memory or killed); "
    "it was not read again so the other mail goes on. The raw message is in the archive: "
    "the board should look at it"
)


@dataclass
class PollResult:
    fetched: int = 0
    new: int = 0
    downloaded: int = 0  # bytes
    outcomes: Counter[str] = field(default_factory=Counter)
    out_of_time: bool = False  # the budget ran out: the next poll reads the rest

    @property
    def errors(self) -> int:
        return self.outcomes[Outcome.ERROR]


def poll(
    source: Source,
    store: Store,
    archive: Archive,
    units: UnitDirectory,
    specs: Sequence[parsers.FormSpec],
    progress: Progress | None = None,
    matching: MatchSettings = DEFAULT_SETTINGS,
    authserv_id: str | None = None,
    budget: float = POLL_BUDGET_SECONDS,
) -> PollResult:
    """Process the messages the source has not delivered before, for at most `budget` s.

    At least one message is taken per poll, so even a slow message makes progress.
    `authserv_id` names the board's own server in Authentication-Results (rules.authres).
    """
    result = PollResult()
    # Addresses the board taught (`assign --remember`) count from this poll on.
    learned = {a.address: a.unit_id for a in store.learned_addresses()}
    taught = store.taught()  # and what it taught the parsers (`teach`)
    ahead = _Ahead(units.with_learned(learned), matching, specs, authserv_id, taught)
    poll_id = store.start_poll()
    deadline = time.monotonic() + budget
    recorded = 0

    def record(fetched: FetchedMessage, done: MessageRecord) -> None:
        pending = source.acts and done.outcome == Outcome.SUBMISSION
        position = (fetched.source, fetched.uidvalidity, fetched.uid)
        if store.record(done, *position, action_pending=pending):
            result.new += 1
            result.outcomes[done.outcome] += 1
        nonlocal recorded
        recorded += 1
        _log(fetched, done)
        if progress is not None:
            progress(recorded, source.planned)

    try:
        for fetched in source.fetch_new(_Settled(store, ahead, record)):
            result.fetched += 1
            for finished in ahead.start(fetched, archive, store):
                record(*finished)
            if time.monotonic() >= deadline:
                result.out_of_time = True
                log.warning("poll budget of %.0f s used; the next poll reads the rest", budget)
                break
        for finished in ahead.drain():
            record(*finished)
    except BaseException as exc:
        # What was read already is recorded when the store can take it: a dropped
        # connection must not cost the messages in flight their first attempt.
        if isinstance(exc, TransientError):
            with contextlib.suppress(Exception):
                for finished in ahead.drain():
                    record(*finished)
        ahead.abandon()
        result.downloaded = source.downloaded
        store.finish_poll(
            poll_id, result.fetched, result.new, result.errors, result.downloaded,
            str(exc) if isinstance(exc, MailIngestError) else f"{type(exc).__name__}: {exc}",
        )  # fmt: skip
        raise
    finally:
        ahead.close()
        source.close()
    result.downloaded = source.downloaded
    store.finish_poll(poll_id, result.fetched, result.new, result.errors, result.downloaded)
    return result


class _Settled:
    """The store as a source's checkpoint while messages are read ahead.

    A source asks whether a copy was recorded, where to resume, or what awaits its
    after-processing action at a batch's or folder's start: every message it yielded
    before is recorded first, so the answer is the one a poll one at a time would get.
    A position being read counts as known (a source reconnecting does not yield it again).
    """

    def __init__(
        self,
        store: Store,
        ahead: _Ahead,
        record: Callable[[FetchedMessage, MessageRecord], None],
    ) -> None:
        self._store, self._ahead, self._record = store, ahead, record

    def _settle(self) -> None:
        for finished in self._ahead.drain():
            self._record(*finished)

    def last_uid(self, source: str, uidvalidity: int) -> int:
        self._settle()
        return self._store.last_uid(source, uidvalidity)

    def is_known(self, source: str, uidvalidity: int, uid: str) -> bool:
        position = (source, uidvalidity, uid)
        return self._ahead.in_flight(position) or self._store.is_known(*position)

    def has_message(
        self,
        message_id: str | None,
        size: int,
        gm_msgid: int | None,
        header_sha256: str | None = None,
    ) -> bool:
        # Only a copy of a message still being read waits for it to be recorded: the
        # others are the store's to answer while the messages ahead are read on.
        if self._ahead.may_be(size, gm_msgid, header_sha256):
            self._settle()
        return self._store.has_message(message_id, size, gm_msgid, header_sha256)

    def pending_actions(self, source: str, uidvalidity: int) -> list[int]:
        self._settle()
        return self._store.pending_actions(source, uidvalidity)

    def actions_done(self, source: str, uidvalidity: int, uids: list[int]) -> None:
        self._store.actions_done(source, uidvalidity, uids)


class _Reading(NamedTuple):
    fetched: FetchedMessage
    future: Future[MessageRecord]
    header_sha256: str  # the header's digest, asked of every message in flight (may_be)


class _Ahead:
    """Messages read ahead, recorded in order: a pipeline of `depth` messages.

    While one message's record is written, the next ones are read by a few threads, each
    message in one call to the sandbox's servers (one per core). AHEAD_PER_WORKER messages a
    server wait their turn (at most AHEAD_BYTES in all): while the poll fetches and triages
    the next batch, or unpickles and records one answer, the servers read on. Each message
    is still marked `processing`, then archived (the fsync waits in its reading thread),
    before its reading starts, and recorded in its own transaction, in mailbox order; a mark
    left by a crash makes the next poll fetch the message again, so a mark without its
    archive loses nothing. A message whose reading started before without ending (a crash
    while several were in flight) is read alone, after the ones before it are recorded: only
    the message that kills the process counts its attempts up to MAX_ATTEMPTS, never its
    neighbours.
    """

    def __init__(
        self,
        directory: UnitDirectory,
        matching: MatchSettings,
        specs: Sequence[parsers.FormSpec],
        authserv_id: str | None,
        taught: Taught,
        depth: int | None = None,
    ) -> None:
        from mail_ingest import sandbox

        self.depth = depth or sandbox.WORKERS * AHEAD_PER_WORKER
        self._directory, self._matching = directory, matching
        self._options = (specs, authserv_id, taught)
        self._matcher: UnitMatcher | None = None  # built for the first message
        self._executor: ThreadPoolExecutor | None = None
        self._flight: deque[_Reading] = deque()
        self._bytes = 0  # of the messages in flight

    def may_be(self, size: int, gm_msgid: int | None, header_sha256: str | None) -> bool:
        """Whether a message in flight may be recorded as this one (store.has_message's
        test: the Gmail id, or the header's digest and the size)."""
        return any(
            (gm_msgid is not None and r.fetched.gm_msgid == gm_msgid)
            or (r.fetched.size == size and header_sha256 in (None, r.header_sha256))
            for r in self._flight
        )

    def in_flight(self, position: tuple[str, int, str]) -> bool:
        return any(
            (r.fetched.source, r.fetched.uidvalidity, r.fetched.uid) == position
            for r in self._flight
        )

    def start(
        self, fetched: FetchedMessage, archive: Archive, store: Store
    ) -> Iterator[tuple[FetchedMessage, MessageRecord]]:
        """Begin reading a message; yields the ones finished before it, oldest first."""
        matcher = self._matcher_once()
        specs, authserv_id, taught = self._options
        read = functools.partial(process, authserv_id=authserv_id, taught=taught)
        digest = sha256(fetched.raw)
        attempts = store.begin(fetched.source, fetched.uidvalidity, fetched.uid)
        if attempts > MAX_ATTEMPTS:
            archive.put(fetched.raw, digest)
            log.error("%s uid=%s: %s", fetched.source, fetched.uid, CRASHED)
            done: Future[MessageRecord] = Future()
            done.set_result(replace(unread(fetched, digest), error=CRASHED))
            self._push(fetched, done)
        elif attempts > 1 or self.depth <= 1:
            yield from self.drain()  # alone: nothing else in flight if it kills again
            archive.put(fetched.raw, digest)
            yield fetched, read(fetched, digest, matcher, specs)
            return
        else:
            future = self._pool().submit(_archived, archive, read, fetched, digest, matcher, specs)
            self._push(fetched, future)
        while (
            len(self._flight) > self.depth
            or self._bytes > AHEAD_BYTES
            or (self._flight and self._flight[0].future.done())
        ):
            yield self._pop()

    def drain(self) -> Iterator[tuple[FetchedMessage, MessageRecord]]:
        while self._flight:
            yield self._pop()

    def abandon(self) -> None:
        """Let go of what is in flight: their `processing` marks make the next poll retry."""
        for reading in self._flight:
            reading.future.cancel()
        self._flight.clear()
        self._bytes = 0

    def _push(self, fetched: FetchedMessage, future: Future[MessageRecord]) -> None:
        self._flight.append(_Reading(fetched, future, mime.header_digest(fetched.raw)))
        self._bytes += len(fetched.raw)

    def _pop(self) -> tuple[FetchedMessage, MessageRecord]:
        """The oldest message in flight, once read (waits for it)."""
        reading = self._flight.popleft()
        self._bytes -= len(reading.fetched.raw)
        return reading.fetched, reading.future.result()

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)

    def _matcher_once(self) -> UnitMatcher:
        if self._matcher is None:
            from rules.matching import UnitMatcher

            m = self._matching
            self._matcher = UnitMatcher(self._directory, None, m.threshold, m.margin)
        return self._matcher

    def _pool(self) -> ThreadPoolExecutor:
        if self._executor is None:
            from mail_ingest import sandbox

            threads = min(self.depth, sandbox.WORKERS * THREADS_PER_WORKER)
            self._executor = ThreadPoolExecutor(threads, thread_name_prefix="read")
        return self._executor


def _archived(
    archive: Archive,
    read: Callable[..., MessageRecord],
    fetched: FetchedMessage,
    digest: str,
    *args: Any,
) -> MessageRecord:
    """Archive, then read: the raw bytes are on disk before any parser sees them, and the
    archive's fsync waits in this thread, not in the loop that records messages in order."""
    archive.put(fetched.raw, digest)
    return read(fetched, digest, *args)


def _log(fetched: FetchedMessage, record: MessageRecord) -> None:
    forms = ",".join(a.parsed.form for a in record.attachments if a.parsed.form) or "-"
    error = f" error={record.error!r}" if record.error else ""
    log.info(
        "%s uid=%s from=%s unit=%s forms=%s outcome=%s%s",
        fetched.source, fetched.uid, record.sender, record.unit_id or "-", forms,
        record.outcome, error,
    )  # fmt: skip


def wanted(units: UnitDirectory, own: Collection[str] = ()) -> Callable[[Preview], bool | Partial]:
    """Whether a message is worth downloading whole, judged from its header and structure.

    Generous on purpose: a needless download costs bytes, a missed one a submission. Our
    own mail (`own`: the Message-IDs of the outbox) never is: with Gmail's All Mail the
    reports we sent come back, attachments and all.
    """
    matchers: list[UnitMatcher] = []  # built when a subject must be judged by its names

    def judge(preview: Preview) -> bool | Partial:
        if preview.message_id and preview.message_id.strip() in own:
            return "ours"
        mail = None if preview.has_attachment else preview.mail
        if mail is None or units.by_sender(mail.sender_address or "") is not None:
            return True  # a file, a unit's address, or a header only a whole read can judge
        if classify(mail.headers) == Outcome.BOUNCE:
            return True  # delivery reports about our own mail are read in full
        if not mail.subject:
            return False
        if not matchers:
            from rules.matching import UnitMatcher

            matchers.append(UnitMatcher(units))
        return bool(matchers[0].identify("", {"subject": mail.subject}).guesses)

    return judge


def open_source(
    config: Config, learned: Mapping[str, str] | None = None, own: Collection[str] = ()
) -> Source:
    """The configured mailbox, connected lazily by the source itself."""
    box = config.mailbox
    if box.kind == "maildir":
        assert box.path is not None
        return MaildirSource(box.path, box.max_message_bytes)
    from mail_ingest.imap import ImapSource

    units = UnitDirectory(config.units, learned)  # a learned address's "đã gửi" is read too
    return ImapSource(box, wanted=wanted(units, own), timezone=config.timezone)
