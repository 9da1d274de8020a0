"""File checks and lessons: readings that wait for the board, and what it taught the
parsers (header and value lessons).
"""

from __future__ import annotations

import json
from datetime import datetime

from mail_ingest.store.database import Database, utc_now, utc_text, write_audit
from mail_ingest.store.records import PARSED_COLUMNS, FileCheck, StoredLesson, parsed_file
from parsers.vocabulary import Lesson, Taught
from rules.status import needs_check


class Lessons(Database):
    """Files that wait for the board's check, and what it taught the parsers."""

    def checks(self, check_below: float, since: datetime | None = None) -> list[FileCheck]:
        """Files of submissions that need the board's check and have not had it. Whether
        a file does is in its confidence and problems: the entries are read for those only."""
        found = []
        for row in self._db.execute(
            f"SELECT a.message, m.unit_id, m.received_at, {PARSED_COLUMNS} FROM attachments a"
            " JOIN messages m ON m.id = a.message WHERE m.outcome = 'submission'"
            " AND a.checked_at IS NULL AND m.received_utc >= ? ORDER BY m.received_utc, a.id",
            (utc_text(since) if since else "",),
        ):
            if needs_check(parsed_file(row[3:], {}), check_below):
                found.append(row)
        entries = self._entries([row[3] for row in found])
        return [
            FileCheck(row[3], row[0], row[1], datetime.fromisoformat(row[2]),
                      parsed_file(row[3:], entries))
            for row in found
        ]  # fmt: skip

    def unknown(self, since: datetime | None = None) -> list[tuple[str, int]]:
        """Headers and values the parsers did not know, in files received since `since`,
        most frequent first (ties: as first met)."""
        counts: dict[str, int] = {}
        for (text,) in self._db.execute(
            "SELECT a.unknown FROM attachments a JOIN messages m ON m.id = a.message"
            " WHERE a.unknown IS NOT NULL AND m.received_utc >= ? ORDER BY m.received_utc, a.id",
            (utc_text(since) if since else "",),
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
            db.execute(
                "UPDATE attachments SET checked_at = ? WHERE id = ?", (utc_now(), attachment)
            )
            write_audit(db, by, "accept", row[2], f"attachment:{attachment}", f"{row[1]}: {note}")
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
                (*values, by, utc_now()),
            )
            ident = int(cursor.lastrowid or 0)
            what = f"{vocabulary}:{meaning}" if vocabulary else meaning
            detail = f"{kind} “{text}” = {what}" + (f" ({form})" if form else "")
            write_audit(db, by, "teach", None, f"lesson:{ident}", f"{detail}: {note}".rstrip(": "))
        return ident, True

    def unteach(self, ident: int, by: str, note: str = "") -> bool:
        """Stop applying a lesson (it stays in the store); False if none is in force."""
        with self._transaction() as db:
            cursor = db.execute(
                "UPDATE lessons SET removed_at = ? WHERE id = ? AND removed_at IS NULL",
                (utc_now(), ident),
            )
            if cursor.rowcount == 0:
                return False
            write_audit(db, by, "unteach", None, f"lesson:{ident}", note)
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
