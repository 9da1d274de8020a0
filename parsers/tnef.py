"""The files inside an Outlook winmail.dat (application/ms-tnef), read with tnefparse.

Outlook sends "Rich Text" mail as one winmail.dat that wraps the real attachments. Their
TNEF names are 8.3 short names ("MAU01~1.XLS"); the long name, when Outlook wrote it, is
a MAPI property. tnefparse loops over counts it reads from the file, so the property
counts are checked against the file's length before it sees the bytes.
"""

from __future__ import annotations

import logging
import struct
from collections.abc import Iterator
from dataclasses import dataclass

from tnefparse import TNEF
from tnefparse.properties import MAPI_ATTACH_LONG_FILENAME

SIGNATURE = struct.pack("<I", 0x223E9F78)
# Objects whose data starts with a count of MAPI properties or recipient rows.
COUNTED = {0x9003, 0x9004, 0x9005}  # attMAPIProps, attRecipTable, attAttachment
MAX_OBJECTS = 10_000

log = logging.getLogger(__name__)


class NotTnef(Exception):
    """The bytes are not a TNEF file tnefparse can safely read."""


@dataclass(frozen=True)
class TnefFile:
    name: str  # the long name when present, else the 8.3 name
    data: bytes


def is_tnef(data: bytes) -> bool:
    return data.startswith(SIGNATURE)


def files(data: bytes) -> tuple[TnefFile, ...]:
    """The attachments in a winmail.dat, in order; raises NotTnef."""
    if not is_tnef(data) or not _plausible(data):
        raise NotTnef("not a TNEF file, or its counts exceed its length")
    try:
        tnef = TNEF(data, do_checksum=False)
        found = tuple(
            TnefFile(_name(a, i), bytes(a.data))
            for i, a in enumerate(tnef.attachments, start=1)
            if isinstance(a.data, bytes | bytearray) and a.data
        )
    except Exception as exc:  # tnefparse raises struct.error, ValueError, UnicodeError, ...
        raise NotTnef(repr(exc)) from exc
    return found


def _plausible(data: bytes) -> bool:
    """Every counted object claims at most as many items as its bytes can hold."""
    for count, length, seen in _counts(data):
        if seen > MAX_OBJECTS or count > length // 4:
            return False
    return True


def _counts(data: bytes) -> Iterator[tuple[int, int, int]]:
    offset, seen = 6, 0
    while offset + 9 <= len(data):
        _level, name, _type, length = struct.unpack_from("<BHHI", data, offset)
        body = data[offset + 9 : offset + 9 + length]
        seen += 1
        if name in COUNTED:
            yield (struct.unpack_from("<I", body)[0] if len(body) >= 4 else 0), len(body), seen
        offset += 11 + length


def _name(attachment: object, index: int) -> str:
    try:
        long_names = [
            a.data
            for a in getattr(attachment, "mapi_attrs", ())
            if a.name == MAPI_ATTACH_LONG_FILENAME
        ]
        name = _text(long_names[0]) if long_names else _text(getattr(attachment, "name", ""))
    except Exception:  # an undecodable short name
        name = ""
    return name or f"tep-trong-winmail-{index}.bin"


def _text(value: object) -> str:
    if isinstance(value, list | tuple):
        value = value[0] if value else ""
    if isinstance(value, bytes):
        value = value.decode("cp1252", "replace")
    return str(value).strip("\x00").strip()
