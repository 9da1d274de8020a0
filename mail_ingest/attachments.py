"""From one attachment to the rows stored for it: archives unpacked, old formats converted.

A .zip or winmail.dat becomes a row for itself (with its problems, if any) and one row
per file inside ("hồ sơ.zip/Mẫu 01.xlsx"), each read as if attached on its own. A .doc or
.xls is converted to .docx/.xlsx by LibreOffice when installed; the row keeps the unit's
file name and says it was converted. Without LibreOffice, or when it fails, the parsers
get the original: they read .xls themselves and mark a .doc for review.
"""

from __future__ import annotations

import logging
import mimetypes
from collections.abc import Sequence
from dataclasses import replace

import parsers
from mail_ingest import convert, mime
from mail_ingest.archive import sha256
from mail_ingest.store import StoredAttachment
from parsers.bundle import Unpacked, expand
from parsers.model import ParsedFile, Problem

log = logging.getLogger(__name__)

CONVERTED = "chuyen_doi"  # the ParsedFile field that says the file was converted


def read_attachment(
    attachment: mime.Attachment, subject: str, specs: Sequence[parsers.FormSpec]
) -> tuple[StoredAttachment, ...]:
    """The attachment's row, then a row per file inside it; never raises."""
    try:
        items = expand(attachment.filename, attachment.data)
    except Exception:  # a bug of ours: read the attachment whole, the parser reports it
        log.exception("cannot unpack %r", attachment.filename)
        items = (Unpacked(attachment.filename, attachment.data),)
    rows: list[StoredAttachment] = []
    for position, item in enumerate(items):
        parsed = item.record or parse(item.name, item.data, subject, specs)
        content_type = attachment.content_type if position == 0 else _guess_type(item.name)
        rows.append(
            StoredAttachment(item.name, content_type, len(item.data), sha256(item.data), parsed)
        )
    return tuple(rows)


def parse(
    filename: str, data: bytes, subject: str, specs: Sequence[parsers.FormSpec]
) -> ParsedFile:
    """parsers.parse_file, after converting an old Office format when LibreOffice can."""
    fmt = convert.target(filename, data)
    if fmt is not None:
        converted = convert.convert(filename, data, fmt)
        if converted.data is not None:
            parsed = _parse(converted.filename, converted.data, subject, specs)
            return _as_original(parsed, filename, converted.filename)
        log.warning("cannot convert %r to %s: %s", filename, fmt, converted.reason)
    return _parse(filename, data, subject, specs)


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
    filename: str, data: bytes, subject: str, specs: Sequence[parsers.FormSpec]
) -> ParsedFile:
    try:
        return parsers.parse_file(filename, data, specs, hint=subject)
    except Exception as exc:  # parsers must not raise; if one does, the message still lands
        log.exception("parser failed on %r", filename)
        return ParsedFile(
            filename=filename,
            form=None,
            problems=(
                Problem(
                    "parser-error",
                    f"Không đọc được tệp '{filename}' do lỗi của chương trình; "
                    f"Ban Dân vận sẽ kiểm tra thủ công ({type(exc).__name__})",
                ),
            ),
        )


def _guess_type(filename: str) -> str:
    return mimetypes.guess_type(filename.rsplit("/", 1)[-1])[0] or "application/octet-stream"
