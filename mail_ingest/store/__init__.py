"""Everything the service knows, in one SQLite file that is upgraded in place for years.

Schema changes are named migrations (`migrations`) applied in order and recorded, never
edits of an old one, so a board's database never needs deleting. A message is
recorded in one transaction together with its mailbox position: a crash leaves it
unrecorded, and the next poll processes it again. Messages are keyed by the sha256 of
their raw bytes, so recording the same message twice changes nothing.

`Store` is one object to its users; each concern is a mixin over one connection
(`database`): messages and polls, the outbox, review and corrections, file checks and
lessons. The records they return are in `records`.
"""

from mail_ingest.store.database import Database
from mail_ingest.store.lessons import Lessons, as_taught
from mail_ingest.store.messages import MAX_REPORTED, Messages
from mail_ingest.store.migrations import MIGRATIONS
from mail_ingest.store.outbox import MAX_KEY, Outbox, outbox_key
from mail_ingest.store.records import (
    Attribution,
    AuditRow,
    FileCheck,
    LearnedAddress,
    ManualSubmission,
    MessageRecord,
    MessageRow,
    OutboxItem,
    StoredAttachment,
    StoredLesson,
)
from mail_ingest.store.review import Review


class Store(Messages, Outbox, Review, Lessons, Database):
    """The service's SQLite file: open it once, use it from one thread, close it."""


__all__ = [
    "MAX_KEY",
    "MAX_REPORTED",
    "MIGRATIONS",
    "Attribution",
    "AuditRow",
    "FileCheck",
    "LearnedAddress",
    "ManualSubmission",
    "MessageRecord",
    "MessageRow",
    "OutboxItem",
    "Store",
    "StoredAttachment",
    "StoredLesson",
    "as_taught",
    "outbox_key",
]
