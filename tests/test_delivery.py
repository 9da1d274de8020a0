"""Sending through a real SMTP server (aiosmtpd): headers, the outbox, retries, at most once."""

from __future__ import annotations

import email
import random
import ssl
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email import policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, Envelope, LoginPassword

from mail_ingest.config import SmtpConfig
from mail_ingest.delivery import Outgoing, compose, deliver, enqueue
from mail_ingest.errors import AuthError, TrustError
from mail_ingest.mime import Attachment
from mail_ingest.store import Store
from mail_ingest.transports import FileTransport, SmtpTransport

from dovecot_server import free_port

NOW = datetime(2024, 1, 25, 9, 0, tzinfo=UTC)
SENDER = "Ban Dân vận Huyện ủy Phong Thổ <bandanvan@phongtho.example.vn>"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


class Inbox:
    """An aiosmtpd handler that keeps what it accepted and can answer with errors first."""

    def __init__(self) -> None:
        self.received: list[Envelope] = []
        self.answers: list[str] = []  # consumed one per DATA before accepting

    async def handle_DATA(self, server: Any, session: Any, envelope: Envelope) -> str:
        if self.answers:
            return self.answers.pop(0)
        self.received.append(envelope)
        return "250 Message accepted"

    def messages(self) -> list[EmailMessage]:
        return [
            email.message_from_bytes(e.original_content or b"", policy=policy.default)  # type: ignore[misc]
            for e in self.received
        ]


def authenticate(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
    ok = isinstance(data, LoginPassword) and (data.login, data.password) == (b"bdv", b"s3cret")
    return AuthResult(success=ok, handled=False)  # handled=False: aiosmtpd answers 535


@pytest.fixture
def smtp(
    certificate: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[Inbox, SmtpConfig]]:
    """STARTTLS required, then AUTH, as Gmail and most providers do on port 587."""
    cert, key = certificate
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    inbox = Inbox()
    port = free_port()
    controller = Controller(
        inbox, hostname="127.0.0.1", port=port, tls_context=context, require_starttls=True,
        authenticator=authenticate, auth_require_tls=True,
    )  # fmt: skip
    controller.start()
    monkeypatch.setenv("TEST_SMTP_PASSWORD", "s3cret")
    config = SmtpConfig(
        kind="smtp", sender=SENDER, host="127.0.0.1", port=port, security="starttls",
        username="bdv", password_env="TEST_SMTP_PASSWORD", ca_file=cert,
    )  # fmt: skip
    try:
        yield inbox, config
    finally:
        controller.stop()


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store(tmp_path / "s.sqlite3") as s:
        yield s


def ack(key: str = "ack:<m1@example.vn>") -> Outgoing:
    return Outgoing(
        key=key,
        to=("Đảng ủy xã Mường So <muongso@example.vn>",),
        subject="Ban Dân vận đã nhận hồ sơ đăng ký “Dân vận khéo” của Đảng ủy xã Mường So",
        text="Kính gửi Đảng ủy xã Mường So,\n\nBan Dân vận đã nhận được biểu mẫu 01.",
        html="<p>Kính gửi <b>Đảng ủy xã Mường So</b>,</p><p>Ban Dân vận đã nhận.</p>",
        attachments=(Attachment("Tổng hợp đăng ký.xlsx", XLSX, b"PK\x03\x04 not really"),),
        auto="auto-replied",
        in_reply_to="<m1@example.vn>",
    )


def test_headers_are_what_mail_clients_expect() -> None:
    msg = compose(ack(), SENDER, NOW)
    raw = bytes(msg)
    assert raw.isascii() and b"\r\n" in raw  # 7-bit, CRLF: safe for any SMTP server
    subject = raw.split(b"\r\nSubject: ")[1].split(b"\r\n")[0]
    assert subject.startswith(b"=?utf-8?")  # RFC 2047, spaces inside the encoded words
    assert b"filename*=utf-8''T%E1%BB%95ng" in raw  # RFC 2231
    parsed = email.message_from_bytes(raw, policy=policy.default)
    assert parsed["Message-ID"].endswith("@phongtho.example.vn>")
    assert parsed["Date"] == "Thu, 25 Jan 2024 09:00:00 +0000"
    assert parsed["Subject"] == ack().subject
    assert parsed["From"] == SENDER
    assert parsed["Auto-Submitted"] == "auto-replied"
    assert (parsed["In-Reply-To"], parsed["References"]) == ("<m1@example.vn>",) * 2
    body = parsed.get_body(("plain",))
    html = parsed.get_body(("html",))
    assert body is not None and "Mường So" in body.get_content()
    assert html is not None and "<b>Đảng ủy xã Mường So</b>" in html.get_content()
    [attachment] = parsed.iter_attachments()
    assert attachment.get_filename() == "Tổng hợp đăng ký.xlsx"


def test_sent_once_over_starttls_with_auth(smtp: tuple[Inbox, SmtpConfig], store: Store) -> None:
    inbox, config = smtp
    assert enqueue(store, ack(), SENDER, NOW)
    assert not enqueue(store, ack(), SENDER, NOW + timedelta(hours=1))  # same key: ignored
    report = deliver(store, SmtpTransport(config), SENDER, NOW)
    again = deliver(store, SmtpTransport(config), SENDER, NOW + timedelta(days=1))
    assert (report.sent, again.sent) == (1, 0)
    [envelope] = inbox.received
    assert envelope.rcpt_tos == ["muongso@example.vn"]
    assert envelope.mail_from == "bandanvan@phongtho.example.vn"
    [message] = inbox.messages()
    assert message["Subject"] == ack().subject
    [item] = store.outbox()
    assert (item.status, item.attempts, item.sent_at) == ("sent", 1, NOW)


def test_refused_then_accepted_is_delivered_once(
    smtp: tuple[Inbox, SmtpConfig], store: Store
) -> None:
    inbox, config = smtp
    inbox.answers = ["451 4.3.0 Try again later", "421 4.7.0 Too many messages"]
    enqueue(store, ack(), SENDER, NOW)
    rng = random.Random(1)
    first = deliver(store, SmtpTransport(config), SENDER, NOW, rng=rng)
    assert (first.sent, first.retrying) == (0, 1)
    assert deliver(store, SmtpTransport(config), SENDER, NOW + timedelta(seconds=20)).sent == 0
    second = deliver(store, SmtpTransport(config), SENDER, NOW + timedelta(minutes=1), rng=rng)
    third = deliver(store, SmtpTransport(config), SENDER, NOW + timedelta(minutes=3), rng=rng)
    assert (second.retrying, third.sent) == (1, 1)
    assert len(inbox.received) == 1
    [item] = store.outbox()
    assert (item.status, item.attempts) == ("sent", 3)
    assert item.last_error is not None and "421" in item.last_error


def test_permanent_refusal_is_recorded_not_retried(
    smtp: tuple[Inbox, SmtpConfig], store: Store
) -> None:
    inbox, config = smtp
    inbox.answers = ["550 5.1.1 No such user here"]
    enqueue(store, ack(), SENDER, NOW)
    assert deliver(store, SmtpTransport(config), SENDER, NOW).failed == 1
    assert deliver(store, SmtpTransport(config), SENDER, NOW + timedelta(days=1)).sent == 0
    [item] = store.outbox()
    assert item.status == "failed" and "No such user" in (item.last_error or "")
    assert inbox.received == []


def test_crash_between_send_and_record_never_resends(
    smtp: tuple[Inbox, SmtpConfig], store: Store
) -> None:
    """At most once: an item left 'sending' by a dead process is held for a person to check."""
    inbox, config = smtp
    enqueue(store, ack(), SENDER, NOW)
    [item] = store.outbox_due(NOW)
    store.outbox_mark(item.id, "sending", attempt=True)  # ... and the process died here
    assert deliver(store, SmtpTransport(config), SENDER, NOW + timedelta(hours=1)).sent == 0
    assert store.outbox()[0].status == "unknown"
    assert inbox.received == []
    assert store.outbox_retry(ack().key, by="test")  # the board checked: it never arrived
    assert deliver(store, SmtpTransport(config), SENDER, NOW + timedelta(hours=2)).sent == 1
    assert len(inbox.received) == 1


def test_wrong_password_keeps_the_mail_pending(
    smtp: tuple[Inbox, SmtpConfig], store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, config = smtp
    monkeypatch.setenv("TEST_SMTP_PASSWORD", "wrong")
    enqueue(store, ack(), SENDER, NOW)
    with pytest.raises(AuthError, match="app password") as caught:
        deliver(store, SmtpTransport(config), SENDER, NOW)
    assert "wrong" not in str(caught.value)
    assert store.outbox()[0].status == "pending"


def test_untrusted_certificate_is_refused(smtp: tuple[Inbox, SmtpConfig], store: Store) -> None:
    _, config = smtp
    untrusting = SmtpConfig(**{**vars(config), "ca_file": None})
    enqueue(store, ack(), SENDER, NOW)
    # Waiting cannot make a certificate trusted: a clear error now, the mail kept.
    with pytest.raises(TrustError, match=r"certificate not trusted.*smtp\.ca_file"):
        deliver(store, SmtpTransport(untrusting), SENDER, NOW)
    assert store.outbox()[0].status == "pending"


def test_server_down_waits(store: Store) -> None:
    config = SmtpConfig(
        kind="smtp", sender=SENDER, host="127.0.0.1", port=free_port(), security="none"
    )
    enqueue(store, ack(), SENDER, NOW)
    assert deliver(store, SmtpTransport(config), SENDER, NOW).retrying == 1
    assert store.outbox()[0].status == "pending"


def test_file_transport_writes_eml(tmp_path: Path, store: Store) -> None:
    enqueue(store, ack(), SENDER, NOW)
    assert deliver(store, FileTransport(tmp_path / "out"), SENDER, NOW).sent == 1
    [written] = (tmp_path / "out").iterdir()
    assert written.name == "ack_m1_example.vn_.eml"
    parsed = email.message_from_bytes(written.read_bytes(), policy=policy.default)
    assert parsed["Subject"] == ack().subject
