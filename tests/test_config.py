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
        "mailbox.password_env: is required",
        "schedule.poll_minutes: 0 must be a positive number",
        "units[0].id: 'Xã Mường So' is not a valid id"
        " (lowercase letters, digits, '-', '_' and '.')",
        "units[0].name: is required",
        "requirements[0].forms[0]: 'mau-09' is not one of 'mau-01', 'mau-02'",
        "requirements[0].before:"
        " give exactly one of `before` (trước ngày) or `by` (chậm nhất ngày)",
        "requirements[0].reminders[0]: expected a whole number, got 'soon'",
        "requirements[0].rules.min_people: unknown rule (known: min_/max_ + entries, collectives, "
        "individuals, level_tinh, level_huyen, level_xa)",
        "requirements[0].rules.min_collectives.xa: -1 must not be negative",
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
        c.mailbox.password()
    monkeypatch.setenv("MAIL_INGEST_IMAP_PASSWORD", "app-password")
    assert c.mailbox.password() == "app-password"


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
