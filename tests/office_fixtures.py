"""mẫu 01 as a real office suite writes it: HTML converted by LibreOffice headless.

The other fixtures are built with python-docx and openpyxl, which write tidy XML; these
come from LibreOffice (.docx, .xlsx, and the old binary .doc and .xls), with a two-row
header merged by rowspan/colspan and kind section rows, so the parsers meet files they
did not help write. Built once per test session. Without LibreOffice the tests using
them skip, unless MAIL_INGEST_REQUIRE_LIBREOFFICE=1 (CI), when they fail. A test module
wraps mau01_files in a session fixture.
"""

from __future__ import annotations

import html
import os
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

import pytest

from mail_ingest.samples import SampleEntry

REQUIRE_ENV = "MAIL_INGEST_REQUIRE_LIBREOFFICE"
UNIT = "Đảng ủy xã Mường So"
ENTRIES = [
    SampleEntry("Hợp tác xã chè Mường So", "tap-the", "kinh-te", "huyen", "Chè Shan tuyết"),
    SampleEntry("Chi hội Phụ nữ Nậm Củm", "tap-the", "van-hoa-xa-hoi", "xa", "Nhà sạch, vườn đẹp"),
    SampleEntry("Lò Văn Thắng", "ca-nhan", "xay-dung-dang", "xa", "Hiến đất làm đường"),
    SampleEntry("Tao Thị Xuân", "ca-nhan", "quoc-phong-an-ninh", "tinh", "Tổ tự quản an ninh"),
]
FIELD = {
    "xay-dung-dang": "Xây dựng Đảng",
    "kinh-te": "Kinh tế",
    "van-hoa-xa-hoi": "Văn hóa - Xã hội",
    "quoc-phong-an-ninh": "Quốc phòng - An ninh",
}
LEVEL = {"tinh": "Cấp tỉnh", "huyen": "Cấp huyện", "xa": "Cấp xã"}
SECTION = {"tap-the": "A. Tập thể", "ca-nhan": "B. Cá nhân"}
# Writer opens HTML as a web page unless told; Calc's web-query filter keeps the merges.
TARGETS = {
    "docx": ("HTML (StarWriter)", "docx:MS Word 2007 XML"),
    "doc": ("HTML (StarWriter)", "doc:MS Word 97"),
    "xlsx": ("calc_HTML_WebQuery", "xlsx:Calc MS Excel 2007 XML"),
    "xls": ("calc_HTML_WebQuery", "xls:MS Excel 97"),
}


def soffice() -> str | None:
    return shutil.which("soffice") or shutil.which("libreoffice")


def require_libreoffice() -> str:
    """Skip when LibreOffice is not installed, unless CI demands it (then fail loudly)."""
    found = soffice()
    if found:
        return found
    message = "soffice not found: install libreoffice-writer-nogui libreoffice-calc-nogui"
    if os.environ.get(REQUIRE_ENV) == "1":
        pytest.fail(f"{message} ({REQUIRE_ENV}=1)", pytrace=False)
    pytest.skip(message)


def mau01_html(unit: str = UNIT, entries: Sequence[SampleEntry] = ENTRIES) -> str:
    """mẫu 01 with its header block, a merged two-row header, sections and a signature."""
    e = html.escape
    rows, number = [], 0
    for kind in ("tap-the", "ca-nhan"):
        rows.append(f'<tr><td colspan="6"><b>{SECTION[kind]}</b></td></tr>')
        for entry in (x for x in entries if x.kind == kind):
            number += 1
            cells = (
                str(number),
                entry.name,
                entry.model,
                FIELD[entry.field],
                LEVEL[entry.level or ""],
            )
            rows.append("<tr>" + "".join(f"<td>{e(c)}</td>" for c in cells) + "<td></td></tr>")
    body = "\n".join(rows)
    return f"""<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>Mẫu 01</title></head><body>
<p>ĐẢNG BỘ HUYỆN PHONG THỔ</p>
<p><b>{e(unit.upper())}</b></p>
<p><i>Mường So, ngày 25 tháng 01 năm 2024</i></p>
<p><b>BIỂU TỔNG HỢP ĐĂNG KÝ THI ĐUA “DÂN VẬN KHÉO” NĂM 2024</b></p>
<table border="1">
<tr><th rowspan="2">TT</th><th rowspan="2">Tên tập thể, cá nhân</th>
<th colspan="3">Mô hình đăng ký</th><th rowspan="2">Ghi chú</th></tr>
<tr><th>Tên mô hình</th><th>Lĩnh vực</th><th>Cấp</th></tr>
{body}
</table>
<p><b>T/M ĐẢNG ỦY</b></p>
<p><b>BÍ THƯ</b></p>
</body></html>
"""


def convert_html(program: str, source: Path, fmt: str, outdir: Path) -> bytes:
    """One LibreOffice conversion of the HTML, with its own profile and a timeout."""
    infilter, convert_to = TARGETS[fmt]
    profile = outdir / f"profile-{fmt}"
    subprocess.run(
        [
            program, f"-env:UserInstallation={profile.as_uri()}", "--headless", "--norestore",
            f"--infilter={infilter}", "--convert-to", convert_to, "--outdir", str(outdir),
            str(source),
        ],
        check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    result = outdir / f"{source.stem}.{fmt}"
    assert result.is_file(), f"LibreOffice wrote no {result.name}"
    return result.read_bytes()


def mau01_files(root: Path) -> dict[str, bytes]:
    """mẫu 01 as LibreOffice writes it, by extension: docx, xlsx, doc, xls (or a skip)."""
    program = require_libreoffice()
    source = root / "mau01.html"
    source.write_text(mau01_html(), encoding="utf-8")
    return {fmt: convert_html(program, source, fmt, root) for fmt in TARGETS}
