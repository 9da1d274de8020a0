"""The bounds on what one stranger's message may make us decode, applied as it is parsed.

Decoding a header costs memory quadratic in its length (a 1 MB subject of encoded words
grew to 23 GB), and the parser costs time per MIME part. So each header field value is
cut as the parser reads it (`BoundedPolicy`), each part's fields and their total size are
cut before anything is decoded (`bound_parts`), and a message with more parts than a
unit's mail ever has is recognised on its bytes (`too_many_parts`), before parsing.
"""

from __future__ import annotations

import functools
import hashlib
import re
from email.headerregistry import HeaderRegistry
from email.message import Message
from email.policy import EmailPolicy
from typing import Any

# What one message may make us decode. A unit's mail has a few dozen fields of at most a
# few kilobytes (DKIM and ARC signatures, long References) and a few dozen parts.
MAX_FIELD_CHARS = 16 * 1024  # one header field's raw value
MAX_FIELDS = 500  # fields in one part's header
MAX_HEADER_CHARS = 256 * 1024  # one part's whole header
MAX_PARTS = 1000  # MIME parts, containers included
MAX_DEPTH = 30  # multiparts and forwarded messages inside one another
# Header objects kept per message (BoundedPolicy.fetched): a parsed value weighs ~200
# times its length (a 565-character Content-Type: 120 KB), so only short values are kept,
# and few: a unit's mail reads a few dozen. Others are parsed at each read, as before.
MAX_FETCHED = 64
MAX_FETCHED_CHARS = 512


class _Headers(HeaderRegistry):
    """The standard header classes, made once: the stdlib's registry makes a new class for
    every header it parses, cyclic garbage that piles up until a full collection."""

    def __getitem__(self, name: str) -> type:
        # Keyed by the class, never by the name: header names are strangers' text.
        return _header_class(self.registry.get(name.lower(), self.default_class), self.base_class)

    def __call__(self, name: str, value: str) -> Any:
        kind = self[name]
        if name.lower() in _READ_AS_TEXT and _canonical(value):
            return _Unparsed(kind, name, value)
        return kind(name, value)


# The MIME fields the parser and the walk read only as text: Message.get_content_type,
# get_param, get_filename and get_payload split str(header) themselves. Parsing them into
# header classes was a fifth of reading a message with a form, for nothing read.
_READ_AS_TEXT = frozenset({"content-type", "content-disposition", "content-transfer-encoding"})
_TYPE = re.compile(r"[!#$%&'*+\-.0-9A-Z^_`a-z|~]+(?:/[!#$%&'*+\-.0-9A-Z^_`a-z|~]+)?")
_PARAMETER = re.compile(r'; ([A-Za-z0-9._-]+)="([ !#-\[\]-~]+)"')


def _canonical(value: str) -> bool:
    """A value written as the header class would write it back: a type, then `; name="value"`
    of plain ASCII, each name once (as mail clients write them for a Latin file name). Its
    text is then what the class's parse would make of it; any other value is parsed."""
    head = _TYPE.match(value)
    if head is None or "=?" in value:
        return False
    names: set[str] = set()
    position = head.end()
    while position < len(value):
        parameter = _PARAMETER.match(value, position)
        if parameter is None or parameter.group(1).lower() in names:
            return False
        names.add(parameter.group(1).lower())
        position = parameter.end()
    return True


class _Unparsed(str):
    """A header whose text is its value, parsed by its class only if more is asked of it
    (its parameters, defects, or a fold to write it out)."""

    kind: type  # its header class
    name: str

    def __new__(cls, kind: type, name: str, value: str) -> _Unparsed:
        header = super().__new__(cls, value)
        header.kind, header.name = kind, name
        return header

    def __getattr__(self, attribute: str) -> Any:
        if attribute.startswith("_") or "kind" not in self.__dict__:
            raise AttributeError(attribute)
        parsed = self.__dict__.get("parsed")
        if parsed is None:
            parsed = self.__dict__["parsed"] = self.kind(self.name, str(self))
        return getattr(parsed, attribute)

    def __reduce__(self) -> tuple[type, tuple[str, str]]:
        return self.kind, (self.name, str(self))


@functools.cache
def _header_class(kind: type, base: type) -> type:
    return type("_" + kind.__name__, (kind, base), {})


HEADERS = _Headers()


class BoundedPolicy(EmailPolicy):
    """policy.default that cuts each header value as the parser reads it, before decoding.

    The parser itself decodes Content-Type to find boundaries, so the cut must happen
    here, not after parsing. Each parse gets its own `cut` list of the values it cut, and its
    own `fetched` cache of the header values it parsed.
    """

    cut: list[tuple[str, int, str]] | None = None  # (name, original length, kept value)
    # Header objects already made from a (name, raw value), when given a dict: the parser
    # and the walk read Content-Type and Content-Disposition some 30 times a message, and
    # policy.default parses the value again at every read. Header objects are immutable.
    fetched: dict[tuple[str, str], Any] | None = None

    def header_fetch_parse(self, name: str, value: Any) -> Any:
        fetched = self.fetched
        if fetched is None or not isinstance(value, str) or len(value) > MAX_FETCHED_CHARS:
            return super().header_fetch_parse(name, value)
        key = (name, value)
        header = fetched.get(key)
        if header is None:
            header = super().header_fetch_parse(name, value)
            if len(fetched) < MAX_FETCHED:
                fetched[key] = header
        return header

    def header_source_parse(self, sourcelines: list[str]) -> tuple[str, str]:
        name, value = super().header_source_parse(sourcelines)
        if len(value) > MAX_FIELD_CHARS:
            original = len(value)
            value = _cut(value, MAX_FIELD_CHARS)
            if self.cut is not None:
                self.cut.append((name, original, value))
        return name, value


def _cut(value: str, limit: int) -> str:
    """The value up to `limit` characters, at a fold or space so encoded words stay whole."""
    head = value[:limit]
    space = max(head.rfind(" "), head.rfind("\t"), head.rfind("\n"))
    return head[:space].rstrip() if space > limit // 2 else head


def header_block(raw: bytes) -> bytes:
    """The raw header, up to and including the empty line that ends it (IMAP BODY[HEADER])."""
    if raw.startswith((b"\r\n", b"\n")):  # no header at all
        return raw[: 2 if raw.startswith(b"\r\n") else 1]
    crlf = raw.find(b"\r\n\r\n")
    end = len(raw) if crlf < 0 else crlf + 4
    # An LF-only blank line counts only before the CRLF one: looked for that far, not
    # through a CRLF message's attachments, where there is none.
    lf = raw.find(b"\n\n", 0, end)
    return raw[: lf + 2] if lf >= 0 else raw[:end]


def header_digest(raw: bytes) -> str:
    """sha256 of the header block, line endings as LF (Maildir keeps LF, IMAP sends CRLF)."""
    return hashlib.sha256(header_block(raw).replace(b"\r\n", b"\n")).hexdigest()


_BOUNDARY_PARAM = re.compile(rb'boundary\s*=\s*"?([^"\r\n;]{1,200})', re.IGNORECASE)
_DELIMITER = re.compile(rb"^--([^\r\n]{1,200}?)(?:--)?[ \t]*\r?$", re.MULTILINE)


def too_many_parts(raw: bytes) -> str | None:
    """Counted on the bytes, before parsing: the parser costs time per part (50k: 12 s)."""
    # Every delimiter is a line starting "--": a message with few such lines (a unit's
    # mail) is passed in one count, not two regular expressions run over its attachments.
    if raw.count(b"\n--") + raw.startswith(b"--") <= MAX_PARTS + 1:
        return None
    boundaries = {m.group(1).strip() for m in _BOUNDARY_PARAM.finditer(raw)}
    if not boundaries:
        return None
    delimiters = sum(1 for m in _DELIMITER.finditer(raw) if m.group(1) in boundaries)
    if delimiters > MAX_PARTS + 1:
        return f"more than {MAX_PARTS} MIME parts"
    return None


def bound_parts(msg: Message, notes: list[str]) -> str | None:
    """Cut each part's header to MAX_FIELDS/MAX_HEADER_CHARS; a problem if the tree is too big.

    Iterative, so a deep tree cannot exhaust the stack here; nothing is decoded.
    """
    stack: list[tuple[Message, int]] = [(msg, 0)]
    parts = 0
    while stack:
        part, depth = stack.pop()
        parts += 1
        if parts > MAX_PARTS:
            return f"more than {MAX_PARTS} MIME parts"
        if depth > MAX_DEPTH:
            return f"more than {MAX_DEPTH} MIME levels nested"
        _bound_fields(part, notes)
        if part.is_multipart():
            children = part.get_payload()
            stack.extend((child, depth + 1) for child in children if isinstance(child, Message))
    return None


def _bound_fields(part: Message, notes: list[str]) -> None:
    fields = part._headers  # type: ignore[attr-defined]  # raw (name, value) pairs, undecoded
    kept: list[tuple[str, object]] = []
    total = 0
    for name, value in fields:
        total += len(name) + len(str(value))
        if len(kept) >= MAX_FIELDS or total > MAX_HEADER_CHARS:
            break
        kept.append((name, value))
    if len(kept) < len(fields):
        notes.append(f"header of {len(fields)} fields cut to {len(kept)}")
        part._headers = kept  # type: ignore[attr-defined]
