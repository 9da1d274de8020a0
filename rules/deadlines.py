"""When something is due, worded as the letters word it.

"trước ngày 01/02/2024" (before) means the last moment is the end of 31/01;
"chậm nhất ngày 27/02/2024" (at the latest on) means the end of 27/02. Both are
kept as one exclusive cutoff instant in the district's timezone: a message is on
time when the server received it strictly before the cutoff.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

DeadlineKind = Literal["before", "by"]


@dataclass(frozen=True)
class Deadline:
    kind: DeadlineKind
    day: date  # the date as the letter writes it

    def cutoff(self, tz: ZoneInfo) -> datetime:
        """The first instant that is late."""
        first_late_day = self.day if self.kind == "before" else self.day + timedelta(days=1)
        return datetime.combine(first_late_day, time(0), tzinfo=tz)

    def due_day(self) -> date:
        """The last day on which a submission is on time (what reminders count from)."""
        return self.day - timedelta(days=1) if self.kind == "before" else self.day

    def phrase(self) -> str:
        """The deadline in the letter's own words, for emails and reports."""
        words = "trước ngày" if self.kind == "before" else "chậm nhất ngày"
        return f"{words} {self.day:%d/%m/%Y}"
