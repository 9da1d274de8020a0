"""The SQLite file: the connection, the migrations (`migrations`) applied in order and
once, the poller's lock and write transactions.
"""

from __future__ import annotations

import fcntl
import json
import sqlite3
from collections import defaultdict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Self

from mail_ingest.errors import LockedError
from mail_ingest.files import private_dir, private_file
from mail_ingest.store.migrations import MIGRATIONS
from mail_ingest.store.records import loads
from parsers.model import Entry


class Database:
    """One SQLite connection, migrated on open; the base each concern's mixin builds on."""

    def __init__(self, path: Path) -> None:
        # Private whatever the umask: SQLite gives -wal and -shm the database's mode.
        private_dir(path.parent)
        for existing in (path, *(path.with_name(path.name + s) for s in ("-wal", "-shm"))):
            if existing == path or existing.exists():
                private_file(existing)
        self.path = path
        self._db = sqlite3.connect(path, isolation_level=None, timeout=30)
        self._db.execute("PRAGMA journal_mode = WAL")
        self._db.execute("PRAGMA foreign_keys = ON")
        self._db.execute("PRAGMA synchronous = NORMAL")
        self._migrate()

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def lock(self) -> Iterator[None]:
        """One poller at a time: a manual `poll` beside the service must not double-process."""
        lock_path = private_file(self.path.with_suffix(".lock"))
        with open(lock_path, "w") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise LockedError(
                    f"another mail-ingest process is polling this store ({lock_path}); "
                    "try again when it has finished"
                ) from None
            yield

    def migrations(self) -> list[str]:
        return [
            row[0] for row in self._db.execute("SELECT name FROM schema_migrations ORDER BY name")
        ]

    def _migrate(self) -> None:
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations"
            " (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)"
        )
        # Read first: a store that is up to date needs no write lock, so `health` and
        # `status` answer while another process holds it.
        applied = {row[0] for row in self._db.execute("SELECT name FROM schema_migrations")}
        for name, script in MIGRATIONS:
            if name in applied:
                continue
            # Checked inside the write lock: two processes opening a new store at once
            # must not both apply the same migration.
            with self._transaction() as db:
                if db.execute("SELECT 1 FROM schema_migrations WHERE name = ?", (name,)).fetchone():
                    continue
                for statement in _statements(script):
                    db.execute(statement)
                db.execute("INSERT INTO schema_migrations VALUES (?, ?)", (name, utc_now()))

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield self._db
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def count(self, table: str) -> int:
        assert table in {"messages", "locations", "attachments", "entries", "outbox", "polls",
                         "learned_addresses", "manual_submissions", "audit",
                         "failing_addresses"}  # fmt: skip
        return int(self._db.execute(f"SELECT count(*) FROM {table}").fetchone()[0])

    def busy_timeout(self, ms: int) -> None:
        """How long a write waits for another writer's lock (the page waits less than a poll)."""
        self._db.execute(f"PRAGMA busy_timeout = {int(ms)}")

    def _entries(self, attachments: Sequence[int] | None = None) -> dict[int, list[Entry]]:
        """The entries of every stored file, or of these `attachments` only."""
        by_attachment: dict[int, list[Entry]] = defaultdict(list)
        query = "SELECT attachment, name, kind, field, level, extra FROM entries"
        if attachments is None:
            batches: list[tuple[int, ...]] = [()]
        else:  # within SQLite's limit on bound values
            batches = [tuple(attachments[i : i + 500]) for i in range(0, len(attachments), 500)]
        for batch in batches:
            where = f" WHERE attachment IN ({', '.join('?' * len(batch))})" if batch else ""
            for attachment, name, kind, field, level, extra in self._db.execute(
                f"{query}{where} ORDER BY attachment, position", batch
            ):
                entry = Entry(name, kind, field, level, loads(extra, "{}"))
                by_attachment[attachment].append(entry)
        return by_attachment


def _statements(script: str) -> list[str]:
    """Split a migration into statements (executescript would commit on its own)."""
    statements, current = [], ""
    for line in script.splitlines(keepends=True):
        current += line
        if sqlite3.complete_statement(current):
            statements.append(current.strip())
            current = ""
    return statements


def write_audit(
    db: sqlite3.Connection, by: str, action: str, unit_id: str | None, subject: str, note: str
) -> None:
    db.execute(
        "INSERT INTO audit (at, by, action, unit_id, subject, note) VALUES (?, ?, ?, ?, ?, ?)",
        (utc_now(), by, action, unit_id, subject, note),
    )


def json_text(value: object) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


def utc_text(instant: datetime) -> str:
    return instant.astimezone(UTC).isoformat(timespec="seconds")


def utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
