"""When something is due, worded as the letters word it, once or every period.

"trước ngày 01/02/2024" (before) means the last moment is the end of 31/01;
"chậm nhất ngày 27/02/2024" (at the latest on) means the end of 27/02; a `due`
deadline names the local time itself ("trước 17 giờ 00 ngày 05/02/2024"). Each is
kept as one exclusive cutoff instant in the district's timezone: a message is on
time when the server received it strictly before the cutoff.

"trước ngày 30/10 hàng năm" and "định kỳ hằng quý, 6 tháng, năm" repeat: a
`Schedule` turns the first deadline and a repetition (`every`, or an RFC 5545
RRULE) into `Period`s, each tracked on its own. Everything here is pure: the
caller passes the instant and the timezone.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from dateutil.relativedelta import relativedelta
from dateutil.rrule import rrule, rrulestr

DeadlineKind = Literal["before", "by", "due"]
Every = Literal["year", "half-year", "quarter", "month"]
EVERY_MONTHS: Mapping[str, int] = {"year": 12, "half-year": 6, "quarter": 3, "month": 1}
EVERY_WORDS: Mapping[str, str] = {
    "year": "hằng năm",
    "half-year": "6 tháng một lần",
    "quarter": "hằng quý",
    "month": "hằng tháng",
}
_ROMAN = ("I", "II", "III", "IV")
# A guard against a rule that never reaches `now` (a daily RRULE over a century).
MAX_OCCURRENCES = 5000


@dataclass(frozen=True)
class Deadline:
    kind: DeadlineKind
    day: date  # the date as the letter writes it
    at: time = time(0)  # `due` only: the local time of day of the cutoff
    extended: bool = False  # a per-unit extension: worded "gia hạn đến hết ngày ..."

    def cutoff(self, tz: ZoneInfo) -> datetime:
        """The first instant that is late."""
        if self.kind == "due":
            return datetime.combine(self.day, self.at, tzinfo=tz)
        first_late_day = self.day if self.kind == "before" else self.day + timedelta(days=1)
        return datetime.combine(first_late_day, time(0), tzinfo=tz)

    def due_day(self) -> date:
        """The last day on which a submission is on time (what reminders count from)."""
        if self.kind == "before" or (self.kind == "due" and self.at == time(0)):
            return self.day - timedelta(days=1)
        return self.day

    def phrase(self) -> str:
        """The deadline in the letter's own words, for emails and reports."""
        if self.extended:
            return f"gia hạn đến hết ngày {self.day:%d/%m/%Y}"
        if self.kind == "due":
            return f"trước {self.at:%H} giờ {self.at:%M} ngày {self.day:%d/%m/%Y}"
        words = "trước ngày" if self.kind == "before" else "chậm nhất ngày"
        return f"{words} {self.day:%d/%m/%Y}"

    def on(self, when: datetime) -> Deadline:
        """The same wording on another day (and, for `due`, time): one occurrence."""
        return replace(self, day=when.date(), at=when.time() if self.kind == "due" else self.at)


@dataclass(frozen=True)
class Period:
    """One occurrence of a requirement for one unit, and which mail counts for it.

    Mail received in [opens_at, cutoff) counts and is on time. Mail received after the
    cutoff but before `claim_until` (halfway to the next cutoff) still counts, as late,
    while this period is not complete; once it is, later mail belongs to the next
    period. A unit that is late is then not also shifted into every later period.
    """

    id: str  # "" for a one-off deadline; "2024", "2024-H1", "2024-Q3", "2024-10", ...
    label: str  # how the board reads it: "Năm 2024", "Quý III/2024"; "" for a one-off
    deadline: Deadline  # this unit's, with its extension if it has one
    opens_at: datetime | None  # nothing received before counts; None: no lower bound
    cutoff: datetime
    claim_until: datetime | None  # None: the last period, every later message counts

    @property
    def phrase(self) -> str:
        return self.deadline.phrase()


@dataclass(frozen=True)
class Schedule:
    """A requirement's deadline, how it repeats, when it opens and who has longer."""

    deadline: Deadline  # the only one, or the first of a recurring schedule (the anchor)
    every: Every | None = None
    rrule: str | None = None  # RFC 5545 RRULE; DTSTART is the anchor
    opens: date | None = None  # mail received before this day never counts
    extensions: tuple[tuple[str, date], ...] = ()  # unit id -> last day, inclusive

    @property
    def recurring(self) -> bool:
        return self.every is not None or self.rrule is not None

    def phrase(self) -> str:
        """The first deadline and how it repeats: "trước ngày 30/10/2024, hằng năm"."""
        if self.every:
            return f"{self.deadline.phrase()}, {EVERY_WORDS[self.every]}"
        if self.rrule:
            return f"{self.deadline.phrase()}, định kỳ ({self.rrule})"
        return self.deadline.phrase()

    def extension(self, unit_id: str) -> date | None:
        return dict(self.extensions).get(unit_id)

    def occurrences(self) -> Iterator[Deadline]:
        """Every deadline of the schedule in order, as the letter words it."""
        anchor = self.deadline
        if self.rrule:
            start = datetime.combine(anchor.day, anchor.at)
            for when in parse_rrule(self.rrule, start):
                yield anchor.on(when)
        elif self.every:
            step = EVERY_MONTHS[self.every]
            i = 0
            while True:
                # Always from the anchor, so 31/01 monthly gives 29/02 then 31/03, not 29/03.
                yield replace(anchor, day=anchor.day + relativedelta(months=step * i))
                i += 1
        else:
            yield anchor

    def periods(self, unit_id: str, tz: ZoneInfo, now: datetime) -> list[Period]:
        """Every period for this unit up to the current one (the first whose cutoff is
        after `now`, or the last of a finite schedule), oldest first; never empty."""
        extended = self.extension(unit_id)
        ext_cutoff = Deadline("by", extended).cutoff(tz) if extended else None
        horizon = max(now, ext_cutoff) if ext_cutoff else now
        opens_at = datetime.combine(self.opens, time(0), tzinfo=tz) if self.opens else None
        plain: list[Deadline] = []
        beyond = 0  # occurrences due after the horizon: two are enough
        last: Deadline | None = None
        for n, deadline in enumerate(self.occurrences()):
            last = deadline
            if n >= MAX_OCCURRENCES or beyond >= 2:
                break
            if opens_at is not None and deadline.cutoff(tz) <= opens_at:
                continue  # closed before the campaign opened: nothing can count for it
            plain.append(deadline)
            beyond += deadline.cutoff(tz) > horizon
        if not plain and last is not None:
            plain.append(last)  # a finite schedule wholly before `opens`: show its end
        deadlines = list(plain)
        if extended is not None and ext_cutoff is not None:
            # The extension moves the period it follows: the last one due no later.
            target = [i for i, d in enumerate(plain) if d.cutoff(tz) <= ext_cutoff]
            if target and ext_cutoff > plain[target[-1]].cutoff(tz):
                deadlines[target[-1]] = Deadline("by", extended, extended=True)
        periods: list[Period] = []
        for i, (original, deadline) in enumerate(zip(plain, deadlines, strict=True)):
            cutoff = deadline.cutoff(tz)
            following = deadlines[i + 1].cutoff(tz) if i + 1 < len(deadlines) else None
            pid, label = self._name(original)
            periods.append(
                Period(
                    id=pid,
                    label=label,
                    deadline=deadline,
                    opens_at=periods[-1].cutoff if periods else opens_at,
                    cutoff=cutoff,
                    # Halfway to the next cutoff: a report a few days late completes
                    # its own period; one sent months later is the next period's.
                    claim_until=cutoff + (following - cutoff) / 2 if following else None,
                )
            )
            if cutoff > now:
                break
        return periods

    def _name(self, deadline: Deadline) -> tuple[str, str]:
        """A period is named after its last on-time day: the yearly report due before
        30/10/2024 is 2024's; one due before 01/10/2024 (end of 30/09) is Q3's."""
        if not self.recurring:
            return "", ""
        day = deadline.due_day()
        if self.every == "year":
            return f"{day.year}", f"Năm {day.year}"
        if self.every == "half-year":
            half = 1 if day.month <= 6 else 2
            words = "đầu" if half == 1 else "cuối"
            return f"{day.year}-H{half}", f"6 tháng {words} năm {day.year}"
        if self.every == "quarter":
            q = (day.month - 1) // 3 + 1
            return f"{day.year}-Q{q}", f"Quý {_ROMAN[q - 1]}/{day.year}"
        if self.every == "month":
            return f"{day:%Y-%m}", f"Tháng {day:%m/%Y}"
        # An RRULE period has no calendar name: it is the date as the letter writes it.
        return f"{deadline.day:%Y-%m-%d}", f"Kỳ hạn {deadline.day:%d/%m/%Y}"


def parse_rrule(text: str, start: datetime) -> rrule:
    """An RRULE with DTSTART from the anchor; ValueError names what is wrong.

    Finer than daily makes no sense for a letter's deadline, and a DTSTART in the
    text would contradict the anchor, so both are refused.
    """
    body = text.strip()
    if body.upper().startswith("RRULE:"):
        body = body[len("RRULE:") :]
    if "DTSTART" in body.upper() or "\n" in body:
        raise ValueError("write one RRULE without DTSTART (the first deadline is the start)")
    freq = re.search(r"(?:^|;)FREQ=([A-Z]+)", body.upper())
    if freq and freq.group(1) in ("HOURLY", "MINUTELY", "SECONDLY"):
        raise ValueError("a deadline repeats at most daily (FREQ=DAILY or coarser)")
    rule = rrulestr(body, dtstart=start)
    if not isinstance(rule, rrule):  # pragma: no cover - only for several rules
        raise ValueError("write a single RRULE")
    return rule
