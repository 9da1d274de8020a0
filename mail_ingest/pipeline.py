"""One ingestion cycle: fetch, archive, read, classify, parse, attribute, record.

Each message goes through the stages on its own. Whatever goes wrong with one
message (unreadable MIME, a hostile attachment, a parser bug) is recorded against
it as a specific error, and the cycle goes on with the next. Only failures of the
service itself (mailbox unreachable, disk full) stop a cycle, and then nothing is
marked as processed, so the next cycle picks the same messages up again.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

import parsers
from mail_ingest import mime
from mail_ingest.archive import Archive
from mail_ingest.classify import classify
from mail_ingest.config import Config
from mail_ingest.errors import MailIngestError, MessageError
from mail_ingest.mailbox import FetchedMessage, MaildirSource, Partial, Preview, Source
from mail_ingest.outcomes import Outcome
from mail_ingest.store import MessageRecord, Store, StoredAttachment
from parsers.vocabulary import NOTHING_TAUGHT, Taught
from rules import authres
from rules.match_model import DEFAULT_SETTINGS, MatchSettings
from rules.units import UnitDirectory

if TYPE_CHECKING:  # at run time imported by the first message: a poll with nothing new,
    # the service's usual one, loads neither the name matcher nor the parsers
    from rules.matching import UnitMatcher

log = logging.getLogger(__name__)

# Called after each message with (messages done, messages planned if known).
Progress = Callable[[int, int | None], None]

_BODY_HEAD, _BODY_TAIL = 3000, 1500  # the greeting and the signature; not every quoted reply
# A poll stops taking new messages after this long, so the store lock is released (the
# scheduler, `assign`, `mark` wait for it); what is left is read by the next poll.
POLL_BUDGET_SECONDS = 10 * 60.0
# A position whose processing started this often without ending killed the process
# (an OOM kill, a SIGKILL): it is recorded as an error instead of read again.
MAX_ATTEMPTS = 2
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
    matcher: UnitMatcher | None = None  # built for the first message
    taught = store.taught()  # and what it taught the parsers (`teach`)
    poll_id = store.start_poll()
    deadline = time.monotonic() + budget
    try:
        for fetched in source.fetch_new(store):
            result.fetched += 1
            if matcher is None:
                from rules.matching import UnitMatcher

                directory = units.with_learned(learned)
                matcher = UnitMatcher(directory, None, matching.threshold, matching.margin)
            record = _process_once(fetched, store, archive, matcher, specs, authserv_id, taught)
            pending = source.acts and record.outcome == Outcome.SUBMISSION
            position = (fetched.source, fetched.uidvalidity, fetched.uid)
            if store.record(record, *position, action_pending=pending):
                result.new += 1
                result.outcomes[record.outcome] += 1
            _log(fetched, record)
            if progress is not None:
                progress(result.fetched, source.planned)
            if time.monotonic() >= deadline:
                result.out_of_time = True
                log.warning("poll budget of %.0f s used; the next poll reads the rest", budget)
                break
    except BaseException as exc:
        result.downloaded = source.downloaded
        store.finish_poll(
            poll_id, result.fetched, result.new, result.errors, result.downloaded,
            str(exc) if isinstance(exc, MailIngestError) else f"{type(exc).__name__}: {exc}",
        )  # fmt: skip
        raise
    finally:
        source.close()
    result.downloaded = source.downloaded
    store.finish_poll(poll_id, result.fetched, result.new, result.errors, result.downloaded)
    return result


def _process_once(
    fetched: FetchedMessage,
    store: Store,
    archive: Archive,
    matcher: UnitMatcher,
    specs: Sequence[parsers.FormSpec],
    authserv_id: str | None,
    taught: Taught = NOTHING_TAUGHT,
) -> MessageRecord:
    """process(), unless this message already killed the process MAX_ATTEMPTS times.

    The attempt is committed before the work, so a crash leaves it behind; `record`
    removes it. One crash alone retries: a power cut must not make a good mail an error.
    """
    digest = archive.put(fetched.raw)  # first: the board can always look at the raw bytes
    attempts = store.begin(fetched.source, fetched.uidvalidity, fetched.uid)
    if attempts > MAX_ATTEMPTS:
        log.error("%s uid=%s: %s", fetched.source, fetched.uid, CRASHED)
        return replace(_unread(fetched, digest), error=CRASHED)  # bytes only: nothing parsed
    return process(fetched, digest, matcher, specs, authserv_id=authserv_id, taught=taught)


def _unread(fetched: FetchedMessage, digest: str) -> MessageRecord:
    """What is known of a message before it is read: an error until reading says more."""
    return MessageRecord(
        sha256=digest,
        size=fetched.size,
        message_id=None,
        sender=None,
        subject=None,
        received_at=fetched.received_at,
        unit_id=None,
        outcome=Outcome.ERROR,
        headers_only=fetched.partial is not None,
        gm_msgid=fetched.gm_msgid,
        header_sha256=mime.header_digest(fetched.raw),
    )


def _log(fetched: FetchedMessage, record: MessageRecord) -> None:
    forms = ",".join(a.parsed.form for a in record.attachments if a.parsed.form) or "-"
    error = f" error={record.error!r}" if record.error else ""
    log.info(
        "%s uid=%s from=%s unit=%s forms=%s outcome=%s%s",
        fetched.source, fetched.uid, record.sender, record.unit_id or "-", forms,
        record.outcome, error,
    )  # fmt: skip


def process(
    fetched: FetchedMessage,
    digest: str,
    units: UnitDirectory | UnitMatcher,
    specs: Sequence[parsers.FormSpec],
    *,
    authserv_id: str | None = None,
    taught: Taught = NOTHING_TAUGHT,
) -> MessageRecord:
    """Everything about one message; never raises (a failure becomes an 'error' record)."""
    from mail_ingest.attachments import read_attachments
    from rules.matching import UnitMatcher

    matcher = units if isinstance(units, UnitMatcher) else UnitMatcher(units)
    base = _unread(fetched, digest)
    try:
        mail = fetched.header or mime.parse(fetched.raw)
    except MessageError as exc:
        return replace(base, error=str(exc))
    except Exception as exc:  # the email package has surprises for hostile input
        log.exception("cannot parse message uid=%s", fetched.uid)
        return replace(base, error=f"cannot read the message structure: {exc!r}")
    for note in mail.notes:
        log.warning("%s uid=%s: %s", fetched.source, fetched.uid, note)
    # The address alone first: a robot writing from a unit's address stays traceable to it.
    # Only the From's parsed addr-spec: its decoded text may spell any address.
    known = matcher.directory.lookup(mail.sender_address or "")
    base = replace(
        base, message_id=mail.message_id, sender=mail.sender, subject=mail.subject,
        sender_address=mail.sender_address, reported_ids=mail.reported_ids,
        unit_id=known[0].id if known else None, evidence=known[1] if known else None,
    )  # fmt: skip
    if mail.structure_error is not None:
        return replace(base, error=mail.structure_error)
    if fetched.partial == "ours":  # our own report or receipt, back in All Mail
        return replace(base, outcome=Outcome.IGNORED)
    robot = classify(mail.headers)
    if robot is not None:
        return replace(base, outcome=Outcome(robot), failed_recipients=mail.failed_recipients)
    if fetched.partial == "too-large":
        return replace(base, outcome=Outcome.TOO_LARGE, error=_too_large(fetched.size))
    if fetched.partial is not None:  # a copy is recorded as the message it copies
        return replace(base, outcome=Outcome.IGNORED)
    subject = mail.subject or ""
    # One budget for the message's files; an archive adds a row per file inside it.
    attachments = read_attachments(mail.attachments, subject, specs, taught)
    record = _attribute(base, mail, attachments, matcher)
    # The board's server says the From may be forged: held, even from a unit's address.
    forged = authres.review_reason(authres.header_fields(fetched.raw), authserv_id)
    if forged:
        outcome = Outcome.NEEDS_REVIEW if record.outcome == Outcome.SUBMISSION else record.outcome
        reason = "; ".join(r for r in (record.review_reason, forged) if r)
        record = replace(record, outcome=outcome, review_reason=reason)
    return replace(record, attachments=attachments)


def _attribute(
    base: MessageRecord,
    mail: mime.Mail,
    attachments: Sequence[StoredAttachment],
    matcher: UnitMatcher,
) -> MessageRecord:
    """After parsing, because the unit line at the top of the forms is evidence too."""
    found = matcher.identify(mail.sender_address or "", _texts(mail, attachments))
    if found.unit_id is not None:
        by_name = found.evidence not in ("address", "learned-address")
        return replace(
            base, outcome=Outcome.SUBMISSION, unit_id=found.unit_id, evidence=found.evidence,
            confidence=found.confidence, guesses=found.guesses if by_name else (),
        )  # fmt: skip
    outcome = Outcome.NEEDS_REVIEW if found.guesses else Outcome.UNKNOWN_SENDER
    return replace(base, outcome=outcome, guesses=found.guesses, review_reason=found.review_reason)


def _texts(mail: mime.Mail, attachments: Sequence[StoredAttachment]) -> dict[str, str]:
    """Where a unit's name may be written, by key of rules.matching.SOURCES."""
    body = mail.body
    if len(body) > _BODY_HEAD + _BODY_TAIL:
        body = body[:_BODY_HEAD] + "\n" + body[-_BODY_TAIL:]
    return {
        "subject": mail.subject or "",
        "form": " | ".join(a.parsed.fields.get("don_vi", "") for a in attachments),
        "filename": " | ".join(a.filename for a in attachments),
        "body": body,
    }


def _too_large(size: int) -> str:
    return f"message of {size / 1048576:.1f} MB is over mailbox.max_message_bytes; not downloaded"


def wanted(units: UnitDirectory, own: Collection[str] = ()) -> Callable[[Preview], bool | Partial]:
    """Whether a message is worth downloading whole, judged from its header and structure.

    Generous on purpose: a needless download costs bytes, a missed one a submission. Our
    own mail (`own`: the Message-IDs of the outbox) never is: with Gmail's All Mail the
    reports we sent come back, attachments and all.
    """
    matchers: list[UnitMatcher] = []  # built when a subject must be judged by its names

    def judge(preview: Preview) -> bool | Partial:
        mail = preview.mail
        if mail.message_id and mail.message_id.strip() in own:
            return "ours"
        if preview.has_attachment or units.by_sender(mail.sender_address or "") is not None:
            return True
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
