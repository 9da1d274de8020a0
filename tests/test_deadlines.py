"""Deadlines at their edges, and recurring schedules cut into periods."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

import pytest

from rules.deadlines import Deadline, Schedule, parse_rrule

TZ = ZoneInfo("Asia/Ho_Chi_Minh")
BEFORE = Deadline("before", date(2024, 2, 1))  # "trước ngày 01/02/2024"
BY = Deadline("by", date(2024, 2, 27))  # "chậm nhất ngày 27/02/2024"
DUE = Deadline("due", date(2024, 2, 5), time(17, 0))  # "trước 17 giờ 00 ngày 05/02/2024"
EXTENDED = Deadline("by", date(2024, 2, 5), extended=True)


def vn(y: int, mo: int, d: int, h: int = 0, mi: int = 0, s: int = 0) -> datetime:
    return datetime(y, mo, d, h, mi, s, tzinfo=TZ)


@pytest.mark.parametrize(
    ("deadline", "received", "on_time"),
    [
        # the last local second of the last day, and the first of the next
        (BEFORE, vn(2024, 1, 31, 23, 59, 59), True),
        (BEFORE, vn(2024, 2, 1, 0, 0, 0), False),
        (BY, vn(2024, 2, 27, 23, 59, 59), True),
        (BY, vn(2024, 2, 28, 0, 0, 0), False),
        (DUE, vn(2024, 2, 5, 16, 59, 59), True),
        (DUE, vn(2024, 2, 5, 17, 0, 0), False),
        (EXTENDED, vn(2024, 2, 5, 23, 59, 59), True),
        (EXTENDED, vn(2024, 2, 6, 0, 0, 0), False),
        # 23:59 UTC on the due day is already the next morning in Vietnam (UTC+7)
        (BEFORE, datetime(2024, 1, 31, 23, 59, tzinfo=UTC), False),
        (BY, datetime(2024, 2, 27, 23, 59, tzinfo=UTC), False),
        (DUE, datetime(2024, 2, 5, 9, 59, tzinfo=UTC), True),
        (DUE, datetime(2024, 2, 5, 10, 0, tzinfo=UTC), False),
        # 16:59:59 UTC is 23:59:59 local: still the due day
        (BEFORE, datetime(2024, 1, 31, 16, 59, 59, tzinfo=UTC), True),
        (BY, datetime(2024, 2, 27, 16, 59, 59, tzinfo=UTC), True),
        (BY, datetime(2024, 2, 27, 17, 0, 0, tzinfo=UTC), False),
    ],
)
def test_cutoff_edges(deadline: Deadline, received: datetime, on_time: bool) -> None:
    assert (received < deadline.cutoff(TZ)) is on_time


@pytest.mark.parametrize(
    ("deadline", "phrase", "due_day"),
    [
        (BEFORE, "trước ngày 01/02/2024", date(2024, 1, 31)),
        (BY, "chậm nhất ngày 27/02/2024", date(2024, 2, 27)),
        (DUE, "trước 17 giờ 00 ngày 05/02/2024", date(2024, 2, 5)),
        (Deadline("due", date(2024, 2, 5)), "trước 00 giờ 00 ngày 05/02/2024", date(2024, 2, 4)),
        (EXTENDED, "gia hạn đến hết ngày 05/02/2024", date(2024, 2, 5)),
    ],
)
def test_phrases_and_due_days(deadline: Deadline, phrase: str, due_day: date) -> None:
    assert deadline.phrase() == phrase
    assert deadline.due_day() == due_day


def ids(schedule: Schedule, now: datetime, unit: str = "u") -> list[tuple[str, str, str]]:
    return [(p.id, p.label, p.phrase) for p in schedule.periods(unit, TZ, now)]


def test_one_off_is_a_single_period_whatever_now_is() -> None:
    for now in (vn(2023, 12, 1), vn(2024, 1, 31), vn(2026, 1, 1)):
        [p] = Schedule(BEFORE).periods("u", TZ, now)
        assert (p.id, p.label, p.opens_at, p.claim_until) == ("", "", None, None)
        assert p.cutoff == vn(2024, 2, 1)


def test_yearly_30_10_across_years() -> None:
    """Hón Quản: "trước ngày 30/10 hàng năm"."""
    yearly = Schedule(Deadline("before", date(2024, 10, 30)), every="year")
    assert ids(yearly, vn(2024, 5, 1)) == [("2024", "Năm 2024", "trước ngày 30/10/2024")]
    assert ids(yearly, vn(2025, 10, 29, 23, 59)) == [
        ("2024", "Năm 2024", "trước ngày 30/10/2024"),
        ("2025", "Năm 2025", "trước ngày 30/10/2025"),
    ]
    periods = yearly.periods("u", TZ, vn(2026, 10, 30))  # the cutoff itself: 2027 is current
    assert [p.id for p in periods] == ["2024", "2025", "2026", "2027"]
    # windows follow each other without gap or overlap; late mail may count for its own
    # period until halfway to the next cutoff (a report months late is the next one's)
    assert periods[1].opens_at == periods[0].cutoff == vn(2024, 10, 30)
    assert periods[1].claim_until == vn(2025, 10, 30) + (vn(2026, 10, 30) - vn(2025, 10, 30)) / 2


def test_quarterly_and_half_yearly_names() -> None:
    quarterly = Schedule(Deadline("by", date(2024, 3, 20)), every="quarter")
    assert ids(quarterly, vn(2024, 12, 1)) == [
        ("2024-Q1", "Quý I/2024", "chậm nhất ngày 20/03/2024"),
        ("2024-Q2", "Quý II/2024", "chậm nhất ngày 20/06/2024"),
        ("2024-Q3", "Quý III/2024", "chậm nhất ngày 20/09/2024"),
        ("2024-Q4", "Quý IV/2024", "chậm nhất ngày 20/12/2024"),
    ]
    # "before 01/10" ends on 30/09: the third quarter's, not the fourth's
    assert ids(
        Schedule(Deadline("before", date(2024, 10, 1)), every="quarter"), vn(2024, 9, 1)
    ) == [("2024-Q3", "Quý III/2024", "trước ngày 01/10/2024")]
    half = Schedule(Deadline("before", date(2024, 6, 15)), every="half-year")
    assert ids(half, vn(2024, 7, 1)) == [
        ("2024-H1", "6 tháng đầu năm 2024", "trước ngày 15/06/2024"),
        ("2024-H2", "6 tháng cuối năm 2024", "trước ngày 15/12/2024"),
    ]


def test_monthly_from_the_31st_keeps_month_ends() -> None:
    monthly = Schedule(Deadline("by", date(2024, 1, 31)), every="month")
    assert [p for _, _, p in ids(monthly, vn(2024, 4, 15))] == [
        "chậm nhất ngày 31/01/2024",
        "chậm nhất ngày 29/02/2024",
        "chậm nhất ngày 31/03/2024",
        "chậm nhất ngày 30/04/2024",
    ]


def test_rrule_with_the_anchor_as_dtstart() -> None:
    # The Phong Thổ programme's quarterly report, due on the 15th of a quarter's last month.
    rule = Schedule(Deadline("before", date(2024, 3, 15)), rrule="FREQ=MONTHLY;INTERVAL=3")
    assert ids(rule, vn(2024, 7, 1)) == [
        ("2024-03-15", "Kỳ hạn 15/03/2024", "trước ngày 15/03/2024"),
        ("2024-06-15", "Kỳ hạn 15/06/2024", "trước ngày 15/06/2024"),
        ("2024-09-15", "Kỳ hạn 15/09/2024", "trước ngày 15/09/2024"),
    ]
    due = Schedule(DUE, rrule="RRULE:FREQ=WEEKLY;BYDAY=MO;COUNT=2")
    assert [p for _, _, p in ids(due, vn(2025, 1, 1))] == [
        "trước 17 giờ 00 ngày 05/02/2024",
        "trước 17 giờ 00 ngày 12/02/2024",
    ]  # a finite rule: the last period stays the current one


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("FREQ=HOURLY", "at most daily"),
        ("DTSTART:20240101T000000\nRRULE:FREQ=YEARLY", "without DTSTART"),
        ("FREQ=SOMETIMES", "FREQ"),
    ],
)
def test_unusable_rrules(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_rrule(text, datetime(2024, 1, 1))


def test_opens_drops_periods_closed_before_it() -> None:
    yearly = Schedule(Deadline("before", date(2017, 10, 30)), every="year", opens=date(2024, 1, 1))
    periods = yearly.periods("u", TZ, vn(2024, 5, 1))
    assert [p.id for p in periods] == ["2024"]
    assert periods[0].opens_at == vn(2024, 1, 1)


def test_extension_moves_one_units_cutoff_only() -> None:
    schedule = Schedule(BEFORE, extensions=(("xa-muong-so", date(2024, 2, 5)),))
    [mine] = schedule.periods("xa-muong-so", TZ, vn(2024, 2, 3))
    [other] = schedule.periods("xa-dao-san", TZ, vn(2024, 2, 3))
    assert (mine.phrase, mine.cutoff) == ("gia hạn đến hết ngày 05/02/2024", vn(2024, 2, 6))
    assert (other.phrase, other.cutoff) == ("trước ngày 01/02/2024", vn(2024, 2, 1))


def test_extension_of_a_recurring_period_keeps_it_current() -> None:
    yearly = Schedule(
        Deadline("before", date(2024, 10, 30)),
        every="year",
        extensions=(("xa-muong-so", date(2024, 11, 10)),),
    )
    now = vn(2024, 11, 5)
    assert [p.id for p in yearly.periods("xa-dao-san", TZ, now)] == ["2024", "2025"]
    mine = yearly.periods("xa-muong-so", TZ, now)
    assert [(p.id, p.phrase) for p in mine] == [("2024", "gia hạn đến hết ngày 10/11/2024")]
    later = yearly.periods("xa-muong-so", TZ, vn(2025, 1, 1))
    assert later[1].opens_at == vn(2024, 11, 11)  # 2025 counts from the extended cutoff


def test_schedule_phrase_says_how_it_repeats() -> None:
    assert Schedule(BEFORE).phrase() == "trước ngày 01/02/2024"
    yearly = Schedule(Deadline("before", date(2024, 10, 30)), every="year")
    assert yearly.phrase() == "trước ngày 30/10/2024, hằng năm"
