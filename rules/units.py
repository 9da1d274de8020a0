"""Who sent a message: the unit directory and sender matching."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from email.utils import parseaddr


@dataclass(frozen=True)
class Unit:
    """A unit that must submit (a commune, an agency, a mass organisation)."""

    id: str
    name: str
    group: str  # "xa", "co-quan", "doan-the", "llvt", or whatever the district uses
    emails: tuple[str, ...] = ()


class UnitDirectory:
    """Looks units up by id and by any of their addresses, case-insensitively."""

    def __init__(self, units: Iterable[Unit]) -> None:
        self.units: tuple[Unit, ...] = tuple(units)
        self._by_id = {u.id: u for u in self.units}
        self._by_email = {e.lower(): u for u in self.units for e in u.emails}

    def get(self, unit_id: str) -> Unit | None:
        return self._by_id.get(unit_id)

    def by_sender(self, sender: str) -> Unit | None:
        """The unit whose directory lists this address; `sender` may be a full From value."""
        address = parseaddr(sender)[1].strip().lower()
        return self._by_email.get(address) if address else None

    def __iter__(self) -> Iterator[Unit]:
        return iter(self.units)

    def __len__(self) -> int:
        return len(self.units)
