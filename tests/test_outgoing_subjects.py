"""Outgoing subjects round-trip exactly: no space lost between RFC 2047 encoded words."""

from __future__ import annotations

import email
from datetime import UTC, datetime
from email import policy
from email.header import decode_header, make_header

from hypothesis import given, settings
from hypothesis import strategies as st

from mail_ingest.delivery import MAX_SUBJECT, Outgoing, compose

NOW = datetime(2024, 1, 25, 9, 0, tzinfo=UTC)
SENDER = "Ban Dân vận Huyện ủy Phong Thổ <bandanvan@phongtho.example.vn>"
# Subjects of real mails that lost a space ("Đảng ủyxã", "đăngký", "gửilại").
SEEN = [
    "Ban Dân vận Huyện ủy đề nghị đơn vị gửi lại hồ sơ đăng ký mô hình Dân vận khéo "
    "năm 2024 của Đảng ủy xã Dào San huyện Phong Thổ gửi lại",
    "Re: Báo cáo kết quả đăng ký mô hình Dân vận khéo năm 2024 - Đảng ủy xã Mường So",
]
_TEXT = (
    "Ban Dân vận Huyện ủy đăng ký gửi lại hồ sơ Đảng xã thị trấn Mẫu 01 02 báo cáo "
    "năm 2024 - : ( ) trước ngày 31/01/2024 Dào San Mường So Khổng Lào Ma Li Pho"
)
WORDS = st.sampled_from(_TEXT.split())


def _round_trip(subject: str) -> tuple[str, str, list[str]]:
    raw = bytes(compose(Outgoing("k", ("a@x.vn",), subject, "body"), SENDER, NOW))
    parsed = email.message_from_bytes(raw, policy=policy.default)
    lines = []
    for line in raw.split(b"\r\nSubject: ")[1].split(b"\r\n"):  # the header's own lines
        if lines and not line[:1].isspace():
            break
        lines.append(line.decode("ascii"))
    legacy = str(make_header(decode_header("".join(lines))))  # mutt-like decoding
    return parsed["Subject"], legacy, lines


def test_long_vietnamese_subjects_keep_their_spaces() -> None:
    for subject in SEEN:
        modern, legacy, _ = _round_trip(subject)
        assert modern == subject
        assert legacy == subject


@settings(max_examples=200, deadline=None)
@given(st.lists(WORDS, min_size=1, max_size=40))
def test_any_subject_round_trips(words: list[str]) -> None:
    subject = " ".join(words)[: MAX_SUBJECT - 1]
    subject = " ".join(subject.split())
    modern, legacy, lines = _round_trip(subject)
    assert modern == subject
    assert legacy == subject
    assert all(len(line) <= 78 for line in lines[1:])  # folded as RFC 5322 asks
