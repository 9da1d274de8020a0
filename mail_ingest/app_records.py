"""What the application layer returns: plain records a face prints or renders."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from mail_ingest.store import (
    Attribution,
    AuditRow,
    FileCheck,
    LearnedAddress,
    ManualSubmission,
    MessageRow,
    OutboxItem,
)

if TYPE_CHECKING:
    from mail_ingest.decisions import Decision
    from parsers.model import ParsedFile
    from rules.status import UnitStatus


@dataclass(frozen=True)
class Pending:
    """A decision and whether its key is already in the outbox."""

    decision: Decision
    sent: bool


@dataclass(frozen=True)
class Standing:
    """Where every unit stands as of `now`, with the notes beside the statuses."""

    now: datetime
    statuses: list[UnitStatus]
    notes: dict[str, str]
    held: int  # messages waiting for the board to say which unit sent them


@dataclass(frozen=True)
class Review:
    held: list[Attribution]
    reasons: dict[int, str]  # why a message with a unit found was held anyway
    checks: list[FileCheck]  # files whose reading the board should check
    learned: list[LearnedAddress]


@dataclass(frozen=True)
class Outbox:
    items: list[OutboxItem]
    failing: dict[str, datetime]  # bounced address -> since


@dataclass(frozen=True)
class Health:
    ok: bool
    last_good_poll: datetime | None
    last_failure: tuple[datetime, str] | None  # the latest poll, if it failed, and why
    problems: tuple[str, ...]  # one line each, for a person
    attention: tuple[OutboxItem, ...]  # failed, interrupted or long-stuck mail


class NotFound(LookupError):
    """No such message, file or unit."""


@dataclass(frozen=True)
class StoredFile:
    id: int  # the attachment's id: downloads and `accept` take it
    message: int
    size: int
    parsed: ParsedFile
    checked: bool


@dataclass(frozen=True)
class UnitHistory:
    messages: list[MessageRow]
    files: dict[int, list[StoredFile]]  # by message id
    marks: list[ManualSubmission]
    audit: list[AuditRow]
