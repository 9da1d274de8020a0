"""The unit's own line in the header block, however the block is laid out.

Header blocks are generated: a superior and a unit of several kinds, optionally a form
number above, in Word paragraphs, in a Word table used as the header block, on one line
with a tab before the national motto, broken over two lines, and in a workbook's top rows.
The parsed file's `don_vi` is always the unit's own line, never the superior, the form
number or "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM".
"""

from __future__ import annotations

import io
from collections.abc import Iterator, Sequence

import docx
import openpyxl
import pytest

import parsers
from parsers.text import words

# (superior, unit)
BLOCKS = [
    ("ĐẢNG BỘ HUYỆN PHONG THỔ", "ĐẢNG ỦY XÃ MƯỜNG SO"),
    ("HUYỆN ỦY PHONG THỔ", "CHI BỘ VĂN PHÒNG HĐND - UBND HUYỆN"),
    ("ĐẢNG BỘ TỈNH LAI CHÂU", "HUYỆN ỦY PHONG THỔ"),
    ("ỦY BAN MTTQ VIỆT NAM HUYỆN TÂN YÊN", "MẶT TRẬN TỔ QUỐC VIỆT NAM XÃ CAO XÁ"),
    ("HỘI NÔNG DÂN HUYỆN TÂN YÊN", "HỘI NÔNG DÂN XÃ NGỌC THIỆN"),
    ("ĐẢNG BỘ HUYỆN TÂN YÊN", "BAN CHẤP HÀNH ĐẢNG BỘ THỊ TRẤN NHÃ NAM"),
    ("", "Đảng ủy xã Dào San"),
]
MOTTO = ("CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM", "Độc lập - Tự do - Hạnh phúc")
DATE = "Mường So, ngày 20 tháng 01 năm 2024"
TITLE = ("BIỂU TỔNG HỢP ĐĂNG KÝ THI ĐUA “DÂN VẬN KHÉO”", "Năm 2024")
TABLE = [
    ["STT", "Tên tập thể, cá nhân", "Tập thể/Cá nhân", "Lĩnh vực", "Cấp"],
    ["1", "Hợp tác xã chè Mường So", "Tập thể", "Kinh tế", "Cấp huyện"],
    ["2", "Lò Văn Thắng", "Cá nhân", "Xây dựng Đảng", "Cấp xã"],
]


def _save_docx(document: docx.document.Document) -> bytes:
    for text in TITLE:
        document.add_paragraph(text)
    grid = document.add_table(rows=len(TABLE), cols=len(TABLE[0]))
    for r, row in enumerate(TABLE):
        for c, text in enumerate(row):
            grid.cell(r, c).text = text
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def paragraphs(superior: str, unit: str, number: bool) -> bytes:
    document = docx.Document()
    lines = [*(["Mẫu số 01"] if number else []), superior, unit, "*", "Số: 12-BC/ĐU", *MOTTO, DATE]
    for line in filter(None, lines):
        document.add_paragraph(line)
    return _save_docx(document)


def tabbed(superior: str, unit: str, number: bool) -> bytes:
    document = docx.Document()
    if number:
        document.add_paragraph("Mẫu số 01")
    for left, right in zip((superior, unit, "*"), (*MOTTO, ""), strict=True):
        if left or right:
            document.add_paragraph(f"{left}\t\t{right}")
    document.add_paragraph(DATE)
    return _save_docx(document)


def header_table(superior: str, unit: str, number: bool) -> bytes:
    document = docx.Document()
    block = document.add_table(rows=2, cols=2)
    block.cell(0, 0).text = "\n".join(filter(None, (superior, unit, "*", "Số: 12-BC/ĐU")))
    block.cell(0, 1).text = "\n".join((*(["Mẫu số 01"] if number else []), *MOTTO))
    block.cell(1, 1).text = DATE
    return _save_docx(document)


def split_name(superior: str, unit: str, number: bool) -> bytes:
    """The unit's name broken after its organisation: "ĐẢNG ỦY" / "XÃ MƯỜNG SO"."""
    org, _, place = unit.partition(" XÃ ") if " XÃ " in unit else (unit, "", "")
    return paragraphs(superior, f"{org}\n{'XÃ ' + place if place else ''}".strip(), number)


def workbook(superior: str, unit: str, number: bool) -> bytes:
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    if number:
        sheet.append(["", "", "", "", "Mẫu số 01"])
    sheet.append([superior or None, None, None, MOTTO[0]])
    sheet.append([unit, None, None, MOTTO[1]])
    sheet.append(["*", None, None, DATE])
    for text in TITLE:
        sheet.append([text])
    for row in TABLE:
        sheet.append(list(row))
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


LAYOUTS = {
    "paragraphs": (paragraphs, "docx"),
    "tabbed": (tabbed, "docx"),
    "header-table": (header_table, "docx"),
    "split-name": (split_name, "docx"),
    "workbook": (workbook, "xlsx"),
}


def cases() -> Iterator[tuple[str, str, str, bool]]:
    for layout in LAYOUTS:
        for superior, unit in BLOCKS:
            for number in (False, True):
                yield layout, superior, unit, number


@pytest.mark.parametrize(("layout", "superior", "unit", "number"), list(cases()))
def test_the_unit_line_is_the_issuing_unit(
    layout: str, superior: str, unit: str, number: bool
) -> None:
    build, ext = LAYOUTS[layout]
    parsed = parsers.parse_file(f"scan.{ext}", build(superior, unit, number))
    assert parsed.form == "mau-01", parsed
    assert words(parsed.fields.get("don_vi", "")) == words(unit), parsed.fields


def test_a_documents_title_is_not_a_unit_called_ban() -> None:
    lines: Sequence[str] = ("BẢN ĐĂNG KÝ THI ĐUA", "Ban Dân vận")
    from parsers.detect import unit_line

    assert unit_line(lines[:1], ("ban",), ()) == ""
    assert unit_line(lines, ("ban",), ()) == "Ban Dân vận"
