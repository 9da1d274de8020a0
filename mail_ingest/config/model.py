"""The configuration as the service uses it: typed, frozen, and the one place defaults live."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from datetime import time as dt_time
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo

import parsers
from mail_ingest.config.secrets import command_output, secret
from rules.match_model import DEFAULT_SETTINGS, MatchSettings
from rules.requirements import Requirement
from rules.status import CHECK_BELOW
from rules.units import Unit


@dataclass(frozen=True)
class MailboxConfig:
    kind: Literal["maildir", "imap"]
    path: Path | None = None  # maildir
    host: str = ""
    port: int = 993
    security: str = "ssl"
    allow_insecure: bool = False  # security = "none" beyond this machine
    username: str = ""
    password_env: str = ""
    oauth2_token_env: str = ""
    oauth2_token_command: str = ""
    folders: tuple[str, ...] = ("INBOX",)  # a name, or a special-use flag such as "\\All"
    ca_file: Path | None = None
    since: date | None = None  # mail received before this day is never read
    idle: bool = False
    max_message_bytes: int = 40 * 1024 * 1024
    after: str = "keep"  # keep | keyword | copy | move, for submissions once recorded
    keyword: str = "$MailIngestDone"
    after_folder: str = ""  # where `copy` and `move` put them
    mark_seen: bool = False
    connect_timeout: float = 15.0
    read_timeout: float = 120.0
    # The board's server's name in Authentication-Results ("mx.google.com"; "none" for
    # Microsoft 365, which writes none); unset: the headers are not read (rules.authres).
    authserv_id: str | None = None

    def credentials(self) -> tuple[Literal["password", "xoauth2"], str]:
        """The login secret, read when connecting: tokens expire, so never cached here."""
        if self.oauth2_token_env:
            return "xoauth2", secret("mailbox.oauth2_token_env", self.oauth2_token_env)
        if self.oauth2_token_command:
            return "xoauth2", command_output(
                "mailbox.oauth2_token_command", self.oauth2_token_command
            )
        return "password", secret("mailbox.password_env", self.password_env)


@dataclass(frozen=True)
class SmtpConfig:
    kind: Literal["smtp", "file"]
    sender: str
    host: str = ""
    port: int = 465
    security: str = "ssl"
    username: str = ""
    password_env: str = ""
    ca_file: Path | None = None
    path: Path | None = None  # kind = "file": where .eml files are written

    def password(self) -> str:
        return secret("smtp.password_env", self.password_env) if self.password_env else ""


@dataclass(frozen=True)
class NotifyConfig:
    """What is sent to whom and when ([notify] and the times in [schedule])."""

    acknowledge: bool = True
    ack_max_age: timedelta = timedelta(hours=48)  # older mail is never acknowledged
    daily_cap: int = 5  # mails per recipient per day, acknowledgements and reminders
    reminders_at: dt_time = dt_time(8, 0)
    report_at: dt_time = dt_time(17, 0)
    reminder_shift: str = "previous"  # a reminder on a closed day: previous | next | keep
    closed_days: tuple[date, ...] = ()  # the district's own closures, beyond public holidays
    templates: Path | None = None  # a folder whose templates replace the packaged ones
    contact: str = ""  # the board's person to contact, named in every mail


@dataclass(frozen=True)
class WebConfig:
    """[web]: where `mail-ingest web` listens, and the address people reach it at."""

    host: str = "127.0.0.1"
    port: int = 8080
    public_url: str | None = None  # e.g. https://dvk.example.vn/ behind a TLS proxy
    proxied: bool = False  # behind one reverse proxy: trust its X-Forwarded-* headers
    serve: bool = False  # `mail-ingest run` serves the page too: [web] is there, serve unset


@dataclass(frozen=True)
class Config:
    path: Path  # the file it was read from
    timezone: ZoneInfo
    mailbox: MailboxConfig
    smtp: SmtpConfig | None
    storage: Path
    report_recipients: tuple[str, ...]
    poll_minutes: int
    units: tuple[Unit, ...]
    requirements: tuple[Requirement, ...]
    forms: tuple[parsers.FormSpec, ...]  # packaged specs plus the deployment's own
    matching: MatchSettings = DEFAULT_SETTINGS  # recognising units by name
    notify: NotifyConfig = NotifyConfig()  # acknowledgements, reminders, the daily report
    # A file read with less confidence than this (0..1) waits for the board's check.
    check_below: float = CHECK_BELOW
    web: WebConfig = WebConfig()

    def form_titles(self) -> dict[str, str]:
        return {spec.id: spec.title for spec in self.forms}
