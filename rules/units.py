"""Who sent a message: the unit directory and sender matching."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from email.utils import getaddresses
from typing import Literal

# How an address is known: listed in the config, or learned by `assign --remember`.
AddressEvidence = Literal["address", "learned-address"]
_GMAIL = ("gmail.com", "googlemail.com")


@dataclass(frozen=True)
class Unit:
    """A unit that must submit (a commune, an agency, a mass organisation)."""

    id: str
    name: str
    group: str  # "xa", "co-quan", "doan-the", "llvt", or whatever the district uses
    emails: tuple[str, ...] = ()
    aliases: tuple[str, ...] = ()  # other ways people write its name ("xa Dao San")
    leaders: tuple[str, ...] = ()  # copied on reminders (a secretary who follows up)


def address_key(sender: str) -> str:
    """The mailbox a From value or address names, equal for every alias of that mailbox.

    Case never matters. Gmail also ignores dots and a "+tag" in the local part and
    treats googlemail.com as gmail.com, so "Dang.Bo.DaoSan+dvk@gmail.com" is the
    same mailbox as "dangbodaosan@gmail.com". A value naming several mailboxes, or none,
    gives "": it is never a unit's by address.
    """
    found = getaddresses([sender])
    if len(found) != 1:  # "unit@x.vn, stranger@y.com" names no single mailbox
        return ""
    address = found[0][1].strip().lower()
    local, at, domain = address.rpartition("@")
    if at and domain in _GMAIL:
        return local.partition("+")[0].replace(".", "") + "@gmail.com"
    return address


class UnitDirectory:
    """Looks units up by id and by any of their addresses (aliases included).

    `learned` maps addresses the board taught with `assign --remember` to unit ids;
    the config's addresses win over them.
    """

    def __init__(self, units: Iterable[Unit], learned: Mapping[str, str] | None = None) -> None:
        self.units: tuple[Unit, ...] = tuple(units)
        self.learned: dict[str, str] = dict(learned or {})
        self._by_id = {u.id: u for u in self.units}
        self._by_email = {address_key(e): u for u in self.units for e in u.emails}
        self._by_learned = {
            address_key(a): self._by_id[unit_id]
            for a, unit_id in self.learned.items()
            if unit_id in self._by_id
        }

    def with_learned(self, learned: Mapping[str, str]) -> UnitDirectory:
        return UnitDirectory(self.units, {**self.learned, **learned})

    def get(self, unit_id: str) -> Unit | None:
        return self._by_id.get(unit_id)

    def by_sender(self, sender: str) -> Unit | None:
        """The unit this address belongs to; `sender` may be a full From value."""
        found = self.lookup(sender)
        return found[0] if found else None

    def lookup(self, sender: str) -> tuple[Unit, AddressEvidence] | None:
        """The unit and whether the config lists the address or the board taught it."""
        key = address_key(sender)
        if not key:
            return None
        if key in self._by_email:
            return self._by_email[key], "address"
        if key in self._by_learned:
            return self._by_learned[key], "learned-address"
        return None

    def __iter__(self) -> Iterator[Unit]:
        return iter(self.units)

    def __len__(self) -> int:
        return len(self.units)
