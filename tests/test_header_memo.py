"""The header search remembers rows it has read (parsers.tables._match_columns): the same
readings as without the memory, whatever was read before, and bounded in size."""

from __future__ import annotations

import pytest

import parsers
from mail_ingest.samples import SampleEntry, mau01_docx, mau01_xlsx, mau02_docx
from parsers import tables
from parsers.office import Grid

SPECS = parsers.builtin_specs()
SHAPE = next(s.table for s in SPECS if s.id == "mau-01" and s.table is not None)
ENTRIES = [SampleEntry("Hợp tác xã chè", "tap-the", "kinh-te", "xa", "Chè sạch")]
FILES = [
    ("Mẫu 01.xlsx", mau01_xlsx("Đảng ủy xã Mường So", ENTRIES)),
    ("Mẫu 01.docx", mau01_docx("Đảng ủy xã Dào San", ENTRIES)),
    ("Mẫu 02.docx", mau02_docx("Đảng ủy xã Sì Lở Lầu", ["Chè sạch"])),
]


def test_files_read_after_others_read_as_they_do_alone() -> None:
    alone = []
    for name, data in FILES:
        tables._MATCHED.clear()
        alone.append(parsers.parse_file(name, data, SPECS))
    tables._MATCHED.clear()
    for _ in range(2):  # the second time, every row is remembered
        assert [parsers.parse_file(name, data, SPECS) for name, data in FILES] == alone


def test_the_memory_is_bounded_and_skips_long_rows(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tables, "MATCH_MEMO", 8)
    tables._MATCHED.clear()
    long_row = ("Tên mô hình " * 200, "Họ và tên")
    tables.find_header(Grid("", (long_row,)), SHAPE)
    assert not tables._MATCHED  # over MATCH_MEMO_CHARS: read, not kept
    rows = tuple((f"Tiêu đề {i}", "Họ và tên", "Tên mô hình") for i in range(30))
    tables.find_header(Grid("", rows), SHAPE)
    assert 0 < len(tables._MATCHED) <= 8


def test_shapes_matched_alike_share_what_a_row_reads_and_read_it_as_alone() -> None:
    """M3 and M4 differ only in their sections: a header row is read once for both, and
    each finds the header it finds with the other never read."""
    m3, m4 = (
        next(s.table for s in SPECS if s.id == i and s.table is not None) for i in ["M3", "M4"]
    )
    assert m3.columns == m4.columns and m3 != m4
    rows = (("Danh sách đăng ký",), ("STT", "Tên mô hình", "Lĩnh vực", "Đơn vị thực hiện"))
    alone = []
    for shape in (m3, m4):
        tables._MATCHED.clear()
        alone.append(tables.find_header(Grid("", rows), shape))
    tables._MATCHED.clear()
    assert [tables.find_header(Grid("", rows), s) for s in (m3, m4)] == alone
    assert len({key[0] for key in tables._MATCHED}) == 1  # one shape's readings, shared
