"""ImapSource against a real Dovecot and a real store: incremental, exactly once, hands off."""

from __future__ import annotations

import gc
import http.server
import json
import logging
import re
import shutil
import socket
import ssl
import tempfile
import threading
import tracemalloc
import urllib.parse
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path
from statistics import median
from typing import Any

import pytest
from imapclient import IMAPClient

from mail_ingest.archive import Archive, sha256
from mail_ingest.config import MailboxConfig
from mail_ingest.delivery import Outgoing, enqueue
from mail_ingest.errors import AuthError, ConfigError, TransientError, TrustError
from mail_ingest.imap import ImapSource
from mail_ingest.imap_client import tls_client
from mail_ingest.mailbox import FetchedMessage
from mail_ingest.mime import Attachment, Mail
from mail_ingest.pipeline import PollResult, poll, process, wanted
from mail_ingest.samples import SampleEntry, mau01_xlsx
from mail_ingest.store import Store
from rules.units import Unit, UnitDirectory

from conftest import make_message
from dovecot_server import DovecotServer, ImapAccount, free_port, require_dovecot

pytestmark = pytest.mark.dovecot
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

ICT = timezone(timedelta(hours=7))
AT = datetime(2024, 1, 20, 9, 0, tzinfo=ICT)
ENV = "TEST_IMAP_SECRET"
UNITS = UnitDirectory([Unit("xa-dao-san", "Đảng ủy xã Dào San", "xa", ("daosan@example.vn",))])


def message(n: int, sender: str = "daosan@example.vn") -> bytes:
    return (
        f"From: {sender}\r\nTo: bandanvan@example.vn\r\nMessage-ID: <m{n}@example.vn>\r\n"
        f"Subject: =?utf-8?b?{n}?=\r\nDate: Sat, 20 Jan 2024 08:00:00 +0700\r\n\r\n"
        f"Kinh gui Ban Dan van, bieu so {n}.\r\n"
    ).encode()


@pytest.fixture
def account(imap_account: ImapAccount, monkeypatch: pytest.MonkeyPatch) -> ImapAccount:
    monkeypatch.setenv(ENV, imap_account.password)
    return imap_account


def mailbox(host: str, port: int, username: str, **settings: Any) -> MailboxConfig:
    return MailboxConfig(
        kind="imap", host=host, port=port, security="none", username=username,
        password_env=ENV, **settings,
    )  # fmt: skip


def source_for(account: ImapAccount, **settings: Any) -> ImapSource:
    options = {k: settings.pop(k) for k in ("wanted", "preview_batch", "body_batch_bytes")
               if k in settings}  # fmt: skip
    box = mailbox(account.host, account.port, account.username, **settings)
    return ImapSource(box, backoff=0.01, timezone=ICT, **options)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store(tmp_path / "store.sqlite3") as s:
        yield s


def drain(source: ImapSource, store: Store) -> list[FetchedMessage]:
    """What the pipeline does with each message, keeping what the source yielded."""
    fetched = []
    for m in source.fetch_new(store):
        record = process(m, sha256(m.raw), UNITS, ())
        pending = source.acts and record.outcome == "submission"
        store.record(record, m.source, m.uidvalidity, m.uid, action_pending=pending)
        fetched.append(m)
    return fetched


def ingest(source: ImapSource, store: Store, tmp_path: Path) -> PollResult:
    return poll(source, store, Archive(tmp_path / "archive"), UNITS, ())


def flags(account: ImapAccount, folder: str = "INBOX") -> dict[int, set[bytes]]:
    with IMAPClient(account.host, account.port, ssl=False) as client:
        client.login(account.username, account.password)
        client.select_folder(folder, readonly=True)
        return {uid: set(f) for uid, f in client.get_flags(client.search()).items()}


# -- incremental, in order, untouched ---------------------------------------------------


def test_fetches_only_what_is_new_in_uid_order(account: ImapAccount, store: Store) -> None:
    uids = [account.append(message(n), AT + timedelta(minutes=n)) for n in range(3)]
    source = source_for(account, preview_batch=2)
    try:
        first = drain(source, store)
        assert [m.uid for m in first] == [str(uid) for uid in uids]
        assert [m.raw for m in first] == [message(n) for n in range(3)]
        assert {m.source for m in first} == {
            f"imap:{account.username}@{account.host}:{account.port}/INBOX"
        }
        more = [account.append(message(n), AT + timedelta(hours=n)) for n in (3, 4)]
        second = drain(source, store)  # same source: reuses its connection
        assert [m.uid for m in second] == [str(uid) for uid in more]
    finally:
        source.close()
    # `UID 6:*` still answers the newest message (UID 5): nothing must come back.
    again = source_for(account)
    try:
        assert drain(again, store) == []
    finally:
        again.close()


def test_fetch_is_lazy(monkeypatch: pytest.MonkeyPatch, store: Store) -> None:
    monkeypatch.setenv(ENV, "p")
    source = ImapSource(mailbox("127.0.0.1", free_port(), "u"), retries=0)
    messages = source.fetch_new(store)  # no connection yet
    with pytest.raises(TransientError, match="connection refused"):
        next(messages)
    source.close()


def test_internaldate_keeps_the_servers_offset(account: ImapAccount, store: Store) -> None:
    sent = datetime(2024, 1, 31, 23, 59, 0, tzinfo=ICT)
    account.append(message(1), sent)
    # The same instant written in UTC must come back in the server's zone (+07:00).
    account.append(message(2), datetime(2024, 1, 31, 17, 0, tzinfo=UTC))
    source = source_for(account)
    try:
        first, second = drain(source, store)
    finally:
        source.close()
    assert first.received_at == sent
    assert first.received_at.utcoffset() == timedelta(hours=7)
    assert second.received_at.isoformat() == "2024-02-01T00:00:00+07:00"


def test_the_mailbox_is_left_exactly_as_it_was(
    account: ImapAccount, store: Store, tmp_path: Path
) -> None:
    account.append(message(1), AT)
    account.server.append(
        account.username, account.password, "INBOX", message(2), AT, [b"\\Flagged"]
    )
    before = flags(account)
    result = ingest(source_for(account), store, tmp_path)
    assert result.new == 2
    assert flags(account) == before  # no \Seen, nothing moved, nothing deleted
    assert all(b"\\Seen" not in f for f in before.values())


def test_reads_a_non_ascii_folder(account: ImapAccount, store: Store) -> None:
    folder = "Báo cáo Dân vận khéo"
    account.append(message(1), AT, folder=folder)
    source = source_for(account, folders=(folder,))
    try:
        [fetched] = drain(source, store)
    finally:
        source.close()
    assert fetched.source.endswith(f"/{folder}")
    assert fetched.raw == message(1)


def test_since_skips_older_mail(account: ImapAccount, store: Store) -> None:
    account.append(message(1), datetime(2023, 12, 31, 23, 59, tzinfo=ICT))
    account.append(message(2), datetime(2024, 1, 1, 0, 0, tzinfo=ICT))
    account.append(message(3), datetime(2023, 6, 1, 9, 0, tzinfo=ICT))  # appended late
    source = source_for(account, since=date(2024, 1, 1))
    try:
        assert [m.raw for m in drain(source, store)] == [message(2)]
    finally:
        source.close()


# -- exactly once: renumbered folders, copies, dropped connections ----------------------


def test_recreated_folder_is_rescanned_without_duplicates(
    account: ImapAccount, store: Store, tmp_path: Path
) -> None:
    for n in range(3):
        account.append(message(n), AT, folder="Forms")
    first = ingest(source_for(account, folders=("Forms",)), store, tmp_path)
    with IMAPClient(account.host, account.port, ssl=False) as client:
        client.login(account.username, account.password)
        client.delete_folder("Forms")
    for n in (0, 1, 2, 9):  # the same three again, and one new, under a new UIDVALIDITY
        account.append(message(n), AT, folder="Forms")
    second = ingest(source_for(account, folders=("Forms",)), store, tmp_path)
    assert (first.new, second.fetched, second.new) == (3, 4, 1)
    assert store.count("messages") == 4
    assert store.count("locations") == 7


def test_a_message_in_two_folders_counts_once(
    account: ImapAccount, store: Store, tmp_path: Path
) -> None:
    attachment = make_message(
        "daosan@example.vn", "Mẫu 01", [("mau-01.xlsx", mau01_xlsx("Dào San", ENTRIES))]
    )
    account.append(attachment, AT)
    account.append(attachment, AT, folder="Nộp báo cáo")  # a Gmail label: another copy
    source = source_for(account, folders=("INBOX", "Nộp báo cáo"))
    result = ingest(source, store, tmp_path)
    assert (result.fetched, result.new) == (2, 1)
    assert store.count("locations") == 2
    # The second copy was recognised from its header, not downloaded again.
    assert result.downloaded < 2 * len(attachment)


def test_connection_dropped_mid_poll_reconnects_and_loses_nothing(
    tmp_path: Path, own_dovecot: DovecotServer, store: Store
) -> None:
    server = own_dovecot
    for n in range(7):
        server.append("clerk", "secret", "INBOX", message(n), AT)
    source = ImapSource(mailbox(server.host, server.port, "clerk"), preview_batch=2, backoff=0.01)
    result = ingest(RestartAfter(source, 3, server.restart), store, tmp_path)
    assert (result.fetched, result.new) == (7, 7)
    assert store.count("messages") == 7 and store.count("locations") == 7


def test_server_gone_mid_poll_then_back_every_message_exactly_once(
    tmp_path: Path, own_dovecot: DovecotServer, store: Store
) -> None:
    server = own_dovecot
    for n in range(7):
        server.append("clerk", "secret", "INBOX", message(n), AT)
    box = mailbox(server.host, server.port, "clerk")
    source = ImapSource(box, preview_batch=2, retries=2, backoff=0.01)
    with pytest.raises(TransientError, match=r"refused|failed"):
        ingest(RestartAfter(source, 4, server.stop), store, tmp_path)
    assert store.count("messages") == 4
    server.start()
    result = ingest(ImapSource(box, preview_batch=2), store, tmp_path)
    after = flags(ImapAccount(server.host, server.port, "clerk", "secret", server))
    assert (result.fetched, result.new) == (3, 3)
    assert store.count("messages") == 7 and store.count("locations") == 7
    assert len(after) == 7 and all(b"\\Seen" not in f for f in after.values())


class RestartAfter:
    """A source that does something to the server after `n` messages were recorded."""

    def __init__(self, source: ImapSource, n: int, action: Any) -> None:
        self.source, self.n, self.action = source, n, action
        self.acts, self.downloaded, self.planned = False, 0, None

    def fetch_new(self, checkpoint: Store) -> Iterator[FetchedMessage]:
        for i, m in enumerate(self.source.fetch_new(checkpoint), start=1):
            yield m
            if i == self.n:
                self.action()

    def close(self) -> None:
        self.source.close()


@pytest.fixture
def own_dovecot(monkeypatch: pytest.MonkeyPatch) -> Iterator[DovecotServer]:
    """A Dovecot of this test's own with user 'clerk', which it may stop and start."""
    require_dovecot()
    root = Path(tempfile.mkdtemp(prefix="mail-ingest-dovecot-"))  # reachable by Dovecot's users
    server = DovecotServer(root)  # given a root, stop() keeps it: start() works again
    server.add_user("clerk", "secret")
    server.start()
    monkeypatch.setenv(ENV, "secret")
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)


def test_reconnects_between_polls_and_closes_quietly(account: ImapAccount, store: Store) -> None:
    account.append(message(1), AT)
    source = source_for(account)
    assert len(drain(source, store)) == 1
    assert source._client is not None
    source._client.shutdown()  # the network dropped the idle connection between polls
    account.append(message(2), AT)
    assert [m.raw for m in drain(source, store)] == [message(2)]
    assert source._client is not None
    source._client.shutdown()
    source.close()  # logging out of a dead connection is not an error


# -- download only what matters -----------------------------------------------------------

ENTRIES = [
    SampleEntry("HTX Chè Dào San", "tap-the", "kinh-te", "xa", "Trồng chè sạch"),
    SampleEntry("Lò Văn Páo", "ca-nhan", "van-hoa-xa-hoi", "xa", "Giữ gìn bản sắc"),
]


def test_downloads_only_candidates(account: ImapAccount, store: Store, tmp_path: Path) -> None:
    form = [("mau-01.xlsx", mau01_xlsx("Dào San", ENTRIES))]
    mails = {
        "unit, no file": make_message("daosan@example.vn", "Hỏi về thời hạn", []),
        "newsletter": make_message("tin@baomoi.example", "Bản tin tuần", [], "Tin " * 5000),
        "stranger's file": make_message("ai.do@gmail.com", "Gửi tài liệu", form),
        "unit named": make_message("lo.pao@gmail.com", "bao cao dan van kheo - xa Dao San", []),
    }
    for raw in mails.values():
        account.append(raw, AT)
    result = ingest(source_for(account, wanted=wanted(UNITS)), store, tmp_path)
    rows = {m.subject: m for m in store.messages()}
    assert result.new == 4
    assert rows["Hỏi về thời hạn"].outcome == "submission"
    assert rows["Gửi tài liệu"].outcome == "unknown-sender"
    named = rows["bao cao dan van kheo - xa Dao San"]  # recognised by name (rules.matching)
    assert (named.outcome, named.unit_id) == ("submission", "xa-dao-san")
    newsletter = next(m for s, m in rows.items() if s and s.startswith("Bản tin"))
    assert newsletter.outcome == "ignored"
    downloaded_whole = sum(len(raw) for k, raw in mails.items() if k != "newsletter")
    assert downloaded_whole < result.downloaded < downloaded_whole + 1500


def test_a_message_with_a_file_is_downloaded_on_its_message_id_alone(
    account: ImapAccount, store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Its fields are decoded once, in the sandbox with its body; the triage decodes the
    fields of the messages it judges by sender or subject, and of those kept as a header."""
    from mail_ingest import mailbox

    form = [("mau-01.xlsx", mau01_xlsx("Dào San", ENTRIES))]
    account.append(make_message("ai.do@gmail.com", "Gửi tài liệu", form), AT)
    account.append(make_message("tin@baomoi.example", "Bản tin tuần", []), AT)
    parsed: list[bytes] = []  # headers whose fields were decoded
    read_for_id: list[bytes] = []  # headers read for their Message-ID alone
    real, real_id = mailbox.parse_header, mailbox.header_message_id

    def counted(header: bytes) -> Mail:
        parsed.append(header)
        return real(header)

    def counted_id(header: bytes) -> str | None:
        read_for_id.append(header)
        return real_id(header)

    monkeypatch.setattr(mailbox, "parse_header", counted)
    monkeypatch.setattr(mailbox, "header_message_id", counted_id)
    result = ingest(source_for(account, wanted=wanted(UNITS)), store, tmp_path)
    assert result.new == 2
    # Each header read once in the triage: the form's for its id, the newsletter's whole.
    assert [b"ai.do@gmail.com" in header for header in read_for_id] == [True]
    assert [b"tin@baomoi.example" in header for header in parsed] == [True]


def test_our_own_sent_mail_is_not_downloaded_back(
    account: ImapAccount, store: Store, tmp_path: Path
) -> None:
    """Gmail's All Mail holds the reports we sent, .xlsx attached: known by Message-ID."""
    sender = "Ban Dân vận <bandanvan@example.vn>"
    report = Outgoing(
        "report:2024-01-25", ("lanhdao@example.vn",), "Báo cáo tình hình", "Kính gửi",
        attachments=(Attachment("bao-cao.xlsx", XLSX, mau01_xlsx("Dào San", ENTRIES) * 20),),
    )  # fmt: skip
    enqueue(store, report, sender, AT)
    [item] = store.outbox()
    account.append(item.raw, AT)
    result = ingest(
        source_for(account, wanted=wanted(UNITS, store.own_message_ids())), store, tmp_path
    )
    [row] = store.messages()
    assert (row.outcome, row.subject) == ("ignored", "Báo cáo tình hình")
    assert result.downloaded < len(item.raw) / 4


def test_too_large_is_recorded_not_downloaded(
    account: ImapAccount, store: Store, tmp_path: Path
) -> None:
    big = make_message(
        "daosan@example.vn", "Mẫu 01", [("mau-01.xlsx", mau01_xlsx("Dào San", ENTRIES))]
    )
    account.append(big, AT)
    result = ingest(source_for(account, max_message_bytes=len(big) - 1), store, tmp_path)
    [row] = store.messages()
    assert (row.outcome, row.unit_id) == ("too-large", "xa-dao-san")
    assert row.error is not None and "max_message_bytes" in row.error
    assert result.downloaded < len(big) / 2


# -- after processing ---------------------------------------------------------------------


def test_keyword_marks_only_submissions_and_never_reads(
    account: ImapAccount, store: Store, tmp_path: Path
) -> None:
    ours = account.append(message(1), AT)
    stranger = account.append(message(2, sender="ai.do@gmail.com"), AT)
    ingest(source_for(account, after="keyword"), store, tmp_path)
    now = flags(account)
    assert b"$MailIngestDone" in now[ours]
    assert now[stranger] == set()
    assert b"\\Seen" not in now[ours]
    assert store.pending_actions(f"imap:{account.username}@{account.host}:{account.port}/INBOX",
                                 next(iter(store_uidvalidities(store)))) == []  # fmt: skip


def store_uidvalidities(store: Store) -> set[int]:
    return {row[0] for row in store._db.execute("SELECT uidvalidity FROM locations")}


def test_move_and_mark_seen(account: ImapAccount, store: Store, tmp_path: Path) -> None:
    account.append(message(1), AT)
    stranger = account.append(message(2, sender="ai.do@gmail.com"), AT)
    with IMAPClient(account.host, account.port, ssl=False) as client:
        client.login(account.username, account.password)
        client.create_folder("Đã xử lý")
    settings = {"after": "move", "after_folder": "Đã xử lý", "mark_seen": True}
    result = ingest(source_for(account, **settings), store, tmp_path)
    assert result.new == 2
    assert list(flags(account)) == [stranger]  # the stranger's mail stays for the staff
    [moved] = flags(account, "Đã xử lý").values()
    assert b"\\Seen" in moved
    # The moved copy is not a new message when that folder is read too.
    again = ingest(source_for(account, folders=("INBOX", "Đã xử lý")), store, tmp_path)
    assert (again.fetched, again.new) == (1, 0)


def test_action_interrupted_by_a_crash_is_done_next_poll(
    account: ImapAccount, store: Store
) -> None:
    uid = account.append(message(1), AT)
    source = source_for(account, after="copy", after_folder="Lưu")
    with IMAPClient(account.host, account.port, ssl=False) as client:
        client.login(account.username, account.password)
        client.create_folder("Lưu")
    for m in source.fetch_new(store):  # recorded, then the process dies before acting
        record = process(m, sha256(m.raw), UNITS, ())
        store.record(record, m.source, m.uidvalidity, m.uid, action_pending=True)
        break
    source.close()
    assert flags(account, "Lưu") == {}
    assert drain(source_for(account, after="copy", after_folder="Lưu"), store) == []
    assert len(flags(account, "Lưu")) == 1
    assert uid in flags(account)  # copied, never moved


# -- errors a board will meet ---------------------------------------------------------------


def test_wrong_password_is_an_auth_error_without_the_password(
    account: ImapAccount, store: Store, caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    caplog.set_level(logging.DEBUG)
    wrong = "wrong-" + account.password
    monkeypatch.setenv(ENV, wrong)
    source = source_for(account)
    with pytest.raises(AuthError) as caught:
        list(source.fetch_new(store))
    source.close()
    text = str(caught.value)
    assert account.username in text
    assert "app password" in text and "2-Step Verification" in text
    # The server's words, not a bytes repr (a generated user name may end in "b" before
    # its closing quote: only a b that starts a word opens a repr).
    assert not re.search(r"(?<!\w)b['\"]", text), text
    assert "AUTHENTICATIONFAILED" in text
    assert wrong not in text and wrong not in repr(source) and wrong not in caplog.text


def test_refused_oauth2_token_says_what_to_check(
    account: ImapAccount, store: Store, caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv("TEST_TOKEN", "ya29.expired-token")
    box = replace(
        mailbox(account.host, account.port, account.username), password_env="",
        oauth2_token_env="TEST_TOKEN",
    )  # fmt: skip
    source = ImapSource(box, retries=0)
    with pytest.raises(AuthError, match="OAuth2 access token") as caught:
        list(source.fetch_new(store))
    source.close()
    assert "ya29" not in str(caught.value) and "ya29" not in caplog.text


def test_the_protocol_log_has_the_commands_never_the_mail(
    account: ImapAccount, store: Store, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """imapclient turns all of imaplib's tracing on: the repr of every message and of every
    answer is formatted before its logger is asked whether it wants it (four fifths of the
    FETCH's CPU time, and a second copy of each message in memory). The service traces only
    the protocol's lines, and only when that logger is on."""
    private = "Danh sach ca nhan de nghi khen thuong"
    form = [("mau-01.xlsx", mau01_xlsx("Dào San", ENTRIES))]
    traced: list[str] = []  # what imaplib formatted for its logger

    def tracing(box: MailboxConfig, context: ssl.SSLContext | None) -> IMAPClient:
        client = tls_client(box, context)
        logged = client._imap._mesg
        client._imap._mesg = lambda line, *rest: (traced.append(line), logged(line, *rest))
        return client

    def poll_one(n: int) -> None:
        account.append(make_message("daosan@example.vn", f"Biểu {n}", form, private), AT)
        box = mailbox(account.host, account.port, account.username)
        ingest(ImapSource(box, backoff=0.01, client_factory=tracing), store, tmp_path)

    poll_one(1)
    assert traced == []
    caplog.set_level(logging.DEBUG)
    poll_one(2)
    assert any("FETCH" in line for line in traced)  # -vv still shows the conversation
    assert not any(private in line or "UEsDB" in line for line in traced)  # not a mail's text
    assert private not in caplog.text and "UEsDB" not in caplog.text  # nor its .xlsx
    assert sorted(m.subject for m in store.messages()) == ["Biểu 1", "Biểu 2"]


def test_missing_folder_is_a_config_error(account: ImapAccount, store: Store) -> None:
    source = source_for(account, folders=("Hop thu den",))
    with pytest.raises(ConfigError, match=r"mailbox\.folders: 'Hop thu den' does not exist"):
        list(source.fetch_new(store))
    source.close()


def test_unknown_special_use_folder_is_a_config_error(account: ImapAccount, store: Store) -> None:
    source = source_for(account, folders=("\\All",))
    with pytest.raises(ConfigError, match=r"no folder flagged '\\\\All'"):
        list(source.fetch_new(store))
    source.close()


def test_server_down_is_transient_after_retries(
    monkeypatch: pytest.MonkeyPatch, store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv(ENV, "p")
    source = ImapSource(mailbox("127.0.0.1", free_port(), "u"), retries=2, backoff=0.01)
    with pytest.raises(TransientError, match="connection refused"):
        list(source.fetch_new(store))
    assert caplog.text.count("reconnecting in") == 2


def test_silent_server_times_out_as_transient(
    monkeypatch: pytest.MonkeyPatch, store: Store
) -> None:
    monkeypatch.setenv(ENV, "p")
    with socket.socket() as listener:  # accepts TCP connections but never greets
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        box = mailbox(
            "127.0.0.1", listener.getsockname()[1], "u", connect_timeout=0.3, read_timeout=0.3
        )
        source = ImapSource(box, retries=0)
        with pytest.raises(TransientError, match="timed out"):
            list(source.fetch_new(store))
        source.close()


@pytest.fixture(scope="module")
def tls_dovecot(certificate: tuple[Path, Path]) -> Iterator[DovecotServer]:
    """A second Dovecot with a self-signed certificate for 127.0.0.1 (IMAPS and STARTTLS)."""
    require_dovecot()
    cert, key = certificate
    server = DovecotServer(tls_cert=cert, tls_key=key)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.mark.parametrize("security", ["ssl", "starttls"])
def test_tls_verifies_the_certificate(
    tls_dovecot: DovecotServer, security: str, store: Store, monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    user = f"tls-{security}"
    tls_dovecot.add_user(user, "tls-password")
    monkeypatch.setenv(ENV, "tls-password")
    tls_dovecot.append(user, "tls-password", "INBOX", message(1), datetime.now(ICT))
    port = tls_dovecot.ssl_port if security == "ssl" else tls_dovecot.port
    box = replace(mailbox("127.0.0.1", port, user), security=security)

    trusting = ImapSource(replace(box, ca_file=tls_dovecot.tls_cert))
    try:
        [fetched] = drain(trusting, store)
    finally:
        trusting.close()
    assert fetched.raw == message(1)

    # Not trusted cannot heal by waiting: no reconnecting with backoff, a clear error at once.
    default = ImapSource(box, retries=2, backoff=0.01)
    with pytest.raises(TrustError, match=r"certificate not trusted.*mailbox\.ca_file"):
        list(default.fetch_new(store))
    default.close()
    assert "reconnecting" not in caplog.text


def test_unreadable_ca_file_is_a_config_error(
    tmp_path: Path, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ENV, "p")
    box = replace(mailbox("127.0.0.1", 993, "u"), security="ssl", ca_file=tmp_path / "none.pem")
    with pytest.raises(ConfigError, match=r"mailbox\.ca_file"):
        list(ImapSource(box).fetch_new(store))


# -- a mailbox with years in it ---------------------------------------------------------


def a_boards_year(n: int) -> list[bytes]:
    """Mostly unrelated mail, one message in ten from a unit."""
    return [
        message(i) if i % 10 == 0 else message(i, sender=f"tin{i}@baomoi.example") + b"Tin " * 700
        for i in range(n)
    ]


def test_memory_stays_flat_over_2000_messages(
    account: ImapAccount, store: Store, tmp_path: Path
) -> None:
    """What the poll keeps does not grow with the mailbox, and neither do its batches.

    Retained memory is measured after a full collection: the email package makes a class
    per header it parses, garbage until the cyclic collector runs, so a peak alone says
    more about the collector's timing than about what the poll holds on to. What is held
    at one instant depends on where the poll stands in its preview and body batches (and
    on whether reading ahead has started the next one), so two windows of several whole
    batches are compared, never two single instants.
    """
    account.fill(a_boards_year(2000), AT)
    kept: dict[int, int] = {}
    peaks: dict[int, int] = {}  # the highest point since the previous measure

    def measure(done: int, planned: int | None) -> None:
        if done >= 400 and done % 25 == 0:
            peaks[done] = tracemalloc.get_traced_memory()[1]
            gc.collect()
            kept[done] = tracemalloc.get_traced_memory()[0]
            tracemalloc.reset_peak()

    source = source_for(account, wanted=wanted(UNITS))
    tracemalloc.start()
    try:
        result = poll(source, store, Archive(tmp_path / "archive"), UNITS, (), measure)
    finally:
        tracemalloc.stop()
    assert (result.new, result.outcomes["ignored"]) == (2000, 1800)

    def windows(figures: dict[int, int]) -> tuple[list[int], list[int]]:
        """Messages 400-1199 and 1200-2000: four preview batches of 200 each."""
        return (
            [v for done, v in figures.items() if done < 1200],
            [v for done, v in figures.items() if done >= 1200],
        )

    early, late = windows(kept)
    # A leak of more than ~160 bytes a message lifts the later window's median by 128 KiB;
    # one that keeps every message (3 KiB and more each) lifts its highest point too.
    assert median(late) < median(early) + 128 * 1024, kept
    assert max(late) < max(early) + 512 * 1024, kept
    # Whatever the mailbox size, one preview batch and one body batch at a time: the
    # later batches need no more than the earlier ones.
    early, late = windows(peaks)
    assert max(late) < max(early) * 1.2 + 256 * 1024, peaks


class Introspection(http.server.BaseHTTPRequestHandler):
    """An OAuth2 token introspection endpoint (RFC 7662) that knows one token."""

    token, username = "ya29.valid-token", "clerk"

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", 0))).decode()
        token = urllib.parse.parse_qs(body).get("token", [""])[0]
        valid = token == self.token
        answer = {"active": valid, "username": self.username} if valid else {"active": False}
        data = json.dumps(answer).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def oauth2_dovecot() -> Iterator[DovecotServer]:
    require_dovecot()
    web = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Introspection)
    threading.Thread(target=web.serve_forever, daemon=True).start()
    server = DovecotServer(oauth2_introspection=f"http://127.0.0.1:{web.server_port}/introspect")
    server.add_user("clerk", "password-unused")
    server.start()
    try:
        yield server
    finally:
        server.stop()
        web.shutdown()


def test_xoauth2_with_a_token_from_a_helper_command(
    oauth2_dovecot: DovecotServer, store: Store, tmp_path: Path
) -> None:
    server = oauth2_dovecot
    server.append("clerk", "password-unused", "INBOX", message(1), AT)
    helper = tmp_path / "token-helper"
    helper.write_text(f"#!/bin/sh\necho {Introspection.token}\n")
    helper.chmod(0o755)
    box = replace(
        mailbox(server.host, server.port, "clerk"), password_env="",
        oauth2_token_command=str(helper),
    )  # fmt: skip
    source = ImapSource(box)
    try:
        [fetched] = drain(source, store)
    finally:
        source.close()
    assert fetched.raw == message(1)

    helper.write_text("#!/bin/sh\necho ya29.revoked\n")
    refused = ImapSource(box, retries=0)
    with pytest.raises(AuthError, match="OAuth2 access token is invalid or expired"):
        list(refused.fetch_new(store))
    refused.close()
