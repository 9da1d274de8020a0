"""How the outbox reaches the world: SMTP phase by phase, or .eml files for a test run.

A failure is sorted by what it can still mean: transient (retry later), permanent (the
server said no) or uncertain (the connection was lost after the final dot: the mail may
have gone, so it is never resent by itself).
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import smtplib
import ssl
import tempfile
from collections.abc import Sequence
from email.headerregistry import Address
from email.utils import parseaddr
from pathlib import Path
from typing import Protocol

from mail_ingest.config import SmtpConfig
from mail_ingest.errors import AuthError, ConfigError, TrustError
from mail_ingest.files import private_dir

log = logging.getLogger(__name__)

MAX_FILE_NAME = 120  # of an attachment, and of an .eml written by FileTransport


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


def sender_domain(sender: str) -> str:
    address = parseaddr(sender)[1]
    return Address(addr_spec=address).domain if "@" in address else "localhost"


def _text(value: object) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
