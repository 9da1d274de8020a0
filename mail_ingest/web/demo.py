"""The demo's web part: a message held for the board to assign, a demo account, and the
page on the demo workspace as of the demo's day (`mail-ingest demo`)."""

from __future__ import annotations

import os
import secrets
import sys
from datetime import datetime, timedelta
from mailbox import Maildir, MaildirMessage
from pathlib import Path

from rich.console import Console

from mail_ingest import config as config_module
from mail_ingest.app import App, poll_config
from mail_ingest.errors import ConfigError

USER = "demo"
# The Health Centre has sent nothing: its clerk writes from a personal address the board
# does not know, so the message waits on Chờ xử lý for the newcomer to assign.
HELD_FROM = "Nguyễn Thị Lan <lannguyen.pt88@gmail.com>"
HELD_UNIT = "Trung tâm Y tế"


def start(config_path: Path, now: datetime, console: Console, *, serve: bool) -> str:
    """Prepare the page's part of the demo and print how to open it (or serve it);
    returns the demo account's password."""
    config = config_module.load(config_path)
    _hold_one(config_path.parent / "mail", now - timedelta(hours=15, minutes=40))
    poll_config(config)
    app = App(config)
    if any(u.name == USER for u in app.users()):
        app.user_remove(USER, actor="demo")
    password = secrets.token_urlsafe(9)
    app.user_add(USER, "staff", password, actor="demo")
    account = f"log in as “{USER}”, password {password} (role staff)"
    if not serve:
        console.print(
            f"Web page: mail-ingest --config {config_path} web --now {now.isoformat()}\n"
            f"     then open http://{config.web.host}:{config.web.port}/ and {account}",
            soft_wrap=True,
        )
        return password
    from mail_ingest.web.serve import serve_forever

    try:
        serve_forever(config, clock=now, banner=f"\n{account}")
    except ConfigError:  # [web].port is taken: any free one
        serve_forever(config, port=0, clock=now, banner=f"\n{account}")
    return password


def interactive() -> bool:
    return sys.stdout.isatty() and os.environ.get("CI") is None


def _hold_one(mail: Path, when: datetime) -> None:
    from mail_ingest.demo import _message
    from mail_ingest.samples import SampleEntry, mau01_xlsx

    entries = [SampleEntry("Khoa Y tế dự phòng", "tap-the", "van-hoa-xa-hoi", "huyen",
                           "Tiêm chủng lưu động tại bản vùng cao")]  # fmt: skip
    message = _message(
        HELD_FROM, when, "Gửi biểu đăng ký DVK",
        "Kính gửi Ban Dân vận,\nEm gửi biểu đăng ký của đơn vị.\nLan (TTYT)",
        [("Mau 01 - TTYT.xlsx", mau01_xlsx(HELD_UNIT, entries))],
    )  # fmt: skip
    box = Maildir(mail, create=True)
    key = box.add(MaildirMessage(message))
    stamp = when.timestamp()
    os.utime(mail / "new" / key, (stamp, stamp))
