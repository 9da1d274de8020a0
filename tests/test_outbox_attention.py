"""One mail that can never be sent is that mail's problem alone, and a person hears of it."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

from click.testing import CliRunner, Result

from mail_ingest import config as config_module
from mail_ingest import decisions
from mail_ingest.app import open_store
from mail_ingest.cli import cli
from mail_ingest.delivery import Outgoing

from conftest import CONFIG, Deployment

SMTP = '[smtp]\nkind = "file"\npath = "outbox"\nsender = "Ban Dân vận <bdv@example.vn>"\n'


def invoke(deployment: Deployment, *args: str) -> Result:
    return CliRunner().invoke(cli, ["--config", str(deployment.config), *args])


def test_an_unsendable_mail_fails_alone_and_health_says_so(tmp_path: Path) -> None:
    deployment = Deployment(tmp_path, CONFIG.replace("[storage]", SMTP + "[storage]", 1))
    assert invoke(deployment, "poll").exit_code == 0
    config = config_module.load(deployment.config)
    now = datetime.now(UTC)
    bad = Outgoing("ack:<bad@example.vn>", ("Đảng ủy <đảnguỷ@example.vn>",), "Đã nhận", "x")
    good = Outgoing("ack:<good@example.vn>", ("vanphong@example.vn",), "Đã nhận", "y")
    with open_store(config) as store:
        result = decisions.send(config, store, now, [bad, good])
        states = {i.key: i.status for i in store.outbox()}
    assert result.sent == 1
    assert states == {"ack:<bad@example.vn>": "failed", "ack:<good@example.vn>": "sent"}

    reminders = invoke(deployment, "remind", "--now", "2024-01-29T09:00")
    assert reminders.exit_code == 0 and "Traceback" not in reminders.output

    sick = invoke(deployment, "health")
    assert sick.exit_code == 1
    assert "mail ack:<bad@example.vn> failed (cannot compose this mail: not one mail" in sick.output
    assert "outbox --retry KEY or --cancel KEY" in sick.output

    cancelled = invoke(deployment, "outbox", "--cancel", "ack:<bad@example.vn>")
    assert cancelled.exit_code == 0, cancelled.output
    assert "cancelled ack:<bad@example.vn>" in invoke(deployment, "outbox").output
    assert invoke(deployment, "health").exit_code == 0
    assert invoke(deployment, "outbox", "--cancel", "ack:<good@example.vn>").exit_code == 1  # sent


def test_mail_waiting_for_hours_makes_health_fail(tmp_path: Path) -> None:
    deployment = Deployment(tmp_path, CONFIG.replace("[storage]", SMTP + "[storage]", 1))
    assert invoke(deployment, "poll").exit_code == 0
    config = config_module.load(deployment.config)
    then = datetime.now(UTC) - timedelta(hours=7)
    with open_store(config) as store:
        decisions.send(config, store, then, [])  # nothing: just the outbox exists
        store.outbox_add("remind:x", ["vanphong@example.vn"], "Nhắc", b"raw", then)
    with sqlite3.connect(tmp_path / "data" / "mail-ingest.sqlite3") as db:
        db.execute(
            "UPDATE outbox SET next_attempt_at = ?", ((then + timedelta(days=1)).isoformat(),)
        )
    result = invoke(deployment, "health")
    assert result.exit_code == 1
    assert "mail remind:x pending since" in result.output
