"""The daily report's workbook, built from the demo's statuses and read back with openpyxl."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import openpyxl
import pytest
from rich.console import Console

from mail_ingest import config as config_module
from mail_ingest import demo, standing, workbook
from mail_ingest.app import open_store


def test_status_consolidated_and_held_sheets(tmp_path: Path) -> None:
    outcome = demo.run(tmp_path / "demo", Console(file=io.StringIO()))
    config = config_module.load(outcome.config)
    with open_store(config) as store:
        statuses = standing.compute(config, store, demo.NOW)
    held = [{"received": "08:00 03/02/2024", "sender": "lo.pao@gmail.com",
             "subject": "bao cao DVK", "guesses": "Đảng ủy xã Dào San (82%)"}]  # fmt: skip
    data = workbook.build(statuses, demo.NOW, config.timezone, held)

    book = openpyxl.load_workbook(io.BytesIO(data))
    assert book.sheetnames == ["Tình trạng", "Tổng hợp đăng ký", "Thư chờ xem xét"]
    status = book["Tình trạng"]
    assert status["A1"].value == "Tình hình gửi biểu mẫu tính đến 08 giờ 00 ngày 05/02/2024"
    rows = {r[1]: r for r in status.iter_rows(min_row=4, values_only=True)}
    assert len(rows) == 10
    assert rows["Đảng ủy xã Mường So"][3] == "Đúng hạn"  # one requirement: no column for it
    assert rows["Đảng ủy xã Sì Lở Lầu"][3] == "Trễ hạn"
    late_row = next(r for r in status.iter_rows(min_row=4) if r[1].value == "Đảng ủy xã Sì Lở Lầu")
    assert late_row[3].fill.fgColor.rgb.endswith(workbook.FILLS["late"])

    consolidated = list(book["Tổng hợp đăng ký"].iter_rows(min_row=2, values_only=True))
    assert len(consolidated) == sum(len(s.entries) for s in statuses) > 0
    fields = [r[1] for r in consolidated]
    order = [*workbook.FIELD_LABELS.values(), "Chưa rõ lĩnh vực"]
    assert fields == sorted(fields, key=order.index)  # grouped by field, in the letters' order
    assert {r[4] for r in consolidated} <= {"Tập thể", "Cá nhân"}

    [held_row] = book["Thư chờ xem xét"].iter_rows(min_row=2, values_only=True)
    assert held_row[2:] == ("lo.pao@gmail.com", "bao cao DVK", "Đảng ủy xã Dào San (82%)")


def test_rows_are_written_without_rescanning_the_sheet(monkeypatch: pytest.MonkeyPatch) -> None:
    """openpyxl's max_row/max_column scan every cell: asked per row, a report of 500 units
    took 36 s. How often they are asked must not grow with the rows written."""
    from openpyxl.worksheet.worksheet import Worksheet

    asked = {"n": 0}
    for name in ("max_row", "max_column"):
        real = getattr(Worksheet, name)

        def counted(sheet: Worksheet, real: property = real) -> int:
            asked["n"] += 1
            return int(real.fget(sheet))  # type: ignore[misc]

        monkeypatch.setattr(Worksheet, name, property(counted))
    assert _same_for_5_and_200_held_rows(asked)


def test_report_with_output_builds_its_workbook_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`report --dry-run --output` saves the workbook it showed, not a second one."""
    from click.testing import CliRunner

    from mail_ingest.cli import cli

    config = demo.run(tmp_path / "demo", Console(file=io.StringIO())).config
    built: list[bytes] = []
    real = workbook.build

    def counted(*args: Any, **kwargs: Any) -> bytes:
        built.append(real(*args, **kwargs))
        return built[-1]

    monkeypatch.setattr(workbook, "build", counted)
    out = tmp_path / "r.xlsx"
    args = ["--config", str(config), "report", "--dry-run", "--now", demo.NOW.isoformat()]
    done = CliRunner().invoke(cli, [*args, "--output", str(out)])
    assert done.exit_code == 0, done.output
    assert len(built) == 1 and out.read_bytes() == built[0]


def test_the_look_read_back(tmp_path: Path) -> None:
    """The workbook as the board sees it, read back with openpyxl: what the sheets were
    before they were written row by row (write-only), cell for cell."""
    outcome = demo.run(tmp_path / "demo", Console(file=io.StringIO()))
    config = config_module.load(outcome.config)
    with open_store(config) as store:
        statuses = standing.compute(config, store, demo.NOW)
    notes = {ref: f"Ghi chú {ref}" for s in statuses[:2] for ref in s.sources}
    held = [{"received": "08:00 03/02/2024", "sender": "=cmd|x",
             "subject": "bao\x07 cao\nDVK " * 30, "guesses": " Đảng ủy (82%)"}]  # fmt: skip
    checks = [{"id": "7", "received": "x", "unit": "-u", "filename": "f.xlsx",
               "confidence": "50%", "doubts": "a\nb"}]  # fmt: skip
    unknown = [("Cột lạ", 3), ("+x", 1)]
    data = workbook.build(statuses, demo.NOW, config.timezone, held, notes, checks, unknown)
    book = openpyxl.load_workbook(io.BytesIO(data))
    names = ["Tình trạng", "Tổng hợp đăng ký", "Thư chờ xem xét", "Tệp cần kiểm tra"]
    assert book.sheetnames == names

    status = book["Tình trạng"]
    widths = [6, 32, 22, 13, 17, 40, 9, 70, 50]  # a notes column: some statuses have one
    assert [status.column_dimensions[chr(65 + i)].width for i in range(9)] == widths
    assert [str(r) for r in status.merged_cells.ranges] == ["A1:I1"]
    title = status["A1"]
    assert title.font.b and title.font.sz == 13 and title.value.startswith("Tình hình gửi")
    assert all(c.value is None for c in status[2])  # a blank row under the title
    assert status.freeze_panes == "C4" and status.print_title_rows == "$3:$3"
    last = 3 + len(statuses)
    assert status.auto_filter.ref == f"A3:I{last}" and status.max_row == last
    for sheet in book:
        setup = sheet.page_setup
        assert (setup.orientation, setup.paperSize, setup.fitToWidth, setup.fitToHeight) == (
            "landscape", 9, 1, 0)  # fmt: skip
        assert sheet.sheet_properties.pageSetUpPr.fitToPage
        header = 3 if sheet is status else 1
        for cell in sheet[header]:
            assert cell.font.b and cell.fill.fgColor.rgb.endswith("DDEBF7")
            assert (cell.alignment.horizontal, cell.alignment.vertical) == ("center", "center")
            assert cell.alignment.wrap_text
    assert status.row_dimensions[3].height == 30  # "Hoàn thành lúc" wraps in 17
    for s, row in zip(statuses, status.iter_rows(min_row=4), strict=True):
        assert len(row) == 9 and row[1].value == s.unit.name
        assert row[0].value == statuses.index(s) + 1
        for cell in row:  # every column, the empty ones too
            assert cell.fill.fgColor.rgb.endswith(workbook.FILLS[s.status])
            assert cell.alignment.vertical == "top" and cell.alignment.wrap_text
            if cell.value is not None:  # "" reads back as None, quoted
                assert cell.quotePrefix == isinstance(cell.value, str)
        texts = [str(c.value or "") for c in row]
        lines = max(workbook._lines(t, w) for t, w in zip(texts, widths, strict=True))
        assert status.row_dimensions[row[0].row].height == min(409, 15 * lines)
        assert row[6].value == (len(s.entries) if s.forms else None)
    assert [r[8].value for r in status.iter_rows(min_row=4)][:2] == [
        "\n".join(notes[ref] for ref in s.sources) for s in statuses[:2]
    ]

    consolidated = book["Tổng hợp đăng ký"]
    assert consolidated.freeze_panes == "A2" and consolidated.print_title_rows == "$1:$1"
    wide = [consolidated.column_dimensions[c].width for c in "ABCDEFG"]
    assert wide == [6, 26, 28, 34, 10, 46, 10]
    entries = sum(len(s.entries) for s in statuses)
    assert consolidated.auto_filter.ref == f"A1:G{1 + entries}"

    waiting = book["Thư chờ xem xét"]
    assert waiting.freeze_panes is None
    [row] = waiting.iter_rows(min_row=2)
    assert [c.value for c in row[:3]] == [1, "08:00 03/02/2024", "=cmd|x"]
    assert row[2].data_type == "s" and row[2].quotePrefix  # shown, never computed
    assert "\x07" not in row[3].value and row[3].value.count("\n") == 30
    assert row[4].value == " Đảng ủy (82%)"  # spaces kept
    assert waiting.row_dimensions[2].height == 409  # Excel's tallest
    assert waiting.auto_filter.ref == "A1:E2"

    files = book["Tệp cần kiểm tra"]
    assert [c.value for c in files[2]] == [7, "x", "-u", "f.xlsx", "50%", "a\nb"]
    assert files.row_dimensions[2].height == 30 and files.auto_filter.ref == "A1:F2"
    assert files["B4"].value.startswith("Tiêu đề cột") and files["B4"].font.b
    assert files["A4"].value is None and not files["A4"].font.b
    assert [(c.value, c.quotePrefix) for c in files[6][:2]] == [(1, False), ("+x", True)]
    assert files.row_dimensions[6].height is None  # below the table: as the app shows it

    empty = openpyxl.load_workbook(io.BytesIO(workbook.build([], demo.NOW, config.timezone)))
    assert empty.sheetnames == ["Tình trạng", "Tổng hợp đăng ký", "Thư chờ xem xét"]
    waiting = empty["Thư chờ xem xét"]
    assert waiting["B2"].value == "Không có thư nào chờ xem xét." and not waiting["B2"].quotePrefix
    assert waiting.auto_filter.ref == "A1:E1"


def test_rows_are_written_without_a_cell_object_each(monkeypatch: pytest.MonkeyPatch) -> None:
    """A Cell object per cell, styled by hashing, was most of the time of a large report:
    rows go to the file as values and style ids, so the objects made do not grow with rows."""
    from openpyxl.cell import cell as cells

    made = {"n": 0}
    real = cells.Cell.__init__

    def counted(self: cells.Cell, *args: Any, **kwargs: Any) -> None:
        made["n"] += 1
        real(self, *args, **kwargs)

    monkeypatch.setattr(cells.Cell, "__init__", counted)
    assert _same_for_5_and_200_held_rows(made)


def _same_for_5_and_200_held_rows(counter: dict[str, int]) -> bool:
    """Whether building a report with 5 held mails counts as much as with 200."""
    counts = []
    for rows in (5, 200):
        counter["n"] = 0
        held = [{"received": "08:00 03/02/2024", "sender": f"a{i}@x.vn", "subject": "=1+1",
                 "guesses": ""} for i in range(rows)]  # fmt: skip
        workbook.build([], demo.NOW, ZoneInfo("Asia/Ho_Chi_Minh"), held)
        counts.append(counter["n"])
    return counts[0] == counts[1]
