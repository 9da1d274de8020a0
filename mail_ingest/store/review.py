"""Review and corrections: attributions, the board's assignments, learned addresses,
marks (manual submissions) and the audit trail of who did what.
"""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import UTC, datetime

from mail_ingest.store.database import Database, json_text, utc_now, write_audit
from mail_ingest.store.records import (
    PARSED_COLUMNS,
    Attribution,
    AuditRow,
    LearnedAddress,
    ManualSubmission,
    parsed_file,
)
from parsers.model import ParsedFile
from rules.match_model import Guess
from rules.status import Submission, settled
from rules.units import address_key


class Review(Database):
    """The board's decisions on messages and units, each written with its audit row."""

    def submissions(self) -> dict[str, list[Submission]]:
        """Every counted message per unit, with its parsed files, for rules.status."""
        files: dict[int, list[ParsedFile]] = defaultdict(list)
        entries = self._entries()
        for row in self._db.execute(
            f"SELECT a.message, {PARSED_COLUMNS} FROM attachments a"
            " JOIN messages m ON m.id = a.message WHERE m.outcome = 'submission'"
            " ORDER BY a.message, a.position"
        ):
            parsed = parsed_file(row[1:], entries)
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
        return self._attributions(where, args)

    def _attributions(self, where: str, args: tuple[object, ...]) -> list[Attribution]:
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
        """Messages a person attributed, for the notes in status and reports: two queries,
        not two per message."""
        return self._attributions("evidence = 'assigned'", ())

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
            write_audit(
                db, by, "assign", unit_id, f"message:{message}", f"{note} (trước đó: {was})"
            )
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
                (address, unit_id, utc_now(), by, message),
            )
            note = f"trước đó thuộc {row[0]}" if row else ""
            write_audit(db, by, "learn-address", unit_id, address, note)
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
        values = (unit_id, requirement, json_text(list(forms)), via, received_at.isoformat(), note)
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
                (*values, received_at.astimezone(UTC).isoformat(), by, utc_now()),
            )
            ident = int(cursor.lastrowid or 0)
            detail = f"{requirement} {', '.join(forms)} ({via}, {received_at.isoformat()}): {note}"
            write_audit(db, by, "mark", unit_id, f"manual:{ident}", detail)
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
                    "UPDATE manual_submissions SET removed_at = ? WHERE id = ?", (utc_now(), ident)
                )
                write_audit(db, by, "unmark", unit_id, f"manual:{ident}", f"{requirement}: {note}")
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
