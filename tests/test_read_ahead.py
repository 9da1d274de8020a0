"""A poll reads the next messages while it records one, and still records them in order,
each in its own transaction (pipeline._Ahead), on a real Maildir, SQLite store and forms."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from mail_ingest import config as config_module
from mail_ingest.app import open_store
from mail_ingest.archive import Archive
from mail_ingest.mailbox import MaildirSource
from mail_ingest.pipeline import poll
from mail_ingest.samples import SampleEntry, mau01_xlsx
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
    subjects = [f"thư {i}" for i in range(6)]
    for hour, subject in enumerate(subjects, start=8):
        files = [("Mau 01.xlsx", FORM)] if hour % 2 else []
        deployment.deliver(make_message(UNIT, subject, files), at(20, hour=hour))
    cfg = config_module.load(deployment.config)
    source = MaildirSource(cfg.mailbox.path or Path(), cfg.mailbox.max_message_bytes)
    keys = sorted(source._box.keys(), key=source._delivery_order)
    begun_when_recorded: list[int] = []  # per record: how many later messages had begun
    with open_store(cfg) as store:

        def progress(done: int, planned: int | None) -> None:
            later = keys[done:]
            begun_when_recorded.append(
                sum(store.attempts(source.source, 0, key) > 0 for key in later)
            )

        result = poll(
            source, store, Archive(cfg.storage / "archive"), UnitDirectory(cfg.units),
            cfg.forms, progress=progress,
        )  # fmt: skip
        rows = store.messages()
        assert all(store.attempts(source.source, 0, key) == 0 for key in keys)
    assert (result.fetched, result.new) == (6, 6)
    # Read ahead: a message with a form is still being read when the next ones begin, so
    # some record is written while a later message is being read (never, one at a time).
    assert max(begun_when_recorded) >= 1
    # ... and recorded in mailbox order, one row each.
    by_time = sorted(rows, key=lambda m: m.received_at)
    assert [m.subject for m in by_time] == subjects
    assert [m.id for m in by_time] == sorted(m.id for m in rows)
