"""Messages and polls: the mailbox checkpoint, recording a message with its files in
one transaction, and the poll history health reads.
"""

from __future__ import annotations

import sqlite3
from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, datetime

from mail_ingest.store.database import Database, json_text, utc_now, utc_text
from mail_ingest.store.records import PARSED_COLUMNS, MessageRecord, MessageRow, parsed_file
from parsers.model import ParsedFile


class Messages(Database):
    """Where the poll stands in each folder, and every message recorded once."""

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
                (source, uidvalidity, uid, utc_now()),
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
                r.received_at.astimezone(UTC).isoformat(), r.unit_id, r.outcome, r.error, utc_now(),
                int(r.headers_only), r.gm_msgid, r.evidence, r.confidence,
                json_text([vars(g) for g in r.guesses]) if r.guesses else None,
                r.sender_address, r.header_sha256, r.review_reason,
                json_text(list(r.reported_ids)) if r.reported_ids else None,
            ),
        )  # fmt: skip
        message = int(cursor.lastrowid or 0)
        db.executemany(
            "INSERT INTO failing_addresses (address, since, message) VALUES (?, ?, ?)"
            " ON CONFLICT (address) DO UPDATE SET cleared_at = NULL,"
            " since = CASE WHEN cleared_at IS NULL THEN since ELSE excluded.since END",
            [(address, utc_text(r.received_at), message) for address in _bounced(db, r)],
        )
        for position, a in enumerate(r.attachments):
            p = a.parsed
            cursor = db.execute(
                "INSERT INTO attachments (message, position, filename, content_type, size, sha256,"
                " form, fields, problems, confidence, inferred, taught, unknown, doubted)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    message, position, a.filename, a.content_type, a.size, a.sha256, p.form,
                    json_text(dict(p.fields)), json_text([vars(problem) for problem in p.problems]),
                    p.confidence, json_text(list(p.inferred)), json_text(list(p.taught)),
                    json_text(list(p.unknown)), json_text(list(p.doubted)),
                ),
            )  # fmt: skip
            db.executemany(
                "INSERT INTO entries (attachment, position, name, kind, field, level, extra)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        cursor.lastrowid,
                        i,
                        e.name,
                        e.kind,
                        e.field,
                        e.level,
                        json_text(dict(e.extra)),
                    )
                    for i, e in enumerate(p.entries)
                ],
            )
        return message

    def start_poll(self) -> int:
        cursor = self._db.execute("INSERT INTO polls (started_at) VALUES (?)", (utc_now(),))
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
            (utc_now(), fetched, recorded, errors, downloaded, failure, poll),
        )

    def messages(
        self, limit: int | None = None, *, evidence: Sequence[str] | None = None
    ) -> list[MessageRow]:
        """Messages, newest first; only those whose unit was found by one of `evidence`
        (from its index: `status` reads the few counted by name, not every message)."""
        where, args = "", tuple(evidence or ())
        if evidence is not None:
            where = f" WHERE evidence IN ({', '.join('?' * len(evidence))})"
        forms: dict[int, list[str]] = defaultdict(list)
        for message, form in self._db.execute(
            "SELECT message, form FROM attachments WHERE form IS NOT NULL"
            + (f" AND message IN (SELECT id FROM messages{where})" if where else "")
            + " ORDER BY message, position",
            args,
        ):
            forms[message].append(form)
        rows = self._db.execute(
            "SELECT id, message_id, sender, subject, received_at, unit_id, outcome, error,"
            f" sender_address, evidence, review_reason FROM messages{where}"
            " ORDER BY received_utc DESC, id DESC LIMIT ?",
            (*args, -1 if limit is None else limit),
        )
        return [
            MessageRow(r[0], r[1], r[2], r[3], datetime.fromisoformat(r[4]), r[5], r[6], r[7],
                       tuple(forms.get(r[0], ())), r[8], r[9], r[10])
            for r in rows
        ]  # fmt: skip

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
            (int(row[1]), int(row[0]), parsed_file(row[1:], entries), bool(row[-1]))
            for row in self._db.execute(
                f"SELECT a.size, {PARSED_COLUMNS} FROM attachments a WHERE a.message = ?"
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


MAX_REPORTED = 20  # Message-IDs of one delivery report looked up


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
