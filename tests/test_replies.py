"""A unit's reply to our acknowledgement, through a real Maildir poll and the real archive.

With the corrected file it is a submission and is acknowledged once, in the thread
(References: the unit's chain, then its own Message-ID); a thank-you without a file is
not a new submission and gets no second acknowledgement.
"""

from __future__ import annotations

import email
import io
import os
from datetime import datetime
from email import policy
from email.utils import make_msgid
from mailbox import Maildir, MaildirMessage
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from rich.console import Console

from mail_ingest import config as config_module
from mail_ingest import demo, samples
from mail_ingest.app import App
from mail_ingest.config import Config

TZ = ZoneInfo("Asia/Ho_Chi_Minh")
ADDRESS = "danguykhonglao@gmail.com"
NAME = "Đảng ủy xã Khổng Lào"


@pytest.fixture
def app(tmp_path: Path) -> App:
    outcome = demo.run(tmp_path / "demo", Console(file=io.StringIO()))
    return App(config_module.load(outcome.config))


def at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2024, 1, day, hour, minute, tzinfo=TZ)


def arrive(
    config: Config, when: datetime, subject: str, files: list[tuple[str, bytes]],
    body: str = "Xã Khổng Lào gửi biểu mẫu.", **headers: str,
) -> str:  # fmt: skip
    message = demo._message(f"{NAME} <{ADDRESS}>", when, subject, body, files)
    for name, value in headers.items():
        message[name.replace("_", "-")] = value
    root = config.storage.parent / "mail"
    key = Maildir(root, create=False).add(MaildirMessage(message))
    os.utime(root / "new" / key, (when.timestamp(), when.timestamp()))
    return str(message["Message-ID"])


def acks(app: App) -> list[email.message.EmailMessage]:
    with app.store() as store:
        items = [i for i in store.outbox() if i.key.startswith("ack:") and ADDRESS in i.recipients]
    return [
        email.message_from_bytes(i.raw, policy=policy.default)  # type: ignore[misc]
        for i in sorted(items, key=lambda i: i.id)
    ]


def test_a_reply_with_the_corrected_file_is_a_submission_in_the_thread(app: App) -> None:
    earlier = make_msgid(domain="gmail.com")
    first = arrive(
        app.config, at(26, 7, 40), "Gửi biểu mẫu 01 Dân vận khéo",
        [("Mau 01 Khong Lao.xlsx", samples.mau01_xlsx(NAME, demo.MA_LI_PHO))],
        References=earlier, In_Reply_To=earlier,
    )  # fmt: skip
    app.poll()
    app.send_due(at(26, 7, 45))
    [ack] = acks(app)
    assert str(ack["References"]).split() == [earlier, first]  # the chain, then its id
    assert "Đơn vị có thể trả lời thư này" in ack.get_body(("plain",)).get_content()  # type: ignore[union-attr]

    ours = str(ack["Message-ID"])
    reply = arrive(
        app.config, at(26, 9, 0), str(ack["Subject"]).replace("Re: ", "Re: Re: ", 1),
        [("Mau 02 Khong Lao.docx", samples.mau02_docx(NAME, [e.model for e in demo.MA_LI_PHO]))],
        body="Xã Khổng Lào gửi bổ sung mẫu 02.", In_Reply_To=ours,
        References=f"{earlier} {first} {ours}",
    )  # fmt: skip
    app.poll()
    app.send_due(at(26, 9, 5))
    app.send_due(at(26, 9, 30))
    _, second = acks(app)
    assert str(second["In-Reply-To"]) == reply
    assert str(second["References"]).split() == [earlier, first, ours, reply]
    assert str(second["Subject"]).count("Re:") == 1
    with app.store() as store:
        [status] = [s for s in app.status(at(26, 9, 30)).statuses if s.unit.id == "xa-khong-lao"]
        assert status.status in ("on_time", "checking"), status.status
        assert any(m.message_id == reply and m.outcome == "submission" for m in store.messages())

    before = app.status(at(26, 9, 30)).statuses
    arrive(
        app.config, at(26, 10, 0), f"Re: {second['Subject']}", [],
        body="Đã nhận, cảm ơn Ban.", In_Reply_To=str(second["Message-ID"]),
    )  # fmt: skip
    app.poll()
    app.send_due(at(26, 10, 5))
    app.send_due(at(26, 11, 0))
    assert len(acks(app)) == 2
    after = app.status(at(26, 11, 0)).statuses
    assert [(s.status, s.completed_at) for s in after] == [
        (s.status, s.completed_at) for s in before
    ]


def test_the_boards_notes_date_as_a_letter_does(app: App) -> None:
    """corrections.notes words its instants through wording, as every mail does."""
    from mail_ingest import corrections, wording

    with app.store() as store:
        held = next(m for m in store.messages() if m.outcome == "submission")
        corrections.assign(app.config, store, str(held.id), held.unit_id or "xa-dao-san",
                           remember=False, by="cán bộ A", note="")  # fmt: skip
        corrections.mark(app.config, store, "xa-khong-lao", "dvk-2024-dang-ky", at(29, 9),
                         forms=("mau-01",), via="paper", note="giấy", by="cán bộ A")  # fmt: skip
        notes = corrections.notes(store, TZ)
    assert f"Thư nhận lúc {wording.clock(held.received_at, TZ)} từ " in notes[str(held.id)]
    assert any(n.startswith(f"Nhận bản giấy {wording.day(at(29, 9))}") for n in notes.values())
