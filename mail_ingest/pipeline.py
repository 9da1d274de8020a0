"""One ingestion cycle: fetch, archive, read, classify, attribute, parse, record.

Each message goes through the stages on its own. Whatever goes wrong with one
message (unreadable MIME, a hostile attachment, a parser bug) is recorded against
it as a specific error, and the cycle goes on with the next. Only failures of the
service itself (mailbox unreachable, disk full) stop a cycle, and then nothing is
marked as processed, so the next cycle picks the same messages up again.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import cast

import parsers
from mail_ingest import mime
from mail_ingest.archive import Archive, sha256
from mail_ingest.classify import classify
from mail_ingest.config import Config
from mail_ingest.errors import MessageError
from mail_ingest.mailbox import FetchedMessage, MaildirSource, Source
from mail_ingest.store import MessageRecord, Store, StoredAttachment
from parsers.model import ParsedFile, Problem
from rules.units import UnitDirectory

log = logging.getLogger(__name__)

# submission: from a known unit, counts toward its requirements;
# unknown-sender: kept for review; auto-reply, bounce, mailing-list: never count;
# error: could not be read at all (the error column says why).
OUTCOMES = ("submission", "unknown-sender", "auto-reply", "bounce", "mailing-list", "error")


@dataclass
class PollResult:
    fetched: int = 0
    new: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)

    @property
    def errors(self) -> int:
        return self.outcomes["error"]


def poll(
    source: Source,
    store: Store,
    archive: Archive,
    units: UnitDirectory,
    specs: Sequence[parsers.FormSpec],
) -> PollResult:
    """Process every message the source has not delivered before."""
    result = PollResult()
    poll_id = store.start_poll()
    try:
        for fetched in source.fetch_new(store):
            result.fetched += 1
            digest = archive.put(fetched.raw)
            record = process(fetched, digest, units, specs)
            if store.record(record, fetched.source, fetched.uidvalidity, fetched.uid):
                result.new += 1
                result.outcomes[record.outcome] += 1
            log.info(
                "uid=%s from=%s unit=%s forms=%s outcome=%s%s",
                fetched.uid, record.sender, record.unit_id,
                ",".join(a.parsed.form for a in record.attachments if a.parsed.form) or "-",
                record.outcome, f" error={record.error}" if record.error else "",
            )  # fmt: skip
    except BaseException as exc:
        store.finish_poll(poll_id, result.fetched, result.new, result.errors, failure=repr(exc))
        raise
    finally:
        source.close()
    store.finish_poll(poll_id, result.fetched, result.new, result.errors)
    return result


def process(
    fetched: FetchedMessage,
    digest: str,
    units: UnitDirectory,
    specs: Sequence[parsers.FormSpec],
) -> MessageRecord:
    """Everything about one message; never raises (a failure becomes an 'error' record)."""
    base = MessageRecord(
        sha256=digest,
        size=len(fetched.raw),
        message_id=None,
        sender=None,
        subject=None,
        received_at=fetched.received_at,
        unit_id=None,
        outcome="error",
    )
    try:
        mail = mime.parse(fetched.raw)
    except MessageError as exc:
        return replace(base, error=str(exc))
    except Exception as exc:  # the email package has surprises for hostile input
        log.exception("cannot parse message uid=%s", fetched.uid)
        return replace(base, error=f"cannot read the message structure: {exc!r}")
    unit = units.by_sender(mail.sender or "")
    base = replace(
        base, message_id=mail.message_id, sender=mail.sender, subject=mail.subject,
        unit_id=unit.id if unit else None,
    )  # fmt: skip
    robot = classify(mail.headers)
    if robot is not None:
        return replace(base, outcome=robot)
    attachments = tuple(_parse(a, mail.subject or "", specs) for a in mail.attachments)
    return replace(
        base, outcome="submission" if unit else "unknown-sender", attachments=attachments
    )


def _parse(
    attachment: mime.Attachment, subject: str, specs: Sequence[parsers.FormSpec]
) -> StoredAttachment:
    try:
        parsed = parsers.parse_file(attachment.filename, attachment.data, specs, hint=subject)
    except Exception as exc:  # parsers must not raise; if one does, the message still lands
        log.exception("parser failed on %r", attachment.filename)
        parsed = ParsedFile(
            filename=attachment.filename,
            form=None,
            problems=(
                Problem(
                    "parser-error",
                    f"Không đọc được tệp '{attachment.filename}' do lỗi của chương trình; "
                    f"Ban Dân vận sẽ kiểm tra thủ công ({type(exc).__name__})",
                ),
            ),
        )
    return StoredAttachment(
        filename=attachment.filename,
        content_type=attachment.content_type,
        size=len(attachment.data),
        sha256=sha256(attachment.data),
        parsed=parsed,
    )


def open_source(config: Config) -> Source:
    """The configured mailbox, connected lazily by the source itself."""
    box = config.mailbox
    if box.kind == "maildir":
        assert box.path is not None
        return MaildirSource(box.path)
    from mail_ingest.imap import ImapSource, Security

    return ImapSource(
        box.host, box.port, cast(Security, box.security), box.username, box.password(), box.folder,
        ca_file=box.ca_file,
    )  # fmt: skip


def poll_config(config: Config) -> PollResult:
    """One cycle for a deployment: its store, its archive, its mailbox, under the store lock."""
    with open_store(config) as store, store.lock():
        return poll(
            open_source(config),
            store,
            Archive(config.storage / "archive"),
            UnitDirectory(config.units),
            config.forms,
        )


def open_store(config: Config) -> Store:
    return Store(config.storage / "mail-ingest.sqlite3")
