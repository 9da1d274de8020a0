"""Faults on purpose: killed, starved of disk, locked out, cut off, moved in time.

Each test disturbs a real poll or a real sending cycle (real Dovecot, aiosmtpd, SQLite,
real .xlsx/.docx forms, the real command in a child process) and compares what is left
with an undisturbed run of the same mailbox: nothing lost, nothing doubled, a clear
error, `health` telling the truth. Faults come from outside the service (SIGKILL,
RLIMIT_FSIZE, a second process holding SQLite's write lock, a proxy that cuts TCP), so
the service runs the code it runs in production.
"""

from __future__ import annotations

import asyncio
import email
import json
import os
import random
import resource
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from email import policy
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import Envelope
from fault_tools import (
    CuttingProxy,
    Picture,
    config_text,
    env_with,
    imap_mailbox,
    mailbox_messages,
    picture,
)

from mail_ingest import config as config_module
from mail_ingest.app import poll_config
from mail_ingest.decisions import send_due
from mail_ingest.delivery import Outgoing, enqueue
from mail_ingest.store import Store

from conftest import make_message
from dovecot_server import DovecotServer, ImapAccount, free_port

pytestmark = pytest.mark.dovecot

TZ = ZoneInfo("Asia/Ho_Chi_Minh")
TESTS = Path(__file__).resolve().parent
ARRIVED = datetime(2024, 1, 20, 9, 0, tzinfo=TZ)
MESSAGES = 8


# -- one mailbox, polled once undisturbed -------------------------------------------


class Mailbox:
    """A Dovecot account filled once, and the picture an undisturbed poll leaves of it."""

    def __init__(self, account: ImapAccount, root: Path) -> None:
        self.account = account
        self.root = root
        self._runs = 0
        self.baseline, self.seconds = self._baseline()

    def deployment(self, port: int | None = None, smtp: str = "") -> tuple[Path, Path]:
        """(config, storage) of a fresh deployment reading this mailbox."""
        self._runs += 1
        folder = self.root / f"run{self._runs}"
        folder.mkdir()
        storage = folder / "data"
        path = folder / "mail-ingest.toml"
        path.write_text(
            config_text(storage, imap_mailbox(self.account, port), smtp), encoding="utf-8"
        )
        return path, storage

    def cli(self, config: Path, *args: str, **popen: Any) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [sys.executable, "-m", "mail_ingest", "--config", str(config), *args],
            env=env_with(TEST_IMAP_PASSWORD=self.account.password),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            **popen,
        )

    def run(self, config: Path, *args: str, **popen: Any) -> subprocess.CompletedProcess[str]:
        child = self.cli(config, *args, **popen)
        out, err = child.communicate(timeout=120)
        return subprocess.CompletedProcess(child.args, child.returncode, out, err)

    def _baseline(self) -> tuple[Picture, float]:
        config, storage = self.deployment()
        started = time.monotonic()
        done = self.run(config, "poll")
        seconds = time.monotonic() - started
        assert done.returncode == 0, done.stderr
        return picture(storage), seconds


@pytest.fixture(scope="module")
def mailbox(dovecot: DovecotServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mailbox]:
    username = f"faults-{secrets.token_hex(3)}"
    password = secrets.token_urlsafe(12)
    dovecot.add_user(username, password)
    account = ImapAccount(dovecot.host, dovecot.port, username, password, dovecot)
    account.fill(mailbox_messages(MESSAGES), ARRIVED)
    box = Mailbox(account, tmp_path_factory.mktemp("faults"))
    assert len(box.baseline.messages) == MESSAGES and box.baseline.processing == 0
    assert sum(n for *_, n in box.baseline.files) > 0  # forms were read, entries recorded
    yield box


def same_as_undisturbed(box: Mailbox, storage: Path) -> None:
    now = picture(storage)
    assert now.messages == box.baseline.messages  # nothing lost, nothing doubled
    assert now.locations == box.baseline.locations
    assert now.files == box.baseline.files
    assert now.archive == box.baseline.archive
    assert now.processing == 0


# -- 1. SIGKILL at random points -----------------------------------------------------


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_a_poll_killed_at_random_points_resumes_to_the_undisturbed_result(
    mailbox: Mailbox, seed: int
) -> None:
    """Up to two SIGKILLs at random instants of the poll, then a poll left alone.

    A kill that lands while a message is being read is followed by an undisturbed poll:
    a second death on the same message records it as an error on purpose (a message that
    kills the service twice is not read a third time; tests/test_pipeline.py).
    """
    rng = random.Random(seed)
    config, storage = mailbox.deployment()
    kills = 0
    for _ in range(2):
        child = mailbox.cli(config, "poll")
        time.sleep(rng.uniform(0.3, mailbox.seconds))
        if child.poll() is not None:
            child.communicate()
            break
        child.send_signal(signal.SIGKILL)
        child.communicate()
        kills += 1
        if (storage / "mail-ingest.sqlite3").exists() and picture(storage).processing:
            break
    done = mailbox.run(config, "poll")
    assert done.returncode == 0, done.stderr
    same_as_undisturbed(mailbox, storage)
    # A kill during an archive write may leave a temporary file, never a real name.
    assert len(picture(storage).leftovers) <= kills


# -- 2. A full disk -------------------------------------------------------------------


def _file_size_limit(limit: int) -> Any:
    def apply() -> None:
        # Ignored, SIGXFSZ no longer kills: a write past the limit fails with EFBIG, as a
        # full disk fails with ENOSPC.
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return apply


@pytest.mark.parametrize("limit", [40_000, 100_000], ids=["archive", "store"])
def test_a_full_disk_fails_the_poll_clearly_and_the_next_poll_completes_it(
    mailbox: Mailbox, limit: int
) -> None:
    """No file of the poll may grow past `limit` bytes: first the archive's (a form's
    message is 60 KB), then SQLite's write-ahead log (a dozen commits)."""
    config, storage = mailbox.deployment()
    with Store(storage / "mail-ingest.sqlite3"):
        pass  # the schema exists: the disk fills during the poll, not during migrations
    done = mailbox.run(config, "poll", preexec_fn=_file_size_limit(limit))
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    [line] = [x for x in done.stderr.splitlines() if x.startswith("error: ")]
    assert f"under {storage}" in line, line  # where, and why (EFBIG or SQLite's I/O error)
    assert "File too large" in line or "disk I/O error" in line or "disk is full" in line, line
    # Nothing half-recorded: every message in the store is whole, and in the archive.
    half = picture(storage)
    assert set(half.messages) <= set(mailbox.baseline.messages)
    assert {m[0] for m in half.messages} <= {n.removesuffix(".eml") for n in half.archive}
    assert set(half.files) <= set(mailbox.baseline.files)
    health = mailbox.run(config, "health")
    assert health.returncode == 1
    said = health.stdout + health.stderr
    assert "File too large" in said or "no poll has succeeded" in said, said
    done = mailbox.run(config, "poll")
    assert done.returncode == 0, done.stderr
    same_as_undisturbed(mailbox, storage)


# -- 3. SQLite's write lock held by another process ----------------------------------


@pytest.fixture
def holder(tmp_path: Path) -> Iterator[Any]:
    """Starts a child holding BEGIN IMMEDIATE on a database until it is killed."""
    children: list[subprocess.Popen[str]] = []

    def hold(database: Path) -> subprocess.Popen[str]:
        child = subprocess.Popen(
            [sys.executable, str(TESTS / "fault_child.py"), "hold", str(database), "120"],
            stdout=subprocess.PIPE,
            text=True,
        )
        children.append(child)
        assert child.stdout is not None and child.stdout.readline().strip() == "held"
        return child

    yield hold
    for child in children:
        child.kill()
        child.wait()


def test_a_held_write_lock_makes_the_poll_wait_and_health_still_answers(
    mailbox: Mailbox, holder: Any
) -> None:
    config, storage = mailbox.deployment()
    database = storage / "mail-ingest.sqlite3"
    with Store(database):
        pass
    lock = holder(database)
    # Reading needs no write lock: health answers (truthfully: nothing polled yet) while
    # the other process still holds it.
    health = mailbox.run(config, "health")
    assert lock.poll() is None
    assert health.returncode == 1 and "no poll has succeeded yet" in health.stderr
    status = mailbox.run(config, "status", "--format", "json", "--now", "2024-01-25")
    assert lock.poll() is None and status.returncode == 0, status.stderr
    poll = mailbox.cli(config, "poll")
    time.sleep(2.5)  # the poll has started and waits for the lock
    assert poll.poll() is None
    assert picture(storage).messages == ()
    lock.kill()
    lock.wait()
    _, err = poll.communicate(timeout=120)
    assert poll.returncode == 0, err
    same_as_undisturbed(mailbox, storage)


def test_a_write_lock_held_past_the_bound_fails_the_poll_clearly(
    mailbox: Mailbox, holder: Any, monkeypatch: pytest.MonkeyPatch, caplog: Any
) -> None:
    """The store waits 30 s for the lock; shortened here to 1 s so the test stays short."""
    from mail_ingest import deployment, scheduler
    from mail_ingest.errors import LockedError

    config_path, storage = mailbox.deployment()
    monkeypatch.setenv("TEST_IMAP_PASSWORD", mailbox.account.password)
    config = config_module.load(config_path)
    database = storage / "mail-ingest.sqlite3"
    with Store(database):
        pass

    def impatient(config: Any) -> Store:
        store = Store(database)
        store._db.execute("PRAGMA busy_timeout = 1000")  # the bound, not the behaviour
        return store

    monkeypatch.setattr(deployment, "open_store", impatient)
    lock = holder(database)
    with pytest.raises(LockedError, match="held the store's write lock too long"):
        poll_config(config)
    assert scheduler.poll_job(config) is False  # the service logs it and carries on
    assert "poll skipped: another process held the store's write lock" in caplog.text
    assert lock.poll() is None
    lock.kill()
    lock.wait()
    assert picture(storage).messages == ()  # nothing half-recorded
    monkeypatch.undo()
    monkeypatch.setenv("TEST_IMAP_PASSWORD", mailbox.account.password)
    poll_config(config)
    same_as_undisturbed(mailbox, storage)


# -- 4. Connections cut mid-stream ---------------------------------------------------


@pytest.mark.parametrize(
    ("trigger", "after"),
    [(b"BODY.PEEK[HEADER]", 3000), (b"BODY.PEEK[]", 30_000)],
    ids=["headers", "bodies"],
)
def test_an_imap_connection_cut_mid_fetch_loses_and_doubles_nothing(
    mailbox: Mailbox, monkeypatch: pytest.MonkeyPatch, caplog: Any, trigger: bytes, after: int
) -> None:
    monkeypatch.setenv("TEST_IMAP_PASSWORD", mailbox.account.password)
    with CuttingProxy((mailbox.account.host, mailbox.account.port), trigger, after) as proxy:
        config_path, storage = mailbox.deployment(port=proxy.port)
        result = poll_config(config_module.load(config_path))
    assert proxy.cut == 1 and proxy.connections >= 2
    assert "reconnecting in" in caplog.text
    assert result.new == MESSAGES
    same_as_undisturbed(mailbox, storage)


# -- sending: killed, cut off --------------------------------------------------------

SENDER = "Ban Dân vận Huyện ủy Phong Thổ <bandanvan@phongtho.example.vn>"
NOW = datetime(2024, 1, 25, 9, 0, tzinfo=TZ)


class Inbox:
    """An aiosmtpd handler keeping what it accepted; `delay` s per DATA, a slow server."""

    def __init__(self, delay: float = 0.0) -> None:
        self.delay = delay
        self.received: list[Envelope] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Envelope) -> str:
        await asyncio.sleep(self.delay)
        self.received.append(envelope)
        return "250 Message accepted"

    def message_ids(self) -> list[str]:
        return [
            str(
                email.message_from_bytes(e.original_content or b"", policy=policy.default)[
                    "Message-ID"
                ]
            )
            for e in self.received
        ]


@pytest.fixture
def inbox() -> Iterator[tuple[Inbox, int]]:
    handler = Inbox()
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield handler, port
    finally:
        controller.stop()


def smtp_section(port: int) -> str:
    return (
        f'[smtp]\nkind = "smtp"\nsender = "{SENDER}"\nhost = "127.0.0.1"\nport = {port}\n'
        'security = "none"\n'
    )


def fill_outbox(storage: Path, count: int, padding: int = 0) -> dict[str, str]:
    """`count` acknowledgements waiting, each about `padding` kB longer; {key: Message-ID}."""
    extra = ("\n" + "Dòng thêm vào cho dài. " * 40) * padding
    with Store(storage / "mail-ingest.sqlite3") as store:
        for i in range(count):
            out = Outgoing(
                key=f"ack:<m{i}@example.vn>", to=("Đảng ủy xã Dào San <daosan@example.vn>",),
                subject=f"Ban Dân vận đã nhận hồ sơ ({i})",
                text="Kính gửi Đảng ủy xã Dào San." + extra,
                auto="auto-replied", in_reply_to=f"<m{i}@example.vn>",
            )  # fmt: skip
            assert enqueue(store, out, SENDER, NOW)
        return {i.key: _message_id(i.raw) for i in store.outbox()}


def _message_id(raw: bytes) -> str:
    return str(email.message_from_bytes(raw, policy=policy.default)["Message-ID"])


def outbox_states(storage: Path) -> dict[str, str]:
    with Store(storage / "mail-ingest.sqlite3") as store:
        return {i.key: i.status for i in store.outbox()}


@pytest.mark.parametrize("seed", [1, 2])
def test_a_sending_cycle_killed_mid_way_sends_each_mail_at_most_once(
    mailbox: Mailbox, inbox: tuple[Inbox, int], seed: int
) -> None:
    """The mail in flight when the process died is `unknown`: not resent until a person
    says so (`outbox --retry`); everything else goes exactly once."""
    server, port = inbox
    server.delay = 0.15
    config, storage = mailbox.deployment(smtp=smtp_section(port))
    ids = fill_outbox(storage, 12)
    send = [sys.executable, str(TESTS / "fault_child.py"), "send", str(config), NOW.isoformat()]
    child = subprocess.Popen(send, env=env_with(), stdout=subprocess.PIPE, text=True)
    while len(server.received) < 2 + 3 * seed:  # a random point, after a few were sent
        time.sleep(0.01)
    time.sleep(random.Random(seed).uniform(0, server.delay))
    child.kill()
    child.wait()
    later = (NOW + timedelta(minutes=5)).isoformat()
    done = subprocess.run([*send[:-1], later], env=env_with(), capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    received = server.message_ids()
    assert len(received) == len(set(received))  # never twice
    states = outbox_states(storage)
    assert set(states.values()) <= {"sent", "unknown"}
    unknown = [k for k, s in states.items() if s == "unknown"]
    assert len(unknown) <= 1  # only the one in flight
    for key, state in states.items():
        if state == "sent":
            assert received.count(ids[key]) == 1
    health = mailbox.run(config, "health")
    assert health.returncode == 1
    for key in unknown:
        assert key in health.stderr and "outbox --retry" in health.stderr
        if ids[key] not in received:  # the board checked: it never arrived
            assert mailbox.run(config, "outbox", "--retry", key).returncode == 0
            subprocess.run([*send[:-1], later], env=env_with(), check=True, capture_output=True)
            assert server.message_ids().count(ids[key]) == 1
    received = server.message_ids()
    assert len(received) == len(set(received))


def test_an_smtp_connection_cut_mid_data_is_retried_and_sent_once(
    mailbox: Mailbox, inbox: tuple[Inbox, int]
) -> None:
    """Cut before the end of the data, seen while sending: the server took nothing, so a
    retry is safe. The mail (8 MB) is longer than the sockets' buffers (4 MB), so the client is
    still writing when the cut comes; a cut it only sees while waiting for the answer
    could have come after the final dot, and is `unknown` (the test below)."""
    server, port = inbox
    with CuttingProxy(("127.0.0.1", port), b"data\r\n", 200, watch="client") as proxy:
        config_path, storage = mailbox.deployment(smtp=smtp_section(proxy.port))
        ids = fill_outbox(storage, 3, padding=8_000)
        config = config_module.load(config_path)
        first = send_due(config, NOW, kinds=())
        assert proxy.cut == 1
        assert (first.sent, first.retrying) == (2, 1)
        assert send_due(config, NOW, kinds=()).sent == 0  # it waits for its backoff
        again = send_due(config, NOW + timedelta(hours=1), kinds=())
    assert again.sent == 1
    assert sorted(server.message_ids()) == sorted(ids.values())
    assert set(outbox_states(storage).values()) == {"sent"}


def test_an_smtp_connection_cut_after_the_data_never_resends(
    mailbox: Mailbox, inbox: tuple[Inbox, int]
) -> None:
    """The server may have taken the mail: like a death in flight, it is `unknown`."""
    server, port = inbox
    with CuttingProxy(("127.0.0.1", port), b"\r\n.\r\n", 0, watch="server") as proxy:
        config_path, storage = mailbox.deployment(smtp=smtp_section(proxy.port))
        fill_outbox(storage, 1)
        config = config_module.load(config_path)
        send_due(config, NOW, kinds=())
        assert proxy.cut == 1 and len(server.received) == 1
        send_due(config, NOW + timedelta(hours=1), kinds=())
    assert len(server.received) == 1
    assert set(outbox_states(storage).values()) == {"unknown"}


# -- 5. The clock moved across midnight and across a deadline ------------------------


def test_statuses_reminders_and_reports_follow_the_instant_across_midnight_and_a_deadline(
    tmp_path: Path,
) -> None:
    from mailbox import Maildir, MaildirMessage

    from click.testing import CliRunner
    from fault_tools import ENTRIES

    from mail_ingest.cli import cli
    from mail_ingest.samples import mau01_xlsx, mau02_docx

    outgoing = tmp_path / "sent"
    smtp = f'[smtp]\nkind = "file"\npath = "{outgoing}"\nsender = "{SENDER}"\n'
    extra = '[report]\nrecipients = ["lanhdao@example.vn"]\n'
    path = tmp_path / "mail-ingest.toml"
    mailbox = f'kind = "maildir"\npath = "{tmp_path / "mail"}"'
    path.write_text(config_text(tmp_path / "data", mailbox, smtp, extra), encoding="utf-8")
    maildir = Maildir(tmp_path / "mail", create=True)

    def deliver(address: str, name: str, at: datetime) -> None:
        files = [
            ("Mau 01.xlsx", mau01_xlsx(name, ENTRIES)),
            ("Mau 02.docx", mau02_docx(name, [e.model for e in ENTRIES])),
        ]
        key = maildir.add(MaildirMessage(make_message(address, files=files)))
        os.utime(tmp_path / "mail" / "new" / key, (at.timestamp(), at.timestamp()))

    deliver("daosan@example.vn", "Đảng ủy xã Dào San", datetime(2024, 1, 20, 9, tzinfo=TZ))
    # Half a minute after the cutoff (00:00 on 01/02, Vietnam): late, though UTC says 31/01.
    deliver(
        "vanphong@example.vn",
        "Chi bộ Văn phòng HĐND - UBND huyện",
        datetime(2024, 2, 1, 0, 0, 30, tzinfo=TZ),
    )
    runner = CliRunner()

    def cli_run(*args: str) -> str:
        done = runner.invoke(cli, ["--config", str(path), *args])
        assert done.exit_code == 0, done.output
        return done.output

    cli_run("poll")

    def statuses(now: str) -> dict[str, str]:
        rows = json.loads(cli_run("status", "--format", "json", "--now", now))["rows"]
        return {r["unit"]: r["status"] for r in rows}

    before, after = statuses("2024-01-31T23:59:59"), statuses("2024-02-01T00:01:00")
    assert before == {
        "xa-dao-san": "on_time", "xa-muong-so": "missing", "tt-phong-tho": "missing",
        "cq-vp": "missing",
    }  # fmt: skip
    assert after == {**before, "cq-vp": "late"}

    config = config_module.load(path)
    keys: list[list[str]] = []
    for instant in (
        "2024-01-26T07:59:00", "2024-01-26T08:00:00", "2024-01-26T23:59:59",
        "2024-01-27T00:00:01", "2024-01-27T08:00:00", "2024-02-01T08:00:00",
        "2024-02-01T23:59:00", "2024-02-02T00:00:01", "2024-02-02T08:00:00",
    ):  # fmt: skip
        send_due(config, datetime.fromisoformat(instant).replace(tzinfo=TZ), kinds=("remind",))
        keys.append(sorted(outbox_states(tmp_path / "data")))
    early = [f"remind:{u}:dvk-2024:2024-01-31:-3" for u in ("cq-vp", "tt-phong-tho", "xa-muong-so")]
    late = [f"remind:{u}:dvk-2024:2024-01-31:1" for u in ("tt-phong-tho", "xa-muong-so")]
    # 28/01 is a Sunday: the -3 reminder goes on Friday 26/01 from 08:00, once that day and
    # not again after midnight; the +1 on 01/02, not to cq-vp, complete (late) since 00:00:30.
    assert keys == [[], *[early] * 4, *[sorted(early + late)] * 4]
    reminders = keys[-1]
    assert len(reminders) == len(set(reminders))
    assert all(states == "sent" for states in outbox_states(tmp_path / "data").values())
    assert len(list(outgoing.glob("*.eml"))) == len(reminders)  # each went once
    assert keys[0] == []  # not before reminders_at
    assert not any("xa-dao-san" in k for k in reminders)  # complied: never reminded
    for report_at in ("2024-01-31T23:59:00", "2024-02-01T00:00:01", "2024-02-01T17:00:00"):
        cli_run("report", "--now", report_at)
    reports = [k for k in outbox_states(tmp_path / "data") if k.startswith("report:")]
    assert sorted(reports) == ["report:2024-01-31", "report:2024-02-01"]
