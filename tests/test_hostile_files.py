"""Attachments built to cost CPU or memory: each is bounded, recorded, and its neighbours read.

Every hostile file is generated here. The costly ones run under mail_ingest.sandbox with
an address-space limit and a generous timeout, so a regression fails the test (Failed)
instead of taking the machine.
"""

from __future__ import annotations

import io
import random
import time
import zipfile
from collections.abc import Callable
from datetime import datetime

import docx
import hostile_children
import openpyxl
import pytest
from click.testing import CliRunner

import parsers
from mail_ingest import attachments, sandbox
from mail_ingest.cli import cli
from mail_ingest.mime import Attachment
from mail_ingest.samples import SampleEntry, mau01_docx, mau01_xlsx
from parsers import office
from parsers.model import ParsedFile

from conftest import Deployment, make_message
from office_fixtures import require_libreoffice

SPECS = parsers.builtin_specs()
UNIT = "Đảng ủy xã Mường So"
ENTRIES = [SampleEntry("Hợp tác xã chè Mường So", "tap-the", "kinh-te", "huyen", "Chè")]
GIB = 1024**3


def good_xlsx() -> bytes:
    return mau01_xlsx(UNIT, ENTRIES)


def read_all(*files: tuple[str, bytes], subject: str = "") -> list[ParsedFile]:
    rows = attachments.read_attachments(
        [Attachment(name, "application/octet-stream", data) for name, data in files],
        subject,
        SPECS,
    )
    return [row.parsed for row in rows]


def codes(parsed: ParsedFile) -> list[str]:
    return [p.code for p in parsed.problems]


def rezip(data: bytes, change: dict[str, bytes], *, stored: bool = False) -> bytes:
    """The package with some members replaced or added."""
    source, out = zipfile.ZipFile(io.BytesIO(data)), io.BytesIO()
    method = zipfile.ZIP_STORED if stored else zipfile.ZIP_DEFLATED
    with zipfile.ZipFile(out, "w", method) as z:
        for info in source.infolist():
            if info.filename not in change:
                z.writestr(info.filename, source.read(info))
        for name, content in change.items():
            z.writestr(name, content)
    return out.getvalue()


def merged_xlsx(count: int, ref: str = "A1:AN5000") -> bytes:
    """A 6 KB workbook with `count` merged ranges, each over the whole 5000 x 40 grid."""
    book = openpyxl.Workbook()
    book.active["A1"], book.active["AN5000"] = "x", "y"
    buf = io.BytesIO()
    book.save(buf)
    sheet = zipfile.ZipFile(buf).read("xl/worksheets/sheet1.xml")
    merges = f'<mergeCells count="{count}">' + f'<mergeCell ref="{ref}"/>' * count
    sheet = sheet.replace(b"</sheetData>", f"</sheetData>{merges}</mergeCells>".encode())
    return rezip(buf.getvalue(), {"xl/worksheets/sheet1.xml": sheet})


ODF_NS = (
    'xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
    'xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" '
    'xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0"'
)


def odf(body: str, kind: str = "text", manifest_extra: str = "", stored: bool = False) -> bytes:
    mime = f"application/vnd.oasis.opendocument.{kind}"
    content = (
        f'<?xml version="1.0" encoding="UTF-8"?><office:document-content {ODF_NS} '
        f'office:version="1.2"><office:body><office:{kind}>{body}</office:{kind}>'
        "</office:body></office:document-content>"
    )
    manifest = (
        '<?xml version="1.0" encoding="UTF-8"?><manifest:manifest xmlns:manifest='
        '"urn:oasis:names:tc:opendocument:xmlns:manifest:1.0" manifest:version="1.2">'
        f'<manifest:file-entry manifest:full-path="/" manifest:media-type="{mime}"/>'
        '<manifest:file-entry manifest:full-path="content.xml" manifest:media-type="text/xml">'
        f"{manifest_extra}</manifest:file-entry></manifest:manifest>"
    )
    out = io.BytesIO()
    method = zipfile.ZIP_STORED if stored else zipfile.ZIP_DEFLATED
    with zipfile.ZipFile(out, "w", method) as z:
        z.writestr(zipfile.ZipInfo("mimetype"), mime)
        z.writestr("META-INF/manifest.xml", manifest)
        z.writestr("content.xml", content)
    return out.getvalue()


# --- merged ranges -----------------------------------------------------------------------


def _merged_grid(count: int) -> tuple[str, str, int]:
    grid = office.read(merged_xlsx(count)).blocks[0]
    assert isinstance(grid, office.Grid)
    return grid.rows[0][0], grid.rows[-1][-1], len(grid.rows)


def test_twenty_thousand_merged_ranges_cost_one_pass_over_the_grid() -> None:
    # Before: 134 s of CPU. One pass over a 5000 x 40 grid takes well under a second.
    first, last, rows = sandbox.run(_merged_grid, 20_000, memory=GIB, timeout=20)
    assert (first, last, rows) == ("x", "x", office.MAX_ROWS)


def test_merged_ranges_outside_the_grid_or_backwards_are_ignored() -> None:
    rows = [["a", "b"], ["c", "d"]]
    office.fill_merged(rows, [(5, 9, 0, 2), (0, 2, 7, 9), (1, 0, 0, 2), (-1, 2, 0, 1)])
    assert rows == [["a", "b"], ["c", "d"]]
    office.fill_merged(rows, [(0, 99, 0, 1)])  # clipped to the grid
    assert rows == [["a", "b"], ["a", "d"]]


def test_a_merge_bomb_between_good_files_leaves_them_read() -> None:
    good = good_xlsx()
    before, bomb, after = read_all(
        ("Mẫu 01.xlsx", good), ("merge.xlsx", merged_xlsx(20_000)), ("Mẫu 01 (2).xlsx", good)
    )
    assert before.form == after.form == "mau-01" and len(after.entries) == 1
    assert bomb.form is None


# --- zip checks before any library or LibreOffice ---------------------------------------


BIG = b" " * (17 * 2**20)
OVERSIZED: dict[str, Callable[[], bytes]] = {
    # A single XML part over 16 MB, stored, so that the ratio check does not see it.
    "big.odt": lambda: odf("<text:p>" + "x" * len(BIG) + "</text:p>", stored=True),
    "big.xlsx": lambda: rezip(good_xlsx(), {"xl/sharedStrings.xml": BIG}, stored=True),
    "big.docx": lambda: rezip(mau01_docx(UNIT, ENTRIES), {"word/document.xml": BIG}, stored=True),
    # Deflated text at 1000:1: 60 MB unpacked from 60 KB.
    "ratio.ods": lambda: odf("<text:p>" + "x" * (60 * 2**20) + "</text:p>", kind="spreadsheet"),
}


@pytest.mark.parametrize("name", OVERSIZED)
def test_oversized_parts_and_ratios_are_refused_for_every_package(name: str) -> None:
    [parsed] = read_all((name, OVERSIZED[name]()))
    assert codes(parsed) == ["suspicious-file"]
    assert f"'{name}'" in parsed.problems[0].message


def test_an_odf_encrypted_in_its_manifest_is_not_converted() -> None:
    data = odf("<text:p>x</text:p>", manifest_extra="<manifest:encryption-data/>")
    [parsed] = read_all(("mat khau.odt", data))
    assert codes(parsed) == ["encrypted"]


def test_check_package_passes_the_real_forms() -> None:
    for data in (good_xlsx(), mau01_docx(UNIT, ENTRIES), odf("<text:p>Xin chào</text:p>")):
        office.check_package(data)


# --- LibreOffice under a memory limit ---------------------------------------------------


def test_an_ods_that_asks_libreoffice_for_gigabytes_is_stopped_and_recorded() -> None:
    require_libreoffice()
    # 800 bytes: 100,000 rows of 100 cells; unlimited, LibreOffice takes 3 GB and 50 s.
    cell = '<table:table-cell table:number-columns-repeated="100" office:value-type="string">'
    bomb = odf(
        f'<table:table table:name="t"><table:table-row table:number-rows-repeated="100000">'
        f"{cell}<text:p>x</text:p></table:table-cell></table:table-row></table:table>",
        kind="spreadsheet",
    )
    assert len(bomb) < 2000
    bombed, good = read_all(("bom.ods", bomb), ("Mẫu 01.xlsx", good_xlsx()))
    assert codes(bombed) == ["too-complex"]
    assert "Ban Dân vận sẽ xem trực tiếp" in bombed.problems[0].message
    assert good.form == "mau-01"


# --- per-message budget -----------------------------------------------------------------


def test_three_hundred_tiny_rtfs_cost_a_few_conversions() -> None:
    require_libreoffice()
    rtfs = [(f"{i}.rtf", b"{\\rtf1 Bao cao %d}" % i) for i in range(300)]
    started = time.monotonic()
    parsed = read_all(
        ("Mẫu 01.xlsx", good_xlsx()), *rtfs, ("Mẫu 01.docx", mau01_docx(UNIT, ENTRIES))
    )
    first, rtf, last = parsed[0], parsed[1:-1], parsed[-1]
    assert first.form == last.form == "mau-01"
    over = [p for p in rtf if codes(p) == ["over-budget"]]
    assert len(over) == 300 - attachments.MAX_CONVERSIONS
    assert "chưa được đọc tự động" in over[0].problems[0].message
    assert time.monotonic() - started < 120  # before: 472 s


def test_files_beyond_the_message_budget_are_recorded_not_read(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(attachments, "MAX_FILES", 2)
    parsed = read_all(*[(f"{i}.xlsx", good_xlsx()) for i in range(4)])
    assert [p.form for p in parsed] == ["mau-01", "mau-01", None, None]
    assert codes(parsed[3]) == ["over-budget"] and "hơn 2 tệp" in parsed[3].problems[0].message


# --- the sandbox ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("func", "why"),
    [
        (hostile_children.hog, "memory"),
        (hostile_children.spin, "timeout"),
        (hostile_children.die, "crash"),
    ],
)
def test_a_child_over_its_limits_fails_alone(func: object, why: str) -> None:
    with pytest.raises(sandbox.Failed) as failed:
        sandbox.run(func, memory=GIB, timeout=2)  # type: ignore[arg-type]
    assert failed.value.why == why
    assert sandbox.run(len, b"abc") == 3  # the next call gets a fresh child


def test_a_parser_killed_in_its_sandbox_is_a_problem_for_that_file_only(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(sandbox, "TIMEOUT", 1e-6)  # shorter than any round trip
    [parsed] = read_all(("Mẫu 01.xlsx", good_xlsx()))
    assert codes(parsed) == ["too-complex"]
    monkeypatch.undo()
    [parsed] = read_all(("Mẫu 01.xlsx", good_xlsx()))
    assert parsed.form == "mau-01"


# --- OLE garbage ------------------------------------------------------------------------


def garbage_docx(seed: int) -> bytes:
    """What LibreOffice makes of random bytes after the OLE magic: CJK and Hangul soup."""
    rng = random.Random(seed)
    document = docx.Document()
    document.add_paragraph("".join(chr(rng.randrange(0x3400, 0xD7A0)) for _ in range(3000)))
    buf = io.BytesIO()
    document.save(buf)
    return buf.getvalue()


@pytest.mark.parametrize("name", ["Mẫu 02.docx", "BC mô hình.docx", "M02.docx"])
@pytest.mark.parametrize("seed", [1, 2])
def test_a_file_with_no_text_is_no_form_whatever_its_name(name: str, seed: int) -> None:
    parsed = parsers.parse_file(name, garbage_docx(seed), SPECS, hint="Gửi mẫu 02")
    assert parsed.form is None and codes(parsed) == ["unrecognised-form"]


def test_a_real_text_named_as_the_form_is_still_that_form() -> None:
    document = docx.Document()
    for line in ("ĐẢNG ỦY XÃ MƯỜNG SO", "Kết quả thực hiện trong năm", "Nội dung " * 50):
        document.add_paragraph(line)
    buf = io.BytesIO()
    document.save(buf)
    assert parsers.parse_file("Mẫu 02.docx", buf.getvalue(), SPECS).form == "mau-02"


def test_ole_garbage_named_doc_is_no_form() -> None:
    require_libreoffice()
    garbage = bytes.fromhex("D0CF11E0A1B11AE1") + random.Random(1).randbytes(20_000)
    [parsed] = read_all(("Mẫu 02.doc", garbage), subject="Gửi mẫu 02")
    assert parsed.form is None and "unrecognised-form" in codes(parsed)


# --- through the pipeline ----------------------------------------------------------------


def test_a_poll_with_a_bomb_mail_records_it_and_reads_the_next_one(
    deployment: Deployment, at: Callable[..., datetime]
) -> None:
    commune = "Đảng ủy xã Mường So <dangUY.muongso@EXAMPLE.vn>"
    hostile = [("Mau 01.xlsx", merged_xlsx(20_000)), ("big.xlsx", OVERSIZED["big.xlsx"]())]
    deployment.deliver(make_message(commune, "Mẫu 01", files=hostile), at(21))
    deployment.deliver(
        make_message(commune, "Mẫu 01", files=[("Mau 01.xlsx", good_xlsx())]), at(22)
    )
    result = CliRunner().invoke(
        cli, ["--config", str(deployment.config), "poll"], catch_exceptions=False
    )
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[0].startswith("fetched 2, new 2")
    listing = CliRunner().invoke(cli, ["--config", str(deployment.config), "messages"]).output
    assert listing.count("submission") == 2
