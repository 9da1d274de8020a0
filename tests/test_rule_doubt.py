"""Per-rule judgement of the parser's doubt: a rule failure waits for the board only when
the rows the parser doubts could change its outcome; a failure they cannot change is told.

Real files: mẫu 01 written by the project's sample writer, with the kind column headed in
words no spec knows (the kind is then unknown, a doubt) and levels read for sure.
"""

from __future__ import annotations

import io
from datetime import date, datetime
from zoneinfo import ZoneInfo

import openpyxl
import pytest

import parsers
from mail_ingest.samples import SampleEntry, mau01_xlsx
from parsers.model import Entry
from rules.deadlines import Deadline
from rules.requirements import Requirement
from rules.status import Submission, evaluate, needs_check
from rules.units import Unit
from rules.validation import ROWS, CountRule, CustomRule, Quota, RequiredFields, judge

TZ = ZoneInfo("Asia/Ho_Chi_Minh")
COMMUNE = Unit("xa-muong-so", "Đảng ủy xã Mường So", "xa")
ENTRIES = [
    SampleEntry("Hợp tác xã chè Mường So", "tap-the", "kinh-te", "huyen", "Chè Shan tuyết"),
    SampleEntry("Chi hội Phụ nữ Nậm Củm", "tap-the", "van-hoa-xa-hoi", "xa", "Nhà sạch"),
    SampleEntry("Lò Văn Thắng", "ca-nhan", "xay-dung-dang", "xa", "Hiến đất làm đường"),
    SampleEntry("Tao Thị Xuân", "ca-nhan", "quoc-phong-an-ninh", "xa", "Tổ tự quản"),
]


def rule(bound: str, counter: str, n: int) -> CountRule:
    return CountRule(bound, counter, Quota({}, n))  # type: ignore[arg-type]


KIND, LEVEL = frozenset({"kind"}), frozenset({"level"})
ROWS_DOUBT = frozenset({ROWS})


def e(kind: str | None, level: str | None = "xa", model: str = "m") -> Entry:
    return Entry("x", kind, level=level, extra={"model": model} if model else {})


SURE: frozenset[str] = frozenset()
MIN3 = rule("min", "collectives", 3)
HUYEN = rule("min", "level_huyen", 1)
MAX2 = rule("max", "collectives", 2)
LEVELS = RequiredFields(("level",))
MODELS = CustomRule("co-ten-mo-hinh")


@pytest.mark.parametrize(
    ("entries", "doubts", "the_rule", "certain"),
    [
        # kinds unknown on two rows: they might be the two collectives missing
        ([e("tap-the"), e(None), e(None)], [SURE, KIND, KIND], MIN3, False),
        # ... but one doubtful row cannot make up for two missing
        ([e("tap-the"), e(None), e("ca-nhan")], [SURE, KIND, SURE], MIN3, True),
        # a doubt about kinds says nothing about levels
        ([e(None, "xa"), e(None, "xa")], [KIND, KIND], HUYEN, True),
        ([e("tap-the", "xa"), e("tap-the", None)], [SURE, LEVEL], HUYEN, False),
        # a maximum passed by sure rows alone is certain, by doubtful ones not
        ([e("tap-the")] * 3, [SURE] * 3, MAX2, True),
        ([e("tap-the")] * 3, [SURE, KIND, KIND], MAX2, False),
        # a doubt about the rows themselves leaves every count open
        ([e("tap-the")], [ROWS_DOUBT], rule("min", "entries", 2), False),
        ([e("tap-the")], [KIND], rule("min", "entries", 2), True),
        # a blank column: certain unless that column was read by guess on a blank row
        ([e("tap-the", None)], [SURE], LEVELS, True),
        ([e("tap-the", None)], [LEVEL], LEVELS, False),
        ([e("tap-the", None), e("tap-the", "xa")], [SURE, LEVEL], LEVELS, True),
        # a custom rule may read anything: any doubt softens it
        ([e("tap-the", model=""), e("tap-the")], [SURE, KIND], MODELS, False),
        ([e("tap-the", model="")], [SURE], MODELS, True),
    ],
)
def test_a_failure_is_doubtful_only_if_the_doubt_could_change_it(
    entries: list[Entry], doubts: list[frozenset[str]], the_rule: object, certain: bool
) -> None:
    [(message, sure)] = judge([the_rule], "xa", entries, COMMUNE, doubts)  # type: ignore[list-item]
    assert sure is certain, message


def test_without_doubts_every_failure_is_certain() -> None:
    rules = [rule("min", "collectives", 5), rule("min", "level_tinh", 1)]
    assert [sure for _, sure in judge(rules, "xa", [e("tap-the")])] == [True, True]


# --- through real files and the status -------------------------------------------------


# The kind column in a unit's own words, heading and values: nothing the parser can read.
OWN_WORDS = {"Tập thể/Cá nhân": "Cột K9", "Tập thể": "Nhóm 1", "Cá nhân": "Nhóm 2"}


def renamed(data: bytes) -> bytes:
    book = openpyxl.load_workbook(io.BytesIO(data))
    sheet = book.active
    assert sheet is not None
    for row in sheet.iter_rows():
        for cell in row:
            if isinstance(cell.value, str) and cell.value in OWN_WORDS:
                cell.value = OWN_WORDS[cell.value]
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


REQUIREMENT = Requirement(
    "dang-ky",
    "Đăng ký Dân vận khéo",
    ("mau-01",),
    Deadline("before", date(2024, 2, 1)),
    rules=(rule("min", "collectives", 3), rule("min", "level_tinh", 1)),
)


def status_of(data: bytes):  # type: ignore[no-untyped-def]
    parsed = parsers.parse_file("Mau 01.xlsx", data)
    when = datetime(2024, 1, 25, 9, tzinfo=TZ)
    now = datetime(2024, 1, 29, 8, tzinfo=TZ)
    titles = {"mau-01": "Biểu tổng hợp (mẫu 01)"}
    return parsed, evaluate(
        REQUIREMENT, COMMUNE, [Submission("a", when, (parsed,))], now, TZ, titles
    )


def test_a_doubt_about_kinds_holds_back_the_kind_quota_not_the_level_quota() -> None:
    """Kind column in the unit's own words: which rows are collectives is the board's to check,
    but no reading of the kinds gives a province-level model: that shortfall is told."""
    parsed, status = status_of(renamed(mau01_xlsx(COMMUNE.name, ENTRIES)))
    assert needs_check(parsed) and "kind" in parsed.doubted and "level" not in parsed.doubted
    assert status.status == "incomplete"
    assert any("cấp tỉnh" in p for p in status.problems)
    assert not any("tập thể" in p and "Mới đăng ký" in p for p in status.problems)
    assert any("tập thể" in d for d in status.doubts)


def test_a_doubt_about_kinds_alone_leaves_the_unit_to_the_board() -> None:
    """With a province-level model the level quota passes: only the doubt stands."""
    entries = [ENTRIES[0], ENTRIES[1], ENTRIES[2], SampleEntry(
        "Tao Thị Xuân", "ca-nhan", "quoc-phong-an-ninh", "tinh", "Tổ tự quản")]  # fmt: skip
    _, status = status_of(renamed(mau01_xlsx(COMMUNE.name, entries)))
    assert status.status == "checking", status.problems
    assert status.problems == ()


def test_a_sure_reading_tells_every_failure() -> None:
    parsed, status = status_of(mau01_xlsx(COMMUNE.name, ENTRIES))
    assert not needs_check(parsed) and parsed.doubted == ()
    assert status.status == "incomplete" and status.doubts == ()
    assert len(status.problems) == 2


def test_a_paper_known_only_by_its_file_name_waits_for_the_board() -> None:
    """An invoice saved as "Mau 01.xlsx": no problem told to the unit, no reminder owed;
    the board checks the file."""
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    for row in (["HÓA ĐƠN BÁN HÀNG"], ["STT", "Tên hàng", "Số lượng"], ["1", "Giấy A4", "10"]):
        sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    parsed, status = status_of(out.getvalue())
    assert parsed.form == "mau-01" and needs_check(parsed)
    assert (status.status, status.problems) == ("checking", ())
