"""The daily report as an Excel workbook the board opens, filters and forwards.

Three sheets: where every unit stands (coloured by status, as the staff colour their
own tracking sheet today), the consolidated list of every registered model from every
unit sorted by field (what they copy by hand today), and the messages waiting for a
person to decide which unit sent them.

Strangers write much of what the cells hold (entry names, subjects, senders), so every
data cell goes through `_Sheet.data`: control characters removed (openpyxl refuses a BEL
and the whole report would fail), length within Excel's limit, and strings stored as
text with a quote prefix, so "=HYPERLINK(...)" or "=cmd|..." is shown, never computed,
even after someone edits the cell.

The sheets are written in openpyxl's write-only mode, row by row as they are made: a
report of 2,000 units holds ~20,000 cells, and a workbook kept whole in memory spent
most of its time on per-cell bookkeeping. Everything written at the top of a sheet
(column widths, frozen panes, fit to page) is set before its first row; each row's
height before the row. Cells of one look share one style record.
"""

from __future__ import annotations

import io
import math
from collections.abc import Generator, Mapping, Sequence
from datetime import datetime
from zoneinfo import ZoneInfo

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.worksheet._write_only import WriteOnlyWorksheet
from openpyxl.worksheet.worksheet import Worksheet
from openpyxl.xml.functions import Element

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
HEADER_FILL = "DDEBF7"
MAX_CELL = 32767  # Excel's limit on the characters of one cell
MAX_HEIGHT = 409  # points: Excel's tallest row
DEFAULT_WIDTH = 10  # what a column without a set width is taken to be


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
    book = Workbook(write_only=True)
    styles: dict[tuple[object, ...], str] = {}
    _status(_Sheet(book, "Tình trạng", styles), statuses, now, tz, notes, titles or {})
    _consolidated(_Sheet(book, "Tổng hợp đăng ký", styles), statuses)
    _held(_Sheet(book, "Thư chờ xem xét", styles), held)
    if checks or unknown:
        _checks(_Sheet(book, "Tệp cần kiểm tra", styles), checks, unknown)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


class _Sheet:
    """One write-only sheet and the row it is at: a title, a header, data rows."""

    def __init__(self, book: Workbook, title: str, styles: dict[tuple[object, ...], str]) -> None:
        sheet = book.create_sheet(title)
        assert isinstance(sheet, WriteOnlyWorksheet)
        self.sheet, self.styles = sheet, styles
        self.row = 0  # the last row written
        self.widths: list[float] = []  # the header's column widths
        self.width = 0  # columns the filter covers: the header's, widened by longer rows
        self.header = 0  # the header's row

    def style(
        self,
        *,
        bold: bool = False,
        size: float | None = None,
        fill: str | None = None,
        align: str | None = None,
        quote: bool = False,
    ) -> str:
        """The style id of a look ("" for none), registered once per workbook: hashing a
        font, fill and alignment per cell was most of a report's time."""
        key = (bold, size, fill, align, quote)
        found = self.styles.get(key)
        if found is None:
            cell = WriteOnlyCell(self.sheet)
            if bold or size:
                cell.font = Font(bold=bold, size=size) if size else Font(bold=bold)
            if fill:
                cell.fill = PatternFill("solid", fgColor=fill)
            if align == "top":
                cell.alignment = Alignment(vertical="top", wrap_text=True)
            elif align == "center":
                cell.alignment = Alignment(horizontal="center", vertical="center", wrap_text=True)
            if quote:
                cell.quotePrefix = True
            found = self.styles[key] = str(cell.style_id) if cell.has_style else ""
        return found

    def columns(self, columns: Sequence[tuple[str, int]], *, freeze: str | None = None) -> None:
        """Widths, frozen panes and a page setup that prints the sheet one A4 landscape
        page wide, with its header repeated on every page: all written at the top of
        the sheet, so set before its first row."""
        sheet = self.sheet
        self.widths = [float(width) for _, width in columns]
        self.width = len(columns)
        for column, (_, width) in enumerate(columns, start=1):
            sheet.column_dimensions[get_column_letter(column)].width = width
        if freeze:
            sheet.freeze_panes = freeze
        sheet.page_setup.orientation = "landscape"
        sheet.page_setup.paperSize = Worksheet.PAPERSIZE_A4
        sheet.page_setup.fitToWidth = 1
        sheet.page_setup.fitToHeight = 0  # as many pages down as it takes
        sheet.sheet_properties.pageSetUpPr.fitToPage = True

    def append(self, cells: Sequence[tuple[object, str]], *, height: float | None = None) -> None:
        """Write the next row: (value, style id) per column."""
        self.row += 1
        if self.sheet._rows is None:  # openpyxl closes it when the workbook is saved
            self.sheet._rows = _rows(self.sheet)
            next(self.sheet._rows)
        self.sheet._rows.send((self.row, height, cells))

    def skip(self) -> None:
        """Leave a row empty."""
        self.row += 1

    def title(self, text: str, columns: int) -> None:
        """The sheet's bold title in its first row, across the header's columns."""
        self.append([(text, self.style(bold=True, size=13))])
        self.sheet.merged_cells.add(f"A{self.row}:{get_column_letter(columns)}{self.row}")

    def head(self, columns: Sequence[tuple[str, int]]) -> None:
        """Bold titles that repeat on every printed page, with filters."""
        style = self.style(bold=True, fill=HEADER_FILL, align="center")
        lines = max(_lines(t, w) for t, w in columns)
        self.append([(text, style) for text, _ in columns], height=15 * lines)
        self.header = self.row
        self.sheet.print_title_rows = f"{self.row}:{self.row}"
        self._filter()

    def data(self, values: Sequence[object], fill: str | None = None) -> None:
        """A data row whose strings are text, whatever they begin with, wrapped and
        top-aligned, tall enough for its text (spreadsheet apps do not grow rows written
        by a program), inside the filter."""
        plain = self.style(fill=fill, align="top")
        quoted = self.style(fill=fill, align="top", quote=True)
        self.width = max(self.width, len(values))
        cells: list[tuple[object, str]] = []
        lines = 1
        for column in range(self.width):
            value = values[column] if column < len(values) else None
            if isinstance(value, str):
                value = _text(value)
                cells.append((value, quoted))
            else:
                cells.append((value, plain))
            wide = self.widths[column] if column < len(self.widths) else DEFAULT_WIDTH
            shown = value if isinstance(value, str) else "" if value is None else str(value)
            lines = max(lines, _lines(shown, wide))
        self.append(cells, height=min(MAX_HEIGHT, 15 * lines))
        self._filter()

    def text(self, values: Sequence[object]) -> None:
        """A row below the table: strings kept as text, no wrapping, no height set."""
        quoted = self.style(quote=True)
        self.append([(_text(v), quoted) if isinstance(v, str) else (v, "") for v in values])

    def note(self, text: str, *, column: int = 2) -> None:
        """Our own words in bold below the table, in `column`."""
        self.append([("", "")] * (column - 1) + [(text, self.style(bold=True))])

    def _filter(self) -> None:
        """Filters over the header and the data rows under it, as wide as the widest."""
        last = get_column_letter(self.width)
        self.sheet.auto_filter.ref = f"A{self.header}:{last}{self.row}"


# (row number, height or None, (value, style id) per column)
_Row = tuple[int, float | None, Sequence[tuple[object, str]]]
_SPACE = "{http://www.w3.org/XML/1998/namespace}space"


def _rows(sheet: WriteOnlyWorksheet) -> Generator[None, _Row, None]:
    """openpyxl's own loop for the rows of a write-only sheet (WriteOnlyWorksheet.
    _write_rows, which `close` ends the same way), writing each cell straight from its
    value and style id, as openpyxl's cell writer does, without a Cell object per cell:
    those were most of the time of a large report. Values are str, int or None."""
    sheet._get_writer()
    xf = sheet._writer.xf.send(True)
    with xf.element("sheetData"):
        try:
            while True:
                index, height, cells = yield
                attrs = {"r": str(index)}
                if height is not None:
                    attrs["ht"], attrs["customHeight"] = f"{height:g}", "1"
                with xf.element("row", attrs):
                    for column, (value, style) in enumerate(cells, start=1):
                        ref = {"r": f"{get_column_letter(column)}{index}"}
                        if style:
                            ref["s"] = style
                        if isinstance(value, str):
                            ref["t"] = "inlineStr"
                            with xf.element("c", ref):
                                if value and value != value.strip():  # as openpyxl does:
                                    text = Element("t", {_SPACE: "preserve"})  # an element,
                                    text.text = value  # not xf.element, for the xml prefix
                                    with xf.element("is"):
                                        xf.write(text)
                                elif value:
                                    with xf.element("is"), xf.element("t"):
                                        xf.write(value)
                        elif value is None:
                            if style:  # a styled empty cell: its fill, its borders
                                ref["t"] = "n"
                                xf.write(Element("c", ref))
                        elif isinstance(value, int | float) and not isinstance(value, bool):
                            ref["t"] = "n"
                            with xf.element("c", ref), xf.element("v"):
                                xf.write(str(value))
                        else:
                            raise TypeError(f"a report cell holds text or a number: {value!r}")
        except GeneratorExit:
            pass
    sheet._writer.xf.send(None)


def _status(
    sheet: _Sheet,
    statuses: Sequence[UnitStatus],
    now: datetime,
    tz: ZoneInfo,
    notes: Notes | None = None,
    titles: Mapping[str, str] | None = None,
) -> None:
    titles = titles or {}
    several = len({s.requirement.id for s in statuses}) > 1
    columns = [("STT", 6), ("Đơn vị", 32), *([("Yêu cầu", 28)] if several else []),
               ("Hạn gửi", 22), ("Trạng thái", 13), ("Hoàn thành lúc", 17),
               ("Biểu mẫu đã nhận", 40), ("Số nội dung", 9),
               ("Vấn đề cần khắc phục", 70)]  # fmt: skip
    noted = [notes_of(s, notes) for s in statuses]
    if any(noted):  # a person decided, or mail counts only provisionally (standing.notes)
        columns.append(("Ghi chú", 50))
    sheet.columns(columns, freeze="C4")
    sheet.title(f"Tình hình gửi biểu mẫu tính đến {wording.clock(now, tz)}", len(columns))
    sheet.skip()
    sheet.head(columns)
    for i, s in enumerate(statuses, start=1):
        completed = wording.stamp(s.completed_at, tz) if s.completed_at else ""
        sheet.data([
            i, s.unit.name, *([s.requirement.title] if several else []),
            s.deadline_phrase, wording.STATUS_LABELS[s.status], completed,
            "\n".join(wording.form_name(f, titles) for f in s.forms),
            len(s.entries) if s.forms else None,
            wording.name_forms(
                "\n".join([f"- {p}" for p in s.problems] + [f"? {d}" for d in doubts(s)]),
                titles,
            ),
            *(["\n".join(noted[i - 1])] if any(noted) else []),
        ], FILLS[s.status])  # fmt: skip


def _consolidated(sheet: _Sheet, statuses: Sequence[UnitStatus]) -> None:
    several = len({s.requirement.id for s in statuses}) > 1
    columns = [("STT", 6), ("Lĩnh vực", 26), ("Đơn vị", 28), ("Tên tập thể, cá nhân", 34),
               ("Tập thể/ Cá nhân", 10), ("Tên mô hình", 46), ("Cấp", 10),
               *([("Yêu cầu", 28)] if several else [])]  # fmt: skip
    sheet.columns(columns, freeze="A2")
    sheet.head(columns)
    rows = [(e, s) for s in statuses for e in s.entries]
    order = {field: i for i, field in enumerate(FIELDS)}
    rows.sort(key=lambda r: (order.get(r[0].field or "", len(order)), r[1].unit.name, r[0].name))
    for i, (e, s) in enumerate(rows, start=1):
        sheet.data([
            i, FIELD_LABELS.get(e.field or "", "Chưa rõ lĩnh vực"), s.unit.name, e.name,
            KIND_LABELS.get(e.kind or "", ""), e.extra.get("model", ""),
            LEVEL_LABELS.get(e.level or "", ""), *([s.requirement.title] if several else []),
        ])  # fmt: skip


def _held(sheet: _Sheet, held: Sequence[Mapping[str, str]]) -> None:
    columns = [("STT", 6), ("Nhận lúc", 17), ("Người gửi", 34), ("Tiêu đề", 50),
               ("Đơn vị có thể là", 40)]  # fmt: skip
    sheet.columns(columns)
    sheet.head(columns)
    for i, message in enumerate(held, start=1):
        sheet.data([i, *(message.get(k, "") for k in ("received", "sender", "subject", "guesses"))])
    if not held:
        sheet.append([("", ""), ("Không có thư nào chờ xem xét.", "")])


def _checks(
    sheet: _Sheet, checks: Sequence[Mapping[str, str]], unknown: Sequence[tuple[str, int]]
) -> None:
    columns = [("Mã tệp", 8), ("Nhận lúc", 17), ("Đơn vị", 28), ("Tệp", 34),
               ("Độ tin cậy", 10), ("Điểm cần kiểm tra", 70)]  # fmt: skip
    sheet.columns(columns)
    sheet.head(columns)
    for c in checks:
        keys = ("received", "unit", "filename", "confidence", "doubts")
        sheet.data([int(c["id"]), *(c.get(k, "") for k in keys)])
    if unknown:
        sheet.skip()
        sheet.note("Tiêu đề cột, giá trị chưa nhận biết được (nhiều nhất trước)")
        for text, count in unknown:
            sheet.text([count, text])


def _text(value: str) -> str:
    """What a cell may hold: printable, line breaks kept, within Excel's length."""
    text = printable(value, newlines=True)
    return text if len(text) <= MAX_CELL else text[: MAX_CELL - 1] + "…"


def _lines(text: str, width: float) -> int:
    """About how many lines a wrapped cell of this width needs."""
    per = max(width * 1.1, 1)
    if "\n" not in text:  # most cells: said once, not split
        return max(1, math.ceil(len(text) / per)) if len(text) > per else 1
    return sum(max(1, math.ceil(len(line) / max(width * 1.1, 1))) for line in text.split("\n"))
