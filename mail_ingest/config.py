"""The deployment's configuration: one TOML file, validated completely at load.

Every problem names the key it is about ("units[3].emails[0]: 'abc' is not an email
address") and all of them are reported at once, so a board's IT helper fixes the file
in one pass. Secrets never live in the file: `password_env` names a variable.
"""

from __future__ import annotations

import ipaddress
import os
import re
import reprlib
import shlex
import subprocess
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from datetime import time as dt_time
from email.utils import parseaddr
from pathlib import Path
from typing import Any, Literal, TypeVar, cast
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import parsers
from mail_ingest.errors import ConfigError
from parsers.text import printable
from rules.deadlines import EVERY_MONTHS, MAX_OCCURRENCES, Deadline, Every, parse_rrule
from rules.matching import DEFAULT_SETTINGS, MatchSettings
from rules.requirements import Letter, Requirement
from rules.status import CHECK_BELOW
from rules.units import Unit
from rules.validation import (
    CUSTOM,
    FIELD_LABELS,
    CountRule,
    CustomRule,
    Quota,
    RequiredFields,
    Rule,
    parse_rule_key,
)

DEFAULT_PATH = Path("mail-ingest.toml")
ENV_VAR = "MAIL_INGEST_CONFIG"
SECURITY = ("ssl", "starttls", "none")
_EMAIL = re.compile(r"[^@\s<>(),;:\"]+@[^@\s<>(),;:\"]+\.[^@\s<>(),;:\"]+")
_ID = re.compile(r"[a-z0-9][a-z0-9._-]*")
_PLAIN_KEY = re.compile(r"[A-Za-z0-9_-]{1,100}")

# Bounds on the file itself: a real deployment's file is tens of KB. tomllib's memory
# grows with the square of a dotted key's depth, and a key is one line, so the line
# length bounds it (4,000 characters: about 25 MB at worst).
MAX_FILE_BYTES = 1024 * 1024
MAX_LINE_CHARS = 4000
MAX_DEPTH = 8  # [[requirements]] > rules > min_entries > group is the deepest needed
MAX_STRING = 1000  # any string value; ids, addresses and names have tighter limits
MAX_ID = 64
MAX_EMAIL = 254  # RFC 5321's limit for a forward path
MAX_QUOTA = 100_000  # entries a form can count
MAX_CLOSED_RUN = 30  # days in a row, weekends included; Tết adds about ten more
MAX_NAME_BYTES = 255  # one path component (NAME_MAX)
# Dates the service computes with: deadlines, reminders up to a year either side,
# periods, holidays. Far from datetime's limits, so no arithmetic on them can overflow.
FIRST_DAY = date(1970, 1, 1)
LAST_DAY = date(2199, 12, 31)
# Keys whose values may be a secret put in the wrong place: never shown in an error.
SECRET_KEYS = frozenset({"password_env", "oauth2_token_env", "oauth2_token_command"})
# Hints a failing token helper may give that say what is wrong without any secret
# (RFC 6749 section 5.2 and the OpenID Connect error codes).
_TOKEN_HINTS = (
    "invalid_request", "invalid_client", "invalid_grant", "unauthorized_client",
    "unsupported_grant_type", "invalid_scope", "access_denied", "consent_required",
    "interaction_required", "login_required", "temporarily_unavailable", "server_error",
)  # fmt: skip

T = TypeVar("T")


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
            return "xoauth2", _secret("mailbox.oauth2_token_env", self.oauth2_token_env)
        if self.oauth2_token_command:
            return "xoauth2", _command_output(
                "mailbox.oauth2_token_command", self.oauth2_token_command
            )
        return "password", _secret("mailbox.password_env", self.password_env)


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
        return _secret("smtp.password_env", self.password_env) if self.password_env else ""


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


def default_path() -> Path:
    return Path(os.environ.get(ENV_VAR) or DEFAULT_PATH)


def load(path: Path) -> Config:
    """Read and validate a config file; raises ConfigError listing every problem."""
    try:
        with path.open("rb") as handle:
            raw = handle.read(MAX_FILE_BYTES + 1)
    except FileNotFoundError:
        raise ConfigError(
            f"{path}: no such config file (create one with `mail-ingest init`)"
        ) from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror or exc}") from None
    data = _toml(path, raw)
    if (deepest := _depth(data)) > MAX_DEPTH:
        raise ConfigError(f"{path}: values nested {deepest} levels deep (at most {MAX_DEPTH})")
    return parse(data, base=path.parent, path=path)


def _toml(path: Path, raw: bytes) -> dict[str, Any]:
    """Decoded TOML, or a ConfigError saying where the file is unusable."""
    if len(raw) > MAX_FILE_BYTES:
        raise ConfigError(f"{path}: larger than {MAX_FILE_BYTES // 1024} KB; is it the config?")
    try:
        text = raw.decode("utf-8-sig")  # Windows editors may start the file with a BOM
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise ConfigError(
            f"{path}: line {line} is not UTF-8 text (save the file as UTF-8)"
        ) from None
    for number, line_text in enumerate(text.splitlines(), start=1):
        if len(line_text) > MAX_LINE_CHARS:
            raise ConfigError(f"{path}: line {number} is longer than {MAX_LINE_CHARS} characters")
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    except RecursionError:
        raise ConfigError(f"{path}: values nested too deeply (at most {MAX_DEPTH})") from None
    except (ValueError, MemoryError) as exc:  # e.g. an integer of thousands of digits
        raise ConfigError(f"{path}: not a usable TOML file ({type(exc).__name__})") from None


def _depth(data: object) -> int:
    """How deeply tables and arrays nest, without recursion (the data may be hostile)."""
    deepest, stack = 0, [(data, 0)]
    while stack:
        value, level = stack.pop()
        deepest = max(deepest, level)
        if isinstance(value, dict):
            stack += [(v, level + 1) for v in value.values()]
        elif isinstance(value, list):
            stack += [(v, level + 1) for v in value]
    return deepest


def parse(data: Mapping[str, Any], base: Path, path: Path) -> Config:
    """Validate already-decoded TOML; relative paths are taken from `base`."""
    errors: list[str] = []
    root = _Table(data, "", errors, base)
    tz = root.get("timezone", str, "Asia/Ho_Chi_Minh", check=_timezone)
    mailbox = _mailbox(root.table("mailbox", required=True))
    smtp = _smtp(root.table("smtp")) if "smtp" in data else None
    storage = root.path("storage.path", root.table("storage").get("path", str, "data"))
    recipients = root.table("report").strings("recipients", check=_email)
    schedule = root.table("schedule")
    poll_minutes = schedule.number("poll_minutes", 5, 1, 24 * 60)
    notify = _notify(root.table("notify"), schedule)
    forms = _forms(root.table("forms"))
    units = tuple(_unit(t) for t in root.tables("units"))
    matching_table = root.table("matching")
    matching = _matching(matching_table)
    check_below = _score(matching_table, "check_below", CHECK_BELOW * 100) / 100
    known_forms = {spec.id for spec in forms}
    requirements = tuple(
        _requirement(t, known_forms, units, forms) for t in root.tables("requirements")
    )
    web_table = root.table("web")
    web = WebConfig(
        web_table.get("host", str, "127.0.0.1"), web_table.number("port", 8080, 1, 65535),
        web_table.get("public_url", str, None, check=_url), web_table.get("proxied", bool, False),
    )  # fmt: skip
    _unique(errors, "units", [u.id for u in units])
    _unique(errors, "requirements", [r.id for r in requirements])
    _unique_emails(errors, units)
    root.finish()
    if errors:
        raise ConfigError("\n".join([f"{path}: {len(errors)} problem(s)", *errors]))
    return Config(
        path=path,
        timezone=ZoneInfo(tz),
        mailbox=mailbox,
        smtp=smtp,
        storage=storage,
        report_recipients=tuple(recipients),
        poll_minutes=poll_minutes,
        units=units,
        requirements=requirements,
        forms=forms,
        matching=matching,
        notify=notify,
        check_below=check_below,
        web=web,
    )


def _mailbox(t: _Table) -> MailboxConfig:
    kind = t.get("kind", str, "imap", check=_one_of("maildir", "imap"))
    authserv_id = t.get("authserv_id", str, "", check=_authserv_id) or None
    if kind == "maildir":
        return MailboxConfig(
            kind="maildir",
            path=t.path("path", t.get("path", str, required=True)),
            max_message_bytes=t.number("max_message_bytes", 40 * 1024 * 1024, 1024, 1024**3),
            authserv_id=authserv_id,
        )
    security = t.get("security", str, "ssl", check=_one_of(*SECURITY))
    host = t.get("host", str, required=True)
    allow_insecure = t.get("allow_insecure", bool, False)
    _refuse_plaintext(t, security, host)
    username = t.get("username", str, required=True)
    secrets = [k for k in ("password_env", "oauth2_token_env", "oauth2_token_command") if t.has(k)]
    if not secrets:
        t.error("password_env", "is required (for XOAUTH2: oauth2_token_env or _command)")
    elif len(secrets) > 1:
        t.error(secrets[1], f"set only one of {', '.join(secrets)}")
    if t.has("folder") and t.has("folders"):
        t.error("folders", "set either folder or folders, not both")
    folders = t.strings("folders") if t.has("folders") else [t.get("folder", str, "INBOX")]
    if not folders:
        t.error("folders", "must not be empty")
    after = t.get("after", str, "keep", check=_one_of("keep", "keyword", "copy", "move"))
    after_folder = t.get("after_folder", str, "")
    if after in ("copy", "move") and not after_folder:
        t.error("after_folder", f"is required when after = {after!r}")
    return MailboxConfig(
        kind="imap",
        host=host,
        port=t.number("port", 993 if security == "ssl" else 143, 1, 65535),
        security=security,
        allow_insecure=allow_insecure,
        username=username,
        password_env=t.get("password_env", str, "", check=_env_name),
        oauth2_token_env=t.get("oauth2_token_env", str, "", check=_env_name),
        oauth2_token_command=t.get("oauth2_token_command", str, "", check=_token_command),
        folders=tuple(folders) or ("INBOX",),
        ca_file=_optional_path(t, "ca_file"),
        since=t.day("since"),
        idle=t.get("idle", bool, False),
        max_message_bytes=t.number("max_message_bytes", 40 * 1024 * 1024, 1024, 1024**3),
        after=after,
        keyword=t.get("keyword", str, "$MailIngestDone", check=_keyword),
        after_folder=after_folder,
        mark_seen=t.get("mark_seen", bool, False),
        connect_timeout=t.number("connect_timeout", 15, 1, 3600),
        read_timeout=t.number("read_timeout", 120, 1, 3600),
        authserv_id=authserv_id,
    )


def _notify(t: _Table, schedule: _Table) -> NotifyConfig:
    days = [d for d in (_iso_day(t, "closed_days", v) for v in t.strings("closed_days")) if d]
    _closed_run(t, "closed_days", days)
    return NotifyConfig(
        acknowledge=t.get("acknowledge", bool, True),
        ack_max_age=timedelta(hours=t.number("ack_max_age_hours", 48, 1, 366 * 24)),
        daily_cap=t.number("daily_cap", 5, 1, 1000),
        reminders_at=_clock(schedule, "reminders_at", dt_time(8, 0)),
        report_at=_clock(schedule, "report_at", dt_time(17, 0)),
        reminder_shift=t.get(
            "reminder_shift", str, "previous", check=_one_of("previous", "next", "keep")
        ),
        closed_days=tuple(days),
        templates=_optional_path(t, "templates"),
        contact=" ".join(t.get("contact", str, "").split()),
    )


def _clock(t: _Table, key: str, default: dt_time) -> dt_time:
    """A time of day written "08:00"."""
    value = t.get(key, str, default.strftime("%H:%M"))
    try:
        at = dt_time.fromisoformat(value)
    except ValueError:
        at = None
    if at is None or at.tzinfo is not None:  # an offset cannot be compared with local times
        t.error(key, f'expected a local time of day such as "08:00", got {_show(value)}')
        return default
    return at


def _iso_day(t: _Table, key: str, value: str) -> date | None:
    day = _as_day(value)
    if day is None:
        t.error(key, f'expected dates such as "2024-02-02", got {_show(value)}')
    elif problem := _day_range(day):
        t.error(key, problem)
        return None
    return day


def _closed_run(t: _Table, key: str, days: list[date]) -> None:
    """A reminder moves to a working day at most 60 days away (rules.calendar.shift):
    closures with weekends must leave one well within that, whatever holidays add."""
    closed = set(days)
    for day in sorted(closed):
        if day - timedelta(days=1) in closed:
            continue  # not the start of a run
        end = day
        while (end + timedelta(days=1)) in closed or (end + timedelta(days=1)).weekday() >= 5:
            end += timedelta(days=1)
            if (end - day).days >= MAX_CLOSED_RUN:
                t.error(
                    key, f"closes {MAX_CLOSED_RUN} days in a row from {day}: no day to remind on"
                )
                return


def _smtp(t: _Table) -> SmtpConfig:
    kind = t.get("kind", str, "smtp", check=_one_of("smtp", "file"))
    sender = t.get("sender", str, required=True, check=_mailbox_address)
    if kind == "file":
        return SmtpConfig(
            kind="file", sender=sender, path=t.path("path", t.get("path", str, "outbox"))
        )
    security = t.get("security", str, "ssl", check=_one_of(*SECURITY))
    host = t.get("host", str, required=True)
    _refuse_plaintext(t, security, host)
    return SmtpConfig(
        kind="smtp",
        sender=sender,
        host=host,
        port=t.number("port", {"ssl": 465, "starttls": 587}.get(security, 25), 1, 65535),
        security=security,
        username=t.get("username", str, ""),
        password_env=t.get("password_env", str, "", check=_env_name),
        ca_file=_optional_path(t, "ca_file"),
    )


def _refuse_plaintext(t: _Table, security: str, host: str) -> None:
    """`security = "none"` only on this machine, unless the board says the network is trusted."""
    allowed = t.get("allow_insecure", bool, False)
    if security == "none" and host and not allowed and not _is_loopback(host):
        t.error(
            "security",
            f"'none' sends the password unencrypted to {host}; use 'ssl' or 'starttls', "
            "or set allow_insecure = true if the network is trusted",
        )


def _forms(t: _Table) -> tuple[parsers.FormSpec, ...]:
    """The packaged form specs, then the deployment's own (which may replace one by id)."""
    specs = {spec.id: spec for spec in parsers.builtin_specs()}
    for i, name in enumerate(t.strings("specs")):
        key = f"specs[{i}]"
        spec_path = t.path(key, name)
        try:
            spec = parsers.parse_spec(spec_path.read_text(encoding="utf-8"), str(spec_path))
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            t.error(key, f"cannot use form spec {str(spec_path)!r}: {exc}")
            continue
        specs[spec.id] = spec
    return tuple(specs.values())


def _unit(t: _Table) -> Unit:
    return Unit(
        id=t.get("id", str, required=True, check=_identifier),
        name=t.get("name", str, required=True),
        group=t.get("group", str, required=True, check=_identifier),
        emails=tuple(e.lower() for e in t.strings("emails", check=_email)),
        aliases=tuple(t.strings("aliases", check=_alias)),
        leaders=tuple(e.lower() for e in t.strings("leaders", check=_email)),
    )


def _alias(value: str) -> str | None:
    return (
        None if len(value.strip()) >= 4 else f"{_show(value)} is too short to recognise a unit by"
    )


def _matching(t: _Table) -> MatchSettings:
    """Scores are 0..100: `threshold` attributes by name, `margin` over the runner-up."""
    default = MatchSettings()
    return MatchSettings(
        threshold=_score(t, "threshold", default.threshold),
        margin=_score(t, "margin", default.margin),
    )


def _score(t: _Table, key: str, default: float) -> float:
    value = t.get(key, object, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 100:
        t.error(key, f"expected a number from 0 to 100, got {_show(value)}")
        return default
    return float(value)


def _requirement(
    t: _Table,
    known_forms: set[str],
    units: tuple[Unit, ...] = (),
    specs: tuple[parsers.FormSpec, ...] = (),
) -> Requirement:
    """One [[requirements]] table: forms, when due (once or every period), to whom, rules."""
    forms = t.strings("forms", required=True, check=_one_of(*sorted(known_forms)))
    deadline = _deadline(t)
    every = t.get("every", str, None, check=_one_of(*EVERY_MONTHS))
    rrule = t.get("rrule", str, None)
    if every and rrule:
        t.error("rrule", "give either `every` or `rrule`, not both")
    elif rrule and deadline.day != date.min and (problem := _rrule_problem(rrule, deadline)):
        t.error("rrule", f"{_show(rrule)} is not a usable RRULE: {problem}")
    once = not (every or rrule)
    opens = t.day("opens")
    if opens and once and deadline.day != date.min and opens > deadline.due_day():
        t.error("opens", f"{opens} is after the deadline ({deadline.phrase()}): nothing counts")
    unit_ids = {u.id for u in units}
    rules = t.table("rules")
    return Requirement(
        id=t.get("id", str, required=True, check=_identifier),
        title=t.get("title", str, required=True),
        forms=tuple(forms),
        deadline=deadline,
        groups=tuple(t.strings("groups", check=_identifier)),
        units=tuple(t.strings("units", check=_known_unit(unit_ids))),
        reminders=tuple(t.numbers("reminders", -366, 366)),
        rules=tuple(_rules(rules, specs)),
        every=cast(Every | None, every if every in EVERY_MONTHS else None),
        rrule=rrule or None,
        opens=opens,
        extensions=_extensions(
            t.table("extensions"), unit_ids, deadline if once and deadline.day != date.min else None
        ),
        strict_resubmission=t.get("strict_resubmission", bool, False),
        model_forms=tuple(t.strings("model_forms", check=_one_of(*sorted(known_forms)))),
        letter=_letter(t.table("letter")) if t.has("letter") else None,
    )


def _letter(t: _Table) -> Letter:
    """`letter = { number = "35-CV/BDVHU", date = 2024-01-23, by = "...", about = "..." }`."""
    return Letter(
        number=" ".join(t.get("number", str, "", required=True).split()),
        date=t.day("date"),
        by=" ".join(t.get("by", str, "").split()),
        about=" ".join(t.get("about", str, "").split()),
    )


def _deadline(t: _Table) -> Deadline:
    """`before` (trước ngày), `by` (chậm nhất ngày) or `due` (a local date and time)."""
    given = [k for k in ("before", "by", "due") if t.has(k)]
    if len(given) != 1:
        t.error(
            "before",
            "give exactly one of `before` (trước ngày), `by` (chậm nhất ngày)"
            " or `due` (a local date and time)",
        )
    before, by = t.day("before"), t.day("by")
    if before or by:
        return Deadline("before", before) if before else Deadline("by", by or date.min)
    raw: object = t.get("due", object)
    when = _local_datetime(raw)
    if when is None and raw is not None:
        t.error(
            "due", f"expected a local date and time such as 2024-02-05T17:00:00, got {_show(raw)}"
        )
    elif when is not None and when.tzinfo is not None:
        t.error("due", "write the local time without an offset (the configured timezone applies)")
    elif when is not None and (problem := _day_range(when.date())):
        t.error("due", problem)
    elif when is not None:
        return Deadline("due", when.date(), when.time())
    return Deadline("before", date.min)


def _rrule_problem(text: str, anchor: Deadline) -> str | None:
    """What would break the periods computed from this RRULE later, if anything.

    Walks the occurrences the scheduler may walk (rules.deadlines.MAX_OCCURRENCES),
    until two lie beyond the last supported day; each must be a day dates can be
    computed around. A rule that never occurs costs dateutil seconds once, here.
    """
    try:
        rule = parse_rrule(text, datetime.combine(anchor.day, anchor.at))
        found, beyond = 0, 0
        for when in rule:
            found += 1
            if when.date() > LAST_DAY + timedelta(days=10 * 366):
                return f"it gives {when:%Y-%m-%d}, too far ahead to compute with"
            beyond += when.date() > LAST_DAY
            if beyond >= 2 or found >= MAX_OCCURRENCES:
                break
    except (ValueError, OverflowError, TypeError) as exc:
        return str(exc)[:200]
    return None if found else "it gives no deadline at all"


def _local_datetime(raw: object) -> datetime | None:
    """A TOML local date-time (2024-02-05T17:00:00) or the same as a string."""
    if isinstance(raw, datetime):
        return raw
    if isinstance(raw, str) and len(raw) <= 40:
        try:
            return datetime.fromisoformat(raw)
        except ValueError:
            return None
    return None


def _extensions(
    t: _Table, unit_ids: set[str], deadline: Deadline | None
) -> tuple[tuple[str, date], ...]:
    """{ unit id = last day }: "gia hạn đến hết ngày" for that unit only."""
    out = []
    for unit_id in list(t.keys()):
        day = t.day(unit_id)
        if (problem := _known_unit(unit_ids)(unit_id)) is not None:
            t.error(unit_id, problem)
        elif day and deadline and day <= deadline.due_day():
            t.error(unit_id, f"{day} is not later than the deadline ({deadline.phrase()})")
        elif day:
            out.append((unit_id, day))
    return tuple(out)


def _known_unit(unit_ids: set[str]) -> Check:
    def check(value: str) -> str | None:
        return None if value in unit_ids else f"{_show(value)} is not the id of any [[units]] entry"

    return check


def _rules(t: _Table, specs: tuple[parsers.FormSpec, ...]) -> list[Rule]:
    """[requirements.rules]: min_/max_ quotas, required_fields and named custom rules."""
    rules: list[Rule] = []
    for key in list(t.keys()):
        if key == "required_fields":
            labels = _column_labels(specs)
            fields = t.strings(key, check=_one_of(*sorted(labels)))
            used = tuple((f, labels[f]) for f in fields if f in labels)
            rules.append(RequiredFields(tuple(f for f, _ in used), used))
        elif key == "custom":
            names = t.strings(key, check=_one_of(*sorted(CUSTOM)))
            rules += [CustomRule(name) for name in names if name in CUSTOM]
        else:
            rules.append(_rule(t, key))
    return rules


def _column_labels(specs: tuple[parsers.FormSpec, ...]) -> dict[str, str]:
    """Every entry column a form can fill, named as its spec names it in messages."""
    labels = dict(FIELD_LABELS)
    for spec in specs:
        columns = spec.table.columns if spec.table else ()
        labelled = getattr(spec, "labelled", None)  # M1/M2-style forms, where specs have them
        items = labelled.items if labelled else ()
        for key, label in [(c.key, c.label) for c in columns] + [(i.key, i.label) for i in items]:
            labels.setdefault(key, label)
    return labels


def _rule(t: _Table, key: str) -> CountRule:
    parsed = parse_rule_key(key)
    if parsed is None:
        t.error(
            key,
            "unknown rule (known: min_/max_ + entries, collectives, individuals, "
            "level_tinh, level_huyen, level_xa; required_fields; custom)",
        )
    raw = t.get(key, object)
    if isinstance(raw, int) and not isinstance(raw, bool):
        quota = Quota({}, t.number(key, 0, 0, MAX_QUOTA))
    elif isinstance(raw, dict):
        sub = t.table(key)
        per_group = {g: sub.number(g, -1, 0, MAX_QUOTA) for g in list(sub.keys())}
        default = per_group.pop("default", None)
        quota = Quota(
            {g: n for g, n in per_group.items() if n >= 0},
            default if default is None or default >= 0 else None,
        )
    else:
        t.error(
            key,
            f"expected a whole number from 0 to {MAX_QUOTA}, or a table such as "
            f"{{ xa = 2, default = 1 }}, got {_show(raw)}",
        )
        quota = Quota({})
    bound, counter = parsed or ("min", "entries")
    return CountRule(bound, counter, quota)


def _secret(key: str, variable: str) -> str:
    value = os.environ.get(variable, "")
    if not value:
        raise ConfigError(f"{key}: environment variable {variable} is not set or empty")
    return value


def _command_output(key: str, command: str, timeout: float = 60) -> str:
    """Run a token helper (no shell) and take its first output line as the secret.

    Its command line and output may hold secrets (a client secret, a refresh token), so
    a failure says only how it failed, with at most a standard OAuth2 error code.
    """
    try:
        done = subprocess.run(
            shlex.split(command), capture_output=True, text=True, errors="replace",
            stdin=subprocess.DEVNULL, timeout=timeout, check=False,
        )  # fmt: skip
    except subprocess.TimeoutExpired:
        raise ConfigError(f"{key}: the token command did not finish within {timeout:g} s") from None
    except (OSError, ValueError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else "bad command line"
        raise ConfigError(f"{key}: the token command cannot be started ({reason})") from None
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        status = f"exit status {done.returncode}" if done.returncode else "no output"
        hint = _token_hint(done.stderr + "\n" + done.stdout)
        raise ConfigError(
            f"{key}: the token command failed ({status}{f', it reported {hint}' if hint else ''});"
            " run it by hand to see its messages"
        )
    return lines[0].strip()


def _token_hint(output: str) -> str | None:
    """A standard OAuth2 error code found in a helper's output: safe to show, useful."""
    return next((code for code in _TOKEN_HINTS if code in output.lower()), None)


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _optional_path(t: _Table, key: str) -> Path | None:
    value = t.get(key, str)
    return t.path(key, value) if value else None


def _unique(errors: list[str], what: str, ids: list[str]) -> None:
    seen: set[str] = set()
    for i, ident in enumerate(ids):
        if ident in seen:
            errors.append(f"{what}[{i}].id: {_show(ident)} is used twice")
        seen.add(ident)


def _unique_emails(errors: list[str], units: tuple[Unit, ...]) -> None:
    owner: dict[str, str] = {}
    for i, unit in enumerate(units):
        for j, email in enumerate(unit.emails):
            if email in owner and owner[email] != unit.id:
                errors.append(
                    f"units[{i}].emails[{j}]: {email!r} already belongs to unit {owner[email]!r}"
                )
            owner.setdefault(email, unit.id)


# Checks return an error message, or None when the value is fine.
Check = Callable[[Any], str | None]


def _email(value: str) -> str | None:
    if len(value) <= MAX_EMAIL and _EMAIL.fullmatch(value):
        return None
    return f"{_show(value)} is not an email address"


def _mailbox_address(value: str) -> str | None:
    """An address with an optional display name: "Ban Dân vận <a@example.vn>"."""
    return _email(parseaddr(value)[1])


def _identifier(value: str) -> str | None:
    """Ids name outbox keys and files: nothing that could act as a path or a control."""
    if len(value) <= MAX_ID and _ID.fullmatch(value):
        return None
    return (
        f"{_show(value)} is not a valid id (up to {MAX_ID} lowercase letters, digits, "
        "'-', '_' and '.')"
    )


def _timezone(value: str) -> str | None:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return f"{_show(value)} is not a known time zone (e.g. 'Asia/Ho_Chi_Minh')"
    return None


def _url(value: str) -> str | None:
    return None if re.fullmatch(r"https?://[^\s/]+(/\S*)?", value) else "must be an http(s) URL"


def _env_name(value: str) -> str | None:
    """Never quotes the value: a password put here by mistake must not be printed."""
    if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]{0,127}", value):
        return None
    return "must name an environment variable (letters, digits, _), not hold the password itself"


def _token_command(value: str) -> str | None:
    """A command line split like a shell's; never quoted back (it may carry a secret)."""
    try:
        words = shlex.split(value)
    except ValueError:
        return "cannot be split into a program and its arguments (check the quotes)"
    return None if words else "must name a program that prints an access token"


def _keyword(value: str) -> str | None:
    """An IMAP flag keyword (RFC 3501 atom); system flags such as \\Deleted are refused."""
    if value.isascii() and re.fullmatch(r"[^\s()\[\]{}%*\"\\\x00-\x1f\x7f]+", value):
        return None
    return f"{_show(value)} is not an IMAP keyword (letters, digits, '$', '_', '-', no spaces)"


def _authserv_id(value: str) -> str | None:
    """A host name as mail servers sign Authentication-Results, or "none" (Microsoft 365)."""
    if re.fullmatch(r"[A-Za-z0-9]([A-Za-z0-9.-]{0,252})", value):
        return None
    return f"{_show(value)} is not a server name such as 'mx.google.com' (or 'none')"


def _one_of(*allowed: str) -> Check:
    def check(value: str) -> str | None:
        if value in allowed:
            return None
        return f"{_show(value)} is not one of {', '.join(repr(a) for a in allowed)}"

    return check


_TYPE_NAMES = {
    str: "a string",
    int: "a whole number",
    date: "a date (YYYY-MM-DD)",
    bool: "true or false",
}


class _Table:
    """A TOML table that remembers its key path, which keys were read, and every error."""

    def __init__(self, data: Mapping[str, Any], prefix: str, errors: list[str], base: Path):
        self._data = data
        self._prefix = prefix
        self._errors = errors
        self._base = base
        self._read: set[str] = set()
        self._children: list[_Table] = []

    def key(self, name: str) -> str:
        if not _PLAIN_KEY.fullmatch(name):  # a quoted TOML key can hold anything
            name = _show(name)
        return f"{self._prefix}.{name}" if self._prefix else name

    def error(self, name: str, message: str) -> None:
        self._errors.append(f"{self.key(name)}: {message}")

    def has(self, name: str) -> bool:
        return name in self._data

    def keys(self) -> list[str]:
        return list(self._data)

    def get(
        self,
        name: str,
        kind: type[T],
        default: T | None = None,
        *,
        required: bool = False,
        check: Check | None = None,
    ) -> T:
        """The value under `name`, type-checked; on any error, the default (and an error)."""
        self._read.add(name)
        if name not in self._data:
            if required:
                self.error(name, "is required")
            return cast(T, default)
        value = self._data[name]
        return self._checked(self.key(name), value, kind, default, check)

    def strings(
        self, name: str, *, required: bool = False, check: Check | None = None
    ) -> list[str]:
        return self.array(name, str, required=required, check=check)

    def array(
        self, name: str, kind: type[T], *, required: bool = False, check: Check | None = None
    ) -> list[T]:
        value = self.get(name, list, required=required)
        if value is None:
            return []
        if required and not value:
            self.error(name, "must not be empty")
        items = (
            self._checked(f"{self.key(name)}[{i}]", v, kind, None, check)
            for i, v in enumerate(value)
        )
        return [item for item in items if item is not None]

    def number(self, name: str, default: int, low: int, high: int) -> int:
        """A whole number within [low, high]: every number the service computes with has
        a range, so no later timedelta, date or timer overflows on it."""
        self._read.add(name)
        if name not in self._data:
            return default
        return self._whole(self.key(name), self._data[name], default, low, high)

    def numbers(self, name: str, low: int, high: int, *, at_most: int = 50) -> list[int]:
        """An array of whole numbers, each within [low, high]."""
        value = self.get(name, list)
        if value is None:
            return []
        if len(value) > at_most:
            self.error(name, f"at most {at_most} numbers")
            return []
        items = [
            self._whole(f"{self.key(name)}[{i}]", v, None, low, high) for i, v in enumerate(value)
        ]
        return [item for item in items if item is not None]

    def _whole(self, key: str, value: Any, default: T, low: int, high: int) -> int | T:
        if not _is(value, int) or not low <= value <= high:
            self._errors.append(
                f"{key}: expected a whole number from {low} to {high}, got {_show(value)}"
            )
            return default
        return cast(int, value)

    def table(self, name: str, *, required: bool = False) -> _Table:
        value = self.get(name, dict, required=required)
        child = _Table(value or {}, self.key(name), self._errors, self._base)
        self._children.append(child)
        return child

    def tables(self, name: str) -> list[_Table]:
        """An array of tables such as [[units]]: children keyed units[0], units[1], ..."""
        value = self.get(name, list) or []
        children = []
        for i, item in enumerate(value):
            if not isinstance(item, dict):
                self._errors.append(f"{self.key(name)}[{i}]: expected a table")
                continue
            children.append(_Table(item, f"{self.key(name)}[{i}]", self._errors, self._base))
        self._children.extend(children)
        return children

    def day(self, name: str) -> date | None:
        """A day, written as a TOML date (2024-02-01) or a string ("2024-02-01")."""
        value: object = self.get(name, object)
        if value is None:
            return None
        day = _as_day(value)
        if day is None:
            self.error(name, f"expected a date such as 2024-02-01, got {_show(value)}")
        elif problem := _day_range(day):
            self.error(name, problem)
            return None
        return day

    def path(self, name: str, value: str) -> Path:
        """A path from the config, relative to the config file's folder."""
        if not value:
            return self._base
        if any(len(part.encode("utf-8", "replace")) > MAX_NAME_BYTES for part in Path(value).parts):
            self.error(name, f"a folder or file name in it is longer than {MAX_NAME_BYTES} bytes")
            return self._base
        return self._base / Path(value).expanduser()

    def finish(self) -> None:
        """Flag every key nobody read: a typo must not silently become a default."""
        for name in self._data:
            if name not in self._read:
                self.error(name, "unknown key")
        for child in self._children:
            child.finish()

    def _checked(
        self, key: str, value: Any, kind: type[T], default: T | None, check: Check | None
    ) -> T:
        secret = _leaf(key) in SECRET_KEYS
        if kind is not object and not _is(value, kind):
            got = "" if secret else f", got {_show(value)}"
            self._errors.append(f"{key}: expected {_TYPE_NAMES.get(kind, kind.__name__)}{got}")
            return cast(T, default)
        if isinstance(value, str) and (message := _text_problem(value, secret)):
            self._errors.append(f"{key}: {message}")
            return cast(T, default)
        if check is not None and (message := check(value)):
            self._errors.append(f"{key}: {message}")
        return cast(T, value)


def _leaf(key: str) -> str:
    """The key's own name: "units[2].emails[0]" -> "emails"."""
    return re.sub(r"\[\d+\]$", "", key.rsplit(".", 1)[-1])


def _text_problem(value: str, secret: bool) -> str | None:
    """Every string: bounded, and without controls that could act where it is shown
    (a terminal, a mail header, a workbook, a file name)."""
    if len(value) > MAX_STRING:
        return f"longer than {MAX_STRING} characters"
    if printable(value) != value:
        where = "" if secret else f" (in {_show(value)})"
        return f"contains a control or invisible formatting character{where}"
    return None


def _show(value: object) -> str:
    """A value as an error message quotes it: short, escaped, whatever it holds."""
    return _SHOW.repr(value)


_SHOW = reprlib.Repr()
_SHOW.maxstring = _SHOW.maxother = 80
_SHOW.maxlevel = 2


def _as_day(value: object) -> date | None:
    """A TOML date or an ISO string naming one."""
    if isinstance(value, date) and _is(value, date):
        return value
    if isinstance(value, str) and len(value) <= 40:
        try:
            return date.fromisoformat(value)
        except ValueError:
            return None
    return None


def _day_range(day: date) -> str | None:
    if FIRST_DAY <= day <= LAST_DAY:
        return None
    return f"{day} is outside the dates the service works with ({FIRST_DAY} to {LAST_DAY})"


def _is(value: Any, kind: type) -> bool:
    if kind is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if kind is date:  # TOML dates are dates; datetimes are not what a deadline day means
        return isinstance(value, date) and type(value) is date
    return isinstance(value, kind)
