"""What a server's BODYSTRUCTURE says about a message before its body is downloaded.

The preview decides whether a message is worth downloading whole (Gmail caps IMAP
downloads, and a board's box holds years of unrelated mail); when the structure is
unclear it says "a file", because a download costs less than a lost submission.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from itertools import islice
from typing import Any

from imapclient.response_types import BodyData

# Asked of every new message: enough to decide without downloading it.
PREVIEW_ITEMS = [b"RFC822.SIZE", b"INTERNALDATE", b"BODYSTRUCTURE", b"BODY.PEEK[HEADER]"]


def has_attachment(structure: BodyData | None) -> bool:
    """Whether BODYSTRUCTURE shows a file: when unsure, say yes (a download beats a loss)."""
    if structure is None:
        return True
    try:
        return any(_is_file(leaf) for leaf in _leaves(structure))
    except (IndexError, TypeError, ValueError):
        return True


def _leaves(structure: Sequence[Any]) -> Iterator[Sequence[Any]]:
    if isinstance(structure, BodyData) and structure.is_multipart:
        for part in structure[0]:
            yield from _leaves(part)
    else:
        yield structure


def _is_file(leaf: Sequence[Any]) -> bool:
    maintype = _str(leaf[0]).lower()
    if maintype in ("application", "message", "audio", "video", "model"):
        return True
    # The disposition is an extension field whose index depends on the type; look for it.
    return any(
        isinstance(field, tuple) and field and _str(field[0]).lower() == "attachment"
        for field in islice(leaf, 7, None)
    )


def _str(value: object) -> str:
    return value.decode("ascii", "replace") if isinstance(value, bytes) else str(value)
