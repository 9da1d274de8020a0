"""The config's sections other than requirements: mailbox, smtp, notify, units, forms,
matching. Defaults come from the dataclasses in `model`.
"""

from __future__ import annotations

import ipaddress
from datetime import date, timedelta
from datetime import time as dt_time
from pathlib import Path

import parsers
from mail_ingest.config import spec_cache
from mail_ingest.config.checks import (
    alias,
    email_address,
    identifier,
    keyword,
    mailbox_address,
    one_of,
    server_name,
)
from mail_ingest.config.model import MailboxConfig, NotifyConfig, SmtpConfig
from mail_ingest.config.secrets import env_name, token_command
from mail_ingest.config.table import Table, as_day, day_range, show
from rules.match_model import MatchSettings
from rules.units import Unit

SECURITY = ("ssl", "starttls", "none")
MAX_CLOSED_RUN = 30  # days in a row, weekends included; Tết adds about ten more


def read_mailbox(t: Table) -> MailboxConfig:
    M = MailboxConfig  # the defaults
    kind = t.get("kind", str, "imap", check=one_of("maildir", "imap"))
    authserv_id = t.get("authserv_id", str, "", check=server_name) or None
    if kind == "maildir":
        return MailboxConfig(
            kind="maildir",
            path=t.path("path", t.get("path", str, required=True)),
            max_message_bytes=t.number("max_message_bytes", M.max_message_bytes, 1024, 1024**3),
            authserv_id=authserv_id,
        )
    security = t.get("security", str, M.security, check=one_of(*SECURITY))
    host = t.get("host", str, required=True)
    allow_insecure = t.get("allow_insecure", bool, M.allow_insecure)
    _refuse_plaintext(t, security, host)
    username = t.get("username", str, required=True)
    secrets = [k for k in ("password_env", "oauth2_token_env", "oauth2_token_command") if t.has(k)]
    if not secrets:
        t.error("password_env", "is required (for XOAUTH2: oauth2_token_env or _command)")
    elif len(secrets) > 1:
        t.error(secrets[1], f"set only one of {', '.join(secrets)}")
    if t.has("folder") and t.has("folders"):
        t.error("folders", "set either folder or folders, not both")
    folders = t.strings("folders") if t.has("folders") else [t.get("folder", str, M.folders[0])]
    if not folders:
        t.error("folders", "must not be empty")
    after = t.get("after", str, M.after, check=one_of("keep", "keyword", "copy", "move"))
    after_folder = t.get("after_folder", str, M.after_folder)
    if after in ("copy", "move") and not after_folder:
        t.error("after_folder", f"is required when after = {after!r}")
    return MailboxConfig(
        kind="imap",
        host=host,
        port=t.number("port", M.port if security == "ssl" else 143, 1, 65535),
        security=security,
        allow_insecure=allow_insecure,
        username=username,
        password_env=t.get("password_env", str, M.password_env, check=env_name),
        oauth2_token_env=t.get("oauth2_token_env", str, M.oauth2_token_env, check=env_name),
        oauth2_token_command=t.get(
            "oauth2_token_command", str, M.oauth2_token_command, check=token_command
        ),
        folders=tuple(folders) or M.folders,
        ca_file=_optional_path(t, "ca_file"),
        since=t.day("since"),
        idle=t.get("idle", bool, M.idle),
        max_message_bytes=t.number("max_message_bytes", M.max_message_bytes, 1024, 1024**3),
        after=after,
        keyword=t.get("keyword", str, M.keyword, check=keyword),
        after_folder=after_folder,
        mark_seen=t.get("mark_seen", bool, M.mark_seen),
        connect_timeout=t.number("connect_timeout", int(M.connect_timeout), 1, 3600),
        read_timeout=t.number("read_timeout", int(M.read_timeout), 1, 3600),
        authserv_id=authserv_id,
    )


def read_notify(t: Table, schedule: Table) -> NotifyConfig:
    N = NotifyConfig  # the defaults
    days = [d for d in (_iso_day(t, "closed_days", v) for v in t.strings("closed_days")) if d]
    _closed_run(t, "closed_days", days)
    return NotifyConfig(
        acknowledge=t.get("acknowledge", bool, N.acknowledge),
        ack_max_age=timedelta(
            hours=t.number("ack_max_age_hours", N.ack_max_age // timedelta(hours=1), 1, 366 * 24)
        ),
        daily_cap=t.number("daily_cap", N.daily_cap, 1, 1000),
        reminders_at=_clock(schedule, "reminders_at", N.reminders_at),
        report_at=_clock(schedule, "report_at", N.report_at),
        reminder_shift=t.get(
            "reminder_shift", str, N.reminder_shift, check=one_of("previous", "next", "keep")
        ),
        closed_days=tuple(days),
        templates=_optional_path(t, "templates"),
        contact=" ".join(t.get("contact", str, "").split()),
    )


def _clock(t: Table, key: str, default: dt_time) -> dt_time:
    """A time of day written "08:00"."""
    value = t.get(key, str, default.strftime("%H:%M"))
    try:
        at = dt_time.fromisoformat(value)
    except ValueError:
        at = None
    if at is None or at.tzinfo is not None:  # an offset cannot be compared with local times
        t.error(key, f'expected a local time of day such as "08:00", got {show(value)}')
        return default
    return at


def _iso_day(t: Table, key: str, value: str) -> date | None:
    day = as_day(value)
    if day is None:
        t.error(key, f'expected dates such as "2024-02-02", got {show(value)}')
    elif problem := day_range(day):
        t.error(key, problem)
        return None
    return day


def _closed_run(t: Table, key: str, days: list[date]) -> None:
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


def read_smtp(t: Table) -> SmtpConfig:
    kind = t.get("kind", str, "smtp", check=one_of("smtp", "file"))
    sender = t.get("sender", str, required=True, check=mailbox_address)
    if kind == "file":
        return SmtpConfig(
            kind="file", sender=sender, path=t.path("path", t.get("path", str, "outbox"))
        )
    security = t.get("security", str, SmtpConfig.security, check=one_of(*SECURITY))
    host = t.get("host", str, required=True)
    _refuse_plaintext(t, security, host)
    return SmtpConfig(
        kind="smtp",
        sender=sender,
        host=host,
        port=t.number(
            "port", {"ssl": SmtpConfig.port, "starttls": 587}.get(security, 25), 1, 65535
        ),
        security=security,
        username=t.get("username", str, SmtpConfig.username),
        password_env=t.get("password_env", str, SmtpConfig.password_env, check=env_name),
        ca_file=_optional_path(t, "ca_file"),
    )


def _refuse_plaintext(t: Table, security: str, host: str) -> None:
    """`security = "none"` only on this machine, unless the board says the network is trusted."""
    allowed = t.get("allow_insecure", bool, False)
    if security == "none" and host and not allowed and not _is_loopback(host):
        t.error(
            "security",
            f"'none' sends the password unencrypted to {host}; use 'ssl' or 'starttls', "
            "or set allow_insecure = true if the network is trusted",
        )


def read_forms(t: Table, storage: Path) -> tuple[parsers.FormSpec, ...]:
    """The packaged form specs (cached in the storage folder), then the deployment's own
    (which may replace one by id)."""
    specs = {spec.id: spec for spec in spec_cache.builtin_specs(storage)}
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


def read_unit(t: Table) -> Unit:
    return Unit(
        id=t.get("id", str, required=True, check=identifier),
        name=t.get("name", str, required=True),
        group=t.get("group", str, required=True, check=identifier),
        emails=tuple(e.lower() for e in t.strings("emails", check=email_address)),
        aliases=tuple(t.strings("aliases", check=alias)),
        leaders=tuple(e.lower() for e in t.strings("leaders", check=email_address)),
    )


def read_matching(t: Table) -> MatchSettings:
    """Scores are 0..100: `threshold` attributes by name, `margin` over the runner-up."""
    default = MatchSettings()
    return MatchSettings(
        threshold=read_score(t, "threshold", default.threshold),
        margin=read_score(t, "margin", default.margin),
    )


def read_score(t: Table, key: str, default: float) -> float:
    value = t.get(key, object, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 100:
        t.error(key, f"expected a number from 0 to 100, got {show(value)}")
        return default
    return float(value)


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _optional_path(t: Table, key: str) -> Path | None:
    value = t.get(key, str)
    return t.path(key, value) if value else None


def unique(errors: list[str], what: str, ids: list[str]) -> None:
    seen: set[str] = set()
    for i, ident in enumerate(ids):
        if ident in seen:
            errors.append(f"{what}[{i}].id: {show(ident)} is used twice")
        seen.add(ident)


def unique_emails(errors: list[str], units: tuple[Unit, ...]) -> None:
    owner: dict[str, str] = {}
    for i, unit in enumerate(units):
        for j, email in enumerate(unit.emails):
            if email in owner and owner[email] != unit.id:
                errors.append(
                    f"units[{i}].emails[{j}]: {email!r} already belongs to unit {owner[email]!r}"
                )
            owner.setdefault(email, unit.id)
