"""Where messages come from: one small interface, a Maildir and an IMAP implementation.

A source yields every message it has not delivered before, with the time the
board's server received it (never the sender's Date header). It never changes the
mailbox: no flags, no moves, no deletions.
"""

from __future__ import annotations

import mailbox as std_mailbox
import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path
from typing import Literal, Protocol

from mail_ingest.mime import Mail, header_message_id, parse_header


@dataclass(frozen=True)
class FetchedMessage:
    """One raw message and where it sits in its mailbox."""

    source: str  # stable id of mailbox and folder, e.g. "maildir:/srv/mail" or "imap:u@h/INBOX"
    uidvalidity: int  # IMAP UIDVALIDITY; 0 for a Maildir
    uid: str  # IMAP UID, or the Maildir key
    received_at: datetime  # aware: the server's receipt time
    raw: bytes  # the whole message, or only its header when `partial` says why
    size: int = -1  # the whole message's size, as the server reports it
    partial: Partial | None = None
    gm_msgid: int | None = None  # Gmail's X-GM-MSGID, the same in every label
    header: Mail | None = None  # `raw` already parsed, when only the header was downloaded

    def __post_init__(self) -> None:
        if self.size < 0:
            object.__setattr__(self, "size", len(self.raw))


# Why only the header was downloaded: not worth downloading (see pipeline.wanted),
# over mailbox.max_message_bytes, or a copy of a message recorded already.
# Why only the header was downloaded; "ours": a mail this service sent (recorded as ignored).
Partial = Literal["not-candidate", "too-large", "copy", "ours"]


@dataclass(frozen=True)
class Preview:
    """What a server tells about a message before its body is downloaded: its header read
    only as far as the question asked needs."""

    header: bytes  # IMAP BODY[HEADER]
    size: int
    has_attachment: bool  # a file part (application/*, message/*, or disposition attachment)

    @cached_property
    def message_id(self) -> str | None:
        if not self.has_attachment:  # judged by its sender or subject: its fields are read
            return self.mail.message_id if self.mail else None
        try:  # downloaded whoever sent it: its Message-ID alone, no field decoded
            return header_message_id(self.header)
        except Exception:  # the email package has surprises for hostile input
            return None

    @cached_property
    def mail(self) -> Mail | None:
        """The header's fields (no attachments, no body); None when only the whole message's
        parse can say what is wrong with it."""
        try:
            return parse_header(self.header)  # bounded: a hostile header costs as a normal one
        except Exception:
            return None


class Checkpoint(Protocol):
    """What a source asks the store so it fetches only what is new."""

    def last_uid(self, source: str, uidvalidity: int) -> int:
        """Highest IMAP UID fully recorded for this folder incarnation (0 if none)."""
        ...

    def is_known(self, source: str, uidvalidity: int, uid: str) -> bool:
        """Whether the message at this position was already recorded."""
        ...

    def has_message(
        self,
        message_id: str | None,
        size: int,
        gm_msgid: int | None,
        header_sha256: str | None = None,
    ) -> bool:
        """Whether a copy of this message was recorded from any position."""
        ...

    def pending_actions(self, source: str, uidvalidity: int) -> list[int]:
        """UIDs recorded but still waiting for the after-processing action."""
        ...

    def actions_done(self, source: str, uidvalidity: int, uids: list[int]) -> None: ...


class Source(Protocol):
    acts: bool  # whether recorded submissions get an after-processing action
    downloaded: int  # bytes downloaded so far
    planned: int | None  # messages this poll will yield, once known

    def fetch_new(self, checkpoint: Checkpoint) -> Iterator[FetchedMessage]: ...

    def close(self) -> None: ...


class MaildirSource:
    """A Maildir as Dovecot, Postfix or the demo writes it; read-only.

    Keys are stable for a message's lifetime, so (source, 0, key) is its position.
    The delivery time is the file's mtime, as Dovecot keeps it (it sets the mtime to
    the INTERNALDATE on APPEND); Python's MaildirMessage.get_date() reads the same.
    """

    def __init__(self, path: Path, max_message_bytes: int = 40 * 1024 * 1024) -> None:
        if not (path / "cur").is_dir() or not (path / "new").is_dir():
            from mail_ingest.errors import ConfigError

            raise ConfigError(f"mailbox.path: {str(path)!r} is not a Maildir (no cur/ and new/)")
        self.path = path
        self.source = f"maildir:{path.resolve()}"
        self.max_message_bytes = max_message_bytes
        self.acts = False
        self.downloaded = 0
        self.planned: int | None = None
        self._box = std_mailbox.Maildir(path, factory=None, create=False)

    def fetch_new(self, checkpoint: Checkpoint) -> Iterator[FetchedMessage]:
        keys = sorted(self._box.keys(), key=self._delivery_order)
        self.planned = sum(not checkpoint.is_known(self.source, 0, key) for key in keys)
        for key in keys:
            if checkpoint.is_known(self.source, 0, key):
                continue
            try:
                fetched = self._read(key)
            except (KeyError, FileNotFoundError):
                continue  # moved or deleted by another reader since keys(): next poll sees it
            self.downloaded += len(fetched.raw)
            yield fetched

    def _read(self, key: str) -> FetchedMessage:
        """The message, or only its header when it is over max_message_bytes (like IMAP)."""
        path = self._file(key)
        stat = os.stat(path)
        received = datetime.fromtimestamp(stat.st_mtime, UTC)
        if stat.st_size <= self.max_message_bytes:
            with open(path, "rb") as handle:
                raw = handle.read()
            return FetchedMessage(self.source, 0, key, received, raw, size=len(raw))
        header = read_header(path)
        return FetchedMessage(
            self.source, 0, key, received, header, size=stat.st_size, partial="too-large"
        )

    def _file(self, key: str) -> str:
        # Maildir._lookup is the only way to map a key to its file (cur/ or new/). A str:
        # Python 3.11's pathlib would intern every message's file name for good.
        return os.path.join(self.path, self._box._lookup(key))  # type: ignore[attr-defined]

    def _mtime(self, key: str) -> float:
        return os.stat(self._file(key)).st_mtime

    def _delivery_order(self, key: str) -> tuple[float, str]:
        try:
            return (self._mtime(key), key)
        except (KeyError, FileNotFoundError):
            return (0.0, key)

    def close(self) -> None:
        self._box.close()


MAX_HEADER_BYTES = 1024 * 1024  # read of a too-large message's header; mime cuts it further


def read_header(path: str | Path, limit: int = MAX_HEADER_BYTES) -> bytes:
    """The header block of a message file, read line by line up to `limit` bytes."""
    lines: list[bytes] = []
    total = 0
    with open(path, "rb") as handle:
        while total < limit:
            line = handle.readline(limit - total)  # bounded: one line may be megabytes
            lines.append(line)
            total += len(line)
            if line in (b"", b"\n", b"\r\n"):
                break
    return b"".join(lines)
