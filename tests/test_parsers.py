"""parsers: forms as units send them, and every way a file can be bad, without an exception."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterable, Sequence

import docx
import openpyxl
import pytest
from docx.oxml.ns import qn
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import parsers
from mail_ingest.samples import SampleEntry, mau01_docx, mau01_xlsx, mau02_docx
from parsers import office
from parsers.model import Entry, ParsedFile
from parsers.text import fold, has_phrase, words

UNIT = "Đảng ủy xã Mường So"
S = SampleEntry
ENTRIES = [
    S("Hợp tác xã chè Shan tuyết Mường So", "tap-the", "kinh-te", "huyen", "Chè hữu cơ"),
    S("Chi hội Phụ nữ bản Nậm Củm", "tap-the", "van-hoa-xa-hoi", "xa", "“Nhà sạch, vườn đẹp”"),
    S("Lò Văn Thắng, Bí thư chi bộ bản Khổng Khau", "ca-nhan", "xay-dung-dang", "xa", "Hiến đất"),
    S("Tao Thị Xuân, Trưởng bản Phiêng Pẳn", "ca-nhan", "quoc-phong-an-ninh", None, "Tổ tự quản"),
]  # fmt: skip


def expected(entries: Iterable[SampleEntry]) -> list[Entry]:
    return sorted(
        (Entry(e.name, e.kind, e.field, e.level, {"model": e.model}) for e in entries),
        key=lambda e: e.name,
    )


def by_name(parsed: ParsedFile) -> list[Entry]:
    return sorted(parsed.entries, key=lambda e: e.name)


def codes(parsed: ParsedFile) -> list[str]:
    return [p.code for p in parsed.problems]


def xlsx(*sheets: tuple[str, Sequence[Sequence[object]]], merges: Sequence[str] = ()) -> bytes:
    """A workbook with these rows per sheet (the first row is row 1)."""
    book = openpyxl.Workbook()
    assert book.active is not None
    book.remove(book.active)
    for title, rows in sheets:
        sheet = book.create_sheet(title)
        for row in rows:
            sheet.append(list(row))
        for span in merges:
            sheet.merge_cells(span)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


# --- the sample generator, round trip ---------------------------------------------------


def test_mau01_xlsx_round_trip() -> None:
    parsed = parsers.parse_file("Mau 01 - Muong So.xlsx", mau01_xlsx(UNIT, ENTRIES))
    assert (parsed.form, parsed.problems) == ("mau-01", ())
    assert by_name(parsed) == expected(ENTRIES)
    assert parsed.fields == {"don_vi": "ĐẢNG ỦY XÃ MƯỜNG SO", "ngay": "2024-01-25"}


def test_mau01_docx_round_trip_without_a_telling_name() -> None:
    parsed = parsers.parse_file("scan.docx", mau01_docx(UNIT, ENTRIES))
    assert (parsed.form, parsed.problems) == ("mau-01", ())
    assert by_name(parsed) == expected(ENTRIES)
    assert parsed.fields["don_vi"] == "ĐẢNG ỦY XÃ MƯỜNG SO"


def test_mau02_is_recognised_with_unit_and_title() -> None:
    parsed = parsers.parse_file("tai lieu.docx", mau02_docx(UNIT, [e.model for e in ENTRIES]))
    assert (parsed.form, parsed.problems, parsed.entries) == ("mau-02", (), ())
    assert parsed.fields["don_vi"] == "ĐẢNG ỦY XÃ MƯỜNG SO"
    assert parsed.fields["tieu_de"].startswith("BÁO CÁO Tình hình thực hiện mô hình điểm")
    assert int(parsed.fields["so_tu"]) > 200


def test_an_agency_dated_in_the_district_keeps_its_own_name() -> None:
    data = mau01_xlsx("Chi bộ Văn phòng HĐND - UBND huyện", ENTRIES[:1])
    parsed = parsers.parse_file("vp.xlsx", data)
    assert parsed.fields["don_vi"] == "CHI BỘ VĂN PHÒNG HĐND - UBND HUYỆN"


def test_workbooks_are_read_in_read_only_mode_with_their_merged_cells() -> None:
    data = mau01_xlsx(UNIT, ENTRIES)
    [grid] = [b for b in office.read(data).blocks if isinstance(b, office.Grid)]
    title_rows = [row for row in grid.rows if any("BIỂU TỔNG HỢP" in c.upper() for c in row)]
    assert title_rows and all(len(set(row)) == 1 for row in title_rows)  # merged across
    parsed = parsers.parse_file("Mau 01.xlsx", mau01_xlsx(UNIT, ENTRIES))
    assert (by_name(parsed), parsed.problems) == (expected(ENTRIES), ())


def test_a_workbook_under_a_word_name_is_read_as_a_workbook() -> None:
    parsed = parsers.parse_file("Mau 01.docx", mau01_xlsx(UNIT, ENTRIES))
    assert by_name(parsed) == expected(ENTRIES)


def test_samples_are_deterministic() -> None:
    assert mau01_xlsx(UNIT, ENTRIES) == mau01_xlsx(UNIT, ENTRIES)
    assert mau01_docx(UNIT, ENTRIES) == mau01_docx(UNIT, ENTRIES)
    assert mau02_docx(UNIT, ["A"]) == mau02_docx(UNIT, ["A"])


def test_the_builtin_specs_are_used_by_default() -> None:
    assert {"mau-01", "mau-02"} <= {s.id for s in parsers.builtin_specs()}
    data = mau01_xlsx(UNIT, ENTRIES)
    assert parsers.parse_file("a.xlsx", data) == parsers.parse_file(
        "a.xlsx", data, parsers.builtin_specs()
    )


# --- tables as districts word them ------------------------------------------------------

HEAD = [
    ["HUYỆN ỦY PHONG THỔ", None, None, "ĐẢNG CỘNG SẢN VIỆT NAM"],
    ["Chi bộ Trung tâm Y tế huyện"],
    [],
    ["DANH SÁCH ĐĂNG KÝ THI ĐUA DÂN VẬN KHÉO NĂM 2024"],
    [],
]


def test_other_wording_header_on_row_6_abbreviations_and_row_problems() -> None:
    rows = [
        *HEAD,
        ["Số TT", "Họ và tên", "Loại", "Tên mô hình, điển hình", "Lĩnh vực", "Cấp", "Ghi chú"],
        [1, 2, 3, 4, 5, 6, 7],  # the template's column numbers
        [1, "Khoa Dược", "TT", "Cấp thuốc tận bản", "VH-XH", "cơ sở", "Mới"],
        [2, "Bác sĩ Lò Thị Ngọc", "CN", "Khám bệnh lưu động", "văn hoá, xã hội", "Huyện", None],
        [3, "Phòng Kế hoạch", None, "Tiêm chủng đủ liều", "QP-AN", None, None],
        [4, "Lường Văn Ất", "cá nhân", "Nuôi cá lồng", "thể thao", "Tỉnh", None],
        ["...", "...", None, "…", None, None, None],
        [None, None, None, "Mường So, ngày 20 tháng 01 năm 2024"],
        [None, "Người lập biểu", None, "GIÁM ĐỐC"],
        [None, "Nguyễn Văn A", None, "Trần Văn B"],
    ]
    parsed = parsers.parse_file("danh sach.xlsx", xlsx(("Sheet1", rows)))
    assert parsed.form == "mau-01"
    assert parsed.fields["don_vi"] == "Chi bộ Trung tâm Y tế huyện"
    assert [(e.name, e.kind, e.field, e.level) for e in parsed.entries] == [
        ("Khoa Dược", "tap-the", "van-hoa-xa-hoi", "xa"),
        ("Bác sĩ Lò Thị Ngọc", "ca-nhan", "van-hoa-xa-hoi", "huyen"),
        ("Phòng Kế hoạch", None, "quoc-phong-an-ninh", None),
        ("Lường Văn Ất", "ca-nhan", None, "tinh"),
    ]
    assert parsed.entries[0].extra == {"model": "Cấp thuốc tận bản", "note": "Mới"}
    messages = [p.message for p in parsed.problems]
    assert messages[0] == "Dòng 10: chưa ghi rõ tập thể hay cá nhân"
    assert messages[1].startswith("Dòng 11: cột “Lĩnh vực” ghi “thể thao”, không rõ là gì")
    assert codes(parsed) == ["missing-value", "unknown-value"]


def test_section_rows_set_field_and_kind() -> None:
    rows = [
        *HEAD,
        ["STT", "Tên đơn vị, cá nhân đăng ký", "Tên mô hình", "Cấp công nhận"],
        ["A. Tập thể"],
        ["I- Lĩnh vực kinh tế"],
        [1, "Hội Nông dân xã", "Trồng thảo quả", "Cấp huyện"],
        ["II", "Văn hóa - xã hội"],
        [2, "Chi đoàn bản Pa Nang", "Thắp sáng đường quê", "Cấp xã"],
        ["B. CÁ NHÂN"],
        [3, "Giàng A Páo", "Hiến đất làm đường", None],
        ["Tổng cộng: 3"],
        ["Nơi nhận:", None, "T/M ĐẢNG ỦY"],
    ]
    parsed = parsers.parse_file("bieu.xlsx", xlsx(("DS", rows)))
    assert [(e.name, e.kind, e.field) for e in parsed.entries] == [
        ("Hội Nông dân xã", "tap-the", "kinh-te"),
        ("Chi đoàn bản Pa Nang", "tap-the", "van-hoa-xa-hoi"),
        ("Giàng A Páo", "ca-nhan", None),  # a new kind section clears the field
    ]
    assert codes(parsed) == ["missing-column"]
    assert "cột lĩnh vực" in parsed.problems[0].message


def test_two_row_merged_header_on_the_second_sheet() -> None:
    rows = [
        ["BIỂU TỔNG HỢP ĐĂNG KÝ THI ĐUA"],
        ["TT", "Tên tập thể, cá nhân", "Đăng ký", None, None, "Tập thể/Cá nhân"],
        [None, None, "Tên mô hình", "Lĩnh vực", "Cấp"],
        [1, "Đồn Biên phòng", "Đỡ đầu học sinh", "QPAN", "tỉnh", "Tập thể"],
        [2, "", "", "", "", ""],
    ]
    data = xlsx(
        ("Hướng dẫn", [["Điền vào trang sau"]]),
        ("Mẫu 01", rows),
        merges=["A2:A3", "B2:B3", "C2:E2", "F2:F3"],
    )
    parsed = parsers.parse_file("m.xlsx", data)
    assert parsed.form == "mau-01"
    assert parsed.entries == (
        Entry(
            "Đồn Biên phòng", "tap-the", "quoc-phong-an-ninh", "tinh", {"model": "Đỡ đầu học sinh"}
        ),
    )


def test_row_problems_name_the_sheet_when_there_are_several() -> None:
    rows = [["TT", "Họ và tên", "Loại", "Tên mô hình", "Lĩnh vực"], [1, "Lò Văn A", "", "X", "KT"]]
    parsed = parsers.parse_file("m.xlsx", xlsx(("Ghi chú", [["-"]]), ("Đăng ký", rows)))
    assert parsed.problems[0].message == "Trang “Đăng ký”, dòng 2: chưa ghi rõ tập thể hay cá nhân"


def test_a_header_without_rows_is_an_empty_form() -> None:
    rows = [["TT", "Họ và tên", "Loại", "Tên mô hình"], [1, None, None, None], ["...", "..."]]
    parsed = parsers.parse_file("Mau 01.xlsx", xlsx(("S", rows)))
    assert (parsed.form, parsed.entries, codes(parsed)) == ("mau-01", (), ["no-entries"])


def test_word_text_in_tracked_insertions_and_content_controls_is_read() -> None:
    document = docx.Document(io.BytesIO(mau01_docx(UNIT, ENTRIES[:1])))
    cell = document.tables[1].rows[3].cells[1]._tc
    run = cell.find(f".//{qn('w:r')}")
    insertion = run.makeelement(qn("w:ins"), {qn("w:id"): "1", qn("w:author"): "A"})
    run.addprevious(insertion)
    insertion.append(run)  # the name is now a tracked insertion, which python-docx skips
    body = document.element.body
    sdt, content = body.makeelement(qn("w:sdt"), {}), body.makeelement(qn("w:sdtContent"), {})
    table = body.find(qn("w:tbl"))
    table.addprevious(sdt)
    sdt.append(content)
    content.append(table)  # the header block inside a block-level content control
    out = io.BytesIO()
    document.save(out)
    parsed = parsers.parse_file("x.docx", out.getvalue())
    assert parsed.entries[0].name == ENTRIES[0].name
    assert parsed.fields["don_vi"] == "ĐẢNG ỦY XÃ MƯỜNG SO"


# --- recognition ------------------------------------------------------------------------


def report_docx(*paragraphs: str) -> bytes:
    document = docx.Document()
    for text in paragraphs:
        document.add_paragraph(text)
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def test_a_title_only_report_is_recognised_but_flagged_empty() -> None:
    data = report_docx("ĐẢNG ỦY XÃ DÀO SAN", "BÁO CÁO", "Kết quả xây dựng mô hình", "Nơi nhận:")
    parsed = parsers.parse_file("bc.docx", data)
    assert parsed.form == "mau-02"
    assert codes(parsed) == ["empty-report"]
    assert "gần như chưa có nội dung" in parsed.problems[0].message


def test_a_file_name_suffices_but_a_subject_alone_does_not() -> None:
    data = report_docx("Kính gửi Ban Dân vận", "Đơn vị xin gửi nội dung.")
    assert parsers.parse_file("Mau02_SiLoLau.docx", data).form == "mau-02"
    unknown = parsers.parse_file("abc.docx", data, hint="Fwd: Mẫu 02")
    assert (unknown.form, codes(unknown)) == (None, ["unrecognised-form"])


def test_an_unrelated_workbook_is_not_recognised() -> None:
    parsed = parsers.parse_file("abc.xlsx", xlsx(("S", [["Bảng lương tháng 1"], ["Tên", "Lương"]])))
    assert parsed.form is None
    assert parsed.problems[0].message.startswith("Không nhận ra biểu mẫu trong tệp 'abc.xlsx'")


def test_a_named_form_without_its_table_says_so() -> None:
    parsed = parsers.parse_file("Mau 01.xlsx", xlsx(("S", [["Đơn vị đăng ký 2 mô hình"]])))
    assert (parsed.form, codes(parsed)) == ("mau-01", ["no-table"])


# --- bad files --------------------------------------------------------------------------


def zip_of(members: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in members.items():
            z.writestr(name, data)
    return out.getvalue()


OLE = bytes.fromhex("D0CF11E0A1B11AE1")  # an encrypted .docx/.xlsx, or an old .doc/.xls


@pytest.mark.parametrize(
    ("name", "data", "code"),
    [
        ("a.xlsx", b"", "empty-file"),
        ("a.xlsx", b"this is not a workbook", "corrupt-file"),
        ("a.docx", b"PK\x03\x04 broken", "corrupt-file"),
        ("a.xlsx", zip_of({"readme.txt": b"hello"}), "corrupt-file"),
        ("Mau 01.xlsx", mau01_xlsx(UNIT, ENTRIES)[:3000], "corrupt-file"),
        ("a.docx", zip_of({"[Content_Types].xml": b"", "word/document.xml": b"<"}), "corrupt-file"),
        ("a.xlsx", OLE + "EncryptionInfo".encode("utf-16-le"), "encrypted"),
        ("a.docx", OLE + b"\0" * 512, "needs-review"),
        ("a.pdf", b"%PDF-1.4", "scan-needs-review"),
        ("anh chup.jpg", b"\xff\xd8\xff", "scan-needs-review"),
        ("a.xlsx", b"PK" + b"\0" * parsers.MAX_FILE_BYTES, "too-large"),
    ],
    ids=lambda v: v if isinstance(v, str) else f"{len(v)}B",
)  # fmt: skip
def test_bad_files_become_problems(name: str, data: bytes, code: str) -> None:
    parsed = parsers.parse_file(name, data)
    assert (parsed.form, codes(parsed)) == (None, [code])
    assert name in parsed.problems[0].message


def test_an_old_doc_is_received_for_review_with_advice() -> None:
    message = parsers.parse_file("bao cao.doc", b"\xd0\xcf\x11\xe0").problems[0].message
    assert message.startswith("Đã nhận tệp 'bao cao.doc'") and ".docx" in message


def test_a_zip_bomb_is_refused_before_unpacking() -> None:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("[Content_Types].xml", b"<Types/>")
        with z.open("xl/worksheets/sheet1.xml", "w") as member:
            for _ in range(200):
                member.write(bytes(1024 * 1024))
    assert len(out.getvalue()) < 1024 * 1024
    parsed = parsers.parse_file("bomb.xlsx", out.getvalue())
    assert (parsed.form, codes(parsed)) == (None, ["suspicious-file"])


SAMPLE = mau01_xlsx(UNIT, ENTRIES)


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    name=st.sampled_from(["a.xlsx", "a.docx", "Mau 01.xlsx", "Mau 02.docx"]),
    data=st.one_of(
        st.binary(max_size=2000),
        st.binary(max_size=200).map(lambda b: b"PK\x03\x04" + b),
        st.tuples(st.integers(0, len(SAMPLE) - 1), st.binary(min_size=1, max_size=8)).map(
            lambda t: SAMPLE[: t[0]] + t[1] + SAMPLE[t[0] + len(t[1]) :]
        ),
    ),
)
def test_parse_file_never_raises(name: str, data: bytes) -> None:
    parsed = parsers.parse_file(name, data)
    assert parsed.filename == name
    assert parsed.form is not None or parsed.problems
    assert all(p.code != "parser-error" for p in parsed.problems)


# --- specs ------------------------------------------------------------------------------

MINIMAL = """
id = "m4"
title = "Danh sách đăng ký (mẫu M4)"
shape = "table"
[recognise]
titles = ["danh sách đăng ký"]
[table]
name = ["model"]
[table.columns.model]
headers = ["Tên mô hình"]
[table.columns.kind]
headers = ["Tập thể/cá nhân"]
[table.columns.kind.values]
tap-the = ["tập thể"]
ca-nhan = ["cá nhân"]
"""


def test_a_user_spec_reads_a_list_of_models() -> None:
    spec = parsers.parse_spec(MINIMAL, "m4.toml")
    rows = [
        ["DANH SÁCH ĐĂNG KÝ"],
        ["Tên mô hình", "Tập thể/cá nhân"],
        ["Bếp ăn bán trú", "Tập thể"],
    ]
    parsed = parsers.parse_file("x.xlsx", xlsx(("S", rows)), [spec])
    assert (parsed.form, parsed.entries) == ("m4", (Entry("Bếp ăn bán trú", "tap-the"),))


@pytest.mark.parametrize(
    ("change", "key"),
    [
        (('shape = "table"', 'shape = "list"'), "shape"),
        (("[table]", "[table]\nmin_colums = 2"), "table.min_colums"),
        (("tap-the = [", "to-chuc = ["), "table.columns.kind.values.to-chuc"),
        (('name = ["model"]', 'name = ["ten"]'), "table.name"),
        (("[table]", '[table]\nend = "("'), "table.end"),
        (('headers = ["Tên mô hình"]', "headers = []"), "table.columns.model.headers"),
        (('id = "m4"', 'id = "m 4"'), "id"),
        (('tap-the = ["tập thể"]\nca-nhan = ["cá nhân"]', ""), "table.columns.kind.values"),
    ],
)
def test_invalid_specs_name_the_key(change: tuple[str, str], key: str) -> None:
    with pytest.raises(ValueError, match=rf"m4\.toml: {key}: "):
        parsers.parse_spec(MINIMAL.replace(*change), "m4.toml")


def test_specs_that_are_not_toml_are_refused() -> None:
    with pytest.raises(ValueError, match="not valid TOML"):
        parsers.parse_spec("id = ", "x.toml")


# --- text -------------------------------------------------------------------------------


def test_folding_ignores_diacritics_tone_placement_and_separators() -> None:
    assert fold("  Đảng ủy\u00a0XÃ  Mường So ") == "dang uy xa muong so"
    assert fold("hoà") == fold("hòa") == fold("ho\u0300a")
    assert words("Mau01_SiLoLau") == "mau 1 silolau"
    assert has_phrase("mẫu số 01", "Fwd: MAU SO 1 - xa Dao San")
    assert not has_phrase("mẫu 01", "mau 010")
