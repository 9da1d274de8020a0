"""The daily report as an Excel workbook the board opens, filters and forwards.

Three sheets: where every unit stands (coloured by status, as the staff colour their
own tracking sheet today), the consolidated list of every registered model from every
unit sorted by field (what they copy by hand today), and the messages waiting for a
person to decide which unit sent them.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from datetime import datetime
from zoneinfo import ZoneInfo

from openpyxl import Workbook
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet

from mail_ingest.report import LABELS
from parsers.model import FIELDS
from rules.status import UnitStatus

KIND_LABELS = {"tap-the": "Tập thể", "ca-nhan": "Cá nhân"}
FIELD_LABELS = {
    "xay-dung-dang": "Xây dựng Đảng và hệ thống chính trị",
    "kinh-te": "Phát triển kinh tế, bảo vệ môi trường",
    "van-hoa-xa-hoi": "Văn hóa - xã hội",
    "quoc-phong-an-ninh": "Quốc phòng - an ninh",
}
LEVEL_LABELS = {"tinh": "Cấp tỉnh", "huyen": "Cấp huyện", "xa": "Cấp xã"}
FILLS = {  # light tints that print well in black and white too
    "missing": "F8CBAD",
    "incomplete": "FFE699",
    "on_time": "C6EFCE",
    "late": "D9D2E9",
}
HEADER_FILL = PatternFill("solid", fgColor="DDEBF7")


def build(
    statuses: Sequence[UnitStatus],
    now: datetime,
    tz: ZoneInfo,
    held: Sequence[Mapping[str, str]] = (),
) -> bytes:
    """The workbook's bytes; `held` are messages awaiting review (received, sender, subject)."""
    book = Workbook()
    status_sheet = book.active
    assert status_sheet is not None
    _status(status_sheet, statuses, now, tz)
    _consolidated(book.create_sheet("Tổng hợp đăng ký"), statuses)
    _held(book.create_sheet("Thư chờ xem xét"), held)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _status(sheet: Worksheet, statuses: Sequence[UnitStatus], now: datetime, tz: ZoneInfo) -> None:
    sheet.title = "Tình trạng"
    sheet.append([f"Tình hình gửi biểu mẫu tính đến {now.astimezone(tz):%H:%M ngày %d/%m/%Y}"])
    sheet["A1"].font = Font(bold=True, size=13)
    columns = ["STT", "Đơn vị", "Yêu cầu", "Hạn gửi", "Trạng thái", "Hoàn thành lúc",
               "Biểu mẫu đã nhận", "Số nội dung", "Vấn đề cần khắc phục"]  # fmt: skip
    _header(sheet, columns, row=3)
    for i, s in enumerate(statuses, start=1):
        completed = (
            s.completed_at.astimezone(tz).strftime("%H:%M %d/%m/%Y") if s.completed_at else ""
        )
        sheet.append([
            i, s.unit.name, s.requirement.title, s.requirement.deadline.phrase(),
            LABELS[s.status], completed, ", ".join(s.forms),
            len(s.entries) if s.forms else None, "\n".join(f"- {p}" for p in s.problems),
        ])  # fmt: skip
        fill = PatternFill("solid", fgColor=FILLS[s.status])
        for cell in sheet[sheet.max_row]:
            cell.fill = fill
            cell.alignment = Alignment(vertical="top", wrap_text=True)
    _widths(sheet, [6, 34, 30, 24, 14, 18, 18, 10, 60])
    sheet.freeze_panes = "C4"
    sheet.auto_filter.ref = f"A3:{get_column_letter(len(columns))}{sheet.max_row}"


def _consolidated(sheet: Worksheet, statuses: Sequence[UnitStatus]) -> None:
    columns = ["STT", "Lĩnh vực", "Đơn vị", "Tên tập thể, cá nhân", "Tập thể/Cá nhân",
               "Tên mô hình", "Cấp", "Yêu cầu"]  # fmt: skip
    _header(sheet, columns, row=1)
    rows = [
        (e.field, s.unit.name, e.name, e.kind, e.extra.get("model", ""), e.level,
         s.requirement.title)
        for s in statuses
        for e in s.entries
    ]  # fmt: skip
    order = {field: i for i, field in enumerate(FIELDS)}
    rows.sort(key=lambda r: (order.get(r[0] or "", len(order)), r[1], r[2]))
    for i, (field, unit, name, kind, model, level, requirement) in enumerate(rows, start=1):
        sheet.append([
            i, FIELD_LABELS.get(field or "", "Chưa rõ lĩnh vực"), unit, name,
            KIND_LABELS.get(kind or "", ""), model, LEVEL_LABELS.get(level or "", ""), requirement,
        ])  # fmt: skip
    _widths(sheet, [6, 34, 30, 34, 14, 44, 12, 30])
    sheet.freeze_panes = "A2"
    if rows:
        sheet.auto_filter.ref = f"A1:{get_column_letter(len(columns))}{sheet.max_row}"


def _held(sheet: Worksheet, held: Sequence[Mapping[str, str]]) -> None:
    _header(sheet, ["STT", "Nhận lúc", "Người gửi", "Tiêu đề", "Đơn vị có thể là"], row=1)
    for i, message in enumerate(held, start=1):
        sheet.append([
            i, message.get("received", ""), message.get("sender", ""),
            message.get("subject", ""), message.get("guesses", ""),
        ])  # fmt: skip
    if not held:
        sheet.append(["", "Không có thư nào chờ xem xét."])
    _widths(sheet, [6, 18, 36, 50, 40])


def _header(sheet: Worksheet, columns: Sequence[str], row: int) -> None:
    for column, title in enumerate(columns, start=1):
        cell = sheet.cell(row=row, column=column, value=title)
        cell.font = Font(bold=True)
        cell.fill = HEADER_FILL
        cell.alignment = Alignment(horizontal="center", vertical="center", wrap_text=True)


def _widths(sheet: Worksheet, widths: Sequence[int]) -> None:
    for column, width in enumerate(widths, start=1):
        sheet.column_dimensions[get_column_letter(column)].width = width
