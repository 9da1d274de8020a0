"""Reading a raw message: headers decoded, attachments found wherever they hide.

`email` with policy.default decodes RFC 2047 subjects and RFC 2231 file names. It
raises on some malformed headers only when they are read, so every header is read
through `_header`, which falls back to the undecoded text instead of failing the
message. Attachments inside a forwarded message (message/rfc822) count too: units
often forward a colleague's email.

Strangers write these bytes, so what is decoded is bounded before anything is decoded
(mail_ingest.mime_bounds): header values, fields and parts are cut to fixed caps as the
parser reads them, and a message with more MIME parts or deeper nesting than a unit's
mail ever has is not walked at all (its header still is).
"""

from __future__ import annotations

import contextlib
import dataclasses
import email
import email.policy
import mimetypes
import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from email import errors
from email.header import decode_header, make_header
from email.message import EmailMessage, Message
from email.parser import BytesParser
from email.utils import collapse_rfc2231_value

from mail_ingest import feedparser_fixes
from mail_ingest.errors import MessageError
from mail_ingest.mime_bounds import (
    HEADERS,
    MAX_DEPTH,
    BoundedPolicy,
    bound_parts,
    header_block,
    too_many_parts,
)
from mail_ingest.mime_bounds import MAX_FIELD_CHARS as MAX_FIELD_CHARS  # re-exported
from mail_ingest.mime_bounds import MAX_FIELDS as MAX_FIELDS
from mail_ingest.mime_bounds import MAX_HEADER_CHARS as MAX_HEADER_CHARS
from mail_ingest.mime_bounds import MAX_PARTS as MAX_PARTS
from mail_ingest.mime_bounds import header_digest as header_digest
from parsers.text import printable

feedparser_fixes.install()

MAX_MESSAGE_ID = 250
MAX_FILENAME = 255  # characters of an attachment's name


@dataclass(frozen=True)
class Attachment:
    filename: str
    content_type: str
    data: bytes


@dataclass(frozen=True)
class Mail:
    message_id: str | None
    sender: str | None
    subject: str | None
    headers: dict[str, str]  # lowercased name -> decoded value, first occurrence
    attachments: tuple[Attachment, ...]
    body: str  # the first text part, for auto-reply detection and (later) unit matching
    failed_recipients: tuple[str, ...] = ()  # from a delivery report (RFC 3464)
    # The From header's one addr-spec, parsed here; None when it holds none, several, or
    # one that is not a plain ASCII mailbox. Attribution and replies use only this.
    sender_address: str | None = None
    reported_ids: tuple[str, ...] = ()  # a delivery report: Message-IDs it is about
    notes: tuple[str, ...] = ()  # what was cut to stay within the caps (MAX_*)
    # Set when the structure is beyond MAX_PARTS/MAX_DEPTH: only the header was read.
    structure_error: str | None = None


def parse(raw: bytes) -> Mail:
    """Parse a raw message; raises MessageError when it is not an email at all."""
    if not raw.strip():
        raise MessageError("not an email message: it is empty")
    problem = too_many_parts(raw)
    if problem is None:
        try:
            return _parse(raw)
        except RecursionError:  # the parser recurses per nesting level
            problem = f"more than {MAX_DEPTH} MIME levels nested"
    mail = _parse(header_block(raw), walk=False)
    return replace_mail(mail, problem)


def parse_header(raw: bytes) -> Mail:
    """A message's header alone (IMAP BODY[HEADER]): what `parse` says of its fields, with
    no body to walk for files, text or a delivery report."""
    if not raw.strip():
        raise MessageError("not an email message: it is empty")
    return _parse(header_block(raw), walk=False)


def header_message_id(raw: bytes) -> str | None:
    """The Message-ID `parse_header` finds, read without building any field's header class:
    all the IMAP triage needs of a message it downloads anyway (one with a file)."""
    msg = BytesParser(policy=email.policy.compat32).parsebytes(header_block(raw), headersonly=True)
    return _message_id(msg)


def parse_or_reason(raw: bytes) -> Mail | str:
    """parse, with MessageError's reason as a value: what comes back from the sandbox."""
    try:
        return parse(raw)
    except MessageError as exc:
        return str(exc)


def replace_mail(mail: Mail, problem: str) -> Mail:
    """The header's Mail, marked as a structure not walked (no attachments, no body)."""
    return dataclasses.replace(
        mail,
        attachments=(),
        body="",
        failed_recipients=(),
        structure_error=f"message structure beyond the limits ({problem}); not read",
    )


def _parse(raw: bytes, *, walk: bool = True) -> Mail:
    cut: list[tuple[str, int, str]] = []
    policy = BoundedPolicy(cut=cut, fetched={}, header_factory=HEADERS)  # type: ignore[call-overload]
    # A header alone (walk=False) is parsed headers only: no search for the parts that its
    # Content-Type announces, which costs a regular expression compiled per boundary.
    msg = BytesParser(policy=policy).parsebytes(raw, headersonly=not walk)
    notes = [
        f"header {name} of {length} characters cut to {len(kept)}" for name, length, kept in cut
    ]
    problem = bound_parts(msg, notes)
    first: dict[str, str] = {}  # each name's first raw value, in one pass over the fields
    for name, value in msg.raw_items():
        first.setdefault(name, value)
    headers = {name.lower(): _field(msg, name, raw) for name, raw in first.items()}
    if not ({"from", "message-id", "subject", "date"} & headers.keys()):
        raise MessageError("not an email message: no From, Message-ID, Subject or Date header")
    from_cut = any(
        v is kept for k, v in msg.raw_items() for _, _, kept in cut if k.lower() == "from"
    )
    mail = Mail(
        message_id=_message_id(msg),
        sender=headers.get("from") or None,
        subject=headers.get("subject"),
        headers=headers,
        attachments=(),
        body="",
        sender_address=None if from_cut else sender_address(msg),
        notes=tuple(dict.fromkeys(notes)),
    )
    if problem is not None:
        return replace_mail(mail, problem)
    if not walk:
        return mail
    return dataclasses.replace(
        mail,
        attachments=tuple(_attachments(msg)),
        body=_body(msg),
        failed_recipients=_failed_recipients(msg),
        reported_ids=_reported_ids(msg),
    )


_MESSAGE_ID = re.compile(r"<[^<>@\s\x00-\x1f\x7f-\uffff]+@[^<>@\s\x00-\x1f\x7f-\uffff]+>")


def _message_id(msg: Message) -> str | None:
    """The Message-ID only if it is one sane msg-id: it names files and goes in In-Reply-To.

    Judged on the raw field: the header parser would pick one id out of several, or
    decode encoded words into one.
    """
    values = [str(v) for k, v in msg.raw_items() if k.lower() == "message-id"]
    value = " ".join(values[0].split()) if len(values) == 1 else ""
    if not value or len(value) > MAX_MESSAGE_ID or not _MESSAGE_ID.fullmatch(value):
        return None
    return value


_ADDR_SPEC = re.compile(r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")


def sender_address(msg: Message) -> str | None:
    """The single mailbox of the From header, as its structure says, not its decoded text.

    An encoded display name may spell "unit@gmail.com" or hold a list of addresses; only
    the header parser's addr-spec counts, and only when there is exactly one.
    """
    try:
        values = msg.get_all("From") or []
        if len(values) != 1:
            return None
        addresses = getattr(values[0], "addresses", None)
        if addresses is None or len(addresses) != 1:
            return None
        # "unit@x.vn <stranger@y>" parses as unit@x.vn, dropping the real address: a
        # From the parser had to repair is never answered nor attributed.
        defects = getattr(values[0], "defects", ())
        if any(isinstance(d, errors.InvalidHeaderDefect) for d in defects):
            return None
        spec = str(addresses[0].addr_spec)
    except Exception:  # a malformed header: policy.default raises on access
        return None
    return spec if len(spec) <= 254 and _ADDR_SPEC.fullmatch(spec) else None


def _failed_recipients(msg: Message) -> tuple[str, ...]:
    """The addresses a delivery report says could not be reached (Action: failed)."""
    found = []
    for part in msg.walk():
        if part.get_content_type() != "message/delivery-status":
            continue
        blocks = part.get_payload()
        for block in blocks[1:] if isinstance(blocks, list) else ():  # [0]: per-message
            if not isinstance(block, Message):
                continue
            action = _header(block, "Action").lower()
            recipient = _header(block, "Final-Recipient") or _header(block, "Original-Recipient")
            kind, _, address = recipient.partition(";")
            if action == "failed" and kind.strip().lower() == "rfc822" and "@" in address:
                found.append(address.strip().strip("<>").lower())
    return tuple(dict.fromkeys(found))


_REPORTED_ID = re.compile(r"<[^<>\s]{1,250}>")
MAX_REPORTED_IDS = 20  # a report is about one message; a few references are plenty
MAX_RETURNED_HEADERS = 65536  # bytes of a text/rfc822-headers part that are read


def _reported_ids(msg: Message) -> tuple[str, ...]:
    """The Message-IDs a delivery report is about: the returned message's (message/rfc822
    or text/rfc822-headers part) and the report's own In-Reply-To and References.

    A report counts only if one of them is a mail the service sent (store.record), so a
    stranger's forged bounce cannot mark a unit's address as failing.
    """
    parts = list(msg.walk())
    if not any(p.get_content_type() == "message/delivery-status" for p in parts):
        return ()
    found = []
    for part in parts:
        if part.get_content_type() == "message/rfc822":
            inner = part.get_payload()
            for returned in inner if isinstance(inner, list) else ():
                if isinstance(returned, Message):
                    found.append(_raw_value(returned, "Message-ID"))
        elif part.get_content_type() == "text/rfc822-headers":
            data = part.get_payload(decode=True)
            if isinstance(data, bytes):
                headers = email.message_from_bytes(
                    data[:MAX_RETURNED_HEADERS], policy=email.policy.compat32
                )
                found.append(_raw_value(headers, "Message-ID"))
    found += [_raw_value(msg, "In-Reply-To"), _raw_value(msg, "References")]
    ids = [i for value in found for i in _REPORTED_ID.findall(value[:MAX_RETURNED_HEADERS])]
    return tuple(dict.fromkeys(ids))[:MAX_REPORTED_IDS]


def _raw_value(msg: Message, name: str) -> str:
    """A header as it was written (msg-ids need no decoding), or ""."""
    return next((str(v) for k, v in msg.raw_items() if k.lower() == name.lower()), "")


def _header(msg: Message, name: str) -> str:
    try:
        value = msg.get(name)
        return _clean(str(value)) if value is not None else ""
    except Exception:  # malformed header: policy.default raises on access
        raw = next((v for k, v in msg.raw_items() if k.lower() == name.lower()), "")
        return _decoded(str(raw))


# Fields read through policy.default's header classes; the others are only looked up by
# name and value (rules for robots), and their classes (addresses, dates, parameters)
# cost a tenth of a millisecond each to build: RFC 2047 decoding alone does for them.
_STRUCTURED = frozenset({"from", "subject"})


def _field(msg: Message, name: str, raw: str) -> str:
    """A header field's decoded text (`raw`: as written), parsed whole only where its
    structure is read."""
    if name.lower() in _STRUCTURED:
        return _header(msg, name)
    return _decoded(str(raw))


def _decoded(raw: str) -> str:
    if "=?" in raw:
        with contextlib.suppress(Exception):  # undecodable encoded words stay as they are
            raw = str(make_header(decode_header(raw)))
    return _clean(raw)


def _clean(text: str) -> str:
    """Printable (no terminal escape, BEL or bidi override), NFC, whitespace collapsed.

    NFC because Mac clients send decomposed Vietnamese.
    """
    return unicodedata.normalize("NFC", " ".join(printable(text).split()))


def _attachments(msg: Message) -> Iterator[Attachment]:
    for index, part in enumerate(_leaves(msg), start=1):
        filename = _filename(part)
        if not filename and _is_part_of_body(part):
            continue
        data = part.get_payload(decode=True)
        if not isinstance(data, bytes):
            data = b""
        content_type = part.get_content_type()
        yield Attachment(
            filename=filename or _invented_name(index, content_type),
            content_type=content_type,
            data=data,
        )


def _is_part_of_body(part: Message) -> bool:
    """Text bodies and inline or related images (logos, signatures) are not attachments."""
    if part.get_content_disposition() == "attachment":
        return False
    return (
        part.get_content_maintype() == "text"
        or part.get_content_disposition() == "inline"
        or part.get("Content-ID") is not None
    )


def _leaves(msg: Message) -> Iterator[Message]:
    """Every non-container part, descending into multiparts and forwarded messages."""
    for part in msg.walk():
        if not part.is_multipart():
            yield part


def _filename(part: Message) -> str:
    try:
        name = part.get_filename()
    except Exception:  # an undecodable RFC 2231 name: keep the raw parameter
        param = part.get_param("filename", header="content-disposition") or part.get_param("name")
        name = collapse_rfc2231_value(param) if param else None
    return _short(_clean(str(name)).replace("/", "_").replace("\\", "_")) if name else ""


def _short(name: str, limit: int = MAX_FILENAME) -> str:
    """A file name within `limit` characters, its extension kept (it decides the parser)."""
    if len(name) <= limit:
        return name
    stem, dot, extension = name.rpartition(".")
    if not dot or len(extension) > 16:
        return name[:limit]
    return f"{stem[: limit - len(extension) - 2]}….{extension}"


def _invented_name(index: int, content_type: str) -> str:
    extension = mimetypes.guess_extension(content_type) or ".bin"
    return f"tep-dinh-kem-{index}{extension}"


def _body(msg: Message) -> str:
    if not isinstance(msg, EmailMessage):
        return ""
    part = msg.get_body(preferencelist=("plain", "html"))
    if part is None:
        return ""
    try:
        content = part.get_content()
    except (LookupError, UnicodeError):  # unknown or misspelt charset (x-vni, uft-8)
        payload = part.get_payload(decode=True)
        content = payload.decode("utf-8", "replace") if isinstance(payload, bytes) else ""
    return unicodedata.normalize("NFC", content) if isinstance(content, str) else ""
