"""Status per period: recurring deadlines, opens, extensions, rules, resubmissions."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from parsers.model import Entry, ParsedFile
from rules.deadlines import Deadline
from rules.requirements import Requirement
from rules.status import Submission, UnitStatus, evaluate, evaluate_all, evaluate_periods
from rules.units import Unit
from rules.validation import CountRule, CustomRule, Quota, RequiredFields, check

TZ = ZoneInfo("Asia/Ho_Chi_Minh")
TITLES = {"mau-01": "Biểu tổng hợp (mẫu 01)", "bao-cao-nam": "Báo cáo năm"}
COMMUNE = Unit("xa-muong-so", "Đảng ủy xã Mường So", "xa")
OTHER_COMMUNE = Unit("xa-dao-san", "Đảng ủy xã Dào San", "xa")
AGENCY = Unit("cq-vp", "Chi bộ Văn phòng", "co-quan")


def vn(y: int, mo: int, d: int, h: int = 9, mi: int = 0, s: int = 0) -> datetime:
    return datetime(y, mo, d, h, mi, s, tzinfo=TZ)


def row(name: str, kind: str = "tap-the", level: str | None = None, **extra: str) -> Entry:
    return Entry(name, kind, field=extra.pop("field", None), level=level, extra=extra)


def form(*entries: Entry, form_id: str = "mau-01") -> ParsedFile:
    return ParsedFile(f"{form_id}.xlsx", form_id, entries=entries)


def sub(ref: str, when: datetime, *files: ParsedFile) -> Submission:
    return Submission(ref, when, files)


REPORT = ParsedFile("bao-cao.docx", "bao-cao-nam")
YEARLY = Requirement(
    "bao-cao-nam",
    "Báo cáo kết quả phong trào",
    ("bao-cao-nam",),
    Deadline("before", date(2024, 10, 30)),  # "trước ngày 30/10 hàng năm"
    every="year",
)


def periods(req: Requirement, now: datetime, *subs: Submission, unit: Unit = COMMUNE) -> list:
    return [
        (s.period.id if s.period else None, s.status, s.completed_at)
        for s in evaluate_periods(req, unit, subs, now, TZ, TITLES)
    ]


# -- recurring -------------------------------------------------------------------


def test_each_year_is_tracked_separately() -> None:
    subs = (sub("a", vn(2024, 10, 1), REPORT), sub("b", vn(2025, 10, 29, 23, 59), REPORT))
    assert periods(YEARLY, vn(2026, 1, 1), *subs) == [
        ("2024", "on_time", vn(2024, 10, 1)),
        ("2025", "on_time", vn(2025, 10, 29, 23, 59)),
        ("2026", "missing", None),
    ]


def test_a_late_report_completes_its_own_year_not_the_next() -> None:
    late = sub("a", vn(2024, 11, 5), REPORT)
    assert periods(YEARLY, vn(2024, 12, 1), late) == [
        ("2024", "late", vn(2024, 11, 5)),
        ("2025", "missing", None),
    ]
    # once 2024 is complete, the next report is 2025's, even if it comes early
    early = sub("b", vn(2024, 12, 20), REPORT)
    assert periods(YEARLY, vn(2025, 1, 1), late, early)[1] == ("2025", "on_time", vn(2024, 12, 20))


def test_an_unpaid_year_stops_claiming_mail_at_the_next_cutoff() -> None:
    subs = (sub("a", vn(2025, 10, 30, 8), REPORT),)  # after the 2025 cutoff too
    assert periods(YEARLY, vn(2025, 11, 1), *subs) == [
        ("2024", "missing", None),
        ("2025", "late", vn(2025, 10, 30, 8)),
        ("2026", "missing", None),
    ]


def test_report_shows_the_current_period_and_the_previous_while_owed() -> None:
    def shown(*subs: Submission) -> list[tuple[str | None, str]]:
        statuses = evaluate_all([YEARLY], [COMMUNE], {COMMUNE.id: list(subs)}, now, TZ, TITLES)
        return [(s.period.id if s.period else None, s.status) for s in statuses]

    now = vn(2025, 3, 1)
    assert shown() == [("2024", "missing"), ("2025", "missing")]
    assert shown(sub("a", vn(2024, 11, 2), REPORT)) == [("2025", "missing")]  # 2024 done, late
    assert shown(sub("a", vn(2024, 10, 2), REPORT)) == [("2025", "missing")]


def test_quarterly_report_in_the_quarter_it_is_due() -> None:
    quarterly = replace(YEARLY, deadline=Deadline("by", date(2024, 3, 20)), every="quarter")
    subs = (sub("q1", vn(2024, 3, 18), REPORT), sub("q2", vn(2024, 6, 25), REPORT))
    assert periods(quarterly, vn(2024, 7, 1), *subs) == [
        ("2024-Q1", "on_time", vn(2024, 3, 18)),
        ("2024-Q2", "late", vn(2024, 6, 25)),
        ("2024-Q3", "missing", None),
    ]


def test_rrule_periods() -> None:
    monthly = replace(YEARLY, deadline=Deadline("by", date(2024, 1, 25)), every=None,
                      rrule="FREQ=MONTHLY;BYMONTHDAY=25")  # fmt: skip
    subs = (sub("a", vn(2024, 1, 20), REPORT), sub("b", vn(2024, 2, 25, 23, 59), REPORT))
    assert periods(monthly, vn(2024, 3, 1), *subs) == [
        ("2024-01-25", "on_time", vn(2024, 1, 20)),
        ("2024-02-25", "on_time", vn(2024, 2, 25, 23, 59)),
        ("2024-03-25", "missing", None),
    ]


# -- opens and extensions ----------------------------------------------------------

REGISTRATION = Requirement(
    "dvk-2024",
    "Đăng ký thi đua",
    ("mau-01",),
    Deadline("before", date(2024, 2, 1)),
    opens=date(2024, 1, 1),
    extensions=(("xa-muong-so", date(2024, 2, 5)),),
)
ONE = form(row("Hội Nông dân"))


def test_opens_excludes_last_years_form() -> None:
    last_year = sub("old", vn(2023, 12, 28), ONE)
    s = evaluate(REGISTRATION, OTHER_COMMUNE, [last_year], vn(2024, 2, 10), TZ, TITLES)
    assert (s.status, s.sources) == ("missing", ())
    fresh = sub("new", vn(2024, 1, 2), ONE)
    s = evaluate(REGISTRATION, OTHER_COMMUNE, [last_year, fresh], vn(2024, 2, 10), TZ, TITLES)
    assert (s.status, s.sources, s.corrections) == ("on_time", ("new",), ())


def test_extension_for_one_unit() -> None:
    on_3_feb = [sub("1", vn(2024, 2, 3), ONE)]
    mine = evaluate(REGISTRATION, COMMUNE, on_3_feb, vn(2024, 2, 10), TZ, TITLES)
    other = evaluate(REGISTRATION, OTHER_COMMUNE, on_3_feb, vn(2024, 2, 10), TZ, TITLES)
    assert (mine.status, mine.deadline_phrase, mine.due) == (
        "on_time", "gia hạn đến hết ngày 05/02/2024", vn(2024, 2, 6, 0),
    )  # fmt: skip
    assert (other.status, other.deadline_phrase) == ("late", "trước ngày 01/02/2024")


def test_units_and_groups_a_requirement_applies_to() -> None:
    req = replace(REGISTRATION, groups=("co-quan",), units=("xa-muong-so",))
    assert [req.applies_to(u) for u in (COMMUNE, OTHER_COMMUNE, AGENCY)] == [True, False, True]
    assert REGISTRATION.applies_to(OTHER_COMMUNE)  # neither: every unit


# -- rules -----------------------------------------------------------------------

TAN_YEN = (  # communes: at least 1 province-level and 4 to 5 district-level contents
    CountRule("min", "level_tinh", Quota({"xa": 1})),
    CountRule("min", "level_huyen", Quota({"xa": 4})),
    CountRule("max", "level_huyen", Quota({"xa": 5})),
)
PHONG_THO = (  # communes 2 collectives and 2 individuals, every other unit 1 and 1
    CountRule("min", "collectives", Quota({"xa": 2}, 1)),
    CountRule("min", "individuals", Quota({"xa": 2}, 1)),
)


def levels(tinh: int, huyen: int) -> list[Entry]:
    return [row(f"T{i}", level="tinh") for i in range(tinh)] + [
        row(f"H{i}", level="huyen") for i in range(huyen)
    ]


def test_tan_yen_levels_for_communes() -> None:
    assert check(TAN_YEN, "xa", levels(1, 4)) == []
    assert check(TAN_YEN, "xa", levels(2, 5)) == []
    assert check(TAN_YEN, "xa", levels(0, 3)) == [
        "Mới đăng ký 0 nội dung cấp tỉnh, yêu cầu ít nhất 1 nội dung cấp tỉnh",
        "Mới đăng ký 3 nội dung cấp huyện, yêu cầu ít nhất 4 nội dung cấp huyện",
    ]
    assert check(TAN_YEN, "xa", levels(1, 6)) == [
        "Đăng ký 6 nội dung cấp huyện, vượt quá mức tối đa 5 nội dung cấp huyện"
    ]
    assert check(TAN_YEN, "co-quan", levels(0, 0)) == []  # agencies: list M4, no quota


def test_phong_tho_quotas_by_group() -> None:
    two_each = [row("A"), row("B"), row("C", "ca-nhan"), row("D", "ca-nhan")]
    assert check(PHONG_THO, "xa", two_each) == []
    assert check(PHONG_THO, "xa", two_each[1:]) == [
        "Mới đăng ký 1 tập thể, yêu cầu ít nhất 2 tập thể"
    ]
    assert check(PHONG_THO, "co-quan", [row("A"), row("C", "ca-nhan")]) == []
    assert check(PHONG_THO, "doan-the", [row("A")]) == [
        "Mới đăng ký 0 cá nhân, yêu cầu ít nhất 1 cá nhân"
    ]


def test_required_fields_name_the_entry_and_the_field() -> None:
    rule = RequiredFields(("model", "field"), (("model", "tên mô hình"),))
    good = row("Hội Phụ nữ", model="Chi hội không rác thải", field="kinh-te")
    assert check([rule], "xa", [good]) == []
    blank = row("Đoàn Thanh niên", model="  ")
    nameless = Entry("", "ca-nhan", field="kinh-te")
    assert check([rule], "xa", [good, blank, nameless]) == [
        "2 nội dung chưa ghi tên mô hình: “Đoàn Thanh niên”, nội dung thứ 3",
        "Nội dung chưa ghi lĩnh vực: “Đoàn Thanh niên”",
    ]
    many = [row(f"Tổ {i}") for i in range(7)]
    [problem] = check([RequiredFields(("field",))], "xa", many)
    assert problem.endswith("“Tổ 4” và 2 nội dung khác")


def test_custom_rules() -> None:
    twice = [row("Hội Nông dân", model="Nuôi cá"), row("hội  nông dân ", model="nuôi cá")]
    assert check([CustomRule("khong-trung-lap")], "xa", twice) == [
        "Nội dung “Hội Nông dân” (mô hình “Nuôi cá”) được đăng ký 2 lần"
    ]
    other_model = [row("Hội Nông dân", model="Nuôi cá"), row("Hội Nông dân", model="Trồng chè")]
    assert check([CustomRule("khong-trung-lap")], "xa", other_model) == []
    assert check([CustomRule("co-ten-mo-hinh")], "xa", [row("Chi đoàn")]) == [
        "Nội dung chưa ghi tên mô hình: “Chi đoàn”"
    ]


# -- resubmissions ---------------------------------------------------------------

QUOTA = replace(REGISTRATION, rules=PHONG_THO[:1], opens=None, extensions=())
GOOD = form(row("A"), row("B"))
BROKEN = form(row("A"))


def status(req: Requirement, *subs: Submission) -> UnitStatus:
    return evaluate(req, COMMUNE, subs, vn(2024, 3, 1), TZ, TITLES)


def test_lenient_keeps_a_complete_unit_complete_and_lists_the_problem() -> None:
    s = status(QUOTA, sub("1", vn(2024, 1, 20), GOOD), sub("2", vn(2024, 2, 3), BROKEN))
    assert (s.status, s.completed_at, s.sources) == ("on_time", vn(2024, 1, 20), ("2",))
    assert s.problems == ("Mới đăng ký 1 tập thể, yêu cầu ít nhất 2 tập thể",)
    assert s.corrections == (
        "Biểu tổng hợp (mẫu 01): dùng bản gửi lúc 09:00 03/02/2024,"
        " thay bản gửi lúc 09:00 20/01/2024",
    )


def test_strict_makes_it_incomplete_and_completion_starts_over() -> None:
    strict = replace(QUOTA, strict_resubmission=True)
    first, broken = sub("1", vn(2024, 1, 20), GOOD), sub("2", vn(2024, 1, 25), BROKEN)
    assert status(strict, first, broken).status == "incomplete"
    mended = sub("3", vn(2024, 2, 3), GOOD)
    assert (status(strict, first, broken, mended).status) == "late"
    on_time_fix = sub("3", vn(2024, 1, 28), GOOD)
    assert status(strict, first, broken, on_time_fix).completed_at == vn(2024, 1, 28)


def test_a_good_correction_after_the_deadline_stays_on_time_either_way() -> None:
    for req in (QUOTA, replace(QUOTA, strict_resubmission=True)):
        fixed = form(row("A"), row("B"), row("C"))
        s = status(req, sub("1", vn(2024, 1, 20), GOOD), sub("2", vn(2024, 2, 9), fixed))
        assert (s.status, s.completed_at, len(s.entries)) == ("on_time", vn(2024, 1, 20), 3)


# -- properties ------------------------------------------------------------------

WHEN = [
    vn(2024, 1, 20), vn(2024, 1, 31, 23, 59, 59), vn(2024, 2, 1, 0), vn(2024, 2, 4),
    vn(2024, 10, 29, 23, 59), vn(2024, 10, 30, 0), vn(2024, 11, 2), vn(2025, 10, 31),
]  # fmt: skip
FILES = [GOOD, BROKEN, REPORT, ParsedFile("scan.pdf", None)]
REQUIREMENTS = [
    QUOTA,
    replace(QUOTA, strict_resubmission=True),
    REGISTRATION,
    replace(YEARLY, rules=PHONG_THO[:1], forms=("mau-01",)),
    replace(YEARLY, extensions=(("xa-muong-so", date(2024, 11, 3)),), strict_resubmission=True),
]
submission_lists = st.lists(
    st.builds(
        sub,
        st.text("abcdefgh", min_size=1, max_size=2),
        st.sampled_from(WHEN),
        st.sampled_from(FILES),
        st.sampled_from(FILES),
    ),
    max_size=7,
    unique_by=lambda s: s.ref,  # the store's message ids are unique
)


@settings(max_examples=150)
@given(st.sampled_from(REQUIREMENTS), submission_lists, st.sampled_from(WHEN), st.randoms())
def test_status_does_not_depend_on_processing_order(
    req: Requirement, subs: list[Submission], now: datetime, rnd
) -> None:
    shuffled = list(subs)
    rnd.shuffle(shuffled)
    assert evaluate_periods(req, COMMUNE, subs, now, TZ, TITLES) == evaluate_periods(
        req, COMMUNE, shuffled, now, TZ, TITLES
    )


@settings(max_examples=150)
@given(
    st.sampled_from(REQUIREMENTS),
    submission_lists,
    st.sampled_from(WHEN),
    st.sampled_from(WHEN),
    st.sampled_from(FILES),
)
def test_mail_arriving_after_the_instant_changes_nothing_at_it(
    req: Requirement, subs: list[Submission], now: datetime, when: datetime, f: ParsedFile
) -> None:
    later = sub("zz", when, f)
    if when > now:
        assert evaluate_periods(req, COMMUNE, subs, now, TZ, TITLES) == evaluate_periods(
            req, COMMUNE, [*subs, later], now, TZ, TITLES
        )


# -- what a missing form or a paper copy implies -----------------------------------

QUOTAS = Requirement(
    "dvk", "Đăng ký Dân vận khéo", ("mau-01",), Deadline("before", date(2024, 2, 1)),
    rules=(CountRule("min", "collectives", Quota({"xa": 2}, 1)),),
)  # fmt: skip


def test_a_missing_form_is_not_also_reported_as_empty_quotas() -> None:
    [status] = evaluate_all([QUOTAS], [COMMUNE], {}, vn(2024, 2, 5), TZ, TITLES)
    assert status.problems == ()  # missing: nothing sent, nothing to list
    sent = {COMMUNE.id: [sub("1", vn(2024, 1, 20), ParsedFile("x.pdf", None))]}
    [status] = evaluate_all([QUOTAS], [COMMUNE], sent, vn(2024, 2, 5), TZ, TITLES)
    assert status.problems == ("Chưa nhận được Biểu tổng hợp (mẫu 01)",)


def test_a_paper_copy_marked_by_the_board_completes_despite_quotas() -> None:
    paper = Submission(
        "manual:1", vn(2024, 1, 30), (ParsedFile("bản giấy", "mau-01"),), manual=True
    )
    [status] = evaluate_all([QUOTAS], [COMMUNE], {COMMUNE.id: [paper]}, vn(2024, 2, 5), TZ, TITLES)
    assert (status.status, status.problems) == ("on_time", ())


# -- Tân Yên: a list (M3) plus one M1/M2 per model, levels counted on the M1/M2 --------

TAN_YEN_COMMUNES = Requirement(
    "dvk-2024-xa", "Đăng ký xây dựng mô hình “Dân vận khéo” năm 2024", ("M3",),
    Deadline("by", date(2024, 2, 27)), model_forms=("M1", "M2"),
    rules=(
        CountRule("min", "level_tinh", Quota({"xa": 1})),
        CountRule("min", "level_huyen", Quota({"xa": 4})),
        CountRule("max", "level_huyen", Quota({"xa": 5})),
    ),
)  # fmt: skip


def m1(model: str, level: str) -> ParsedFile:
    entry = Entry("Hội Nông dân xã", "tap-the", "kinh-te", level, {"model": model})
    return ParsedFile(f"M1 {model}.docx", "M1", entries=(entry,))


def test_levels_are_counted_on_the_one_per_model_forms() -> None:
    listing = form(row("Mô hình A"), row("Mô hình B"), form_id="M3")
    models = [m1("A", "tinh"), m1("B", "huyen"), m1("C", "huyen"), m1("D", "huyen")]
    first = sub("1", vn(2024, 2, 20), listing, *models)
    subs = {COMMUNE.id: [first]}
    [status] = evaluate_all([TAN_YEN_COMMUNES], [COMMUNE], subs, vn(2024, 3, 1), TZ, {})
    assert status.status == "incomplete"
    assert status.problems == (
        "Mới đăng ký 3 nội dung cấp huyện, yêu cầu ít nhất 4 nội dung cấp huyện",
    )
    # The fourth district-level model, and a corrected copy of model B (not a fifth).
    more = sub("2", vn(2024, 2, 26), m1("E", "huyen"), m1("B", "huyen"))
    subs = {COMMUNE.id: [first, more]}
    [status] = evaluate_all([TAN_YEN_COMMUNES], [COMMUNE], subs, vn(2024, 3, 1), TZ, {})
    assert (status.status, status.completed_at) == ("on_time", vn(2024, 2, 26))
