"""From one attachment to the rows stored for it: archives unpacked, old formats converted.

A .zip or winmail.dat becomes a row for itself (with its problems, if any) and one row
per file inside ("hồ sơ.zip/Mẫu 01.xlsx"), each read as if attached on its own. A .doc or
.xls is converted to .docx/.xlsx by LibreOffice when installed; the row keeps the unit's
file name and says it was converted. Without LibreOffice, or when it fails, the parsers
get the original: they read .xls themselves and mark a .doc for review.

A stranger chooses what is attached, so the work is bounded: a zip-based file is checked
for bombs before LibreOffice sees it, each file is parsed in a sandboxed child process
(mail_ingest.sandbox), and one message gets at most MAX_FILES files parsed, at most
MAX_CONVERSIONS conversions and MESSAGE_SECONDS in all. What is over a budget is kept
with a problem for the board and not read; the rest of the message is.
"""

from __future__ import annotations

import logging
import mimetypes
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import PurePath

import parsers
from mail_ingest import convert, mime, sandbox, sandboxed
from mail_ingest.archive import sha256
from mail_ingest.store import StoredAttachment
from parsers.bundle import Unpacked, expand
from parsers.model import ParsedFile, Problem
from parsers.vocabulary import NOTHING_TAUGHT, Taught

log = logging.getLogger(__name__)

CONVERTED = "chuyen_doi"  # the ParsedFile field that says the file was converted
# Per message. A unit sends a handful of forms, rarely more than ten; an archive of a
# commune's files may hold thirty. Old formats are converted by a LibreOffice run each
# (1 to 5 s): five cover a real mail, and 300 tiny .rtf files cost seconds, not minutes.
MAX_FILES = sandboxed.MAX_FILES
MAX_CONVERSIONS = 5
MESSAGE_SECONDS = 180.0


@dataclass
class Budget:
    """What one message may still cost."""

    files: int = field(default_factory=lambda: MAX_FILES)
    conversions: int = field(default_factory=lambda: MAX_CONVERSIONS)
    deadline: float = field(default_factory=lambda: time.monotonic() + MESSAGE_SECONDS)

    def remaining(self) -> float:
        return self.deadline - time.monotonic()


def read_attachments(
    attachments: Sequence[mime.Attachment],
    subject: str,
    specs: Sequence[parsers.FormSpec],
    taught: Taught = NOTHING_TAUGHT,
    ready: Sequence[ParsedFile | None] = (),
) -> tuple[StoredAttachment, ...]:
    """The rows of all of one message's attachments, within one Budget; never raises.

    `taught`: what the board taught the parsers (Store.taught), applied to every file.
    `ready`: aligned with `attachments`, files already parsed with the message's MIME
    (mail_ingest.sandboxed); they count against the budget as if parsed here. The files
    are unpacked, counted and converted in order, then the others are parsed side by
    side (sandbox.WORKERS at once): a message's forms in parallel."""
    budget = Budget()
    found = list(ready) if len(ready) == len(attachments) else [None] * len(attachments)
    planned = [
        row
        for a, parsed in zip(attachments, found, strict=True)
        for row in _plan_attachment(a, subject, specs, budget, taught, parsed)
    ]
    return _finish(planned, budget)


def read_attachment(
    attachment: mime.Attachment,
    subject: str,
    specs: Sequence[parsers.FormSpec],
    budget: Budget | None = None,
    taught: Taught = NOTHING_TAUGHT,
) -> tuple[StoredAttachment, ...]:
    """The attachment's row, then a row per file inside it; never raises.

    `budget`: shared by the attachments of one message (default: this one's own)."""
    budget = budget or Budget()
    return _finish(_plan_attachment(attachment, subject, specs, budget, taught), budget)


def parse(
    filename: str,
    data: bytes,
    subject: str,
    specs: Sequence[parsers.FormSpec],
    budget: Budget | None = None,
    taught: Taught = NOTHING_TAUGHT,
) -> ParsedFile:
    """parsers.parse_file in a sandbox, after converting an old Office format when
    LibreOffice can; within `budget`, or a problem saying what was not read."""
    budget = budget or Budget()
    return _resolve(_plan(filename, data, subject, specs, budget, taught), budget)


@dataclass(frozen=True)
class _Call:
    """A parse still to run in the sandbox; `converted_from` names the unit's own file
    when LibreOffice converted it first."""

    filename: str
    data: bytes
    subject: str
    specs: Sequence[parsers.FormSpec]
    taught: Taught
    converted_from: str | None = None


@dataclass(frozen=True)
class _Row:
    name: str
    content_type: str
    size: int
    digest: str
    parsed: ParsedFile | _Call


def _plan_attachment(
    attachment: mime.Attachment,
    subject: str,
    specs: Sequence[parsers.FormSpec],
    budget: Budget,
    taught: Taught,
    ready: ParsedFile | None = None,
) -> list[_Row]:
    if ready is not None:  # a plain file, parsed already: no archive, nothing to convert
        items: Sequence[Unpacked] = (Unpacked(attachment.filename, attachment.data),)
    else:
        try:
            items = expand(attachment.filename, attachment.data)
        except Exception:  # a bug of ours: read the attachment whole, the parser reports it
            log.exception("cannot unpack %r", attachment.filename)
            items = (Unpacked(attachment.filename, attachment.data),)
    rows: list[_Row] = []
    for position, item in enumerate(items):
        parsed = item.record or _plan(item.name, item.data, subject, specs, budget, taught, ready)
        content_type = attachment.content_type if position == 0 else _guess_type(item.name)
        rows.append(_Row(item.name, content_type, len(item.data), sha256(item.data), parsed))
    return rows


def _finish(rows: Sequence[_Row], budget: Budget) -> tuple[StoredAttachment, ...]:
    """Run the rows' parses, several at once when there are several, results in order."""
    calls = sum(isinstance(r.parsed, _Call) for r in rows)
    if calls > 1 and sandbox.WORKERS > 1:
        parsed = list(_pool().map(lambda r: _resolve(r.parsed, budget), rows))
    else:
        parsed = [_resolve(r.parsed, budget) for r in rows]
    return tuple(
        StoredAttachment(r.name, r.content_type, r.size, r.digest, p)
        for r, p in zip(rows, parsed, strict=True)
    )


_executor: ThreadPoolExecutor | None = None


def _pool() -> ThreadPoolExecutor:
    global _executor
    if _executor is None:
        _executor = ThreadPoolExecutor(sandbox.WORKERS, thread_name_prefix="parse")
    return _executor


def _plan(
    filename: str,
    data: bytes,
    subject: str,
    specs: Sequence[parsers.FormSpec],
    budget: Budget,
    taught: Taught,
    ready: ParsedFile | None = None,
) -> ParsedFile | _Call:
    """What reading the file takes, decided in the message's order: the budget counted,
    an old format converted; the parse itself is left to `_resolve` (`ready`: done)."""
    if budget.files <= 0 or budget.remaining() <= 0:
        return _over_budget(filename, f"hơn {MAX_FILES} tệp" if budget.files <= 0 else "")
    if ready is not None:
        budget.files -= 1
        return ready
    fmt = convert.target(filename, data)
    if fmt is not None:
        # Here, not at the top: a poll whose files are all parsed in the sandbox
        # (mail_ingest.sandboxed) loads neither python-docx nor openpyxl itself.
        from parsers.office import Unreadable, check_package
        from parsers.parse import READABLE, unreadable

        try:
            check_package(data)  # LibreOffice has no limits of its own on zip bombs
        except Unreadable as exc:
            return unreadable(filename, exc)
        if budget.conversions <= 0:
            return _over_budget(filename, f"hơn {MAX_CONVERSIONS} tệp cần chuyển đổi định dạng")
        budget.conversions -= 1
    budget.files -= 1
    if fmt is not None:
        wait = max(1.0, min(convert.TIMEOUT, budget.remaining()))
        converted = convert.convert(filename, data, fmt, timeout=wait)
        if converted.data is not None:
            return _Call(converted.filename, converted.data, subject, specs, taught, filename)
        log.warning("cannot convert %r to %s: %s", filename, fmt, converted.reason)
        if converted.limited and PurePath(filename).suffix.lower() not in READABLE:
            return _too_complex(filename)  # the parsers cannot read it either: say why
    return _Call(filename, data, subject, specs, taught)


def _resolve(plan: ParsedFile | _Call, budget: Budget) -> ParsedFile:
    if isinstance(plan, ParsedFile):
        return plan
    parsed = _parse(plan.filename, plan.data, plan.subject, plan.specs, budget, plan.taught)
    if plan.converted_from is not None:
        return _as_original(parsed, plan.converted_from, plan.filename)
    return parsed


def _as_original(parsed: ParsedFile, original: str, converted: str) -> ParsedFile:
    """Name the unit's own file everywhere, and record the conversion."""
    problems = tuple(
        replace(p, message=p.message.replace(f"'{converted}'", f"'{original}'"))
        for p in parsed.problems
    )
    note = f"Chuyển tự động từ '{original}' sang '{converted}' bằng LibreOffice để đọc"
    fields = {**parsed.fields, CONVERTED: note}
    return replace(parsed, filename=original, fields=fields, problems=problems)


def _parse(
    filename: str,
    data: bytes,
    subject: str,
    specs: Sequence[parsers.FormSpec],
    budget: Budget,
    taught: Taught = NOTHING_TAUGHT,
) -> ParsedFile:
    wait = min(sandbox.TIMEOUT, max(1.0, budget.remaining()))
    try:
        return sandbox.run(
            partial(parsers.parse_file, hint=subject),
            filename,
            data,
            shared=shared(specs, taught),
            timeout=wait,
        )
    except sandbox.Failed as failed:
        log.warning("parsing %r stopped: %s %s", filename, failed.why, failed.detail)
        if failed.why == "crash":  # parsers must not raise; if one does, the message lands
            return _problem(
                filename,
                "parser-error",
                f"Không đọc được tệp '{filename}' do lỗi của chương trình; "
                f"Ban Dân vận sẽ kiểm tra thủ công ({failed.detail.split(':')[0]})",
            )
        return _too_complex(filename)


def shared(specs: Sequence[parsers.FormSpec], taught: Taught) -> dict[str, object]:
    """The sandbox's shared arguments of every parse: the same for every file of a poll,
    so a worker keeps them, and what the parsers index per spec, between files. Nothing
    taught: parse_file's own default, as before lessons existed."""
    return {"specs": specs, "taught": taught if taught.headers or taught.values else None}


def _too_complex(filename: str) -> ParsedFile:
    return _problem(
        filename,
        "too-complex",
        f"Tệp '{filename}' cần quá nhiều bộ nhớ hoặc thời gian để đọc tự động; "
        "tệp đã được lưu, Ban Dân vận sẽ xem trực tiếp",
    )


def _over_budget(filename: str, why: str) -> ParsedFile:
    reason = f"thư có {why}" if why else "đã hết thời gian dành cho thư này"
    return _problem(
        filename,
        "over-budget",
        f"Tệp '{filename}' chưa được đọc tự động vì {reason}; "
        "tệp đã được lưu, Ban Dân vận sẽ xem trực tiếp",
    )


def _problem(filename: str, code: str, message: str) -> ParsedFile:
    return ParsedFile(filename=filename, form=None, problems=(Problem(code, message),))


def _guess_type(filename: str) -> str:
    return mimetypes.guess_type(filename.rsplit("/", 1)[-1])[0] or "application/octet-stream"
