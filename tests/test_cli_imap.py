"""The CLI against a real Dovecot IMAP server: arrival time, idempotent polls, bad mail."""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from mail_ingest.cli import cli
from mail_ingest.samples import SampleEntry, mau01_xlsx, mau02_docx

from conftest import make_message

pytestmark = pytest.mark.dovecot

ICT = timezone(timedelta(hours=7))
ENTRIES = [
    SampleEntry("Tổ dân phố số 3", "tap-the", "van-hoa-xa-hoi", "xa", "Tuyến phố văn minh"),
    SampleEntry("Hội Cựu chiến binh", "tap-the", "quoc-phong-an-ninh", "xa", "Camera an ninh"),
    SampleEntry("Nguyễn Văn Hùng", "ca-nhan", "kinh-te", "xa", "Chợ sạch"),
    SampleEntry("Lò Thị Hoa", "ca-nhan", "van-hoa-xa-hoi", "xa", "Câu lạc bộ dân ca Thái"),
]
FORMS = [
    ("Mau 01.xlsx", mau01_xlsx("Đảng ủy thị trấn Phong Thổ", ENTRIES)),
    ("Mau 02.docx", mau02_docx("Đảng ủy thị trấn Phong Thổ", [e.model for e in ENTRIES])),
]


def write_config(tmp_path: Path, account: Any, mailbox: str = "") -> Path:
    path = tmp_path / "mail-ingest.toml"
    path.write_text(
        f"""\
[mailbox]
kind = "imap"
host = "{account.host}"
port = {account.port}
security = "none"
username = "{account.username}"
password_env = "TEST_IMAP_PASSWORD"
{mailbox}
[storage]
path = "data"
[[units]]
id = "tt-phong-tho"
name = "Đảng ủy thị trấn Phong Thổ"
group = "xa"
emails = ["danguy.phongtho@example.vn"]
[[requirements]]
id = "dvk-2024"
title = "Đăng ký thi đua “Dân vận khéo” năm 2024"
forms = ["mau-01", "mau-02"]
before = 2024-02-01
[requirements.rules]
min_collectives = {{ xa = 2, default = 1 }}
min_individuals = {{ xa = 2, default = 1 }}
""",
        encoding="utf-8",
    )
    return path


def run(config: Path, password: str, *args: str) -> Result:
    return CliRunner().invoke(
        cli, ["--config", str(config), *args], env={"TEST_IMAP_PASSWORD": password}
    )


def test_poll_over_imap_uses_internaldate_and_is_idempotent(
    tmp_path: Path, imap_account: Any
) -> None:
    config = write_config(tmp_path, imap_account)
    # The sender's Date header says 30/01, but the server received it at 23:59:30 on
    # 31/01, Vietnam time: on time by a hair, judged by INTERNALDATE alone.
    raw = make_message("danguy.phongtho@example.vn", files=FORMS)
    imap_account.append(raw, datetime(2024, 1, 31, 23, 59, 30, tzinfo=ICT))
    imap_account.append(b"garbage\x00\xff without any header", datetime(2024, 1, 20, tzinfo=ICT))

    first = run(config, imap_account.password, "poll")
    assert first.exit_code == 0, first.output
    assert first.output.splitlines()[0] == "fetched 2, new 2: error 1, submission 1"
    assert (
        run(config, imap_account.password, "poll").output.splitlines()[0]
        == "fetched 0, new 0: nothing new"
    )

    # A stranger's forms naming no unit of the config: held, never counted.
    stranger = [("Mau 01.xlsx", mau01_xlsx("Hội Cựu chiến binh xã Bản Lang", ENTRIES))]
    imap_account.append(
        make_message("nguoila@gmail.com", files=stranger), datetime(2024, 2, 2, 8, 0, tzinfo=ICT)
    )
    third = run(config, imap_account.password, "poll")
    assert third.output.splitlines()[0] == "fetched 1, new 1: unknown-sender 1"

    status = run(config, imap_account.password, "status", "--format", "json", "--now", "2024-02-05")
    [row] = json.loads(status.output)["rows"]
    assert (row["status"], row["completed_at"]) == ("on_time", "2024-01-31T23:59:30+07:00")


def test_wrong_password_exits_1_with_advice(tmp_path: Path, imap_account: Any) -> None:
    config = write_config(tmp_path, imap_account)
    result = run(config, "not-the-password", "poll")
    assert result.exit_code == 1
    assert "not-the-password" not in result.output
    assert "app password" in result.output


def test_missing_password_variable_is_a_config_error(tmp_path: Path, imap_account: Any) -> None:
    config = write_config(tmp_path, imap_account)
    result = CliRunner().invoke(
        cli, ["--config", str(config), "poll"], env={"TEST_IMAP_PASSWORD": ""}
    )
    assert result.exit_code == 2
    assert "mailbox.password_env: environment variable TEST_IMAP_PASSWORD" in result.output


def test_run_with_idle_ingests_new_mail_within_seconds(tmp_path: Path, imap_account: Any) -> None:
    config = write_config(tmp_path, imap_account, mailbox="idle = true")
    with config.open("a", encoding="utf-8") as f:
        f.write("[schedule]\npoll_minutes = 60\n")  # only IDLE can make it poll again soon
    service = subprocess.Popen(
        [sys.executable, "-m", "mail_ingest", "--config", str(config), "run"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1", "TEST_IMAP_PASSWORD": imap_account.password},
    )
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in service.stdout or ()]).start()
    try:
        wait_for(lines, "IDLE on INBOX: waiting for new mail", timeout=30)
        wait_for(lines, "poll done: 0 fetched", timeout=30)
        appended = time.monotonic()
        imap_account.append(make_message("danguy.phongtho@example.vn", files=FORMS),
                            datetime.now(ICT))  # fmt: skip
        wait_for(lines, "poll done: 1 fetched, 1 new", timeout=10)
        latency = time.monotonic() - appended
    finally:
        service.send_signal(signal.SIGTERM)
        service.wait(timeout=30)
    assert latency < 5, latency
    assert service.returncode == 0


def wait_for(lines: queue.Queue[str], text: str, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    seen = []
    while time.monotonic() < deadline:
        try:
            line = lines.get(timeout=max(0.01, deadline - time.monotonic()))
        except queue.Empty:
            break
        seen.append(line)
        if text in line:
            return line
    raise AssertionError(f"no {text!r} within {timeout} s in:\n{''.join(seen)}")
