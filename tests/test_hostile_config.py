"""Hostile config values: each is a named error at load, never a crash later or a leak.

Values are generated for every numeric key and every date (out of range, huge, of the
wrong type); a config that passes is then run through the real computations of the
scheduler. Secrets put in the wrong place are never printed back, and every file the
service writes is private whatever the umask.
"""

from __future__ import annotations

import logging
import os
import random
import re
import resource
import stat
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from click.testing import CliRunner

from mail_ingest import config, decisions
from mail_ingest.app import open_store
from mail_ingest.archive import Archive
from mail_ingest.cli import cli
from mail_ingest.errors import ConfigError
from mail_ingest.store import Store
from mail_ingest.transports import FileTransport
from rules.calendar import reminder_days

from dovecot_server import ImapAccount

ROOT = Path(__file__).resolve().parent.parent

# A complete deployment; {placeholders} take the value under test. Every numeric key
# of the config appears here with its allowed range.
BASE = """\
timezone = "Asia/Ho_Chi_Minh"
[mailbox]
host = "imap.gmail.com"
username = "board@gmail.com"
password_env = "MAIL_INGEST_TEST_PW"
port = {port}
max_message_bytes = {max_message_bytes}
connect_timeout = {connect_timeout}
read_timeout = {read_timeout}
since = {since}
[smtp]
host = "smtp.gmail.com"
port = {smtp_port}
sender = "Ban Dân vận <board@gmail.com>"
[storage]
path = "data"
[report]
recipients = ["lanhdao@example.vn"]
[schedule]
poll_minutes = {poll_minutes}
[notify]
ack_max_age_hours = {ack_max_age_hours}
daily_cap = {daily_cap}
closed_days = [{closed_day}]
[matching]
threshold = {threshold}
margin = {margin}
[[units]]
id = "xa-muong-so"
name = "Đảng ủy xã Mường So"
group = "xa"
emails = ["danguy.muongso@example.vn"]
[[requirements]]
id = "bao-cao"
title = "Báo cáo"
forms = ["mau-01"]
{deadline_key} = {deadline}
opens = {opens}
reminders = [{reminders}]
[requirements.rules]
min_entries = {min_entries}
min_collectives = {{ xa = {quota_xa} }}
[requirements.extensions]
xa-muong-so = {extension}
"""

DEFAULTS = {
    "port": "993", "max_message_bytes": "41943040", "connect_timeout": "15",
    "read_timeout": "120", "since": "2024-01-01", "smtp_port": "465", "poll_minutes": "5",
    "ack_max_age_hours": "48", "daily_cap": "5", "closed_day": '"2024-02-02"',
    "threshold": "85", "margin": "8", "deadline_key": "before", "deadline": "2024-02-01",
    "opens": "2024-01-01", "reminders": "-3, 1", "min_entries": "1", "quota_xa": "2",
    "extension": "2024-02-10",
}  # fmt: skip

# placeholder -> (the key as errors name it, low, high)
NUMBERS = {
    "port": ("mailbox.port", 1, 65535),
    "max_message_bytes": ("mailbox.max_message_bytes", 1024, 1024**3),
    "connect_timeout": ("mailbox.connect_timeout", 1, 3600),
    "read_timeout": ("mailbox.read_timeout", 1, 3600),
    "smtp_port": ("smtp.port", 1, 65535),
    "poll_minutes": ("schedule.poll_minutes", 1, 1440),
    "ack_max_age_hours": ("notify.ack_max_age_hours", 1, 366 * 24),
    "daily_cap": ("notify.daily_cap", 1, 1000),
    "reminders": ("requirements[0].reminders[0]", -366, 366),
    "min_entries": ("requirements[0].rules.min_entries", 0, 100_000),
    "quota_xa": ("requirements[0].rules.min_collectives.xa", 0, 100_000),
}
SCORES = {"threshold": "matching.threshold", "margin": "matching.margin"}
DATES = {
    "since": "mailbox.since",
    "closed_day": "notify.closed_days",
    "deadline": "requirements[0].before",
    "opens": "requirements[0].opens",
    "extension": "requirements[0].extensions.xa-muong-so",
}


def toml(**values: str) -> str:
    return BASE.format(**{**DEFAULTS, **values})


def write(tmp_path: Path, text: str | bytes) -> Path:
    path = tmp_path / "mail-ingest.toml"
    if isinstance(text, str):
        path.write_text(text, encoding="utf-8")
    else:
        path.write_bytes(text)
    return path


def check_config(path: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, [*args, "--config", str(path), "check-config"])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return result.exit_code, result.output


def wrong_integers(low: int, high: int) -> list[str]:
    """Out of range, far out of range, and of the wrong type, as TOML writes them."""
    values = {low - 1, high + 1, 10**30, -(10**30), 2**63 - 1, -(2**63)}
    if low > 0:
        values.add(0)
    typed = ["1.5", f"{float(high)}", "true", '"5"', "nan", "inf", "-inf", "[]", "{}"]
    return [str(v) for v in sorted(values)] + typed


def test_the_base_config_is_valid(tmp_path: Path) -> None:
    assert check_config(write(tmp_path, toml()))[0] == 0


@pytest.mark.parametrize("placeholder", sorted(NUMBERS))
def test_every_wrong_number_is_named_with_its_range(tmp_path: Path, placeholder: str) -> None:
    key, low, high = NUMBERS[placeholder]
    for value in wrong_integers(low, high):
        if value == "{}" and placeholder == "min_entries":
            continue  # a table of quotas per group, empty
        code, output = check_config(write(tmp_path, toml(**{placeholder: value})))
        assert code == 2, (value, output)
        assert f"{key}: expected a whole number from {low} to {high}" in output, (value, output)
        assert "Traceback" not in output


@pytest.mark.parametrize("placeholder", sorted(SCORES))
def test_every_wrong_score_is_named_with_its_range(tmp_path: Path, placeholder: str) -> None:
    for value in ["-1", "100.5", "1e308", "nan", "inf", "-inf", "true", '"85"', "10000000000"]:
        code, output = check_config(write(tmp_path, toml(**{placeholder: value})))
        assert code == 2, (value, output)
        assert f"{SCORES[placeholder]}: expected a number from 0 to 100" in output, value


@pytest.mark.parametrize("placeholder", sorted(DATES))
def test_every_date_out_of_the_supported_span_is_named(tmp_path: Path, placeholder: str) -> None:
    bad = ["0001-01-01", "9999-12-31", "1969-12-31", "2200-01-01", '"9999-12-31"']
    if placeholder == "closed_day":
        bad = [v if v.startswith('"') else f'"{v}"' for v in bad]
    for value in bad:
        code, output = check_config(write(tmp_path, toml(**{placeholder: value})))
        assert code == 2, (value, output)
        assert f"{DATES[placeholder]}: " in output, (value, output)
        assert "1970-01-01 to 2199-12-31" in output, (value, output)


def test_all_problems_at_once(tmp_path: Path) -> None:
    text = toml(poll_minutes="10000000000000", ack_max_age_hours=str(10**30),
                reminders="-1000000000", daily_cap="0", port="70000")  # fmt: skip
    code, output = check_config(write(tmp_path, text))
    assert code == 2
    assert "5 problem(s)" in output
    for key in ("schedule.poll_minutes", "notify.ack_max_age_hours", "reminders[0]",
                "notify.daily_cap", "mailbox.port"):  # fmt: skip
        assert key in output


def extremes(low: bool) -> dict[str, str]:
    """Every number at the low or the high end of its range, dates at the ends too."""
    values = {p: str(lo if low else hi) for p, (_, lo, hi) in NUMBERS.items()}
    values["reminders"] = "-366, 0, 366" if low else "366, -366"
    values.update(threshold="0" if low else "100", margin="0" if low else "100")
    if low:
        values.update(since="1970-01-01", deadline="1970-01-02", opens="1970-01-01",
                      extension="1970-01-03", closed_day='"1970-01-01"')  # fmt: skip
    else:
        values.update(since="2199-12-31", deadline="2199-12-30", opens="2199-12-01",
                      extension="2199-12-31", closed_day='"2199-12-31"')  # fmt: skip
    return values


@pytest.mark.parametrize("low", [True, False], ids=["low", "high"])
@pytest.mark.parametrize("deadline_key", ["before", "by", "due"])
def test_a_config_that_passes_never_raises_when_the_scheduler_computes(
    tmp_path: Path, low: bool, deadline_key: str
) -> None:
    values = extremes(low)
    if deadline_key == "due":
        values["deadline"] = values["deadline"] + "T17:00:00"
    c = config.load(write(tmp_path, toml(deadline_key=deadline_key, **values)))
    assert_scheduler_computes(c)


@pytest.mark.parametrize("seed", range(8))
def test_random_values_in_range_never_raise_later(tmp_path: Path, seed: int) -> None:
    """Any mix of accepted values, not only the ends of each range."""
    rng = random.Random(seed)
    values = {p: str(rng.randint(lo, hi)) for p, (_, lo, hi) in NUMBERS.items()}
    values["reminders"] = ", ".join(str(rng.randint(-366, 366)) for _ in range(rng.randint(0, 6)))
    values.update(threshold=str(rng.uniform(0, 100)), margin=str(rng.randint(0, 100)))
    first, last = config.FIRST_DAY.toordinal(), config.LAST_DAY.toordinal()
    deadline = date.fromordinal(rng.randint(first + 1, last - 1))
    values.update(
        deadline=str(deadline),
        opens=str(date.fromordinal(rng.randint(first, deadline.toordinal()))),
        extension=str(date.fromordinal(rng.randint(deadline.toordinal() + 1, last))),
        since=str(date.fromordinal(rng.randint(first, last))),
        closed_day=f'"{date.fromordinal(rng.randint(first, last))}"',
    )
    key = rng.choice(["before", "by", "due"])
    if key == "due":
        values["deadline"] += "T" + rng.choice(["00:00:00", "17:30:00", "23:59:59"])
    c = config.load(write(tmp_path, toml(deadline_key=key, **values)))
    assert_scheduler_computes(c)


def assert_scheduler_computes(c: config.Config) -> None:
    """What `mail-ingest run` computes with: timers, times of day, deadlines, reminders,
    the acknowledgement window, the daily report, at now and around each deadline."""
    tz = c.timezone
    now = datetime.now(tz)
    trigger = IntervalTrigger(minutes=c.poll_minutes, timezone=tz)
    assert trigger.get_next_fire_time(None, now) is not None
    assert now + timedelta(seconds=c.poll_minutes * 60) > now  # misfire_grace_time
    for at in (c.notify.reminders_at, c.notify.report_at):
        CronTrigger(hour=at.hour, minute=at.minute, timezone=tz).get_next_fire_time(None, now)
    moments = [now]
    for r in c.requirements:
        for d in r.schedule.occurrences():
            moments += [d.cutoff(tz) - timedelta(days=1), d.cutoff(tz)]
            break
    with open_store(c) as store:
        for moment in moments:
            assert moment - c.notify.ack_max_age < moment
            decisions.due(c, store, moment, force=True)
            for r in c.requirements:
                for unit in c.units:
                    for period in r.schedule.periods(unit.id, tz, moment):
                        reminder_days(
                            period.deadline.due_day(), r.reminders, c.notify.closed_days,
                            c.notify.reminder_shift,  # type: ignore[arg-type]
                        )  # fmt: skip


@pytest.mark.parametrize(
    "rrule",
    ["FREQ=YEARLY;INTERVAL=3000", "FREQ=YEARLY;COUNT=0", "FREQ=MONTHLY;UNTIL=20000101",
     "FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30", "FREQ=WEEKLY;BYSETPOS=1000", "FREQ=SECONDLY"],
)  # fmt: skip
def test_an_rrule_the_scheduler_cannot_walk_is_refused(tmp_path: Path, rrule: str) -> None:
    text = toml().replace("reminders = [", f'rrule = "{rrule}"\nreminders = [')
    text = text.replace("xa-muong-so = 2024-02-10", "")
    code, output = check_config(write(tmp_path, text))
    assert code == 2, output
    assert "requirements[0].rrule: " in output


def test_a_recurring_deadline_at_the_end_of_the_span_still_computes(tmp_path: Path) -> None:
    text = toml(**extremes(False)).replace(
        "reminders = [", 'rrule = "FREQ=MONTHLY;BYMONTHDAY=-1"\nreminders = ['
    )
    text = text.replace("xa-muong-so = 2199-12-31", "")
    assert_scheduler_computes(config.load(write(tmp_path, text)))


def test_times_of_day_are_local(tmp_path: Path) -> None:
    text = toml().replace("poll_minutes = 5", 'poll_minutes = 5\nreminders_at = "08:00+07:00"')
    code, output = check_config(write(tmp_path, text))
    assert code == 2 and "schedule.reminders_at: expected a local time of day" in output


def test_closures_leave_a_day_to_remind_on(tmp_path: Path) -> None:
    start = date(2024, 3, 1)
    days = ", ".join(f'"{start + timedelta(days=i)}"' for i in range(40))
    code, output = check_config(write(tmp_path, toml(closed_day=days)))
    assert code == 2 and "notify.closed_days: closes 30 days in a row" in output
    fine = ", ".join(f'"{start + timedelta(days=i)}"' for i in range(20))
    assert_scheduler_computes(config.load(write(tmp_path, toml(closed_day=fine))))


# -- secrets ------------------------------------------------------------------------

SECRET = "hunter2!Secret-7f3a"
SECRET_SETTINGS = [
    ("password_env", f'"{SECRET}"'),
    ("password_env", f'"{SECRET} with spaces"'),
    ("password_env", f'"{SECRET}\\u001b[2J"'),
    ("password_env", f'"{SECRET}{"x" * 1200}"'),
    ("password_env", f'["{SECRET}"]'),
    ("oauth2_token_env", f'"{SECRET}"'),
    ("oauth2_token_command", f'"helper --client-secret \\"{SECRET}"'),
    ("oauth2_token_command", f'"helper {SECRET}\\u0007"'),
    ("oauth2_token_command", f'{{ secret = "{SECRET}" }}'),
]


@pytest.mark.parametrize(("key", "value"), SECRET_SETTINGS)
def test_a_secret_in_the_wrong_place_is_never_printed(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, key: str, value: str
) -> None:
    text = toml().replace('password_env = "MAIL_INGEST_TEST_PW"', f"{key} = {value}")
    caplog.set_level(logging.DEBUG)
    code, output = check_config(write(tmp_path, text), "-vv")
    assert code == 2
    assert f"mailbox.{key}: " in output
    assert SECRET not in output and SECRET not in caplog.text
    with pytest.raises(ConfigError) as info:
        config.load(tmp_path / "mail-ingest.toml")
    assert SECRET not in str(info.value)


def test_the_password_env_error_says_what_belongs_there(tmp_path: Path) -> None:
    text = toml().replace('"MAIL_INGEST_TEST_PW"', '"hunter2!"')
    code, output = check_config(write(tmp_path, text))
    assert code == 2
    assert (
        "mailbox.password_env: must name an environment variable (letters, digits, _), "
        "not hold the password itself"
    ) in output
    assert "hunter2" not in output


def token_helper(tmp_path: Path, body: str) -> Path:
    helper = tmp_path / "token-helper"
    helper.write_text(f"#!/bin/sh\n{body}\n")
    helper.chmod(0o700)
    return helper


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (f"echo '{SECRET}' >&2; echo 'refresh {SECRET}'; exit 3", "(exit status 3)"),
        (f"echo 'invalid_grant: token {SECRET} revoked' >&2; exit 1",
         "(exit status 1, it reported invalid_grant)"),
        ("exit 0", "(no output)"),
    ],
)  # fmt: skip
def test_a_failing_token_command_says_how_without_its_words(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, body: str, expected: str
) -> None:
    helper = token_helper(tmp_path, body)
    command = f"{helper} --client-secret {SECRET}"
    c = config.load(write(tmp_path, toml().replace(
        'password_env = "MAIL_INGEST_TEST_PW"', f'oauth2_token_command = "{command}"'
    )))  # fmt: skip
    caplog.set_level(logging.DEBUG)
    with pytest.raises(ConfigError) as info:
        c.mailbox.credentials()
    message = str(info.value)
    assert message.startswith("mailbox.oauth2_token_command: the token command failed ")
    assert expected in message
    assert SECRET not in message and str(helper) not in message
    assert SECRET not in caplog.text


@pytest.mark.dovecot
def test_poll_at_debug_level_never_shows_the_token_commands_words(
    tmp_path: Path, imap_account: ImapAccount, caplog: pytest.LogCaptureFixture
) -> None:
    """The whole path, against a real server: connect, ask the helper, fail, report."""
    helper = token_helper(tmp_path, f"echo 'invalid_client {SECRET}' >&2; exit 4")
    text = toml().replace('host = "imap.gmail.com"', f'host = "{imap_account.host}"')
    text = text.replace("port = 993", f'port = {imap_account.port}\nsecurity = "none"')
    text = text.replace('username = "board@gmail.com"', f'username = "{imap_account.username}"')
    text = text.replace(
        'password_env = "MAIL_INGEST_TEST_PW"',
        f'oauth2_token_command = "{helper} --client-secret {SECRET}"',
    )
    caplog.set_level(logging.DEBUG)
    result = CliRunner().invoke(cli, ["-vv", "--config", str(write(tmp_path, text)), "poll"])
    assert result.exit_code == 2, result.output
    assert "the token command failed (exit status 4, it reported invalid_client)" in result.output
    assert SECRET not in result.output and SECRET not in caplog.text
    assert str(helper) not in result.output and str(helper) not in caplog.text


def test_a_token_command_that_cannot_start_is_named_without_its_words(tmp_path: Path) -> None:
    box = config.MailboxConfig(
        kind="imap", host="h", username="u", oauth2_token_command=f"/nonexistent/{SECRET} x"
    )
    with pytest.raises(ConfigError) as info:
        box.credentials()
    assert "the token command cannot be started (No such file or directory)" in str(info.value)
    assert SECRET not in str(info.value)


# -- file modes -----------------------------------------------------------------------


@contextmanager
def umask(mask: int) -> Iterator[None]:
    previous = os.umask(mask)
    try:
        yield
    finally:
        os.umask(previous)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_everything_the_service_writes_is_private_whatever_the_umask(tmp_path: Path) -> None:
    c = config.load(write(tmp_path, toml()))
    storage = c.storage
    database = [storage / f"mail-ingest.sqlite3{suffix}" for suffix in ("", "-wal", "-shm")]
    with umask(0o022):
        with open_store(c) as store, store.lock():
            digest = Archive(storage / "archive").put(b"Subject: hi\r\n\r\nbody\r\n")
            now = datetime(2024, 1, 31, 18, tzinfo=c.timezone)
            decisions.send(c, store, now, decisions.due(c, store, now, force=True))  # keeps reports
            open_modes = {path.name: mode(path) for path in database}  # -wal, -shm: while open
            lock_mode = mode(storage / "mail-ingest.lock")
        outbox = FileTransport(tmp_path / "outbox" / "sub")
        outbox.open()
        outbox.send(b"Subject: x\r\n\r\n", "a@b.vn", ["c@d.vn"], "report:2024-01-31")
    assert open_modes == dict.fromkeys(open_modes, 0o600) and len(open_modes) == 3
    assert lock_mode == 0o600
    eml = Archive(storage / "archive").path(digest)
    folders = [storage, storage / "archive", eml.parent, eml.parent.parent,
               storage / "reports", tmp_path / "outbox", tmp_path / "outbox" / "sub"]  # fmt: skip
    assert {str(f): mode(f) for f in folders} == dict.fromkeys(map(str, folders), 0o700)
    files = [eml, *(storage / "reports").iterdir(), *(tmp_path / "outbox" / "sub").iterdir()]
    assert len(files) == 4
    assert {str(f): mode(f) for f in files} == dict.fromkeys(map(str, files), 0o600)


def test_an_existing_world_readable_store_is_made_private(tmp_path: Path) -> None:
    with umask(0o022):
        Store(tmp_path / "s.sqlite3").close()
        (tmp_path / "s.sqlite3").chmod(0o644)
        Store(tmp_path / "s.sqlite3").close()
    assert mode(tmp_path / "s.sqlite3") == 0o600


def test_the_cli_sets_a_strict_umask_and_gives_the_old_one_back(tmp_path: Path) -> None:
    path = write(tmp_path, toml())
    path.unlink()
    with umask(0o022):
        result = CliRunner().invoke(cli, ["--config", str(path), "init"])
        assert result.exit_code == 0
        assert os.umask(0o022) == 0o022
    assert mode(path) == 0o600


# -- hostile files ------------------------------------------------------------------


def run_check_config(path: Path, memory: int = 1536 * 1024**2) -> subprocess.CompletedProcess[str]:
    """check-config in its own process under RLIMIT_AS: a bomb fails the test, not the
    machine."""

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (memory, memory))

    return subprocess.run(
        [sys.executable, "-m", "mail_ingest", "--config", str(path), "check-config"],
        capture_output=True, text=True, timeout=120, preexec_fn=limit, cwd=ROOT,
    )  # fmt: skip


HOSTILE_FILES = {
    "deep arrays": "x = " + "[" * 100_000 + "]" * 100_000 + "\n",
    "deep inline tables": "x = " + "{a=" * 100_000 + "1" + "}" * 100_000 + "\n",
    "deep dotted key": "a" + ".b" * 200_000 + " = 1\n",
    "deep table header": "[a" + ".b" * 200_000 + "]\n",
    "deep arrays over lines": "x = " + "[\n" * 5000 + "]\n" * 5000,
    "nested within the limits of TOML": "x = " + "[" * 50 + "]" * 50 + "\n",
    "a huge integer": "x = " + "9" * 3999 + "\n",
    "a long line": 'x = "' + "a" * 10_000 + '"\n',
    "a huge file": "# padding\n" * 200_000,
    "a long multi-line string": 'x = """\n' + ("b" * 3000 + "\n") * 20 + '"""\n',
}


@pytest.mark.parametrize("name", sorted(HOSTILE_FILES))
def test_a_hostile_file_is_a_named_error(tmp_path: Path, name: str) -> None:
    path = write(tmp_path, HOSTILE_FILES[name] + toml())
    done = run_check_config(path)
    assert done.returncode == 2, (done.returncode, done.stderr[-2000:])
    assert done.stderr.startswith(f"error: {path}"), done.stderr[:500]
    assert "Traceback" not in done.stderr


def test_non_utf8_bytes_name_their_line(tmp_path: Path) -> None:
    raw = toml().encode("utf-8").replace(b"B\xc3\xa1o c\xc3\xa1o", b"B\xe1o c\xe1o")
    code, output = check_config(write(tmp_path, raw))
    assert code == 2
    line = toml().splitlines().index('title = "Báo cáo"') + 1
    assert f"line {line} is not UTF-8 text" in output


def test_a_byte_order_mark_from_a_windows_editor_is_accepted(tmp_path: Path) -> None:
    assert check_config(write(tmp_path, b"\xef\xbb\xbf" + toml().encode("utf-8")))[0] == 0


@pytest.mark.parametrize(
    "unit_id",
    ['"../../etc"', '"a/b"', '"a\\\\b"', '"a\\nb"', '"ok\\n"', '"a\\u0000b"', '"a\\u001b[2J"',
     '"a\\u202eb"', '""', '"A"', f'"{"x" * 65}"', '"x y"', '"."', "7", '"xã"'],
)  # fmt: skip
def test_a_unit_id_that_could_act_as_a_path_or_a_control_is_refused(
    tmp_path: Path, unit_id: str
) -> None:
    text = toml().replace('id = "xa-muong-so"', f"id = {unit_id}")
    code, output = check_config(write(tmp_path, text))
    assert code == 2, output
    assert "units[0].id: " in output
    assert "\x1b" not in output and "\x00" not in output and "\u202e" not in output


@pytest.mark.parametrize(
    ("field", "value"),
    [("name", '"Đảng ủy\\u001b]0;owned\\u0007"'), ("name", f'"{"n" * 1001}"'),
     ("emails", '["danguy@example.vn\\n"]'), ("emails", '["a\\u0000@example.vn"]'),
     ("emails", f'["{"a" * 250}@example.vn"]'), ("aliases", '["Mường\\u200fSo"]')],
)  # fmt: skip
def test_unit_text_with_controls_or_without_bounds_is_refused(
    tmp_path: Path, field: str, value: str
) -> None:
    old = {"name": 'name = "Đảng ủy xã Mường So"',
           "emails": 'emails = ["danguy.muongso@example.vn"]',
           "aliases": 'group = "xa"'}[field]  # fmt: skip
    new = f"{field} = {value}" if field != "aliases" else f"{old}\naliases = {value}"
    code, output = check_config(write(tmp_path, toml().replace(old, new)))
    assert code == 2, output
    assert f"units[0].{field}" in output
    assert not any(ch in output for ch in "\x1b\x00\x07\u200f")


MAILDIR_AND_FILES = """\
[mailbox]
kind = "maildir"
path = "mail"
[smtp]
kind = "file"
path = "outbox"
sender = "board@example.vn"
[notify]
templates = "templates"
[forms]
specs = ["forms/mau-03.toml"]
"""
STRING_LINES = [
    (text, number)
    for text in (toml(), MAILDIR_AND_FILES)
    for number, line in enumerate(text.splitlines())
    if re.fullmatch(r'[a-z_]+ = (\[)?".*', line)
]


@pytest.mark.parametrize(("text", "number"), STRING_LINES)
def test_every_string_key_refuses_controls_length_and_wrong_types(
    tmp_path: Path, text: str, number: int
) -> None:
    """Each string in the config, replaced by hostile values of its own and other types."""
    lines = text.splitlines()
    key, value = lines[number].split(" = ", 1)
    for hostile in ('"a\\u0000b"', '"x\\u001b[2Jy"', '"bidi\\u202eexe"', f'"{"y" * 1500}"',
                    "12", "true", "[[1]]", "{ a = 1 }", "1979-05-27T07:32:00Z"):  # fmt: skip
        if value.startswith("["):
            hostile = f"[{hostile}]"
        lines[number] = f"{key} = {hostile}"
        code, output = check_config(write(tmp_path, "\n".join(lines) + "\n"))
        assert code == 2, (lines[number][:80], output)
        assert f"{key}" in output and "Traceback" not in output, (hostile[:40], output)
        assert not any(ch in output for ch in "\x00\x1b\u202e"), output
        assert len(output) < 3000


def test_duplicate_unit_ids_and_emails_are_named(tmp_path: Path) -> None:
    twin = textwrap.dedent("""\
        [[units]]
        id = "xa-khac"
        name = "Xã khác"
        group = "xa"
        emails = ["DANGUY.MUONGSO@example.vn"]
        """)
    text = toml().replace("[[requirements]]", twin + twin + "[[requirements]]")
    code, output = check_config(write(tmp_path, text))
    assert code == 2
    assert "units[2].id: 'xa-khac' is used twice" in output
    assert "units[1].emails[0]: 'danguy.muongso@example.vn' already belongs to unit" in output


@pytest.mark.parametrize(
    ("line", "key"),
    [('timezone = "' + "A" * 900 + '"', "timezone"),
     ('timezone = "Asia/\\u0000"', "timezone"),
     ('"\\u001b[2J\\u001b[31m" = 1', "'\\x1b[2J\\x1b[31m'"),
     ('"' + "k" * 3000 + '" = 1', "'kkkk"),
     ("[storage]\npath = \"" + "d" * 300 + '"', "storage.path"),
     ("[storage]\npath = \"data\\u0000x\"", "storage.path")],
)  # fmt: skip
def test_other_hostile_strings_are_named_errors(tmp_path: Path, line: str, key: str) -> None:
    text = toml()
    if line.startswith("[storage]"):
        text = text.replace('[storage]\npath = "data"', line)
    elif line.startswith("timezone"):
        text = text.replace('timezone = "Asia/Ho_Chi_Minh"', line)
    else:
        text = line + "\n" + text
    code, output = check_config(write(tmp_path, text))
    assert code == 2, output
    assert key in output
    assert "\x1b" not in output and "\x00" not in output
    assert len(output) < 2000
