"""Keeping a unit's thread: the References an answer to its mail carries.

The unit's own References are read from the archived header (the store keeps only the
Message-ID), bounded as RFC 5322 suggests trimming: the first id and the last ten, so
a long back-and-forth never grows a header without end.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Collection
from email.message import Message
from email.parser import BytesHeaderParser
from email.policy import compat32

from mail_ingest.archive import Archive
from mail_ingest.store import Store

log = logging.getLogger(__name__)

MSG_ID = re.compile(r"<[!-;=?-~]{1,200}@[!-;=?-~]{1,200}>")
KEEP_LAST = 10
HEADER_BYTES = 256 * 1024  # a header block larger than this is a stranger's, not a thread


def chain(references: str, message_id: str | None) -> tuple[str, ...]:
    """The ids of `references` then `message_id`, well-formed only, without repeats,
    bounded to the first and the last KEEP_LAST."""
    ids = list(dict.fromkeys([*MSG_ID.findall(references[:HEADER_BYTES]),
                              *MSG_ID.findall(message_id or "")]))  # fmt: skip
    if len(ids) > KEEP_LAST + 1:
        ids = [ids[0], *ids[-KEEP_LAST:]]
    return tuple(ids)


def references(
    store: Store, archive: Archive, message: int, message_id: str | None
) -> tuple[str, ...]:
    """The References of an answer to stored message `message`; on any trouble reading
    the archive, the message's own id alone (the answer still goes)."""
    header = _header(store, archive, message)
    value = " ".join(str(v) for v in header.get_all("References", [])) if header else ""
    return chain(value, message_id)


def answers_us(store: Store, archive: Archive, message: int, own: Collection[str]) -> bool:
    """Whether stored message `message` replies to a mail we sent (its In-Reply-To or
    References names one of `own`, our Message-IDs)."""
    header = _header(store, archive, message)
    if header is None or not own:
        return False
    named = " ".join(str(v) for k in ("In-Reply-To", "References") for v in header.get_all(k, []))
    return any(i in own for i in MSG_ID.findall(named[:HEADER_BYTES]))


def _header(store: Store, archive: Archive, message: int) -> Message | None:
    """The archived header block of a stored message, read no further than HEADER_BYTES."""
    try:
        digest = store.message_digest(message)
        if digest is None:
            return None
        with open(archive.path(digest), "rb") as handle:
            head = handle.read(HEADER_BYTES)
        block = head.split(b"\r\n\r\n", 1)[0].split(b"\n\n", 1)[0]
        return BytesHeaderParser(policy=compat32).parsebytes(block)
    except (OSError, ValueError):
        log.warning("message %s: cannot read its header from the archive", message)
        return None
