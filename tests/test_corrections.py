"""Corrections: `mark`/`unmark` a paper or Zalo submission, audited and shown in the status."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from mail_ingest import config as config_module
from mail_ingest.app import open_store
from mail_ingest.cli import cli
from mail_ingest.store import Store

from conftest import CONFIG, Deployment

# The letter's quotas need the entries typed in; a paper copy carries none (see README).
NO_QUOTAS = CONFIG.split("[requirements.rules]")[0]
NOTE = "Đồng chí Lò Văn Thắng nộp trực tiếp tại Ban"


@pytest.fixture
def board(tmp_path: Path) -> Deployment:
    return Deployment(tmp_path, NO_QUOTAS)


def invoke(deployment: Deployment, *args: str) -> Result:
    return CliRunner().invoke(
        cli,
        ["--config", str(deployment.config), *args],
        catch_exceptions=False,
        env={"COLUMNS": "250", "LOGNAME": "canbo.lan"},
    )


def rows(deployment: Deployment, now: str) -> dict[str, dict]:
    result = invoke(deployment, "status", "--format", "json", "--now", now)
    assert result.exit_code == 0, result.output
    return {row["unit"]: row for row in json.loads(result.output)["rows"]}


def store(deployment: Deployment) -> Store:
    return open_store(config_module.load(deployment.config))


def test_mark_then_unmark_changes_the_status_and_is_audited(board: Deployment) -> None:
    marked = invoke(
        board, "mark", "xa-muong-so", "dvk-2024", "--received", "2024-01-28T10:30", "--note", NOTE
    )
    assert marked.exit_code == 0, marked.output
    assert marked.output == "recorded manual:1 for xa-muong-so (dvk-2024)\n"
    before = rows(board, "2024-01-28T10:00+07:00")["xa-muong-so"]
    assert before["status"] == "missing"
    after = rows(board, "2024-02-10T08:00+07:00")["xa-muong-so"]
    assert (after["status"], after["completed_at"]) == ("on_time", "2024-01-28T10:30:00+07:00")
    assert after["forms"] == ["mau-01", "mau-02"] and after["manual"] is True
    assert after["notes"] == [
        f"Nhận bản giấy ngày 28/01/2024 (ghi chú: {NOTE}; người ghi nhận: canbo.lan)"
    ]
    assert rows(board, "2024-02-10T08:00+07:00")["cq-vp"]["notes"] == []

    unmarked = invoke(board, "unmark", "xa-muong-so", "dvk-2024", "--note", "ghi nhầm đơn vị")
    assert unmarked.output == "no longer counted: manual:1\n"
    assert rows(board, "2024-02-10T08:00+07:00")["xa-muong-so"]["status"] == "missing"

    with store(board) as s:
        audit = list(reversed(s.audit()))
        kept = s.manual_submissions(removed=True)
    assert [(a.action, a.by, a.unit_id, a.subject) for a in audit] == [
        ("mark", "canbo.lan", "xa-muong-so", "manual:1"),
        ("unmark", "canbo.lan", "xa-muong-so", "manual:1"),
    ]
    assert audit[0].note == f"dvk-2024 mau-01, mau-02 (paper, 2024-01-28T10:30:00+07:00): {NOTE}"
    assert audit[1].note == "dvk-2024: ghi nhầm đơn vị"
    assert all(a.at.tzinfo == UTC and a.at <= datetime.now(UTC) for a in audit)
    assert [(m.id, m.removed) for m in kept] == [(1, True)]  # soft delete: history stays
    listing = invoke(board, "audit").output.splitlines()
    assert listing[0].split()[2:5] == ["canbo.lan", "unmark", "xa-muong-so"]


def test_mark_one_form_by_zalo_with_by_is_idempotent(board: Deployment) -> None:
    args = ["mark", "cq-vp", "dvk-2024", "--received", "2024-01-30T16:00+07:00",
            "--form", "mau-01", "--via", "zalo", "--note", "Gửi ảnh qua Zalo",
            "--by", "Hoàng Thị Mai"]  # fmt: skip
    assert invoke(board, *args).output == "recorded manual:1 for cq-vp (dvk-2024)\n"
    assert "already recorded" in invoke(board, *args).output
    row = rows(board, "2024-02-10T08:00+07:00")["cq-vp"]
    assert (row["status"], row["forms"]) == ("incomplete", ["mau-01"])
    assert row["notes"] == [
        "Nhận qua Zalo ngày 30/01/2024 (ghi chú: Gửi ảnh qua Zalo; người ghi nhận: Hoàng Thị Mai)"
    ]
    with store(board) as s:
        assert [a.by for a in s.audit()] == ["Hoàng Thị Mai"]


def test_status_table_and_csv_show_the_note(board: Deployment) -> None:
    invoke(board, "mark", "xa-muong-so", "dvk-2024", "--received", "2024-01-28", "--note", NOTE)
    table = invoke(board, "status", "--now", "2024-02-10T08:00+07:00").output
    assert "Ghi chú" in table and "Nhận bản giấy ngày 28/01/2024" in table
    csv = invoke(board, "status", "--format", "csv", "--now", "2024-02-10").output.splitlines()
    header = csv[0].split(",")
    assert "notes" in header and "manual" not in header
    assert "Nhận bản giấy ngày 28/01/2024" in csv[1]


def test_mark_refuses_what_it_cannot_count(board: Deployment) -> None:
    at = ["--received", "2024-01-28", "--note", NOTE]
    unknown_unit = invoke(board, "mark", "xa-nowhere", "dvk-2024", *at)
    assert unknown_unit.exit_code == 1 and "no unit 'xa-nowhere'" in unknown_unit.output
    unknown_req = invoke(board, "mark", "cq-vp", "dvk-2099", *at)
    assert unknown_req.exit_code == 1 and "no requirement 'dvk-2099'" in unknown_req.output
    wrong_form = invoke(board, "mark", "cq-vp", "dvk-2024", "--form", "M3", *at)
    assert wrong_form.exit_code == 1 and "M3 not required by 'dvk-2024'" in wrong_form.output
    blank = invoke(board, "mark", "cq-vp", "dvk-2024", "--received", "2024-01-28", "--note", " ")
    assert blank.exit_code == 1 and "--note" in blank.output
    bad_time = invoke(board, "mark", "cq-vp", "dvk-2024", "--received", "hôm qua", "--note", "x")
    assert bad_time.exit_code == 2
    nothing = invoke(board, "unmark", "cq-vp", "dvk-2024")
    assert nothing.exit_code == 1 and "no manual submission" in nothing.output
    with store(board) as s:
        assert s.audit() == [] and s.manual_submissions(removed=True) == []


def test_every_new_command_has_help() -> None:
    for command in ("review", "assign", "mark", "unmark", "audit"):
        result = CliRunner().invoke(cli, [command, "--help"])
        assert result.exit_code == 0 and "Usage:" in result.output, command
