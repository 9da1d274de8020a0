"""What the store holds, as the rest of the service reads it: plain frozen records."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from parsers.model import Entry, ParsedFile, Problem
from rules.match_model import Guess
from rules.status import Submission


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
        return Submission(self.ref, self.received_at, files, manual=True)


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


# The columns parsed_file reads, in its order (checked_at last: set means settled).
PARSED_COLUMNS = (
    "a.id, a.filename, a.form, a.fields, a.problems, a.confidence, a.inferred, a.taught,"
    " a.unknown, a.doubted, a.checked_at"
)


def loads(text: object, default: str = "[]") -> Any:
    """A JSON column's value; the empty list or object it mostly holds without the parser
    (a status reads ten of them per stored file, the entries one each). None: `default`."""
    text = default if text is None else str(text)
    if text == "[]":
        return []
    if text == "{}":
        return {}
    return json.loads(text)


def parsed_file(
    row: tuple[object, ...] | sqlite3.Row, entries: dict[int, list[Entry]]
) -> ParsedFile:
    """A stored reading; rows from before 0007 are certain, as they were then."""
    ident, filename, form, fields, problems, confidence, inferred, taught, unknown, doubted = row[
        :10
    ]
    return ParsedFile(
        filename=str(filename),
        form=form if isinstance(form, str) else None,
        fields=loads(fields, "{}"),
        entries=tuple(entries.get(int(str(ident)), ())),
        problems=tuple(Problem(**p) for p in loads(problems)),
        confidence=1.0 if confidence is None else float(str(confidence)),
        inferred=tuple(loads(inferred or "[]")),
        taught=tuple(loads(taught or "[]")),
        unknown=tuple(loads(unknown or "[]")),
        doubted=tuple(loads(doubted or "[]")),
    )
