"""The store and the archive: migrations, idempotent recording, the poll lock."""

from __future__ import annotations

import sqlite3
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from mail_ingest.archive import Archive, sha256
from mail_ingest.errors import LockedError
from mail_ingest.store import MIGRATIONS, MessageRecord, Store, StoredAttachment
from parsers.model import Entry, ParsedFile, Problem


def record(digest: str = "a" * 64, outcome: str = "submission") -> MessageRecord:
    parsed = ParsedFile(
        "Mau 01.xlsx",
        "mau-01",
        fields={"don_vi": "Đảng ủy xã Mường So"},
        entries=(Entry("Hợp tác xã chè", "tap-the", "kinh-te", "huyen", {"note": "mới"}),),
        problems=(Problem("empty-field", "Dòng 3: chưa ghi lĩnh vực"),),
    )
    return MessageRecord(
        sha256=digest,
        size=10,
        message_id="<1@example.vn>",
        sender="a@example.vn",
        subject="Mẫu 01",
        received_at=datetime(2024, 1, 25, 2, 12, tzinfo=UTC),
        unit_id="xa-muong-so",
        outcome=outcome,
        attachments=(StoredAttachment("Mau 01.xlsx", "application/x", 5, "b" * 64, parsed),),
    )


def test_migrations_are_applied_once_and_recorded(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite3"
    with Store(path) as store:
        assert store.migrations() == [name for name, _ in MIGRATIONS]
    with Store(path) as store:  # reopening an up-to-date database changes nothing
        assert store.migrations() == [name for name, _ in MIGRATIONS]
    assert sqlite3.connect(path).execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_recording_twice_changes_nothing(tmp_path: Path) -> None:
    with Store(tmp_path / "s.sqlite3") as store:
        assert store.record(record(), "imap:x/INBOX", 7, "3") is True
        counts = {t: store.count(t) for t in ("messages", "attachments", "entries")}
        assert store.record(record(), "imap:x/INBOX", 7, "3") is False
        assert {t: store.count(t) for t in counts} == counts
        # The same bytes seen at a second position: one message, two locations.
        assert store.record(record(), "imap:x/Dan van kheo", 1, "1") is False
        assert store.count("messages") == 1 and store.count("locations") == 2


def test_checkpoint_tracks_highest_uid_per_folder_incarnation(tmp_path: Path) -> None:
    with Store(tmp_path / "s.sqlite3") as store:
        assert store.last_uid("imap:x/INBOX", 7) == 0
        store.record(record("1" * 64), "imap:x/INBOX", 7, "5")
        store.record(record("2" * 64), "imap:x/INBOX", 7, "3")
        assert store.last_uid("imap:x/INBOX", 7) == 5
        assert store.last_uid("imap:x/INBOX", 8) == 0  # UIDVALIDITY changed: a new incarnation
        assert store.is_known("imap:x/INBOX", 7, "3")
        assert not store.is_known("imap:x/INBOX", 7, "4")


def test_submissions_round_trip_parsed_files(tmp_path: Path) -> None:
    with Store(tmp_path / "s.sqlite3") as store:
        store.record(record(), "maildir:/m", 0, "k1")
        store.record(record("c" * 64, outcome="auto-reply"), "maildir:/m", 0, "k2")
        [submission] = store.submissions()["xa-muong-so"]
    assert submission.received_at == datetime(2024, 1, 25, 2, 12, tzinfo=UTC)
    [parsed] = submission.files
    assert parsed == record().attachments[0].parsed


def test_assigned_messages_are_read_in_a_fixed_number_of_queries(tmp_path: Path) -> None:
    """The notes of every status list the messages a person assigned: read together, not
    with two queries each (a board that assigns hundreds would wait on each)."""
    counts = []
    for n in (2, 12):
        with Store(tmp_path / f"s{n}.sqlite3") as store:
            for i in range(n):
                held = replace(record(f"{i:064x}", outcome="needs-review"), unit_id=None,
                               message_id=f"<{i}@example.vn>")  # fmt: skip
                store.record(held, "maildir:/m", 0, f"k{i}")
            ids = [a.id for a in store.attributions()]
            for ident in ids:
                store.assign(ident, "xa-muong-so", "cán bộ", "")
            seen: list[str] = []
            store._db.set_trace_callback(seen.append)
            assigned = store.assigned()
            store._db.set_trace_callback(None)
        assert sorted(a.id for a in assigned) == sorted(ids)
        assert {(a.unit_id, a.evidence, a.forms) for a in assigned} == {
            ("xa-muong-so", "assigned", ("mau-01",))
        }
        counts.append(len(seen))
    assert counts[0] == counts[1]


def test_messages_found_by_some_evidence_only(tmp_path: Path) -> None:
    """`status` notes the mail counted by a unit's name: it reads those from their index,
    not every message of the campaign."""
    with Store(tmp_path / "s.sqlite3") as store:
        for i, evidence in enumerate(["address", "subject", None, "body", "address"]):
            mail = replace(record(f"{i:064x}"), evidence=evidence, message_id=f"<{i}@x.vn>")
            store.record(mail, "maildir:/m", 0, f"k{i}")
        every = store.messages()
        named = store.messages(evidence=("subject", "body"))
        assert store.messages(evidence=()) == [] == store.messages(evidence=("form",))
    assert [m.evidence for m in named] == ["body", "subject"]  # newest first, like all
    assert named == [m for m in every if m.evidence in ("subject", "body")]
    assert {m.forms for m in named} == {("mau-01",)}


def test_files_to_check_come_with_their_entries_and_no_others(tmp_path: Path) -> None:
    """The report lists the files waiting for the board's check: a few among thousands;
    the entries of the others are not read for it."""
    with Store(tmp_path / "s.sqlite3") as store:
        for i in range(6):
            mail = record(f"{i:064x}")
            parsed = replace(mail.attachments[0].parsed, confidence=0.5 if i % 3 == 0 else 1.0)
            files = (replace(mail.attachments[0], sha256=f"{i:063x}f", parsed=parsed),)
            mail = replace(mail, message_id=f"<{i}@x.vn>", attachments=files)
            store.record(mail, "maildir:/m", 0, f"k{i}")
        seen: list[str] = []
        store._db.set_trace_callback(seen.append)
        checks = store.checks(0.8)
        store._db.set_trace_callback(None)
    assert [c.parsed.confidence for c in checks] == [0.5, 0.5]
    assert all(c.parsed.entries == record().attachments[0].parsed.entries for c in checks)
    reads = [q for q in seen if "FROM entries" in q]
    assert reads and all("WHERE attachment IN" in q for q in reads)


def test_only_one_poller_at_a_time(tmp_path: Path) -> None:
    with Store(tmp_path / "s.sqlite3") as first, Store(tmp_path / "s.sqlite3") as second:
        with first.lock(), pytest.raises(LockedError, match="another mail-ingest"), second.lock():
            pass
        with second.lock():  # released when the first finished
            pass


def test_archive_is_content_addressed_and_idempotent(tmp_path: Path) -> None:
    archive = Archive(tmp_path / "archive")
    raw = b"From: a@example.vn\r\n\r\nbody"
    digest = archive.put(raw)
    assert digest == sha256(raw)
    assert archive.path(digest) == tmp_path / "archive" / digest[:2] / digest[2:4] / f"{digest}.eml"
    assert archive.put(raw) == digest
    assert archive.get(digest) == raw
    assert [p.name for p in (tmp_path / "archive").rglob("*") if p.is_file()] == [f"{digest}.eml"]


def test_copies_are_known_by_gmail_id_or_message_id_and_size(tmp_path: Path) -> None:
    with Store(tmp_path / "s.sqlite3") as store:
        gmail = replace(record("a" * 64), gm_msgid=1789, message_id=None)
        assert store.record(gmail, "imap:x/INBOX", 1, "1")
        # All Mail holds the same message with other bytes (a label header): same X-GM-MSGID.
        assert not store.record(replace(gmail, sha256="b" * 64), "imap:x/[Gmail]/All Mail", 1, "9")
        assert store.has_message(None, 0, 1789)
        plain = replace(record("c" * 64), message_id="<2@example.vn>", size=500)
        assert store.record(plain, "imap:x/INBOX", 1, "2")
        assert store.has_message("<2@example.vn>", 500, None)
        assert not store.has_message("<2@example.vn>", 501, None)  # same id, other content
        assert store.count("messages") == 2 and store.count("locations") == 3


def test_pending_actions_until_done(tmp_path: Path) -> None:
    with Store(tmp_path / "s.sqlite3") as store:
        store.record(record("a" * 64), "imap:x/INBOX", 7, "3", action_pending=True)
        store.record(record("b" * 64), "imap:x/INBOX", 7, "4", action_pending=False)
        assert store.pending_actions("imap:x/INBOX", 7) == [3]
        assert store.pending_actions("imap:x/INBOX", 8) == []  # another incarnation
        store.actions_done("imap:x/INBOX", 7, [3])
        assert store.pending_actions("imap:x/INBOX", 7) == []


def test_a_store_from_the_first_release_is_upgraded_in_place(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite3"
    old = sqlite3.connect(path)
    old.execute("CREATE TABLE schema_migrations (name TEXT PRIMARY KEY, applied_at TEXT)")
    name, script = MIGRATIONS[0]
    old.executescript(script)
    old.execute("INSERT INTO schema_migrations VALUES (?, '2024-01-01')", (name,))
    old.execute(
        "INSERT INTO messages (sha256, size, received_at, received_utc, outcome, recorded_at)"
        " VALUES ('a', 1, '2024-01-25T09:00:00+07:00', '2024-01-25T02:00:00+00:00',"
        " 'submission', '2024-01-25')"
    )
    old.commit()
    old.close()
    with Store(path) as store:
        assert store.migrations() == [name for name, _ in MIGRATIONS]
        assert store.count("messages") == 1
        assert store.messages()[0].outcome == "submission"
