"""The Vietnamese words people read, in one place: labels, dates, letters, forms, subjects.

Mails, the status table, the report workbook and the web page all word the same
things; saying them here once keeps "Chưa gửi" from being "Chưa nộp" on another page,
and dates in the form an official letter uses ("17 giờ 30 ngày 05/02/2024").
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import date, datetime
from zoneinfo import ZoneInfo

from rules.requirements import Letter

STATUS_LABELS = {  # the board's words for a unit's standing (standing, workbook, web)
    "missing": "Chưa gửi",
    "incomplete": "Chưa đầy đủ",
    "checking": "Chờ kiểm tra",  # only the parser's doubt: the board checks, nobody is told
    "on_time": "Đúng hạn",
    "late": "Trễ hạn",
}
ACK_LABELS = {  # the same standing as a unit is told it, in a sentence
    "on_time": "đã đầy đủ, đúng hạn",
    "late": "đã đầy đủ nhưng trễ hạn",
    "incomplete": "chưa đầy đủ",
    "checking": "đã nhận hồ sơ, đang chờ kiểm tra",
    "missing": "chưa nhận được hồ sơ",
}
GROUP_LABELS = {
    "xa": "Khối xã, thị trấn",
    "co-quan": "Khối cơ quan",
    "doan-the": "Khối Mặt trận và các đoàn thể",
    "llvt": "Khối lực lượng vũ trang",
}
# The web page's words for stored states (mail_ingest.web)
VIA_LABELS = {"paper": "Bản giấy", "zalo": "Zalo", "other": "Hình thức khác"}
VIA_NOTES = {"paper": "Nhận bản giấy", "zalo": "Nhận qua Zalo", "other": "Nhận trực tiếp"}  # a note
OUTBOX_LABELS = {"sent": "Đã gửi", "pending": "Đang chờ gửi", "sending": "Đang gửi",
                 "failed": "Gửi không được", "unknown": "Chưa rõ đã gửi chưa",
                 "cancelled": "Đã hủy"}  # fmt: skip
OUTCOME_LABELS = {"submission": "Hồ sơ", "needs-review": "Chờ xác định đơn vị",
                  "unknown-sender": "Người gửi lạ", "ignored": "Không liên quan",
                  "auto-reply": "Thư trả lời tự động", "bounce": "Thư báo lỗi gửi",
                  "too-large": "Quá lớn", "error": "Lỗi đọc thư"}  # fmt: skip
MAILBOX_LABELS = {"imap": "IMAP (máy chủ thư)", "maildir": "thư mục Maildir trên máy"}
ROLE_LABELS = {"leader": "Lãnh đạo (chỉ xem)", "staff": "Cán bộ (xem và xử lý)",
               "admin": "Quản trị (xử lý và quản lý tài khoản)"}  # fmt: skip
DEFAULT_BOARD = "Ban Dân vận Huyện ủy"
CHECKING = "đã nhận, đang chờ cán bộ kiểm tra nội dung"
REPLY_WELCOME = (
    "Đơn vị có thể trả lời thư này, đính kèm tệp đã bổ sung hoặc sửa đổi; "
    "thư trả lời được tiếp nhận như hồ sơ gửi lại."
)


def clock(t: datetime, tz: ZoneInfo) -> str:
    """An instant as a letter writes it: "17 giờ 30 ngày 05/02/2024"."""
    local = t.astimezone(tz)
    return f"{local:%H} giờ {local:%M} ngày {local:%d/%m/%Y}"


def day(d: date | datetime, tz: ZoneInfo | None = None) -> str:
    """A day as a letter writes it: "ngày 01/02/2024"."""
    return f"ngày {numeric_day(d, tz)}"


def numeric_day(d: date | datetime, tz: ZoneInfo | None = None) -> str:
    """A day alone, "01/02/2024", for a subject or a cell."""
    if isinstance(d, datetime) and tz is not None:
        d = d.astimezone(tz)
    return f"{d:%d/%m/%Y}"


def stamp(t: datetime, tz: ZoneInfo) -> str:
    """An instant in a table cell, short and sortable by eye: "17:30 05/02/2024"."""
    return f"{t.astimezone(tz):%H:%M %d/%m/%Y}"


def form_name(form: str, titles: Mapping[str, str]) -> str:
    """A form by the name its spec gives it, never its id (a deployment's unknown id is
    shown as "biểu mẫu <id>", which still reads as words)."""
    return titles.get(form) or f"biểu mẫu {form}"


def form_names(forms: Iterable[str], titles: Mapping[str, str]) -> str:
    return "; ".join(form_name(f, titles) for f in forms)


def name_forms(text: str, titles: Mapping[str, str]) -> str:
    """A sentence with form ids in it (a rule's message) with each id replaced by the
    form's name: the mapping is made at the sink, where the titles are known."""
    if not titles:
        return text
    ids = sorted(titles, key=len, reverse=True)
    pattern = re.compile(r"(?<![\w-])(" + "|".join(map(re.escape, ids)) + r")(?![\w-])")
    return pattern.sub(lambda m: titles[m.group(1)], text)


def letter_phrase(letter: Letter | None, title: str) -> str:
    """What a mail cites: "Công văn số 35-CV/BDVHU ngày 23/01/2024 của Ban Dân vận Huyện
    ủy về <what it is about>", or "" when no letter is configured (the mail then opens
    without "Thực hiện ...")."""
    if letter is None:
        return ""
    words = f"Công văn số {letter.number}"
    if letter.date is not None:
        words += f" {day(letter.date)}"
    if letter.by:
        words += f" của {letter.by}"
    return f"{words} về {lower_first(letter.about or title)}"


def lower_first(title: str) -> str:
    """A title inside a sentence: "Đăng ký thi đua ..." reads "đăng ký thi đua ..."; a
    title opening with a name ("Ban ...", "Huyện ủy ...") or a quote keeps its case."""
    first = title.split(" ", 1)[0]
    if first[:1].isupper() and first[1:].islower() and first not in _PROPER:
        return title[:1].lower() + title[1:]
    return title


_PROPER = frozenset({"Ban", "Huyện", "Tỉnh", "Đảng", "Mặt", "Hội", "Đoàn", "Công"})

# Reply and forward prefixes of the clients units use (English, Vietnamese Outlook,
# German, Nordic), any case, repeated, with or without a count: "Re[2]:", "TL: Trả lời:".
_PREFIX = re.compile(
    r"^\s*(?:(?:re|fwd?|tl|tr|aw|wg|sv|vs|trả\s+lời|chuyển\s+tiếp)(?:\s*\[\d{1,3}\])?\s*[:：]\s*)+",
    re.IGNORECASE,
)


def strip_prefixes(subject: str) -> str:
    """The subject without its stack of reply/forward prefixes; [tags] are kept."""
    text = subject.strip()
    for _ in range(50):  # bounded: "[x] Re: [y] Fwd: ..." alternates tags and prefixes
        tag = re.match(r"^(\s*\[[^\]]{0,80}\]\s*)", text)
        head = tag.group(1) if tag else ""
        rest = _PREFIX.sub("", text[len(head) :], count=1)
        if rest == text[len(head) :]:
            return text
        text = head + rest
    return text


def reply_subject(subject: str) -> str:
    """One "Re: " before the stripped subject."""
    stripped = strip_prefixes(subject)
    return f"Re: {stripped}" if stripped else "Re:"
