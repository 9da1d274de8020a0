"""Doubt goes to the board, never to a unit (issue 12): status "Chờ kiểm tra", receipts
without the doubt, no reminder, `review`, `accept`, `teach`, the daily report.

The tests marked PARSERS need the parsers' side of the contract (parse_file(..., taught))
and run once it is merged; the others build a doubtful reading from a real parsed sample,
as the parsers hand it back, and record it in a real store.
"""

from __future__ import annotations

import inspect
import io
import json
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path

import openpyxl
import pytest
from click.testing import CliRunner, Result

import parsers
from mail_ingest import config as config_module
from mail_ingest import decisions, workbook
from mail_ingest.app import open_store, poll_config
from mail_ingest.cli import cli
from mail_ingest.samples import SampleEntry, mau01_xlsx, mau02_docx
from mail_ingest.store import MessageRecord, StoredAttachment
from parsers.model import ParsedFile, Problem
from rules.status import needs_check

from conftest import CONFIG, Deployment, make_message

COMMUNE = "Đảng ủy xã Mường So <DangUy.MuongSo@example.vn>"
SMTP = '[smtp]\nkind = "file"\npath = "outbox"\nsender = "Ban Dân vận <bdv@example.vn>"\n'
REPORT = '[report]\nrecipients = ["lanhdao@example.vn"]\n'
ENTRIES = [
    SampleEntry("Hợp tác xã chè Mường So", "tap-the", "kinh-te", "huyen", "Chè Shan tuyết"),
    SampleEntry("Chi hội Phụ nữ Nậm Củm", "tap-the", "van-hoa-xa-hoi", "xa", "Nhà sạch"),
    SampleEntry("Lò Văn Thắng", "ca-nhan", "xay-dung-dang", "xa", "Hiến đất làm đường"),
    SampleEntry("Tao Thị Xuân", "ca-nhan", "quoc-phong-an-ninh", "xa", "Tổ tự quản"),
]
RECEIVED = datetime.fromisoformat("2024-01-25T09:00+07:00")
DOUBT = "3 dòng chưa xác định tập thể hay cá nhân"
INFERRED = "cột 'Phân nhóm' được hiểu là tập thể/cá nhân"
PARSERS = pytest.mark.skipif(
    "taught" not in inspect.signature(parsers.parse_file).parameters,
    reason="needs the parsers branch (parse_file(..., taught=...))",
)


def board(tmp_path: Path) -> Deployment:
    text = CONFIG.replace("[storage]", SMTP + REPORT + "[storage]", 1)
    text = text.replace('before = "2024-02-01"\n', 'before = "2024-02-01"\nreminders = [-3, 1]\n')
    return Deployment(tmp_path, text)


def invoke(deployment: Deployment, *args: str) -> Result:
    return CliRunner().invoke(
        cli,
        ["--config", str(deployment.config), *args],
        catch_exceptions=False,
        env={"COLUMNS": "200", "LOGNAME": "canbo.lan"},
    )


def status_row(deployment: Deployment, now: str = "2024-01-29T08:00+07:00") -> dict:
    result = invoke(deployment, "status", "--format", "json", "--now", now)
    assert result.exit_code == 0, result.output
    return next(r for r in json.loads(result.output)["rows"] if r["unit"] == "xa-muong-so")


def doubtful_reading() -> ParsedFile:
    """A real mẫu 01 whose kinds the parser only guessed: one collective of the two
    required is what it read, and it says it is not sure (as the parsers hand it back)."""
    data = mau01_xlsx("Đảng ủy xã Mường So", ENTRIES[1:])
    parsed = parsers.parse_file("Mau 01.xlsx", data)
    assert parsed.form == "mau-01" and not parsed.problems
    return ParsedFile(
        filename=parsed.filename, form=parsed.form, fields=parsed.fields,
        entries=parsed.entries, confidence=0.6, inferred=(INFERRED,),
        problems=(Problem("kind-inferred", DOUBT, certain=False),), unknown=("Phân nhóm",),
    )  # fmt: skip


def record_doubtful(deployment: Deployment) -> None:
    """The commune's mail with a doubtful mẫu 01 and a plain mẫu 02, in the real store."""
    config = config_module.load(deployment.config)
    mau02 = parsers.parse_file("Mau 02.docx", mau02_docx("Đảng ủy xã Mường So", ["Nhà sạch"]))
    files = [("Mau 01.xlsx", doubtful_reading()), ("Mau 02.docx", mau02)]
    record = MessageRecord(
        sha256="a" * 64, size=1000, message_id="<doubt@example.vn>", sender=COMMUNE,
        subject="Gửi biểu đăng ký", received_at=RECEIVED, unit_id="xa-muong-so",
        outcome="submission", evidence="address", sender_address="DangUy.MuongSo@example.vn",
        attachments=tuple(StoredAttachment(n, "", 1, n, p) for n, p in files),
    )  # fmt: skip
    with open_store(config) as store:
        assert store.record(record, "maildir:test", 1, "1")


def test_a_doubtful_reading_waits_for_the_board_and_no_unit_hears_of_it(tmp_path: Path) -> None:
    deployment = board(tmp_path)
    record_doubtful(deployment)
    row = status_row(deployment)
    assert row["status"] == "checking"  # not "incomplete": only the parser doubts
    assert row["problems"] == []
    assert "Mới đăng ký 1 tập thể, yêu cầu ít nhất 2 tập thể" in row["doubts"]
    assert DOUBT in row["doubts"] and row["checks"] == ["Mau 01.xlsx"]
    table = invoke(deployment, "status", "--now", "2024-01-29T08:00+07:00").output
    assert "Chờ kiểm tra" in table and "Chưa đầy đủ: 0" in table

    config = config_module.load(deployment.config)
    with open_store(config) as store:
        [ack] = decisions.due(config, store, RECEIVED + timedelta(minutes=5), ("ack",))
        # Reminders are due on 26/01 (-3 from the 31st falls on a Sunday) and after.
        later = decisions.due(config, store, datetime.fromisoformat("2024-01-26T09:00+07:00"))
        report_day = decisions.due(config, store, datetime.fromisoformat("2024-01-29T18:00+07:00"))
    for text in (ack.text, ack.html or ""):
        assert "Đề nghị đơn vị kiểm tra, bổ sung" not in text
        assert DOUBT not in text and "Mới đăng ký" not in text and INFERRED not in text
        assert "đã tiếp nhận các tệp của đơn vị và sẽ kiểm tra nội dung các tệp này" in text
    assert "“Mau 01.xlsx”: đã nhận, đang chờ cán bộ kiểm tra nội dung" in ack.text
    assert "đã nhận hồ sơ, đang chờ kiểm tra" in ack.text  # the status line
    assert not [m for m in later if m.key.startswith("remind:xa-muong-so")]
    assert [m for m in later if m.key.startswith("remind:cq-vp")]  # others still are
    [daily] = [m for m in report_day if m.key.startswith("report:")]
    assert "- Chờ kiểm tra: 1" in daily.text
    assert "Đơn vị chờ kiểm tra hồ sơ (chưa báo đơn vị) (1):" in daily.text
    assert "Mau 01.xlsx" in daily.text and INFERRED in daily.text and DOUBT in daily.text
    assert "- “Phân nhóm”: 1 lần" in daily.text
    sheet = openpyxl.load_workbook(io.BytesIO(daily.attachments[0].data))["Tình trạng"]
    [commune] = [r for r in sheet.iter_rows(min_row=4) if r[1].value == "Đảng ủy xã Mường So"]
    assert commune[3].value == "Chờ kiểm tra"
    assert commune[3].fill.fgColor.rgb.endswith(workbook.FILLS["checking"])

    listing = invoke(deployment, "review").output
    assert "1 file(s) need a check" in listing and "[1] 2024-01-25 09:00" in listing
    assert f"doubt: {INFERRED}" in listing and f"doubt: {DOUBT}" in listing


def test_accept_settles_the_file_once_and_the_status_follows(tmp_path: Path) -> None:
    deployment = board(tmp_path)
    record_doubtful(deployment)
    done = invoke(deployment, "accept", "1", "--note", "đã gọi điện, đúng 1 tập thể")
    assert done.output == "file 1 checked: its reading counts as read\n"
    assert "already checked" in invoke(deployment, "accept", "1").output
    assert invoke(deployment, "accept", "99").exit_code != 0
    row = status_row(deployment)
    # The board read it as right: the shortfall is now the unit's, and certain.
    assert row["status"] == "incomplete" and row["doubts"] == [] and row["checks"] == []
    assert "Mới đăng ký 1 tập thể, yêu cầu ít nhất 2 tập thể" in row["problems"]
    assert "need a check" not in invoke(deployment, "review").output
    [audit] = invoke(deployment, "audit").output.splitlines()
    assert "accept" in audit and "attachment:1" in audit and "canbo.lan" in audit


def test_old_rows_are_certain_and_new_ones_keep_their_doubt(tmp_path: Path) -> None:
    deployment = board(tmp_path)
    record_doubtful(deployment)
    config = config_module.load(deployment.config)
    with open_store(config) as store:
        [submission] = store.submissions()["xa-muong-so"]
        store._db.execute("UPDATE attachments SET problems = ? WHERE id = 2",
                          ('[{"code": "x", "message": "cũ"}]',))  # fmt: skip
        store._db.execute("UPDATE attachments SET confidence = NULL WHERE id = 2")
        [again] = store.submissions()["xa-muong-so"]
    mau01, _ = submission.files
    assert mau01 == doubtful_reading() and needs_check(mau01)
    old = again.files[1]
    assert old.problems == (Problem("x", "cũ", certain=True),) and old.confidence == 1.0


def test_teach_stores_lists_and_removes_lessons_with_the_audit(tmp_path: Path) -> None:
    deployment = board(tmp_path)
    taught = invoke(deployment, "teach", "header", "Phân nhóm", "kind", "--form", "mau-01")
    assert taught.output == "lesson 1 stored: “Phân nhóm” = kind; later files use it\n"
    assert "already says so" in invoke(deployment, "teach", "header", "Phân nhóm", "kind",
                                       "--form", "mau-01").output  # fmt: skip
    assert invoke(deployment, "teach", "value", "KT-MT", "field", "kinh-te").exit_code == 0
    for wrong in (("header", "X", "no-such-column"), ("value", "X", "field", "kinh"),
                  ("value", "X", "colour", "red"), ("header", "X")):  # fmt: skip
        assert invoke(deployment, "teach", *wrong).exit_code != 0, wrong
    listing = invoke(deployment, "teach", "--list").output
    assert "header “Phân nhóm” → column kind (form mau-01)" in listing
    assert "value  “KT-MT” → field = kinh-te" in listing
    config = config_module.load(deployment.config)
    with open_store(config) as store:
        lessons = store.taught()
    assert [(h.id, h.text, h.meaning, h.form) for h in lessons.headers] == [
        ("1", "Phân nhóm", "kind", "mau-01")
    ]
    assert [(v.text, v.meaning) for v in lessons.values["field"]] == [("KT-MT", "kinh-te")]
    assert "removed" in invoke(deployment, "teach", "--remove", "1").output
    assert invoke(deployment, "teach", "--remove", "1").exit_code != 0
    assert "Phân nhóm" not in invoke(deployment, "teach", "--list").output
    actions = [line.split()[3] for line in invoke(deployment, "audit").output.splitlines()]
    assert sorted(actions) == ["teach", "teach", "unteach"], actions


def _renamed(data: bytes, header: str) -> bytes:
    """The sample with its kind column headed in the unit's own words."""
    book = openpyxl.load_workbook(io.BytesIO(data))
    sheet = book.active
    assert sheet is not None
    cells = [c for row in sheet.iter_rows() for c in row if c.value == "Tập thể/Cá nhân"]
    assert cells
    for cell in cells:
        cell.value = header
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _deliver(deployment: Deployment, header: str, day: int) -> None:
    files = [
        ("Mau 01.xlsx", _renamed(mau01_xlsx("Đảng ủy xã Mường So", ENTRIES), header)),
        ("Mau 02.docx", mau02_docx("Đảng ủy xã Mường So", [e.model for e in ENTRIES])),
    ]
    when = datetime(2024, 1, day, 9, tzinfo=RECEIVED.tzinfo)
    deployment.deliver(make_message(COMMUNE, files=files), when)


@PARSERS
def test_a_reworded_kind_heading_never_makes_a_complete_unit_incomplete(tmp_path: Path) -> None:
    deployment = board(tmp_path)
    _deliver(deployment, "Tập thể hoặc cá nhân", 25)
    config = config_module.load(deployment.config)
    poll_config(config)
    assert status_row(deployment)["status"] in ("on_time", "checking")
    with open_store(config) as store:
        [ack] = decisions.due(config, store, RECEIVED + timedelta(minutes=5), ("ack",))
        reminders = decisions.due(config, store, datetime.fromisoformat("2024-01-26T09:00+07:00"))
    assert "Đề nghị đơn vị kiểm tra, bổ sung" not in ack.text
    assert not [m for m in reminders if m.key.startswith("remind:xa-muong-so")]


@PARSERS
def test_a_taught_header_reads_the_next_file(tmp_path: Path) -> None:
    deployment = board(tmp_path)
    config = config_module.load(deployment.config)
    _deliver(deployment, "Cột K9", 24)
    poll_config(config)
    assert invoke(deployment, "teach", "header", "Cột K9", "kind").exit_code == 0
    _deliver(deployment, "Cột K9", 25)
    poll_config(config)
    with open_store(config) as store:
        [first, second] = store.submissions()["xa-muong-so"]
    assert "1" not in first.files[0].taught and second.files[0].taught == ("1",)
    assert {e.kind for e in second.files[0].entries} == {"tap-the", "ca-nhan"}
    assert not needs_check(second.files[0])
    assert status_row(deployment)["status"] == "on_time"
    sample = tmp_path / "Mau 01.xlsx"
    sample.write_bytes(_renamed(mau01_xlsx("Đảng ủy xã Mường So", ENTRIES), "Cột K9"))
    shown = invoke(deployment, "parse", str(sample)).output
    assert "taught #1: header “Cột K9” → kind" in shown


@PARSERS
def test_a_taught_label_reads_the_next_m1(tmp_path: Path) -> None:
    """An M1 whose first item the unit introduced in its own words: `parse` misses the
    item; one `teach header ... --form M1` and `parse` reads it and names the lesson."""
    from test_labelled import m1_with_label

    deployment = board(tmp_path)
    sample = tmp_path / "DK tap the.docx"
    sample.write_bytes(m1_with_label("Sáng kiến dự thi"))
    before = json.loads(invoke(deployment, "parse", "--format", "json", str(sample)).output)
    assert before["form"] == "M1" and before["taught"] == []
    taught = invoke(deployment, "teach", "header", "Sáng kiến dự thi", "model", "--form", "M1")
    assert taught.exit_code == 0, taught.output
    shown = invoke(deployment, "parse", str(sample)).output
    assert "taught #1: header “Sáng kiến dự thi” → model" in shown
    assert "Cánh đồng mẫu lớn" in shown
    after = json.loads(invoke(deployment, "parse", "--format", "json", str(sample)).output)
    assert after["taught"] == [{"id": "1", "lesson": "header “Sáng kiến dự thi” → model"}]
    assert after["problems"] == []
    assert invoke(deployment, "teach", "header", "X", "no-such-item", "--form", "M1").exit_code


@pytest.mark.parametrize(
    ("doubted", "status"), [(("kind",), "checking"), (("level",), "incomplete")]
)
def test_the_store_keeps_what_a_doubt_is_about(
    tmp_path: Path, doubted: tuple[str, ...], status: str
) -> None:
    """One collective read of the two required: a doubt about kinds may hide the other,
    so the board checks; a doubt about levels cannot, so the shortfall is the unit's.
    What the doubt is about survives the store (schema 0009)."""
    deployment = board(tmp_path)
    config = config_module.load(deployment.config)
    reading = replace(doubtful_reading(), doubted=doubted)
    files = [("Mau 01.xlsx", reading), ("Mau 02.docx", parsers.parse_file(
        "Mau 02.docx", mau02_docx("Đảng ủy xã Mường So", ["Nhà sạch"])))]  # fmt: skip
    record = MessageRecord(
        sha256="b" * 64, size=1000, message_id="<about@example.vn>", sender=COMMUNE,
        subject="Gửi biểu đăng ký", received_at=RECEIVED, unit_id="xa-muong-so",
        outcome="submission", evidence="address", sender_address="DangUy.MuongSo@example.vn",
        attachments=tuple(StoredAttachment(n, "", 1, n, p) for n, p in files),
    )  # fmt: skip
    with open_store(config) as store:
        assert store.record(record, "maildir:test", 1, "1")
        [stored] = [f for s in store.submissions()["xa-muong-so"] for f in s.files if f.entries][:1]
    assert stored.doubted == doubted
    row = status_row(deployment)
    assert row["status"] == status, row
