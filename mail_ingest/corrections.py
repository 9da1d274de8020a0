"""What the board decides by hand: settling the review queue, recording paper and Zalo.

Mail from a personal address that names its unit only vaguely is held, not guessed
into a unit's status; `assign` settles it. Units also hand in paper copies or send
their forms over Zalo; `mark` records those so the status counts them like mail.
Every change is kept in the store's audit table (who, when, why) and shown beside
the status, so a leader reading "Đúng hạn" can tell that a person decided it.
"""

from __future__ import annotations

import getpass
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from mail_ingest import wording
from mail_ingest.config import Config
from mail_ingest.errors import CorrectionError
from mail_ingest.outcomes import ASSIGNABLE
from mail_ingest.store import Attribution, Store
from rules.requirements import Requirement
from rules.units import UnitDirectory, address_key


@dataclass(frozen=True)
class Assigned:
    message: Attribution  # as it was before
    changed: bool  # False: it was already assigned to that unit
    learned: str | None  # the address learned, if it is new
    also_held: tuple[Attribution, ...]  # other held mail from the same address


def who(by: str | None) -> str:
    """`--by`, else the OS user: the audit must always say who."""
    if by and by.strip():
        return by.strip()
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry in some containers
        return "unknown"


def assign(
    config: Config, store: Store, ref: str, unit_id: str, *, remember: bool, by: str, note: str
) -> Assigned:
    """Make a held (or wrongly attributed) message a submission of `unit_id`; idempotent."""
    if not any(u.id == unit_id for u in config.units):
        raise CorrectionError(f"no unit {unit_id!r} in the config")
    found = store.attributions(ref)
    if not found:
        raise CorrectionError(f"no recorded message {ref!r} (see `mail-ingest review`)")
    if len(found) > 1:
        ids = ", ".join(str(m.id) for m in found)
        raise CorrectionError(f"{ref!r} names several messages ({ids}); give the number")
    message = found[0]
    if message.outcome not in ASSIGNABLE:
        raise CorrectionError(
            f"message {message.id} is {message.outcome}: it has no forms to count "
            "(record what the unit sent with `mail-ingest mark` instead)"
        )
    # Only the From's parsed addr-spec: its decoded text may spell a unit's address.
    address = address_key(message.sender_address or "")
    if remember:
        if not address:
            raise CorrectionError(f"message {message.id} has no sender address to remember")
        owner = UnitDirectory(config.units).lookup(address)
        if owner is not None and owner[0].id != unit_id:
            raise CorrectionError(
                f"{address} is unit {owner[0].id!r}'s address in the config; "
                "change the config instead of --remember"
            )
    changed = store.assign(message.id, unit_id, by, note)
    learned = None
    if remember and UnitDirectory(config.units).lookup(address) is None:
        learned = address if store.learn_address(address, unit_id, by, message.id) else None
    also = tuple(
        m
        for m in store.attributions()
        if address and address_key(m.sender_address or "") == address
    )
    return Assigned(message, changed, learned, also)


def mark(
    config: Config,
    store: Store,
    unit_id: str,
    requirement_id: str,
    received_at: datetime,
    *,
    forms: tuple[str, ...],
    via: str,
    note: str,
    by: str,
) -> tuple[int, bool]:
    """Record a submission that came on paper or by Zalo; (its id, False if already so)."""
    requirement = _requirement(config, requirement_id)
    unit = next((u for u in config.units if u.id == unit_id), None)
    if unit is None:
        raise CorrectionError(f"no unit {unit_id!r} in the config")
    if not requirement.applies_to(unit):
        raise CorrectionError(f"requirement {requirement_id!r} does not apply to {unit_id!r}")
    unknown = [f for f in forms if f not in requirement.forms]
    if unknown:
        raise CorrectionError(
            f"{', '.join(unknown)} not required by {requirement_id!r} "
            f"(it asks for {', '.join(requirement.forms)})"
        )
    if received_at.tzinfo is None:
        raise CorrectionError("the received time needs a timezone")
    if not note.strip():
        raise CorrectionError("say why with --note (it is kept in the audit and shown)")
    return store.mark(
        unit_id, requirement_id, forms or requirement.forms, received_at, via, note.strip(), by
    )


def unmark(
    config: Config,
    store: Store,
    unit_id: str,
    requirement_id: str,
    *,
    forms: tuple[str, ...],
    by: str,
    note: str,
) -> list[int]:
    """Stop counting a manual submission; it stays in the store and the audit."""
    _requirement(config, requirement_id)
    removed = store.unmark(unit_id, requirement_id, forms, by, note)
    if not removed:
        raise CorrectionError(f"no manual submission of {unit_id!r} for {requirement_id!r}")
    return removed


def notes(store: Store, tz: ZoneInfo) -> dict[str, str]:
    """Submission ref -> a sentence in Vietnamese, for every submission a person decided."""
    result: dict[str, str] = {}
    for m in store.manual_submissions():
        via = wording.VIA_NOTES.get(m.via, wording.VIA_NOTES["other"])
        text = f"{via} {wording.day(m.received_at, tz)}"
        result[m.ref] = f"{text} (ghi chú: {m.note}; người ghi nhận: {m.by})"
    assigners = {a.subject: a.by for a in reversed(store.audit()) if a.action == "assign"}
    for a in store.assigned():
        by = assigners.get(f"message:{a.id}", "cán bộ")
        address = address_key(a.sender_address or "") or "địa chỉ không rõ"
        result[str(a.id)] = (
            f"Thư nhận lúc {wording.clock(a.received_at, tz)} từ "
            f"{address} do {by} xác định đơn vị gửi"
        )
    return result


def _requirement(config: Config, requirement_id: str) -> Requirement:
    found = next((r for r in config.requirements if r.id == requirement_id), None)
    if found is None:
        raise CorrectionError(f"no requirement {requirement_id!r} in the config")
    return found
