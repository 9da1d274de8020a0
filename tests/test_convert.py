"""mail_ingest.convert and attachments: old Office files, scans, archives through the service.

Files come from LibreOffice itself (office_fixtures), so these tests skip without it,
except the ones that fake soffice with a shell script to make it hang or write nothing.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import time
import zipfile
from collections.abc import Callable
from datetime import datetime
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

import parsers
from mail_ingest import attachments, convert
from mail_ingest.cli import cli
from mail_ingest.mime import Attachment
from mail_ingest.samples import mau02_docx
from mail_ingest.store import Store
from parsers.model import ParsedFile

from conftest import Deployment, make_message
from office_fixtures import ENTRIES, UNIT, mau01_files

EXPECTED = [(e.name, e.kind, e.field, e.level) for e in ENTRIES]
OLE = bytes.fromhex("D0CF11E0A1B11AE1")
SPECS = parsers.builtin_specs()


@pytest.fixture(scope="session")
def lo_mau01(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    """Built by LibreOffice once per session (several seconds)."""
    return mau01_files(tmp_path_factory.mktemp("libreoffice"))


def entries(parsed: ParsedFile) -> list[tuple[str, str | None, str | None, str | None]]:
    return [(e.name, e.kind, e.field, e.level) for e in parsed.entries]


def read(name: str, data: bytes, ctype: str = "application/octet-stream") -> ParsedFile:
    [row] = attachments.read_attachment(Attachment(name, ctype, data), "Gửi mẫu 01", SPECS)
    assert row.filename == name and row.parsed.filename == name
    return row.parsed


def fake_soffice(tmp_path: Path, script: str) -> str:
    path = tmp_path / "soffice"
    path.write_text(f"#!/bin/sh\n{script}\n", encoding="utf-8")
    path.chmod(0o755)
    return str(path)


# --- what is converted -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "data", "fmt"),
    [
        ("a.doc", OLE + b"\0", "docx"),
        ("a.XLS", OLE + b"\0", "xlsx"),
        ("a.rtf", b"{\\rtf1 x}", "docx"),
        ("a.odt", b"PK\x03\x04", "docx"),
        ("a.doc", b"just text", None),  # not Word: the parser says so
        ("a.docx", b"PK\x03\x04", None),
        ("a.pdf", b"%PDF", None),
    ],
)
def test_what_is_converted(name: str, data: bytes, fmt: str | None) -> None:
    assert convert.target(name, data) == fmt


# --- LibreOffice failing, faked ----------------------------------------------------------


def test_libreoffice_missing_is_a_reason(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    assert convert.program() is None
    result = convert.convert("a.doc", OLE, "docx")
    assert (result.data, result.filename) == (None, "a.docx")
    assert "not installed" in result.reason


def test_exit_zero_without_output_is_a_failure(tmp_path: Path) -> None:
    result = convert.convert("a.doc", OLE, "docx", soffice=fake_soffice(tmp_path, "exit 0"))
    assert result.data is None and result.reason.startswith("no output (exit 0)")


def test_a_hanging_conversion_is_killed_with_its_children(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    started: list[subprocess.Popen[bytes]] = []

    class Recorded(subprocess.Popen[bytes]):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            started.append(self)

    monkeypatch.setattr(convert.subprocess, "Popen", Recorded)
    hang = fake_soffice(tmp_path, "sleep 60 & sleep 60")
    result = convert.convert("a.doc", OLE, "docx", soffice=hang, timeout=0.3)
    assert result.data is None and "did not finish within 0.3 s" in result.reason
    assert _group_ends(started[0].pid), "a process of the conversion survived"


def _group_ends(group: int) -> bool:
    """Whether the process group is gone (init reaps the orphans a moment later)."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            os.killpg(group, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.05)
    return False


# --- real LibreOffice --------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["docx", "xlsx"])
def test_libreoffice_made_files_parse_directly(lo_mau01: dict[str, bytes], fmt: str) -> None:
    parsed = parsers.parse_file(f"Mẫu 01.{fmt}", lo_mau01[fmt])
    assert (parsed.form, entries(parsed), parsed.problems) == ("mau-01", EXPECTED, ())
    assert parsed.fields["don_vi"] == UNIT.upper()


@pytest.mark.parametrize("fmt", ["doc", "xls"])
def test_old_formats_are_converted_then_parsed(lo_mau01: dict[str, bytes], fmt: str) -> None:
    parsed = read(f"Mẫu 01 Mường So.{fmt}", lo_mau01[fmt])
    assert (parsed.form, entries(parsed), parsed.problems) == ("mau-01", EXPECTED, ())
    note = parsed.fields[attachments.CONVERTED]
    assert f"'Mẫu 01 Mường So.{fmt}'" in note and "LibreOffice" in note


def test_a_converted_file_is_named_as_sent_in_problems(lo_mau01: dict[str, bytes]) -> None:
    parsed = read("bao cao.doc", lo_mau01["doc"])  # no form in the name: found by its title
    assert parsed.form == "mau-01"
    wrong = read("thu.doc", b"{\\rtf1\\ansi Kinh gui Ban Dan van}")
    assert wrong.form is None and "'thu.doc'" in wrong.problems[0].message


def test_without_libreoffice_xls_is_read_by_xlrd_and_doc_waits_for_review(
    lo_mau01: dict[str, bytes], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # LibreOffice made the fixtures, then vanished
    xls = read("Mẫu 01.xls", lo_mau01["xls"])
    assert (xls.form, entries(xls), xls.problems) == ("mau-01", EXPECTED, ())
    assert attachments.CONVERTED not in xls.fields
    doc = read("Mẫu 01.doc", lo_mau01["doc"])
    assert doc.form is None and [p.code for p in doc.problems] == ["needs-review"]
    assert doc.problems[0].message.startswith("Đã nhận tệp 'Mẫu 01.doc'")
    assert ".docx" in doc.problems[0].message


def test_a_timed_out_conversion_falls_back(
    lo_mau01: dict[str, bytes], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # A LibreOffice that hangs, whatever the machine's speed (a real one may beat the 1 s floor).
    fake_soffice(tmp_path, "sleep 60")
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setattr(convert, "TIMEOUT", 0.01)
    xls = read("Mẫu 01.xls", lo_mau01["xls"])
    assert (xls.form, entries(xls)) == ("mau-01", EXPECTED)
    # A .doc the parsers cannot read either: the board is told it was too costly to read.
    assert read("Mẫu 01.doc", lo_mau01["doc"]).problems[0].code == "too-complex"


def test_xlrd_and_libreoffice_see_the_same_table(lo_mau01: dict[str, bytes]) -> None:
    converted = convert.convert("a.xls", lo_mau01["xls"], "xlsx")
    assert converted.data is not None
    by_xlrd = parsers.parse_file("Mẫu 01.xls", lo_mau01["xls"])
    by_libreoffice = parsers.parse_file("Mẫu 01.xlsx", converted.data)
    assert by_xlrd.entries == by_libreoffice.entries
    assert by_xlrd.fields == by_libreoffice.fields


# --- through the service -----------------------------------------------------------------


def zip_of(members: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in members.items():
            z.writestr(name, data)
    return out.getvalue()


def test_scans_archives_and_forwards_through_a_poll(
    lo_mau01: dict[str, bytes], deployment: Deployment, at: Callable[..., datetime]
) -> None:
    inner = EmailMessage()
    inner["From"] = "Văn thư <vanthu@example.vn>"
    inner["Subject"] = "Mẫu 01"
    inner.set_content("Gửi anh chị")
    archive = zip_of({"Mẫu 01.xls": lo_mau01["xls"], "Bản ký.pdf": b"%PDF-1.4"})
    inner.add_attachment(archive, maintype="application", subtype="zip", filename="Hồ sơ.zip")
    outer = EmailMessage()
    outer["From"] = "Đảng ủy xã Mường So <dangUY.muongso@EXAMPLE.vn>"
    outer["Subject"] = "Fwd: Mẫu 01"
    outer["Date"] = "Thu, 25 Jan 2024 09:00:00 +0700"
    outer["Message-ID"] = "<fwd@example.vn>"
    outer.set_content("Chuyển tiếp")
    outer.add_attachment(inner)
    deployment.deliver(outer.as_bytes(), at(25))
    second = [("Mau 02.docx", mau02_docx(UNIT, [e.model for e in ENTRIES])), ("x.rar", b"Rar!")]
    deployment.deliver(make_message(outer["From"], files=second), at(26))
    runner = CliRunner()
    config = ["--config", str(deployment.config)]
    assert runner.invoke(cli, [*config, "poll"], catch_exceptions=False).exit_code == 0
    result = runner.invoke(
        cli, [*config, "status", "--format", "json", "--now", "2024-02-10T08:00:00+07:00"]
    )
    row = {r["unit"]: r for r in json.loads(result.output)["rows"]}["xa-muong-so"]
    assert (row["status"], row["forms"], row["entries"]) == ("on_time", ["mau-01", "mau-02"], 4)
    assert any("tệp nén RAR 'x.rar'" in p for p in row["problems"])  # the latest message's
    with Store(deployment.root / "data" / "mail-ingest.sqlite3") as store:
        [first, _] = store.submissions()["xa-muong-so"]
    files = {f.filename: f for f in first.files}
    assert list(files) == ["Hồ sơ.zip", "Hồ sơ.zip/Mẫu 01.xls", "Hồ sơ.zip/Bản ký.pdf"]
    assert files["Hồ sơ.zip/Mẫu 01.xls"].form == "mau-01"
    assert attachments.CONVERTED in files["Hồ sơ.zip/Mẫu 01.xls"].fields
    [scan] = files["Hồ sơ.zip/Bản ký.pdf"].problems
    assert scan.code == "scan-needs-review"
    assert (
        scan.message
        == "Đã nhận bản chụp/bản scan 'Hồ sơ.zip/Bản ký.pdf'; Ban Dân vận sẽ xem trực tiếp"
    )
