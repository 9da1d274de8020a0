"""Read a free-text report (mẫu 02): who wrote it, its title, and whether it says anything.

The board reads the report itself; what it needs from the machine is the unit, the title,
and a warning when a unit sent the blank template or a title with no body, which happens
when a unit rushes to meet the deadline.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from parsers.detect import date_line, unit_line
from parsers.model import Problem
from parsers.office import Content, Grid
from parsers.specs import FormSpec, ReportShape
from parsers.text import fold, has_phrase, words

TITLE_SEARCH_LINES = 30
PERIOD_LINE_WORDS = 12  # a longer line under the title is the body, not the title's end
_YEAR = re.compile(r"\bnam (20\d\d)\b")


def read_report(
    spec: FormSpec, shape: ReportShape, content: Content, head: Sequence[str], filename: str
) -> tuple[dict[str, str], tuple[Problem, ...]]:
    """Fields (don_vi, tieu_de, ngay, so_tu) and the problems of an essentially empty report."""
    lines = [line for block in content.blocks for line in _lines(block)]
    start = _title_index(lines, shape.title)
    fields: dict[str, str] = {}
    unit = unit_line(lines[:start] if start is not None else head, spec.unit_prefixes, spec.titles)
    if unit:
        fields["don_vi"] = unit
    body_from = 0
    if start is not None:
        title = lines[start]
        body_from = start + 1
        if len(words(title).split()) <= 3 and body_from < len(lines):  # "BÁO CÁO" on its own
            title = f"{title} {lines[body_from]}"
            body_from += 1
        fields["tieu_de"] = title
        following = lines[body_from] if body_from < len(lines) else ""
        fields |= _period(shape, title, following)
    day = date_line(head)
    if day:
        fields["ngay"] = day
    body = []
    for line in lines[body_from:]:
        if shape.end and shape.end.search(fold(line)):
            break
        body.append(line)
    count = sum(len(words(line).split()) for line in body)
    fields["so_tu"] = str(count)
    problems = []
    if count < shape.min_words:
        problems.append(
            Problem(
                "empty-report",
                f"Báo cáo trong tệp '{filename}' gần như chưa có nội dung ({count} từ); "
                f"đề nghị {shape.ask} và gửi lại",
            )
        )
    return fields, tuple(problems)


def _period(shape: ReportShape, title: str, following: str) -> dict[str, str]:
    """ky (the spec's period id: "quy-3", "6-thang", "nam") and nam (the year), from the
    title or the short line under it ("Kết quả thực hiện phong trào ..." / "Quý III năm 2024")."""
    if not shape.periods:
        return {}
    text = title if len(words(following).split()) > PERIOD_LINE_WORDS else f"{title}\n{following}"
    found = [
        (len(words(phrase)), period)
        for period, phrases in shape.periods
        for phrase in phrases
        if has_phrase(phrase, text)
    ]
    out = {"ky": max(found)[1]} if found else {}
    year = _YEAR.search(words(text))
    if year:
        out["nam"] = year.group(1)
    return out


def _lines(block: str | Grid) -> list[str]:
    if isinstance(block, str):
        return block.splitlines()
    return [line for row in block.rows for cell in dict.fromkeys(row) for line in cell.splitlines()]


def _title_index(lines: Sequence[str], title: str) -> int | None:
    wanted = words(title)
    for i, line in enumerate(lines[:TITLE_SEARCH_LINES]):
        if f"{words(line)} ".startswith(f"{wanted} "):
            return i
    return None
