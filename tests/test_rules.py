"""Deadlines, quotas and status: the pure rules every report rests on."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from parsers.model import Entry, ParsedFile, Problem
from rules.deadlines import Deadline
from rules.requirements import Requirement
from rules.status import Submission, evaluate
from rules.units import Unit, UnitDirectory
from rules.validation import CountRule, Quota, check, parse_rule_key

TZ = ZoneInfo("Asia/Ho_Chi_Minh")
TITLES = {"mau-01": "Biểu tổng hợp đăng ký (mẫu 01)", "mau-02": "Báo cáo mô hình điểm (mẫu 02)"}
COMMUNE = Unit("xa-muong-so", "Đảng ủy xã Mường So", "xa", ("muongso@example.vn",))
AGENCY = Unit("cq-vp", "Chi bộ Văn phòng", "co-quan", ("vp@example.vn",))
QUOTAS = (
    CountRule("min", "collectives", Quota({"xa": 2}, 1)),
    CountRule("min", "individuals", Quota({"xa": 2}, 1)),
)
REQ = Requirement(
    "dvk", "Đăng ký", ("mau-01", "mau-02"), Deadline("before", date(2024, 2, 1)), rules=QUOTAS
)


def local(day: int, month: int = 1, hour: int = 9, minute: int = 0, second: int = 0) -> datetime:
    return datetime(2024, month, day, hour, minute, second, tzinfo=TZ)


def entries(collectives: int, individuals: int) -> tuple[Entry, ...]:
    return tuple(Entry(f"Tập thể {i}", "tap-the") for i in range(collectives)) + tuple(
        Entry(f"Cá nhân {i}", "ca-nhan") for i in range(individuals)
    )


def mau01(collectives: int = 2, individuals: int = 2) -> ParsedFile:
    return ParsedFile("mau01.xlsx", "mau-01", entries=entries(collectives, individuals))


MAU02 = ParsedFile("mau02.docx", "mau-02")


def sub(ref: str, when: datetime, *files: ParsedFile) -> Submission:
    return Submission(ref, when, files)


# -- deadlines -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("deadline", "received", "on_time"),
    [
        (Deadline("before", date(2024, 2, 1)), local(31, 1, 23, 59, 59), True),
        (Deadline("before", date(2024, 2, 1)), local(1, 2, 0, 0, 0), False),
        (Deadline("by", date(2024, 2, 27)), local(27, 2, 23, 59, 59), True),
        (Deadline("by", date(2024, 2, 27)), local(28, 2, 0, 0, 0), False),
        # 23:59 UTC on 31/01 is 06:59 on 01/02 in Vietnam: late for "trước ngày 01/02".
        (Deadline("before", date(2024, 2, 1)), datetime(2024, 1, 31, 23, 59, tzinfo=UTC), False),
        # 16:59 UTC on 31/01 is 23:59 in Vietnam: still on time.
        (Deadline("before", date(2024, 2, 1)), datetime(2024, 1, 31, 16, 59, tzinfo=UTC), True),
        # 23:59 UTC on the due day 27/02 is already 28/02 in Vietnam.
        (Deadline("by", date(2024, 2, 27)), datetime(2024, 2, 27, 23, 59, tzinfo=UTC), False),
    ],
)
def test_cutoff_edges(deadline: Deadline, received: datetime, on_time: bool) -> None:
    assert (received < deadline.cutoff(TZ)) is on_time


def test_deadline_phrases_and_due_days() -> None:
    before, by = Deadline("before", date(2024, 2, 1)), Deadline("by", date(2024, 2, 27))
    assert before.phrase() == "trước ngày 01/02/2024"
    assert by.phrase() == "chậm nhất ngày 27/02/2024"
    assert before.due_day() == date(2024, 1, 31)
    assert by.due_day() == date(2024, 2, 27)


# -- units -----------------------------------------------------------------------


def test_sender_lookup_ignores_case_and_display_name() -> None:
    units = UnitDirectory([COMMUNE, AGENCY])
    assert units.by_sender("Đảng ủy Mường So <MuongSo@Example.VN>") == COMMUNE
    assert units.by_sender("vp@example.vn") == AGENCY
    assert units.by_sender("someone@gmail.com") is None
    assert units.by_sender("") is None


# -- quotas ----------------------------------------------------------------------


def test_quota_per_group_with_default() -> None:
    assert check(QUOTAS, "xa", entries(2, 2)) == []
    assert check(QUOTAS, "xa", entries(1, 2)) == [
        "Mới đăng ký 1 tập thể, yêu cầu ít nhất 2 tập thể"
    ]
    assert check(QUOTAS, "co-quan", entries(1, 1)) == []
    assert check(QUOTAS, "co-quan", entries(0, 1)) == [
        "Mới đăng ký 0 tập thể, yêu cầu ít nhất 1 tập thể"
    ]


def test_max_rule_and_group_without_quota() -> None:
    rules = (CountRule("max", "level_tinh", Quota({"xa": 1})),)
    many = (Entry("a", level="tinh"), Entry("b", level="tinh"))
    assert check(rules, "xa", many) == [
        "Đăng ký 2 nội dung cấp tỉnh, vượt quá mức tối đa 1 nội dung cấp tỉnh"
    ]
    assert check(rules, "co-quan", many) == []  # no quota for the group and no default


def test_rule_keys() -> None:
    assert parse_rule_key("min_collectives") == ("min", "collectives")
    assert parse_rule_key("max_level_huyen") == ("max", "level_huyen")
    assert parse_rule_key("min_people") is None
    assert parse_rule_key("least_entries") is None


# -- status ----------------------------------------------------------------------


def status_of(*subs: Submission, unit: Unit = COMMUNE, now: datetime | None = None) -> tuple:
    s = evaluate(REQ, unit, subs, now or local(10, 2), TZ, TITLES)
    return s.status, s.completed_at


def test_nothing_received_is_missing() -> None:
    s = evaluate(REQ, COMMUNE, [], local(10, 2), TZ, TITLES)
    assert (s.status, s.completed_at, s.problems, s.forms) == ("missing", None, (), ())


def test_complete_before_cutoff_is_on_time() -> None:
    assert status_of(sub("1", local(25), mau01(), MAU02)) == ("on_time", local(25))


def test_complete_after_cutoff_is_late() -> None:
    assert status_of(sub("1", local(2, 2), mau01(), MAU02)) == ("late", local(2, 2))


def test_missing_form_is_incomplete_and_named() -> None:
    s = evaluate(REQ, COMMUNE, [sub("1", local(25), mau01())], local(10, 2), TZ, TITLES)
    assert s.status == "incomplete"
    assert s.problems == ("Chưa nhận được Báo cáo mô hình điểm (mẫu 02)",)


def test_forms_from_separate_messages_combine() -> None:
    result = status_of(sub("1", local(20), mau01()), sub("2", local(2, 2), MAU02))
    assert result == ("late", local(2, 2))


def test_resubmission_replaces_earlier_copy() -> None:
    first = sub("1", local(20), mau01(collectives=1), MAU02)
    fixed = sub("2", local(30), mau01(collectives=2))
    assert status_of(first) == ("incomplete", None)
    assert status_of(first, fixed) == ("on_time", local(30))


def test_correction_after_deadline_keeps_on_time_and_uses_latest_content() -> None:
    first = sub("1", local(20), mau01(2, 2), MAU02)
    correction = sub("2", local(3, 2), mau01(3, 2))
    s = evaluate(REQ, COMMUNE, [first, correction], local(10, 2), TZ, TITLES)
    assert (s.status, s.completed_at) == ("on_time", local(20))
    assert len(s.entries) == 5
    assert s.sources == ("2", "1")


def test_message_without_files_is_still_missing() -> None:
    assert status_of(sub("1", local(20))) == ("missing", None)


def test_only_messages_received_by_now_count() -> None:
    late = sub("1", local(2, 2), mau01(), MAU02)
    assert status_of(late, now=local(31, 1, 12)) == ("missing", None)
    assert status_of(late, now=local(2, 2)) == ("late", local(2, 2))  # at the instant: counts


def test_quota_depends_on_group() -> None:
    one_each = sub("1", local(20), mau01(1, 1), MAU02)
    assert status_of(one_each, unit=AGENCY) == ("on_time", local(20))
    assert status_of(one_each)[0] == "incomplete"


def test_parser_problems_are_reported_but_unrecognised_files_do_not_block() -> None:
    bad = ParsedFile(
        "scan.pdf", None, problems=(Problem("needs-review", "Tệp 'scan.pdf' cần xem thủ công"),)
    )
    s = evaluate(REQ, COMMUNE, [sub("1", local(20), mau01(), MAU02, bad)], local(10, 2), TZ, TITLES)
    assert s.status == "on_time"
    assert s.problems == ("Tệp 'scan.pdf' cần xem thủ công",)


def test_rules_are_judged_again_only_when_a_counted_copy_changes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Thank-you mails and chasers carry no form: the rules are not judged again for each
    (at 500 units, judging at every message was most of a status)."""
    from rules import validation

    judged = {"n": 0}
    real = validation.judge

    def counted(*args: object, **kwargs: object) -> list[tuple[str, bool]]:
        judged["n"] += 1
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(validation, "judge", counted)
    counts = []
    for chasers in (1, 40):
        judged["n"] = 0
        mail = [sub(f"c{i}", local(21, minute=i)) for i in range(chasers)]
        subs = [sub("1", local(20), mau01(1, 2), MAU02), *mail, sub("9", local(30), mau01())]
        assert status_of(*subs) == ("on_time", local(30))
        counts.append(judged["n"])
    assert counts[0] == counts[1]
    # Once complete, later copies are judged for the result only, not each as it comes.
    counts = []
    for copies in (1, 10):
        judged["n"] = 0
        later = [sub(f"k{i}", local(31, minute=i), mau01(2, 3)) for i in range(copies)]
        s = evaluate(REQ, COMMUNE, [sub("1", local(20), mau01(), MAU02), *later], local(10, 2),
                     TZ, TITLES)  # fmt: skip
        assert (s.status, s.completed_at, len(s.entries)) == ("on_time", local(20), 5)
        counts.append(judged["n"])
    assert counts[0] == counts[1]


submission_lists = st.lists(
    st.builds(
        sub,
        st.sampled_from("abcdef"),
        st.sampled_from([local(20), local(31, 1, 23, 59), local(1, 2), local(5, 2)]),
        st.sampled_from([mau01(), mau01(1, 2), MAU02]),
    ),
    max_size=6,
    unique_by=lambda s: s.ref,  # the store's message ids are unique
)


@given(submission_lists, st.randoms())
def test_status_does_not_depend_on_processing_order(subs: list[Submission], rnd) -> None:
    shuffled = list(subs)
    rnd.shuffle(shuffled)
    assert evaluate(REQ, COMMUNE, subs, local(10, 2), TZ, TITLES) == evaluate(
        REQ, COMMUNE, shuffled, local(10, 2), TZ, TITLES
    )


@given(submission_lists, st.sampled_from([local(25), local(1, 2), local(3, 2)]))
def test_mail_arriving_after_now_changes_nothing(subs: list[Submission], now: datetime) -> None:
    later = sub("z", local(6, 2), mau01(), MAU02)
    assert evaluate(REQ, COMMUNE, subs, now, TZ, TITLES) == evaluate(
        REQ, COMMUNE, [*subs, later], now, TZ, TITLES
    )
