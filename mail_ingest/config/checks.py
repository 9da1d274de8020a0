"""Value checks for the config's strings: each returns a problem to report, or None.

A value is quoted back only through `show` (short, escaped), never a secret.
"""

from __future__ import annotations

import re
from email.utils import parseaddr
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from mail_ingest.config.table import Check, show

_EMAIL = re.compile(r"[^@\s<>(),;:\"]+@[^@\s<>(),;:\"]+\.[^@\s<>(),;:\"]+")
_ID = re.compile(r"[a-z0-9][a-z0-9._-]*")
MAX_ID = 64
MAX_EMAIL = 254  # RFC 5321's limit for a forward path


def alias(value: str) -> str | None:
    return None if len(value.strip()) >= 4 else f"{show(value)} is too short to recognise a unit by"


def known_unit(unit_ids: set[str]) -> Check:
    def check(value: str) -> str | None:
        return None if value in unit_ids else f"{show(value)} is not the id of any [[units]] entry"

    return check


def email_address(value: str) -> str | None:
    if len(value) <= MAX_EMAIL and _EMAIL.fullmatch(value):
        return None
    return f"{show(value)} is not an email address"


def mailbox_address(value: str) -> str | None:
    """An address with an optional display name: "Ban Dân vận <a@example.vn>"."""
    return email_address(parseaddr(value)[1])


def identifier(value: str) -> str | None:
    """Ids name outbox keys and files: nothing that could act as a path or a control."""
    if len(value) <= MAX_ID and _ID.fullmatch(value):
        return None
    return (
        f"{show(value)} is not a valid id (up to {MAX_ID} lowercase letters, digits, "
        "'-', '_' and '.')"
    )


def time_zone(value: str) -> str | None:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return f"{show(value)} is not a known time zone (e.g. 'Asia/Ho_Chi_Minh')"
    return None


def keyword(value: str) -> str | None:
    """An IMAP flag keyword (RFC 3501 atom); system flags such as \\Deleted are refused."""
    if value.isascii() and re.fullmatch(r"[^\s()\[\]{}%*\"\\\x00-\x1f\x7f]+", value):
        return None
    return f"{show(value)} is not an IMAP keyword (letters, digits, '$', '_', '-', no spaces)"


def server_name(value: str) -> str | None:
    """A host name as mail servers sign Authentication-Results, or "none" (Microsoft 365)."""
    if re.fullmatch(r"[A-Za-z0-9]([A-Za-z0-9.-]{0,252})", value):
        return None
    return f"{show(value)} is not a server name such as 'mx.google.com' (or 'none')"


def one_of(*allowed: str) -> Check:
    def check(value: str) -> str | None:
        if value in allowed:
            return None
        return f"{show(value)} is not one of {', '.join(repr(a) for a in allowed)}"

    return check


def url(value: str) -> str | None:
    return None if re.fullmatch(r"https?://[^\s/]+(/\S*)?", value) else "must be an http(s) URL"
