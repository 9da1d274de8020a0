"""A whole campaign replayed: the demo's mail over four weeks, `now` stepping twice a day.

Every unit gets exactly the acknowledgements and reminders it should, the board gets one
report a day, and nothing goes twice or to a robot.
"""

from __future__ import annotations

import email
import io
from collections import Counter
from datetime import date, datetime, timedelta
from email import policy
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from rich.console import Console

from mail_ingest import config as config_module
from mail_ingest import decisions, demo, standing
from mail_ingest.app import open_store

TZ = ZoneInfo("Asia/Ho_Chi_Minh")
FIRST, LAST = date(2024, 1, 20), date(2024, 2, 16)


def test_four_weeks_of_notices(tmp_path: Path) -> None:
    outcome = demo.run(tmp_path / "demo", Console(file=io.StringIO()))
    config = config_module.load(outcome.config)
    assert config.smtp is not None and config.smtp.path is not None
    reminded: dict[date, set[str]] = {}
    with open_store(config) as store:
        day = FIRST
        while day <= LAST:
            for hour in (8, 17):
                now = datetime(day.year, day.month, day.day, hour, 30, tzinfo=TZ)
                mails = decisions.due(config, store, now)
                decisions.send(config, store, now, mails)
                if hour == 8:
                    statuses = {s.unit.id: s.status for s in standing.compute(config, store, now)}
                    for m in mails:
                        if m.key.startswith("remind:"):
                            unit = m.key.split(":")[1]
                            assert statuses[unit] in ("missing", "incomplete"), (day, unit)
                            reminded.setdefault(day, set()).add(unit)
            day += timedelta(days=1)
        items = store.outbox()
        submissions = [m for m in store.messages() if m.outcome == "submission"]
        robots = [m for m in store.messages() if m.outcome in ("auto-reply", "bounce")]

    assert all(i.status == "sent" for i in items)
    assert len({i.key for i in items}) == len(items)  # nothing twice
    kinds = Counter(i.key.split(":")[0] for i in items)
    # One receipt per submission (to the unit itself when a stranger's address sent it),
    # each within two days of it; none to a robot.
    assert kinds["ack"] + kinds["ack-provisional"] == len(submissions)
    assert robots and not {f"ack:{m.message_id}" for m in robots} & {i.key for i in items}
    # One report a day, every day of the campaign (and, at the first start in the morning,
    # the one due the evening before).
    assert kinds["report"] == (LAST - FIRST).days + 2
    # Reminders three days before the due day 31/01 (Sunday 28/01, so Friday 26/01) and
    # the day after it, to the units not done at 08:30 on those days, each once.
    assert sorted(reminded) == [date(2024, 1, 26), date(2024, 2, 1)]
    assert kinds["remind"] == sum(len(units) for units in reminded.values())
    assert "xa-muong-so" not in reminded[date(2024, 1, 26)]
    assert "xa-si-lo-lau" in reminded[date(2024, 2, 1)]  # its forms came on 02/02

    written = list(Path(config.smtp.path).glob("*.eml"))
    assert len(written) == len(items)
    for path in written:
        message = email.message_from_bytes(path.read_bytes(), policy=policy.default)
        assert message["Auto-Submitted"] in ("auto-replied", "auto-generated")


@pytest.mark.parametrize(
    "start",
    [
        datetime(2024, 1, 26, 17, 45, tzinfo=TZ),  # the -3 reminder's day, after the report
        datetime(2024, 2, 1, 3, 7, tzinfo=TZ),  # the night after the due day
    ],
    ids=["friday-17h45", "night-03h07"],
)
def test_a_campaign_started_fresh_at_an_arbitrary_hour(tmp_path: Path, start: datetime) -> None:
    """A deployment first started at `start`, cycling at irregular hours until the end.

    No report for a day whose report time came before the start; then exactly one a day;
    a reminder only to a unit that has not complied at that instant, never worded as
    overdue before its deadline, each once; an acknowledgement once per submission, only
    within `ack_max_age` of its arrival; nothing twice.
    """
    outcome = demo.run(tmp_path / "demo", Console(file=io.StringIO()))
    config = config_module.load(outcome.config)
    with open_store(config) as store:
        store._db.execute("UPDATE polls SET started_at = ?", (start.isoformat(),))
        now, end = start, datetime(2024, 2, 16, 20, 0, tzinfo=TZ)
        while now <= end:
            statuses = {
                (s.unit.id, s.requirement.id): s for s in standing.compute(config, store, now)
            }
            mails = decisions.due(config, store, now)
            for mail in mails:
                if mail.key.startswith("remind:"):
                    _, unit, requirement, *_ = mail.key.split(":")
                    s = statuses[(unit, requirement)]
                    assert s.status in ("missing", "incomplete"), (now, mail.key)
                    if now < s.due:
                        assert "Thời hạn đã qua" not in mail.text, (now, mail.key)
            decisions.send(config, store, now, mails)
            now += timedelta(hours=3, minutes=41)
        items = store.outbox()
        submissions = {m.message_id: m for m in store.messages() if m.outcome == "submission"}

    keys = [i.key for i in items]
    assert len(set(keys)) == len(keys) and all(i.status == "sent" for i in items)
    report_at = config.notify.report_at
    first_report_day = (
        start.date()
        if start.timetz() <= report_at.replace(tzinfo=TZ)
        else (start.date() + timedelta(days=1))
    )
    expected = {
        f"report:{first_report_day + timedelta(days=n)}"
        for n in range((date(2024, 2, 16) - first_report_day).days + 1)
    }
    assert {k for k in keys if k.startswith("report:")} == expected
    for key in keys:
        if key.startswith("ack:"):
            received = submissions[key.removeprefix("ack:")].received_at
            assert received + config.notify.ack_max_age >= start, key  # never a stale answer
    answered = {k.removeprefix("ack:") for k in keys if k.startswith("ack:")}
    fresh = {
        mid for mid, m in submissions.items()
        if m.received_at + config.notify.ack_max_age >= start
        and m.sender_address  # a stranger's is told to the unit instead (ack-provisional)
    }  # fmt: skip
    assert answered <= fresh
