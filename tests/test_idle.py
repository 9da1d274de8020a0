"""IdleWatcher against a real Dovecot: wake-ups, stop, renewals, reconnects, no-IDLE servers."""

from __future__ import annotations

import itertools
import logging
import random
import secrets
import socket
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from imapclient import IMAPClient

from mail_ingest.idle import IdleWatcher

import dovecot_server
from dovecot_server import DovecotServer, ImapAccount, require_dovecot

pytestmark = pytest.mark.dovecot

NOW = datetime(2024, 1, 20, 1, 0, tzinfo=UTC)


def message(n: int) -> bytes:
    return (
        f"From: unit{n}@example.vn\r\nTo: bandanvan@example.vn\r\n"
        f"Subject: bieu {n}\r\nDate: Sat, 20 Jan 2024 08:00:00 +0700\r\n\r\n"
        f"Kinh gui Ban Dan van, bieu so {n}.\r\n"
    ).encode()


class Recorder:
    """on_change as a counter plus an event the test can wait on and re-arm."""

    def __init__(self) -> None:
        self.calls = 0
        self.event = threading.Event()

    def __call__(self) -> None:
        self.calls += 1
        self.event.set()


class Connector:
    """connect(): a new logged-in client each time; keeps them so tests can break one."""

    def __init__(self, host: str, port: int, username: str, password: str) -> None:
        self.address = (host, port)
        self.login = (username, password)
        self.clients: list[IMAPClient] = []

    def __call__(self) -> IMAPClient:
        client = IMAPClient(*self.address, ssl=False, timeout=5)
        client.login(*self.login)
        self.clients.append(client)
        return client


@pytest.fixture
def watch() -> Iterator[Callable[..., IdleWatcher]]:
    """Builds started watchers with test-sized intervals and stops them all afterwards."""
    watchers: list[IdleWatcher] = []

    def make(
        connect: Callable[[], IMAPClient], on_change: Callable[[], None], **kw: Any
    ) -> IdleWatcher:
        options: dict[str, Any] = {
            "check_interval": 0.5,
            "max_backoff": 0.5,
            "rng": random.Random(1),
            **kw,
        }
        watcher = IdleWatcher(connect, "INBOX", on_change, **options)
        watchers.append(watcher)
        watcher.start()
        return watcher

    yield make
    for watcher in watchers:
        watcher.stop()


def connector(account: ImapAccount) -> Connector:
    return Connector(account.host, account.port, account.username, account.password)


def test_new_mail_while_idling_calls_on_change(imap_account: ImapAccount, watch) -> None:
    uid = imap_account.append(message(1), NOW)  # old mail: not news
    changed = Recorder()
    watcher = watch(connector(imap_account), changed)
    assert watcher.wait_until_idle(5)
    assert watcher.supported is True
    assert not changed.event.wait(1)

    assert imap_account.append(message(2), NOW) == uid + 1
    assert changed.event.wait(5)
    assert threading.current_thread().name != "imap-idle"
    assert [t.name for t in threading.enumerate()].count("imap-idle") >= 1


def test_watching_leaves_the_mailbox_unchanged(imap_account: ImapAccount, watch) -> None:
    changed = Recorder()
    watcher = watch(connector(imap_account), changed)
    assert watcher.wait_until_idle(5)
    imap_account.append(message(1), NOW)
    assert changed.event.wait(5)
    watcher.stop()
    with IMAPClient(imap_account.host, imap_account.port, ssl=False, timeout=5) as client:
        client.login(imap_account.username, imap_account.password)
        client.select_folder("INBOX", readonly=True)
        flags = client.get_flags(client.search("ALL"))
    # Read-only: no \Seen set, and not even \Recent was claimed by the watcher's session.
    assert list(flags.values()) == [(b"\\Recent",)]


def test_stop_returns_promptly_and_logs_out(imap_account: ImapAccount, watch) -> None:
    connect = connector(imap_account)
    watcher = watch(connect, Recorder(), check_interval=2.0)
    assert watcher.wait_until_idle(5)
    assert watcher.running

    started = time.monotonic()
    watcher.stop()
    assert time.monotonic() - started < 2.0 + 1.0
    assert not watcher.running
    with pytest.raises(OSError):  # logged out: the client closed its socket
        connect.clients[0].socket().getpeername()


class LongestWait(random.Random):
    """Jitter that always picks the upper bound, and remembers the bounds asked for."""

    def __init__(self) -> None:
        super().__init__(0)
        self.bounds: list[tuple[float, float]] = []

    def uniform(self, a: float, b: float) -> float:
        self.bounds.append((a, b))
        return b


def test_stop_during_backoff_does_not_wait_it_out(watch) -> None:
    attempts: list[float] = []

    def refused() -> IMAPClient:
        attempts.append(time.monotonic())
        raise ConnectionRefusedError("nobody listens")

    rng = LongestWait()
    watcher = watch(refused, Recorder(), max_backoff=60.0, rng=rng)
    deadline = time.monotonic() + 5
    while len(attempts) < 2 and time.monotonic() < deadline:
        time.sleep(0.02)
    time.sleep(0.2)  # now in the second backoff, 2 s long
    started = time.monotonic()
    watcher.stop()
    assert time.monotonic() - started < 0.5
    assert not watcher.running
    assert watcher.supported is None
    assert rng.bounds == [(0, 1.0), (0, 2.0)]  # full jitter over base * 2**attempt
    assert attempts[1] - attempts[0] == pytest.approx(1.0, abs=0.2)


def test_connect_errors_back_off_with_jitter_and_log_one_line(
    watch, caplog: pytest.LogCaptureFixture
) -> None:
    attempts: list[float] = []

    def refused() -> IMAPClient:
        attempts.append(time.monotonic())
        raise ConnectionRefusedError("nobody listens")

    caplog.set_level(logging.WARNING, logger="mail_ingest.idle")
    watcher = watch(refused, Recorder(), max_backoff=0.2)
    time.sleep(1.5)
    watcher.stop()
    gaps = [b - a for a, b in itertools.pairwise(attempts)]
    assert len(attempts) >= 5  # kept trying, capped at 0.2 s between tries
    assert max(gaps) < 0.2 + 0.1
    assert len(set(round(g, 3) for g in gaps)) > 1  # jittered, not a fixed beat
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings and all("nobody listens" in r.getMessage() for r in warnings)
    assert all(r.exc_info is None for r in warnings)  # no traceback storm


def test_on_change_errors_do_not_kill_the_watcher(imap_account: ImapAccount, watch) -> None:
    calls = Recorder()

    def broken() -> None:
        calls()
        raise RuntimeError("the scheduler is busy")

    watcher = watch(connector(imap_account), broken)
    assert watcher.wait_until_idle(5)
    imap_account.append(message(1), NOW)
    assert calls.event.wait(5)
    calls.event.clear()
    imap_account.append(message(2), NOW)
    assert calls.event.wait(5)
    assert watcher.running


def test_renews_idle_and_still_reports_mail(
    imap_account: ImapAccount, watch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="mail_ingest.idle")
    connect = connector(imap_account)
    changed = Recorder()
    watcher = watch(connect, changed, renew_after=0.5, check_interval=2.0)
    assert watcher.wait_until_idle(5)
    time.sleep(2.2)
    renewals = [r for r in caplog.records if r.getMessage().endswith(": renewed")]
    assert len(renewals) >= 3
    assert len(connect.clients) == 1  # renewed on the same connection
    assert changed.calls == 0

    imap_account.append(message(1), NOW)
    assert changed.event.wait(5)


def test_survives_a_silently_dead_socket(imap_account: ImapAccount, watch) -> None:
    """idle_check() swallows EOF (imapclient #449, #565); the watcher must notice anyway."""
    connect = connector(imap_account)
    changed = Recorder()
    watcher = watch(connect, changed, check_interval=3.0)
    assert watcher.wait_until_idle(5)

    connect.clients[0].socket().shutdown(socket.SHUT_RDWR)  # EOF without a BYE
    assert changed.event.wait(1.5)  # reconnected without waiting for a check or a renewal
    assert len(connect.clients) == 2
    assert watcher.wait_until_idle(5)
    changed.event.clear()
    imap_account.append(message(1), NOW)
    assert changed.event.wait(5)


@pytest.fixture
def own_server() -> Iterator[DovecotServer]:
    require_dovecot()
    server = DovecotServer()
    try:
        yield server
    finally:
        server.stop()


def test_survives_a_server_restart(own_server: DovecotServer, watch) -> None:
    password = secrets.token_urlsafe(12)
    own_server.add_user("board", password)
    own_server.start()
    connect = Connector(own_server.host, own_server.port, "board", password)
    changed = Recorder()
    watcher = watch(connect, changed)
    assert watcher.wait_until_idle(5)

    # Dovecot's old imap process outlives its master for about 10 s, then says BYE.
    own_server.restart()
    assert changed.event.wait(20)  # reconnected, and told the caller to poll
    assert changed.calls == 1
    assert len(connect.clients) >= 2
    assert watcher.wait_until_idle(5)

    changed.event.clear()
    own_server.append("board", password, "INBOX", message(1), NOW)
    assert changed.event.wait(5)
    assert changed.calls == 2


def test_server_without_idle_falls_back_to_polling(
    own_server: DovecotServer, watch, monkeypatch: pytest.MonkeyPatch, caplog
) -> None:
    monkeypatch.setattr(
        dovecot_server, "_CONFIG", dovecot_server._CONFIG + "imap_capability = IMAP4rev1\n"
    )
    own_server.add_user("board", "secret")
    own_server.start()
    caplog.set_level(logging.INFO, logger="mail_ingest.idle")
    connect = Connector(own_server.host, own_server.port, "board", "secret")
    changed = Recorder()
    watcher = watch(connect, changed)
    deadline = time.monotonic() + 5
    while watcher.running and time.monotonic() < deadline:
        time.sleep(0.05)

    assert not watcher.running
    assert watcher.supported is False
    assert changed.calls == 0
    infos = [r.getMessage() for r in caplog.records if r.levelno == logging.INFO]
    assert infos == ["IMAP server lacks IDLE; INBOX is watched by polling only"]
    assert len(connect.clients) == 1


def test_rejects_a_renewal_beyond_rfc_2177() -> None:
    with pytest.raises(ValueError, match="renew_after"):
        IdleWatcher(lambda: IMAPClient("127.0.0.1"), "INBOX", lambda: None, renew_after=1800)
