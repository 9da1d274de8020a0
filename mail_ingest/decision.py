"""A decision: one mail that is due, said as data before anything is rendered.

decisions.py makes them (pure: reads the store, writes nothing); sending.py acts on
them. Kept apart so a preview, the web page and the tests can hold one without the
machinery of either.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from mail_ingest import standing
from rules.status import UnitStatus

Kind = Literal["ack", "remind", "report"]
KINDS: tuple[Kind, ...] = ("ack", "remind", "report")
PROVISIONAL = "ack-provisional"  # the key prefix and templates of notices to a unit about
# mail a stranger sent in its name


@dataclass(frozen=True)
class Sheet:
    """What the report's workbook is built from (built only when the report is rendered)."""

    statuses: tuple[UnitStatus, ...]
    now: datetime
    held: tuple[Mapping[str, str], ...]
    notes: standing.Notes | None
    checks: tuple[Mapping[str, str], ...]
    unknown: tuple[tuple[str, int], ...]


@dataclass(frozen=True)
class Decision:
    """One mail that is due: who gets it, why, and what it will be built from.

    `context` is the template's context as it is (render.Templates); nothing is rendered
    until `render`, so a decision whose key was sent costs no template and no workbook.
    """

    kind: str  # ack | ack-provisional | remind | report
    key: str  # the outbox's idempotency key
    to: tuple[str, ...]
    template: str  # ack | ack-provisional | reminder | report
    context: Mapping[str, Any] = field(default_factory=dict, repr=False)
    cc: tuple[str, ...] = ()
    unit: str | None = None  # the unit's id, for an acknowledgement or a reminder
    requirement: str | None = None  # the requirement's id, for a reminder
    auto: Literal["auto-replied", "auto-generated"] = "auto-generated"
    in_reply_to: str | None = None
    references: tuple[str, ...] = ()  # the unit's thread, for an acknowledgement
    sheet: Sheet | None = field(default=None, repr=False)  # the report's workbook
    sheet_name: str | None = None
