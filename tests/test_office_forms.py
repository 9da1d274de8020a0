"""Every form of the letters as a unit would fill it in LibreOffice, read back by the parsers.

The forms are written as HTML, the way the letters lay them out (the Tân Yên templates
M1-M4, Phong Thổ's mẫu 02, Hón Quản's yearly report), and converted by LibreOffice
headless into the .docx and .xlsx files a unit's office suite saves: two-row merged
headers, section rows, ticked boxes in Word. The parsers must give the right form and
entries. One LibreOffice run per output format, for the whole module.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator

import pytest

import parsers

from office_fixtures import TARGETS, require_libreoffice

HEAD = """<!DOCTYPE html><html><head><meta charset="utf-8"></head><body>
<p>ĐẢNG BỘ HUYỆN TÂN YÊN</p><p><b>{unit}</b></p>
<p><i>Tân Yên, ngày 20 tháng 02 năm 2024</i></p>
"""
END = "<p><b>T/M ĐẢNG ỦY</b></p><p><b>BÍ THƯ</b></p></body></html>"
FIELDS = [
    ("xay-dung-dang", "Xây dựng Đảng và hệ thống chính trị"),
    ("kinh-te", "Phát triển kinh tế, bảo vệ môi trường"),
    ("van-hoa-xa-hoi", "Văn hóa - xã hội"),
    ("quoc-phong-an-ninh", "Quốc phòng - an ninh"),
]


def labelled(kind: str, ticked: str, level: str, person: str = "") -> str:
    """M1 (a collective) or M2 (a person): numbered items, the field ticked with ☒."""
    options = "".join(f"<p>{'☒' if key == ticked else '☐'} {text}</p>" for key, text in FIELDS)
    who = (
        f"<p>Tên cá nhân: {person}</p><p>Chức vụ: Chi hội trưởng</p>"
        "<p>Đơn vị công tác: Hội Liên hiệp Phụ nữ xã Cao Xá</p>"
        "<p>Địa chỉ: Thôn Đồng Lạc, xã Cao Xá</p>"
        if person
        else "<p>Địa chỉ: Thôn Đồng Lạc, xã Cao Xá, huyện Tân Yên</p>"
    )
    title = "CÁ NHÂN" if person else "TẬP THỂ"
    model = "Tên nội dung đăng ký" if person else "Tên mô hình đăng ký"
    return (
        HEAD.format(unit="CHI HỘI PHỤ NỮ THÔN ĐỒNG LẠC")
        + f"<p><b>MẪU ĐĂNG KÝ CỦA {title}</b></p><p><b>BẢN ĐĂNG KÝ</b></p>"
        "<p>Xây dựng mô hình, điển hình “Dân vận khéo” năm 2024</p>"
        + who
        + "<p>1. " + model + ": Chung tay xây dựng đường hoa</p>"
        "<p>2. Thuộc lĩnh vực:</p>" + options
        + f"<p>3. Đăng ký mô hình, điển hình ở cấp: {level}</p>"
        "<p>4. Nội dung thực hiện: Vận động hội viên trồng 2 km đường hoa.</p>"
        "<p>5. Thời gian thực hiện: Từ tháng 3/2024 đến tháng 12/2024</p>"
        "<p>6. Địa chỉ, phạm vi thực hiện: Thôn Đồng Lạc, xã Cao Xá</p>"
        "<p>7. Kết quả dự kiến: 100% hội viên tham gia</p>"
        "<p>Lãnh đạo tổ chức, cơ quan, đơn vị</p><p>Ký tên, đóng dấu (nếu có)</p></body></html>"
    )  # fmt: skip


def listing(sections: bool) -> str:
    """M3 (communes: sections I-IV by field) or M4 (agencies: no sections)."""
    header = (
        '<tr><th rowspan="2">STT</th><th rowspan="2">Địa chỉ xây dựng mô hình</th>'
        '<th rowspan="2">Tên mô hình</th><th rowspan="2">Tập thể hoặc cá nhân</th>'
        '<th colspan="2">Thời gian triển khai</th><th rowspan="2">Dự kiến thời gian hoàn thành</th>'
        '<th rowspan="2">Mục tiêu đề ra</th></tr>'
        "<tr><th>Mô hình đã và đang hoạt động tiếp tục đăng ký để duy trì thực hiện năm 2024</th>"
        "<th>Mô hình đăng ký xây dựng mới trong năm 2024</th></tr>"
    )

    def row(n: int, place: str, model: str, kind: str, new: bool) -> str:
        cells = [str(n), place, model, kind, "" if new else "x", "x" if new else "", "12/2024", "…"]
        return "<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>"

    body = ""
    if sections:
        body += '<tr><td colspan="8">I- Lĩnh vực kinh tế (Xây dựng nông thôn mới)</td></tr>'
        body += row(1, "Thôn Đông", "Cánh đồng lúa chất lượng cao", "Tập thể", False)
        body += '<tr><td colspan="8">II- Lĩnh vực văn hóa – xã hội</td></tr>'
        body += row(1, "Tổ dân phố số 3", "Nhà sạch, vườn đẹp", "Cá nhân", True)
    else:
        body += row(1, "Cơ quan", "Một cửa thân thiện", "Tập thể", True)
        body += row(2, "Khu dân cư", "Gương mẫu nơi cư trú", "Cá nhân", False)
    return (
        HEAD.format(unit="ĐẢNG ỦY XÃ LIÊN SƠN")
        + "<p><b>DANH SÁCH ĐĂNG KÝ XÂY DỰNG MÔ HÌNH, ĐIỂN HÌNH “DÂN VẬN KHÉO” NĂM 2024</b></p>"
        + f'<table border="1">{header}{body}</table>'
        + END
    )


def report(title: str) -> str:
    body = (
        "Thực hiện Kế hoạch của Huyện ủy, Đảng ủy xã đã chỉ đạo các chi bộ, Mặt trận và các "
        "đoàn thể đẩy mạnh phong trào thi đua; trong năm xây dựng được 12 mô hình, kết quả nổi "
        "bật là mô hình hiến đất làm đường giao thông nông thôn, mô hình tự quản về an ninh "
        "trật tự ở các thôn và mô hình dân vận khéo trong cải cách hành chính tại bộ phận một cửa."
    )
    return (
        HEAD.format(unit="ĐẢNG ỦY XÃ LIÊN SƠN")
        + f"<p><b>BÁO CÁO</b></p><p>{title}</p><p>{body}</p>"
        + END
    )


FORMS = {
    "M1": ("docx", labelled("M1", "kinh-te", "Cấp huyện")),
    "M2": ("docx", labelled("M2", "van-hoa-xa-hoi", "Cấp tỉnh", person="Nguyễn Thị Hoa")),
    "M3": ("xlsx", listing(sections=True)),
    "M3-word": ("docx", listing(sections=True)),
    "M4": ("xlsx", listing(sections=False)),
    "mau-02": ("docx", report("Tình hình thực hiện mô hình điểm “Dân vận khéo” năm 2024")),
    "bao-cao-nam": ("docx", report("Kết quả thực hiện phong trào thi đua “Dân vận khéo” năm 2024")),
}


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, bytes]]:
    """Each form as LibreOffice saves it: one soffice run per target format."""
    program = require_libreoffice()
    root = tmp_path_factory.mktemp("office-forms")
    files: dict[str, bytes] = {}
    for fmt in ("docx", "xlsx"):
        names = [name for name, (f, _) in FORMS.items() if f == fmt]
        sources = []
        for name in names:
            source = root / f"{name}.html"
            source.write_text(FORMS[name][1], encoding="utf-8")
            sources.append(str(source))
        infilter, convert_to = TARGETS[fmt]
        subprocess.run(
            [program, f"-env:UserInstallation={(root / 'profile').as_uri()}", "--headless",
             "--norestore", f"--infilter={infilter}", "--convert-to", convert_to,
             "--outdir", str(root), *sources],
            check=True, capture_output=True, timeout=180,
        )  # fmt: skip
        for name in names:
            files[name] = (root / f"{name}.{fmt}").read_bytes()
    yield files


def parse(made: dict[str, bytes], name: str, filename: str) -> parsers.model.ParsedFile:
    return parsers.parse_file(filename, made[name])


def test_m1_and_m2_from_writer(made: dict[str, bytes]) -> None:
    m1 = parse(made, "M1", "Dang ky tap the.docx")
    assert m1.form == "M1"
    [entry] = m1.entries
    assert (entry.kind, entry.field, entry.level) == ("tap-the", "kinh-te", "huyen")
    assert entry.extra["model"] == "Chung tay xây dựng đường hoa"
    m2 = parse(made, "M2", "Dang ky ca nhan.docx")
    assert m2.form == "M2"
    [person] = m2.entries
    assert (person.name, person.kind, person.field, person.level) == (
        "Nguyễn Thị Hoa", "ca-nhan", "van-hoa-xa-hoi", "tinh",
    )  # fmt: skip
    assert not [p for p in (*m1.problems, *m2.problems) if p.code != "info"]


@pytest.mark.parametrize("name", ["M3", "M3-word"])
def test_m3_from_calc_and_writer(made: dict[str, bytes], name: str) -> None:
    parsed = parse(made, name, "Danh sach dang ky.xlsx" if name == "M3" else "Danh sach.docx")
    assert parsed.form == "M3"
    assert [(e.name, e.kind, e.field) for e in parsed.entries] == [
        ("Cánh đồng lúa chất lượng cao", "tap-the", "kinh-te"),
        ("Nhà sạch, vườn đẹp", "ca-nhan", "van-hoa-xa-hoi"),
    ]
    assert [e.extra.get("period") for e in parsed.entries] == ["tiep-tuc", "moi"]


def test_m4_from_calc(made: dict[str, bytes]) -> None:
    parsed = parse(made, "M4", "Danh sach dang ky co quan.xlsx")
    assert parsed.form == "M4"
    assert [(e.name, e.kind) for e in parsed.entries] == [
        ("Một cửa thân thiện", "tap-the"),
        ("Gương mẫu nơi cư trú", "ca-nhan"),
    ]


@pytest.mark.parametrize(("name", "fields"), [("mau-02", {}), ("bao-cao-nam", {"ky": "nam"})])
def test_reports_from_writer(made: dict[str, bytes], name: str, fields: dict[str, str]) -> None:
    parsed = parse(made, name, "Bao cao.docx")
    assert parsed.form == name
    assert fields.items() <= parsed.fields.items()
    assert parsed.entries == () and parsed.problems == ()
