"""What a letter asks for: which forms, from which units, by when, under which quotas."""

from __future__ import annotations

from dataclasses import dataclass

from rules.deadlines import Deadline
from rules.units import Unit
from rules.validation import CountRule


@dataclass(frozen=True)
class Requirement:
    id: str
    title: str
    forms: tuple[str, ...]  # form ids that must all arrive
    deadline: Deadline
    groups: tuple[str, ...] = ()  # empty: every unit
    reminders: tuple[int, ...] = ()  # days relative to the due day
    rules: tuple[CountRule, ...] = ()

    def applies_to(self, unit: Unit) -> bool:
        return not self.groups or unit.group in self.groups
