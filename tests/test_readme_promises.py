"""What the README promises an operator, held to: each test quotes the sentence it checks."""

from __future__ import annotations

import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from mail_ingest.cli import cli

from conftest import CONFIG, Deployment, make_message

README = (Path(__file__).parent.parent / "README.md").read_text(encoding="utf-8")
SMTP = '[smtp]\nkind = "file"\npath = "outbox"\nsender = "Ban Dân vận <bdv@example.vn>"\n'


def readme_says(sentence: str) -> None:
    assert " ".join(sentence.split()) in " ".join(README.split()), sentence


def invoke(deployment: Deployment, *args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(cli, ["--config", str(deployment.config), *args], env=env)


@pytest.fixture
def sending(tmp_path: Path) -> Deployment:
    text = CONFIG.replace("[storage]", SMTP + "[storage]", 1)
    return Deployment(tmp_path, text + '[report]\nrecipients = ["lanhdao@example.vn"]\n')


def test_manual_commands_beside_the_running_service_are_refused(sending: Deployment) -> None:
    readme_says(
        "A manual `mail-ingest poll`, `remind` or `report` while the service runs is refused"
    )
    lock = sending.root / "data" / "mail-ingest.service.lock"
    service = subprocess.Popen(
        [sys.executable, "-m", "mail_ingest", "--config", str(sending.config), "run"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not (lock.exists() and lock.read_text()):
            time.sleep(0.1)
        for command in (["poll"], ["remind"], ["report"]):
            result = invoke(sending, *command)
            assert result.exit_code == 1, (command, result.output)
            assert f"pid {service.pid}) is running" in result.output
        again = invoke(sending, "run")
        assert again.exit_code == 1 and "is running" in again.output
        assert invoke(sending, "report", "--dry-run").exit_code == 0  # looking is fine
        assert invoke(sending, "status").exit_code == 0
        service.send_signal(signal.SIGTERM)
        service.communicate(timeout=30)
    finally:
        service.kill()
    assert service.returncode == 0
    assert invoke(sending, "poll").exit_code == 0  # stopped: a manual poll goes


def _age_polls(deployment: Deployment, minutes: int, failure: str | None = None) -> None:
    """Move the recorded polls back in time, as if the service had stopped `minutes` ago."""
    then = (datetime.now(UTC) - timedelta(minutes=minutes)).isoformat(timespec="seconds")
    with sqlite3.connect(deployment.root / "data" / "mail-ingest.sqlite3") as db:
        db.execute("UPDATE polls SET started_at = ?, finished_at = ?", (then, then))
        if failure:
            db.execute(
                "INSERT INTO polls (started_at, finished_at, failure) VALUES (?, ?, ?)",
                (then, then, failure),
            )


def test_health_fails_after_three_missed_intervals(deployment: Deployment) -> None:
    readme_says(
        "`mail-ingest health`, which exits 1 when no poll has succeeded in the last three "
        "poll intervals"
    )
    assert invoke(deployment, "poll").exit_code == 0
    _age_polls(deployment, 14)  # poll_minutes 5 (the default): 14 min is under 3 x 5
    ok = invoke(deployment, "health")
    assert ok.exit_code == 0, ok.output
    assert ok.output.startswith("ok: last successful poll ") and "(UTC+07:00)" in ok.output
    _age_polls(deployment, 16)
    late = invoke(deployment, "health")
    assert late.exit_code == 1
    assert "no successful poll since" in late.output and "(limit 15 min)" in late.output


def test_one_failed_poll_is_said_but_not_yet_unhealthy(deployment: Deployment) -> None:
    assert invoke(deployment, "poll").exit_code == 0
    _age_polls(deployment, 6, failure="IMAP imap.gmail.com:993: connect timed out")
    result = invoke(deployment, "health")
    assert result.exit_code == 0, result.output
    assert "failed: IMAP imap.gmail.com:993: connect timed out" in result.output
    assert "UTC)" not in result.output and "Error(" not in result.output


def test_a_mark_counts_as_the_board_vouches(deployment: Deployment) -> None:
    readme_says(
        "the board vouches for the paper copy, so the unit counts as complete from that time "
        "even where the requirement has quotas"
    )
    marked = invoke(
        deployment, "mark", "xa-muong-so", "dvk-2024", "--received", "2024-01-30T09:00",
        "--note", "bản giấy",
    )  # fmt: skip
    assert marked.exit_code == 0, marked.output
    status = invoke(deployment, "status", "--format", "csv", "--now", "2024-02-02T09:00")
    [row] = [line for line in status.output.splitlines() if line.startswith("xa-muong-so,")]
    assert ",on_time," in row  # min_collectives = 2 in this config: not checked on paper


def test_check_config_warns_about_a_missing_smtp_password(tmp_path: Path) -> None:
    smtp = (
        '[smtp]\nhost = "smtp.gmail.com"\nport = 587\nsecurity = "starttls"\n'
        'username = "bdv@gmail.com"\npassword_env = "I13_SMTP_PASSWORD"\n'
        'sender = "Ban Dân vận <bdv@gmail.com>"\n'
    )
    deployment = Deployment(tmp_path, CONFIG.replace("[storage]", smtp + "[storage]", 1))
    result = CliRunner().invoke(
        cli, ["--config", str(deployment.config), "check-config"], env={"I13_SMTP_PASSWORD": ""}
    )
    assert result.exit_code == 0, result.output
    assert "warning: smtp.password_env: environment variable I13_SMTP_PASSWORD" in result.output
    assert "(needed to send mail)" in result.output


def test_run_once_polls_sends_and_exits_for_cron(sending: Deployment) -> None:
    readme_says("`mail-ingest run --once` polls, sends what is due, and exits")
    sent_at = datetime.now(UTC) - timedelta(hours=1)  # an acknowledgement is due for it
    sending.deliver(make_message("DangUy.MuongSo@example.vn"), sent_at)
    first = invoke(sending, "run", "--once")
    assert first.exit_code == 0, first.output
    assert [p.name for p in (sending.root / "outbox").glob("*.eml")]  # the receipt
    again = invoke(sending, "run", "--once")
    assert again.exit_code == 0 and len(list((sending.root / "outbox").glob("*.eml"))) == 1
    # A mailbox it cannot read is a failure cron reports, not a silent exit 0.
    shutil.rmtree(sending.root / "mail")
    broken = invoke(sending, "run", "--once")
    assert broken.exit_code == 1 and "failed" in broken.output
