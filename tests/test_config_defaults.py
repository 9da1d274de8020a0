"""Defaults are written once, in the dataclasses: a config that leaves a key out gets the
dataclass's value, so changing a default in one place changes what the service does."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from mail_ingest import config


def defaults(cls: type) -> dict[str, object]:
    return {
        f.name: f.default for f in dataclasses.fields(cls) if f.default is not dataclasses.MISSING
    }


def parsed(data: dict[str, object], tmp_path: Path) -> config.Config:
    return config.parse(data, base=tmp_path, path=tmp_path / "mail-ingest.toml")


def test_an_imap_mailbox_left_at_its_defaults_matches_the_dataclass(tmp_path: Path) -> None:
    c = parsed(
        {"mailbox": {"kind": "imap", "host": "imap.example.vn", "username": "bdv",
                     "password_env": "X"}},
        tmp_path,
    )  # fmt: skip
    given = {"kind", "host", "username", "password_env"}
    got = dataclasses.asdict(c.mailbox)
    assert {k: got[k] for k in defaults(config.MailboxConfig).keys() - given} == {
        k: v for k, v in defaults(config.MailboxConfig).items() if k not in given
    }


def test_notify_smtp_and_matching_left_out_match_their_dataclasses(tmp_path: Path) -> None:
    c = parsed(
        {"mailbox": {"kind": "maildir", "path": "mail"},
         "smtp": {"sender": "bdv@example.vn", "host": "smtp.example.vn"}},
        tmp_path,
    )  # fmt: skip
    assert c.notify == config.NotifyConfig()
    assert c.check_below == defaults(config.Config)["check_below"]
    assert c.matching == defaults(config.Config)["matching"]
    assert c.smtp is not None
    smtp = dataclasses.asdict(c.smtp)
    for key, value in defaults(config.SmtpConfig).items():
        if key not in {"host", "path"}:
            assert smtp[key] == value, key
