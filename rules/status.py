"""Where each unit stands against each requirement, as of any instant.

Only messages received at or before `now` count, so any past day can be replayed.
Forms sent in separate messages combine; a later copy of a form replaces the
earlier one. A unit is complete from the first moment its latest copies hold every
form and pass every rule; that moment, against the cutoff, decides on time or late,
and a later correction does not undo it (the board keeps the corrected content).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Literal
from zoneinfo import ZoneInfo

from parsers.model import Entry, ParsedFile
from rules import validation
from rules.requirements import Requirement
from rules.units import Unit

Status = Literal["missing", "incomplete", "on_time", "late"]
STATUSES: tuple[Status, ...] = ("missing", "incomplete", "on_time", "late")


@dataclass(frozen=True)
class Submission:
    """One counted message from a unit and the files it carried."""

    ref: str  # the store's id of the message, for tracing a status back to mail
    received_at: datetime
    files: tuple[ParsedFile, ...]


@dataclass(frozen=True)
class UnitStatus:
    unit: Unit
    requirement: Requirement
    status: Status
    due: datetime  # the cutoff: on time means received strictly before it
    completed_at: datetime | None
    forms: tuple[str, ...]  # required forms received so far
    problems: tuple[str, ...]  # in Vietnamese, for the board and the unit
    entries: tuple[Entry, ...]  # from the latest copy of every required form
    sources: tuple[str, ...]  # refs of the submissions whose copies count now


def evaluate(
    requirement: Requirement,
    unit: Unit,
    submissions: Iterable[Submission],
    now: datetime,
    tz: ZoneInfo,
    form_titles: Mapping[str, str],
) -> UnitStatus:
    history = sorted((s for s in submissions if s.received_at <= now), key=_arrival_order)
    latest: dict[str, tuple[ParsedFile, str]] = {}
    unrecognised: list[ParsedFile] = []
    completed_at: datetime | None = None
    for submission in history:
        unrecognised = [f for f in submission.files if f.form is None]
        for parsed in submission.files:
            if parsed.form in requirement.forms:
                latest[parsed.form] = (parsed, submission.ref)
        if completed_at is None and not _blocking(requirement, unit, latest, form_titles):
            completed_at = submission.received_at

    problems = _blocking(requirement, unit, latest, form_titles)
    problems += [p.message for f, _ in latest.values() for p in f.problems]
    problems += [p.message for f in unrecognised for p in f.problems]
    cutoff = requirement.deadline.cutoff(tz)
    status: Status
    if completed_at is not None:
        status = "on_time" if completed_at < cutoff else "late"
    elif any(s.files for s in history):
        status = "incomplete"
    else:
        status = "missing"
    return UnitStatus(
        unit=unit,
        requirement=requirement,
        status=status,
        due=cutoff,
        completed_at=completed_at,
        forms=tuple(f for f in requirement.forms if f in latest),
        problems=tuple(dict.fromkeys(problems)) if status != "missing" else (),
        entries=_entries(latest),
        sources=tuple(dict.fromkeys(ref for _, ref in latest.values())),
    )


def evaluate_all(
    requirements: Iterable[Requirement],
    units: Iterable[Unit],
    submissions_by_unit: Mapping[str, list[Submission]],
    now: datetime,
    tz: ZoneInfo,
    form_titles: Mapping[str, str],
) -> list[UnitStatus]:
    units = list(units)
    return [
        evaluate(req, unit, submissions_by_unit.get(unit.id, []), now, tz, form_titles)
        for req in requirements
        for unit in units
        if req.applies_to(unit)
    ]


def _arrival_order(s: Submission) -> tuple[datetime, str]:
    # The ref breaks ties so that two messages received in the same second give
    # the same answer whatever order they were processed in.
    return (s.received_at, s.ref)


def _entries(latest: Mapping[str, tuple[ParsedFile, str]]) -> tuple[Entry, ...]:
    return tuple(e for parsed, _ in latest.values() for e in parsed.entries)


def _blocking(
    requirement: Requirement,
    unit: Unit,
    latest: Mapping[str, tuple[ParsedFile, str]],
    form_titles: Mapping[str, str],
) -> list[str]:
    """What keeps the unit from being complete: absent forms and failed rules."""
    problems = [
        f"Chưa nhận được {form_titles.get(form, form)}"
        for form in requirement.forms
        if form not in latest
    ]
    problems += validation.check(requirement.rules, unit.group, _entries(latest))
    return problems
