"""ImapSource against a small fake server: the branches only a misbehaving server reaches.

The Dovecot suite (test_imap.py) shows the source works with a real server; a real
server cannot be made to renumber a folder between SEARCH and FETCH, omit UIDVALIDITY,
or drop the connection in the middle of one FETCH on cue. The fake keeps only what the
source uses, and every fault is a scripted event on it. Messages go through the real
pipeline.process into a real Store, so "nothing lost, nothing doubled" is read from the
same database the service keeps.
"""

from __future__ import annotations

import ssl
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from imapclient.exceptions import IMAPClientAbortError, IMAPClientError

from mail_ingest.archive import sha256
from mail_ingest.config import MailboxConfig
from mail_ingest.errors import TransientError
from mail_ingest.imap import ImapSource
from mail_ingest.pipeline import process
from mail_ingest.store import Store
from rules.units import Unit, UnitDirectory

ICT = timezone(timedelta(hours=7))
AT = datetime(2024, 1, 20, 9, 0, tzinfo=ICT)
ENV = "TEST_FAKE_IMAP_SECRET"
UNITS = UnitDirectory([Unit("xa-dao-san", "Đảng ủy xã Dào San", "xa", ("daosan@example.vn",))])


def message(n: int) -> bytes:
    return (
        f"From: daosan@example.vn\r\nTo: bandanvan@example.vn\r\nMessage-ID: <m{n}@example.vn>\r\n"
        f"Subject: Bieu so {n}\r\nDate: Sat, 20 Jan 2024 08:00:00 +0700\r\n\r\n"
        f"Kinh gui Ban Dan van, bieu so {n}.\r\n"
    ).encode()


@dataclass
class Folder:
    uidvalidity: int
    messages: dict[int, bytes] = field(default_factory=dict)  # uid -> raw
    next_uid: int = 1

    def append(self, raw: bytes) -> int:
        uid, self.next_uid = self.next_uid, self.next_uid + 1
        self.messages[uid] = raw
        return uid


# A fault: called with the command's name and arguments before the fake answers it; it
# may raise (a dropped connection), change the server (an expunge), or return an answer
# to use instead of the real one.
Fault = Callable[[str, tuple[Any, ...]], Any]


class FakeServer:
    def __init__(self, capabilities: tuple[str, ...] = ("IMAP4REV1", "MOVE", "IDLE")) -> None:
        self.folders = {"INBOX": Folder(uidvalidity=1000)}
        self.capabilities = set(capabilities)
        self.faults: list[Fault] = []
        self.log: list[tuple[str, Any]] = []  # every command that changes the mailbox
        self.clients: list[FakeClient] = []
        self.send_uidvalidity = True

    def factory(self, box: MailboxConfig, context: ssl.SSLContext | None) -> FakeClient:
        client = FakeClient(self)
        self.clients.append(client)
        return client

    def renumber(self, folder: str = "INBOX") -> None:
        """What a server does after a rebuild: new UIDVALIDITY, every message a new UID."""
        old = self.folders[folder]
        new = Folder(uidvalidity=old.uidvalidity + 1, next_uid=101)
        for uid in sorted(old.messages):
            new.append(old.messages[uid])
        self.folders[folder] = new

    def append(self, raw: bytes, folder: str = "INBOX") -> int:
        return self.folders[folder].append(raw)


class FakeClient:
    """The part of imapclient.IMAPClient that ImapSource uses."""

    def __init__(self, server: FakeServer) -> None:
        self.server = server
        self.normalise_times = True
        self.selected: str | None = None
        self.closed = False

    def _command(self, name: str, *args: Any) -> Any:
        if self.closed:
            raise IMAPClientAbortError("socket error: EOF")
        for fault in list(self.server.faults):
            answer = fault(name, args)
            if answer is not None:
                return answer
        return None

    def has_capability(self, name: str) -> bool:
        return name in self.server.capabilities

    def login(self, username: str, password: str) -> None:
        self._command("login")

    def noop(self) -> tuple[bytes, list[Any]]:
        self._command("noop")
        return b"NOOP completed", []

    def logout(self) -> None:
        self.closed = True

    def shutdown(self) -> None:
        self.closed = True

    def select_folder(self, folder: str, readonly: bool = False) -> dict[bytes, Any]:
        self._command("select", folder)
        if folder not in self.server.folders:
            raise IMAPClientError(f"select failed: Mailbox doesn't exist: {folder}")
        self.selected = folder
        box = self.server.folders[folder]
        info: dict[bytes, Any] = {b"EXISTS": len(box.messages)}
        if self.server.send_uidvalidity:
            info[b"UIDVALIDITY"] = box.uidvalidity
        return info

    def folder_exists(self, folder: str) -> bool:
        return folder in self.server.folders

    def list_folders(self) -> list[tuple[Any, bytes, str]]:
        return [((), b"/", name) for name in self.server.folders]

    def _box(self) -> Folder:
        assert self.selected is not None, "no folder selected"
        return self.server.folders[self.selected]

    def search(self, criteria: list[Any]) -> list[int]:
        answer = self._command("search", criteria)
        if answer is not None:
            return list(answer)
        assert criteria[0] == "UID", criteria
        uids = sorted(self._box().messages)
        spec = str(criteria[1])
        if spec.endswith(":*"):
            low = int(spec[:-2])
            # `n:*` matches the newest message even when its UID is below n (RFC 3501).
            return [u for u in uids if u >= low] or uids[-1:]
        wanted = {int(u) for u in spec.split(",")}
        return [u for u in uids if u in wanted]

    def fetch(self, uids: list[int], items: list[bytes]) -> dict[int, dict[bytes, Any]]:
        answer = self._command("fetch", uids, items)
        if answer is not None:
            return dict(answer)
        box = self._box()
        out: dict[int, dict[bytes, Any]] = {}
        for uid in uids:
            raw = box.messages.get(uid)
            if raw is None:
                continue  # expunged: a server says nothing about it
            item: dict[bytes, Any] = {b"SEQ": uid}
            for name in items:
                if name == b"RFC822.SIZE":
                    item[name] = len(raw)
                elif name == b"INTERNALDATE":
                    item[name] = AT + timedelta(minutes=uid)
                elif name == b"BODY.PEEK[HEADER]":
                    item[b"BODY[HEADER]"] = raw.split(b"\r\n\r\n", 1)[0] + b"\r\n\r\n"
                elif name == b"BODY.PEEK[]":
                    item[b"BODY[]"] = raw
            out[uid] = item
        return out

    def add_flags(self, uids: list[int], flags: list[bytes], silent: bool = False) -> None:
        self._command("store", uids)
        self.server.log.append(("add_flags", (list(uids), list(flags))))

    def copy(self, uids: list[int], folder: str) -> None:
        self._command("copy", uids)
        self.server.log.append(("copy", (list(uids), folder)))

    def move(self, uids: list[int], folder: str) -> None:
        self._command("move", uids)
        self.server.log.append(("move", (list(uids), folder)))


def once(command: str, action: Callable[[tuple[Any, ...]], Any], *, skip: int = 0) -> Fault:
    """A fault that acts on the (skip+1)-th `command` only."""
    seen = 0

    def fault(name: str, args: tuple[Any, ...]) -> Any:
        nonlocal seen
        if name != command:
            return None
        seen += 1
        return action(args) if seen == skip + 1 else None

    return fault


def body_fetch(args: tuple[Any, ...]) -> bool:
    return b"BODY.PEEK[]" in args[1]


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> FakeServer:
    monkeypatch.setenv(ENV, "secret")
    return FakeServer()


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store(tmp_path / "store.sqlite3") as s:
        yield s


def source_for(server: FakeServer, **settings: Any) -> ImapSource:
    options = {k: settings.pop(k) for k in ("preview_batch", "body_batch_bytes", "retries")
               if k in settings}  # fmt: skip
    box = MailboxConfig(
        kind="imap", host="imap.example.vn", username="bdv", password_env=ENV, **settings
    )
    return ImapSource(box, backoff=0.001, timezone=ICT, client_factory=server.factory, **options)


def drain(source: ImapSource, store: Store) -> list[str]:
    """What the pipeline does with each message; the Message-IDs the source yielded."""
    seen = []
    try:
        for m in source.fetch_new(store):
            record = process(m, sha256(m.raw), UNITS, ())
            pending = source.acts and record.outcome == "submission"
            store.record(record, m.source, m.uidvalidity, m.uid, action_pending=pending)
            seen.append(record.message_id or "")
    finally:
        source.close()
    return seen


def recorded(store: Store) -> list[str]:
    """Message-IDs of the messages recorded, each once however many positions it has."""
    return sorted(row.message_id or "" for row in store.messages())


def ids(*numbers: int) -> list[str]:
    return [f"<m{n}@example.vn>" for n in numbers]


# -- the tests --------------------------------------------------------------------------


def test_the_fake_behaves_like_the_dovecot_suite_expects(server: FakeServer, store: Store) -> None:
    for n in range(5):
        server.append(message(n))
    assert drain(source_for(server, preview_batch=2), store) == ids(0, 1, 2, 3, 4)
    assert drain(source_for(server), store) == []  # `UID 6:*` answers UID 5: not again
    server.append(message(5))
    assert drain(source_for(server), store) == ids(5)
    assert recorded(store) == sorted(ids(0, 1, 2, 3, 4, 5))
    assert server.log == []  # keep: nothing in the mailbox changed


def test_a_message_expunged_between_search_and_fetch_is_passed_over(
    server: FakeServer, store: Store
) -> None:
    for n in range(4):
        server.append(message(n))

    def expunge_2(args: tuple[Any, ...]) -> None:
        del server.folders["INBOX"].messages[2]  # another client deleted it meanwhile

    server.faults.append(once("fetch", expunge_2))
    assert drain(source_for(server), store) == ids(0, 2, 3)
    assert recorded(store) == sorted(ids(0, 2, 3))


def test_a_message_expunged_between_preview_and_download_is_passed_over(
    server: FakeServer, store: Store
) -> None:
    for n in range(4):
        server.append(message(n))

    def expunge_3(name: str, args: tuple[Any, ...]) -> None:
        if name == "fetch" and body_fetch(args):
            server.folders["INBOX"].messages.pop(3, None)

    server.faults.append(expunge_3)
    assert drain(source_for(server, body_batch_bytes=1), store) == ids(0, 1, 3)


@pytest.mark.parametrize("stage", ["header", "body"])
def test_a_uid_fetch_answers_nothing_for_while_it_is_still_there_is_not_lost(
    server: FakeServer, store: Store, stage: str
) -> None:
    """FETCH may omit a message that was renumbered or is being rewritten; skipping it
    would move the checkpoint past its UID for good, so it is retried, not passed over."""
    for n in range(4):
        server.append(message(n))
    answered = 0

    def omit_uid_2(name: str, args: tuple[Any, ...]) -> Any:
        nonlocal answered
        if name != "fetch" or 2 not in args[0] or body_fetch(args) != (stage == "body"):
            return None
        answered += 1
        if answered > 1:
            return None
        client = server.clients[-1]
        server.faults.remove(omit_uid_2)
        full = client.fetch(args[0], args[1])
        server.faults.append(omit_uid_2)
        full.pop(2)
        return full

    server.faults.append(omit_uid_2)
    assert drain(source_for(server, body_batch_bytes=1), store) == ids(0, 1, 2, 3)
    assert recorded(store) == sorted(ids(0, 1, 2, 3))
    assert drain(source_for(server), store) == []


def test_no_uidvalidity_records_nothing_and_says_which_folder(
    server: FakeServer, store: Store
) -> None:
    for n in range(3):
        server.append(message(n))
    server.send_uidvalidity = False
    with pytest.raises(TransientError, match="no UIDVALIDITY for folder 'INBOX'"):
        drain(source_for(server, retries=1), store)
    assert recorded(store) == [] and server.log == []
    server.send_uidvalidity = True  # the server mended: everything comes, once
    assert drain(source_for(server), store) == ids(0, 1, 2)


def test_uidvalidity_changing_between_polls_neither_doubles_nor_loses(
    server: FakeServer, store: Store
) -> None:
    for n in range(3):
        server.append(message(n))
    assert drain(source_for(server), store) == ids(0, 1, 2)
    server.renumber()
    server.append(message(3))
    source = source_for(server)
    assert drain(source, store) == ids(0, 1, 2, 3)  # positions re-learnt ...
    assert recorded(store) == sorted(ids(0, 1, 2, 3))  # ... as the same messages
    assert source.downloaded < 2 * len(message(3)) + 3 * len(message(0))  # headers only
    assert drain(source_for(server), store) == []


def test_uidvalidity_changing_during_a_poll_of_two_folders_resumes(
    server: FakeServer, store: Store
) -> None:
    server.folders["Lưu"] = Folder(uidvalidity=7)
    for n in range(2):
        server.append(message(n))
    server.append(message(10), folder="Lưu")

    def renumber_inbox(args: tuple[Any, ...]) -> None:
        server.renumber("INBOX")

    # The second SELECT of INBOX (after SEARCH of both folders) finds it renumbered.
    server.faults.append(once("select", renumber_inbox, skip=1))
    got = drain(source_for(server, folders=("INBOX", "Lưu")), store)
    assert sorted(got) == sorted(ids(0, 1, 10))
    assert recorded(store) == sorted(ids(0, 1, 10))


def test_move_without_the_move_capability_copies_and_never_deletes(
    server: FakeServer, store: Store
) -> None:
    server.capabilities.discard("MOVE")
    server.folders["Đã xử lý"] = Folder(uidvalidity=5)
    for n in range(2):
        server.append(message(n))
    settings = {"after": "move", "after_folder": "Đã xử lý"}
    assert drain(source_for(server, **settings), store) == ids(0, 1)
    assert drain(source_for(server, **settings), store) == []  # pending actions applied here
    assert [entry[0] for entry in server.log] == ["copy"]
    assert server.log[0][1] == ([1, 2], "Đã xử lý")
    assert set(server.folders["INBOX"].messages) == {1, 2}  # nothing left the inbox
    assert store.pending_actions(source_for(server).source_id("INBOX"), 1000) == []


@pytest.mark.parametrize(
    "error", [IMAPClientAbortError("socket error: EOF"), ConnectionResetError(104, "reset")]
)
@pytest.mark.parametrize("stage", ["header", "body"])
def test_a_connection_dropped_mid_fetch_reconnects_and_continues(
    server: FakeServer, store: Store, error: BaseException, stage: str
) -> None:
    for n in range(6):
        server.append(message(n))

    fetches = 0

    def drop(name: str, args: tuple[Any, ...]) -> None:
        nonlocal fetches
        if name == "fetch" and body_fetch(args) == (stage == "body"):
            fetches += 1
            if fetches == 2:  # the second batch's previews, or the second body
                server.clients[-1].closed = True
                raise error

    server.faults.append(drop)
    got = drain(source_for(server, preview_batch=2, body_batch_bytes=1), store)
    assert got == ids(0, 1, 2, 3, 4, 5)  # in order, each once
    assert recorded(store) == sorted(got)
    assert len(server.clients) == 2  # one reconnection


def test_a_connection_that_keeps_dropping_fails_the_poll_and_loses_nothing(
    server: FakeServer, store: Store
) -> None:
    for n in range(3):
        server.append(message(n))
    drops = 0

    def drop_after_first(name: str, args: tuple[Any, ...]) -> None:
        nonlocal drops
        if name == "fetch" and body_fetch(args) and 1 not in args[0]:
            drops += 1
            raise ConnectionResetError(104, "reset")

    server.faults.append(drop_after_first)
    with pytest.raises(TransientError, match="reset"):
        drain(source_for(server, body_batch_bytes=1, retries=2), store)
    assert recorded(store) == ids(0) and drops == 3
    server.faults.clear()
    assert drain(source_for(server), store) == ids(1, 2)
