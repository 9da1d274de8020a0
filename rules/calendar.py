"""Working days in Vietnam, for deciding when a reminder goes out.

A reminder that lands on a Sunday or in Tết reaches a closed office and is read, at
best, with a week's delay. Reminders therefore move to a working day: by default the
previous one, so a unit is told before the deadline rather than after. Public holidays
come from the `holidays` package (Vietnam's official days, Tết and substituted days
included); a district adds its own closures in config.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from functools import cache
from typing import Literal

Shift = Literal["previous", "next", "keep"]
WEEKEND = (5, 6)  # Saturday, Sunday: offices of the Party and the State are closed


Official = Callable[[tuple[int, ...]], frozenset[date]]


def public_holidays(
    years: Iterable[int], extra: Iterable[date] = (), official: Official | None = None
) -> frozenset[date]:
    """Vietnam's public holidays in these years, plus the district's own closures.

    `official`: where the official days come from (default: the holidays package; the
    service passes one that keeps them between commands)."""
    return (official or official_holidays)(tuple(sorted(set(years)))) | frozenset(extra)


@cache
def official_holidays(years: tuple[int, ...]) -> frozenset[date]:
    """The package loads every country's calendar (~0.1 s): imported by the commands
    that decide a working day, when they first do; asked once per years."""
    import holidays as holiday_data

    return frozenset(holiday_data.country_holidays("VN", years=list(years)))


def is_working_day(day: date, closed: Collection[date], weekend: Collection[int] = WEEKEND) -> bool:
    return day.weekday() not in weekend and day not in closed


def shift(
    day: date, closed: Collection[date], how: Shift = "previous", weekend: Collection[int] = WEEKEND
) -> date:
    """The working day a reminder planned for `day` is sent on."""
    if how == "keep":
        return day
    step = timedelta(days=-1 if how == "previous" else 1)
    for _ in range(60):  # Tết plus weekends is at most about ten days
        if is_working_day(day, closed, weekend):
            return day
        day += step
    raise ValueError("no working day within 60 days: check the holiday and weekend settings")


@dataclass(frozen=True)
class Reminder:
    offset: int  # days from the due day, as configured (-3: three days before)
    planned: date  # due day + offset
    day: date  # the working day it is sent on


def reminder_days(
    due_day: date,
    offsets: Iterable[int],
    closed: Collection[date],
    how: Shift = "previous",
    weekend: Collection[int] = WEEKEND,
) -> tuple[Reminder, ...]:
    """When each configured reminder goes out; two that fall on one day are sent once."""
    reminders: dict[date, Reminder] = {}
    for offset in sorted(set(offsets)):
        planned = due_day + timedelta(days=offset)
        day = shift(planned, closed, how, weekend)
        reminders.setdefault(day, Reminder(offset, planned, day))
    return tuple(reminders.values())
