"""The application layer: decide, then act; dry runs that write nothing; the service's
jobs built apart from `run`; commands that start without the parsers."""

from __future__ import annotations

import hashlib
import io
import json
import sqlite3
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import pytest
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from click.testing import CliRunner
from rich.console import Console

from mail_ingest import config as config_module
from mail_ingest import decisions, demo, holiday_cache, scheduler, workbook
from mail_ingest.app import App, open_store
from mail_ingest.cli import cli
from mail_ingest.config import Config, spec_cache

from conftest import make_message

ROOT = Path(__file__).resolve().parent.parent
HEAVY = ("openpyxl", "docx", "jinja2", "parsers.parse", "parsers.office", "parsers.detect")
# What only attribution (the name matcher) and the web page's accounts need.
MATCHING = ("rapidfuzz", "confusable_homoglyphs", "rules.matching", "argon2")
# What other commands need: their modules (loaded lazily by name), the decisions by hand,
# the status table and rich's tables and progress bars.
OTHER_COMMANDS = (
    "mail_ingest.cli_corrections",
    "mail_ingest.cli_doubt",
    "mail_ingest.cli_notify",
    "mail_ingest.cli_parse",
    "mail_ingest.cli_web",
    "mail_ingest.cli_status",
    "mail_ingest.cli_setup",
    "mail_ingest.corrections",
    "mail_ingest.standing",
    "rich.table",
    "rich.progress",
)
# What loading a config needs: `--help` names the config file without reading it.
CONFIG = ("mail_ingest.app", "mail_ingest.config.loading", "rules.validation", "tomllib")


@pytest.fixture
def deployment(tmp_path: Path) -> tuple[Config, Path]:
    outcome = demo.run(tmp_path / "demo", Console(file=io.StringIO()))
    return config_module.load(outcome.config), outcome.config


def _files(root: Path) -> dict[str, str]:
    """Every file but the database's own (opening SQLite may touch its -wal and -shm) and
    the caches, which are no record (mail_ingest.cache_files)."""
    caches = (spec_cache.PREFIX, holiday_cache.PREFIX)
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file() and ".sqlite3" not in p.name and not p.name.startswith(caches)
    }


def _rows(config: Config) -> list[str]:
    with sqlite3.connect(config.storage / "mail-ingest.sqlite3") as db:
        return list(db.iterdump())


@pytest.mark.parametrize(
    "args",
    [
        ("report", "--dry-run"),
        ("report", "--now", "2024-02-05T18:00", "--dry-run"),
        ("remind", "--now", "2024-01-26T09:00", "--dry-run"),
        ("run", "--dry-run"),
    ],
)
def test_a_dry_run_writes_nothing(deployment: tuple[Config, Path], args: tuple[str, ...]) -> None:
    config, path = deployment
    root = path.parent
    files, rows = _files(root), _rows(config)
    result = CliRunner().invoke(cli, ["--config", str(path), *args])
    assert result.exit_code == 0, result.output
    assert "would be sent" in result.output
    assert _files(root) == files  # no report kept, no .eml, no archive change
    assert _rows(config) == rows  # no outbox row, no poll, nothing recorded
    assert not (config.storage / "reports").exists()


def test_a_decision_already_sent_costs_no_rendering(
    deployment: tuple[Config, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    config, _ = deployment
    now = datetime.fromisoformat("2024-02-05T18:00+07:00")
    app = App(config)
    first = app.send_due(now, ("report",), force=True)
    assert first.sent == 1
    [pending] = app.decide(now, ("report",), force=True)
    assert pending.sent and pending.decision.kind == "report"
    built: list[object] = []
    real_build = workbook.build

    def counting(*args: object, **kwargs: object) -> bytes:
        built.append(args)
        return real_build(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(workbook, "build", counting)
    again = app.send_due(now, ("report",), force=True)
    assert again.sent == 0 and built == []  # the key was checked before the workbook
    with open_store(config) as store:
        [decision] = decisions.decide(config, store, now, ("report",), force=True)
    assert decisions.render(config, decision).attachments and len(built) == 1


def test_decisions_say_who_why_and_from_what(deployment: tuple[Config, Path]) -> None:
    config, _ = deployment
    pending = App(config).decide(datetime.fromisoformat("2024-01-26T09:00+07:00"), ("remind",))
    reminders = [p.decision for p in pending]
    assert reminders and all(d.kind == "remind" and d.template == "reminder" for d in reminders)
    khong_lao = [d for d in reminders if d.unit == "xa-khong-lao"]
    assert khong_lao and khong_lao[0].requirement == "dvk-2024-dang-ky"
    assert khong_lao[0].to == ("Đảng ủy xã Khổng Lào <danguykhonglao@gmail.com>",)
    assert khong_lao[0].key.startswith("remind:xa-khong-lao:dvk-2024-dang-ky:")


@pytest.mark.parametrize(
    ("args", "heavy"),
    [
        (("--help",), HEAVY + MATCHING + OTHER_COMMANDS + CONFIG),
        (("health",), HEAVY + MATCHING + OTHER_COMMANDS),
        (("status",), HEAVY),
        (("status", "--format", "json"), (*HEAVY, *MATCHING, "rich.table", "holidays")),
        (("remind", "--dry-run"), (*HEAVY, *MATCHING)),  # nothing due: nothing rendered
        (("report", "--dry-run"), (*HEAVY[1:2], *HEAVY[3:], *MATCHING, "holidays")),
        (("poll",), HEAVY + MATCHING + OTHER_COMMANDS),  # the demo's mail is in: nothing new
    ],
)
def test_commands_that_parse_nothing_import_no_parser(
    deployment: tuple[Config, Path], args: tuple[str, ...], heavy: tuple[str, ...]
) -> None:
    _, path = deployment
    assert _loaded(path, args, heavy)[1] == []


def _loaded(config: Path, args: tuple[str, ...], modules: tuple[str, ...]) -> tuple[str, list[str]]:
    """Whole process, as a shell runs it: what the command printed, and which of `modules`
    were loaded when it ended."""
    argv = ["mail-ingest", "--config", str(config), *args]
    code = (
        "import json, sys\n"
        "from mail_ingest.cli import main\n"
        f"sys.argv = {argv!r}\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        f"print(json.dumps([m for m in {list(modules)!r} if m in sys.modules]))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    *printed, loaded = out.stdout.strip().splitlines()
    return "\n".join(printed), json.loads(loaded)


def test_a_poll_whose_forms_the_sandbox_parses_loads_no_office_library_itself(
    deployment: tuple[Config, Path],
) -> None:
    """The service process only hands the forms to the sandbox (mail_ingest.sandboxed):
    python-docx, openpyxl and the parsers are its workers' to load, not the poll's."""
    import mailbox

    from mail_ingest.samples import SampleEntry, mau01_xlsx

    config, path = deployment
    entry = SampleEntry("Thôn Nà Lại", "tap-the", "kinh-te", "xa", "Đường bê tông")
    form = mau01_xlsx("Đảng ủy xã Khổng Lào", [entry])
    raw = make_message("danguykhonglao@gmail.com", "Gửi mẫu 01", [("Mau 01.xlsx", form)])
    mailbox.Maildir(config.mailbox.path or Path()).add(raw)
    heavy = ("openpyxl", "docx", "lxml", "parsers.parse", "parsers.office", "parsers.detect")
    printed, loaded = _loaded(path, ("poll",), heavy)
    assert "new 1: submission 1" in printed  # the form was read, in the sandbox
    assert loaded == []


def test_the_services_jobs_are_built_apart_from_run(deployment: tuple[Config, Path]) -> None:
    config, _ = deployment
    built = scheduler.build_scheduler(config, BackgroundScheduler(timezone=config.timezone))
    jobs = {job.id: job for job in built.get_jobs()}
    assert set(jobs) == {"poll", "reminders", "report"}
    poll = jobs["poll"]
    assert isinstance(poll.trigger, IntervalTrigger)
    assert poll.trigger.interval.total_seconds() == config.poll_minutes * 60
    assert (poll.max_instances, poll.coalesce) == (1, True)
    assert poll.misfire_grace_time == config.poll_minutes * 60
    for job, at in (("reminders", config.notify.reminders_at), ("report", config.notify.report_at)):
        trigger = jobs[job].trigger
        assert isinstance(trigger, CronTrigger)
        fields = {f.name: str(f) for f in trigger.fields}
        assert (fields["hour"], fields["minute"]) == (str(at.hour), str(at.minute))
        assert jobs[job].coalesce and jobs[job].misfire_grace_time is None


def test_the_built_scheduler_polls_a_real_maildir(deployment: tuple[Config, Path]) -> None:
    config, _ = deployment
    with open_store(config) as store:
        before = store.count("polls")  # not its time: a poll with nothing new can end
        # within the second the demo's began
    built = scheduler.build_scheduler(config, BackgroundScheduler(timezone=config.timezone))
    built.start()
    try:
        for _ in range(600):  # a bound, not a measure: the first poll runs at once
            with open_store(config) as store:
                if store.count("polls") > before and store.last_poll()[1] is not None:  # type: ignore[index]
                    break
            time.sleep(0.1)
    finally:
        built.shutdown(wait=True)
    with open_store(config) as store:
        last, polls = store.last_poll(), store.count("polls")
    assert last is not None and polls > before and last[2] is None  # finished, no error


def test_outbox_changes_by_hand_leave_audit_rows(deployment: tuple[Config, Path]) -> None:
    """Retry, cancel and clearing a bounced address are the board's decisions: audited."""
    config, path = deployment
    with open_store(config) as store:
        store._db.execute(
            "INSERT INTO outbox (key, recipients, subject, raw, status, attempts, created_at)"
            " VALUES ('k-failed', '[]', 's', X'00', 'failed', 3, '2024-02-01T00:00:00+00:00'),"
            " ('k-pending', '[]', 's', X'00', 'pending', 0, '2024-02-01T00:00:00+00:00')"
        )
        store._db.execute(
            "INSERT INTO failing_addresses (address, since)"
            " VALUES ('ub@example.vn', '2024-02-01T00:00:00+00:00')"
        )
    runner = CliRunner()
    for args in (["--retry", "k-failed"], ["--cancel", "k-pending"],
                 ["--clear-failing", "ub@example.vn"]):  # fmt: skip
        result = runner.invoke(cli, ["--config", str(path), "outbox", *args, "--by", "can-bo"])
        assert result.exit_code == 0, result.output
    rows = {(r.action, r.subject) for r in App(config).audit() if r.by == "can-bo"}
    assert rows == {
        ("outbox-retry", "outbox:k-failed"),
        ("outbox-cancel", "outbox:k-pending"),
        ("clear-failing", "ub@example.vn"),
    }
    before = len(App(config).audit())
    result = runner.invoke(cli, ["--config", str(path), "outbox", "--retry", "k-failed"])
    assert result.exit_code != 0  # pending again: nothing to retry, and no row either
    assert len(App(config).audit()) == before
