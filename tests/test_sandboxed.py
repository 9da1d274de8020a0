"""A message read in one sandbox call (mail_ingest.sandboxed) is the message read piece by
piece: the same record, the same budget, and a failure of the whole falls back to the
pieces, so that what failed is recorded against the part that caused it."""

from __future__ import annotations

import io
import logging
import zipfile
from datetime import datetime, timedelta, timezone

import hostile_children
import pytest

import parsers
from mail_ingest import attachments, convert, mime, sandboxed
from mail_ingest.archive import sha256
from mail_ingest.mailbox import FetchedMessage
from mail_ingest.outcomes import Outcome
from mail_ingest.reading import process
from mail_ingest.samples import SampleEntry, mau01_docx, mau01_xlsx, mau02_docx
from mail_ingest.store import MessageRecord
from rules.units import Unit, UnitDirectory

from conftest import make_message

SPECS = parsers.builtin_specs()
ADDRESS = "DangUy.MuongSo@example.vn"
NAME = "Đảng ủy xã Mường So"
UNITS = UnitDirectory([Unit("xa-muong-so", NAME, "xa", (ADDRESS,))])
ENTRIES = [
    SampleEntry("Hợp tác xã chè Mường So", "tap-the", "kinh-te", "xa", "Chè sạch"),
    SampleEntry("Lò Văn Pọm", "ca-nhan", "van-hoa-xa-hoi", "xa", "Bản văn hóa"),
]
AT = datetime(2024, 1, 20, 9, tzinfo=timezone(timedelta(hours=7)))


def zipped(*files: tuple[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in files:
            archive.writestr(name, data)
    return buffer.getvalue()


FILES = {
    "two forms": [
        ("Mẫu 01.xlsx", mau01_xlsx(NAME, ENTRIES)),
        ("Mẫu 02.docx", mau02_docx(NAME, ["Chè sạch", "Bản văn hóa"])),
    ],
    "an archive beside a form": [
        ("ho so.zip", zipped(("Mẫu 01.docx", mau01_docx(NAME, ENTRIES)), ("ghi chu.txt", b"x"))),
        ("Mẫu 01.xlsx", mau01_xlsx(NAME, ENTRIES)),
    ],
    "no form": [("bao cao.pdf", b"%PDF-1.4 not much"), ("anh.jpg", b"\xff\xd8\xff\xe0")],
    "nothing": [],
}


def read(raw: bytes) -> MessageRecord:
    return process(FetchedMessage("test", 0, "1", AT, raw), sha256(raw), UNITS, SPECS)


@pytest.mark.parametrize("files", FILES.values(), ids=FILES.keys())
def test_read_whole_or_piece_by_piece_the_record_is_the_same(
    files: list[tuple[str, bytes]],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    raw = make_message(ADDRESS, "Gửi biểu mẫu đăng ký", files)
    whole = read(raw)
    assert "piece by piece" not in caplog.text
    # The whole message kills its worker (as a stranger's file might): the pieces are read.
    monkeypatch.setattr(sandboxed, "read", hostile_children.die_reading)
    with caplog.at_level(logging.WARNING):
        pieces = read(raw)
    assert "whole failed (crash); piece by piece" in caplog.text
    assert pieces == whole
    assert whole.outcome == Outcome.SUBMISSION and whole.error is None


def test_the_message_budget_counts_the_files_read_with_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(attachments, "MAX_FILES", 2)
    raw = make_message(ADDRESS, files=[(f"{i}.xlsx", mau01_xlsx(NAME, ENTRIES)) for i in range(3)])
    forms = [a.parsed.form for a in read(raw).attachments]
    assert forms == ["mau-01", "mau-01", None]
    assert read(raw).attachments[2].parsed.problems[0].code == "over-budget"


def test_only_plain_files_are_parsed_in_the_call_and_at_most_max_files() -> None:
    files = [("ho so.zip", zipped(("a.txt", b"x"))), ("Mẫu 01.xls", convert.OLE_MAGIC + b" old")]
    files += [(f"{i}.txt", b"text") for i in range(sandboxed.MAX_FILES + 3)]
    mail, ready = sandboxed.read(make_message(ADDRESS, files=files), specs=SPECS, taught=None)
    assert isinstance(mail, mime.Mail) and len(ready) == len(files)
    assert ready[:2] == (None, None)  # unpacked, converted: by the service, as before
    parsed = [r for r in ready[2:] if r is not None]
    assert len(parsed) == sandboxed.MAX_FILES - 2 and ready[-1] is None


def test_a_message_that_is_no_email_comes_back_as_its_reason() -> None:
    assert sandboxed.read(b"   \n", specs=SPECS, taught=None) == (
        "not an email message: it is empty",
        (),
    )


def test_results_that_do_not_line_up_with_the_files_are_not_used() -> None:
    files = [mime.Attachment("Mẫu 01.xlsx", "application/octet-stream", mau01_xlsx(NAME, ENTRIES))]
    stray = parsers.parse_file("khac.docx", mau02_docx(NAME, ["Chè sạch"]), SPECS)
    for ready in ((stray, stray), ()):
        [row] = attachments.read_attachments(files, "", SPECS, ready=ready)
        assert row.parsed.form == "mau-01" and row.parsed.filename == "Mẫu 01.xlsx"
