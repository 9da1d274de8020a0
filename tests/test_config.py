"""Config validation: every problem names its key; the example config is valid."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from click.testing import CliRunner

from mail_ingest import config
from mail_ingest.cli import cli
from mail_ingest.errors import ConfigError

ROOT = Path(__file__).resolve().parent.parent
MINIMAL = """\
[mailbox]
kind = "maildir"
path = "mail"
"""


def load_text(tmp_path: Path, text: str) -> config.Config:
    path = tmp_path / "mail-ingest.toml"
    path.write_text(text, encoding="utf-8")
    return config.load(path)


def problems(tmp_path: Path, text: str) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_text(tmp_path, text)
    return str(info.value).splitlines()[1:]


def test_example_config_is_valid() -> None:
    c = config.load(ROOT / "config.example.toml")
    assert c.timezone.key == "Asia/Ho_Chi_Minh"
    assert (c.mailbox.kind, c.mailbox.host, c.mailbox.port) == ("imap", "imap.gmail.com", 993)
    assert c.mailbox.password_env == "MAIL_INGEST_IMAP_PASSWORD"
    assert c.smtp is not None and c.smtp.sender.startswith("Ban Dân vận")
    [req] = c.requirements
    assert req.deadline.phrase() == "trước ngày 01/02/2024"
    assert req.deadline.due_day() == date(2024, 1, 31)
    assert req.groups == ("xa", "co-quan")
    assert {r.key: (dict(r.quota.per_group), r.quota.default) for r in req.rules} == {
        "min_collectives": ({"xa": 2}, 1),
        "min_individuals": ({"xa": 2}, 1),
    }
    assert c.storage == ROOT / "data"  # relative to the config file


def test_minimal_config_takes_defaults(tmp_path: Path) -> None:
    c = load_text(tmp_path, MINIMAL)
    assert c.mailbox.path == tmp_path / "mail"
    assert c.storage == tmp_path / "data"
    assert c.poll_minutes == 5
    assert {"mau-01", "mau-02"} <= {spec.id for spec in c.forms}


def test_bad_email_names_the_key(tmp_path: Path) -> None:
    text = MINIMAL + "".join(
        f'[[units]]\nid = "u{i}"\nname = "Đơn vị {i}"\ngroup = "xa"\nemails = ["u{i}@example.vn"]\n'
        for i in range(3)
    )
    text += '[[units]]\nid = "u3"\nname = "Đơn vị 3"\ngroup = "xa"\nemails = ["abc"]\n'
    assert problems(tmp_path, text) == ["units[3].emails[0]: 'abc' is not an email address"]


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    text = """\
timezone = "Asia/Hanoi_City"
colour = "red"
[mailbox]
kind = "pop3"
[schedule]
poll_minutes = 0
[[units]]
id = "Xã Mường So"
group = "xa"
[[requirements]]
id = "r"
title = "R"
forms = ["mau-09"]
before = "2024-02-01"
by = "2024-02-27"
reminders = ["soon"]
[requirements.rules]
min_people = 2
min_collectives = { xa = -1 }
"""
    assert problems(tmp_path, text) == [
        "timezone: 'Asia/Hanoi_City' is not a known time zone (e.g. 'Asia/Ho_Chi_Minh')",
        "mailbox.kind: 'pop3' is not one of 'maildir', 'imap'",
        "mailbox.host: is required",
        "mailbox.username: is required",
        "mailbox.password_env: is required (for XOAUTH2: oauth2_token_env or _command)",
        "schedule.poll_minutes: expected a whole number from 1 to 1440, got 0",
        "units[0].id: 'Xã Mường So' is not a valid id"
        " (up to 64 lowercase letters, digits, '-', '_' and '.')",
        "units[0].name: is required",
        "requirements[0].forms[0]: 'mau-09' is not one of 'M1', 'M2', 'M3', 'M4', 'bao-cao-nam',"
        " 'mau-01', 'mau-02'",
        "requirements[0].before: give exactly one of `before` (trước ngày),"
        " `by` (chậm nhất ngày) or `due` (a local date and time)",
        "requirements[0].reminders[0]: expected a whole number from -366 to 366, got 'soon'",
        "requirements[0].rules.min_people: unknown rule (known: min_/max_ + entries, collectives, "
        "individuals, level_tinh, level_huyen, level_xa; required_fields; custom)",
        "requirements[0].rules.min_collectives.xa: expected a whole number from 0 to 100000,"
        " got -1",
        "colour: unknown key",
    ]


def test_dates_as_toml_dates_or_strings(tmp_path: Path) -> None:
    base = MINIMAL + '[[requirements]]\nid = "r"\ntitle = "R"\nforms = ["mau-01"]\n'
    assert load_text(tmp_path, base + "by = 2024-02-27\n").requirements[0].deadline.day == date(
        2024, 2, 27
    )
    assert problems(tmp_path, base + 'by = "27/02/2024"\n') == [
        "requirements[0].by: expected a date such as 2024-02-01, got '27/02/2024'"
    ]


def test_address_shared_by_two_units_is_refused(tmp_path: Path) -> None:
    text = MINIMAL + "".join(
        f'[[units]]\nid = "u{i}"\nname = "U{i}"\ngroup = "xa"\nemails = ["Same@example.vn"]\n'
        for i in range(2)
    )
    assert problems(tmp_path, text) == [
        "units[1].emails[0]: 'same@example.vn' already belongs to unit 'u0'"
    ]


def test_password_comes_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    c = config.load(ROOT / "config.example.toml")
    monkeypatch.delenv("MAIL_INGEST_IMAP_PASSWORD", raising=False)
    with pytest.raises(
        ConfigError, match=r"mailbox\.password_env: environment variable MAIL_INGEST_IMAP_PASSWORD"
    ):
        c.mailbox.credentials()
    monkeypatch.setenv("MAIL_INGEST_IMAP_PASSWORD", "app-password")
    assert c.mailbox.credentials() == ("password", "app-password")


IMAP = """\
[mailbox]
host = "{host}"
username = "bandanvan@gmail.com"
{extra}
"""


def imap(tmp_path: Path, host: str = "imap.gmail.com", **extra: str) -> config.Config:
    lines = "\n".join(f"{key} = {value}" for key, value in extra.items())
    return load_text(tmp_path, IMAP.format(host=host, extra=lines))


def imap_problems(tmp_path: Path, host: str = "imap.gmail.com", **extra: str) -> list[str]:
    with pytest.raises(ConfigError) as info:
        imap(tmp_path, host, **extra)
    return str(info.value).splitlines()[1:]


def test_imap_defaults_leave_the_mailbox_alone(tmp_path: Path) -> None:
    box = imap(tmp_path, password_env='"PW"').mailbox
    assert (box.port, box.security, box.folders, box.after, box.mark_seen) == (
        993, "ssl", ("INBOX",), "keep", False,
    )  # fmt: skip
    assert (box.max_message_bytes, box.since, box.idle) == (40 * 1024 * 1024, None, False)


def test_imap_settings(tmp_path: Path) -> None:
    box = imap(
        tmp_path, password_env='"PW"', folders='["INBOX", "Nộp báo cáo", "\\\\All"]',
        since="2024-01-01", idle="true", after='"move"', after_folder='"Đã xử lý"',
        max_message_bytes="1000000",
    ).mailbox  # fmt: skip
    assert box.folders == ("INBOX", "Nộp báo cáo", "\\All")
    assert (box.since, box.idle, box.after, box.after_folder) == (
        date(2024, 1, 1), True, "move", "Đã xử lý",
    )  # fmt: skip


def test_plaintext_imap_is_refused_beyond_this_machine(tmp_path: Path) -> None:
    [problem] = imap_problems(tmp_path, "mail.example.vn", security='"none"', password_env='"P"')
    assert problem.startswith("mailbox.security: 'none' sends the password unencrypted")
    insecure = imap(
        tmp_path, "mail.example.vn", security='"none"', allow_insecure="true", password_env='"P"'
    )
    assert insecure.mailbox.port == 143
    assert imap(tmp_path, "127.0.0.1", security='"none"', password_env='"P"').mailbox.port == 143


def test_exactly_one_secret_and_a_target_for_moves(tmp_path: Path) -> None:
    assert imap_problems(tmp_path, password_env='"P"', oauth2_token_env='"T"', after='"copy"') == [
        "mailbox.oauth2_token_env: set only one of password_env, oauth2_token_env",
        "mailbox.after_folder: is required when after = 'copy'",
    ]
    assert imap_problems(tmp_path, password_env='"P"', keyword='"\\\\Deleted"') == [
        "mailbox.keyword: '\\\\Deleted' is not an IMAP keyword"
        " (letters, digits, '$', '_', '-', no spaces)"
    ]


def test_oauth2_token_from_a_command(tmp_path: Path) -> None:
    ok = imap(tmp_path, oauth2_token_command='"printf ya29.token-from-helper"').mailbox
    assert ok.credentials() == ("xoauth2", "ya29.token-from-helper")
    failing = imap(tmp_path, oauth2_token_command="\"sh -c 'echo invalid_grant >&2; exit 1'\"")
    with pytest.raises(
        ConfigError,
        match=r"oauth2_token_command: the token command failed \(exit status 1, it reported "
        r"invalid_grant\)",
    ):
        failing.mailbox.credentials()


def test_invalid_toml_and_missing_file_exit_2(tmp_path: Path) -> None:
    broken = tmp_path / "broken.toml"
    broken.write_text("[mailbox\n", encoding="utf-8")
    runner = CliRunner()
    result = runner.invoke(cli, ["--config", str(broken), "check-config"])
    assert result.exit_code == 2
    assert "not valid TOML" in result.output
    result = runner.invoke(cli, ["--config", str(tmp_path / "none.toml"), "check-config"])
    assert result.exit_code == 2
    assert "mail-ingest init" in result.output


def test_init_writes_a_valid_starter_config(tmp_path: Path) -> None:
    path = tmp_path / "mail-ingest.toml"
    runner = CliRunner()
    assert runner.invoke(cli, ["--config", str(path), "init"]).exit_code == 0
    again = runner.invoke(cli, ["--config", str(path), "init"])
    assert again.exit_code == 1 and "already exists" in again.output
    result = runner.invoke(
        cli, ["--config", str(path), "check-config"], env={"MAIL_INGEST_IMAP_PASSWORD": "x"}
    )
    assert result.exit_code == 0, result.output
    assert (
        "requirement dvk-2024-dang-ky: mau-01, mau-02 trước ngày 01/02/2024, 3 units"
        in result.output
    )


def test_config_path_from_environment(tmp_path: Path) -> None:
    path = tmp_path / "elsewhere.toml"
    path.write_text(MINIMAL, encoding="utf-8")
    result = CliRunner().invoke(cli, ["check-config"], env={"MAIL_INGEST_CONFIG": str(path)})
    assert result.exit_code == 0, result.output
    assert str(path) in result.output
