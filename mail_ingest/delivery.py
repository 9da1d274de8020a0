"""Outgoing mail: composed as mail clients expect, recorded before it leaves, sent once.

Every message is written to the outbox under an idempotency key (`ack:<message-id>`,
`remind:<unit>:<requirement>:<period>:<offset>`, `report:<date>`) before any attempt,
so asking twice to send the same thing sends it once. Delivery is at most once: an
item is marked `sending` (committed) before the SMTP transaction and `sent` after it.
If the process dies between the two, the server may or may not have taken the mail;
such an item becomes `unknown` and is never retried by itself, because a board would
rather resend one receipt by hand (`mail-ingest outbox --retry KEY`) than have units
receive duplicates. Transient failures (4xx, connection) are retried with exponential
backoff and jitter; permanent ones (5xx) are recorded as failed with the server's answer.
"""

from __future__ import annotations

import logging
import random
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from email import policy
from email.header import Header
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, getaddresses, parseaddr
from typing import Literal

from mail_ingest import backoff
from mail_ingest.errors import AuthError
from mail_ingest.mime import Attachment
from mail_ingest.store import OutboxItem, Store
from mail_ingest.transports import (
    MAX_FILE_NAME,
    PermanentSendError,
    TransientSendError,
    Transport,
    UncertainSendError,
    sender_domain,
)
from parsers.text import printable

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 8
MAX_SUBJECT = 250  # characters; a subject quoting a stranger's stays readable
MAX_NAME = 100  # of a display name
# A msg-id worth referring to (RFC 5322 id-left "@" id-right, no spaces, bounded).
_MSG_ID = re.compile(r"<[!-;=?-~]{1,200}@[!-;=?-~]{1,200}>")
_ADDR_SPEC = re.compile(r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")
FIRST_RETRY = timedelta(minutes=1)
LONGEST_RETRY = timedelta(hours=6)


@dataclass(frozen=True)
class Outgoing:
    """One mail to send, before it has headers: what the templates produced."""

    key: str  # idempotency key: the same key is sent at most once
    to: tuple[str, ...]
    subject: str
    text: str
    html: str | None = None
    cc: tuple[str, ...] = ()
    attachments: tuple[Attachment, ...] = ()
    # RFC 3834: replies to a person's mail are auto-replied; reminders and reports are
    # auto-generated. Either way, well-behaved robots will not answer them.
    auto: Literal["auto-replied", "auto-generated"] = "auto-generated"
    in_reply_to: str | None = None  # the Message-ID we acknowledge
    references: tuple[str, ...] = ()  # the thread, ending with in_reply_to (thread.chain)


def compose(out: Outgoing, sender: str, now: datetime) -> EmailMessage:
    """Headers done right: our Message-ID, Date, RFC 2047 subject, RFC 2231 file names.

    Subjects, display names and file names may carry a stranger's text: they are made
    printable (no CR LF, no controls) and bounded before they become headers, and only a
    well-formed Message-ID is referred to.
    """
    msg = EmailMessage(policy=policy.SMTP)
    msg["From"] = sender
    msg["To"] = _addresses(out.to)
    if out.cc:
        msg["Cc"] = _addresses(out.cc)
    msg.set_raw("Subject", encoded_subject(_header_text(out.subject, MAX_SUBJECT)))
    msg["Date"] = format_datetime(now)
    msg["Message-ID"] = message_id(sender, now)
    msg["Auto-Submitted"] = out.auto
    msg["X-Auto-Response-Suppress"] = "All"  # Exchange: no out-of-office replies to us
    if out.in_reply_to and _MSG_ID.fullmatch(out.in_reply_to.strip()):
        msg["In-Reply-To"] = out.in_reply_to.strip()
        chain = [r for r in out.references if _MSG_ID.fullmatch(r)] or [out.in_reply_to.strip()]
        msg["References"] = " ".join(chain)
    # Quoted-printable keeps the mail 7-bit (any server takes it) and readable in the raw.
    msg.set_content(printable(out.text, newlines=True), cte="quoted-printable")
    if out.html is not None:
        msg.add_alternative(
            printable(out.html, newlines=True), subtype="html", cte="quoted-printable"
        )
    for a in out.attachments:
        maintype, _, subtype = a.content_type.partition("/")
        msg.add_attachment(
            a.data, maintype=maintype, subtype=subtype, filename=_file_name(a.filename)
        )
    return msg


def encoded_subject(text: str) -> str:
    """The folded header value of a subject, each RFC 2047 word carrying its own spaces.

    Readers (Gmail, mutt, `email`) drop the whitespace between two encoded words, and
    `email`'s own folding may put a word's space exactly there ("đăngký"): encoding
    the whole text in chunks keeps every space inside a word, so it round-trips.
    """
    if text.isascii():
        return text  # no encoded word: `email` folds it safely
    return Header(text, "utf-8", header_name="Subject").encode(linesep="\n", maxlinelen=76)


def message_id(sender: str, now: datetime) -> str:
    """Ours, unguessable: a delivery report naming it proves it saw the mail we sent."""
    return f"<{now:%Y%m%d%H%M%S}.{secrets.token_hex(16)}@{sender_domain(sender)}>"


def enqueue(store: Store, out: Outgoing, sender: str, now: datetime) -> bool:
    """Record the mail under its key; False (and nothing recorded) if the key exists."""
    msg = compose(out, sender, now)
    recipients = [recipient(r)[1] for r in (*out.to, *out.cc)]
    subject = str(msg["Subject"])
    return store.outbox_add(out.key, recipients, subject, bytes(msg), now, str(msg["Message-ID"]))


def recipient(text: str) -> tuple[str, str]:
    """(display name, addr-spec) of the one plain mailbox `text` holds; ValueError otherwise.

    Recipients may come from stored header text: line breaks and controls are removed
    before parsing, and text holding several addresses, or none, is refused.
    """
    found = getaddresses([printable(text)])
    if len(found) != 1 or not _ADDR_SPEC.fullmatch(found[0][1]):
        raise ValueError(f"not one mail address: {printable(text)[:200]!r}")
    return found[0]


def _addresses(recipients: Sequence[str]) -> list[Address]:
    """Each recipient as one parsed mailbox with a printable display name."""
    result = []
    for text in recipients:
        name, address = recipient(text)
        username, _, domain = address.rpartition("@")
        result.append(Address(_header_text(name, MAX_NAME), username, domain))
    return result


def _header_text(text: str, limit: int) -> str:
    text = " ".join(printable(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _file_name(name: str) -> str:
    """Printable and bounded, the extension kept (mail clients open files by it)."""
    name = _header_text(name, 10_000).replace("/", "_").replace("\\", "_")
    if len(name) <= MAX_FILE_NAME:
        return name or "tep-dinh-kem"
    stem, dot, extension = name.rpartition(".")
    extension = extension[:10] if dot else ""
    return f"{(stem or name)[: MAX_FILE_NAME - 12]}…{dot}{extension}"


@dataclass
class DeliveryReport:
    sent: int = 0
    retrying: int = 0
    failed: int = 0


def deliver(
    store: Store,
    transport: Transport,
    sender: str,
    now: datetime,
    *,
    rng: random.Random | None = None,
) -> DeliveryReport:
    """Send every due outbox item once; an AuthError stops the run and keeps them pending."""
    rng = rng or random.Random()
    report = DeliveryReport()
    for item in store.outbox_interrupted():
        log.warning("outbox %s: interrupted while sending; not retried automatically", item.key)
        store.outbox_mark(item.id, "unknown", "interrupted while sending; check, then retry")
    due = []
    for item in store.outbox_due(now):
        if item.attempts >= MAX_ATTEMPTS:  # left pending by an older version: give up
            store.outbox_mark(item.id, "failed", f"gave up after {item.attempts} attempts")
            report.failed += 1
        else:
            due.append(item)
    if not due:
        return report
    try:
        transport.open()
        for item in due:
            store.outbox_mark(item.id, "sending", attempt=True)
            try:
                transport.send(item.raw, parseaddr(sender)[1], item.recipients, item.key)
            except TransientSendError as exc:
                _retry_or_fail(store, item, str(exc), now, rng, report)
            except UncertainSendError as exc:
                log.warning("outbox %s: may have been sent (%s); not retried automatically",
                            item.key, exc)  # fmt: skip
                store.outbox_mark(item.id, "unknown", f"no answer after the data: {exc}")
            except PermanentSendError as exc:
                log.error("outbox %s: refused: %s", item.key, exc)
                store.outbox_mark(item.id, "failed", str(exc))
                report.failed += 1
            except AuthError:  # on a reconnect: not sent, keep it; the run stops
                store.outbox_mark(item.id, "pending")
                raise
            except Exception as exc:  # this mail only (a file name, a bug): the others go
                log.exception("outbox %s: cannot send", item.key)
                _retry_or_fail(store, item, f"cannot send: {exc!r}", now, rng, report)
            except BaseException:  # interrupted: not sent, keep it
                store.outbox_mark(item.id, "pending")
                raise
            else:
                store.outbox_mark(item.id, "sent", sent_at=now)
                report.sent += 1
                log.info("outbox %s: sent to %s", item.key, ", ".join(item.recipients))
    except TransientSendError as exc:  # could not even connect: everything waits
        log.warning("SMTP unavailable (%s); %d mail(s) wait for the next run", exc, len(due))
        report.retrying += len(due)
    finally:
        transport.close()
    return report


def _retry_or_fail(
    store: Store,
    item: OutboxItem,
    error: str,
    now: datetime,
    rng: random.Random,
    report: DeliveryReport,
) -> None:
    attempts = item.attempts + 1
    if attempts >= MAX_ATTEMPTS:
        log.error("outbox %s: giving up after %d attempts: %s", item.key, attempts, error)
        store.outbox_mark(item.id, "failed", error)
        report.failed += 1
        return
    delay = timedelta(
        seconds=backoff.delay(
            attempts - 1,
            base=FIRST_RETRY.total_seconds(),
            cap=LONGEST_RETRY.total_seconds(),
            rng=rng,
            least=0.5,
        )
    )
    log.warning("outbox %s: %s; retrying in %s", item.key, error, str(delay).split(".")[0])
    store.outbox_mark(item.id, "pending", error, next_attempt=now + delay)
    report.retrying += 1
