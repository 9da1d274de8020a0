"""Filled-in forms as the units really send them, for the demo and the tests.

mẫu 01 comes as Excel (a "I. Lĩnh vực ..." row over each run of entries of one field, the
field given only by the section) or as a Word table (an "A. Tập thể" / "B. Cá nhân" row over
each run of one kind, with a field column). Entries keep the caller's order. Both have the
usual header block, template numbering row and signature block. mẫu 02 is a short report
on the pilot models. Output is byte-for-byte deterministic: fixed document dates and zip
timestamps, and no randomness (variation is chosen by position).
"""

from __future__ import annotations

import io
import re
import zipfile
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from itertools import groupby

import docx
import openpyxl
from docx.enum.section import WD_ORIENT
from docx.enum.text import WD_ALIGN_PARAGRAPH
from docx.shared import Cm, Pt
from docx.table import Table, _Cell
from openpyxl.styles import Alignment, Border, Font, Side

from parsers.model import KIND_LABELS, LEVEL_LABELS

SUPERIOR = "ĐẢNG BỘ HUYỆN PHONG THỔ"
TITLE = "BIỂU TỔNG HỢP ĐĂNG KÝ THI ĐUA “DÂN VẬN KHÉO” NĂM 2024"
BASIS = "(Kèm theo Công văn số 35-CV/BDVHU ngày 23/01/2024 của Ban Dân vận Huyện ủy Phong Thổ)"
DOC_DATE = datetime(2024, 1, 25, 8, 0)
ZIP_TIME = (2024, 1, 25, 8, 0, 0)

FIELD_TEXT = {
    "xay-dung-dang": "Xây dựng Đảng",
    "kinh-te": "Kinh tế",
    "van-hoa-xa-hoi": "Văn hóa - Xã hội",
    "quoc-phong-an-ninh": "Quốc phòng - An ninh",
}
FIELD_SECTION = {
    "xay-dung-dang": "Lĩnh vực xây dựng Đảng và hệ thống chính trị",
    "kinh-te": "Lĩnh vực phát triển kinh tế, bảo vệ môi trường",
    "van-hoa-xa-hoi": "Lĩnh vực văn hóa - xã hội",
    "quoc-phong-an-ninh": "Lĩnh vực quốc phòng - an ninh",
}
ROMAN = ("I", "II", "III", "IV", "V", "VI", "VII", "VIII", "IX", "X", "XI", "XII")
SIGNERS = ("Lò Văn Pọm", "Tẩn Láo Lở", "Vàng Thị Sua", "Lý A Chang", "Hoàng Văn Định")


@dataclass(frozen=True)
class SampleEntry:
    """One row of mẫu 01; kind, field and level use the ids of parsers.model."""

    name: str
    kind: str
    field: str
    level: str | None
    model: str


def mau01_xlsx(unit_name: str, entries: Sequence[SampleEntry]) -> bytes:
    """mẫu 01 as an Excel workbook, with a field section row wherever the field changes."""
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = "Mẫu 01"
    for column, width in zip("ABCDEF", (6, 38, 13, 48, 14, 14), strict=True):
        sheet.column_dimensions[column].width = width
    bold, italic = (
        Font(name="Times New Roman", bold=True),
        Font(name="Times New Roman", italic=True),
    )
    center = Alignment(horizontal="center", vertical="center", wrap_text=True)

    def put(row: int, span: str, text: str, font: Font | None = None) -> None:
        first = span.split(":")[0]
        sheet[first] = text
        sheet[first].alignment = center
        if font:
            sheet[first].font = font
        sheet.merge_cells(span)

    put(1, "A1:C1", SUPERIOR)
    put(
        1,
        "D1:F1",
        "ĐẢNG CỘNG SẢN VIỆT NAM",
        Font(name="Times New Roman", bold=True, underline="single"),
    )
    put(2, "A2:C2", unit_name.upper(), bold)
    put(3, "A3:C3", "*")
    put(3, "D3:F3", f"{_place(unit_name)}, ngày 25 tháng 01 năm 2024", italic)
    put(5, "A5:F5", TITLE, Font(name="Times New Roman", bold=True, size=14))
    put(6, "A6:F6", BASIS, italic)

    thin = Side(style="thin")
    box = Border(left=thin, right=thin, top=thin, bottom=thin)
    headers = (
        "TT",
        "Tên tập thể, cá nhân đăng ký",
        "Tập thể/Cá nhân",
        "Tên mô hình",
        "Cấp công nhận",
        "Ghi chú",
    )
    rows: list[tuple[object, ...]] = [headers, tuple(f"({i})" for i in range(1, 7))]
    number = 0
    for n, (field, group) in enumerate(groupby(entries, key=lambda e: e.field)):
        rows.append((ROMAN[n % len(ROMAN)], FIELD_SECTION[field]))
        for e in group:
            number += 1
            rows.append(
                (number, e.name, KIND_LABELS[e.kind], e.model, LEVEL_LABELS.get(e.level or "", ""))
            )
    for offset, values in enumerate(rows):
        r = 8 + offset
        for c in range(6):
            cell = sheet.cell(r, c + 1, values[c] if c < len(values) else None)
            cell.border = box
            cell.alignment = center if c in (0, 2, 4) or offset < 2 else Alignment(wrap_text=True)
            if offset == 0 or values[0] in ROMAN:
                cell.font = bold
        if values[0] in ROMAN:
            sheet.merge_cells(start_row=r, start_column=2, end_row=r, end_column=6)

    r = 8 + len(rows) + 1
    signature = ("T/M " + _body(unit_name), "BÍ THƯ", "", "(Đã ký)", "", _signer(unit_name))
    recipients = ("Nơi nhận:", "- Ban Dân vận Huyện ủy (b/c);", "- Lưu VP.")
    for i, line in enumerate(signature):
        put(r + i, f"D{r + i}:F{r + i}", line, bold if i < 2 or i == 5 else italic)
    for i, line in enumerate(recipients):
        sheet.cell(r + i, 1, line).font = Font(name="Times New Roman", italic=i == 0, size=10)
    book.properties.creator = unit_name
    book.properties.title = TITLE
    book.properties.created = DOC_DATE
    out = io.BytesIO()
    book.save(out)
    return _deterministic(out.getvalue())


def mau01_docx(unit_name: str, entries: Sequence[SampleEntry]) -> bytes:
    """mẫu 01 as a Word table, with a kind section row wherever the kind changes."""
    document = _document(unit_name, landscape=True)
    _heading(document, TITLE, BASIS)
    headers = ("TT", "Tên tập thể, cá nhân", "Tên mô hình", "Lĩnh vực", "Cấp", "Ghi chú")
    table = document.add_table(rows=2, cols=len(headers))
    table.style = "Table Grid"
    for i, text in enumerate(headers):
        _write(table.cell(0, i), text, bold=True, center=True)
        _write(table.cell(1, i), f"({i + 1})", italic=True, center=True)
    for n, (kind, group) in enumerate(groupby(entries, key=lambda e: e.kind)):
        letter = "ABCDEFGH"[n % 8]
        row = table.add_row()
        merged = row.cells[0].merge(row.cells[-1])
        _write(merged, f"{letter}. {KIND_LABELS[kind].upper()}", bold=True)
        for n, e in enumerate(group, start=1):
            cells = table.add_row().cells
            values = (
                str(n),
                e.name,
                e.model,
                FIELD_TEXT[e.field],
                LEVEL_LABELS.get(e.level or "", ""),
                "",
            )
            for i, text in enumerate(values):
                _write(cells[i], text, center=i in (0, 3, 4))
    for i, width in enumerate((Cm(1.2), Cm(6.5), Cm(8.5), Cm(4), Cm(2.8), Cm(2.5))):
        for cell in table.columns[i].cells:
            cell.width = width
    _signature(document, unit_name)
    return _save(document, unit_name, TITLE)


def mau02_docx(unit_name: str, models: Sequence[str]) -> bytes:
    """mẫu 02: a short report on how each pilot model is going."""
    document = _document(unit_name, landscape=False)
    title = "Tình hình thực hiện mô hình điểm “Dân vận khéo” năm 2024"
    _heading(document, "BÁO CÁO", title)
    document.add_paragraph(
        "Thực hiện Công văn số 35-CV/BDVHU ngày 23/01/2024 của Ban Dân vận Huyện ủy về tiếp tục "
        f"đẩy mạnh thực hiện phong trào thi đua “Dân vận khéo” năm 2024, {unit_name} báo cáo "
        "tình hình thực hiện mô hình điểm như sau:"
    )
    _section(document, "I. TÌNH HÌNH CHUNG")
    document.add_paragraph(
        f"{unit_name} đã quán triệt, triển khai phong trào thi đua “Dân vận khéo” đến các chi "
        "bộ, đoàn thể và cán bộ, đảng viên; ban hành kế hoạch xây dựng mô hình điểm, phân công "
        "đồng chí cấp ủy viên phụ trách từng mô hình. Các mô hình được lựa chọn gắn với nhiệm "
        "vụ chính trị của địa phương, đơn vị, được Nhân dân đồng tình hưởng ứng."
    )
    _section(document, "II. KẾT QUẢ THỰC HIỆN CÁC MÔ HÌNH ĐIỂM")
    if not models:
        document.add_paragraph("Trong kỳ, đơn vị chưa triển khai mô hình điểm nào.")
    for i, model in enumerate(models):
        heading = document.add_paragraph()
        heading.add_run(f"{i + 1}. Mô hình “{_bare(model)}”").bold = True
        document.add_paragraph(PROGRESS[i % len(PROGRESS)])
    _section(document, "III. KHÓ KHĂN, VƯỚNG MẮC")
    document.add_paragraph(
        "Địa bàn rộng, giao thông đi lại khó khăn, nhất là vào mùa mưa; một bộ phận Nhân dân "
        "còn trông chờ, ỷ lại; nguồn lực hỗ trợ xây dựng mô hình còn hạn chế."
    )
    _section(document, "IV. PHƯƠNG HƯỚNG, ĐỀ XUẤT")
    document.add_paragraph(
        "Tiếp tục duy trì, nhân rộng các mô hình có hiệu quả; đề nghị Ban Dân vận Huyện ủy quan "
        "tâm hướng dẫn, hỗ trợ kinh phí và tổ chức tham quan, học tập kinh nghiệm các mô hình "
        "tiêu biểu trong tỉnh."
    )
    _signature(document, unit_name)
    return _save(document, unit_name, f"Báo cáo {title}")


PROGRESS = (
    "Cấp ủy đã xây dựng kế hoạch, giao chi bộ trực tiếp chỉ đạo; tổ chức họp dân tuyên truyền, "
    "vận động. Đến nay đã có đông đảo hộ gia đình tham gia, bước đầu mang lại hiệu quả rõ rệt.",
    "Mô hình được triển khai từ đầu năm, huy động được sự tham gia của các đoàn thể và Nhân dân; "
    "đã tổ chức sơ kết, rút kinh nghiệm và đề ra biện pháp duy trì trong thời gian tới.",
    "Thông qua mô hình, nhận thức của cán bộ, đảng viên và Nhân dân được nâng lên; nhiều hộ "
    "đã tự nguyện đóng góp ngày công, vật liệu để thực hiện các phần việc của mô hình.",
)


def warm_up_forms() -> dict[str, bytes]:
    """One form of each kind, by file name: what each sandbox server parses as it starts
    (mail_ingest.sandbox), which reads them as written out once into mail_ingest/warmup/."""
    entries = [SampleEntry("Hợp tác xã chè", "tap-the", "kinh-te", "xa", "Chè")]
    return {
        "mau-01.xlsx": mau01_xlsx("Đảng ủy xã A", entries),
        "mau-01.docx": mau01_docx("Đảng ủy xã A", entries),
        "mau-02.docx": mau02_docx("Đảng ủy xã A", ["Mô hình"]),
    }


def _place(unit_name: str) -> str:
    """Where the document is dated: the commune's name, else the district's."""
    m = re.search(r"\b(?:xã|thị trấn)\s+(.+)$", unit_name, re.IGNORECASE)
    return m.group(1) if m else "Phong Thổ"


def _body(unit_name: str) -> str:
    lower = unit_name.lower()
    return "CHI BỘ" if lower.startswith("chi bộ") else "ĐẢNG ỦY" if "đảng" in lower else "ĐƠN VỊ"


def _signer(unit_name: str) -> str:
    return SIGNERS[zlib.crc32(unit_name.encode()) % len(SIGNERS)]


def _bare(model: str) -> str:
    """“Nhà sạch, vườn đẹp” without its quotes or a leading "Mô hình"."""
    return re.sub(r"^mô hình\s+", "", model.strip('“”" '), flags=re.IGNORECASE).strip('“”" ')


# --- Word --------------------------------------------------------------------------------


def _document(unit_name: str, *, landscape: bool) -> docx.document.Document:
    document = docx.Document()
    style = document.styles["Normal"]
    style.font.name = "Times New Roman"
    style.font.size = Pt(13)
    section = document.sections[0]
    section.page_width, section.page_height = Cm(21), Cm(29.7)
    if landscape:
        section.orientation = WD_ORIENT.LANDSCAPE
        section.page_width, section.page_height = Cm(29.7), Cm(21)
    section.left_margin = section.right_margin = Cm(2)
    layout = document.add_table(rows=1, cols=2)  # the header block, a borderless table
    left, right = layout.rows[0].cells
    _write(left, SUPERIOR, center=True)
    left.add_paragraph().add_run(unit_name.upper()).bold = True
    left.add_paragraph("*")
    _write(right, "ĐẢNG CỘNG SẢN VIỆT NAM", bold=True, center=True)
    date = right.add_paragraph().add_run(f"{_place(unit_name)}, ngày 25 tháng 01 năm 2024")
    date.italic = True
    for cell in (left, right):
        for p in cell.paragraphs:
            p.alignment = WD_ALIGN_PARAGRAPH.CENTER
    return document


def _heading(document: docx.document.Document, title: str, subtitle: str) -> None:
    for text, bold in ((title, True), (subtitle, title == "BÁO CÁO")):
        p = document.add_paragraph()
        p.alignment = WD_ALIGN_PARAGRAPH.CENTER
        run = p.add_run(text)
        run.bold, run.italic = bold, not bold
    document.add_paragraph("-----").alignment = WD_ALIGN_PARAGRAPH.CENTER


def _section(document: docx.document.Document, text: str) -> None:
    document.add_paragraph().add_run(text).bold = True


def _signature(document: docx.document.Document, unit_name: str) -> None:
    table: Table = document.add_table(rows=1, cols=2)
    left, right = table.rows[0].cells
    _write(left, "Nơi nhận:", bold=True, italic=True)
    for line in ("- Ban Dân vận Huyện ủy (b/c);", "- Lưu VP."):
        left.add_paragraph(line)
    _write(right, f"T/M {_body(unit_name)}", bold=True, center=True)
    for line, bold in (
        ("BÍ THƯ", True),
        ("(Đã ký)", False),
        ("", False),
        (_signer(unit_name), True),
    ):
        p = right.add_paragraph()
        p.alignment = WD_ALIGN_PARAGRAPH.CENTER
        p.add_run(line).bold = bold


def _write(
    cell: _Cell, text: str, *, bold: bool = False, italic: bool = False, center: bool = False
) -> None:
    p = cell.paragraphs[0]
    run = p.add_run(text)
    run.bold, run.italic = bold, italic
    if center:
        p.alignment = WD_ALIGN_PARAGRAPH.CENTER


def _save(document: docx.document.Document, unit_name: str, title: str) -> bytes:
    props = document.core_properties
    props.author = props.last_modified_by = unit_name
    props.title = title
    props.created = props.modified = DOC_DATE
    props.revision = 1
    out = io.BytesIO()
    document.save(out)
    return _deterministic(out.getvalue())


# --- both --------------------------------------------------------------------------------

_CORE_DATES = re.compile(rb"(<dcterms:(?:created|modified)[^>]*>)[^<]*(</dcterms:)")


def _deterministic(package: bytes) -> bytes:
    """The same package with fixed zip timestamps and document dates.

    Both libraries stamp members with the current time, and openpyxl sets the modified
    date on save, so two calls a second apart would differ.
    """
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(package)) as source, zipfile.ZipFile(out, "w") as target:
        for member in source.infolist():
            data = source.read(member)
            if member.filename == "docProps/core.xml":
                data = _CORE_DATES.sub(rb"\g<1>2024-01-25T01:00:00Z\g<2>", data)
            info = zipfile.ZipInfo(member.filename, date_time=ZIP_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            target.writestr(info, data)
    return out.getvalue()
