"""The one adapter between the web page and the service: every read and action here.

Handlers call only these functions, each with the logged-in user's name as the actor,
so rewiring to the application layer (mail_ingest/app.py, issue 13) changes this file
alone. Until then they call what the CLI commands call (report, corrections, the
store); the few reads the store has no method for yet (a message's files, its archive
digest) are the marked `_store_*` helpers below, to move into the store or app.py.
"""

from __future__ import annotations

import json
import sqlite3
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from importlib import metadata
from typing import Any

import click

from mail_ingest import __version__, cli_doubt, corrections, decisions, mime, standing
from mail_ingest.app import open_store
from mail_ingest.archive import Archive, sha256
from mail_ingest.config import Config
from mail_ingest.errors import MailIngestError
from mail_ingest.store import (
    Attribution,
    AuditRow,
    FileCheck,
    LearnedAddress,
    ManualSubmission,
    MessageRow,
    OutboxItem,
    Store,
    StoredLesson,
)
from mail_ingest.store.records import PARSED_COLUMNS, parsed_file
from mail_ingest.web import accounts
from parsers.bundle import expand
from parsers.model import ParsedFile
from rules.status import UnitStatus

# How long an action waits for the store's write lock (a poll writing) before the page
# says "busy, try again" instead of hanging the browser for the store's own 30 s.
BUSY_MS = 8000


class NotFound(LookupError):
    """No such message, file or unit: the page answers 404."""


@contextmanager
def _store(config: Config) -> Iterator[Store]:
    with open_store(config) as store:
        store._db.execute(f"PRAGMA busy_timeout = {int(BUSY_MS)}")
        yield store


def busy(exc: BaseException) -> bool:
    """The store stayed locked by another writer (a poll) longer than BUSY_MS."""
    return isinstance(exc, sqlite3.OperationalError) and "locked" in str(exc)


# -- reading -------------------------------------------------------------------------


@dataclass(frozen=True)
class Overview:
    at: datetime
    statuses: list[UnitStatus]
    notes: standing.Notes
    held: int
    checks: int


def overview(config: Config, at: datetime) -> Overview:
    """Every unit against every requirement as of `at` (the engine of `status --now`)."""
    with _store(config) as store:
        statuses = standing.compute(config, store, at)
        return Overview(at, statuses, standing.notes(config, store), len(store.attributions()),
                        len(store.checks(config.check_below)))  # fmt: skip


@dataclass(frozen=True)
class UnitFile:
    id: int
    message: int
    size: int
    parsed: ParsedFile
    checked: bool


@dataclass(frozen=True)
class UnitHistory:
    messages: list[MessageRow]
    files: dict[int, list[UnitFile]]  # by message id
    marks: list[ManualSubmission]
    audit: list[AuditRow]


def unit_history(config: Config, unit_id: str) -> UnitHistory:
    if not any(u.id == unit_id for u in config.units):
        raise NotFound(unit_id)
    with _store(config) as store:
        messages = [m for m in store.messages() if m.unit_id == unit_id]
        files = {m.id: _store_files(store, m.id) for m in messages}
        marks = [s for s in store.manual_submissions(removed=True) if s.unit_id == unit_id]
        audit = [a for a in store.audit() if a.unit_id == unit_id]
    return UnitHistory(messages, files, marks, audit)


@dataclass(frozen=True)
class Review:
    held: list[Attribution]
    reasons: dict[int, str]
    checks: list[FileCheck]
    lessons: list[StoredLesson]
    learned: list[LearnedAddress]


def review(config: Config) -> Review:
    with _store(config) as store:
        held = store.attributions()
        reasons = {m.id: m.review_reason for m in store.messages() if m.review_reason}
        return Review(held, reasons, store.checks(config.check_below), store.lessons(),
                      store.learned_addresses())  # fmt: skip


def users(config: Config) -> list[accounts.User]:
    with _store(config) as store:
        return accounts.users(store)


def marks(config: Config) -> list[ManualSubmission]:
    with _store(config) as store:
        return store.manual_submissions(removed=True)


def report_rows(config: Config, at: datetime) -> list[dict[str, Any]]:
    """The consolidated list: every registered entry, as the workbook's second sheet."""
    rows: list[dict[str, Any]] = []
    for s in overview(config, at).statuses:
        for e in s.entries:
            rows.append({"unit": s.unit.name, "group": s.unit.group, "entry": e})
    rows.sort(key=lambda r: (r["entry"].field or "~", str(r["group"]), str(r["unit"])))
    return rows


def workbook(config: Config, at: datetime) -> tuple[str, bytes]:
    """The daily report's workbook as of `at` (its file name, its bytes)."""
    from mail_ingest.app import App

    return App(config).report_workbook(at)


def status_csv(config: Config, at: datetime) -> tuple[str, str]:
    data = overview(config, at)
    return f"tinh-hinh-{at:%Y-%m-%d}.csv", standing.as_csv(data.statuses, data.notes)


@dataclass(frozen=True)
class Outbox:
    items: list[OutboxItem]
    failing: dict[str, datetime]


def outbox(config: Config, limit: int = 200) -> Outbox:
    with _store(config) as store:
        return Outbox(store.outbox(limit), store.failing_addresses())


@dataclass(frozen=True)
class System:
    last_good: datetime | None
    last: tuple[datetime, datetime | None, str | None] | None
    polls: list[dict[str, Any]]
    problems: list[str]
    counts: dict[str, int]
    versions: dict[str, str]
    config_lines: list[str]


def system(config: Config, now: datetime) -> System:
    """What `health` and `check-config` say, and the latest polls."""
    with _store(config) as store:
        good, last = store.last_good_poll(), store.last_poll()
        attention = store.outbox_attention(now - timedelta(hours=6))
        polls = _store_polls(store)
        counts = {t: store.count(t) for t in ("messages", "attachments", "outbox", "audit")}
        held = len(store.attributions())
    limit = timedelta(minutes=3 * config.poll_minutes)
    problems = []
    if good is None:
        problems.append("Chưa có lần kiểm tra hộp thư nào thành công.")
    elif now - good > limit:
        problems.append("Đã quá lâu chưa kiểm tra được hộp thư.")
    if last is not None and last[2]:
        problems.append(f"Lần kiểm tra hộp thư gần nhất bị lỗi: {last[2]}")
    if attention:
        problems.append(f"{len(attention)} thư gửi đi cần người xem (trang Thư đi).")
    if held:
        problems.append(f"{held} thư chưa xác định được đơn vị gửi (trang Chờ xử lý).")
    groups = Counter(u.group for u in config.units)
    lines = [
        f"Tệp cấu hình: {config.path}",
        f"Múi giờ: {config.timezone.key}",
        f"Hộp thư: {config.mailbox.kind}",
        "Đơn vị: "
        + "; ".join(f"{decisions.GROUP_LABELS.get(g, g)}: {n}" for g, n in groups.items()),
        *(f"Yêu cầu {r.id}: {', '.join(r.forms)}, {r.schedule.phrase()}"
          for r in config.requirements),
    ]  # fmt: skip
    versions = {"mail-ingest": __version__}
    for package in ("flask", "waitress", "openpyxl", "python-docx"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = "?"
    return System(good, last, polls, problems, counts, versions, lines)


# -- downloads: by stored id only; the archive's own name is the content's digest -----


def raw_message(config: Config, message: int) -> tuple[str, bytes]:
    with _store(config) as store:
        digest = _store_digest(store, message)
    return f"thu-{message}.eml", Archive(config.storage / "archive").get(digest)


def attachment(config: Config, ident: int) -> tuple[str, bytes]:
    """The original bytes of a stored file, found again in its archived message by digest
    (a file inside a .zip is unpacked the way ingestion did)."""
    with _store(config) as store:
        row = store._db.execute(
            "SELECT message, filename, sha256 FROM attachments WHERE id = ?", (ident,)
        ).fetchone()
        if row is None:
            raise NotFound(str(ident))
        digest = _store_digest(store, row[0])
    raw = Archive(config.storage / "archive").get(digest)
    for part in mime.parse(raw).attachments:
        if sha256(part.data) == row[2]:
            return row[1], part.data
        for item in expand(part.filename, part.data):
            if sha256(item.data) == row[2]:
                return row[1], item.data
    raise NotFound(str(ident))


# -- acting: each with the user's name as the actor, audited as the CLI's -------------


def assign(
    config: Config, message: int, unit_id: str, *, remember: bool, actor: str, note: str = ""
) -> corrections.Assigned:
    with _store(config) as store:
        return corrections.assign(
            config, store, str(message), unit_id, remember=remember, by=actor, note=note
        )


def accept(config: Config, attachment_id: int, *, actor: str, note: str = "") -> bool:
    with _store(config) as store:
        try:
            return store.accept(attachment_id, actor, note)
        except KeyError:
            raise NotFound(str(attachment_id)) from None


class Refused(MailIngestError):
    """An action the CLI would refuse with a usage error (its message is English)."""


def teach(
    config: Config, kind: str, args: tuple[str, ...], form: str | None, *, actor: str,
    note: str = "",
) -> tuple[int, bool]:  # fmt: skip
    """A header or value lesson, checked by exactly what `mail-ingest teach` checks."""
    try:
        text, meaning, vocabulary = cli_doubt._lesson_args(config, kind, args, form)
    except click.ClickException as exc:
        raise Refused(exc.format_message()) from None
    with _store(config) as store:
        return store.teach(kind, text, meaning, vocabulary, form, actor, note)


def unteach(config: Config, ident: int, *, actor: str, note: str = "") -> bool:
    with _store(config) as store:
        return store.unteach(ident, actor, note)


def user_add(config: Config, name: str, role: str, password: str, *, actor: str) -> None:
    with _store(config) as store:
        accounts.add(store, name, role, password, actor)


def user_remove(config: Config, name: str, *, actor: str) -> None:
    with _store(config) as store:
        accounts.remove(store, name, actor)


def mark(
    config: Config, unit_id: str, requirement: str, received: datetime, *,
    forms: tuple[str, ...], via: str, note: str, actor: str,
) -> tuple[int, bool]:  # fmt: skip
    with _store(config) as store:
        return corrections.mark(config, store, unit_id, requirement, received,
                                forms=forms, via=via, note=note, by=actor)  # fmt: skip


def unmark(config: Config, unit_id: str, requirement: str, *, actor: str, note: str) -> list[int]:
    with _store(config) as store:
        return corrections.unmark(config, store, unit_id, requirement, forms=(), by=actor,
                                  note=note)  # fmt: skip


def outbox_retry(config: Config, key: str, *, actor: str) -> bool:
    with _store(config) as store:
        return store.outbox_retry(key)


def outbox_cancel(config: Config, key: str, *, actor: str) -> bool:
    with _store(config) as store:
        return store.outbox_cancel(key)


def clear_failing(config: Config, address: str, *, actor: str) -> bool:
    with _store(config) as store:
        return store.clear_failing(address)


# -- reads the store has no method for yet (to move into the store or app.py) ---------


def _store_digest(store: Store, message: int) -> str:
    row = store._db.execute(
        "SELECT sha256, headers_only FROM messages WHERE id = ?", (message,)
    ).fetchone()
    if row is None or row[1]:  # only its header was downloaded: no .eml kept
        raise NotFound(str(message))
    return str(row[0])


def _store_files(store: Store, message: int) -> list[UnitFile]:
    entries = store._entries()
    out = []
    for row in store._db.execute(
        f"SELECT a.message, a.size, {PARSED_COLUMNS} FROM attachments a WHERE a.message = ?"
        " ORDER BY a.position",
        (message,),
    ):
        out.append(UnitFile(row[2], row[0], row[1], parsed_file(row[2:], entries), bool(row[-1])))
    return out


def _store_polls(store: Store, limit: int = 10) -> list[dict[str, Any]]:
    store._db.row_factory = sqlite3.Row
    try:
        rows = store._db.execute(
            "SELECT started_at, finished_at, fetched, recorded, errors, downloaded, failure"
            " FROM polls ORDER BY id DESC LIMIT ?",
            (limit,),
        ).fetchall()
    finally:
        store._db.row_factory = None
    return [json.loads(json.dumps(dict(r))) for r in rows]
