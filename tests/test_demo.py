"""`mail-ingest demo` end to end, against statuses worked out by hand from its mail."""

from __future__ import annotations

import io
import json
from pathlib import Path

from click.testing import CliRunner
from rich.console import Console

from mail_ingest import demo
from mail_ingest.cli import cli

# Letter 35-CV/BDVHU: mẫu 01 and mẫu 02 "trước ngày 01/02/2024", i.e. before 00:00 on
# 01/02; communes at least 2 collectives and 2 individuals, other units 1 and 1.
EXPECTED = {
    # both forms, 2+2, on 25/01
    "xa-muong-so": ("on_time", "2024-01-25T09:12:00+07:00"),
    # 1 collective on 26/01 (incomplete), corrected mẫu 01 alone on 30/01 completes it
    "xa-dao-san": ("on_time", "2024-01-30T15:40:00+07:00"),
    # complete, but on 02/02
    "xa-si-lo-lau": ("late", "2024-02-02T08:30:00+07:00"),
    # only mẫu 01 (as a Word table)
    "xa-ma-li-pho": ("incomplete", None),
    # only a colleague wrote, from a personal address no unit lists: the unit line of
    # the form names the commune (rules.matching), but mẫu 01 alone is not enough
    "xa-khong-lao": ("incomplete", None),
    # two minutes before the cutoff
    "tt-phong-tho": ("on_time", "2024-01-31T23:58:00+07:00"),
    # 1+1 is enough for an agency
    "cq-vp-hdnd-ubnd": ("on_time", "2024-01-22T16:45:00+07:00"),
    # only an out-of-office auto-reply
    "cq-ttyt": ("missing", None),
    # mẫu 01 on 30/01, mẫu 02 on 01/02 07:45: complete after the cutoff
    "dt-mttq": ("late", "2024-02-01T07:45:00+07:00"),
    # mẫu 01 is a truncated file
    "llvt-cong-an": ("incomplete", None),
}


def test_demo_statuses_match_the_hand_computed_ones(tmp_path: Path) -> None:
    console = Console(file=io.StringIO(), width=200)
    outcome = demo.run(tmp_path / "demo", console)
    printed = console.file.getvalue()  # type: ignore[attr-defined]
    assert "Đúng hạn" in printed and "Trễ hạn" in printed and "Chưa gửi" in printed
    assert str(outcome.config) in printed
    assert dict(outcome.poll.outcomes) == {"submission": 11, "auto-reply": 1}

    result = CliRunner().invoke(
        cli,
        [
            "--config",
            str(outcome.config),
            "status",
            "--format",
            "json",
            "--now",
            demo.NOW.isoformat(),
        ],
    )
    assert result.exit_code == 0, result.output
    rows = {r["unit"]: r for r in json.loads(result.output)["rows"]}
    assert {unit: (r["status"], r["completed_at"]) for unit, r in rows.items()} == EXPECTED
    assert rows["xa-ma-li-pho"]["problems"] == [
        "Chưa nhận được Báo cáo tình hình thực hiện mô hình điểm (mẫu số 02)"
    ]
    assert any("Mau 01 Cong an huyen.xlsx" in p for p in rows["llvt-cong-an"]["problems"])
    assert rows["xa-dao-san"]["entries"] == 4


def test_demo_command_prints_the_table(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        cli, ["demo", "--workspace", str(tmp_path / "w")], env={"COLUMNS": "200"}
    )
    assert result.exit_code == 0, result.output
    assert "Đảng ủy xã Mường So" in result.output
    assert (tmp_path / "w" / "mail-ingest.toml").exists()
