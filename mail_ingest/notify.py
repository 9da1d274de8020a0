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
import os
import random
import re
import smtplib
import ssl
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from email import policy
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, getaddresses, make_msgid, parseaddr
from pathlib import Path
from typing import Literal, Protocol

from mail_ingest.config import SmtpConfig
from mail_ingest.errors import AuthError, ConfigError
from mail_ingest.files import private_dir
from mail_ingest.mime import Attachment
from mail_ingest.store import OutboxItem, Store

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 8
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


def compose(out: Outgoing, sender: str, now: datetime) -> EmailMessage:
    """Headers done right: our Message-ID, Date, RFC 2047 subject, RFC 2231 file names."""
    msg = EmailMessage(policy=policy.SMTP)
    msg["From"] = sender
    msg["To"] = ", ".join(out.to)
    if out.cc:
        msg["Cc"] = ", ".join(out.cc)
    msg["Subject"] = out.subject
    msg["Date"] = format_datetime(now)
    msg["Message-ID"] = make_msgid(domain=_domain(sender))
    msg["Auto-Submitted"] = out.auto
    msg["X-Auto-Response-Suppress"] = "All"  # Exchange: no out-of-office replies to us
    if out.in_reply_to:
        msg["In-Reply-To"] = out.in_reply_to
        msg["References"] = out.in_reply_to
    # Quoted-printable keeps the mail 7-bit (any server takes it) and readable in the raw.
    msg.set_content(out.text, cte="quoted-printable")
    if out.html is not None:
        msg.add_alternative(out.html, subtype="html", cte="quoted-printable")
    for a in out.attachments:
        maintype, _, subtype = a.content_type.partition("/")
        msg.add_attachment(a.data, maintype=maintype, subtype=subtype, filename=a.filename)
    return msg


def enqueue(store: Store, out: Outgoing, sender: str, now: datetime) -> bool:
    """Record the mail under its key; False (and nothing recorded) if the key exists."""
    msg = compose(out, sender, now)
    recipients = [address for _, address in getaddresses([*out.to, *out.cc]) if address]
    return store.outbox_add(out.key, recipients, out.subject, bytes(msg), now)


class Transport(Protocol):
    def open(self) -> None: ...

    def send(self, raw: bytes, sender: str, recipients: Sequence[str], key: str) -> None: ...

    def close(self) -> None: ...


class TransientSendError(Exception):
    """Worth retrying later: the server or the network is having a bad moment."""


class PermanentSendError(Exception):
    """The server refused this mail for good (5xx): retrying would not help."""


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
    due = store.outbox_due(now)
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
            except PermanentSendError as exc:
                log.error("outbox %s: refused: %s", item.key, exc)
                store.outbox_mark(item.id, "failed", str(exc))
                report.failed += 1
            except BaseException:  # AuthError on a reconnect, or a bug: not sent, keep it
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
    delay = min(LONGEST_RETRY, FIRST_RETRY * 2 ** (attempts - 1)) * rng.uniform(0.5, 1.0)
    log.warning("outbox %s: %s; retrying in %s", item.key, error, str(delay).split(".")[0])
    store.outbox_mark(item.id, "pending", error, next_attempt=now + delay)
    report.retrying += 1


class SmtpTransport:
    """One SMTP session per delivery run, opened on the first mail."""

    def __init__(self, config: SmtpConfig, timeout: float = 60.0) -> None:
        self.config = config
        self.timeout = timeout
        self._smtp: smtplib.SMTP | None = None

    def open(self) -> None:
        try:
            self._session()
        except (smtplib.SMTPException, OSError) as exc:
            self._drop()
            raise TransientSendError(f"{type(exc).__name__}: {exc}") from exc

    def send(self, raw: bytes, sender: str, recipients: Sequence[str], key: str) -> None:
        try:
            smtp = self._session()
            refused = smtp.sendmail(sender, list(recipients), raw)
        except smtplib.SMTPRecipientsRefused as exc:
            self._raise(min(code for code, _ in exc.recipients.values()), exc.recipients)
        except smtplib.SMTPResponseException as exc:
            self._drop()
            self._raise(exc.smtp_code, _text(exc.smtp_error))
        except (smtplib.SMTPException, OSError) as exc:
            self._drop()
            raise TransientSendError(f"{type(exc).__name__}: {exc}") from exc
        if refused:  # some recipients refused, the others took it: it was sent
            log.warning("outbox %s: refused by the server for %s", key, refused)

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
        target = self.path / f"{re.sub(r'[^A-Za-z0-9._-]+', '_', key)}.eml"
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


def _domain(sender: str) -> str:
    address = parseaddr(sender)[1]
    return Address(addr_spec=address).domain if "@" in address else "localhost"


def _text(value: object) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
