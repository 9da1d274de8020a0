"""[[requirements]] in the config: when it is due, to whom, and which rules; every
mistake names its key."""

from __future__ import annotations

from datetime import date, time
from pathlib import Path

import pytest

from mail_ingest import config
from mail_ingest.errors import ConfigError
from rules.validation import CountRule, CustomRule, RequiredFields

BASE = """\
[mailbox]
kind = "maildir"
path = "mail"

[[units]]
id = "xa-muong-so"
name = "Đảng ủy xã Mường So"
group = "xa"

[[units]]
id = "cq-vp"
name = "Chi bộ Văn phòng"
group = "co-quan"

[[requirements]]
id = "r"
title = "R"
forms = ["mau-01"]
"""


def load(tmp_path: Path, text: str) -> config.Config:
    path = tmp_path / "mail-ingest.toml"
    path.write_text(BASE + text, encoding="utf-8")
    return config.load(path)


def problems(tmp_path: Path, text: str) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load(tmp_path, text)
    return str(info.value).splitlines()[1:]


def test_a_recurring_requirement_with_everything(tmp_path: Path) -> None:
    [req] = load(
        tmp_path,
        """\
before = 2024-10-30
every = "year"
opens = 2024-01-01
units = ["cq-vp"]
groups = ["xa"]
strict_resubmission = true
extensions = { "xa-muong-so" = "2024-11-05" }
[requirements.rules]
min_level_tinh = { xa = 1 }
min_level_huyen = { xa = 4 }
max_level_huyen = { xa = 5 }
required_fields = ["model", "field"]
custom = ["khong-trung-lap"]
""",
    ).requirements
    assert (req.every, req.opens, req.units, req.strict_resubmission) == (
        "year", date(2024, 1, 1), ("cq-vp",), True,
    )  # fmt: skip
    assert req.extensions == (("xa-muong-so", date(2024, 11, 5)),)
    assert req.schedule.phrase() == "trước ngày 30/10/2024, hằng năm"
    counts = [r for r in req.rules if isinstance(r, CountRule)]
    assert [r.key for r in counts] == ["min_level_tinh", "min_level_huyen", "max_level_huyen"]
    [fields] = [r for r in req.rules if isinstance(r, RequiredFields)]
    assert fields.fields == ("model", "field")
    assert fields.label("model") == "tên mô hình"
    assert CustomRule("khong-trung-lap") in req.rules


def test_due_is_a_local_date_and_time(tmp_path: Path) -> None:
    for written in ("2024-02-05T17:00:00", '"2024-02-05 17:00"'):
        [req] = load(tmp_path, f"due = {written}\n").requirements
        assert (req.deadline.kind, req.deadline.day, req.deadline.at) == (
            "due", date(2024, 2, 5), time(17, 0),
        )  # fmt: skip
        assert req.deadline.phrase() == "trước 17 giờ 00 ngày 05/02/2024"
    assert problems(tmp_path, "due = 2024-02-05T17:00:00+07:00\n") == [
        "requirements[0].due: write the local time without an offset"
        " (the configured timezone applies)"
    ]
    assert problems(tmp_path, "due = 2024-02-05\n") == [
        "requirements[0].due: expected a local date and time such as 2024-02-05T17:00:00,"
        " got datetime.date(2024, 2, 5)"
    ]


def test_an_rrule(tmp_path: Path) -> None:
    [req] = load(tmp_path, 'before = 2024-03-15\nrrule = "FREQ=MONTHLY;INTERVAL=3"\n').requirements
    assert req.rrule == "FREQ=MONTHLY;INTERVAL=3"
    assert problems(tmp_path, 'before = 2024-03-15\nrrule = "FREQ=HOURLY"\n') == [
        "requirements[0].rrule: 'FREQ=HOURLY' is not a usable RRULE:"
        " a deadline repeats at most daily (FREQ=DAILY or coarser)"
    ]


def test_mistakes_in_the_deadline_and_the_units(tmp_path: Path) -> None:
    text = """\
before = 2024-02-01
by = 2024-02-27
every = "week"
rrule = "FREQ=YEARLY"
units = ["xa-khong-co"]
"""
    assert problems(tmp_path, text) == [
        "requirements[0].before: give exactly one of `before` (trước ngày),"
        " `by` (chậm nhất ngày) or `due` (a local date and time)",
        "requirements[0].every: 'week' is not one of 'year', 'half-year', 'quarter', 'month'",
        "requirements[0].rrule: give either `every` or `rrule`, not both",
        "requirements[0].units[0]: 'xa-khong-co' is not the id of any [[units]] entry",
    ]


def test_mistakes_in_extensions_rules_and_opens(tmp_path: Path) -> None:
    found = problems(
        tmp_path,
        """\
before = 2024-02-01
opens = 2024-03-01
extensions = { "xa-muong-so" = 2024-01-20, "xa-khac" = 2024-02-10 }
strict_resubmission = "yes"
[requirements.rules]
required_fields = ["mo-hinh"]
custom = ["max-5-tinh"]
""",
    )
    assert found[0] == (
        "requirements[0].opens: 2024-03-01 is after the deadline (trước ngày 01/02/2024):"
        " nothing counts"
    )
    assert found[1].startswith("requirements[0].rules.required_fields[0]: 'mo-hinh' is not one of")
    assert "'model'" in found[1] and "'field'" in found[1]
    assert found[2:] == [
        "requirements[0].rules.custom[0]: 'max-5-tinh' is not one of"
        " 'co-ten-mo-hinh', 'khong-trung-lap'",
        "requirements[0].extensions.xa-muong-so:"
        " 2024-01-20 is not later than the deadline (trước ngày 01/02/2024)",
        "requirements[0].extensions.xa-khac: 'xa-khac' is not the id of any [[units]] entry",
        "requirements[0].strict_resubmission: expected true or false, got 'yes'",
    ]
