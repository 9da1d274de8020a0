"""How the parsers understand what they were not told: headers by their words, columns by
their values, the board's lessons, ticks drawn with symbol fonts, every Word text node, and
the labelled forms' item numbers. What is guessed is said (inferred), and never certain."""

from __future__ import annotations

import io
import re
import zipfile

import docx

import parsers
from parsers.office import read
from parsers.vocabulary import Lesson, Taught, score, tokens
from tests.test_tables import Sheet, xlsx

TITLE = ["BIỂU TỔNG HỢP ĐĂNG KÝ THI ĐUA “DÂN VẬN KHÉO” NĂM 2024"]
UNIT = ["ĐẢNG ỦY XÃ MƯỜNG SO"]


def book(header: list[str], *rows: list[object]) -> bytes:
    return xlsx(Sheet("Mẫu 01", [UNIT, TITLE, header, *rows, ["T/M ĐẢNG ỦY"]]))


def test_a_heading_is_scored_by_its_words_not_listed_as_a_phrase() -> None:
    kind = tokens("tập thể cá nhân")
    assert score(tokens("Tập thể hoặc cá nhân"), kind) == 1.0  # filler "hoặc" ignored
    assert score(tokens("CÁ NHÂN / TẬP THỂ"), kind) == 1.0  # order, case, punctuation
    assert score(tokens("Lihn vực đăng ký"), tokens("lĩnh vực")) == 1.0  # a typo, filler
    assert score(tokens("Tên mô hình"), kind) < 0.5


def test_a_column_with_an_unknown_heading_is_read_from_its_values_as_a_doubt() -> None:
    data = book(
        ["STT", "Tên tập thể, cá nhân", "Cột phụ", "Lĩnh vực"],
        [1, "Hợp tác xã chè", "Tập thể", "Kinh tế"],
        [2, "Lò Văn Thắng", "Cá nhân", "Văn hóa - xã hội"],
        [3, "Tao Thị Xuân", "Cá nhân", "Quốc phòng - an ninh"],
        [4, "Chi đoàn thôn Nà", "", "Kinh tế"],
    )
    parsed = parsers.parse_file("bieu.xlsx", data)
    assert [e.kind for e in parsed.entries] == ["tap-the", "ca-nhan", "ca-nhan", None]
    assert any("Cột phụ" in note for note in parsed.inferred)
    assert parsed.confidence < 1.0
    assert parsed.problems and not any(p.certain for p in parsed.problems)


def test_a_complete_form_in_unfamiliar_words_has_no_problem_and_full_confidence() -> None:
    data = book(
        ["Số TT", "Họ tên / Tên đơn vị", "Đối tượng đăng ký", "Thuộc lĩnh vực nào", "Cấp độ"],
        [1, "Hợp tác xã chè", "TT", "KT", "Huyện"],
        [2, "Lò Văn Thắng", "CN", "XDĐ", "Xã"],
    )
    parsed = parsers.parse_file("bieu.xlsx", data)
    assert [(e.kind, e.field, e.level) for e in parsed.entries] == [
        ("tap-the", "kinh-te", "huyen"),
        ("ca-nhan", "xay-dung-dang", "xa"),
    ]
    assert parsed.problems == ()
    assert parsed.confidence == 1.0 and parsed.inferred == ()


def test_the_boards_lessons_read_a_header_and_values_it_taught() -> None:
    data = book(
        ["STT", "Tên tập thể, cá nhân", "Khối", "Lĩnh vực"],
        [1, "Hội Nông dân", "Đoàn thể", "Kinh tế"],
        [2, "Giàng A Pó", "Hộ gia đình", "Kinh tế"],
    )
    before = parsers.parse_file("bieu.xlsx", data)
    assert [e.kind for e in before.entries] == [None, None]
    assert before.problems and not any(p.certain for p in before.problems)
    taught = Taught(
        headers=(Lesson("7", "khoi", "kind"),),
        values={
            "kind": (
                Lesson("8", "Đoàn thể", "tap-the"),
                Lesson("9", "hộ gia đình", "ca-nhan", form="mau-01"),
                Lesson("10", "Đoàn thể", "ca-nhan", form="M3"),  # another form's: unused
            )
        },
    )
    after = parsers.parse_file("bieu.xlsx", data, taught=taught)
    assert [e.kind for e in after.entries] == ["tap-the", "ca-nhan"]
    assert after.problems == ()
    assert after.taught == ("7", "8", "9")


def _docx_with(xml_body: str) -> bytes:
    """A .docx whose body is `xml_body` (inside w:body), made by python-docx then edited."""
    document = docx.Document()
    out = io.BytesIO()
    document.save(out)
    source = zipfile.ZipFile(io.BytesIO(out.getvalue()))
    result = io.BytesIO()
    with zipfile.ZipFile(result, "w") as target:
        for item in source.infolist():
            content = source.read(item)
            if item.filename == "word/document.xml":
                text = content.decode()
                text = re.sub(
                    r"<w:body>.*</w:body>", f"<w:body>{xml_body}</w:body>", text, flags=re.S
                )
                content = text.encode()
            target.writestr(item, content)
    return result.getvalue()


W14 = 'xmlns:w14="http://schemas.microsoft.com/office/word/2010/wordml"'


def test_every_word_text_node_reaches_the_parser() -> None:
    """Text in paragraphs, cells, nested tables, content controls, hyperlinks, tracked
    insertions, fields and smart tags: each w:t (but deleted text) is in what parsers read."""

    def p(inner: str) -> str:
        return f"<w:p>{inner}</w:p>"

    def r(text: str) -> str:
        return f"<w:r><w:t>{text}</w:t></w:r>"

    nested = f"<w:tbl><w:tr><w:tc>{p(r('nestedcell'))}</w:tc></w:tr></w:tbl>"
    body = "".join(
        [
            p(r("plainpara")),
            p(f"<w:hyperlink>{r('linktext')}</w:hyperlink>"),
            p(f'<w:ins w:id="1" w:author="a">{r("inserted")}</w:ins>'),
            p(f'<w:fldSimple w:instr="PAGE">{r("fieldtext")}</w:fldSimple>'),
            p(f'<w:smartTag w:uri="u" w:element="e">{r("smarttag")}</w:smartTag>'),
            p(f"<w:sdt><w:sdtContent>{r('inlinecontrol')}</w:sdtContent></w:sdt>"),
            f"<w:sdt><w:sdtContent>{p(r('blockcontrol'))}</w:sdtContent></w:sdt>",
            f"<w:tbl><w:tr><w:tc>{p(r('outercell'))}{nested}</w:tc>"
            f"<w:tc><w:sdt><w:sdtContent>{p(r('cellcontrol'))}</w:sdtContent></w:sdt></w:tc>"
            "</w:tr></w:tbl>",
            p('<w:del w:id="2" w:author="a"><w:r><w:delText>deleted</w:delText></w:r></w:del>'),
        ]
    )
    content = read(_docx_with(body))
    text = " ".join(
        b if isinstance(b, str) else " ".join(c for row in b.rows for c in row)
        for b in content.blocks
    )
    for word in re.findall(r"<w:t>(\w+)</w:t>", body):
        assert word in text, word
    assert "deleted" not in text
    grids = [b for b in content.blocks if not isinstance(b, str)]
    assert any(g.rows == (("nestedcell",),) for g in grids)  # a table of its own
    assert "nestedcell" not in grids[0].rows[0][0]  # not mashed into the outer cell


def test_symbol_font_ticks_and_check_boxes_read_as_boxes() -> None:
    sym = '<w:r><w:sym w:font="Wingdings" w:char="F0FE"/></w:r>'
    box = '<w:r><w:sym w:font="Wingdings" w:char="F0A8"/></w:r>'
    check = (
        f'<w:sdt {W14}><w:sdtPr><w14:checkbox><w14:checked w14:val="1"/></w14:checkbox>'
        "</w:sdtPr><w:sdtContent><w:r><w:t>X</w:t></w:r></w:sdtContent></w:sdt>"
    )
    body = f"<w:p>{sym}<w:r><w:t>Kinh tế</w:t></w:r>{box}<w:r><w:t>Văn hóa</w:t></w:r>{check}</w:p>"
    content = read(_docx_with(body))
    assert content.blocks == ("☒Kinh tế☐Văn hóa☒",)


def test_text_in_a_symbol_font_reads_as_the_ticks_it_draws() -> None:
    """LibreOffice writes a w:sym back as text in the font, in Word's private-use copy
    (U+F0FE); a unit may type "þ" in Wingdings: both draw a tick, other glyphs no text."""

    def run(font: str, text: str) -> str:
        fonts = f'<w:rFonts w:ascii="{font}" w:hAnsi="{font}"/>'
        return f"<w:r><w:rPr>{fonts}</w:rPr><w:t>{text}</w:t></w:r>"

    body = (
        f"<w:p>{run('Wingdings', chr(0xF0FE))}<w:r><w:t>Kinh tế</w:t></w:r>"
        f"{run('Wingdings', chr(0xA8))}<w:r><w:t>Văn hóa</w:t></w:r>"
        f"{run('Wingdings 2', 'P')}{run('Wingdings', 'ab')}{run('Arial', 'þ')}</w:p>"
    )
    assert read(_docx_with(body)).blocks == ("☒Kinh tế☐Văn hóa✓þ",)


def test_m1_item_numbers_are_evidence_and_the_form_number_is_not_the_unit() -> None:
    document = docx.Document()
    for line in (
        "HỘI NÔNG DÂN XÃ CAO XÁ                Mẫu M1",
        "BẢN ĐĂNG KÝ",
        "Xây dựng mô hình, điển hình “Dân vận khéo” năm 2024",
        "1. Tên mô hình đăng ký: Cánh đồng mẫu lớn",
        "2. Thuộc lĩnh vực: Kinh tế",
        "3. Đăng ký mô hình, điển hình ở cấp: Cấp huyện",
        "4. Nội dung thực hiện: Dồn điền đổi thửa",
        "5. Thời gian thực hiện: Năm 2024",
        "6. Nơi làm mô hình: Thôn Đồng Lạc",  # not the template's words: its number says
        "7. Kết quả dự kiến:",
        "Năng suất tăng 10%",  # the value on the next line
    ):
        document.add_paragraph(line)
    out = io.BytesIO()
    document.save(out)
    parsed = parsers.parse_file("DK tap the.docx", out.getvalue())
    assert parsed.form == "M1"
    assert parsed.fields["don_vi"] == "HỘI NÔNG DÂN XÃ CAO XÁ"
    (entry,) = parsed.entries
    assert entry.name == "HỘI NÔNG DÂN XÃ CAO XÁ"
    assert entry.extra["model"] == "Cánh đồng mẫu lớn"
    assert entry.extra["place"] == "Thôn Đồng Lạc"
    assert entry.extra["result"] == "Năng suất tăng 10%"
    assert parsed.problems == ()
