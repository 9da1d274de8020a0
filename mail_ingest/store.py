"""Everything the service knows, in one SQLite file that is upgraded in place for years.

Schema changes are named migrations (mail_ingest.schema) applied in order and recorded,
never edits of an old one, so a board's database never needs deleting. A message is
recorded in one transaction together with its mailbox position: a crash leaves it
unrecorded, and the next poll processes it again. Messages are keyed by the sha256 of
their raw bytes, so recording the same message twice changes nothing.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import sqlite3
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from mail_ingest.errors import LockedError
from mail_ingest.files import private_dir, private_file
from mail_ingest.schema import MIGRATIONS
from parsers.model import Entry, ParsedFile, Problem
from parsers.text import printable
from parsers.vocabulary import Lesson, Taught
from rules.matching import Guess
from rules.status import Submission, needs_check, settled
from rules.units import address_key


@dataclass(frozen=True)
class StoredAttachment:
    filename: str
    content_type: str
    size: int
    sha256: str
    parsed: ParsedFile


@dataclass(frozen=True)
class MessageRecord:
    """What the pipeline learnt about one message, ready to be written."""

    sha256: str
    size: int
    message_id: str | None
    sender: str | None
    subject: str | None
    received_at: datetime
    unit_id: str | None
    outcome: str
    error: str | None = None
    attachments: tuple[StoredAttachment, ...] = ()
    headers_only: bool = False
    gm_msgid: int | None = None
    evidence: str | None = None  # how unit_id was found (rules.matching.Identification)
    confidence: float | None = None
    guesses: tuple[Guess, ...] = ()  # kept for the review queue
    failed_recipients: tuple[str, ...] = ()  # a delivery report: addresses it says failed
    sender_address: str | None = None  # mime.Mail.sender_address: the only one we answer
    header_sha256: str | None = None  # of the raw header block (copies before download)
    review_reason: str | None = None  # why a person must look although a unit was found
    reported_ids: tuple[str, ...] = ()  # a delivery report: the Message-IDs it is about


@dataclass(frozen=True)
class OutboxItem:
    id: int
    key: str
    recipients: tuple[str, ...]
    subject: str
    raw: bytes
    status: str
    attempts: int
    last_error: str | None
    created_at: datetime
    sent_at: datetime | None


@dataclass(frozen=True)
class MessageRow:
    id: int
    message_id: str | None
    sender: str | None
    subject: str | None
    received_at: datetime
    unit_id: str | None
    outcome: str
    error: str | None
    forms: tuple[str, ...]
    sender_address: str | None = None
    evidence: str | None = None  # how unit_id was found: by name means provisional
    review_reason: str | None = None


@dataclass(frozen=True)
class Attribution:
    """A message as the review queue and `assign` see it: who it is from, and the guesses."""

    id: int
    message_id: str | None
    sender: str | None
    subject: str | None
    received_at: datetime
    outcome: str
    unit_id: str | None
    evidence: str | None
    confidence: float | None
    guesses: tuple[Guess, ...]
    forms: tuple[str, ...]
    sender_address: str | None = None  # the From's parsed addr-spec: what `--remember` learns


@dataclass(frozen=True)
class LearnedAddress:
    address: str
    unit_id: str
    learned_at: datetime
    by: str
    message: int | None


@dataclass(frozen=True)
class ManualSubmission:
    """A paper or Zalo submission the board recorded with `mark`."""

    id: int
    unit_id: str
    requirement: str
    forms: tuple[str, ...]
    via: str  # paper | zalo | other
    received_at: datetime
    note: str
    by: str
    created_at: datetime
    removed: bool

    @property
    def ref(self) -> str:
        return f"manual:{self.id}"

    def submission(self) -> Submission:
        """One file per form, without entries: what the board saw is not typed in again."""
        files = tuple(
            ParsedFile(filename=f"{self.ref}:{form}", form=form, fields={"ghi_chu": self.note})
            for form in self.forms
        )
        return Submission(ref=self.ref, received_at=self.received_at, files=files)


@dataclass(frozen=True)
class FileCheck:
    """A counted file whose reading the board should check (`review`, the daily report)."""

    id: int  # the attachment's id: what `accept` takes
    message: int
    unit_id: str | None
    received_at: datetime
    parsed: ParsedFile


@dataclass(frozen=True)
class StoredLesson:
    id: int
    kind: str  # header | value
    text: str
    meaning: str
    vocabulary: str | None  # for a value: kind | field | level
    form: str | None
    by: str
    at: datetime
    removed: bool


@dataclass(frozen=True)
class AuditRow:
    id: int
    at: datetime  # UTC
    by: str
    action: str  # assign | learn-address | mark | unmark
    unit_id: str | None
    subject: str
    note: str


class Store:
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

    def __enter__(self) -> Store:
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
                db.execute("INSERT INTO schema_migrations VALUES (?, ?)", (name, _now()))

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield self._db
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    # -- the mailbox checkpoint (mailbox.Checkpoint) -------------------------------

    def last_uid(self, source: str, uidvalidity: int) -> int:
        row = self._db.execute(
            "SELECT last_uid FROM mailbox_state WHERE source = ? AND uidvalidity = ?",
            (source, uidvalidity),
        ).fetchone()
        return int(row[0]) if row else 0

    def is_known(self, source: str, uidvalidity: int, uid: str) -> bool:
        row = self._db.execute(
            "SELECT 1 FROM locations WHERE source = ? AND uidvalidity = ? AND uid = ?",
            (source, uidvalidity, uid),
        ).fetchone()
        return row is not None

    def has_message(
        self,
        message_id: str | None,
        size: int,
        gm_msgid: int | None,
        header_sha256: str | None = None,
    ) -> bool:
        """Whether a copy of this message is recorded already (another folder, a rescan).

        Judged before download: by Gmail's X-GM-MSGID, by the header's bytes and the size,
        or, for rows recorded before header hashes existed, by Message-ID and size.
        """
        found = self._find(self._db, None, size, gm_msgid, header_sha256, message_id)
        return found is not None

    def begin(self, source: str, uidvalidity: int, uid: str) -> int:
        """Note that this position is being processed, committed now; the attempts so far.

        `record` removes the note in its transaction. One left behind means the process
        died on the message (an OOM kill or SIGKILL raises nothing), and a message that
        killed it twice must not be read a third time.
        """
        with self._transaction() as db:
            db.execute(
                "INSERT INTO processing (source, uidvalidity, uid, attempts, started_at)"
                " VALUES (?, ?, ?, 1, ?) ON CONFLICT (source, uidvalidity, uid)"
                " DO UPDATE SET attempts = attempts + 1, started_at = excluded.started_at",
                (source, uidvalidity, uid, _now()),
            )
            row = db.execute(
                "SELECT attempts FROM processing WHERE source = ? AND uidvalidity = ? AND uid = ?",
                (source, uidvalidity, uid),
            ).fetchone()
        return int(row[0])

    def attempts(self, source: str, uidvalidity: int, uid: str) -> int:
        """How often processing this position started and never ended (0: never)."""
        row = self._db.execute(
            "SELECT attempts FROM processing WHERE source = ? AND uidvalidity = ? AND uid = ?",
            (source, uidvalidity, uid),
        ).fetchone()
        return int(row[0]) if row else 0

    def pending_actions(self, source: str, uidvalidity: int) -> list[int]:
        return [
            int(uid)
            for (uid,) in self._db.execute(
                "SELECT uid FROM locations WHERE source = ? AND uidvalidity = ? AND action_pending"
                " ORDER BY CAST(uid AS INTEGER)",
                (source, uidvalidity),
            )
        ]

    def actions_done(self, source: str, uidvalidity: int, uids: list[int]) -> None:
        with self._transaction() as db:
            db.executemany(
                "UPDATE locations SET action_pending = 0"
                " WHERE source = ? AND uidvalidity = ? AND uid = ?",
                [(source, uidvalidity, str(uid)) for uid in uids],
            )

    # -- writing -------------------------------------------------------------------

    def record(
        self,
        record: MessageRecord,
        source: str,
        uidvalidity: int,
        uid: str,
        *,
        action_pending: bool = False,
    ) -> bool:
        """Write a message and its position atomically; False if the message was known.

        A message is known by its raw bytes or by Gmail's X-GM-MSGID: the same mail
        seen in a second folder, or again after the server renumbered a folder (new
        UIDVALIDITY), is one message at several positions. A record of the header alone
        (a copy recognised before download) is also known by its header's bytes and size,
        or by Message-ID and size for rows recorded before header hashes; a full download
        is a copy only if its bytes are the same (a Message-ID is the sender's choice).
        """
        header = (record.header_sha256, record.message_id) if record.headers_only else (None, None)
        with self._transaction() as db:
            found = self._find(db, record.sha256, record.size, record.gm_msgid, *header)
            message = self._insert_message(db, record) if found is None else found
            db.execute(
                "DELETE FROM processing WHERE source = ? AND uidvalidity = ? AND uid = ?",
                (source, uidvalidity, uid),
            )
            db.execute(
                "INSERT OR IGNORE INTO locations (source, uidvalidity, uid, message,"
                " action_pending) VALUES (?, ?, ?, ?, ?)",
                (source, uidvalidity, uid, message, int(action_pending)),
            )
            if uid.isdigit():
                db.execute(
                    "INSERT INTO mailbox_state VALUES (?, ?, ?) ON CONFLICT (source, uidvalidity)"
                    " DO UPDATE SET last_uid = max(last_uid, excluded.last_uid)",
                    (source, uidvalidity, int(uid)),
                )
        return found is None

    @staticmethod
    def _find(
        db: sqlite3.Connection,
        sha256: str | None,
        size: int,
        gm_msgid: int | None,
        header_sha256: str | None = None,
        message_id: str | None = None,
    ) -> int | None:
        """The message these bytes, this Gmail id, or this header and size were recorded as."""
        row = db.execute(
            "SELECT id FROM messages WHERE sha256 = ?"
            " OR (gm_msgid IS NOT NULL AND gm_msgid = ?)"
            " OR (header_sha256 IS NOT NULL AND header_sha256 = ? AND size = ?)"
            " OR (header_sha256 IS NULL AND message_id IS NOT NULL AND message_id = ?"
            " AND size = ?) ORDER BY id LIMIT 1",
            (sha256, gm_msgid, header_sha256, size, message_id, size),
        ).fetchone()
        return int(row[0]) if row else None

    def _insert_message(self, db: sqlite3.Connection, r: MessageRecord) -> int:
        cursor = db.execute(
            "INSERT INTO messages (sha256, size, message_id, sender, subject, received_at,"
            " received_utc, unit_id, outcome, error, recorded_at, headers_only, gm_msgid,"
            " evidence, confidence, guesses, sender_address, header_sha256, review_reason,"
            " reported_ids) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                r.sha256, r.size, r.message_id, r.sender, r.subject, r.received_at.isoformat(),
                r.received_at.astimezone(UTC).isoformat(), r.unit_id, r.outcome, r.error, _now(),
                int(r.headers_only), r.gm_msgid, r.evidence, r.confidence,
                _json([vars(g) for g in r.guesses]) if r.guesses else None,
                r.sender_address, r.header_sha256, r.review_reason,
                _json(list(r.reported_ids)) if r.reported_ids else None,
            ),
        )  # fmt: skip
        message = int(cursor.lastrowid or 0)
        db.executemany(
            "INSERT INTO failing_addresses (address, since, message) VALUES (?, ?, ?)"
            " ON CONFLICT (address) DO UPDATE SET cleared_at = NULL,"
            " since = CASE WHEN cleared_at IS NULL THEN since ELSE excluded.since END",
            [(address, _utc(r.received_at), message) for address in _bounced(db, r)],
        )
        for position, a in enumerate(r.attachments):
            p = a.parsed
            cursor = db.execute(
                "INSERT INTO attachments (message, position, filename, content_type, size, sha256,"
                " form, fields, problems, confidence, inferred, taught, unknown)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    message, position, a.filename, a.content_type, a.size, a.sha256, p.form,
                    _json(dict(p.fields)), _json([vars(problem) for problem in p.problems]),
                    p.confidence, _json(list(p.inferred)), _json(list(p.taught)),
                    _json(list(p.unknown)),
                ),
            )  # fmt: skip
            db.executemany(
                "INSERT INTO entries (attachment, position, name, kind, field, level, extra)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                [
                    (cursor.lastrowid, i, e.name, e.kind, e.field, e.level, _json(dict(e.extra)))
                    for i, e in enumerate(p.entries)
                ],
            )
        return message

    def start_poll(self) -> int:
        cursor = self._db.execute("INSERT INTO polls (started_at) VALUES (?)", (_now(),))
        return int(cursor.lastrowid or 0)

    def finish_poll(
        self,
        poll: int,
        fetched: int,
        recorded: int,
        errors: int,
        downloaded: int = 0,
        failure: str | None = None,
    ) -> None:
        self._db.execute(
            "UPDATE polls SET finished_at = ?, fetched = ?, recorded = ?, errors = ?,"
            " downloaded = ?, failure = ? WHERE id = ?",
            (_now(), fetched, recorded, errors, downloaded, failure, poll),
        )

    # -- reading -------------------------------------------------------------------

    def submissions(self) -> dict[str, list[Submission]]:
        """Every counted message per unit, with its parsed files, for rules.status."""
        files: dict[int, list[ParsedFile]] = defaultdict(list)
        entries = self._entries()
        for row in self._db.execute(
            f"SELECT a.message, {_PARSED} FROM attachments a"
            " JOIN messages m ON m.id = a.message WHERE m.outcome = 'submission'"
            " ORDER BY a.message, a.position"
        ):
            parsed = _parsed(row[1:], entries)
            files[row[0]].append(settled(parsed) if row[-1] else parsed)
        result: dict[str, list[Submission]] = defaultdict(list)
        for message, unit_id, received_at in self._db.execute(
            "SELECT id, unit_id, received_at FROM messages WHERE outcome = 'submission'"
            " ORDER BY received_utc, id"
        ):
            result[unit_id].append(
                Submission(
                    ref=str(message),
                    received_at=datetime.fromisoformat(received_at),
                    files=tuple(files.get(message, ())),
                )
            )
        for manual in self.manual_submissions():
            result[manual.unit_id].append(manual.submission())
        return dict(result)

    def checks(self, check_below: float, since: datetime | None = None) -> list[FileCheck]:
        """Files of submissions that need the board's check and have not had it."""
        entries = self._entries()
        out = []
        for row in self._db.execute(
            f"SELECT a.message, m.unit_id, m.received_at, {_PARSED} FROM attachments a"
            " JOIN messages m ON m.id = a.message WHERE m.outcome = 'submission'"
            " AND a.checked_at IS NULL AND m.received_utc >= ? ORDER BY m.received_utc, a.id",
            (_utc(since) if since else "",),
        ):
            parsed = _parsed(row[3:], entries)
            if needs_check(parsed, check_below):
                when = datetime.fromisoformat(row[2])
                out.append(FileCheck(row[3], row[0], row[1], when, parsed))
        return out

    def unknown(self, since: datetime | None = None) -> list[tuple[str, int]]:
        """Headers and values the parsers did not know, in files received since `since`,
        most frequent first (ties: as first met)."""
        counts: dict[str, int] = {}
        for (text,) in self._db.execute(
            "SELECT a.unknown FROM attachments a JOIN messages m ON m.id = a.message"
            " WHERE a.unknown IS NOT NULL AND m.received_utc >= ? ORDER BY m.received_utc, a.id",
            (_utc(since) if since else "",),
        ):
            for item in json.loads(text):
                counts[item] = counts.get(item, 0) + 1
        return sorted(counts.items(), key=lambda kv: -kv[1])

    def accept(self, attachment: int, by: str, note: str) -> bool:
        """The board checked the file and accepts its reading; False if it already had."""
        with self._transaction() as db:
            row = db.execute(
                "SELECT a.checked_at, a.filename, m.unit_id FROM attachments a"
                " JOIN messages m ON m.id = a.message WHERE a.id = ?",
                (attachment,),
            ).fetchone()
            if row is None:
                raise KeyError(attachment)
            if row[0] is not None:
                return False
            db.execute("UPDATE attachments SET checked_at = ? WHERE id = ?", (_now(), attachment))
            _audit(db, by, "accept", row[2], f"attachment:{attachment}", f"{row[1]}: {note}")
        return True

    def teach(
        self, kind: str, text: str, meaning: str, vocabulary: str | None, form: str | None,
        by: str, note: str = "",
    ) -> tuple[int, bool]:  # fmt: skip
        """Store a lesson; (its id, False if the same lesson was already in force)."""
        values = (kind, text, meaning, vocabulary, form)
        with self._transaction() as db:
            row = db.execute(
                "SELECT id FROM lessons WHERE kind = ? AND text = ? AND meaning = ?"
                " AND vocabulary IS ? AND form IS ? AND removed_at IS NULL",
                values,
            ).fetchone()
            if row:
                return int(row[0]), False
            cursor = db.execute(
                "INSERT INTO lessons (kind, text, meaning, vocabulary, form, by, at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (*values, by, _now()),
            )
            ident = int(cursor.lastrowid or 0)
            what = f"{vocabulary}:{meaning}" if vocabulary else meaning
            detail = f"{kind} “{text}” = {what}" + (f" ({form})" if form else "")
            _audit(db, by, "teach", None, f"lesson:{ident}", f"{detail}: {note}".rstrip(": "))
        return ident, True

    def unteach(self, ident: int, by: str, note: str = "") -> bool:
        """Stop applying a lesson (it stays in the store); False if none is in force."""
        with self._transaction() as db:
            cursor = db.execute(
                "UPDATE lessons SET removed_at = ? WHERE id = ? AND removed_at IS NULL",
                (_now(), ident),
            )
            if cursor.rowcount == 0:
                return False
            _audit(db, by, "unteach", None, f"lesson:{ident}", note)
        return True

    def lessons(self, *, removed: bool = False) -> list[StoredLesson]:
        where = "" if removed else " WHERE removed_at IS NULL"
        return [
            StoredLesson(r[0], r[1], r[2], r[3], r[4], r[5], r[6],
                         datetime.fromisoformat(r[7]), r[8] is not None)
            for r in self._db.execute(
                "SELECT id, kind, text, meaning, vocabulary, form, by, at, removed_at"
                f" FROM lessons{where} ORDER BY id"
            )
        ]  # fmt: skip

    def taught(self) -> Taught:
        """The lessons in force, as the parsers receive them."""
        return as_taught(self.lessons())

    def _entries(self) -> dict[int, list[Entry]]:
        by_attachment: dict[int, list[Entry]] = defaultdict(list)
        for attachment, name, kind, field, level, extra in self._db.execute(
            "SELECT attachment, name, kind, field, level, extra FROM entries"
            " ORDER BY attachment, position"
        ):
            by_attachment[attachment].append(Entry(name, kind, field, level, json.loads(extra)))
        return by_attachment

    def messages(self, limit: int | None = None) -> list[MessageRow]:
        forms: dict[int, list[str]] = defaultdict(list)
        for message, form in self._db.execute(
            "SELECT message, form FROM attachments WHERE form IS NOT NULL"
            " ORDER BY message, position"
        ):
            forms[message].append(form)
        rows = self._db.execute(
            "SELECT id, message_id, sender, subject, received_at, unit_id, outcome, error,"
            " sender_address, evidence, review_reason"
            " FROM messages ORDER BY received_utc DESC, id DESC LIMIT ?",
            (-1 if limit is None else limit,),
        )
        return [
            MessageRow(r[0], r[1], r[2], r[3], datetime.fromisoformat(r[4]), r[5], r[6], r[7],
                       tuple(forms.get(r[0], ())), r[8], r[9], r[10])
            for r in rows
        ]  # fmt: skip

    # -- the outbox (notify) ---------------------------------------------------------

    def outbox_add(
        self,
        key: str,
        recipients: list[str],
        subject: str,
        raw: bytes,
        now: datetime,
        message_id: str | None = None,
    ) -> bool:
        """Record a mail to send; False if this key was recorded before (it is never resent).

        `message_id` is the mail's own: a delivery report counts only if it names one.
        """
        cursor = self._db.execute(
            "INSERT OR IGNORE INTO outbox (key, recipients, subject, raw, status, created_at,"
            " message_id) VALUES (?, ?, ?, ?, 'pending', ?, ?)",
            (outbox_key(key), _json(recipients), subject, raw, _utc(now), message_id),
        )
        return cursor.rowcount == 1

    def outbox_failed(
        self, key: str, recipients: list[str], subject: str, error: str, now: datetime
    ) -> None:
        """Record a mail that could not even be composed, so the board sees it and why."""
        self._db.execute(
            "INSERT OR IGNORE INTO outbox (key, recipients, subject, raw, status, last_error,"
            " created_at) VALUES (?, ?, ?, x'', 'failed', ?, ?)",
            (outbox_key(key), _json(recipients), subject, error, _utc(now)),
        )

    def outbox_due(self, now: datetime) -> list[OutboxItem]:
        return self._outbox(
            "status = 'pending' AND (next_attempt_at IS NULL OR next_attempt_at <= ?) ORDER BY id",
            (_utc(now),),
        )

    def outbox_interrupted(self) -> list[OutboxItem]:
        return self._outbox("status = 'sending' ORDER BY id", ())

    def outbox(self, limit: int | None = None) -> list[OutboxItem]:
        return self._outbox("1 ORDER BY id DESC LIMIT ?", (-1 if limit is None else limit,))

    def outbox_mark(
        self,
        item: int,
        status: str,
        error: str | None = None,
        *,
        attempt: bool = False,
        next_attempt: datetime | None = None,
        sent_at: datetime | None = None,
    ) -> None:
        """Change an item's state, committed at once: 'sending' must be on disk before SMTP."""
        self._db.execute(
            "UPDATE outbox SET status = ?, attempts = attempts + ?,"
            " last_error = coalesce(?, last_error), next_attempt_at = ?,"
            " sent_at = coalesce(?, sent_at) WHERE id = ?",
            (
                status, int(attempt), error, _utc(next_attempt) if next_attempt else None,
                _utc(sent_at) if sent_at else None, item,
            ),
        )  # fmt: skip

    def outbox_has(self, key: str) -> bool:
        row = self._db.execute("SELECT 1 FROM outbox WHERE key = ?", (outbox_key(key),))
        return row.fetchone() is not None

    def outbox_sent_to(self, address: str, since: datetime, prefix: str, *, among: bool) -> int:
        """Mails recorded for this address since then whose key starts with `prefix`
        (`among`) or does not (the daily caps count them)."""
        row = self._db.execute(
            "SELECT count(*) FROM outbox, json_each(outbox.recipients) r"
            " WHERE lower(r.value) = lower(?) AND created_at >= ?"
            " AND (substr(outbox.key, 1, length(?)) = ?) = ?",
            (address, _utc(since), prefix, prefix, int(among)),
        ).fetchone()
        return int(row[0])

    def outbox_retry(self, key: str) -> bool:
        """Put a failed or interrupted item back in the queue (the board checked it).

        One never composed (no bytes) is forgotten instead: the next cycle composes it anew.
        """
        key = outbox_key(key)
        with self._transaction() as db:
            cursor = db.execute(
                "DELETE FROM outbox WHERE key = ? AND status = 'failed' AND length(raw) = 0",
                (key,),
            )
            if cursor.rowcount == 1:
                return True
            cursor = db.execute(
                "UPDATE outbox SET status = 'pending', next_attempt_at = NULL, attempts = 0"
                " WHERE key = ? AND status IN ('failed', 'unknown')",
                (key,),
            )
        return cursor.rowcount == 1

    def own_message_ids(self) -> frozenset[str]:
        """The Message-IDs of every mail we composed: ours if they come back to the mailbox."""
        rows = self._db.execute("SELECT message_id FROM outbox WHERE message_id IS NOT NULL")
        return frozenset(row[0] for row in rows)

    def outbox_cancel(self, key: str) -> bool:
        """Never send this mail (the board decided): kept, under its key, as `cancelled`."""
        cursor = self._db.execute(
            "UPDATE outbox SET status = 'cancelled', next_attempt_at = NULL"
            " WHERE key = ? AND status IN ('pending', 'failed', 'unknown')",
            (outbox_key(key),),
        )
        return cursor.rowcount == 1

    def outbox_attention(self, stuck_before: datetime) -> list[OutboxItem]:
        """Mail a person must look at: failed, interrupted, or pending since before then."""
        return self._outbox(
            "status IN ('failed', 'unknown') OR (status = 'pending' AND created_at < ?)"
            " ORDER BY id",
            (_utc(stuck_before),),
        )

    def _outbox(self, where: str, args: tuple[object, ...]) -> list[OutboxItem]:
        rows = self._db.execute(
            "SELECT id, key, recipients, subject, raw, status, attempts, last_error, created_at,"
            f" sent_at FROM outbox WHERE {where}",
            args,
        )
        return [
            OutboxItem(
                r[0], r[1], tuple(json.loads(r[2])), r[3], bytes(r[4]), r[5], r[6], r[7],
                datetime.fromisoformat(r[8]), datetime.fromisoformat(r[9]) if r[9] else None,
            )
            for r in rows
        ]  # fmt: skip

    # -- review and corrections (mail_ingest/corrections.py) ---------------------------

    def attributions(self, ref: str | None = None) -> list[Attribution]:
        """The review queue (held messages, oldest first), or the message `ref` names.

        `ref` is the store's id as `messages` and `review` show it, or a Message-ID.
        """
        args: tuple[object, ...] = ()
        if ref is None:
            where = "outcome IN ('needs-review', 'unknown-sender')"
        elif ref.lstrip("#").isdigit():
            where, args = "id = ?", (int(ref.lstrip("#")),)
        else:
            where, args = "message_id IN (?, ?)", (ref, f"<{ref.strip('<>')}>")
        rows = self._db.execute(
            "SELECT id, message_id, sender, subject, received_at, outcome, unit_id, evidence,"
            f" confidence, guesses, sender_address FROM messages WHERE {where}"
            " ORDER BY received_utc, id",
            args,
        ).fetchall()
        forms: dict[int, list[str]] = defaultdict(list)
        for message, form in self._db.execute(
            "SELECT message, form FROM attachments WHERE form IS NOT NULL"
            f" AND message IN (SELECT id FROM messages WHERE {where}) ORDER BY message, position",
            args,
        ):
            forms[message].append(form)
        return [
            Attribution(
                r[0], r[1], r[2], r[3], datetime.fromisoformat(r[4]), r[5], r[6], r[7], r[8],
                tuple(Guess(**g) for g in json.loads(r[9] or "[]")), tuple(forms.get(r[0], ())),
                r[10],
            )
            for r in rows
        ]  # fmt: skip

    def assigned(self) -> list[Attribution]:
        """Messages a person attributed, for the notes in status and reports."""
        query = "SELECT id FROM messages WHERE evidence = 'assigned'"
        ids = [r[0] for r in self._db.execute(query)]
        return [a for i in ids for a in self.attributions(str(i))]

    def assign(self, message: int, unit_id: str, by: str, note: str) -> bool:
        """Make a message a submission of the unit; False if it already was one by assignment."""
        with self._transaction() as db:
            row = db.execute(
                "SELECT outcome, unit_id, evidence FROM messages WHERE id = ?", (message,)
            ).fetchone()
            if tuple(row) == ("submission", unit_id, "assigned"):
                return False
            db.execute(
                "UPDATE messages SET outcome = 'submission', unit_id = ?, evidence = 'assigned',"
                " confidence = 100 WHERE id = ?",
                (unit_id, message),
            )
            # An IMAP after-processing action (keyword, move) applies to it like any submission.
            db.execute(
                "UPDATE locations SET action_pending = 1"
                " WHERE message = ? AND source LIKE 'imap:%'",
                (message,),
            )
            was = f"{row[0]}, {row[1]}" if row[1] else row[0]
            _audit(db, by, "assign", unit_id, f"message:{message}", f"{note} (trước đó: {was})")
        return True

    def learn_address(self, sender: str, unit_id: str, by: str, message: int | None) -> bool:
        """Remember that mail from this address is the unit's; False if already known so."""
        address = address_key(sender)
        with self._transaction() as db:
            row = db.execute(
                "SELECT unit_id FROM learned_addresses WHERE address = ?", (address,)
            ).fetchone()
            if row and row[0] == unit_id:
                return False
            db.execute(
                "INSERT INTO learned_addresses VALUES (?, ?, ?, ?, ?) ON CONFLICT (address)"
                " DO UPDATE SET unit_id = excluded.unit_id, learned_at = excluded.learned_at,"
                " by = excluded.by, message = excluded.message",
                (address, unit_id, _now(), by, message),
            )
            note = f"trước đó thuộc {row[0]}" if row else ""
            _audit(db, by, "learn-address", unit_id, address, note)
        return True

    def learned_addresses(self) -> list[LearnedAddress]:
        return [
            LearnedAddress(r[0], r[1], datetime.fromisoformat(r[2]), r[3], r[4])
            for r in self._db.execute(
                "SELECT address, unit_id, learned_at, by, message FROM learned_addresses"
                " ORDER BY unit_id, address"
            )
        ]

    def mark(
        self,
        unit_id: str,
        requirement: str,
        forms: tuple[str, ...],
        received_at: datetime,
        via: str,
        note: str,
        by: str,
    ) -> tuple[int, bool]:
        """Record a submission that did not come by mail; (its id, False if recorded before)."""
        values = (unit_id, requirement, _json(list(forms)), via, received_at.isoformat(), note)
        with self._transaction() as db:
            row = db.execute(
                "SELECT id FROM manual_submissions WHERE unit_id = ? AND requirement = ?"
                " AND forms = ? AND via = ? AND received_at = ? AND note = ?"
                " AND removed_at IS NULL",
                values,
            ).fetchone()
            if row:
                return int(row[0]), False
            cursor = db.execute(
                "INSERT INTO manual_submissions (unit_id, requirement, forms, via, received_at,"
                " note, received_utc, by, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (*values, received_at.astimezone(UTC).isoformat(), by, _now()),
            )
            ident = int(cursor.lastrowid or 0)
            detail = f"{requirement} {', '.join(forms)} ({via}, {received_at.isoformat()}): {note}"
            _audit(db, by, "mark", unit_id, f"manual:{ident}", detail)
        return ident, True

    def unmark(
        self, unit_id: str, requirement: str, forms: tuple[str, ...], by: str, note: str
    ) -> list[int]:
        """Stop counting the unit's manual submissions (all, or those with these forms)."""
        removed = [
            m.id
            for m in self.manual_submissions()
            if (m.unit_id, m.requirement) == (unit_id, requirement)
            and (not forms or set(m.forms) & set(forms))
        ]
        with self._transaction() as db:
            for ident in removed:
                db.execute(
                    "UPDATE manual_submissions SET removed_at = ? WHERE id = ?", (_now(), ident)
                )
                _audit(db, by, "unmark", unit_id, f"manual:{ident}", f"{requirement}: {note}")
        return removed

    def manual_submissions(self, *, removed: bool = False) -> list[ManualSubmission]:
        where = "" if removed else " WHERE removed_at IS NULL"
        return [
            ManualSubmission(
                r[0], r[1], r[2], tuple(json.loads(r[3])), r[4], datetime.fromisoformat(r[5]),
                r[6], r[7], datetime.fromisoformat(r[8]), r[9] is not None,
            )
            for r in self._db.execute(
                "SELECT id, unit_id, requirement, forms, via, received_at, note, by, created_at,"
                f" removed_at FROM manual_submissions{where} ORDER BY received_utc, id"
            )
        ]  # fmt: skip

    def audit(self, limit: int | None = None) -> list[AuditRow]:
        """Manual changes, newest first."""
        return [
            AuditRow(r[0], datetime.fromisoformat(r[1]), r[2], r[3], r[4], r[5], r[6])
            for r in self._db.execute(
                "SELECT id, at, by, action, unit_id, subject, note FROM audit"
                " ORDER BY id DESC LIMIT ?",
                (-1 if limit is None else limit,),
            )
        ]

    def failing_addresses(self) -> dict[str, datetime]:
        """Addresses mail cannot reach (a bounce came back), with the first failure."""
        return {
            address: datetime.fromisoformat(since)
            for address, since in self._db.execute(
                "SELECT address, since FROM failing_addresses WHERE cleared_at IS NULL"
            )
        }

    def clear_failing(self, address: str) -> bool:
        cursor = self._db.execute(
            "UPDATE failing_addresses SET cleared_at = ? WHERE address = ? AND cleared_at IS NULL",
            (_now(), address.lower()),
        )
        return cursor.rowcount == 1

    def first_poll(self) -> datetime | None:
        """When this deployment first polled: its first report day follows it."""
        row = self._db.execute("SELECT min(started_at) FROM polls").fetchone()
        return datetime.fromisoformat(row[0]) if row and row[0] else None

    def last_good_poll(self) -> datetime | None:
        """When the latest poll that succeeded finished."""
        row = self._db.execute(
            "SELECT max(finished_at) FROM polls WHERE finished_at IS NOT NULL AND failure IS NULL"
        ).fetchone()
        return datetime.fromisoformat(row[0]) if row and row[0] else None

    def last_poll(self) -> tuple[datetime, datetime | None, str | None] | None:
        """(started, finished, failure) of the latest poll, for `mail-ingest health`."""
        row = self._db.execute(
            "SELECT started_at, finished_at, failure FROM polls ORDER BY id DESC LIMIT 1"
        ).fetchone()
        if row is None:
            return None
        finished = datetime.fromisoformat(row[1]) if row[1] else None
        return datetime.fromisoformat(row[0]), finished, row[2]

    def count(self, table: str) -> int:
        assert table in {"messages", "locations", "attachments", "entries", "outbox", "polls",
                         "learned_addresses", "manual_submissions", "audit",
                         "failing_addresses"}  # fmt: skip
        return int(self._db.execute(f"SELECT count(*) FROM {table}").fetchone()[0])

    # -- reads for the web page (downloads by stored id, a unit's files, recent polls) --
    def message_digest(self, message: int) -> str | None:
        """The archive digest of a message's raw bytes; None if unknown or header only."""
        row = self._db.execute(
            "SELECT sha256, headers_only FROM messages WHERE id = ?", (message,)
        ).fetchone()
        return None if row is None or row[1] else str(row[0])

    def attachment_ref(self, ident: int) -> tuple[int, str, str] | None:
        """(message id, file name, sha256) of a stored file."""
        row = self._db.execute(
            "SELECT message, filename, sha256 FROM attachments WHERE id = ?", (ident,)
        ).fetchone()
        return None if row is None else (int(row[0]), str(row[1]), str(row[2]))

    def message_files(self, message: int) -> list[tuple[int, int, ParsedFile, bool]]:
        """(id, size, reading, checked) of each file of a message, in the message's order."""
        entries = self._entries()
        return [
            (int(row[1]), int(row[0]), _parsed(row[1:], entries), bool(row[-1]))
            for row in self._db.execute(
                f"SELECT a.size, {_PARSED} FROM attachments a WHERE a.message = ?"
                " ORDER BY a.position",
                (message,),
            )
        ]

    def polls(self, limit: int = 10) -> list[dict[str, object]]:
        """The latest polls, newest first: started, finished, counts, failure."""
        names = ("started_at", "finished_at", "fetched", "recorded", "errors", "downloaded",
                 "failure")  # fmt: skip
        rows = self._db.execute(
            f"SELECT {', '.join(names)} FROM polls ORDER BY id DESC LIMIT ?", (limit,)
        ).fetchall()
        return [dict(zip(names, row, strict=True)) for row in rows]

    def busy_timeout(self, ms: int) -> None:
        """How long a write waits for another writer's lock (the page waits less than a poll)."""
        self._db.execute(f"PRAGMA busy_timeout = {int(ms)}")


MAX_KEY = 200  # characters of an outbox key: a 100 KB Message-ID must not make one
MAX_REPORTED = 20  # Message-IDs of one delivery report looked up


def outbox_key(key: str) -> str:
    """The key as stored: itself when short and printable, else a prefix and its hash.

    Keys embed Message-IDs, which strangers choose; the hash keeps them distinct.
    """
    if len(key) <= MAX_KEY and printable(key) == key:
        return key
    digest = hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()[:32]
    return f"{printable(key)[:64]}~{digest}"


def _bounced(db: sqlite3.Connection, r: MessageRecord) -> list[str]:
    """The failed recipients of a delivery report that were recipients of a mail we sent
    and that the report names by its Message-ID; a forged report marks nobody."""
    failed = {a.lower() for a in r.failed_recipients}
    ids = [i for i in r.reported_ids if len(i) <= 998][:MAX_REPORTED]
    if not failed or not ids:
        return []
    rows = db.execute(
        "SELECT DISTINCT lower(j.value) FROM outbox o, json_each(o.recipients) j"
        f" WHERE o.message_id IN ({', '.join('?' * len(ids))})",
        ids,
    )
    ours = {row[0] for row in rows}
    return sorted(failed & ours)


# The columns _parsed reads, in its order (checked_at last: set means settled).
_PARSED = (
    "a.id, a.filename, a.form, a.fields, a.problems, a.confidence, a.inferred, a.taught,"
    " a.unknown, a.checked_at"
)


def _parsed(row: tuple[object, ...] | sqlite3.Row, entries: dict[int, list[Entry]]) -> ParsedFile:
    """A stored reading; rows from before 0007 are certain, as they were then."""
    ident, filename, form, fields, problems, confidence, inferred, taught, unknown = row[:9]
    return ParsedFile(
        filename=str(filename),
        form=form if isinstance(form, str) else None,
        fields=json.loads(str(fields)),
        entries=tuple(entries.get(int(str(ident)), ())),
        problems=tuple(Problem(**p) for p in json.loads(str(problems))),
        confidence=1.0 if confidence is None else float(str(confidence)),
        inferred=tuple(json.loads(str(inferred or "[]"))),
        taught=tuple(json.loads(str(taught or "[]"))),
        unknown=tuple(json.loads(str(unknown or "[]"))),
    )


def as_taught(lessons: list[StoredLesson]) -> Taught:
    """Stored lessons as the parsers receive them: plain data, no store."""
    headers = tuple(_lesson(s) for s in lessons if s.kind == "header")
    values: dict[str, tuple[Lesson, ...]] = {}
    for s in lessons:
        if s.kind == "value" and s.vocabulary:
            values[s.vocabulary] = (*values.get(s.vocabulary, ()), _lesson(s))
    return Taught(headers=headers, values=values)


def _lesson(s: StoredLesson) -> Lesson:
    return Lesson(id=str(s.id), text=s.text, meaning=s.meaning, form=s.form)


def _statements(script: str) -> list[str]:
    """Split a migration into statements (executescript would commit on its own)."""
    statements, current = [], ""
    for line in script.splitlines(keepends=True):
        current += line
        if sqlite3.complete_statement(current):
            statements.append(current.strip())
            current = ""
    return statements


def _audit(
    db: sqlite3.Connection, by: str, action: str, unit_id: str | None, subject: str, note: str
) -> None:
    db.execute(
        "INSERT INTO audit (at, by, action, unit_id, subject, note) VALUES (?, ?, ?, ?, ?, ?)",
        (_now(), by, action, unit_id, subject, note),
    )


def _json(value: object) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


def _utc(instant: datetime) -> str:
    return instant.astimezone(UTC).isoformat(timespec="seconds")


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
