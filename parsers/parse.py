"""parse_file: one attachment's bytes in, a ParsedFile out, whatever the bytes are.

Every failure becomes a Problem worded for the unit that sent the file (what happened and
what to do), never an exception: one bad attachment must not stop a mailbox poll.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import PurePath
from typing import Any

from parsers import bundle
from parsers.detect import Recognised, date_line, named_like_a_form, recognise, unit_line
from parsers.labelled import before_items, read_labelled, with_lessons
from parsers.limits import MAX_FILE_BYTES
from parsers.model import Entry, ParsedFile, Problem
from parsers.office import Content, Grid, Unreadable, read
from parsers.report import read_report
from parsers.specs import FormSpec, TableShape, builtin_specs
from parsers.tables import Header, Reading, find_header, read_rows
from parsers.text import fold
from parsers.vocabulary import NOTHING_TAUGHT, Lesson, Taught, value_id
from parsers.xls import read_xls

log = logging.getLogger(__name__)

READABLE = {".xlsx": "xlsx", ".xlsm": "xlsx", ".docx": "docx", ".docm": "docx", ".xls": "xls"}
LEGACY = {".doc": "Word", ".xlsb": "Excel", ".rtf": "Word", ".odt": "Word", ".ods": "Excel"}
APP = {"xlsx": "Excel", "docx": "Word", "xls": "Excel"}
# Received and kept, but read by people: a signed, stamped scan often comes with the form.
SCANS = {".pdf", ".jpg", ".jpeg", ".png", ".heic", ".heif", ".tif", ".tiff", ".gif", ".bmp"}
ARCHIVES = {".rar": "RAR", ".7z": "7-Zip", ".tar": "tar", ".gz": "gzip"}  # not unpacked


def parse_file(
    filename: str,
    data: bytes,
    specs: Sequence[FormSpec] | None = None,
    hint: str = "",
    taught: Taught | None = None,
) -> ParsedFile:
    """Read one attached file. `hint` is the email subject, a weak clue to the form;
    `taught` what the board has taught about headers and values (applied, and named in
    ParsedFile.taught when used)."""
    try:
        return _parse(filename, data, builtin_specs() if specs is None else specs, hint, taught)
    except MemoryError:  # the sandbox's limit: mail_ingest.sandbox reports it
        raise
    except Exception:  # a bug of ours; the unit's message still lands, marked for review
        log.exception("parser failed on %r", filename)
        return _fail(
            filename,
            "parser-error",
            f"Không đọc được tệp '{filename}' do lỗi của chương trình; "
            "Ban Dân vận sẽ kiểm tra thủ công",
        )


def _parse(
    filename: str,
    data: bytes,
    specs: Sequence[FormSpec],
    hint: str,
    taught: Taught | None = None,
) -> ParsedFile:
    ext = PurePath(filename).suffix.lower()
    if not data:
        return _fail(
            filename, "empty-file", f"Tệp '{filename}' không có nội dung (0 byte); đề nghị gửi lại"
        )
    if len(data) > MAX_FILE_BYTES:
        return _fail(
            filename,
            "too-large",
            f"Tệp '{filename}' có dung lượng {len(data) / 2**20:.1f} MB, vượt mức "
            f"{MAX_FILE_BYTES // 2**20} MB hệ thống tự đọc; Ban Dân vận sẽ xem thủ công",
        )
    if ext in SCANS or ext in ARCHIVES:
        return _received(filename, ext)
    if bundle.is_archive(filename, data):  # the service reads the files inside on their own
        return bundle.summary(filename, data)
    expected = READABLE.get(ext)
    if expected is None:
        return _needs_review(filename, ext)
    try:
        content = read_xls(data) if expected == "xls" else read(data)
    except Unreadable as exc:
        return _unreadable(filename, ext, APP[expected], exc)
    found = recognise(specs, filename, hint, content)
    if found is None:
        known = "; ".join(spec.title for spec in specs)
        failed = _fail(
            filename,
            "unrecognised-form",
            f"Không nhận ra biểu mẫu trong tệp '{filename}'; "
            f"đề nghị dùng đúng biểu mẫu theo hướng dẫn ({known})",
        )
        if not named_like_a_form(specs, filename):
            return failed
        # Named like a form, read as none: maybe a form in a layout we do not know.
        problems = tuple(replace(p, certain=False) for p in failed.problems)
        return replace(failed, problems=problems, confidence=WEAK_CONFIDENCE)
    if found.spec.report is not None:
        fields, problems = read_report(found.spec, found.spec.report, content, found.head, filename)
        parsed = ParsedFile(filename, found.spec.id, fields, (), problems)
    elif found.spec.labelled is not None:
        parsed = _labelled(
            filename, content, found, _for_form(taught or NOTHING_TAUGHT, found.spec.id)
        )
    else:
        parsed = _table(
            filename, content, found, _for_form(taught or NOTHING_TAUGHT, found.spec.id)
        )
    return _doubted_form(parsed, found.spec) if found.weak else parsed


WEAK_CONFIDENCE = 0.3  # a form known only by its file name or the subject


def _doubted_form(parsed: ParsedFile, spec: FormSpec) -> ParsedFile:
    """A file recognised only by weak clues (its name, the subject): maybe no form at all
    (an invoice or a CV named "Mau 01.docx"). Nothing it lacks is told to the unit, none
    of its rows counts until the board has looked: every problem becomes a doubt."""
    why = (
        f"tệp được nhận là {spec.title} chỉ theo tên tệp hoặc tiêu đề thư "
        "(không thấy tên biểu, hàng tiêu đề hay các mục của biểu mẫu)"
    )
    problems = tuple(replace(p, certain=False) for p in parsed.problems)
    return replace(
        parsed,
        entries=(),
        problems=problems,
        confidence=min(parsed.confidence, WEAK_CONFIDENCE),
        inferred=(why, *parsed.inferred),
        doubted=("*",),
    )


def _for_form(taught: Taught, form: str) -> Taught:
    """The lessons that apply to this form: its own and those for every form."""

    def keep(lessons: Sequence[Lesson]) -> tuple[Lesson, ...]:
        return tuple(lesson for lesson in lessons if lesson.form in (None, form))

    return Taught(keep(taught.headers), {k: keep(v) for k, v in taught.values.items()})


def _labelled(filename: str, content: Content, found: Recognised, taught: Taught) -> ParsedFile:
    spec, shape = found.spec, found.spec.labelled
    assert shape is not None
    # The unit's name stands above the first item; "BẢN ĐĂNG KÝ" is not a title on its own.
    head = before_items(found.head, with_lessons(shape, taught.headers))
    unit = unit_line(head, spec.unit_prefixes, (*spec.titles, ("bản đăng ký",)))
    fields = {k: v for k, v in (("don_vi", unit), ("ngay", date_line(found.head))) if v}
    more, entries, problems, used = read_labelled(spec, shape, content, unit, taught.headers)
    return ParsedFile(filename, spec.id, fields | more, entries, problems, taught=used)


def _table(filename: str, content: Content, found: Recognised, taught: Taught) -> ParsedFile:
    spec, shape = found.spec, found.spec.table
    assert shape is not None
    reading = Reading(taught)
    fields = {"don_vi": unit_line(found.head, spec.unit_prefixes, spec.titles)}
    fields["ngay"] = date_line(found.head)
    fields = {k: v for k, v in fields.items() if v}
    if found.table is None:
        labels = ", ".join(shape.column(k).label for k in shape.name_keys)
        return ParsedFile(
            filename,
            spec.id,
            fields,
            problems=(
                Problem(
                    "no-table",
                    f"Tệp '{filename}' là {spec.title} nhưng không tìm thấy hàng tiêu đề "
                    f"của bảng (cột {labels}, ...); đề nghị dùng đúng biểu mẫu và gửi lại",
                ),
            ),
        )
    first = found.table
    if taught.headers:  # the board's header lessons may explain more of the same table
        block = content.blocks[first[0]]
        assert isinstance(block, Grid)
        again = find_header(block, shape, reading)
        first = (first[0], again) if again is not None else first
    entries, problems = _read_tables(content, first, shape, reading, found.head)
    if not entries:
        problems += (
            Problem("no-entries", f"Biểu trong tệp '{filename}' chưa có dòng đăng ký nào"),
        )
    return ParsedFile(
        filename,
        spec.id,
        fields,
        entries,
        problems,
        confidence=_confidence(reading, problems),
        inferred=tuple(reading.inferred),
        taught=tuple(sorted(reading.used)),
        doubted=_doubted(reading, problems),
    )


# Uncertain problems tied to one column; any other leaves the rows themselves in doubt.
_COLUMN_DOUBTS = frozenset({"unknown-value", "missing-column", "missing-value"})


def _doubted(reading: Reading, problems: Sequence[Problem]) -> tuple[str, ...]:
    """The entry attributes a guess stands behind, or "*" when an uncertain problem is
    about more than a column's values."""
    keys = set(reading.doubtful | reading.unsure)
    if any(not p.certain and p.code not in _COLUMN_DOUBTS for p in problems):
        keys.add("*")
    return tuple(sorted(keys))


def _confidence(reading: Reading, problems: Sequence[Problem]) -> float:
    """1.0 for a reading with nothing guessed; each inference and each doubt lowers it."""
    value = 1.0 - 0.15 * len(reading.inferred)
    if any(not p.certain for p in problems):
        value = min(value, 0.6)
    return round(max(0.2, value), 2)


_TITLE_KIND = re.compile(r"\b(tap the|ca nhan)\b")


def _kind_in(text: str, keys: dict[str, Any]) -> str | None:
    """The one kind a title line names ("DANH SÁCH TẬP THỂ ĐĂNG KÝ"), if it names one."""
    if "kind" not in keys:
        return None
    found = {m.group(1) for m in _TITLE_KIND.finditer(text)}
    return value_id("kind", found.pop(), keys["kind"].values) if len(found) == 1 else None


_TITLE_LEVEL = re.compile(r"\bcap (xa|huyen|tinh)\b")


def _defaults(grid: Grid, head: Sequence[str], shape: TableShape, reading: Reading) -> None:
    """Facts stated outside the table (a sheet named "Tập thể", a title "... CẤP XÃ"):
    defaults for rows that say nothing else, marked as inferred."""
    reading.defaults = {}
    keys = {c.key: c for c in shape.columns if c.values}
    if grid.name and "kind" in keys:
        kind = value_id("kind", grid.name, keys["kind"].values, strict=True)
        if kind:
            reading.defaults["kind"] = kind
            reading.note(f"trang “{grid.name}”: các dòng chưa ghi loại được hiểu theo tên trang")
    for line in head:
        kinds = {v for w in fold(line).split(",") if (v := _kind_in(w, keys))}
        if line.isupper() and len(kinds) == 1 and "kind" not in reading.defaults:
            reading.defaults["kind"] = kinds.pop()
            reading.note(f"loại (tập thể/cá nhân) được hiểu theo tiêu đề “{line}”")
        level = _TITLE_LEVEL.search(fold(line))
        if level and "level" in keys and line.isupper() and "level" not in reading.defaults:
            # the first title that names a level; a later line may still name the kind
            reading.defaults["level"] = {"xa": "xa", "huyen": "huyen", "tinh": "tinh"}[
                level.group(1)
            ]
            reading.note(f"cấp được hiểu theo tiêu đề “{line}”")
    reading.doubtful.update(reading.defaults)


def _read_tables(
    content: Content,
    first: tuple[int, Header],
    shape: TableShape,
    reading: Reading,
    head: Sequence[str] = (),
) -> tuple[tuple[Entry, ...], tuple[Problem, ...]]:
    """Rows of every grid whose header fits the form, from the first one found on: a long
    list may be split over several sheets, or over several tables in a Word file."""
    grids = [(b, block) for b, block in enumerate(content.blocks) if isinstance(block, Grid)]
    tables = [(first[1], grid) for b, grid in grids if b == first[0]]
    tables += [
        (h, grid) for b, grid in grids if b > first[0] if (h := find_header(grid, shape, reading))
    ]
    entries: tuple[Entry, ...] = ()
    problems: tuple[Problem, ...] = ()
    for n, (header, grid) in enumerate(tables, 1):
        if content.format == "xlsx":  # Excel shows row numbers: name the row the unit sees
            prefix = f"Trang “{grid.name}”, dòng" if len(grids) > 1 else "Dòng"
        else:
            prefix = f"Bảng {n}, dòng" if len(tables) > 1 else "Dòng"
        suffix = " của bảng" if content.format != "xlsx" and len(tables) == 1 else ""
        _defaults(grid, head, shape, reading)
        more, found = read_rows(grid, header, shape, _where(prefix, suffix), reading)
        entries, problems = entries + more, problems + found
    return entries, problems


def _where(prefix: str, suffix: str) -> Callable[[int], str]:
    return lambda i: f"{prefix} {i + 1}{suffix}"


def _needs_review(filename: str, ext: str) -> ParsedFile:
    message = f"Đã nhận tệp '{filename}'; hệ thống chưa tự đọc được loại tệp này, "
    message += "Ban Dân vận sẽ xem trực tiếp"
    if ext in LEGACY:
        message += (
            f". Để được tổng hợp tự động, đề nghị lưu lại dưới dạng "
            f"{'.xlsx' if LEGACY[ext] == 'Excel' else '.docx'} và gửi kèm"
        )
    return _fail(filename, "needs-review", message)


def _received(filename: str, ext: str) -> ParsedFile:
    if ext in SCANS:
        return _fail(
            filename,
            "scan-needs-review",
            f"Đã nhận bản chụp/bản scan '{filename}'; Ban Dân vận sẽ xem trực tiếp",
        )
    return _fail(
        filename,
        "archive-needs-review",
        f"Đã nhận tệp nén {ARCHIVES[ext]} '{filename}'; hệ thống chỉ tự giải nén được tệp .zip, "
        "Ban Dân vận sẽ xem trực tiếp. Để được tổng hợp tự động, đề nghị gửi trực tiếp các tệp "
        "hoặc nén dạng .zip",
    )


def unreadable(filename: str, exc: Unreadable) -> ParsedFile:
    """What the unit and the board read about a file the safety checks refused."""
    ext = PurePath(filename).suffix.lower()
    return _unreadable(filename, ext, APP.get(READABLE.get(ext, ""), "Word hoặc Excel"), exc)


def _unreadable(filename: str, ext: str, app: str, exc: Unreadable) -> ParsedFile:
    if exc.code == "encrypted":
        message = (
            f"Không mở được tệp '{filename}' vì tệp được đặt mật khẩu; "
            "đề nghị gỡ mật khẩu rồi gửi lại"
        )
    elif exc.code == "needs-review":  # an old binary .doc/.xls renamed to .docx/.xlsx
        message = (
            f"Đã nhận tệp '{filename}' nhưng tệp thực chất là định dạng {app} cũ; "
            f"Ban Dân vận sẽ xem trực tiếp. Để được tổng hợp tự động, đề nghị mở tệp, "
            f"lưu lại dưới dạng {ext} và gửi lại"
        )
    elif exc.code == "suspicious-file":
        message = (
            f"Không đọc được tệp '{filename}': nội dung nén bất thường (giải nén quá lớn); "
            "Ban Dân vận sẽ kiểm tra thủ công"
        )
    else:
        message = (
            f"Không đọc được tệp '{filename}': tệp bị hỏng hoặc không phải tệp {app}; "
            f"đề nghị mở lại tệp bằng {app}, lưu và gửi lại"
        )
    return _fail(filename, exc.code, message)


def _fail(filename: str, code: str, message: str) -> ParsedFile:
    return ParsedFile(filename, None, problems=(Problem(code, message),))
