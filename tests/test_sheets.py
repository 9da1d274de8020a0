"""The .xlsx reader (parsers.sheets) reads what openpyxl reads: every kind of value, fonts,
formulas never calculated, merged ranges, hidden sheets last, 1904 dates."""

from __future__ import annotations

import io
from datetime import date, datetime, time

import openpyxl
import pytest
from openpyxl.cell.rich_text import CellRichText, TextBlock
from openpyxl.cell.text import InlineFont
from openpyxl.styles import Font

from parsers import office


def workbook(*, mac: bool = False) -> bytes:
    book = openpyxl.Workbook()
    hidden = book.active
    assert hidden is not None
    hidden.title = "Ẩn"
    hidden["A1"] = "trang ẩn"
    hidden.sheet_state = "hidden"
    sheet = book.create_sheet("Danh sách")
    sheet["A1"] = "BIỂU TỔNG HỢP"
    sheet.merge_cells("A1:F1")
    sheet.append(["Tên", 7, 1.5, 2.0, True, date(2024, 1, 25)])
    sheet.append([datetime(2024, 1, 25, 9, 30), time(9, 30), "=1+1", None, 912345678, "x"])
    sheet["A4"] = CellRichText("Hợp tác xã ", TextBlock(InlineFont(b=True), "chè"), " Mường So")
    sheet["B4"] = "Chi bộ"
    sheet["B4"].font = Font(name=".VnTime")
    sheet["C4"] = "¸nh"  # TCVN3 bytes in a .Vn font: read as Vietnamese
    sheet["C4"].font = Font(name=".VnTime")
    if mac:
        book.epoch = openpyxl.utils.datetime.CALENDAR_MAC_1904
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


@pytest.mark.parametrize("mac", [False, True])
def test_a_workbook_reads_as_excel_shows_it(mac: bool) -> None:
    content = office.read(workbook(mac=mac))
    grids = [b for b in content.blocks if isinstance(b, office.Grid)]
    assert [g.name for g in grids] == ["Danh sách", "Ẩn"]  # hidden sheets last
    rows = grids[0].rows
    assert rows[0] == ("BIỂU TỔNG HỢP",) * 6  # a merged range repeats its value
    assert rows[1] == ("Tên", "7", "1.5", "2", "True", "2024-01-25")
    assert rows[2] == ("2024-01-25T09:30:00", "09:30:00", "", "", "912345678", "x")
    assert rows[3][:2] == ("Hợp tác xã chè Mường So", "Chi bộ")
    assert rows[3][2] == "ánh"
    assert grids[0].uncalculated == frozenset({(2, 2)})  # "=1+1", never calculated


def test_a_sheet_without_cells_is_an_empty_grid() -> None:
    book = openpyxl.Workbook()
    out = io.BytesIO()
    book.save(out)
    grids = [b for b in office.read(out.getvalue()).blocks if isinstance(b, office.Grid)]
    assert len(grids) == 1 and not any(any(r) for r in grids[0].rows)
