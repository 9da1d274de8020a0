"""Who may open the web page: users with a role, argon2id hashes, throttled logins.

Users live in the store (migration 0009-users) so that a backup of the storage folder
keeps them; every change is audited like any other change made by hand. The secret
that signs session cookies is a private file in the storage folder, made once.
"""

from __future__ import annotations

import os
import secrets
import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from mail_ingest.errors import MailIngestError
from mail_ingest.files import FILE_MODE, private_dir
from mail_ingest.store import Store
from mail_ingest.store.database import utc_now
from mail_ingest.store.database import write_audit as store_audit

ROLES = ("leader", "staff", "admin")  # leaders read; staff act; admins also manage users
MAX_NAME = 64
MIN_PASSWORD = 8
SECRET_FILE = "web-secret.key"
# Throttling: after FREE failures within WINDOW (per name, and per client address), each
# further failure doubles the wait before the next try, up to MAX_WAIT.
FREE = 3
WINDOW = timedelta(minutes=30)
MAX_WAIT = timedelta(minutes=15)

_hasher = PasswordHasher()  # argon2id with the library's current recommended parameters
# Compared against when the name is unknown, so both cases take the same time.
_DUMMY = _hasher.hash(secrets.token_urlsafe(16))


@dataclass(frozen=True)
class User:
    name: str
    role: str
    created_at: datetime
    disabled: bool

    def can(self, role: str) -> bool:
        """At least `role`: admin > staff > leader."""
        return ROLES.index(self.role) >= ROLES.index(role)


class AccountError(MailIngestError):
    """A user command that cannot be done (unknown name, bad role, short password)."""


def check_name(name: str) -> str:
    name = name.strip()
    if not name or len(name) > MAX_NAME or not all(c.isprintable() for c in name):
        raise AccountError(f"a user name is 1 to {MAX_NAME} printable characters")
    return name


def add(store: Store, name: str, role: str, password: str, by: str) -> User:
    name = check_name(name)
    if role not in ROLES:
        raise AccountError(f"role must be one of {', '.join(ROLES)}")
    if len(password) < MIN_PASSWORD:
        raise AccountError(f"a password has at least {MIN_PASSWORD} characters")
    hashed = _hasher.hash(password)
    with store._transaction() as db:
        if db.execute("SELECT 1 FROM users WHERE name = ?", (name,)).fetchone():
            raise AccountError(f"user {name!r} exists (remove it first to change it)")
        db.execute(
            "INSERT INTO users (name, role, password_hash, created_at) VALUES (?, ?, ?, ?)",
            (name, role, hashed, utc_now()),
        )
        _audit(db, by, "user-add", name, f"role {role}")
    return User(name, role, datetime.now(UTC), False)


def remove(store: Store, name: str, by: str) -> None:
    with store._transaction() as db:
        if db.execute("DELETE FROM users WHERE name = ?", (name,)).rowcount == 0:
            raise AccountError(f"no user {name!r}")
        _audit(db, by, "user-remove", name, "")


def users(store: Store) -> list[User]:
    rows = store._db.execute(
        "SELECT name, role, created_at, disabled FROM users ORDER BY name"
    ).fetchall()
    return [User(r[0], r[1], datetime.fromisoformat(r[2]), bool(r[3])) for r in rows]


def get(store: Store, name: str) -> User | None:
    row = store._db.execute(
        "SELECT name, role, created_at, disabled FROM users WHERE name = ?", (name,)
    ).fetchone()
    if row is None or row[3]:
        return None
    return User(row[0], row[1], datetime.fromisoformat(row[2]), bool(row[3]))


def wait(store: Store, name: str, address: str, now: datetime | None = None) -> timedelta:
    """How long this name or address must wait before its next try (zero: may try now)."""
    now = now or datetime.now(UTC)
    since = _instant(now - WINDOW)
    longest = timedelta(0)
    for column, value in (("name", name.strip().lower()), ("address", address)):
        count, last = store._db.execute(
            f"SELECT count(*), max(at) FROM login_attempts WHERE {column} = ? AND at >= ?",
            (value, since),
        ).fetchone()
        if count < FREE or last is None:
            continue
        delay = min(timedelta(seconds=2 ** (count - FREE)), MAX_WAIT)
        longest = max(longest, datetime.fromisoformat(last) + delay - now)
    return longest


def login(store: Store, name: str, password: str, address: str) -> User | None:
    """The user if the password is right; a failure is recorded for throttling.

    The caller checks `wait` first: a throttled try is refused without hashing."""
    row = store._db.execute(
        "SELECT password_hash, disabled FROM users WHERE name = ?", (name,)
    ).fetchone()
    try:
        _hasher.verify(row[0] if row else _DUMMY, password)
        good = row is not None and not row[1]
    except (VerificationError, InvalidHashError):
        good = False
    with store._transaction() as db:
        if not good:
            db.execute(
                "INSERT INTO login_attempts (name, address, at) VALUES (?, ?, ?)",
                (name.strip().lower()[:MAX_NAME], address, _instant(datetime.now(UTC))),
            )
            old = _instant(datetime.now(UTC) - WINDOW * 4)
            db.execute("DELETE FROM login_attempts WHERE at < ?", (old,))
            return None
        db.execute("DELETE FROM login_attempts WHERE name = ?", (name.strip().lower(),))
    return get(store, name)


def secret_key(storage: Path) -> bytes:
    """The key that signs session cookies: made once, private, kept across restarts."""
    path = private_dir(storage) / SECRET_FILE
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
    except FileExistsError:
        key = path.read_bytes()
        if len(key) >= 32:
            return key
        raise MailIngestError(f"{path} is damaged: remove it (everyone logs in again)") from None
    key = secrets.token_bytes(64)
    with os.fdopen(fd, "wb") as handle:
        handle.write(key)
    return key


def _audit(db: sqlite3.Connection, by: str, action: str, name: str, note: str) -> None:
    store_audit(db, by, action, None, f"user:{name}", note)


def _instant(moment: datetime) -> str:
    """A failed try's time to the microsecond: cut to the second, the first hold of one
    second would last anywhere from nothing to a second."""
    return moment.isoformat(timespec="microseconds")
