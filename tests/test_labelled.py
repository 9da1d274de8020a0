"""Labelled registration forms M1 and M2 (Tân Yên letter): real .docx files, filled the
ways units fill them, from the blank template to several fields ticked by mistake."""

from __future__ import annotations

import io
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace

import docx
import pytest
from docx.enum.text import WD_COLOR_INDEX
from docx.oxml import parse_xml
from docx.oxml.ns import nsdecls
from docx.text.paragraph import Paragraph
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import parsers
from mail_ingest.samples import SampleEntry, mau01_docx, mau02_docx
from parsers.model import ParsedFile
from parsers.vocabulary import Lesson, Taught

UNIT = "CHI HỘI PHỤ NỮ THÔN ĐỒNG LẠC"
FIELDS = {
    "xay-dung-dang": "Xây dựng Đảng và hệ thống chính trị",
    "kinh-te": "Phát triển kinh tế, bảo vệ môi trường",
    "van-hoa-xa-hoi": "Văn hóa - xã hội",
    "quoc-phong-an-ninh": "Quốc phòng- an ninh",
}
M1_LABELS = {
    "model": "1. Tên mô hình đăng ký",
    "field": "2. Thuộc lĩnh vực",
    "level": "3. Đăng ký mô hình, điển hình ở cấp",
    "content": "4. Nội dung thực hiện",
    "period": "5. Thời gian thực hiện",
    "place": "6. Địa chỉ, phạm vi thực hiện",
    "result": "7. Kết quả dự kiến",
}
M2_LABELS = {"model": "1. Tên nội dung đăng ký"} | {
    k: v for k, v in M1_LABELS.items() if k != "model"
}
PERSON = {
    "name": "Tên cá nhân",
    "position": "Chức vụ",
    "workplace": "Đơn vị công tác",
    "address": "Địa chỉ",
}
VALUES = {
    "address": "Thôn Đồng Lạc, xã Cao Xá, huyện Tân Yên",
    "model": "Phụ nữ thôn Đồng Lạc chung tay xây dựng đường hoa",
    "level": "Cấp huyện",
    "content": "Vận động hội viên trồng 2 km đường hoa.\nMỗi hộ nhận chăm sóc 20 m đường hoa.",
    "period": "Từ tháng 3/2024 đến tháng 12/2024",
    "place": "Thôn Đồng Lạc, xã Cao Xá",
    "result": "100% hội viên tham gia; 2 km đường hoa xanh, sạch, đẹp",
}
PERSON_VALUES = {
    "name": "Nguyễn Thị Hoa",
    "position": "Chi hội trưởng Chi hội Phụ nữ",
    "workplace": "Hội Liên hiệp Phụ nữ xã Cao Xá",
    "address": "Thôn Đồng Lạc, xã Cao Xá",
}
M1_EXTRA = {k: v for k, v in VALUES.items() if k != "level"}


# --- a generator of filled forms ---------------------------------------------------------


@dataclass(frozen=True)
class Form:
    """One unit's registration, and how it laid it out in Word."""

    kind: str = "M1"
    values: Mapping[str, str] = field(default_factory=lambda: VALUES)
    ticked: Sequence[str] = ("kinh-te",)
    tick: str = "☒ before"  # see TICKS
    layout: str = "same line"  # "same line", "next line", "table", "text box"
    heading: bool = True  # the appendix heading "MẪU ĐĂNG KÝ CỦA TẬP THỂ" left in


def build(form: Form) -> bytes:
    document = docx.Document()
    body = document.add_paragraph  # paragraphs go straight into the body ...
    if form.layout == "text box":  # ... or all into one text box
        box = _text_box(document.add_paragraph())
        body = lambda text="": _box_paragraph(box, text)  # noqa: E731
    person = form.kind == "M2"
    for line in ("ĐẢNG ỦY XÃ CAO XÁ", UNIT, "*", "ĐẢNG CỘNG SẢN VIỆT NAM"):
        body(line)
    body("Cao Xá, ngày 20 tháng 02 năm 2024")
    if form.heading:
        body(f"MẪU ĐĂNG KÝ CỦA {'CÁ NHÂN' if person else 'TẬP THỂ'}")
    body("BẢN ĐĂNG KÝ")
    body("Xây dựng mô hình, điển hình “Dân vận khéo” năm 2024")
    if person:
        body("Thực hiện Hướng dẫn số 09-HD/HU ngày 17/8/2022 của Ban Thường vụ Huyện ủy.")
        rows = [(PERSON[k], form.values.get(k, "")) for k in PERSON]
    else:
        body(
            "Thực hiện Hướng dẫn số 09-HD/HU ngày 17/8/2022 của Ban Thường vụ Huyện ủy; Chi hội "
            "Phụ nữ thôn Đồng Lạc đã tổ chức họp và thống nhất đăng ký như sau:"
        )
        rows = [("Địa chỉ", form.values.get("address", ""))]
    labels = M2_LABELS if person else M1_LABELS
    rows += [(labels[k], form.values.get(k, "")) for k in labels]
    if form.layout == "table":
        table = document.add_table(rows=0, cols=2)
        for label, value in rows:
            cells = table.add_row().cells
            cells[0].text = label
            if label.startswith("2."):
                cells[1].paragraphs[0].text = ""
                _options(form, lambda text="", cell=cells[1]: _cell_paragraph(cell, text))
            else:  # one paragraph a line, as Enter makes them
                for n, line in enumerate(value.splitlines()):
                    _cell_paragraph(cells[1], line) if n else cells[1].paragraphs[0].add_run(line)
    else:
        for label, value in rows:
            if label.startswith("2."):
                body(f"{label}:")
                _options(form, body)
            elif form.layout == "next line" and value and label[0].isdigit():
                # (an unnumbered item, "Địa chỉ:", keeps its value on its own line)
                body(f"{label}:.......")
                for line in value.splitlines():
                    body(line)
            else:
                lines = value.splitlines() or ["……………………"]
                body(f"{label}: {lines[0]}")
                for line in lines[1:]:
                    body(line)
    body("Lãnh đạo tổ chức, cơ quan, đơn vị")
    body("Ký tên, đóng dấu (nếu có)")
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def _options(form: Form, add: Callable[..., Paragraph]) -> None:
    """The four fields, one a line, with the unit's way of picking."""
    for field_id, text in FIELDS.items():
        TICKS[form.tick](add(), text, field_id in form.ticked)
    add("(Mô hình, điển hình thuộc lĩnh vực nào tích dấu x vào ô tương ứng)")


def _typed(
    before: str, after: str = "", empty: str = "☐ "
) -> Callable[[Paragraph, str, bool], None]:
    def write(p: Paragraph, text: str, on: bool) -> None:
        p.add_run(f"{before}{text}{after}" if on else f"{empty}{text}")

    return write


def _sdt(p: Paragraph, text: str, on: bool, glyph: str | None = None) -> None:
    shown = glyph or ("☒" if on else "☐")
    p._p.append(
        parse_xml(
            f"<w:sdt {nsdecls('w', 'w14')}><w:sdtPr><w14:checkbox>"
            f'<w14:checked w14:val="{int(on)}"/>'
            '<w14:checkedState w14:val="2612" w14:font="MS Gothic"/>'
            '<w14:uncheckedState w14:val="2610" w14:font="MS Gothic"/>'
            f"</w14:checkbox></w:sdtPr><w:sdtContent><w:r><w:t>{shown}</w:t></w:r>"
            "</w:sdtContent></w:sdt>"
        )
    )
    p.add_run(f" {text}")


def _form_field(p: Paragraph, text: str, on: bool, *, by_default: bool = False) -> None:
    state = f'<w:default w:val="{int(on)}"/>' if by_default else '<w:default w:val="0"/>'
    if not by_default:
        state += f'<w:checked w:val="{int(on)}"/>'
    for xml in (
        f'<w:r {nsdecls("w")}><w:fldChar w:fldCharType="begin"><w:ffData><w:name w:val="C"/>'
        f"<w:enabled/><w:checkBox><w:sizeAuto/>{state}</w:checkBox></w:ffData></w:fldChar></w:r>",
        f'<w:r {nsdecls("w")}><w:instrText xml:space="preserve"> FORMCHECKBOX </w:instrText></w:r>',
        f'<w:r {nsdecls("w")}><w:fldChar w:fldCharType="end"/></w:r>',
    ):
        p._p.append(parse_xml(xml))
    p.add_run(f" {text}")


def _bold(p: Paragraph, text: str, on: bool) -> None:
    p.add_run("- ")
    p.add_run(text).bold = on


def _highlight(p: Paragraph, text: str, on: bool) -> None:
    p.add_run("- ")
    run = p.add_run(text)
    if on:
        run.font.highlight_color = WD_COLOR_INDEX.YELLOW


def _kept(p: Paragraph, text: str, on: bool) -> None:
    """The unit deleted the options that do not apply."""
    if on:
        p.add_run(f"- {text}")


TICKS: dict[str, Callable[[Paragraph, str, bool], None]] = {
    "☒ before": _typed("☒ "),
    "☑ before": _typed("☑ "),
    "✓ after": _typed("- ", " ✓", "- "),
    "x after": _typed("- ", "   x", "- "),
    "X before": _typed("X ", "", "- "),
    "[x] before": _typed("[x] ", "", "[ ] "),
    "(x) after": _typed("", " (x)", "( ) "),
    "■ before": _typed("■ ", "", "□ "),
    "content control": _sdt,
    "content control, stale glyph": lambda p, t, on: _sdt(p, t, on, "☐"),
    "form field": _form_field,
    "form field, default": lambda p, t, on: _form_field(p, t, on, by_default=True),
    "bold": _bold,
    "highlight": _highlight,
    "others deleted": _kept,
}


def _text_box(p: Paragraph) -> object:
    run = parse_xml(
        f'<w:r {nsdecls("w")} xmlns:v="urn:schemas-microsoft-com:vml"><w:pict>'
        '<v:shape style="width:450pt;height:600pt">'
        "<v:textbox><w:txbxContent/></v:textbox></v:shape></w:pict></w:r>"
    )
    p._p.append(run)
    return run.find(".//{*}txbxContent")


def _box_paragraph(box: object, text: str = "") -> Paragraph:
    p = parse_xml(f"<w:p {nsdecls('w')}/>")
    box.append(p)  # type: ignore[attr-defined]
    paragraph = Paragraph(p, None)  # type: ignore[arg-type]
    if text:
        paragraph.add_run(text)
    return paragraph


def _cell_paragraph(cell: object, text: str = "") -> Paragraph:
    paragraph: Paragraph = cell.add_paragraph(text)  # type: ignore[attr-defined]
    return paragraph


def parse(form: Form, filename: str = "scan 001.docx") -> ParsedFile:
    return parsers.parse_file(filename, build(form))


def messages(parsed: ParsedFile) -> list[str]:
    return [p.message for p in parsed.problems]


# --- M1, laid out and ticked every way ---------------------------------------------------


@pytest.mark.parametrize("layout", ["same line", "next line", "table", "text box"])
def test_m1_is_read_whatever_the_layout(layout: str) -> None:
    parsed = parse(Form(layout=layout))
    assert (parsed.form, messages(parsed)) == ("M1", [])
    (entry,) = parsed.entries
    assert (entry.name, entry.kind, entry.field, entry.level) == (
        UNIT,
        "tap-the",
        "kinh-te",
        "huyen",
    )
    assert entry.extra == M1_EXTRA
    assert parsed.fields == {
        "don_vi": UNIT,
        "ngay": "2024-02-20",
        **M1_EXTRA,
        "field": "kinh-te",
        "level": "huyen",
    }


@pytest.mark.parametrize("tick", sorted(TICKS))
def test_the_ticked_field_is_found_however_it_is_ticked(tick: str) -> None:
    parsed = parse(Form(tick=tick, ticked=("van-hoa-xa-hoi",)))
    assert (parsed.entries[0].field, messages(parsed)) == ("van-hoa-xa-hoi", [])


@pytest.mark.parametrize("tick", ["content control", "form field", "bold", "x after"])
def test_ticks_inside_a_table_cell(tick: str) -> None:
    parsed = parse(Form(tick=tick, layout="table", ticked=("quoc-phong-an-ninh",)))
    assert (parsed.entries[0].field, messages(parsed)) == ("quoc-phong-an-ninh", [])


def test_a_typed_field_and_level_need_no_tick() -> None:
    document = docx.Document()
    for line in (UNIT, "BẢN ĐĂNG KÝ", "1. Tên mô hình đăng ký: Đường hoa"):
        document.add_paragraph(line)
    document.add_paragraph("2. Thuộc lĩnh vực: Văn hóa - xã hội")
    document.add_paragraph("3. Đăng ký mô hình, điển hình ở cấp tỉnh")  # no colon
    for label in list(M1_LABELS.values())[3:]:
        document.add_paragraph(f"{label}: có")
    out = io.BytesIO()
    document.save(out)
    parsed = parsers.parse_file("M1 duong hoa.docx", out.getvalue())
    assert parsed.form == "M1"
    assert (parsed.entries[0].field, parsed.entries[0].level, messages(parsed)) == (
        "van-hoa-xa-hoi",
        "tinh",
        [],
    )


def test_labels_without_diacritics_and_with_typos_still_count() -> None:
    values = dict(VALUES)
    document = docx.Document()
    for line in (UNIT, "BAN DANG KY", "Dia chi: " + values["address"]):
        document.add_paragraph(line)
    document.add_paragraph(f"1. Ten mo hinh dang ky: {values['model']}")
    document.add_paragraph("2. Thuoc linh vuc:  Kinh te  x")
    document.add_paragraph(f"3) Dang ky mo hinh, dien hinh o cap: {values['level']}")
    document.add_paragraph(f"4. Nội dung thưc hiên: {values['content']}")
    document.add_paragraph(f"5. Thơi gian thực hiện: {values['period']}")
    document.add_paragraph(f"6. Địa chỉ, phạm vi thực hiện: {values['place']}")
    document.add_paragraph(f"7. Kết qủa dự kiến: {values['result']}")
    out = io.BytesIO()
    document.save(out)
    parsed = parsers.parse_file("Mau M1.docx", out.getvalue())
    assert (parsed.form, messages(parsed)) == ("M1", [])
    assert parsed.entries[0].extra == M1_EXTRA


# --- what the unit must put right ---------------------------------------------------------


def test_several_fields_ticked_by_mistake() -> None:
    parsed = parse(Form(ticked=("kinh-te", "van-hoa-xa-hoi")))
    assert parsed.form == "M1"
    assert parsed.entries[0].field is None
    assert messages(parsed) == [
        "Đánh dấu nhiều hơn một lĩnh vực (mục 2): "
        "Phát triển kinh tế, bảo vệ môi trường; Văn hóa - xã hội"
    ]


@pytest.mark.parametrize("tick", ["☒ before", "content control", "form field", "bold"])
def test_no_field_ticked(tick: str) -> None:
    parsed = parse(Form(tick=tick, ticked=()))
    assert messages(parsed) == ["Chưa đánh dấu lĩnh vực đăng ký (mục 2)"]
    assert parsed.entries[0].field is None


def test_everything_bold_picks_nothing() -> None:
    parsed = parse(Form(tick="bold", ticked=tuple(FIELDS)))
    assert messages(parsed) == [
        "Chưa đánh dấu lĩnh vực đăng ký (mục 2)"
    ]  # all bold: the template's style


@pytest.mark.parametrize("layout", ["same line", "table"])
def test_the_blank_template_is_recognised_with_every_item_missing(layout: str) -> None:
    parsed = parse(Form(values={}, ticked=(), tick="others deleted", layout=layout), "M1.docx")
    assert parsed.form == "M1"
    assert messages(parsed) == [
        "Mục 1 (Tên mô hình) còn để trống",
        "Chưa ghi lĩnh vực đăng ký (mục 2)",
        "Chưa ghi cấp đăng ký (mục 3)",
        "Mục 4 (Nội dung thực hiện) còn để trống",
        "Mục 5 (Thời gian thực hiện) còn để trống",
        "Mục 6 (Địa chỉ, phạm vi thực hiện) còn để trống",
        "Mục 7 (Kết quả dự kiến) còn để trống",
    ]
    (entry,) = parsed.entries
    assert (entry.name, entry.kind, entry.field, entry.level, entry.extra) == (
        UNIT,
        "tap-the",
        None,
        None,
        {},
    )


def test_template_hints_and_leaders_are_not_values() -> None:
    values = dict(VALUES) | {
        "model": "..... (Tên mô hình ngắn gọn, thể hiện khái quát được nội dung của mô hình)",
        "content": "(Sẽ thực hiện như thế nào)…………",
        "result": "Đường hoa dài 2 km (trồng hoa mười giờ)",
    }
    parsed = parse(Form(values=values))
    assert messages(parsed) == [
        "Mục 1 (Tên mô hình) còn để trống",
        "Mục 4 (Nội dung thực hiện) còn để trống",
    ]
    assert parsed.entries[0].extra["result"] == "Đường hoa dài 2 km (trồng hoa mười giờ)"


def test_an_unknown_level_is_quoted_back() -> None:
    parsed = parse(Form(values=dict(VALUES) | {"level": "Cấp thôn"}))
    assert messages(parsed) == [
        "Không xác định được cấp đăng ký (mục 3): “Cấp thôn”; đề nghị ghi rõ một trong: "
        "Cấp tỉnh; Cấp huyện; Cấp xã"
    ]


def test_a_missing_item_is_named() -> None:
    data = build(Form())
    document = docx.Document(io.BytesIO(data))
    for p in document.paragraphs:
        if p.text.startswith("7."):
            p._p.getparent().remove(p._p)
    out = io.BytesIO()
    document.save(out)
    parsed = parsers.parse_file("M1.docx", out.getvalue())
    assert messages(parsed) == ["Không tìm thấy mục 7 (Kết quả dự kiến) trong bản đăng ký"]


# --- M2, and telling the forms apart -----------------------------------------------------


@pytest.mark.parametrize("layout", ["same line", "table", "text box"])
def test_m2_registers_the_person(layout: str) -> None:
    parsed = parse(Form(kind="M2", values=VALUES | PERSON_VALUES, layout=layout))
    assert (parsed.form, messages(parsed)) == ("M2", [])
    (entry,) = parsed.entries
    assert (entry.name, entry.kind, entry.field, entry.level) == (
        "Nguyễn Thị Hoa",
        "ca-nhan",
        "kinh-te",
        "huyen",
    )
    assert entry.extra == M1_EXTRA | {k: v for k, v in PERSON_VALUES.items() if k != "name"}
    assert parsed.fields["name"] == "Nguyễn Thị Hoa"
    assert parsed.fields["don_vi"] == UNIT


def test_m2_without_position() -> None:
    values = VALUES | PERSON_VALUES | {"position": "(ghi theo thực tế: Cán bộ, công chức)"}
    parsed = parse(Form(kind="M2", values=values))
    assert messages(parsed) == ["Mục “Chức vụ” còn để trống"]


@pytest.mark.parametrize(
    ("form", "filename", "expected"),
    [
        (Form(), "scan.docx", "M1"),
        (Form(heading=False), "scan.docx", "M1"),
        (Form(kind="M2", values=VALUES | PERSON_VALUES), "scan.docx", "M2"),
        (Form(kind="M2", values=VALUES | PERSON_VALUES, heading=False), "scan.docx", "M2"),
        (Form(kind="M2", values=VALUES | PERSON_VALUES, heading=False), "M1.docx", "M2"),
        (Form(heading=False), "mau M2.docx", "M1"),
        (Form(heading=False, layout="table"), "Đăng ký DVK.docx", "M1"),
    ],
)
def test_m1_and_m2_are_told_apart(form: Form, filename: str, expected: str) -> None:
    assert parse(form, filename).form == expected


def test_a_file_name_alone_tells_the_form() -> None:
    document = docx.Document()
    document.add_paragraph("Kính gửi Ban Dân vận")
    out = io.BytesIO()
    document.save(out)
    assert parsers.parse_file("Dang ky ca nhan - Nguyen Thi Hoa.docx", out.getvalue()).form == "M2"
    assert parsers.parse_file("dang ky tap the.docx", out.getvalue()).form == "M1"
    # "M2" and "M02" read alike ("m 2"): with nothing else to go on, mẫu 02 keeps the file
    assert parsers.parse_file("Mau M2.docx", out.getvalue()).form == "mau-02"


def test_a_blank_template_under_a_short_name_is_the_labelled_form() -> None:
    assert parse(Form(kind="M2", values={}, heading=False), "M2.docx").form == "M2"
    assert parse(Form(values={}, heading=False), "M1.docx").form == "M1"


def test_mau01_and_mau02_are_not_taken_for_m1_or_m2() -> None:
    entries = [SampleEntry("Chi hội Phụ nữ", "tap-the", "kinh-te", "huyen", "Đường hoa")]
    assert parsers.parse_file("a.docx", mau01_docx("Đảng ủy xã Cao Xá", entries)).form == "mau-01"
    assert parsers.parse_file("a.docx", mau02_docx("Đảng ủy xã Cao Xá", ["A"])).form == "mau-02"


def test_the_builtin_specs_include_m1_and_m2() -> None:
    specs = {s.id: s for s in parsers.builtin_specs()}
    assert {"M1", "M2", "mau-01", "mau-02"} <= set(specs)
    assert specs["M1"].shape == specs["M2"].shape == "labelled"


# --- specs ----------------------------------------------------------------------------------

SPEC = """
id = "X"
title = "X"
shape = "labelled"
[recognise]
titles = ["bản đăng ký"]
[labelled]
kind = "tap-the"
[labelled.items.field]
number = 2
labels = ["Lĩnh vực"]
[labelled.items.field.values]
kinh-te = ["kinh tế"]
"""


@pytest.mark.parametrize(
    ("change", "key"),
    [
        (('kind = "tap-the"', 'kind = "nhom"'), "labelled.kind"),
        (('kind = "tap-the"', 'name = ["ten"]'), "labelled.name"),
        (('kind = "tap-the"', "min_items = 5"), "labelled.min_items"),
        (('kind = "tap-the"', "colour = 1"), "labelled.colour"),
        (("number = 2", "number = 0"), "labelled.items.field.number"),
        (("number = 2", "numbr = 2"), "labelled.items.field.numbr"),
        (('labels = ["Lĩnh vực"]', "labels = []"), "labelled.items.field.labels"),
        (('kinh-te = ["kinh tế"]', 'kinhte = ["kinh tế"]'), "labelled.items.field.values.kinhte"),
        (('kind = "tap-the"', 'end = "("'), "labelled.end"),
    ],
)
def test_spec_mistakes_name_the_key(change: tuple[str, str], key: str) -> None:
    parsers.parse_spec(SPEC, "x.toml")  # the unchanged spec is fine
    with pytest.raises(ValueError, match=rf"x\.toml: {key}:"):
        parsers.parse_spec(SPEC.replace(*change), "x.toml")


# --- whatever a unit types ------------------------------------------------------------------


@given(values=st.dictionaries(st.sampled_from(sorted(VALUES)), st.text(max_size=60)))
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_any_text_in_the_values_yields_a_parsed_file(values: dict[str, str]) -> None:
    clean = {k: "".join(c for c in v if c.isprintable()) for k, v in values.items()}
    for layout in ("same line", "table"):
        parsed = parse(replace(Form(), values=clean, layout=layout), "M1.docx")
        assert isinstance(parsed, ParsedFile)
        assert parsed.form == "M1"
        assert all(p.code != "parser-error" for p in parsed.problems)


def test_a_blank_m2_names_each_missing_item_once() -> None:
    parsed = parse(Form(kind="M2", values={}, ticked=(), tick="others deleted"))
    assert parsed.form == "M2"
    assert messages(parsed)[:4] == [
        "Mục “Tên cá nhân” còn để trống",
        "Mục “Chức vụ” còn để trống",
        "Mục “Đơn vị công tác” còn để trống",
        "Mục 1 (Tên nội dung đăng ký) còn để trống",
    ]
    assert len(messages(parsed)) == 10
    assert parsed.entries[0].name == ""


# --- the board's lessons ------------------------------------------------------------------

M1_LINES = (
    "HỘI NÔNG DÂN XÃ CAO XÁ",
    "BẢN ĐĂNG KÝ",
    "Xây dựng mô hình, điển hình “Dân vận khéo” năm 2024",
    "{label}: Cánh đồng mẫu lớn",
    "2. Thuộc lĩnh vực: Kinh tế",
    "3. Đăng ký mô hình, điển hình ở cấp: Cấp huyện",
    "4. Nội dung thực hiện: Dồn điền đổi thửa",
    "5. Thời gian thực hiện: Năm 2024",
    "6. Địa chỉ, phạm vi thực hiện: Thôn Đồng Lạc",
    "7. Kết quả dự kiến: Năng suất tăng 10%",
)


def m1_with_label(label: str) -> bytes:
    """An M1 whose first item is introduced by the unit's own words, without its number."""
    document = docx.Document()
    for line in M1_LINES:
        document.add_paragraph(line.format(label=label))
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


@pytest.mark.parametrize("label", ["Sáng kiến dự thi", "Công trình thi đua", "Đề tài"])
def test_a_taught_label_reads_its_item_and_is_named(label: str) -> None:
    """Unfamiliar, the label's item is missing; taught (with the number or colon the board
    copied, or without), it is read and the lesson named; lessons of other forms and of
    other items change nothing."""
    data = m1_with_label(label)
    before = parsers.parse_file("DK.docx", data)
    assert before.form == "M1" and "model" not in before.entries[0].extra
    assert before.taught == ()
    for wording in (label, f"1. {label}:", label.upper()):
        lesson = Lesson("7", wording, "model", "M1")
        parsed = parsers.parse_file("DK.docx", data, taught=Taught(headers=(lesson,)))
        assert parsed.entries[0].extra["model"] == "Cánh đồng mẫu lớn"
        assert parsed.problems == () and parsed.taught == ("7",)
        assert parsed.fields["don_vi"] == "HỘI NÔNG DÂN XÃ CAO XÁ"
    elsewhere = Taught(headers=(Lesson("8", label, "model", "M2"), Lesson("9", "Tiêu đề", "model")))
    assert parsers.parse_file("DK.docx", data, taught=elsewhere).taught == ()
    # An unused lesson is not named on a file its wording does not appear in.
    plain = parsers.parse_file("DK.docx", m1_with_label("1. Tên mô hình đăng ký"), taught=elsewhere)
    assert plain.taught == () and plain.problems == ()
