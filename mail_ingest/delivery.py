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

import hashlib
import logging
import os
import random
import re
import secrets
import smtplib
import ssl
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from email import policy
from email.header import Header
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, getaddresses, parseaddr
from pathlib import Path
from typing import Literal, Protocol

from mail_ingest import backoff
from mail_ingest.config import SmtpConfig
from mail_ingest.errors import AuthError, ConfigError, TrustError
from mail_ingest.files import private_dir
from mail_ingest.mime import Attachment
from mail_ingest.store import OutboxItem, Store
from parsers.text import printable

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 8
MAX_SUBJECT = 250  # characters; a subject quoting a stranger's stays readable
MAX_NAME = 100  # of a display name
MAX_FILE_NAME = 120  # of an attachment, and of an .eml written by FileTransport
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
    return f"<{now:%Y%m%d%H%M%S}.{secrets.token_hex(16)}@{_domain(sender)}>"


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


class Transport(Protocol):
    def open(self) -> None: ...

    def send(self, raw: bytes, sender: str, recipients: Sequence[str], key: str) -> None: ...

    def close(self) -> None: ...


class TransientSendError(Exception):
    """Worth retrying later: the server or the network is having a bad moment."""


class PermanentSendError(Exception):
    """The server refused this mail for good (5xx): retrying would not help."""


class UncertainSendError(Exception):
    """The whole mail reached the server, but its answer did not come back: it may have
    been taken, so it is never resent by itself (at most once), like a death in flight."""


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


def _abandon(smtp: smtplib.SMTP, code: int) -> None:
    """After a refusal: a 421 server is closing, any other is reset for the next mail."""
    if code == 421:
        smtp.close()
    else:
        smtp.rset()


class SmtpTransport:
    """One SMTP session per delivery run, opened on the first mail."""

    def __init__(self, config: SmtpConfig, timeout: float = 60.0) -> None:
        self.config = config
        self.timeout = timeout
        self._smtp: smtplib.SMTP | None = None

    def open(self) -> None:
        try:
            self._session()
        except ssl.SSLCertVerificationError as exc:  # waiting cannot heal it: say so now
            self._drop()
            raise TrustError(
                f"SMTP {self.config.host}:{self.config.port}: TLS certificate not trusted "
                f"({exc.verify_message}); if the server uses a private CA, set smtp.ca_file "
                "to its certificate"
            ) from None
        except (smtplib.SMTPException, OSError) as exc:
            self._drop()
            raise TransientSendError(f"{type(exc).__name__}: {exc}") from exc

    def send(self, raw: bytes, sender: str, recipients: Sequence[str], key: str) -> None:
        delivered = [False]  # the whole mail and its final dot went out: only the reply is left
        try:
            smtp = self._session()
            refused = self._transaction(smtp, raw, sender, list(recipients), delivered)
        except smtplib.SMTPRecipientsRefused as exc:
            self._raise(min(code for code, _ in exc.recipients.values()), exc.recipients)
        except smtplib.SMTPResponseException as exc:
            self._drop()
            self._raise(exc.smtp_code, _text(exc.smtp_error))
        except (smtplib.SMTPException, OSError) as exc:
            self._drop()
            if delivered[0]:
                raise UncertainSendError(f"{type(exc).__name__}: {exc}") from exc
            raise TransientSendError(f"{type(exc).__name__}: {exc}") from exc
        if refused:  # some recipients refused, the others took it: it was sent
            log.warning("outbox %s: refused by the server for %s", key, refused)

    @staticmethod
    def _transaction(
        smtp: smtplib.SMTP, raw: bytes, sender: str, recipients: list[str], delivered: list[bool]
    ) -> dict[str, tuple[int, bytes]]:
        """`sendmail`, phase by phase, so a connection lost while waiting for the answer to
        the end of DATA (the server may have taken the mail) is told apart from one lost
        before (it cannot have)."""
        smtp.ehlo_or_helo_if_needed()
        options = [f"size={len(raw)}"] if smtp.does_esmtp and smtp.has_extn("size") else []
        code, answer = smtp.mail(sender, options)
        if code != 250:
            _abandon(smtp, code)
            raise smtplib.SMTPSenderRefused(code, answer, sender)
        refused: dict[str, tuple[int, bytes]] = {}
        for address in recipients:
            code, answer = smtp.rcpt(address)
            if code not in (250, 251):
                refused[address] = (code, answer)
            if code == 421:
                smtp.close()
                raise smtplib.SMTPRecipientsRefused(refused)
        if len(refused) == len(recipients):
            smtp.rset()
            raise smtplib.SMTPRecipientsRefused(refused)
        code, answer = smtp.docmd("data")  # as smtplib writes it
        if code != 354:
            raise smtplib.SMTPDataError(code, answer)
        body = re.sub(rb"(?m)^\.", b"..", raw)  # dot-stuffing, as smtplib.data does
        body += (b"" if body.endswith(b"\r\n") else b"\r\n") + b".\r\n"
        smtp.send(body)
        delivered[0] = True
        code, answer = smtp.getreply()
        delivered[0] = False  # the server answered: what happened is known
        if code != 250:
            _abandon(smtp, code)
            raise smtplib.SMTPDataError(code, answer)
        return refused

    def close(self) -> None:
        smtp, self._smtp = self._smtp, None
        if smtp is not None:
            try:
                smtp.quit()
            except (smtplib.SMTPException, OSError):
                smtp.close()

    def _session(self) -> smtplib.SMTP:
        if self._smtp is not None:
            return self._smtp
        c = self.config
        context = ssl.create_default_context(cafile=str(c.ca_file) if c.ca_file else None)
        smtp: smtplib.SMTP
        if c.security == "ssl":
            smtp = smtplib.SMTP_SSL(c.host, c.port, timeout=self.timeout, context=context)
        else:
            smtp = smtplib.SMTP(c.host, c.port, timeout=self.timeout)
            if c.security == "starttls":
                smtp.starttls(context=context)
        if c.username:
            try:
                smtp.login(c.username, c.password())
            except smtplib.SMTPAuthenticationError as exc:
                smtp.close()
                raise AuthError(
                    f"SMTP {c.host}:{c.port} refused the login for {c.username!r} "
                    f"({exc.smtp_code} {_text(exc.smtp_error)}). Check smtp.username and the "
                    "password in smtp.password_env; for Gmail, use an app password."
                ) from None
        self._smtp = smtp
        return smtp

    def _drop(self) -> None:
        smtp, self._smtp = self._smtp, None
        if smtp is not None:
            smtp.close()

    @staticmethod
    def _raise(code: int, detail: object) -> None:
        message = f"{code} {detail}"
        if 400 <= code < 500:
            raise TransientSendError(message)
        raise PermanentSendError(message)


class FileTransport:
    """Writes each mail as an .eml file instead of sending it (the demo, dry runs)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def open(self) -> None:
        private_dir(self.path)

    def send(self, raw: bytes, sender: str, recipients: Sequence[str], key: str) -> None:
        target = self.path / f"{_safe_name(key)}.eml"
        fd, tmp = tempfile.mkstemp(dir=self.path, prefix=".tmp-")
        with os.fdopen(fd, "wb") as handle:
            handle.write(raw)
        os.replace(tmp, target)

    def close(self) -> None:
        pass


def transport_for(config: SmtpConfig) -> Transport:
    if config.kind == "file":
        if config.path is None:
            raise ConfigError("smtp.path: required when kind = 'file'")
        return FileTransport(config.path)
    return SmtpTransport(config)


def _safe_name(key: str) -> str:
    """A file name for an outbox key: its safe characters, a hash when too long."""
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", key).lstrip(".")
    if len(name) <= MAX_FILE_NAME:
        return name
    digest = hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()[:24]
    return f"{name[: MAX_FILE_NAME - 25]}-{digest}"


def _domain(sender: str) -> str:
    address = parseaddr(sender)[1]
    return Address(addr_spec=address).domain if "@" in address else "localhost"


def _text(value: object) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
