"""Which form a file is: a scored decision, with evidence against as well as for.

Non-forms are built here from code, in .docx and .xlsx, each with the look of an
official paper (the header block, the national motto, a title, a table with STT and
names): an invoice, meeting minutes, a CV, an attendance list, a list of award
proposals, and a letter that mentions "Dân vận khéo". None is a form, none yields entries.
"""

from __future__ import annotations

import io
import unicodedata
from collections.abc import Callable, Sequence

import docx
import openpyxl
import pytest

import parsers
from parsers.detect import _title_weights
from parsers.legacy import encode
from parsers.specs import builtin_specs

HEAD = ["ĐẢNG BỘ HUYỆN PHONG THỔ", "ĐẢNG ỦY XÃ MƯỜNG SO", "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM",
        "Độc lập - Tự do - Hạnh phúc", "Mường So, ngày 15 tháng 01 năm 2024"]  # fmt: skip
Table = Sequence[Sequence[str]]


def paper(title: Sequence[str], body: Sequence[str], table: Table = ()) -> tuple[list[str], Table]:
    return [*HEAD, *title, *body], table


NON_FORMS: dict[str, tuple[list[str], Table]] = {
    "invoice": paper(
        ["HÓA ĐƠN BÁN HÀNG"],
        ["Đơn vị bán hàng: Cửa hàng văn phòng phẩm Hòa Bình", "Người mua: Đảng ủy xã Mường So"],
        [
            ["STT", "Tên hàng", "Đơn vị tính", "Số lượng", "Đơn giá", "Thành tiền"],
            ["1", "Giấy A4", "Ram", "10", "75.000", "750.000"],
            ["2", "Bút bi", "Hộp", "5", "40.000", "200.000"],
            ["", "Cộng", "", "", "", "950.000"],
        ],
    ),
    "minutes": paper(
        ["BIÊN BẢN HỌP", "Chi bộ bản Nậm Củm"],
        [
            "Thời gian: 8 giờ 00 ngày 10/01/2024. Địa điểm: Nhà văn hóa bản.",
            "Thành phần: 12/14 đảng viên. Chủ trì: đồng chí Lò Văn Thắng, Bí thư chi bộ.",
            "Nội dung: triển khai phong trào thi đua Dân vận khéo năm 2024, đăng ký mô hình.",
            "Kết luận: giao đồng chí Tao Thị Xuân xây dựng mô hình Nhà sạch, vườn đẹp.",
        ],
        [["STT", "Họ và tên", "Chức vụ", "Ý kiến"], ["1", "Lò Văn Thắng", "Bí thư", "Nhất trí"]],
    ),
    "cv": paper(
        ["SƠ YẾU LÝ LỊCH"],
        [
            "Họ và tên: Lò Văn Thắng",
            "Ngày sinh: 12/03/1980",
            "Quê quán: xã Mường So",
            "Dân tộc: Thái",
            "Chức vụ: Bí thư chi bộ",
            "Đơn vị công tác: Đảng ủy xã Mường So",
        ],
        [["Thời gian", "Đơn vị công tác", "Chức vụ"], ["2005-2010", "UBND xã Mường So", "Cán bộ"]],
    ),
    "attendance": paper(
        ["DANH SÁCH ĐIỂM DANH", "Hội nghị triển khai phong trào thi đua “Dân vận khéo”"],
        [],
        [
            ["STT", "Họ và tên", "Chức vụ", "Đơn vị", "Ký tên"],
            ["1", "Lò Văn Thắng", "Bí thư", "Chi bộ bản Nậm Củm", ""],
            ["2", "Tao Thị Xuân", "Trưởng bản", "Bản Phiêng Pẳn", ""],
            ["3", "Vàng A Sử", "Chủ tịch Hội Nông dân", "Đảng ủy xã Mường So", ""],
        ],
    ),
    "awards": paper(
        [
            "DANH SÁCH ĐỀ NGHỊ KHEN THƯỞNG",
            "Tập thể, cá nhân có thành tích trong phong trào thi đua",
        ],
        [],
        [
            ["STT", "Tên tập thể, cá nhân", "Chức vụ, đơn vị", "Hình thức khen thưởng", "Ghi chú"],
            ["1", "Chi hội Phụ nữ bản Nậm Củm", "Xã Mường So", "Giấy khen", ""],
            ["2", "Lò Văn Thắng", "Bí thư chi bộ", "Giấy khen", ""],
        ],
    ),
    "letter": paper(
        [
            "Số: 12-CV/ĐU",
            "V/v triển khai phong trào thi đua “Dân vận khéo”",
            "Kính gửi: Các chi bộ trực thuộc",
        ],
        [
            "Thực hiện Công văn số 35-CV/BDVHU của Ban Dân vận Huyện ủy về việc đăng ký và "
            "báo cáo kết quả phong trào thi đua “Dân vận khéo” năm 2024, Đảng ủy xã đề nghị "
            "các chi bộ tổ chức đăng ký mô hình, điển hình “Dân vận khéo”, gửi danh sách về "
            "Văn phòng Đảng ủy trước ngày 25/01/2024.",
            "Nơi nhận:",
        ],
    ),
}


def as_docx(lines: Sequence[str], table: Table) -> bytes:
    document = docx.Document()
    for line in lines:
        document.add_paragraph(line)
    if table:
        grid = document.add_table(rows=len(table), cols=len(table[0]))
        for r, row in enumerate(table):
            for c, text in enumerate(row):
                grid.cell(r, c).text = text
    document.add_paragraph("T/M ĐẢNG ỦY")
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def as_xlsx(lines: Sequence[str], table: Table) -> bytes:
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    for line in lines:
        sheet.append([line])
    for row in table:
        sheet.append(list(row))
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


@pytest.mark.parametrize("fmt", ["docx", "xlsx"])
@pytest.mark.parametrize("kind", sorted(NON_FORMS))
def test_a_paper_that_is_no_form_yields_no_form_and_no_entries(kind: str, fmt: str) -> None:
    lines, table = NON_FORMS[kind]
    data = as_docx(lines, table) if fmt == "docx" else as_xlsx(lines, table)
    parsed = parsers.parse_file(f"tai-lieu.{fmt}", data, hint="Gửi Ban Dân vận")
    assert (parsed.form, parsed.entries) == (None, ()), parsed


@pytest.mark.parametrize("fmt", ["docx", "xlsx"])
def test_generic_headers_alone_never_make_a_form(fmt: str) -> None:
    table = [["STT", "Họ và tên", "Đơn vị", "Ghi chú"], ["1", "Lò Văn Thắng", "Xã Mường So", ""]]
    lines = ["ĐẢNG ỦY XÃ MƯỜNG SO", "DANH SÁCH"]
    data = as_docx(lines, table) if fmt == "docx" else as_xlsx(lines, table)
    assert parsers.parse_file(f"ds.{fmt}", data).form is None


@pytest.mark.parametrize("fmt", ["docx", "xlsx"])
def test_a_column_of_the_forms_vocabulary_tells_the_form_without_a_title(fmt: str) -> None:
    table = [
        ["STT", "Họ và tên", "Tập thể/Cá nhân", "Ghi chú", "Lĩnh vực"],
        ["1", "Hợp tác xã chè Mường So", "Tập thể", "", "Kinh tế"],
        ["2", "Lò Văn Thắng", "Cá nhân", "", "Xây dựng Đảng"],
    ]
    data = as_docx(["ĐẢNG ỦY XÃ MƯỜNG SO"], table) if fmt == "docx" else as_xlsx([], table)
    parsed = parsers.parse_file(f"scan.{fmt}", data)
    assert parsed.form == "mau-01" and len(parsed.entries) == 2


def test_title_words_weigh_by_how_few_specs_use_them() -> None:
    weights = _title_weights(builtin_specs())
    assert weights["ket"] > weights["mo"] > weights["kheo"]  # kết quả, mô hình, Dân vận khéo


def _stripped(text: str) -> str:
    text = text.replace("đ", "d").replace("Đ", "D")
    return "".join(c for c in unicodedata.normalize("NFD", text) if not unicodedata.combining(c))


# Every non-form rewritten as the forms are in the transformation suite.
REWRITES: dict[str, Callable[[str], str]] = {
    "nfd": lambda s: unicodedata.normalize("NFD", s),
    "no-diacritics": _stripped,
    "tcvn3": lambda s: encode(s, "tcvn3"),
    "vni": lambda s: encode(s, "vni"),
}


@pytest.mark.parametrize("fmt", ["docx", "xlsx"])
@pytest.mark.parametrize("rewrite", sorted(REWRITES))
@pytest.mark.parametrize("kind", sorted(NON_FORMS))
def test_a_non_form_stays_none_rewritten(kind: str, rewrite: str, fmt: str) -> None:
    """Re-encoded, or without diacritics, and sent under the form's subject: still no
    form and no entries."""
    f = REWRITES[rewrite]
    lines, table = NON_FORMS[kind]
    lines = [f(line) for line in lines]
    table = [[f(cell) for cell in row] for row in table]
    data = as_docx(lines, table) if fmt == "docx" else as_xlsx(lines, table)
    parsed = parsers.parse_file(f"tai-lieu.{fmt}", data, hint="Gửi biểu mẫu 01 Dân vận khéo")
    assert (parsed.form, parsed.entries) == (None, ()), parsed


# File names units give their forms: the only clue an invoice or a CV so named offers.
FORM_LIKE_NAMES = ("Mau 01", "mau01", "Mẫu số 01", "M01", "Mẫu 02", "MS02", "DS dang ky DVK",
                   "M1", "Mau M2", "bieu dang ky", "BC mo hinh")  # fmt: skip


@pytest.mark.parametrize("fmt", ["docx", "xlsx"])
@pytest.mark.parametrize("name", FORM_LIKE_NAMES)
@pytest.mark.parametrize("kind", sorted(NON_FORMS))
def test_a_non_form_named_like_a_form_is_a_doubt_not_a_complaint(
    kind: str, name: str, fmt: str
) -> None:
    """Recognised by its file name alone, a paper that is no form tells the unit nothing
    (every problem is the board's doubt), counts no rows, and is read with low confidence."""
    lines, table = NON_FORMS[kind]
    for rewrite in (lambda s: s, *REWRITES.values()):
        data = as_docx([rewrite(x) for x in lines], [[rewrite(c) for c in r] for r in table])
        if fmt == "xlsx":
            data = as_xlsx([rewrite(x) for x in lines], [[rewrite(c) for c in r] for r in table])
        parsed = parsers.parse_file(f"{name}.{fmt}", data, hint="Gửi biểu mẫu 01 Dân vận khéo")
        assert parsed.entries == (), parsed
        assert not any(p.certain for p in parsed.problems), parsed.problems
        if parsed.form is not None:
            assert parsed.confidence < 0.5 and parsed.inferred, parsed
