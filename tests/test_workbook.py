"""The daily report's workbook, built from the demo's statuses and read back with openpyxl."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import openpyxl
import pytest
from rich.console import Console

from mail_ingest import config as config_module
from mail_ingest import demo, standing, workbook
from mail_ingest.app import open_store


def test_status_consolidated_and_held_sheets(tmp_path: Path) -> None:
    outcome = demo.run(tmp_path / "demo", Console(file=io.StringIO()))
    config = config_module.load(outcome.config)
    with open_store(config) as store:
        statuses = standing.compute(config, store, demo.NOW)
    held = [{"received": "08:00 03/02/2024", "sender": "lo.pao@gmail.com",
             "subject": "bao cao DVK", "guesses": "Đảng ủy xã Dào San (82%)"}]  # fmt: skip
    data = workbook.build(statuses, demo.NOW, config.timezone, held)

    book = openpyxl.load_workbook(io.BytesIO(data))
    assert book.sheetnames == ["Tình trạng", "Tổng hợp đăng ký", "Thư chờ xem xét"]
    status = book["Tình trạng"]
    assert status["A1"].value == "Tình hình gửi biểu mẫu tính đến 08 giờ 00 ngày 05/02/2024"
    rows = {r[1]: r for r in status.iter_rows(min_row=4, values_only=True)}
    assert len(rows) == 10
    assert rows["Đảng ủy xã Mường So"][3] == "Đúng hạn"  # one requirement: no column for it
    assert rows["Đảng ủy xã Sì Lở Lầu"][3] == "Trễ hạn"
    late_row = next(r for r in status.iter_rows(min_row=4) if r[1].value == "Đảng ủy xã Sì Lở Lầu")
    assert late_row[3].fill.fgColor.rgb.endswith(workbook.FILLS["late"])

    consolidated = list(book["Tổng hợp đăng ký"].iter_rows(min_row=2, values_only=True))
    assert len(consolidated) == sum(len(s.entries) for s in statuses) > 0
    fields = [r[1] for r in consolidated]
    order = [*workbook.FIELD_LABELS.values(), "Chưa rõ lĩnh vực"]
    assert fields == sorted(fields, key=order.index)  # grouped by field, in the letters' order
    assert {r[4] for r in consolidated} <= {"Tập thể", "Cá nhân"}

    [held_row] = book["Thư chờ xem xét"].iter_rows(min_row=2, values_only=True)
    assert held_row[2:] == ("lo.pao@gmail.com", "bao cao DVK", "Đảng ủy xã Dào San (82%)")


def test_rows_are_written_without_rescanning_the_sheet(monkeypatch: pytest.MonkeyPatch) -> None:
    """openpyxl's max_row/max_column scan every cell: asked per row, a report of 500 units
    took 36 s. How often they are asked must not grow with the rows written."""
    from openpyxl.worksheet.worksheet import Worksheet

    asked = {"n": 0}
    for name in ("max_row", "max_column"):
        real = getattr(Worksheet, name)

        def counted(sheet: Worksheet, real: property = real) -> int:
            asked["n"] += 1
            return int(real.fget(sheet))  # type: ignore[misc]

        monkeypatch.setattr(Worksheet, name, property(counted))
    counts = []
    for rows in (5, 200):
        asked["n"] = 0
        held = [{"received": "08:00 03/02/2024", "sender": f"a{i}@x.vn", "subject": "=1+1",
                 "guesses": ""} for i in range(rows)]  # fmt: skip
        workbook.build([], demo.NOW, ZoneInfo("Asia/Ho_Chi_Minh"), held)
        counts.append(asked["n"])
    assert counts[0] == counts[1]


def test_report_with_output_builds_its_workbook_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`report --dry-run --output` saves the workbook it showed, not a second one."""
    from click.testing import CliRunner

    from mail_ingest.cli import cli

    config = demo.run(tmp_path / "demo", Console(file=io.StringIO())).config
    built: list[bytes] = []
    real = workbook.build

    def counted(*args: Any, **kwargs: Any) -> bytes:
        built.append(real(*args, **kwargs))
        return built[-1]

    monkeypatch.setattr(workbook, "build", counted)
    out = tmp_path / "r.xlsx"
    args = ["--config", str(config), "report", "--dry-run", "--now", demo.NOW.isoformat()]
    done = CliRunner().invoke(cli, [*args, "--output", str(out)])
    assert done.exit_code == 0, done.output
    assert len(built) == 1 and out.read_bytes() == built[0]
