"""The outbox: every mail the service sends, keyed so nothing is sent twice, and the
addresses delivery reports say fail.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime

from mail_ingest.store.database import Database, json_text, utc_now, utc_text
from mail_ingest.store.records import OutboxItem
from parsers.text import printable


class Outbox(Database):
    """Mail to send, each under a key that is used once, and what became of it."""

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
            (outbox_key(key), json_text(recipients), subject, raw, utc_text(now), message_id),
        )
        return cursor.rowcount == 1

    def outbox_failed(
        self, key: str, recipients: list[str], subject: str, error: str, now: datetime
    ) -> None:
        """Record a mail that could not even be composed, so the board sees it and why."""
        self._db.execute(
            "INSERT OR IGNORE INTO outbox (key, recipients, subject, raw, status, last_error,"
            " created_at) VALUES (?, ?, ?, x'', 'failed', ?, ?)",
            (outbox_key(key), json_text(recipients), subject, error, utc_text(now)),
        )

    def outbox_due(self, now: datetime) -> list[OutboxItem]:
        return self._outbox(
            "status = 'pending' AND (next_attempt_at IS NULL OR next_attempt_at <= ?) ORDER BY id",
            (utc_text(now),),
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
                status, int(attempt), error, utc_text(next_attempt) if next_attempt else None,
                utc_text(sent_at) if sent_at else None, item,
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
            (address, utc_text(since), prefix, prefix, int(among)),
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
            (utc_text(stuck_before),),
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
            (utc_now(), address.lower()),
        )
        return cursor.rowcount == 1


MAX_KEY = 200  # characters of an outbox key: a 100 KB Message-ID must not make one


def outbox_key(key: str) -> str:
    """The key as stored: itself when short and printable, else a prefix and its hash.

    Keys embed Message-IDs, which strangers choose; the hash keeps them distinct.
    """
    if len(key) <= MAX_KEY and printable(key) == key:
        return key
    digest = hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()[:32]
    return f"{printable(key)[:64]}~{digest}"
