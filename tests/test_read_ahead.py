"""A poll reads the next messages while it records one, and still records them in order,
each in its own transaction (pipeline._Ahead), on a real Maildir, SQLite store and forms."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import pytest

from mail_ingest import config as config_module
from mail_ingest import pipeline, sandbox
from mail_ingest.app import open_store
from mail_ingest.archive import Archive, sha256
from mail_ingest.mailbox import FetchedMessage, MaildirSource
from mail_ingest.pipeline import THREADS_PER_WORKER, poll
from mail_ingest.samples import SampleEntry, mau01_xlsx
from parsers.vocabulary import NOTHING_TAUGHT
from rules.match_model import DEFAULT_SETTINGS
from rules.units import UnitDirectory

from conftest import Deployment, make_message

UNIT = "DangUy.MuongSo@example.vn"
FORM = mau01_xlsx(
    "Đảng ủy xã Mường So",
    [SampleEntry("Hợp tác xã chè", "tap-the", "kinh-te", "xa", "Chè Shan tuyết")],
)


def test_the_next_message_is_read_while_one_is_recorded_and_order_is_kept(
    deployment: Deployment, at: Callable[..., datetime]
) -> None:
    subjects = [f"thư {i}" for i in range(10)]
    for hour, subject in enumerate(subjects, start=8):
        files = [("Mau 01.xlsx", FORM)] if hour % 2 else []
        deployment.deliver(make_message(UNIT, subject, files), at(20, hour=hour))
    cfg = config_module.load(deployment.config)
    source = MaildirSource(cfg.mailbox.path or Path(), cfg.mailbox.max_message_bytes)
    keys = sorted(source._box.keys(), key=source._delivery_order)
    begun_when_recorded: list[int] = []  # per record: how many later messages had begun
    threads: list[int] = []  # per record: the read-ahead's threads alive
    with open_store(cfg) as store:

        def progress(done: int, planned: int | None) -> None:
            later = keys[done:]
            begun_when_recorded.append(
                sum(store.attempts(source.source, 0, key) > 0 for key in later)
            )
            threads.append(sum(t.name.startswith("read") for t in threading.enumerate()))

        result = poll(
            source, store, Archive(cfg.storage / "archive"), UnitDirectory(cfg.units),
            cfg.forms, progress=progress,
        )  # fmt: skip
        rows = store.messages()
        assert all(store.attempts(source.source, 0, key) == 0 for key in keys)
    assert (result.fetched, result.new) == (len(subjects), len(subjects))
    # Read ahead: a message with a form is still being read when the next ones begin, so
    # some record is written while a later message is being read (never, one at a time).
    assert max(begun_when_recorded) >= 1
    # The messages waiting their turn wait in a queue, not each in a thread of its own.
    assert 1 <= max(threads) <= sandbox.WORKERS * THREADS_PER_WORKER < len(subjects)
    # ... and recorded in mailbox order, one row each.
    by_time = sorted(rows, key=lambda m: m.received_at)
    assert [m.subject for m in by_time] == subjects
    assert [m.id for m in by_time] == sorted(m.id for m in rows)


def test_the_bytes_read_ahead_stay_within_their_cap(
    deployment: Deployment, at: Callable[..., datetime], monkeypatch: pytest.MonkeyPatch
) -> None:
    raws = [make_message(UNIT, f"thư {i}", [("Mau 01.xlsx", FORM)]) for i in range(8)]
    for hour, raw in enumerate(raws, start=8):
        deployment.deliver(raw, at(20, hour=hour))
    # Room for two messages and a half: the depth (64) is never what stops the third.
    monkeypatch.setattr(pipeline, "AHEAD_BYTES", len(raws[0]) * 5 // 2)
    cfg = config_module.load(deployment.config)
    source = MaildirSource(cfg.mailbox.path or Path(), cfg.mailbox.max_message_bytes)
    keys = sorted(source._box.keys(), key=source._delivery_order)
    in_flight: list[int] = []  # per record: the later messages begun, not yet recorded
    with open_store(cfg) as store:

        def progress(done: int, planned: int | None) -> None:
            in_flight.append(sum(store.attempts(source.source, 0, k) > 0 for k in keys[done:]))

        result = poll(
            source, store, Archive(cfg.storage / "archive"), UnitDirectory(cfg.units),
            cfg.forms, progress=progress,
        )  # fmt: skip
    assert result.new == len(raws)
    assert max(in_flight) <= 2  # a third would pass the cap: the oldest is recorded first


def test_only_a_copy_of_a_message_in_flight_waits_for_it_to_be_recorded(
    tmp_path: Path, at: Callable[..., datetime]
) -> None:
    """The IMAP triage asks whether each header's message is recorded: the messages read
    ahead go on unless one of them may be that message (its Gmail id, or its header and
    size), and then it is recorded first, so the copy is known as one poll at a time would."""
    from concurrent.futures import Future

    from mail_ingest import mime
    from mail_ingest.pipeline import _Ahead, _Settled
    from mail_ingest.reading import unread
    from mail_ingest.store import MessageRecord, Store

    raw = make_message(UNIT, "thư", [("Mau 01.xlsx", FORM)])
    fetched = FetchedMessage("maildir:/x", 0, "1", at(20), raw, gm_msgid=42)
    position, digest = ("maildir:/x", 0, "1"), mime.header_digest(raw)
    with Store(tmp_path / "store.sqlite3") as store:
        recorded: list[MessageRecord] = []

        def record(f: FetchedMessage, r: MessageRecord) -> None:
            recorded.append(r)
            store.record(r, f.source, f.uidvalidity, f.uid)

        ahead = _Ahead(UnitDirectory([]), DEFAULT_SETTINGS, (), None, NOTHING_TAUGHT)
        settled = _Settled(store, ahead, record)
        being_read: Future[MessageRecord] = Future()
        ahead._push(fetched, being_read)
        # Were it waited for, it would be read in 2 s and recorded: the test fails, not hangs.
        read = threading.Timer(2.0, lambda: being_read.set_result(unread(fetched, sha256(raw))))
        read.start()

        # Another message: answered by the store at once, nothing waited for.
        assert not settled.has_message("<b@x>", len(raw), 7, "0" * 64)
        assert not settled.has_message("<b@x>", len(raw) + 1, None, digest)
        assert ahead.in_flight(position) and not recorded
        read.cancel()

        # The same header and size, or the same Gmail id: recorded first, then known.
        being_read.set_result(unread(fetched, sha256(raw)))
        assert settled.has_message(None, len(raw), None, digest)
        assert len(recorded) == 1 and not ahead.in_flight(position)
        assert settled.has_message(None, 1, 42, None)
