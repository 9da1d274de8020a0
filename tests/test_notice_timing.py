"""When the board's mail goes, and what a look at it leaves behind (issue 13).

A first start owes no report for the day before; a reminder's words follow the instant
it is sent; a dry run or a future `--now` is a preview that sends and records nothing;
`<storage>/reports/` holds exactly the reports that were sent.
"""

from __future__ import annotations

import io
from dataclasses import replace
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner, Result
from rich.console import Console

from mail_ingest import config as config_module
from mail_ingest import decisions, demo
from mail_ingest.app import open_store
from mail_ingest.cli import cli
from mail_ingest.config import Config
from rules.deadlines import Deadline

TZ = ZoneInfo("Asia/Ho_Chi_Minh")


@pytest.fixture
def deployment(tmp_path: Path) -> tuple[Config, Path]:
    outcome = demo.run(tmp_path / "demo", Console(file=io.StringIO()))
    return config_module.load(outcome.config), outcome.config


def reports(mails: list[decisions.Outgoing]) -> list[str]:
    return [m.key for m in mails if m.key.startswith("report:")]


def test_a_new_deployment_sends_no_report_for_yesterday(deployment: tuple[Config, Path]) -> None:
    config, _ = deployment
    with open_store(config) as store:
        first = store.first_poll()  # the demo has just polled: this deployment's start
        assert first is not None
        assert reports(decisions.due(config, store, first + timedelta(minutes=1))) == []
        local = first.astimezone(TZ)
        at = datetime.combine(local.date(), config.notify.report_at, tzinfo=TZ)
        if at < first:
            at += timedelta(days=1)  # started after today's report time: tomorrow's
        later = at + timedelta(minutes=1)
        assert reports(decisions.due(config, store, later)) == [f"report:{at.date()}"]


def test_the_reminder_moved_onto_the_due_day_is_not_overdue(
    deployment: tuple[Config, Path],
) -> None:
    config, _ = deployment
    # Due Friday 02/02 ("trước ngày 03/02"); the +1 reminder (Saturday) moves back to Friday.
    friday_due = [
        replace(r, deadline=Deadline("before", date(2024, 2, 3))) for r in config.requirements
    ]
    config = replace(config, requirements=tuple(friday_due))
    with open_store(config) as store:
        mails = decisions.due(config, store, datetime(2024, 2, 2, 8, 30, tzinfo=TZ), ("remind",))
    moved = [m for m in mails if m.key.endswith(":1")]
    assert moved
    for mail in moved:
        assert "Thời hạn đã qua" not in mail.text
        assert "Đề nghị đơn vị hoàn thiện và gửi về đúng thời hạn." in mail.text
    with open_store(config) as store:
        late = decisions.due(config, store, datetime(2024, 2, 5, 8, 30, tzinfo=TZ), ("remind",))
    assert all("Thời hạn đã qua" in m.text for m in late)  # after the cutoff, it has passed


def test_reports_folder_keeps_exactly_what_was_sent(deployment: tuple[Config, Path]) -> None:
    config, path = deployment
    folder = config.storage / "reports"
    now = datetime(2024, 2, 5, 17, 30, tzinfo=TZ)
    with open_store(config) as store:
        mails = decisions.due(config, store, now)
        assert reports(mails) == ["report:2024-02-05"]
        assert not folder.exists() or not list(folder.iterdir())  # a decision writes nothing
    dry = CliRunner().invoke(
        cli, ["--config", str(path), "report", "--now", "2024-02-06T09:00", "--dry-run"]
    )
    assert dry.exit_code == 0, dry.output
    assert not folder.exists() or not list(folder.iterdir())  # nor does a dry run
    with open_store(config) as store:
        decisions.send(config, store, now, mails)
        decisions.send(config, store, now, decisions.due(config, store, now))  # again: nothing new
    names = sorted(p.name for p in folder.iterdir())
    assert names == ["bao-cao-tinh-hinh-2024-02-05.html", "bao-cao-tinh-hinh-2024-02-05.xlsx"]


def _invoke(path: Path, *args: str) -> Result:
    return CliRunner().invoke(cli, ["--config", str(path), *args])


@pytest.mark.parametrize("command", ["report", "remind"])
def test_a_future_now_is_a_preview(deployment: tuple[Config, Path], command: str) -> None:
    config, path = deployment
    tomorrow = (datetime.now(TZ) + timedelta(days=1)).replace(hour=18, microsecond=0)
    result = _invoke(path, command, "--now", tomorrow.isoformat())
    assert result.exit_code == 0, result.output
    assert "a preview; nothing is sent or recorded" in result.output
    with open_store(config) as store:
        assert not [i for i in store.outbox() if i.key.startswith(("report:", "remind:"))]
    assert not (config.storage / "reports").exists()
    assert (
        not config.smtp
        or not config.smtp.path
        or not [
            p
            for p in Path(config.smtp.path).glob("*.eml")
            if p.name.startswith(("report", "remind"))
        ]
    )


def test_report_output_is_written_even_when_already_sent(
    deployment: tuple[Config, Path], tmp_path: Path
) -> None:
    _, path = deployment
    assert _invoke(path, "report", "--now", "2024-02-05T18:00").exit_code == 0
    saved = tmp_path / "again.xlsx"
    again = _invoke(
        path, "report", "--now", "2024-02-05T19:00", "--dry-run", "--output", str(saved)
    )
    assert again.exit_code == 0, again.output
    assert "0 mail(s) would be sent; 1 already were" in again.output
    assert saved.stat().st_size > 0


def test_report_output_into_a_missing_folder_is_a_usage_error(
    deployment: tuple[Config, Path], tmp_path: Path
) -> None:
    _, path = deployment
    result = _invoke(path, "report", "--dry-run", "--output", str(tmp_path / "no" / "r.xlsx"))
    assert result.exit_code == 2
    assert "does not exist" in result.output and "Traceback" not in result.output
