"""ImapSource against a real Dovecot: incremental fetch, arrival time, no side effects, errors."""

from __future__ import annotations

import logging
import shutil
import socket
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from imapclient import IMAPClient

from mail_ingest.errors import AuthError, ConfigError, TransientError
from mail_ingest.imap import ImapSource, Security
from mail_ingest.mailbox import FetchedMessage

from dovecot_server import DovecotServer, ImapAccount, free_port, require_dovecot

pytestmark = pytest.mark.dovecot

ICT = timezone(timedelta(hours=7))


class DictCheckpoint:
    """What the store remembers, as a dict: (source, uidvalidity) -> recorded UIDs."""

    def __init__(self) -> None:
        self.recorded: dict[tuple[str, int], set[str]] = {}

    def record(self, message: FetchedMessage) -> None:
        self.recorded.setdefault((message.source, message.uidvalidity), set()).add(message.uid)

    def last_uid(self, source: str, uidvalidity: int) -> int:
        return max(map(int, self.recorded.get((source, uidvalidity), ())), default=0)

    def is_known(self, source: str, uidvalidity: int, uid: str) -> bool:
        return uid in self.recorded.get((source, uidvalidity), set())


class NoWatermark(DictCheckpoint):
    """A store that knows each message but not how far it got (say, after a restore)."""

    def last_uid(self, source: str, uidvalidity: int) -> int:
        return 0


def message(n: int) -> bytes:
    return (
        f"From: unit{n}@example.vn\r\nTo: bandanvan@example.vn\r\n"
        f"Subject: =?utf-8?b?{n}?=\r\nDate: Sat, 20 Jan 2024 08:00:00 +0700\r\n\r\n"
        f"Kinh gui Ban Dan van, bieu so {n}.\r\n"
    ).encode()


def source_for(account: ImapAccount, folder: str = "INBOX", batch_size: int = 50) -> ImapSource:
    return ImapSource(
        account.host,
        account.port,
        "none",
        account.username,
        account.password,
        folder,
        batch_size=batch_size,
    )


def poll(source: ImapSource, checkpoint: DictCheckpoint) -> list[FetchedMessage]:
    """What the pipeline does: record each message as it is yielded."""
    fetched = []
    for fetched_message in source.fetch_new(checkpoint):
        checkpoint.record(fetched_message)
        fetched.append(fetched_message)
    return fetched


def test_fetches_only_what_is_new_in_uid_order(imap_account: ImapAccount) -> None:
    at = datetime(2024, 1, 20, 9, 0, tzinfo=ICT)
    uids = [imap_account.append(message(n), at + timedelta(minutes=n)) for n in range(3)]
    checkpoint = DictCheckpoint()
    source = source_for(imap_account)
    try:
        first = poll(source, checkpoint)
        assert [m.uid for m in first] == [str(uid) for uid in uids]
        assert [m.raw for m in first] == [message(n) for n in range(3)]
        where = f"imap:{imap_account.username}@{imap_account.host}:{imap_account.port}/INBOX"
        assert {m.source for m in first} == {where}
        assert len({m.uidvalidity for m in first}) == 1

        more = [imap_account.append(message(n), at + timedelta(hours=n)) for n in (3, 4)]
        second = poll(source, checkpoint)  # same source: reuses its connection
        assert [m.uid for m in second] == [str(uid) for uid in more]
        assert [m.raw for m in second] == [message(3), message(4)]
    finally:
        source.close()
    # `UID 6:*` still answers the newest message (UID 5): nothing must come back.
    again = source_for(imap_account)
    try:
        assert poll(again, checkpoint) == []
    finally:
        again.close()


def test_skips_known_messages_across_batches(imap_account: ImapAccount) -> None:
    at = datetime(2024, 1, 20, 9, 0, tzinfo=ICT)
    uids = [str(imap_account.append(message(n), at)) for n in range(5)]
    with IMAPClient(imap_account.host, imap_account.port, ssl=False) as client:
        client.login(imap_account.username, imap_account.password)
        uidvalidity = client.select_folder("INBOX", readonly=True)[b"UIDVALIDITY"]
    source = source_for(imap_account, batch_size=2)
    checkpoint = NoWatermark()
    checkpoint.recorded[(source.source, uidvalidity)] = {uids[1], uids[3]}
    try:
        fetched = poll(source, checkpoint)
    finally:
        source.close()
    assert [m.uid for m in fetched] == [uids[0], uids[2], uids[4]]


def test_fetch_is_lazy(imap_account: ImapAccount) -> None:
    source = ImapSource("127.0.0.1", free_port(), "none", "u", "p")
    messages = source.fetch_new(DictCheckpoint())  # no connection yet
    with pytest.raises(TransientError):
        next(messages)
    source.close()


def test_internaldate_keeps_the_servers_offset(imap_account: ImapAccount) -> None:
    sent = datetime(2024, 1, 31, 23, 59, 0, tzinfo=ICT)
    imap_account.append(message(1), sent)
    # The same instant written in UTC must come back in the server's zone (+07:00).
    imap_account.append(message(2), datetime(2024, 1, 31, 17, 0, tzinfo=UTC))
    source = source_for(imap_account)
    try:
        first, second = poll(source, DictCheckpoint())
    finally:
        source.close()
    assert first.received_at == sent
    assert first.received_at.utcoffset() == timedelta(hours=7)
    assert (first.received_at.day, first.received_at.hour) == (31, 23)
    assert second.received_at.isoformat() == "2024-02-01T00:00:00+07:00"


def test_fetching_leaves_messages_unread(imap_account: ImapAccount) -> None:
    at = datetime(2024, 1, 20, 9, 0, tzinfo=ICT)
    unread = imap_account.append(message(1), at)
    flagged = imap_account.server.append(
        imap_account.username, imap_account.password, "INBOX", message(2), at, [b"\\Flagged"]
    )
    source = source_for(imap_account)
    try:
        assert len(poll(source, DictCheckpoint())) == 2
    finally:
        source.close()
    with IMAPClient(imap_account.host, imap_account.port, ssl=False) as client:
        client.login(imap_account.username, imap_account.password)
        client.select_folder("INBOX", readonly=True)
        flags = client.get_flags([unread, flagged])
    assert b"\\Seen" not in flags[unread]
    assert b"\\Seen" not in flags[flagged]
    assert b"\\Flagged" in flags[flagged]


def test_reads_a_non_ascii_folder(imap_account: ImapAccount) -> None:
    folder = "Báo cáo Dân vận khéo"
    imap_account.append(message(1), datetime(2024, 1, 20, 9, 0, tzinfo=ICT), folder=folder)
    source = source_for(imap_account, folder=folder)
    try:
        [fetched] = poll(source, DictCheckpoint())
    finally:
        source.close()
    assert fetched.source.endswith(f"/{folder}")
    assert fetched.raw == message(1)


def test_new_uidvalidity_refetches_the_folder(imap_account: ImapAccount) -> None:
    at = datetime(2024, 1, 20, 9, 0, tzinfo=ICT)
    for n in range(3):
        imap_account.append(message(n), at, folder="Forms")
    checkpoint = DictCheckpoint()
    source = source_for(imap_account, folder="Forms")
    try:
        old = poll(source, checkpoint)
        with IMAPClient(imap_account.host, imap_account.port, ssl=False) as client:
            client.login(imap_account.username, imap_account.password)
            client.delete_folder("Forms")
        imap_account.append(message(9), at, folder="Forms")  # recreated: UID 1 again
        [new] = poll(source, checkpoint)
    finally:
        source.close()
    assert new.uidvalidity != old[0].uidvalidity
    assert (new.uid, new.raw) == ("1", message(9))


def test_reconnects_when_the_connection_died_and_closes_quietly(
    imap_account: ImapAccount,
) -> None:
    at = datetime(2024, 1, 20, 9, 0, tzinfo=ICT)
    imap_account.append(message(1), at)
    checkpoint = DictCheckpoint()
    source = source_for(imap_account)
    assert len(poll(source, checkpoint)) == 1
    assert source._client is not None
    source._client.shutdown()  # the network dropped the idle connection between polls
    imap_account.append(message(2), at)
    assert [m.raw for m in poll(source, checkpoint)] == [message(2)]
    assert source._client is not None
    source._client.shutdown()
    source.close()  # logging out of a dead connection is not an error


def test_wrong_password_is_an_auth_error_without_the_password(
    imap_account: ImapAccount, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    wrong = "wrong-" + imap_account.password
    source = ImapSource(imap_account.host, imap_account.port, "none", imap_account.username, wrong)
    with pytest.raises(AuthError) as caught:
        list(source.fetch_new(DictCheckpoint()))
    source.close()
    text = str(caught.value)
    assert wrong not in text
    assert imap_account.username in text
    assert "app password" in text
    assert "2-Step Verification" in text
    assert wrong not in repr(source)
    assert wrong not in caplog.text


def test_missing_folder_is_a_config_error(imap_account: ImapAccount) -> None:
    source = source_for(imap_account, folder="Hop thu den")
    with pytest.raises(ConfigError, match=r"mailbox\.folder: 'Hop thu den' does not exist"):
        list(source.fetch_new(DictCheckpoint()))
    source.close()


def test_server_down_is_transient() -> None:
    source = ImapSource("127.0.0.1", free_port(), "ssl", "u", "p", timeout=2)
    with pytest.raises(TransientError, match="connection refused"):
        list(source.fetch_new(DictCheckpoint()))
    source.close()


def test_silent_server_times_out_as_transient() -> None:
    with socket.socket() as listener:  # accepts TCP connections but never greets
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        source = ImapSource("127.0.0.1", listener.getsockname()[1], "none", "u", "p", timeout=0.3)
        with pytest.raises(TransientError, match="timed out"):
            list(source.fetch_new(DictCheckpoint()))
        source.close()


@pytest.fixture(scope="module")
def tls_dovecot(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DovecotServer]:
    """A second Dovecot with a self-signed certificate for 127.0.0.1 (IMAPS and STARTTLS)."""
    require_dovecot()
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("openssl not found")
    certs = tmp_path_factory.mktemp("certs")
    cert, key = certs / "cert.pem", certs / "key.pem"
    subprocess.run(
        [
            *(openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"),
            *("-nodes", "-days", "2", "-subj", "/CN=127.0.0.1", "-keyout", str(key)),
            *("-out", str(cert), "-addext", "subjectAltName=IP:127.0.0.1"),
        ],
        check=True,
        capture_output=True,
    )
    certs.chmod(0o755)  # Dovecot reads them as root, but keep them reachable
    server = DovecotServer(tls_cert=cert, tls_key=key)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.mark.parametrize("security", ["ssl", "starttls"])
def test_tls_verifies_the_certificate(tls_dovecot: DovecotServer, security: Security) -> None:
    user = f"tls-{security}"
    tls_dovecot.add_user(user, "tls-password")
    tls_dovecot.append(user, "tls-password", "INBOX", message(1), datetime.now(ICT))
    port = tls_dovecot.ssl_port if security == "ssl" else tls_dovecot.port
    args = ("127.0.0.1", port, security, user, "tls-password")

    trusting = ImapSource(*args, ca_file=tls_dovecot.tls_cert)
    try:
        [fetched] = poll(trusting, DictCheckpoint())
    finally:
        trusting.close()
    assert fetched.raw == message(1)

    default = ImapSource(*args)
    with pytest.raises(TransientError, match=r"certificate not trusted.*mailbox\.ca_file"):
        list(default.fetch_new(DictCheckpoint()))
    default.close()


def test_unreadable_ca_file_is_a_config_error(tmp_path: Path) -> None:
    source = ImapSource("127.0.0.1", 993, "ssl", "u", "p", ca_file=tmp_path / "missing.pem")
    with pytest.raises(ConfigError, match=r"mailbox\.ca_file"):
        list(source.fetch_new(DictCheckpoint()))
