"""Forms as units really write them: every sample form, transformed every way, reads the same.

The samples are the project's own (mail_ingest.samples, with the office fixtures' entries):
each is read back into a plain model (lines above, header rows, body rows, lines below),
transformed the way units rewrite a form (their own header wordings, another column order,
tick columns, other section numbering, notes, nesting, NFD, no diacritics, TCVN3), and
written again as a real .xlsx or .docx. Each transformation is one test over every sample:
the same entries (name, kind, field, level) come out, and a complete form has no problem.
"""

from __future__ import annotations

import io
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, replace

import docx
import openpyxl
import pytest

from mail_ingest import samples
from mail_ingest.samples import SampleEntry
from parsers import parse_file
from parsers.legacy import encode
from parsers.text import fold
from tests.office_fixtures import ENTRIES, UNIT

MORE = [
    SampleEntry("Đoàn Thanh niên xã Bản Lang", "tap-the", "xay-dung-dang", "huyen", "Thắp sáng"),
    SampleEntry("Hội Nông dân xã Bản Lang", "tap-the", "kinh-te", "xa", "Nuôi cá lồng"),
    SampleEntry("Giàng A Pó", "ca-nhan", "kinh-te", "xa", "Trồng sâm"),
    SampleEntry("Vàng Thị Mỷ", "ca-nhan", "van-hoa-xa-hoi", "huyen", "Giữ gìn khèn Mông"),
    SampleEntry("Công an xã Bản Lang", "tap-the", "quoc-phong-an-ninh", "xa", "Camera an ninh"),
]
SETS = {"four": ENTRIES, "five": MORE}


@dataclass(frozen=True)
class Form:
    """A table form as a clerk sees it: rows of cells, merged cells repeated."""

    fmt: str  # "xlsx" | "docx"
    before: tuple[str, ...]
    header: tuple[tuple[str, ...], ...]
    body: tuple[tuple[str, ...], ...]
    after: tuple[str, ...]
    entries: tuple[SampleEntry, ...]
    sheet: str = "Mẫu 01"
    nested: bool = False


# --- reading the samples into the model ------------------------------------------------


def _xlsx_rows(data: bytes) -> tuple[str, list[list[str]]]:
    book = openpyxl.load_workbook(io.BytesIO(data))
    sheet = book.active
    assert sheet is not None
    rows = [["" if v is None else str(v) for v in row] for row in sheet.iter_rows(values_only=True)]
    for merged in sheet.merged_cells.ranges:
        for r in range(merged.min_row - 1, merged.max_row):
            for c in range(merged.min_col - 1, merged.max_col):
                rows[r][c] = rows[merged.min_row - 1][merged.min_col - 1]
    return sheet.title, rows


def _docx_rows(data: bytes) -> tuple[list[str], list[list[str]], list[str]]:
    document = docx.Document(io.BytesIO(data))
    before: list[str] = []
    after: list[str] = []
    grid: list[list[str]] = []
    tables = document.tables
    main = max(tables, key=lambda t: len(t.rows))
    for t in tables[: tables.index(main)]:
        before += [c.text for c in t.rows[0].cells]
    seen = False
    for block in document.element.body:
        if block.tag.endswith("}p"):
            text = "".join(t.text or "" for t in block.iter() if t.tag.endswith("}t"))
            if text.strip():
                (after if seen else before).append(text)
        elif block is main._tbl:
            seen = True
    for t in tables[tables.index(main) + 1 :]:
        after += [c.text for c in t.rows[0].cells]
    for row in main.rows:
        grid.append([c.text for c in row.cells])
    return before, grid, after


def sample(fmt: str, entries: list[SampleEntry]) -> Form:
    if fmt == "xlsx":
        title, rows = _xlsx_rows(samples.mau01_xlsx(UNIT, entries))
        top = next(i for i, r in enumerate(rows) if r[0] == "TT")
        end = next(i for i in range(top, len(rows)) if not any(rows[i]))
        before = tuple(" ".join(dict.fromkeys(c for c in r if c)) for r in rows[:top])
        after = tuple(" ".join(dict.fromkeys(c for c in r if c)) for r in rows[end:])
        return Form(
            fmt,
            tuple(b for b in before if b),
            (tuple(rows[top]),),
            tuple(tuple(r) for r in rows[top + 1 : end]),
            tuple(a for a in after if a),
            tuple(entries),
            sheet=title,
        )
    before_lines, grid, after_lines = _docx_rows(samples.mau01_docx(UNIT, entries))
    return Form(
        fmt,
        tuple(before_lines),
        (tuple(grid[0]),),
        tuple(tuple(r) for r in grid[1:]),
        tuple(after_lines),
        tuple(entries),
    )


# --- writing the model as a real file ----------------------------------------------------


def _runs(row: tuple[str, ...]) -> list[tuple[int, int]]:
    """Runs of equal non-empty neighbours: written as one merged cell."""
    out, c = [], 0
    while c < len(row):
        end = c
        while end + 1 < len(row) and row[end + 1] == row[c] and row[c]:
            end += 1
        out.append((c, end))
        c = end + 1
    return out


def write(form: Form) -> bytes:
    table = [*form.header, *form.body]
    width = max(len(r) for r in table)
    table = [tuple(r) + ("",) * (width - len(r)) for r in table]
    if form.fmt == "xlsx":
        book = openpyxl.Workbook()
        sheet = book.active
        assert sheet is not None
        sheet.title = form.sheet
        r = 1
        for line in form.before:
            sheet.cell(r, 1, line)
            r += 1
        r += 1
        for row in table:
            for start, end in _runs(row):
                sheet.cell(r, start + 1, row[start] or None)
                if end > start:
                    sheet.merge_cells(
                        start_row=r, start_column=start + 1, end_row=r, end_column=end + 1
                    )
            r += 1
        r += 1
        for line in form.after:
            sheet.cell(r, 1, line)
            r += 1
        out = io.BytesIO()
        book.save(out)
        return out.getvalue()
    document = docx.Document()
    for line in form.before:
        document.add_paragraph(line)
    if form.nested:
        outer = document.add_table(rows=1, cols=1)
        holder = outer.cell(0, 0)
        grid = holder.add_table(rows=len(table), cols=width)
    else:
        grid = document.add_table(rows=len(table), cols=width)
    for r, row in enumerate(table):
        for start, end in _runs(row):
            cell = grid.cell(r, start)
            if end > start:
                cell = cell.merge(grid.cell(r, end))
            cell.text = row[start]
    for line in form.after:
        document.add_paragraph(line)
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


# --- transformations -----------------------------------------------------------------------

MEANINGS = {  # how the sample's own headers are worded, folded: meaning
    "tt": "no",
    "ten tap the, ca nhan dang ky": "name",
    "ten tap the, ca nhan": "name",
    "tap the/ca nhan": "kind",
    "ten mo hinh": "model",
    "cap cong nhan": "level",
    "cap": "level",
    "linh vuc": "field",
    "ghi chu": "note",
}


def meaning(cell: str) -> str | None:
    return MEANINGS.get(fold(cell))


def column_of(form: Form, key: str) -> int | None:
    return next((i for i, c in enumerate(form.header[-1]) if meaning(c) == key), None)


def is_entry(form: Form, row: tuple[str, ...]) -> SampleEntry | None:
    return next((e for e in form.entries if e.name in row), None)


def map_cells(form: Form, f: Callable[[str], str]) -> Form:
    def rows(rs: tuple[tuple[str, ...], ...]) -> tuple[tuple[str, ...], ...]:
        return tuple(tuple(f(c) for c in r) for r in rs)

    return replace(
        form,
        before=tuple(f(x) for x in form.before),
        header=rows(form.header),
        body=rows(form.body),
        after=tuple(f(x) for x in form.after),
        sheet=f(form.sheet),
    )


def rename(wordings: dict[str, str]) -> Callable[[Form], Form]:
    def transform(form: Form) -> Form:
        header = tuple(tuple(wordings.get(meaning(c) or "", c) for c in row) for row in form.header)
        return replace(form, header=header)

    return transform


def shuffle_and_add(form: Form) -> Form:
    """Columns in another order (the running number stays first) and one column more."""
    width = len(form.header[-1])
    order = [0, *reversed(range(1, width))]

    def row(r: tuple[str, ...], extra: str) -> tuple[str, ...]:
        cells = [r[i] if i < len(r) else "" for i in order]
        if len(set(r[1:])) == 1:  # a merged section row stays merged
            return (cells[0], *([r[1]] * width))
        return (*cells, extra)

    body = tuple(row(r, "0912 345 678" if is_entry(form, r) else "") for r in form.body)
    header = tuple(row(h, "Số điện thoại") for h in form.header)
    return replace(form, header=header, body=body)


def _is_section(form: Form, row: tuple[str, ...]) -> bool:
    return (
        not is_entry(form, row)
        and len({c for c in row[1:] if c}) == 1
        and not row[0].startswith("(")
    )


def _section_text(row: tuple[str, ...]) -> str:
    texts = list(dict.fromkeys(c for c in row if c))
    text = texts[-1]
    return text.split(". ", 1)[1] if len(text) > 3 and text[1:3] == ". " else text


def number_sections(style: str) -> Callable[[Form], Form]:
    def transform(form: Form) -> Form:
        body, n = [], 0
        width = len(form.header[-1])
        for row in form.body:
            if not _is_section(form, row):
                body.append(row)
                continue
            n += 1
            text = _section_text(row)
            label = {
                "arabic": f"{n}. {text}",
                "letter": f"{'ABCDEFGH'[n - 1]}) {text}",
                "phan": f"Phần {samples.ROMAN[n - 1]}: {text}",
                "bare": text,
            }[style]
            if style == "column":
                body.append((str(samples.ROMAN[n - 1]), *([text] * (width - 1))))
            else:
                body.append((label,) * width)
        return replace(form, body=tuple(body))

    return transform


def tick_kind(form: Form) -> Form:
    """The kind as two tick columns under a merged "Phân loại" heading."""
    col = column_of(form, "kind")
    rows = [r for r in form.body if not (_is_section(form, r) and _kind_section(r))]
    keep = [r for r in rows]

    def widen(r: tuple[str, ...], a: str, b: str) -> tuple[str, ...]:
        if col is None:
            return (*r, a, b)
        return (*r[:col], a, b, *r[col + 1 :])

    top = widen(form.header[-1], "Phân loại", "Phân loại")
    if col is None:
        low = (*form.header[-1], "Tập thể", "Cá nhân")
    else:
        low = widen(form.header[-1], "Tập thể", "Cá nhân")
    body = []
    for r in keep:
        e = is_entry(form, r)
        if e:
            body.append(
                widen(r, "x" if e.kind == "tap-the" else "", "x" if e.kind == "ca-nhan" else "")
            )
        elif _is_section(form, r):
            body.append(widen(r, r[-1], r[-1]))
        else:
            body.append(widen(r, "", ""))
    return replace(form, header=(top, low), body=tuple(body))


def _kind_section(row: tuple[str, ...]) -> bool:
    return fold(_section_text(row)) in ("tap the", "ca nhan")


def blank_rows_and_notes(form: Form) -> Form:
    body: list[tuple[str, ...]] = []
    width = len(form.header[-1])
    for row in form.body:
        body.append(row)
        if is_entry(form, row):
            body.append(("",) * width)
    body.append(("Ghi chú: cột Cấp ghi cấp công nhận (tỉnh, huyện, xã).",) * width)
    body.append(("",) * width)
    return replace(form, body=tuple(body))


def form_number(form: Form) -> Form:
    return replace(form, before=("Mẫu số 01", *form.before))


def nested(form: Form) -> Form:
    return replace(form, nested=True)


def nfd(form: Form) -> Form:
    return map_cells(form, lambda s: unicodedata.normalize("NFD", s))


def no_diacritics(form: Form) -> Form:
    def strip(s: str) -> str:
        s = s.replace("đ", "d").replace("Đ", "D")
        return "".join(c for c in unicodedata.normalize("NFD", s) if not unicodedata.combining(c))

    return map_cells(form, strip)


def tcvn3(form: Form) -> Form:
    return map_cells(form, lambda s: encode(unicodedata.normalize("NFC", s), "tcvn3"))


def unknown_headers(form: Form) -> Form:
    """The kind/field/level columns headed by words no spec lists: read from their values."""
    return rename({"kind": "Cột 3", "field": "Nội dung", "level": "Đánh giá"})(form)


TRANSFORMS: dict[str, Callable[[Form], Form]] = {
    "identity": lambda f: f,
    "kind-hoac": rename({"kind": "Tập thể hoặc cá nhân"}),
    "kind-doi-tuong": rename({"kind": "Đối tượng đăng ký"}),
    "kind-loai-hinh": rename({"kind": "Loại hình"}),
    "kind-phan-loai": rename({"kind": "Phân loại"}),
    "synonyms": rename(
        {
            "name": "Họ tên / Tên đơn vị",
            "model": "Mô hình, điển hình đăng ký",
            "field": "Lĩnh vực thực hiện",
            "level": "Đăng ký ở cấp",
            "no": "Số TT",
        }
    ),
    "unseen": rename(
        {
            "name": "Tên của tập thể hoặc cá nhân",
            "model": "Tên gọi của mô hình",
            "field": "Thuộc lĩnh vực nào",
            "level": "Cấp độ",
            "kind": "Tập thẻ / cá nhân",
        }
    ),
    "unknown-headers": unknown_headers,
    "shuffle-add": shuffle_and_add,
    "form-number": form_number,
    "sections-arabic": number_sections("arabic"),
    "sections-letter": number_sections("letter"),
    "sections-phan": number_sections("phan"),
    "sections-bare": number_sections("bare"),
    "tick-kind": tick_kind,
    "blank-rows-notes": blank_rows_and_notes,
    "nested": nested,
    "nfd": nfd,
    "no-diacritics": no_diacritics,
    "tcvn3": tcvn3,
}
SAMPLES = [(fmt, name) for fmt in ("xlsx", "docx") for name in SETS]


@pytest.mark.parametrize("transform", list(TRANSFORMS))
@pytest.mark.parametrize(("fmt", "entries"), SAMPLES)
def test_variant_reads_the_same(fmt: str, entries: str, transform: str) -> None:
    form = TRANSFORMS[transform](sample(fmt, SETS[entries]))
    if transform == "nested" and fmt != "docx":
        pytest.skip("only Word nests tables")
    parsed = parse_file(f"bieu.{fmt}", write(form))
    assert parsed.form == "mau-01", parsed.problems
    got = [(fold(e.name), e.kind, e.field, e.level) for e in parsed.entries]
    want = [(fold(e.name), e.kind, e.field, e.level) for e in SETS[entries]]
    assert got == want
    assert parsed.problems == ()
