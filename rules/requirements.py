"""What a letter asks for: which forms, from which units, by when, under which rules."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from rules.deadlines import Deadline, Every, Schedule
from rules.units import Unit
from rules.validation import Rule


@dataclass(frozen=True)
class Letter:
    """The board's letter a requirement carries out (Công văn số 35-CV/BDVHU ...)."""

    number: str
    date: date | None = None
    by: str = ""  # who signed it: "Ban Dân vận Huyện ủy"
    about: str = ""  # its "V/v": what it is about


@dataclass(frozen=True)
class Requirement:
    id: str
    title: str
    forms: tuple[str, ...]  # form ids that must all arrive
    deadline: Deadline  # the only one, or the first of a recurring schedule
    groups: tuple[str, ...] = ()  # with `units` empty too: every unit
    reminders: tuple[int, ...] = ()  # days relative to each period's due day
    rules: tuple[Rule, ...] = ()
    units: tuple[str, ...] = ()  # unit ids it applies to, besides those of `groups`
    every: Every | None = None
    rrule: str | None = None
    opens: date | None = None  # mail received earlier (last year's campaign) never counts
    extensions: tuple[tuple[str, date], ...] = ()  # unit id -> last day, inclusive
    # A unit that was complete and then sends a copy breaking a rule: incomplete again
    # (True), or still complete with the problem listed (False, the default).
    strict_resubmission: bool = False
    # Forms sent one file per registered model (Tân Yên's M1, M2): not required, but
    # their entries count toward the rules; a new copy for the same model replaces it.
    model_forms: tuple[str, ...] = ()
    letter: Letter | None = None  # cited by reminders and acknowledgements

    @property
    def schedule(self) -> Schedule:
        return Schedule(self.deadline, self.every, self.rrule, self.opens, self.extensions)

    def applies_to(self, unit: Unit) -> bool:
        if not self.groups and not self.units:
            return True
        return unit.group in self.groups or unit.id in self.units
