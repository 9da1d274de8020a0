"""The daily report as an Excel workbook the board opens, filters and forwards.

Three sheets: where every unit stands (coloured by status, as the staff colour their
own tracking sheet today), the consolidated list of every registered model from every
unit sorted by field (what they copy by hand today), and the messages waiting for a
person to decide which unit sent them.

Strangers write much of what the cells hold (entry names, subjects, senders), so every
data cell goes through `_cells`: control characters removed (openpyxl refuses a BEL and
the whole report would fail), length within Excel's limit, and strings stored as text
with a quote prefix, so "=HYPERLINK(...)" or "=cmd|..." is shown, never computed, even
after someone edits the cell.
"""

from __future__ import annotations

import io
import math
from collections.abc import Mapping, Sequence
from datetime import datetime
from zoneinfo import ZoneInfo

from openpyxl import Workbook
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.styles.cell_style import StyleArray
from openpyxl.utils import column_index_from_string, get_column_letter
from openpyxl.worksheet.worksheet import Worksheet

from mail_ingest import wording
from mail_ingest.standing import Notes, doubts, notes_of
from parsers.model import FIELD_LABELS, FIELDS, KIND_LABELS, LEVEL_LABELS
from parsers.text import printable
from rules.status import UnitStatus

FILLS = {  # light tints that print well in black and white too
    "missing": "F8CBAD",
    "incomplete": "FFE699",
    "checking": "BDD7EE",  # waits for the board's check: not the unit's shortfall
    "on_time": "C6EFCE",
    "late": "D9D2E9",
}
HEADER_FILL = PatternFill("solid", fgColor="DDEBF7")
MAX_CELL = 32767  # Excel's limit on the characters of one cell
MAX_HEIGHT = 409  # points: Excel's tallest row
WRAP_TOP = Alignment(vertical="top", wrap_text=True)  # one object: openpyxl hashes it per cell


def build(
    statuses: Sequence[UnitStatus],
    now: datetime,
    tz: ZoneInfo,
    held: Sequence[Mapping[str, str]] = (),
    notes: Notes | None = None,
    checks: Sequence[Mapping[str, str]] = (),
    unknown: Sequence[tuple[str, int]] = (),
    titles: Mapping[str, str] | None = None,
) -> bytes:
    """The workbook's bytes; `held` are messages awaiting review (received, sender, subject);
    `notes` (standing.notes) are shown beside the statuses they concern; `checks`
    (standing.check_rows) the files waiting for the board's check; `unknown` what the parsers
    met and did not know, with how often; `titles` name the forms (never their ids)."""
    book = Workbook()
    status_sheet = book.active
    assert status_sheet is not None
    _status(status_sheet, statuses, now, tz, notes, titles or {})
    _consolidated(book.create_sheet("Tổng hợp đăng ký"), statuses)
    _held(book.create_sheet("Thư chờ xem xét"), held)
    if checks or unknown:
        _checks(book.create_sheet("Tệp cần kiểm tra"), checks, unknown)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _status(
    sheet: Worksheet,
    statuses: Sequence[UnitStatus],
    now: datetime,
    tz: ZoneInfo,
    notes: Notes | None = None,
    titles: Mapping[str, str] | None = None,
) -> None:
    titles = titles or {}
    sheet.title = "Tình trạng"
    sheet.append([f"Tình hình gửi biểu mẫu tính đến {wording.clock(now, tz)}"])
    sheet["A1"].font = Font(bold=True, size=13)
    several = len({s.requirement.id for s in statuses}) > 1
    columns = [("STT", 6), ("Đơn vị", 32), *([("Yêu cầu", 28)] if several else []),
               ("Hạn gửi", 22), ("Trạng thái", 13), ("Hoàn thành lúc", 17),
               ("Biểu mẫu đã nhận", 40), ("Số nội dung", 9),
               ("Vấn đề cần khắc phục", 70)]  # fmt: skip
    noted = [notes_of(s, notes) for s in statuses]
    if any(noted):  # a person decided, or mail counts only provisionally (standing.notes)
        columns.append(("Ghi chú", 50))
    sheet.merge_cells(start_row=1, start_column=1, end_row=1, end_column=len(columns))
    _header(sheet, columns, row=3)
    for i, s in enumerate(statuses, start=1):
        completed = wording.stamp(s.completed_at, tz) if s.completed_at else ""
        _append(sheet, [
            i, s.unit.name, *([s.requirement.title] if several else []),
            s.deadline_phrase, wording.STATUS_LABELS[s.status], completed,
            "\n".join(wording.form_name(f, titles) for f in s.forms),
            len(s.entries) if s.forms else None,
            wording.name_forms(
                "\n".join([f"- {p}" for p in s.problems] + [f"? {d}" for d in doubts(s)]),
                titles,
            ),
            *(["\n".join(noted[i - 1])] if any(noted) else []),
        ])  # fmt: skip
        _style_row(sheet, PatternFill("solid", fgColor=FILLS[s.status]))
    sheet.freeze_panes = "C4"


def _consolidated(sheet: Worksheet, statuses: Sequence[UnitStatus]) -> None:
    several = len({s.requirement.id for s in statuses}) > 1
    columns = [("STT", 6), ("Lĩnh vực", 26), ("Đơn vị", 28), ("Tên tập thể, cá nhân", 34),
               ("Tập thể/ Cá nhân", 10), ("Tên mô hình", 46), ("Cấp", 10),
               *([("Yêu cầu", 28)] if several else [])]  # fmt: skip
    _header(sheet, columns, row=1)
    rows = [(e, s) for s in statuses for e in s.entries]
    order = {field: i for i, field in enumerate(FIELDS)}
    rows.sort(key=lambda r: (order.get(r[0].field or "", len(order)), r[1].unit.name, r[0].name))
    for i, (e, s) in enumerate(rows, start=1):
        _append(sheet, [
            i, FIELD_LABELS.get(e.field or "", "Chưa rõ lĩnh vực"), s.unit.name, e.name,
            KIND_LABELS.get(e.kind or "", ""), e.extra.get("model", ""),
            LEVEL_LABELS.get(e.level or "", ""), *([s.requirement.title] if several else []),
        ])  # fmt: skip
        _style_row(sheet)
    sheet.freeze_panes = "A2"


def _held(sheet: Worksheet, held: Sequence[Mapping[str, str]]) -> None:
    columns = [("STT", 6), ("Nhận lúc", 17), ("Người gửi", 34), ("Tiêu đề", 50),
               ("Đơn vị có thể là", 40)]  # fmt: skip
    _header(sheet, columns, row=1)
    for i, message in enumerate(held, start=1):
        _append(
            sheet, [i, *(message.get(k, "") for k in ("received", "sender", "subject", "guesses"))]
        )
        _style_row(sheet)
    if not held:
        sheet.append(["", "Không có thư nào chờ xem xét."])


def _checks(
    sheet: Worksheet, checks: Sequence[Mapping[str, str]], unknown: Sequence[tuple[str, int]]
) -> None:
    columns = [("Mã tệp", 8), ("Nhận lúc", 17), ("Đơn vị", 28), ("Tệp", 34),
               ("Độ tin cậy", 10), ("Điểm cần kiểm tra", 70)]  # fmt: skip
    _header(sheet, columns, row=1)
    for c in checks:
        keys = ("received", "unit", "filename", "confidence", "doubts")
        _append(sheet, [int(c["id"]), *(c.get(k, "") for k in keys)])
        _style_row(sheet)
    if unknown:
        sheet.append([])
        sheet.append(["", "Tiêu đề cột, giá trị chưa nhận biết được (nhiều nhất trước)"])
        sheet.cell(row=sheet.max_row, column=2).font = Font(bold=True)
        for text, count in unknown:
            _append(sheet, [count, text])


def _append(sheet: Worksheet, values: Sequence[object]) -> None:
    """Add a data row whose strings are text, whatever they begin with."""
    sheet.append([_text(v) if isinstance(v, str) else v for v in values])
    row = _last_row(sheet)
    for column in range(1, len(values) + 1):
        cell = sheet.cell(row=row, column=column)
        if isinstance(cell.value, str):
            cell.data_type = "s"  # openpyxl made "=..." a formula on assignment
            cell.quotePrefix = True  # and Excel would on editing, without this


def _last_row(sheet: Worksheet) -> int:
    """The row `append` just wrote. openpyxl keeps it as it writes; its `max_row` and
    `max_column` scan every cell, so asking them per row made a report quadratic
    (36 s at 500 units)."""
    row: int = sheet._current_row
    return row


def _text(value: str) -> str:
    """What a cell may hold: printable, line breaks kept, within Excel's length."""
    text = printable(value, newlines=True)
    return text if len(text) <= MAX_CELL else text[: MAX_CELL - 1] + "…"


def _lines(text: str, width: float) -> int:
    """About how many lines a wrapped cell of this width needs."""
    return sum(max(1, math.ceil(len(line) / max(width * 1.1, 1))) for line in text.split("\n"))


def _header(sheet: Worksheet, columns: Sequence[tuple[str, int]], row: int) -> None:
    """Bold titles that repeat on every printed page, filters, and a page setup that
    prints the sheet one A4 landscape page wide."""
    for column, (title, width) in enumerate(columns, start=1):
        cell = sheet.cell(row=row, column=column, value=title)
        cell.font = Font(bold=True)
        cell.fill = HEADER_FILL
        cell.alignment = Alignment(horizontal="center", vertical="center", wrap_text=True)
        sheet.column_dimensions[get_column_letter(column)].width = width
    sheet.row_dimensions[row].height = 15 * max(_lines(t, w) for t, w in columns)
    last = get_column_letter(len(columns))
    sheet.print_title_rows = f"{row}:{row}"
    sheet.auto_filter.ref = f"A{row}:{last}{row}"
    sheet.page_setup.orientation = "landscape"
    sheet.page_setup.paperSize = sheet.PAPERSIZE_A4
    sheet.page_setup.fitToWidth = 1
    sheet.page_setup.fitToHeight = 0  # as many pages down as it takes
    sheet.sheet_properties.pageSetUpPr.fitToPage = True


def _style_row(sheet: Worksheet, fill: PatternFill | None = None) -> None:
    """Wrap and top-align the row just added, tall enough for its text (spreadsheet apps
    do not grow rows written by a program); widen the filter to cover it. The filter's
    reference carries the sheet's width so far (the header's, widened by longer rows)."""
    row = _last_row(sheet)
    first, _, last = sheet.auto_filter.ref.partition(":")
    width = column_index_from_string(last.rstrip("0123456789"))
    while sheet._cells.get((row, width + 1)) is not None:
        width += 1  # a row longer than the header
    lines = 1
    styled = None  # the first cell's styles: the others take its ids, not hash them again
    for column in range(1, width + 1):
        cell = sheet.cell(row=row, column=column)
        if styled is None:
            cell.alignment = WRAP_TOP
            if fill is not None:
                cell.fill = fill
            styled = cell._style
        else:
            ids = cell._style or StyleArray()
            ids.alignmentId = styled.alignmentId
            if fill is not None:
                ids.fillId = styled.fillId
            cell._style = ids
        letter = get_column_letter(column)
        wide = sheet.column_dimensions[letter].width or 10
        lines = max(lines, _lines(str(cell.value or ""), wide))
    sheet.row_dimensions[row].height = min(MAX_HEIGHT, 15 * lines)
    sheet.auto_filter.ref = f"{first}:{get_column_letter(width)}{row}"
