"""Where each unit stands against each requirement, as of any instant.

Only messages received at or before `now` count, so any past day can be replayed,
and they are taken in arrival order (ties by ref), never in processing order.
Forms sent in separate messages combine; a later copy of a form replaces the
earlier one (the history stays in the store, and the correction is noted). A unit
is complete from the first moment its latest copies hold every form and pass every
rule; that moment, against the cutoff, decides on time or late, and a later
correction does not undo it: the board keeps the corrected content, and lists any
problem it has. With `strict_resubmission` a copy that breaks a rule makes the
unit incomplete again, and completion starts over from the copy that mends it.

A recurring requirement is evaluated period by period (rules.deadlines.Period):
each message counts for exactly one period, so a late yearly report completes last
year's period instead of appearing as next year's.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Literal
from zoneinfo import ZoneInfo

from parsers.model import Entry, ParsedFile
from parsers.text import words
from rules import validation
from rules.deadlines import Deadline, Period
from rules.requirements import Requirement
from rules.units import Unit

Status = Literal["missing", "incomplete", "checking", "on_time", "late"]
STATUSES: tuple[Status, ...] = ("missing", "incomplete", "checking", "on_time", "late")
DONE: tuple[Status, ...] = ("on_time", "late")
# A reading less sure than this needs the board's check (config: [matching] check_below).
CHECK_BELOW = 0.8


def needs_check(parsed: ParsedFile, check_below: float = CHECK_BELOW) -> bool:
    """Whether the parser doubts its reading: a problem it is not sure of, or a low
    confidence. The store hands a file the board checked as settled (see `settled`)."""
    return parsed.confidence < check_below or any(not p.certain for p in parsed.problems)


def settled(parsed: ParsedFile) -> ParsedFile:
    """The reading once the board accepted it: what it says is no longer a doubt."""
    problems = tuple(replace(p, certain=True) for p in parsed.problems)
    return replace(parsed, confidence=max(parsed.confidence, 1.0), problems=problems)


@dataclass(frozen=True)
class Submission:
    """One counted message from a unit and the files it carried."""

    ref: str  # the store's id of the message, for tracing a status back to mail
    received_at: datetime
    files: tuple[ParsedFile, ...]
    manual: bool = False  # a paper copy the board recorded: vouched for, nothing typed in


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
    period: Period | None = None  # which occurrence, with its (extended) deadline
    corrections: tuple[str, ...] = ()  # in Vietnamese: which copy replaced which
    # What the parser is not sure of: for the board only, never told to the unit.
    doubts: tuple[str, ...] = ()
    checks: tuple[str, ...] = ()  # counted files whose reading needs the board's check
    manual: bool = False  # a paper copy the board recorded counts now

    @property
    def deadline(self) -> Deadline:
        """The deadline that applies to this unit in this period (its extension, this
        year's date): what reminders count from, not `requirement.deadline`."""
        return self.period.deadline if self.period else self.requirement.deadline

    @property
    def deadline_phrase(self) -> str:
        return self.deadline.phrase()


def evaluate(
    requirement: Requirement,
    unit: Unit,
    submissions: Iterable[Submission],
    now: datetime,
    tz: ZoneInfo,
    form_titles: Mapping[str, str],
    check_below: float = CHECK_BELOW,
) -> UnitStatus:
    """The unit's status in the current period: the only one of a one-off deadline."""
    return evaluate_periods(requirement, unit, submissions, now, tz, form_titles, check_below)[-1]


def evaluate_periods(
    requirement: Requirement,
    unit: Unit,
    submissions: Iterable[Submission],
    now: datetime,
    tz: ZoneInfo,
    form_titles: Mapping[str, str],
    check_below: float = CHECK_BELOW,
) -> list[UnitStatus]:
    """The unit's status in every period up to the current one, oldest first."""
    pending = sorted((s for s in submissions if s.received_at <= now), key=_arrival_order)
    out = []
    for period in requirement.schedule.periods(unit.id, tz, now):
        tracker = _Tracker(requirement, unit, period, tz, form_titles, check_below)
        left = []
        for s in pending:  # in arrival order: whether late mail is taken depends on it
            if not tracker.offer(s):
                left.append(s)
        pending = left
        out.append(tracker.result())
    return out


def shown(statuses: Sequence[UnitStatus]) -> list[UnitStatus]:
    """What a report lists: the current period, and the one before while it is not
    complete (a unit owing last quarter's report must still be chased). Older periods
    would be noise: they are settled, and `evaluate_periods` still has them."""
    *past, current = statuses
    return ([past[-1]] if past and past[-1].status not in DONE else []) + [current]


def evaluate_all(
    requirements: Iterable[Requirement],
    units: Iterable[Unit],
    submissions_by_unit: Mapping[str, list[Submission]],
    now: datetime,
    tz: ZoneInfo,
    form_titles: Mapping[str, str],
    check_below: float = CHECK_BELOW,
) -> list[UnitStatus]:
    units = list(units)
    return [
        status
        for req in requirements
        for unit in units
        if req.applies_to(unit)
        for status in shown(
            evaluate_periods(
                req, unit, submissions_by_unit.get(unit.id, []), now, tz, form_titles, check_below
            )
        )
    ]


class _Tracker:
    """One unit in one period: takes the messages that belong to the period, in
    arrival order, and follows the latest copy of every form."""

    def __init__(
        self,
        requirement: Requirement,
        unit: Unit,
        period: Period,
        tz: ZoneInfo,
        form_titles: Mapping[str, str],
        check_below: float = CHECK_BELOW,
    ) -> None:
        self.requirement, self.unit, self.period = requirement, unit, period
        self.tz, self.form_titles, self.check_below = tz, form_titles, check_below
        self.latest: dict[str, tuple[ParsedFile, Submission]] = {}
        self.models: dict[tuple[str, str], ParsedFile] = {}  # model_forms, by model
        self.unrecognised: list[ParsedFile] = []
        self.completed_at: datetime | None = None
        self.ever_complete = False
        self.any_files = False
        self.corrections: list[str] = []
        # _shortfalls of the copies counted now: judged again only when a copy changes,
        # not at every message (most carry no form, or another requirement's).
        self._judged: tuple[tuple[str, ...], tuple[str, ...]] | None = None

    def offer(self, s: Submission) -> bool:
        """Take the message if it counts for this period; False leaves it to the next."""
        p = self.period
        if p.opens_at is not None and s.received_at < p.opens_at:
            return True  # before `opens`: last year's campaign, it never counts
        # Late mail is this period's only until it has been complete once, and only
        # until the next cutoff; after that it is the next period's.
        late = s.received_at >= p.cutoff and p.claim_until is not None
        if late and (self.ever_complete or s.received_at >= (p.claim_until or p.cutoff)):
            return False
        self._take(s)
        return True

    def _take(self, s: Submission) -> None:
        self.any_files = self.any_files or bool(s.files)
        self.unrecognised = [f for f in s.files if f.form is None]
        for parsed in s.files:
            if parsed.form in self.requirement.model_forms:
                self.models[(parsed.form, _model_key(parsed))] = parsed
                self._judged = None
            if parsed.form in self.requirement.forms:
                self._judged = None
                earlier = self.latest.get(parsed.form)
                if earlier and earlier[1].ref != s.ref:
                    self.corrections.append(self._note(parsed.form, earlier[1], s))
                self.latest[parsed.form] = (parsed, s)
        if self.completed_at is not None and not self.requirement.strict_resubmission:
            return  # complete once, complete: a later copy is judged in the result only
        if not self._blocking():
            if self.completed_at is None:
                self.completed_at = s.received_at
            self.ever_complete = True
        elif self.requirement.strict_resubmission:
            self.completed_at = None

    def _note(self, form: str, old: Submission, new: Submission) -> str:
        title = self.form_titles.get(form, form)
        return (
            f"{title}: dùng bản gửi lúc {new.received_at.astimezone(self.tz):%H:%M %d/%m/%Y}, "
            f"thay bản gửi lúc {old.received_at.astimezone(self.tz):%H:%M %d/%m/%Y}"
        )

    def _entries(self) -> tuple[Entry, ...]:
        return tuple(e for parsed in self._counted() for e in parsed.entries)

    def _counted(self) -> list[ParsedFile]:
        return [parsed for parsed, _ in self.latest.values()] + list(self.models.values())

    def _doubtful(self) -> list[ParsedFile]:
        """Counted files whose reading the board must check before anyone is told."""
        files = self._counted() + self.unrecognised
        return [f for f in files if needs_check(f, self.check_below)]

    def _blocking(self) -> list[str]:
        """What keeps the unit from being complete: absent forms and failed rules."""
        certain, doubtful = self._shortfalls()
        return certain + doubtful

    def _shortfalls(self) -> tuple[list[str], list[str]]:
        """(certain, doubtful): absent forms are certain; a rule whose outcome the rows the
        parser doubts could change is the parser's doubt, not yet the unit's shortfall."""
        if self._judged is None:
            certain, doubtful = self._judge()
            self._judged = (tuple(certain), tuple(doubtful))
        return list(self._judged[0]), list(self._judged[1])

    def _judge(self) -> tuple[list[str], list[str]]:
        problems = [
            f"Chưa nhận được {self.form_titles.get(form, form)}"
            for form in self.requirement.forms
            if form not in self.latest
        ]
        entries = self._entries()
        if any(s.manual for _, s in self.latest.values()):
            return problems, []  # the board vouched for a paper copy nobody typed in
        judged: list[tuple[str, bool]] = []
        if entries or not problems:  # no rows because the form is missing: said once above
            counted = self._counted()  # a file's doubt, judged once for all its rows
            doubts = [d for f in counted for d in [self._doubt(f)] * len(f.entries)]
            doubts += [self._doubt(f) for f in counted if not f.entries]
            rules = self.requirement.rules
            judged = validation.judge(rules, self.unit.group, entries, self.unit, doubts)
        certain = [message for message, sure in judged if sure]
        return problems + certain, [message for message, sure in judged if not sure]

    def _doubt(self, parsed: ParsedFile) -> frozenset[str]:
        """What a file's rows may be misread in: nothing on a reading the parser is sure
        of; else the attributes it guessed, or everything when it did not say which."""
        if not needs_check(parsed, self.check_below):
            return frozenset()
        return frozenset(parsed.doubted or (validation.ROWS,))

    def result(self) -> UnitStatus:
        certain, doubtful = self._shortfalls()
        files = [f for f, _ in self.latest.values()] + self.unrecognised
        certain += [p.message for f in files for p in f.problems if p.certain]
        doubtful += [p.message for f in files for p in f.problems if not p.certain]
        status: Status
        if self.completed_at is not None:
            status = "on_time" if self.completed_at < self.period.cutoff else "late"
        elif not self.any_files:
            status = "missing"
        elif doubtful and not certain:
            status = "checking"  # only the parser's doubt stands between it and complete
        else:
            status = "incomplete"
        shown = status != "missing"
        return UnitStatus(
            unit=self.unit,
            requirement=self.requirement,
            status=status,
            due=self.period.cutoff,
            completed_at=self.completed_at,
            forms=tuple(f for f in self.requirement.forms if f in self.latest),
            problems=tuple(dict.fromkeys(certain)) if shown else (),
            entries=self._entries(),
            sources=tuple(dict.fromkeys(s.ref for _, s in self.latest.values())),
            period=self.period,
            corrections=tuple(self.corrections),
            doubts=tuple(d for d in dict.fromkeys(doubtful) if d not in certain) if shown else (),
            checks=tuple(dict.fromkeys(f.filename for f in self._doubtful())),
            manual=any(s.manual for _, s in self.latest.values()),
        )


def _arrival_order(s: Submission) -> tuple[datetime, str]:
    # The ref breaks ties so that two messages received in the same second give
    # the same answer whatever order they were processed in.
    return (s.received_at, s.ref)


def _model_key(parsed: ParsedFile) -> str:
    """Which model a one-per-model form is about: its model's name, else its file name."""
    entry = parsed.entries[0] if parsed.entries else None
    name = (entry.extra.get("model") or entry.name) if entry else ""
    return words(name) or parsed.filename
