"""No acknowledgement and reminder to the same unit within the hour, and no reminder lost.

Through the real cycle: a Maildir poll, App.send_due at moved clocks, the file transport,
the outbox in a real SQLite store.
"""

from __future__ import annotations

import io
import os
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from rich.console import Console

from mail_ingest import config as config_module
from mail_ingest import demo, samples
from mail_ingest.app import App
from mail_ingest.config import Config

TZ = ZoneInfo("Asia/Ho_Chi_Minh")
UNIT = "xa-khong-lao"
ADDRESS = "danguykhonglao@gmail.com"
REMINDER = f"remind:{UNIT}:dvk-2024-dang-ky:2024-01-31:-3"  # due Friday 26/01, the -3 day


@pytest.fixture
def app(tmp_path: Path) -> App:
    outcome = demo.run(tmp_path / "demo", Console(file=io.StringIO()))
    return App(config_module.load(outcome.config))


def at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2024, 1, day, hour, minute, tzinfo=TZ)


def arrive(config: Config, when: datetime) -> None:
    """Khổng Lào's own address sends Mẫu 01 only (incomplete: Mẫu 02 is missing)."""
    from mailbox import Maildir, MaildirMessage

    message = demo._message(
        f"Đảng ủy xã Khổng Lào <{ADDRESS}>", when, "Gửi biểu mẫu 01 Dân vận khéo",
        "Xã Khổng Lào gửi biểu mẫu 01.",
        [("Mau 01 Khong Lao.xlsx", samples.mau01_xlsx("Đảng ủy xã Khổng Lào", demo.MA_LI_PHO))],
    )  # fmt: skip
    root = config.storage.parent / "mail"
    key = Maildir(root, create=False).add(MaildirMessage(message))
    os.utime(root / "new" / key, (when.timestamp(), when.timestamp()))


def keys(app: App, prefix: str) -> dict[str, datetime]:
    with app.store() as store:
        return {
            i.key: i.created_at
            for i in store.outbox()
            if i.key.startswith(prefix) and ADDRESS in i.recipients
        }


def test_a_reminder_waits_an_hour_after_an_ack_then_goes(app: App) -> None:
    arrive(app.config, at(26, 7, 40))
    app.poll()
    app.send_due(at(26, 7, 40))
    assert len(keys(app, "ack:")) == 1 and keys(app, "remind:") == {}
    app.send_due(at(26, 8, 0))  # the reminder cycle: the others are reminded, not this unit
    assert keys(app, "remind:") == {}
    with app.store() as store:
        assert any(i.key.startswith("remind:xa-ma-li-pho") for i in store.outbox())
    app.send_due(at(26, 8, 45))
    assert list(keys(app, "remind:")) == [REMINDER]
    app.send_due(at(26, 9, 30))
    assert len(keys(app, "ack:")) == 1 and list(keys(app, "remind:")) == [REMINDER]


def test_an_ack_late_at_night_carries_the_reminder_to_the_next_working_morning(
    app: App,
) -> None:
    """The day's first cycle is at 23:30 on a Friday (the service was down), just after
    the unit's mail: the reminder is held past midnight, and goes at the next working
    day's reminders_at: Monday, not the weekend."""
    arrive(app.config, at(26, 23, 25))
    app.poll()
    app.send_due(at(26, 23, 30))
    assert len(keys(app, "ack:")) == 1 and keys(app, "remind:") == {}
    app.send_due(at(27, 0, 40))  # past the hour, but in the night: not yet
    assert keys(app, "remind:") == {}
    for day in (27, 28):  # Saturday, Sunday: offices are closed
        app.send_due(at(day, 8, 5))
        assert keys(app, "remind:") == {}, day
    app.send_due(at(29, 8, 5))
    sent = keys(app, "remind:")
    assert list(sent) == [REMINDER], sent
    app.send_due(at(29, 9, 0))
    app.send_due(at(30, 9, 0))
    assert list(keys(app, "remind:")) == [REMINDER]
    with app.store() as store:  # only units acknowledged at 23:30 (Dào San's mail of
        # 14:05 too) are carried; the others were reminded on the 26th
        carried = {i.key for i in store.outbox() if i.key.startswith("remind:")
                   and i.created_at >= at(29, 0)}  # fmt: skip
        reminded = {i.key for i in store.outbox() if i.key.startswith("remind:")}
    assert carried == {REMINDER, REMINDER.replace(UNIT, "xa-dao-san")}
    assert len(reminded) > len(carried)
