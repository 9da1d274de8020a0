"""What the board has taught the parsers: header wordings and values they did not know.

The board settles a doubtful file once ("this header means the kind column", "this value
means the economy field"); every later file of the district is read with it. The store
keeps the lessons (with the audit trail); the parsers receive them as this plain record,
so they stay free of I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Lesson:
    id: str  # the store's id, shown by `mail-ingest parse` when the lesson was used
    text: str  # the header or value as units write it (matched folded)
    meaning: str  # a column key ("kind", "field", ...) or a vocabulary id ("kinh-te", ...)
    form: str | None = None  # only for this form, or for every form


@dataclass(frozen=True)
class Taught:
    headers: tuple[Lesson, ...] = ()  # header text -> column key
    values: Mapping[str, tuple[Lesson, ...]] = field(default_factory=dict)  # vocab -> lessons


NOTHING_TAUGHT = Taught()
