"""Shared fixtures: a throwaway deployment on a real Maildir and a real SQLite store."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable, Sequence
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from mailbox import Maildir, MaildirMessage
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from dovecot_server import dovecot, imap_account  # noqa: F401

TZ = ZoneInfo("Asia/Ho_Chi_Minh")
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"

CONFIG = """\
timezone = "Asia/Ho_Chi_Minh"
[mailbox]
kind = "maildir"
path = "mail"
[storage]
path = "data"
[[units]]
id = "xa-muong-so"
name = "Đảng ủy xã Mường So"
group = "xa"
emails = ["DangUy.MuongSo@example.vn"]
[[units]]
id = "cq-vp"
name = "Chi bộ Văn phòng HĐND - UBND huyện"
group = "co-quan"
emails = ["vanphong@example.vn"]
[[requirements]]
id = "dvk-2024"
title = "Đăng ký thi đua “Dân vận khéo” năm 2024"
forms = ["mau-01", "mau-02"]
before = "2024-02-01"
[requirements.rules]
min_collectives = { xa = 2, default = 1 }
min_individuals = { xa = 2, default = 1 }
"""


def make_message(
    sender: str,
    subject: str = "Gửi biểu đăng ký Dân vận khéo",
    files: Sequence[tuple[str, bytes]] = (),
    body: str = "Kính gửi Ban Dân vận Huyện ủy.",
    **headers: str,
) -> bytes:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = "bandanvan@example.vn"
    message["Subject"] = subject
    message["Date"] = format_datetime(datetime(2024, 1, 20, 8, 0, tzinfo=TZ))
    message["Message-ID"] = make_msgid(domain="example.vn")
    for name, value in headers.items():
        message[name.replace("_", "-")] = value
    message.set_content(body)
    for filename, data in files:
        ctype = XLSX if filename.endswith(".xlsx") else DOCX
        maintype, subtype = ctype.split("/")
        message.add_attachment(data, maintype=maintype, subtype=subtype, filename=filename)
    return message.as_bytes()


class Deployment:
    """A config file, a Maildir and a storage folder in a tmp dir."""

    def __init__(self, root: Path, config: str = CONFIG) -> None:
        self.root = root
        self.config = root / "mail-ingest.toml"
        self.config.write_text(config, encoding="utf-8")
        self.maildir = Maildir(root / "mail", create=True)

    def deliver(self, raw: bytes, at: datetime) -> str:
        key = self.maildir.add(MaildirMessage(raw))
        os.utime(self.root / "mail" / "new" / key, (at.timestamp(), at.timestamp()))
        return key


@pytest.fixture
def deployment(tmp_path: Path) -> Deployment:
    return Deployment(tmp_path)


@pytest.fixture
def at() -> Callable[..., datetime]:
    def make(day: int, month: int = 1, hour: int = 9, minute: int = 0, second: int = 0) -> datetime:
        return datetime(2024, month, day, hour, minute, second, tzinfo=TZ)

    return make


@pytest.fixture(scope="session")
def hostile_raws() -> list[bytes]:
    """Every message of the hostile corpus (tests/hostile_mail.py), built once a session."""
    from hostile_mail import corpus

    return [case.raw(f"<{case.name}@example.vn>") for case in corpus()]


@pytest.fixture(scope="session")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate and key for 127.0.0.1, made by openssl (TLS tests)."""
    openssl = shutil.which("openssl")
    if openssl is None:
        if os.environ.get("MAIL_INGEST_REQUIRE_DOVECOT") == "1":  # CI: TLS must be tested
            pytest.fail("openssl not found (apt-get install openssl)", pytrace=False)
        pytest.skip("openssl not found")
    folder = tmp_path_factory.mktemp("certs")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            *(openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"),
            *("-nodes", "-days", "2", "-subj", "/CN=127.0.0.1", "-keyout", str(key)),
            *("-out", str(cert), "-addext", "subjectAltName=IP:127.0.0.1"),
        ],
        check=True,
        capture_output=True,
    )
    folder.chmod(0o755)  # Dovecot reads them as root, but keep them reachable
    return cert, key
