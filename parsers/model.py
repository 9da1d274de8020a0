"""What a parser hands back: plain frozen records, no I/O, no library objects."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field as _field  # `field` is also an Entry attribute

# Vocabularies of the letters (see shared/domain.md). Parsers map whatever a unit
# typed onto these ids; anything else becomes None plus a problem.
KINDS = ("tap-the", "ca-nhan")
FIELDS = ("xay-dung-dang", "kinh-te", "van-hoa-xa-hoi", "quoc-phong-an-ninh")
LEVELS = ("tinh", "huyen", "xa")
# How people read those ids (reports, the consolidated list, `mail-ingest parse`).
KIND_LABELS = {"tap-the": "Tập thể", "ca-nhan": "Cá nhân"}
FIELD_LABELS = {
    "xay-dung-dang": "Xây dựng Đảng và hệ thống chính trị",
    "kinh-te": "Phát triển kinh tế, bảo vệ môi trường",
    "van-hoa-xa-hoi": "Văn hóa - xã hội",
    "quoc-phong-an-ninh": "Quốc phòng - an ninh",
}
LEVEL_LABELS = {"tinh": "Cấp tỉnh", "huyen": "Cấp huyện", "xa": "Cấp xã"}


@dataclass(frozen=True)
class Problem:
    """Something to act on. `message` is formal Vietnamese, shown to people.

    Only a `certain` problem is ever told to the unit (acknowledgement, reminder); one the
    parser is not sure of is a doubt for the board, who checks the file instead.
    """

    code: str  # stable machine id: "unrecognised-form", "empty-field", "corrupt-file", ...
    message: str
    certain: bool = True


@dataclass(frozen=True)
class Entry:
    """One registered collective, person or model (one row of a table form)."""

    name: str
    kind: str | None = None  # one of KINDS
    field: str | None = None  # one of FIELDS
    level: str | None = None  # one of LEVELS
    extra: Mapping[str, str] = _field(default_factory=dict)  # every other column, by spec key


@dataclass(frozen=True)
class ParsedFile:
    """The outcome of reading one attachment. `form` is None when nothing was recognised."""

    filename: str
    form: str | None
    fields: Mapping[str, str] = _field(default_factory=dict)
    entries: tuple[Entry, ...] = ()
    problems: tuple[Problem, ...] = ()
    # How sure the reading is (0..1), and what was inferred rather than read (Vietnamese,
    # for the board: "cột 'Phân loại' được hiểu là tập thể/cá nhân").
    confidence: float = 1.0
    inferred: tuple[str, ...] = ()
    taught: tuple[str, ...] = ()  # the board's taught rules this reading used (their ids)
    # Headers and values met and not understood, as written: the daily report lists the
    # most frequent, so the board knows what to teach.
    unknown: tuple[str, ...] = ()
    # What a doubt stands behind: the entry attributes ("kind", "field", "level", ...) read
    # by guess or left unknown, so that only the rules counting them wait for the board;
    # "*" when the doubt may concern the rows themselves. Empty on a reading that needs a
    # check (or one stored without it): every rule waits.
    doubted: tuple[str, ...] = ()
