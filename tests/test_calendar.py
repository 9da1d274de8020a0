"""Reminder days move off weekends and Vietnamese public holidays (Tết 2024 included)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from mail_ingest import holiday_cache
from rules.calendar import Reminder, official_holidays, public_holidays, reminder_days, shift

CLOSED = public_holidays([2024])


@pytest.mark.parametrize(
    ("planned", "how", "sent"),
    [
        (date(2024, 1, 31), "previous", date(2024, 1, 31)),  # a Wednesday: unchanged
        (date(2024, 1, 28), "previous", date(2024, 1, 26)),  # Sunday -> Friday
        (date(2024, 1, 27), "next", date(2024, 1, 29)),  # Saturday -> Monday
        (date(2024, 2, 10), "previous", date(2024, 2, 7)),  # Tết (08-14/02) -> Wednesday 07/02
        (date(2024, 2, 12), "next", date(2024, 2, 15)),  # Tết -> Thursday 15/02
        (date(2024, 2, 11), "keep", date(2024, 2, 11)),
        (date(2024, 9, 2), "previous", date(2024, 8, 30)),  # National Day, then a weekend
        (date(2024, 1, 1), "previous", date(2023, 12, 29)),  # New Year's Day on a Monday
    ],
)
def test_a_reminder_moves_to_a_working_day(planned: date, how: str, sent: date) -> None:
    assert shift(planned, CLOSED, how) == sent  # type: ignore[arg-type]


def test_tet_2024_is_closed() -> None:
    assert {date(2024, 2, d) for d in range(8, 15)} <= CLOSED


def test_phong_tho_reminders_around_the_deadline() -> None:
    # "trước ngày 01/02/2024": due day 31/01. Reminders 3 days before, on the day, and
    # 10 days after (in Tết, so sent before it), and the district closed 02/02 too.
    closed = public_holidays([2024], extra=[date(2024, 2, 2)])
    assert reminder_days(date(2024, 1, 31), [-3, 0, 10], closed) == (
        Reminder(-3, date(2024, 1, 28), date(2024, 1, 26)),
        Reminder(0, date(2024, 1, 31), date(2024, 1, 31)),
        Reminder(10, date(2024, 2, 10), date(2024, 2, 7)),
    )


def test_two_reminders_on_one_day_are_sent_once() -> None:
    days = reminder_days(date(2024, 2, 15), [-2, -1], CLOSED)  # 13/02 and 14/02: both Tết
    assert [r.day for r in days] == [date(2024, 2, 7)]


# -- kept between commands ----------------------------------------------------------------


def test_the_kept_holidays_are_the_packages_and_the_package_is_asked_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    years = (2023, 2024, 2025)
    assert holiday_cache.official(tmp_path)(years) == official_holidays(years)
    [kept] = tmp_path.glob(f"{holiday_cache.PREFIX}*")
    assert oct(kept.stat().st_mode & 0o777) == "0o600"
    monkeypatch.setattr(holiday_cache, "official_holidays", _never)
    assert holiday_cache.official(tmp_path)(years) == official_holidays(years)  # from the file
    with pytest.raises(AssertionError):  # other years are asked of the package
        holiday_cache.official(tmp_path)((2026,))


def test_a_damaged_or_missing_cache_is_only_time(tmp_path: Path) -> None:
    years = (2024,)
    holiday_cache.official(tmp_path)(years)
    [kept] = tmp_path.glob(f"{holiday_cache.PREFIX}*")
    kept.write_text('["2024-02-3O"]')
    assert holiday_cache.official(tmp_path)(years) == official_holidays(years)
    assert holiday_cache.official(tmp_path / "none")(years) == official_holidays(years)
    assert not (tmp_path / "none").exists()  # no folder made for it


def _never(years: tuple[int, ...]) -> frozenset[date]:
    raise AssertionError(f"the package was asked for {years}")
