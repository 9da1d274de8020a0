"""One message read in one sandbox call: its MIME structure, then its plain files.

A poll's work is mostly this, and done as one call it costs one round trip a message:
the files' bytes are not sent back out to a worker to be parsed, and each message is one
piece of work for whichever worker is free. Only files read as sent are parsed here (no
archive to unpack, no old format for LibreOffice): the service does the rest as before,
and applies its per-message budget to what comes back (mail_ingest.attachments).

If the call fails (a file or a structure that exhausts memory or time, or crashes the
worker), the service reads the message again piece by piece, so that the failure is
recorded against the part that caused it and not against the whole message.
"""

from __future__ import annotations

from collections.abc import Sequence

import parsers
from mail_ingest import convert, mime
from parsers.bundle import is_archive
from parsers.model import ParsedFile
from parsers.vocabulary import Taught

MAX_FILES = 40  # a message's files parsed at most (mail_ingest.attachments' budget too)

Read = tuple[mime.Mail | str, tuple[ParsedFile | None, ...]]


def read(raw: bytes, *, specs: Sequence[parsers.FormSpec], taught: Taught | None) -> Read:
    """The message and, aligned with its attachments, each plain file parsed (else None).

    `specs` and `taught` come as the sandbox's shared arguments, the same as a file's
    parse in mail_ingest.attachments gets, so a worker keeps one copy for both."""
    mail = mime.parse_or_reason(raw)
    if isinstance(mail, str) or mail.structure_error is not None:
        return mail, ()
    subject = mail.subject or ""
    return mail, tuple(
        parsers.parse_file(a.filename, a.data, specs, subject, taught)
        if n < MAX_FILES and plain(a.filename, a.data)
        else None
        for n, a in enumerate(mail.attachments)
    )


def plain(filename: str, data: bytes) -> bool:
    """A file the parsers read as it was sent: no archive, nothing to convert first."""
    return not is_archive(filename, data) and convert.target(filename, data) is None
