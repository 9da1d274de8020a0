"""The sandbox runs up to WORKERS parses at once, and a message's files keep their order."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pool_children
import pytest

from mail_ingest import attachments, sandbox
from mail_ingest.mime import Attachment
from mail_ingest.samples import SampleEntry, mau01_xlsx, mau02_docx
from parsers import builtin_specs

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"


@pytest.mark.skipif(sandbox.WORKERS < 2, reason="one core: one parse at a time")
def test_calls_from_two_threads_run_side_by_side(tmp_path: Path) -> None:
    a, b = str(tmp_path / "a"), str(tmp_path / "b")
    with ThreadPoolExecutor(2) as threads:
        first = threads.submit(sandbox.run, pool_children.meet, a, b, 15.0)
        second = threads.submit(sandbox.run, pool_children.meet, b, a, 15.0)
        assert first.result() and second.result()  # each saw the other while it ran
    assert sandbox.run(len, b"abc") == 3


def test_a_messages_files_keep_their_order_when_parsed_side_by_side() -> None:
    entries = [SampleEntry("Hợp tác xã chè", "tap-the", "kinh-te", "xa", "Chè sạch")]
    files = [
        Attachment("Mau 02.docx", DOCX, mau02_docx("Đảng ủy xã A", ["Chè sạch"])),
        Attachment("Mau 01.xlsx", XLSX, mau01_xlsx("Đảng ủy xã A", entries)),
        Attachment("ghi chu.txt", "text/plain", "Kính gửi Ban".encode()),
        Attachment("Mau 02 (2).docx", DOCX, mau02_docx("Đảng ủy xã A", ["Chè sạch"])),
    ]
    rows = attachments.read_attachments(files, "Gửi biểu mẫu", builtin_specs())
    assert [r.filename for r in rows] == [f.filename for f in files]
    assert [r.parsed.form for r in rows] == ["mau-02", "mau-01", None, "mau-02"]
    assert [r.parsed.filename for r in rows] == [f.filename for f in files]
