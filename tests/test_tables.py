"""Table forms (M3, M4, mẫu 01) and reports (bao-cao-nam, mẫu 02) as units really fill them.

Every file is made here with openpyxl or python-docx, laid out as the Tân Yên letter's
templates are: a title block, a header over two rows with merged cells, section rows by
field, the template's numbered and "..." rows left in, sometimes over several sheets.
"""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, field

import docx
import openpyxl
import pytest
from docx.table import Table

import parsers
from mail_ingest.samples import SampleEntry, mau01_xlsx, mau02_docx
from parsers.model import Entry, ParsedFile, Problem

Row = Sequence[object]

# --- making files ------------------------------------------------------------------------


@dataclass
class Sheet:
    title: str
    rows: Sequence[Row]
    merges: Sequence[str] = field(default_factory=list)


def xlsx(*sheets: Sheet) -> bytes:
    book = openpyxl.Workbook()
    assert book.active is not None
    book.remove(book.active)
    for sheet in sheets:
        ws = book.create_sheet(sheet.title)
        for row in sheet.rows:
            ws.append(list(row))
        for span in sheet.merges:
            ws.merge_cells(span)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def with_cached_values(data: bytes, values: dict[str, str]) -> bytes:
    """Give formula cells the cached value Excel would have saved (openpyxl cannot)."""
    source = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for item in source.infolist():
            content = source.read(item)
            if item.filename.startswith("xl/worksheets/sheet"):
                text = content.decode()
                for ref, value in values.items():
                    cell = re.compile(rf'<c r="{ref}"([^>]*)><f>(.*?)</f><v\s*/?>(</v>)?</c>')
                    text, n = cell.subn(
                        rf'<c r="{ref}"\1 t="str"><f>\2</f><v>{value}</v></c>', text
                    )
                    assert n == 1, text
                content = text.encode()
            target.writestr(item, content)
    return out.getvalue()


def word(paragraphs: Sequence[str], *tables: Sequence[Row], merges: Sequence[str] = ()) -> bytes:
    """A .docx: paragraphs, then tables; merges as "table:row,col:row,col" (0-based)."""
    document = docx.Document()
    for text in paragraphs:
        document.add_paragraph(text)
    made: list[Table] = []
    for rows in tables:
        width = max(len(r) for r in rows)
        table = document.add_table(rows=len(rows), cols=width)
        for r, row in enumerate(rows):
            for c, value in enumerate(row):
                if value is not None:
                    table.cell(r, c).text = str(value)
        made.append(table)
    for spec in merges:
        t, a, b = spec.split(":")
        (r1, c1), (r2, c2) = (tuple(int(n) for n in p.split(",")) for p in (a, b))
        table = made[int(t)]
        text = table.cell(r1, c1).text
        merged = table.cell(r1, c1).merge(table.cell(r2, c2))
        merged.text = text  # merge() joins the texts of all cells; keep the top-left one
    document.add_paragraph("T/M ĐẢNG ỦY")
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def parse(filename: str, data: bytes, hint: str = "") -> ParsedFile:
    return parsers.parse_file(filename, data, hint=hint)


def messages(parsed: ParsedFile) -> list[str]:
    return [p.message for p in parsed.problems]


# --- the letter's M3 and M4 --------------------------------------------------------------

TITLE = "DANH SÁCH ĐĂNG KÝ XÂY DỰNG MÔ HÌNH, ĐIỂN HÌNH “DÂN VẬN KHÉO” NĂM 2024"
HEADER = [
    "STT", "Địa chỉ xây dựng mô hình", "Tên mô hình", "Tập thể hoặc cá nhân",
    "Thời gian triển khai", None, "Dự kiến thời gian hoàn thành",
    "Mục tiêu đề ra (nêu dự kiến kế hoạch xây dựng)",
]  # fmt: skip
SUB_HEADER = [
    None, None, None, None,
    "Mô hình đã và đang hoạt động tiếp tục đăng ký để duy trì thực hiện năm 2023",
    "Mô hình đăng ký xây dựng mới trong năm 2024", None, None,
]  # fmt: skip
# The header sits in rows 6 and 7 under the unit's title block: every column but the
# period is merged down over both rows, "Thời gian triển khai" across its two sub-columns.
HEADER_MERGES = ["A6:A7", "B6:B7", "C6:C7", "D6:D7", "E6:F6", "G6:G7", "H6:H7"]
TITLE_BLOCK: list[Row] = [
    ["ĐẢNG BỘ HUYỆN TÂN YÊN", None, None, None, "ĐẢNG CỘNG SẢN VIỆT NAM"],
    ["ĐẢNG ỦY XÃ LIÊN SƠN"],
    [None, None, None, None, "Liên Sơn, ngày 20 tháng 02 năm 2024"],
    [TITLE],
    [],
]
SECTIONS_M3: list[Row] = [
    ["(1)", "(2)", "(3)", "(4)", "(5)", "(6)", "(7)", "(8)"],  # row 8: column numbers
    ["I- Lĩnh vực kinh tế (Xây dựng nông thôn mới; Phát triển kinh tế, nâng cao hiệu quả"
     " sản xuất; Hiến đất, xây dựng cơ sở hạ tầng)"],  # row 9
    [1, "Thôn Đông", "Cánh đồng lúa chất lượng cao", "Tập thể", "x", None, "12/2024",
     "Tăng thu nhập 10%"],  # row 10
    [2, "...", "...", "...", None, None, "...", "..."],  # row 11: left from the template
    ["…"],  # row 12
    ["II. LĨNH VỰC VĂN HÓA - XÃ HỘI"],  # row 13
    [1, "Tổ dân phố số 3", "Nhà sạch, vườn đẹp", "Cá nhân", None, "x", "Tháng 10/2024",
     "…"],  # row 14
    ["III- Lĩnh vực Quốc phòng – an ninh (Phòng chống tệ nạn xã hội; bảo vệ an ninh trật"
     " tự; an ninh giáp ranh và các mô hình tự quản về an ninh)"],  # row 15
    [1, "Thôn Tiền Phong", None, "Tập thể", "x"],  # row 16: no model name
    [2, "Thôn Hậu", "Camera an ninh", "Hội Nông dân", "x", "x"],  # row 17: two problems
    ["IV- Lĩnh vực xây dựng hệ thống chính trị (Xây dựng khối đại đoàn kết toàn dân; thực"
     " hiện QCDC; Góp ý xây dựng Đảng, xây dựng chính quyền trong sạch, vững mạnh....)"],
    [1, "Toàn xã", "Dân vận khéo trong thực hiện QCDC", "TT", None, "x"],  # row 19
    ["Tổng cộng: 5 mô hình"],
    [None, None, None, None, None, "T/M ĐẢNG ỦY"],
    [1, "Ngoài bảng", "Không được đọc", "Tập thể"],
]  # fmt: skip
M3_ENTRIES = [
    Entry(
        "Cánh đồng lúa chất lượng cao",
        "tap-the",
        "kinh-te",
        None,
        {
            "place": "Thôn Đông",
            "period": "tiep-tuc",
            "completion": "12/2024",
            "goals": "Tăng thu nhập 10%",
        },
    ),
    Entry(
        "Nhà sạch, vườn đẹp",
        "ca-nhan",
        "van-hoa-xa-hoi",
        None,
        {"place": "Tổ dân phố số 3", "period": "moi", "completion": "Tháng 10/2024"},
    ),
    Entry("Camera an ninh", None, "quoc-phong-an-ninh", None, {"place": "Thôn Hậu"}),
    Entry(
        "Dân vận khéo trong thực hiện QCDC",
        "tap-the",
        "xay-dung-dang",
        None,
        {"place": "Toàn xã", "period": "moi"},
    ),
]
M3_PROBLEMS = [
    "Dòng 16: chưa ghi tên mô hình",
    "Dòng 17: đánh dấu cả “mô hình tiếp tục đăng ký” và “mô hình đăng ký mới”; "
    "đề nghị chỉ đánh dấu một cột (mô hình tiếp tục hay đăng ký mới)",
    "Dòng 17: cột “Tập thể hoặc cá nhân” ghi “Hội Nông dân”, không rõ là gì; "
    "đề nghị ghi một trong: tập thể, cá nhân",
]


def m3_sheet(title: str = "DS") -> Sheet:
    return Sheet(title, [*TITLE_BLOCK, HEADER, SUB_HEADER, *SECTIONS_M3], HEADER_MERGES)


def test_m3_as_the_letter_lays_it_out() -> None:
    parsed = parse("Danh sach Lien Son.xlsx", xlsx(m3_sheet()))
    assert parsed.form == "M3"
    assert parsed.fields == {"don_vi": "ĐẢNG ỦY XÃ LIÊN SƠN", "ngay": "2024-02-20"}
    assert list(parsed.entries) == M3_ENTRIES
    assert messages(parsed) == M3_PROBLEMS
    assert [p.code for p in parsed.problems] == [
        "missing-value",
        "conflicting-marks",
        "unknown-value",
    ]


def test_m3_on_the_second_sheet_after_instructions() -> None:
    guide = Sheet("Hướng dẫn", [["Điền danh sách vào trang sau"], ["Tập thể hoặc cá nhân: ghi rõ"]])
    parsed = parse("DS dang ky DVK.xlsx", xlsx(guide, m3_sheet("Danh sách")))
    assert parsed.form == "M3"
    assert list(parsed.entries) == M3_ENTRIES
    assert messages(parsed)[0] == "Trang “Danh sách”, dòng 16: chưa ghi tên mô hình"


def test_a_list_split_over_sheets_is_read_from_every_sheet_whose_header_fits() -> None:
    first = Sheet("Trang 1", [HEADER[:4], [1, "Thôn Đông", "Đường làng sạch", "Tập thể"]])
    notes = Sheet("Ghi chú", [["Không có bảng ở đây"]])
    second = Sheet("Trang 2", [HEADER[:4], [2, "Thôn Bắc", None, "Cá nhân"], [3, "Thôn Nam"]])
    parsed = parse("M4.xlsx", xlsx(first, notes, second))
    assert parsed.form == "M4"
    assert list(parsed.entries) == [
        Entry("Đường làng sạch", "tap-the", None, None, {"place": "Thôn Đông"})
    ]
    assert messages(parsed) == [
        "Trang “Trang 2”, dòng 2: chưa ghi tên mô hình",
        "Trang “Trang 2”, dòng 3: chưa ghi rõ tập thể hay cá nhân",
        "Trang “Trang 2”, dòng 3: chưa ghi tên mô hình",
    ]


def m4_word(filename_rows: Sequence[Row] = ()) -> bytes:
    """An agency's M4 in Word: "Thời gian" over "Bắt đầu" and "Hoàn thành", a level column."""
    header = ["STT", "Tên mô hình", "Tập thể/Cá nhân", "Cấp", "Thời gian", None, "Mục tiêu"]
    sub = [None, None, None, None, "Bắt đầu", "Hoàn thành", None]
    rows = [
        header,
        sub,
        ["1", "2", "3", "4", "5", "6", "7"],
        ["1", "Một cửa thân thiện", "Tập thể", "cấp huyện", "01/2024", "12/2024", "100% hài lòng"],
        ["2", "Gương mẫu nơi cư trú", "Cá nhân", "Tỉnh", "03/2024", "…", "…"],
        ["3", "", "CN", "xã", "", "", ""],
        ["...", "", "", "", "", "", ""],
        *filename_rows,
    ]
    merges = ["0:0,0:1,0", "0:0,1:1,1", "0:0,2:1,2", "0:0,3:1,3", "0:0,4:0,5", "0:0,6:1,6"]
    head = ["CHI BỘ VĂN PHÒNG HUYỆN ỦY", "Tân Yên, ngày 26 tháng 02 năm 2024", TITLE]
    return word(head, rows, merges=merges)


M4_ENTRIES = [
    Entry(
        "Một cửa thân thiện",
        "tap-the",
        None,
        "huyen",
        {"start": "01/2024", "completion": "12/2024", "goals": "100% hài lòng"},
    ),
    Entry("Gương mẫu nơi cư trú", "ca-nhan", None, "tinh", {"start": "03/2024"}),
]


def test_m4_in_word_with_a_parent_heading_over_two_columns() -> None:
    parsed = parse("DS dang ky DVK.docx", m4_word())
    assert parsed.form == "M4"
    assert parsed.fields == {"don_vi": "CHI BỘ VĂN PHÒNG HUYỆN ỦY", "ngay": "2024-02-26"}
    assert list(parsed.entries) == M4_ENTRIES
    assert messages(parsed) == ["Dòng 6 của bảng: chưa ghi tên mô hình"]


def test_m3_in_word_with_section_rows_and_two_tables() -> None:
    header = ["STT", "Địa chỉ", "Tên mô hình", "Tập thể hoặc cá nhân", "Tiếp tục", "Mới"]
    first = [
        header,
        ["I. LĨNH VỰC KINH TẾ"] * 6,
        ["1", "Thôn Chằm", "Hiến đất làm đường", "Tập thể", "", "x"],
    ]
    second = [header, ["II- Lĩnh vực văn hóa – xã hội"] * 6, ["1", "Thôn Ngọc", "", "", "", ""]]
    parsed = parse("bieu.docx", word(["Mẫu M3", TITLE], first, second))
    assert parsed.form == "M3"
    assert list(parsed.entries) == [
        Entry(
            "Hiến đất làm đường",
            "tap-the",
            "kinh-te",
            None,
            {"place": "Thôn Chằm", "period": "moi"},
        )
    ]
    assert messages(parsed) == [
        "Bảng 2, dòng 3: chưa ghi rõ tập thể hay cá nhân",
        "Bảng 2, dòng 3: chưa ghi tên mô hình",
    ]


# --- formulas ------------------------------------------------------------------------------


def formula_book() -> bytes:
    rows: list[Row] = [
        ["STT", "Tên mô hình", "Tập thể/Cá nhân", "Dự kiến thời gian hoàn thành", "Nguồn"],
        [1, "=E2", "Tập thể", '=TEXT(DATE(2024,12,31),"mm/yyyy")', "Dân vận khéo ở bản"],
        [2, "=E3", "Cá nhân", "12/2024", "Tự quản"],
    ]
    return xlsx(Sheet("M4", rows))


def test_formulas_never_calculated_are_named_only_where_a_value_is_required() -> None:
    parsed = parse("M4.xlsx", formula_book())
    assert parsed.form == "M4"
    assert parsed.problems == (
        Problem(
            "uncalculated-formula",
            "Dòng 2: ô “Tên mô hình” có công thức nhưng chưa có giá trị (tệp chưa được tính "
            "lại); đề nghị mở tệp bằng Excel, lưu lại rồi gửi lại",
        ),
        Problem(
            "uncalculated-formula",
            "Dòng 3: ô “Tên mô hình” có công thức nhưng chưa có giá trị (tệp chưa được tính "
            "lại); đề nghị mở tệp bằng Excel, lưu lại rồi gửi lại",
        ),
        Problem("no-entries", "Biểu trong tệp 'M4.xlsx' chưa có dòng đăng ký nào"),
    )


def test_formulas_are_read_by_the_value_excel_saved() -> None:
    data = with_cached_values(formula_book(), {"B2": "Dân vận khéo ở bản", "D2": "12/2024"})
    parsed = parse("M4.xlsx", data)
    assert parsed.entries == (
        Entry("Dân vận khéo ở bản", "tap-the", None, None, {"completion": "12/2024"}),
    )
    assert messages(parsed) == [
        "Dòng 3: ô “Tên mô hình” có công thức nhưng chưa có giá trị (tệp chưa được tính "
        "lại); đề nghị mở tệp bằng Excel, lưu lại rồi gửi lại"
    ]


# --- which form ---------------------------------------------------------------------------


def test_m3_m4_and_mau_01_are_told_apart() -> None:
    m3 = xlsx(m3_sheet())
    no_sections = [r for r in SECTIONS_M3 if not (len(r) == 1 and r[0] != "…")]
    m4 = xlsx(Sheet("DS", [*TITLE_BLOCK, HEADER, SUB_HEADER, *no_sections], HEADER_MERGES))
    named_m3 = xlsx(
        Sheet("DS", [["Mẫu M3"], *TITLE_BLOCK[1:], HEADER, SUB_HEADER, *no_sections], HEADER_MERGES)
    )
    entry = SampleEntry("Hội Nông dân xã", "tap-the", "kinh-te", "huyen", "Cánh đồng mẫu")
    mau01 = mau01_xlsx("Đảng ủy xã Mường So", [entry])
    for filename in ("DS dang ky DVK.xlsx", "Danh sach dang ky.xlsx", "abc.xlsx"):
        assert parse(filename, m3).form == "M3", filename
        assert parse(filename, m4).form == "M4", filename
        assert parse(filename, named_m3).form == "M3", filename
        assert parse(filename, mau01).form == "mau-01", filename
    assert (
        parse("M3 Lien Son.xlsx", m4).form == "M3"
    )  # a file name is evidence; sections break ties
    assert parse("Mau 01.xlsx", mau01).form == "mau-01"
    assert parse("Mau M3.xlsx", mau01).form == "mau-01"


def test_an_m4_with_a_mau_01_name_still_reads_its_rows() -> None:
    """A file named like mẫu 01 but laid out as M4: the name wins, the rows are still read."""
    parsed = parse("Mau 01.docx", m4_word())
    assert parsed.form == "mau-01"
    assert [e.name for e in parsed.entries] == ["Một cửa thân thiện", "Gương mẫu nơi cư trú"]


# --- reports --------------------------------------------------------------------------------


def report(title: Sequence[str], body: str, *, above: Sequence[str] = ()) -> bytes:
    lines = [
        "ĐẢNG BỘ HUYỆN HÓN QUẢN",
        "ĐẢNG ỦY XÃ AN KHƯƠNG",
        "An Khương, ngày 20 tháng 10 năm 2024",
        *above,
        *title,
        body,
        "Nơi nhận:",
    ]
    document = docx.Document()
    for line in lines:
        document.add_paragraph(line)
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


BODY = (
    "Thực hiện Kế hoạch của Huyện ủy, Đảng ủy xã đã chỉ đạo các chi bộ, Mặt trận và đoàn thể "
    "đẩy mạnh phong trào thi đua; trong năm xây dựng được 12 mô hình, kết quả nổi bật là mô "
    "hình hiến đất làm đường giao thông nông thôn, mô hình tự quản về an ninh trật tự ở các "
    "ấp và mô hình dân vận khéo trong cải cách hành chính tại bộ phận một cửa của xã."
)
YEARLY = ["BÁO CÁO", "Kết quả thực hiện phong trào thi đua “Dân vận khéo” năm 2024"]


@pytest.mark.parametrize(
    ("title", "fields"),
    [
        (YEARLY, {"ky": "nam", "nam": "2024"}),
        (
            [
                "BÁO CÁO",
                "Kết quả thực hiện phong trào thi đua “Dân vận khéo”",
                "6 tháng đầu năm 2024",
            ],
            {"ky": "6-thang", "nam": "2024"},
        ),
        (
            ["BÁO CÁO KẾT QUẢ PHONG TRÀO THI ĐUA “DÂN VẬN KHÉO” QUÝ III NĂM 2024"],
            {"ky": "quy-3", "nam": "2024"},
        ),
        (["BÁO CÁO", "Sơ kết phong trào thi đua “Dân vận khéo”"], {}),
    ],
)
def test_periodic_reports_say_which_period(title: list[str], fields: dict[str, str]) -> None:
    parsed = parse("bao cao.docx", report(title, BODY))
    assert parsed.form == "bao-cao-nam"
    assert {k: v for k, v in parsed.fields.items() if k in ("ky", "nam")} == fields
    assert parsed.fields["don_vi"] == "ĐẢNG ỦY XÃ AN KHƯƠNG"
    assert parsed.problems == ()


def test_the_yearly_report_and_mau_02_are_told_apart() -> None:
    pilot = ["BÁO CÁO", "Tình hình thực hiện mô hình điểm “Dân vận khéo” năm 2024"]
    assert parse("bao cao.docx", report(pilot, BODY)).form == "mau-02"
    assert parse("bao cao.docx", report(YEARLY, BODY)).form == "bao-cao-nam"
    # The form's number outranks the more specific title of the yearly report.
    assert parse("x.docx", report(YEARLY, BODY, above=["Mẫu số 02"])).form == "mau-02"
    assert parse("Bao cao nam 2024.docx", report(["BÁO CÁO"], BODY)).form == "bao-cao-nam"
    sample = mau02_docx("Đảng ủy xã Mường So", ["Chè hữu cơ"])
    assert parse("Mau02.docx", sample).form == "mau-02"
    assert parse("bao cao.docx", sample).form == "mau-02"


def test_an_empty_yearly_report_asks_for_its_results() -> None:
    parsed = parse("BC nam.docx", report(YEARLY, "Không có."))
    assert parsed.form == "bao-cao-nam"
    assert messages(parsed) == [
        "Báo cáo trong tệp 'BC nam.docx' gần như chưa có nội dung (2 từ); đề nghị bổ sung kết "
        "quả thực hiện phong trào thi đua “Dân vận khéo” trong kỳ báo cáo và gửi lại"
    ]
