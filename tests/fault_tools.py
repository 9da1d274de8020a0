"""Test-only tools for faults on purpose (tests/test_faults.py): a deployment on the test
Dovecot, a TCP proxy that cuts a connection mid-stream, and a comparable picture of a
store and its archive.

The proxy is real TCP between real clients and servers: the service sees a peer that
vanished in the middle of a FETCH or a DATA exactly as it would on a bad line.
"""

from __future__ import annotations

import os
import socket
import sqlite3
import threading
from collections.abc import Sequence
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mail_ingest.samples import SampleEntry, mau01_xlsx, mau02_docx

from conftest import make_message

UNITS = [
    ("xa-dao-san", "Đảng ủy xã Dào San", "xa", "daosan@example.vn"),
    ("xa-muong-so", "Đảng ủy xã Mường So", "xa", "muongso@example.vn"),
    ("tt-phong-tho", "Đảng ủy thị trấn Phong Thổ", "xa", "phongtho@example.vn"),
    ("cq-vp", "Chi bộ Văn phòng HĐND - UBND huyện", "co-quan", "vanphong@example.vn"),
]
ENTRIES = [
    SampleEntry("Tổ dân phố số 3", "tap-the", "van-hoa-xa-hoi", "xa", "Tuyến phố văn minh"),
    SampleEntry("Hội Cựu chiến binh", "tap-the", "quoc-phong-an-ninh", "xa", "Camera an ninh"),
    SampleEntry("Nguyễn Văn Hùng", "ca-nhan", "kinh-te", "xa", "Chợ sạch"),
    SampleEntry("Lò Thị Hoa", "ca-nhan", "van-hoa-xa-hoi", "xa", "Câu lạc bộ dân ca Thái"),
]


def config_text(
    storage: Path,
    mailbox: str,
    smtp: str = "",
    extra: str = "",
) -> str:
    """A deployment of the four UNITS with one requirement (mẫu 01 and 02, reminders)."""
    units = "".join(
        f'[[units]]\nid = "{i}"\nname = "{n}"\ngroup = "{g}"\nemails = ["{e}"]\n'
        for i, n, g, e in UNITS
    )
    return f"""\
timezone = "Asia/Ho_Chi_Minh"
[mailbox]
{mailbox}
[storage]
path = "{storage}"
{smtp}
{extra}
{units}
[[requirements]]
id = "dvk-2024"
title = "Đăng ký thi đua “Dân vận khéo” năm 2024"
forms = ["mau-01", "mau-02"]
before = "2024-02-01"
reminders = [-3, 1]
[requirements.rules]
min_collectives = {{ xa = 2, default = 1 }}
min_individuals = {{ xa = 2, default = 1 }}
"""


def imap_mailbox(account: Any, port: int | None = None) -> str:
    return (
        f'kind = "imap"\nhost = "{account.host}"\nport = {port or account.port}\n'
        'security = "none"\n'
        f'username = "{account.username}"\npassword_env = "TEST_IMAP_PASSWORD"\n'
        "connect_timeout = 5\nread_timeout = 5\n"
    )


def mailbox_messages(count: int) -> list[bytes]:
    """`count` distinct messages: forms from units, a stranger's letter, a newsletter."""
    raws = []
    for i in range(count):
        _, name, _, address = UNITS[i % len(UNITS)]
        if i % 5 == 4:
            raws.append(make_message("tin@baomoi.example", f"Bản tin số {i}", body="Tin. " * 200))
            continue
        files = [(f"Mau 01 ({i}).xlsx", mau01_xlsx(name, ENTRIES))]
        if i % 2 == 0:
            files.append((f"Mau 02 ({i}).docx", mau02_docx(name, [e.model for e in ENTRIES])))
        raws.append(make_message(address, f"Gửi biểu đăng ký Dân vận khéo ({i})", files))
    return raws


@dataclass(frozen=True)
class Picture:
    """What a store and its archive hold, comparable between two deployments."""

    messages: tuple[tuple[Any, ...], ...]  # one row per message, sorted: a double shows
    locations: tuple[tuple[Any, ...], ...]  # (folder, uid, sha256)
    files: tuple[tuple[Any, ...], ...]  # (sha256, filename, form, entries)
    outbox: tuple[str, ...]  # keys
    archive: tuple[str, ...]  # file names under archive/
    processing: int  # positions begun and never ended
    leftovers: tuple[str, ...]  # temporary files left in the archive


def picture(storage: Path) -> Picture:
    db = sqlite3.connect(f"file:{storage / 'mail-ingest.sqlite3'}?mode=ro", uri=True)
    try:
        messages = db.execute(
            "SELECT sha256, message_id, outcome, unit_id, error IS NOT NULL, headers_only"
            " FROM messages ORDER BY sha256"
        ).fetchall()
        locations = db.execute(
            "SELECT l.source, l.uid, m.sha256 FROM locations l JOIN messages m"
            " ON m.id = l.message ORDER BY l.source, CAST(l.uid AS INTEGER)"
        ).fetchall()
        files = db.execute(
            "SELECT m.sha256, a.filename, a.form, (SELECT count(*) FROM entries e"
            " WHERE e.attachment = a.id) FROM attachments a JOIN messages m ON m.id = a.message"
            " ORDER BY m.sha256, a.position"
        ).fetchall()
        outbox = [k for (k,) in db.execute("SELECT key FROM outbox ORDER BY key")]
        processing = db.execute("SELECT count(*) FROM processing").fetchone()[0]
    finally:
        db.close()
    archive = storage / "archive"
    names = sorted(p.name for p in archive.rglob("*") if p.is_file()) if archive.exists() else []
    return Picture(
        messages=tuple(tuple(r) for r in messages),
        # The source names the server's port: a proxy in between is the same folder.
        locations=tuple((s.rsplit("/", 1)[-1], u, h) for s, u, h in locations),
        files=tuple(tuple(r) for r in files),
        outbox=tuple(outbox),
        archive=tuple(n for n in names if not n.startswith(".tmp-")),
        processing=int(processing),
        leftovers=tuple(n for n in names if n.startswith(".tmp-")),
    )


class CuttingProxy:
    """A TCP proxy on 127.0.0.1 that drops chosen connections in the middle of a stream.

    For the first `cuts` connections, once the client has sent `trigger` (b"" means at
    once), it lets `after` more bytes through in the direction `watch` ("server": towards
    the client, "client": towards the server), then closes both ends. Later connections
    pass untouched, as a line that came back would.
    """

    def __init__(
        self,
        target: tuple[str, int],
        trigger: bytes,
        after: int,
        *,
        watch: str = "server",
        cuts: int = 1,
    ) -> None:
        self.target = target
        self.trigger = trigger
        self.after = after
        self.watch = watch
        self.cuts_left = cuts
        self.cut = 0  # connections cut so far
        self.connections = 0
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self._listener.getsockname()[1])
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def close(self) -> None:
        with suppress(OSError):
            self._listener.close()

    def __enter__(self) -> CuttingProxy:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            with self._lock:
                self.connections += 1
                cutting = self.cuts_left > 0
                self.cuts_left -= 1 if cutting else 0
            server = socket.create_connection(self.target)
            state = {"armed": not self.trigger, "budget": self.after, "seen": b""}
            for src, dst, direction in ((client, server, "client"), (server, client, "server")):
                threading.Thread(
                    target=self._pump,
                    args=(src, dst, direction, state if cutting else None, (client, server)),
                    daemon=True,
                ).start()

    def _pump(
        self,
        src: socket.socket,
        dst: socket.socket,
        direction: str,
        state: dict[str, Any] | None,
        pair: tuple[socket.socket, socket.socket],
    ) -> None:
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                if state is not None:
                    with self._lock:
                        if direction == "client" and not state["armed"]:
                            state["seen"] = (state["seen"] + data)[-4096:]
                            state["armed"] = self.trigger in state["seen"]
                            if state["armed"] and direction == self.watch:
                                # counting starts after the trigger's own bytes
                                data_after = state["seen"].split(self.trigger, 1)[1]
                                state["budget"] -= len(data_after)
                                if state["budget"] <= 0:
                                    self._cut(pair, state)
                                    return
                        elif state["armed"] and direction == self.watch:
                            if len(data) >= state["budget"]:
                                dst.sendall(data[: state["budget"]])
                                self._cut(pair, state)
                                return
                            state["budget"] -= len(data)
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in pair:
                with suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)

    def _cut(self, pair: tuple[socket.socket, socket.socket], state: dict[str, Any]) -> None:
        if state.get("done"):
            return
        state["done"] = True
        self.cut += 1
        for s in pair:
            with suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
            with suppress(OSError):
                s.close()


def archive_files(storage: Path) -> Sequence[Path]:
    root = storage / "archive"
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


def env_with(**extra: str) -> dict[str, str]:
    root = Path(__file__).resolve().parent.parent
    return {**os.environ, "PYTHONPATH": str(root), **extra}
