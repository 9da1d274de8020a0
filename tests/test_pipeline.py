"""The CLI driving the real pipeline on a real Maildir, SQLite store and Office files."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import zipfile
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from click.testing import CliRunner, Result

from mail_ingest.cli import cli
from mail_ingest.samples import SampleEntry, mau01_xlsx, mau02_docx

from conftest import Deployment, make_message

COMMUNE = "Đảng ủy xã Mường So <dangUY.muongso@EXAMPLE.vn>"
AGENCY = "Chi bộ Văn phòng <vanphong@example.vn>"
TWO_AND_TWO = [
    SampleEntry("Hợp tác xã chè Mường So", "tap-the", "kinh-te", "huyen", "Chè Shan tuyết hữu cơ"),
    SampleEntry("Chi hội Phụ nữ Nậm Củm", "tap-the", "van-hoa-xa-hoi", "xa", "Nhà sạch, vườn đẹp"),
    SampleEntry("Lò Văn Thắng", "ca-nhan", "xay-dung-dang", "xa", "Hiến đất làm đường"),
    SampleEntry("Tao Thị Xuân", "ca-nhan", "quoc-phong-an-ninh", "xa", "Tổ tự quản an ninh"),
]


def forms(entries: list[SampleEntry] = TWO_AND_TWO) -> list[tuple[str, bytes]]:
    return [
        ("Mau 01.xlsx", mau01_xlsx("Đảng ủy xã Mường So", entries)),
        ("Mau 02.docx", mau02_docx("Đảng ủy xã Mường So", [e.model for e in entries])),
    ]


def invoke(deployment: Deployment, *args: str) -> Result:
    return CliRunner().invoke(
        cli,
        ["--config", str(deployment.config), *args],
        catch_exceptions=False,
        env={"COLUMNS": "200"},
    )


def status_rows(deployment: Deployment, now: str = "2024-02-10T08:00:00+07:00") -> dict[str, dict]:
    result = invoke(deployment, "status", "--format", "json", "--now", now)
    assert result.exit_code == 0, result.output
    return {row["unit"]: row for row in json.loads(result.output)["rows"]}


At = Callable[..., datetime]


def _polled(deployment: Deployment) -> bool:
    return status_rows(deployment)["xa-muong-so"]["status"] == "on_time"


def test_poll_twice_records_nothing_new(deployment: Deployment, at: At) -> None:
    deployment.deliver(make_message(COMMUNE, files=forms()), at(25))
    deployment.deliver(make_message(AGENCY, "Mẫu 01", files=forms()[:1]), at(26))
    first = invoke(deployment, "poll")
    assert first.exit_code == 0, first.output
    assert first.output.splitlines()[0] == "fetched 2, new 2: submission 2"
    second = invoke(deployment, "poll")
    assert second.output.splitlines()[0] == "fetched 0, new 0: nothing new"
    rows = status_rows(deployment)
    assert rows["xa-muong-so"]["status"] == "on_time"
    assert rows["xa-muong-so"]["completed_at"] == "2024-01-25T09:00:00+07:00"
    assert rows["xa-muong-so"]["forms"] == ["mau-01", "mau-02"]
    assert rows["xa-muong-so"]["entries"] == 4
    assert rows["cq-vp"]["status"] == "incomplete"
    assert rows["cq-vp"]["problems"][0].startswith("Chưa nhận được")


def test_bad_input_is_recorded_and_the_poll_goes_on(deployment: Deployment, at: At) -> None:
    deployment.deliver(b"\x00\xff this is not an email \x00", at(20))
    corrupt = [("Mau 01.xlsx", b"PK\x03\x04 truncated zip"), forms()[1]]
    deployment.deliver(make_message(AGENCY, files=corrupt), at(21))
    deployment.deliver(make_message(COMMUNE, files=forms()), at(22))
    result = invoke(deployment, "poll")
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[0] == "fetched 3, new 3: error 1, submission 2"
    listing = invoke(deployment, "messages").output
    assert "error: not an email message" in listing
    rows = status_rows(deployment)
    assert rows["xa-muong-so"]["status"] == "on_time"
    assert rows["cq-vp"]["status"] == "incomplete"
    assert any("Mau 01.xlsx" in p for p in rows["cq-vp"]["problems"])
    # The broken message is archived and recorded: nothing is fetched again.
    assert invoke(deployment, "poll").output.splitlines()[0] == "fetched 0, new 0: nothing new"
    assert len(list((deployment.root / "data" / "archive").rglob("*.eml"))) == 3


def test_robots_and_strangers_never_count(deployment: Deployment, at: At) -> None:
    robot = make_message(COMMUNE, "Trả lời tự động", Auto_Submitted="auto-replied")
    deployment.deliver(robot, at(20))
    # Forms of an organisation the config does not list: nothing names a unit.
    stranger = [("Mau 01.xlsx", mau01_xlsx("Hội Nông dân xã Bản Lang", TWO_AND_TWO))]
    deployment.deliver(make_message("Người lạ <nguoila@gmail.com>", files=stranger), at(21))
    result = invoke(deployment, "poll")
    assert result.output.splitlines()[0] == "fetched 2, new 2: auto-reply 1, unknown-sender 1"
    assert status_rows(deployment)["xa-muong-so"]["status"] == "missing"


def test_status_replays_history_and_resubmission_replaces(deployment: Deployment, at: At) -> None:
    deployment.deliver(make_message(COMMUNE, files=forms(TWO_AND_TWO[1:])), at(20))
    deployment.deliver(make_message(COMMUNE, "Gửi lại mẫu 01", files=forms()[:1]), at(2, 2))
    invoke(deployment, "poll")
    before = status_rows(deployment, "2024-01-25T00:00:00+07:00")["xa-muong-so"]
    assert before["status"] == "incomplete"
    assert before["problems"] == ["Mới đăng ký 1 tập thể, yêu cầu ít nhất 2 tập thể"]
    after = status_rows(deployment, "2024-02-03")["xa-muong-so"]  # naive: the config's timezone
    assert (after["status"], after["completed_at"]) == ("late", "2024-02-02T09:00:00+07:00")
    assert status_rows(deployment, "2024-01-10")["xa-muong-so"]["status"] == "missing"


def test_status_table_and_csv(deployment: Deployment, at: At) -> None:
    deployment.deliver(make_message(COMMUNE, files=forms()), at(25))
    invoke(deployment, "poll")
    table = invoke(deployment, "status", "--now", "2024-02-10T08:00+07:00").output
    for words in ("Đảng ủy xã Mường So", "Đúng hạn", "Chưa gửi", "trước ngày 01/02/2024"):
        assert words in table
    csv = invoke(deployment, "status", "--format", "csv", "--now", "2024-02-10").output
    csv_lines = csv.splitlines()
    assert csv_lines[0].startswith("unit,unit_name,requirement,due")
    assert len(csv_lines) == 3


def test_status_rejects_unknown_requirement_and_bad_instant(deployment: Deployment) -> None:
    assert invoke(deployment, "status", "--requirement", "nope").exit_code == 2
    assert invoke(deployment, "status", "--now", "yesterday").exit_code == 2


def test_parse_prints_json(tmp_path: Path) -> None:
    path = tmp_path / "Mau 01.xlsx"
    path.write_bytes(forms()[0][1])
    result = CliRunner().invoke(
        cli, ["--config", str(tmp_path / "none.toml"), "parse", str(path), "--format", "json"]
    )
    assert result.exit_code == 0, result.output
    parsed = json.loads(result.output)
    assert (parsed["file"], parsed["form"]) == (str(path), "mau-01")
    assert [e["kind"] for e in parsed["entries"]] == ["tap-the", "tap-the", "ca-nhan", "ca-nhan"]
    assert parsed["entries"][0]["field"] == "kinh-te"
    assert parsed["entries"][0]["level"] == "huyen"


def test_run_polls_and_stops_cleanly_on_sigterm(deployment: Deployment, at: At) -> None:
    deployment.deliver(make_message(COMMUNE, files=forms()), at(25))
    service = subprocess.Popen(
        [sys.executable, "-m", "mail_ingest", "--config", str(deployment.config), "run"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not _polled(deployment):
            time.sleep(0.2)
        service.send_signal(signal.SIGTERM)
        output, _ = service.communicate(timeout=30)
    finally:
        service.kill()
    assert service.returncode == 0, output
    assert "poll done: 1 fetched, 1 new, 0 errors" in output
    assert "stopped" in output


def test_parse_reads_files_as_attachments_and_prints_a_table(tmp_path: Path) -> None:
    archive = tmp_path / "ho so.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("Mau 01.xlsx", forms()[0][1])
    runner = CliRunner()
    none = str(tmp_path / "none.toml")
    as_json = json.loads(runner.invoke(cli, ["--config", none, "parse", str(archive),
                                             "--format", "json"]).output)  # fmt: skip
    assert [(p["file"], p["form"]) for p in as_json] == [
        (str(archive), None),
        (str(tmp_path / "ho so.zip/Mau 01.xlsx"), "mau-01"),
    ]
    table = runner.invoke(cli, ["--config", none, "parse", str(archive)]).output
    assert "Biểu tổng hợp đăng ký thi đua (mẫu số 01) (mau-01)" in table
    assert "Tập thể " in table and "Cá nhân " in table  # the kind column, in Vietnamese
