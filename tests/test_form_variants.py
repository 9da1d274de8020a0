"""Forms as units really write them: every sample form, transformed every way, reads the same.

The samples are the project's own (mail_ingest.samples, with the office fixtures' entries):
each is read back into a plain model (lines above, header rows, body rows, lines below),
transformed the way units rewrite a form (their own header wordings, another column order,
tick columns, other section numbering, notes, nesting, NFD, no diacritics, TCVN3), and
written again as a real .xlsx or .docx (and, through LibreOffice, as .doc or .xls read back
the way the service converts them). Each transformation is one test over every sample:
the same entries (name, kind, field, level) come out, and a complete form has no problem.
"""

from __future__ import annotations

import io
import subprocess
import unicodedata
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace

import docx
import openpyxl
import pytest

from mail_ingest import convert, samples
from mail_ingest.samples import SampleEntry
from parsers import parse_file, text, vocabulary
from parsers.legacy import encode
from parsers.text import fold
from tests.office_fixtures import ENTRIES, UNIT, require_libreoffice


@pytest.fixture(autouse=True, scope="module")
def _leave_the_caches_as_found() -> Iterator[None]:
    """Thousands of variant cells fill the process-wide folding caches; empty them after,
    so that tests measuring memory later in the same process start from the usual state."""
    yield
    for cached in (text.fold, text.words, vocabulary.tokens, vocabulary.score):
        cached.cache_clear()


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
    legacy: bool = False  # typed in TCVN3 fonts: encoded when written (tcvn3_text)


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
            _xlsx_text(sheet.cell(r, 1), line, form.legacy)
            r += 1
        r += 1
        for row in table:
            for start, end in _runs(row):
                _xlsx_text(sheet.cell(r, start + 1), row[start], form.legacy)
                if end > start:
                    sheet.merge_cells(
                        start_row=r, start_column=start + 1, end_row=r, end_column=end + 1
                    )
            r += 1
        r += 1
        for line in form.after:
            _xlsx_text(sheet.cell(r, 1), line, form.legacy)
            r += 1
        out = io.BytesIO()
        book.save(out)
        return out.getvalue()
    document = docx.Document()
    for line in form.before:
        _docx_text(document.add_paragraph(), line, form.legacy)
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
            _cell_text(cell, row[start], form.legacy)
    for line in form.after:
        _docx_text(document.add_paragraph(), line, form.legacy)
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


W14 = "http://schemas.microsoft.com/office/word/2010/wordml"


def tcvn3_text(text: str) -> tuple[str, str]:
    """Text as a TCVN3 typist stores it, and its font. TCVN3 has no toned capitals: a
    line in capitals is typed in lowercase codes in the capital font (.VnTimeH draws them
    as capitals); elsewhere a toned capital is typed as its lowercase letter."""
    text = unicodedata.normalize("NFC", text)
    if text.isupper():
        return encode(text.lower(), "tcvn3"), ".VnTimeH"
    toned = {c for c in text if c.isupper() and encode(c, "tcvn3") == c and not c.isascii()}
    return encode("".join(c.lower() if c in toned else c for c in text), "tcvn3"), ".VnTime"


def _xlsx_text(cell: object, text: str, legacy: bool) -> None:
    from openpyxl.styles import Font

    if legacy and text:
        text, font = tcvn3_text(text)
        cell.font = Font(name=font)  # type: ignore[attr-defined]
    cell.value = text or None  # type: ignore[attr-defined]


def _docx_text(paragraph: object, text: str, legacy: bool) -> None:
    if not legacy:
        paragraph.add_run(text)  # type: ignore[attr-defined]
        return
    for n, line in enumerate(text.split("\n")):  # each line in its own font
        coded, font = tcvn3_text(line)
        run = paragraph.add_run(("\n" if n else "") + coded)  # type: ignore[attr-defined]
        run.font.name = font


def _cell_text(cell: object, text: str, legacy: bool = False) -> None:
    """Plain text, or a Wingdings tick (w:sym), or a check box content control (w14)."""
    from docx.oxml import parse_xml
    from docx.oxml.ns import nsdecls

    if text == SYMBOL:
        run = cell.paragraphs[0].add_run()  # type: ignore[attr-defined]
        run._r.append(parse_xml(f'<w:sym {nsdecls("w")} w:font="Wingdings" w:char="F0FE"/>'))
    elif text in (CHECKBOX, EMPTY_BOX):
        on = "1" if text == CHECKBOX else "0"
        glyph = "☒" if on == "1" else "☐"
        sdt = parse_xml(
            f'<w:sdt {nsdecls("w")} xmlns:w14="{W14}"><w:sdtPr><w14:checkbox>'
            f'<w14:checked w14:val="{on}"/></w14:checkbox></w:sdtPr>'
            f"<w:sdtContent><w:r><w:t>{glyph}</w:t></w:r></w:sdtContent></w:sdt>"
        )
        cell.paragraphs[0]._p.append(sdt)  # type: ignore[attr-defined]
    elif legacy:
        _docx_text(cell.paragraphs[0], text, legacy)  # type: ignore[attr-defined]
    else:
        cell.text = text  # type: ignore[attr-defined]


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
            }.get(style, text)
            if style == "split":  # the number in its column, the text in the next, unmerged
                body.append((str(n), text, *([""] * (width - 2))))
            elif style == "roman-cell":  # "II" in the number column, the text merged beside
                body.append((str(samples.ROMAN[n - 1]), *([text] * (width - 1))))
            else:
                body.append((label,) * width)
        return replace(form, body=tuple(body))

    return transform


TICKS = {
    "kind": ("Phân loại", (("tap-the", "Tập thể"), ("ca-nhan", "Cá nhân"))),
    "field": (
        "Lĩnh vực",
        (
            ("xay-dung-dang", "Xây dựng Đảng"),
            ("kinh-te", "Kinh tế"),
            ("van-hoa-xa-hoi", "Văn hóa - Xã hội"),
            ("quoc-phong-an-ninh", "Quốc phòng - An ninh"),
        ),
    ),
    "level": ("Cấp công nhận", (("tinh", "Tỉnh"), ("huyen", "Huyện"), ("xa", "Xã"))),
}
SYMBOL, CHECKBOX, EMPTY_BOX = "<sym>", "<checked>", "<unchecked>"


def ticks(key: str, mark: str = "x", blank: str = "", heading: str = "") -> Callable[[Form], Form]:
    """`key` as tick columns under a merged heading (its column or its sections replaced),
    the heading worded as the sample words it unless `heading` is given."""

    def transform(form: Form) -> Form:
        own, choices = TICKS[key]
        heading_ = heading or own
        col = column_of(form, key)
        width = len(choices)

        def widen(r: tuple[str, ...], cells: tuple[str, ...]) -> tuple[str, ...]:
            return (*r, *cells) if col is None else (*r[:col], *cells, *r[col + 1 :])

        body = []
        for r in form.body:
            e = is_entry(form, r)
            if e:
                picked = getattr(e, key)
                body.append(widen(r, tuple(mark if v == picked else blank for v, _ in choices)))
            elif _is_section(form, r):
                if _section_sets(r) == key:
                    continue  # the ticks say it now
                body.append(widen(r, (r[-1],) * width))
            else:
                body.append(widen(r, ("",) * width))
        top = widen(form.header[-1], (heading_,) * width)
        low = widen(form.header[-1], tuple(label for _, label in choices))
        return replace(form, header=(top, low), body=tuple(body))

    return transform


def _section_sets(row: tuple[str, ...]) -> str:
    return "kind" if fold(_section_text(row)) in ("tap the", "ca nhan") else "field"


ABBREVIATIONS = {
    "kind": {"tap-the": "TT", "ca-nhan": "CN"},
    "field": {
        "xay-dung-dang": "XDĐ",
        "kinh-te": "KT",
        "van-hoa-xa-hoi": "VH-XH",
        "quoc-phong-an-ninh": "QP-AN",
    },
    "level": {"tinh": "Tỉnh", "huyen": "Huyện", "xa": "Xã"},
}


def abbreviated(form: Form) -> Form:
    """Values written as units abbreviate them: TT/CN, KT, VH-XH, QP-AN, XDĐ."""
    cols = {k: c for k in ABBREVIATIONS if (c := column_of(form, k)) is not None}
    body = []
    for r in form.body:
        e = is_entry(form, r)
        cells = list(r)
        for key, c in cols.items():
            if e and getattr(e, key):
                cells[c] = ABBREVIATIONS[key][getattr(e, key)]
        body.append(tuple(cells))
    return replace(form, body=tuple(body))


def two_row_header(form: Form) -> Form:
    """A heading merged over the model and level columns, read with the row below."""
    cols = [c for c in (column_of(form, "model"), column_of(form, "level")) if c is not None]
    low = form.header[-1]
    top = tuple("Thông tin đăng ký" if i in cols else c for i, c in enumerate(low))
    return replace(form, header=(top, low))


def kind_from_sheet(form: Form) -> Form:
    """Only the collectives, on a sheet (or under a title) named "Tập thể", no kind column."""
    col = column_of(form, "kind")
    keep = tuple(e for e in form.entries if e.kind == "tap-the")
    body = []
    for r in form.body:
        e = is_entry(form, r)
        if (e and e.kind != "tap-the") or (_is_section(form, r) and _section_sets(r) == "kind"):
            continue
        body.append(r if col is None else (*r[:col], *r[col + 1 :]))
    header = tuple(h if col is None else (*h[:col], *h[col + 1 :]) for h in form.header)
    before = form.before if form.fmt == "xlsx" else (*form.before, "DANH SÁCH TẬP THỂ")
    return replace(
        form, header=header, body=tuple(body), entries=keep, sheet="Tập thể", before=before
    )


def level_from_title(form: Form) -> Form:
    """No level column; the title says "... CẤP XÃ" and every entry is at commune level."""
    col = column_of(form, "level")
    assert col is not None
    entries = tuple(replace(e, level="xa") for e in form.entries)
    header = tuple((*h[:col], *h[col + 1 :]) for h in form.header)
    body = tuple(
        r
        if _is_section(form, r) and len(set(r[1:])) == 1 and col >= len(r)
        else (*r[:col], *r[col + 1 :])
        for r in form.body
    )
    before = tuple(b + " CẤP XÃ" if b.startswith("BIỂU TỔNG HỢP") else b for b in form.before)
    return replace(form, header=header, body=body, entries=entries, before=before)


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


def form_number_moved(form: Form) -> Form:
    """The form number beside the unit's line (right-hand side) and again under the title."""
    before = []
    for line in form.before:
        parts = [
            f"{p}          Mẫu số 01" if p.startswith("ĐẢNG ỦY") else p for p in line.split("\n")
        ]
        line = "\n".join(parts)
        before.append(line)
        if line.startswith("BIỂU TỔNG HỢP"):
            before.append("(Mẫu 01 - dùng cho đảng ủy xã, thị trấn)")
    return replace(form, before=tuple(before))


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
    """Typed in TCVN3 fonts, as a real file is (see tcvn3_text); the sheet's tab, which
    Excel draws in Unicode, stays as typed."""
    return replace(form, legacy=True)


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
    "form-number-moved": form_number_moved,
    "sections-arabic": number_sections("arabic"),
    "sections-letter": number_sections("letter"),
    "sections-phan": number_sections("phan"),
    "sections-bare": number_sections("bare"),
    "sections-split": number_sections("split"),
    "sections-roman-cell": number_sections("roman-cell"),
    "tick-kind": ticks("kind"),
    "tick-field": ticks("field"),
    "tick-level": ticks("level", "✓"),
    "tick-symbols": ticks("kind", SYMBOL),
    "tick-checkboxes": ticks("kind", CHECKBOX, EMPTY_BOX),
    "tick-kind-reworded": ticks("kind", heading="Tập thể hoặc cá nhân"),
    "tick-field-reworded": ticks("field", heading="Thuộc lĩnh vực nào"),
    "tick-level-reworded": ticks("level", "X", heading="Đăng ký ở cấp"),
    "abbreviations": abbreviated,
    "typos": rename(
        {"name": "Tên tập thẻ, cá nhan", "field": "Lihn vực", "level": "Cấp cong nhạn"}
    ),
    "two-row-header": two_row_header,
    "kind-from-sheet": kind_from_sheet,
    "level-from-title": level_from_title,
    "blank-rows-notes": blank_rows_and_notes,
    "nested": nested,
    "nfd": nfd,
    "no-diacritics": no_diacritics,
    "tcvn3": tcvn3,
    "vni": lambda f: map_cells(f, lambda s: encode(unicodedata.normalize("NFC", s), "vni")),
}
WORD_ONLY = {"nested", "tick-symbols", "tick-checkboxes"}
# Transformations that leave the text as typed: the unit's line must read exactly.
LAYOUT = {"identity", "form-number", "form-number-moved", "nested", "shuffle-add"}
SAMPLES = [(fmt, name) for fmt in ("xlsx", "docx") for name in SETS]


CASES = [
    (fmt, entries, transform)
    for transform in TRANSFORMS
    for fmt, entries in SAMPLES
    if fmt == "docx" or transform not in WORD_ONLY
]


@pytest.mark.parametrize(("fmt", "entries", "transform"), CASES)
def test_variant_reads_the_same(fmt: str, entries: str, transform: str) -> None:
    form = TRANSFORMS[transform](sample(fmt, SETS[entries]))
    parsed = parse_file(f"bieu.{fmt}", write(form))
    assert parsed.form == "mau-01", parsed.problems
    got = [(fold(e.name), e.kind, e.field, e.level) for e in parsed.entries]
    want = [(fold(e.name), e.kind, e.field, e.level) for e in form.entries]
    assert got == want
    assert parsed.problems == ()
    if transform in LAYOUT:  # the unit's own line, whatever stands beside it
        assert fold(parsed.fields["don_vi"]) == fold(UNIT)


# --- through LibreOffice: the old binary formats ------------------------------------------

# What LibreOffice may rewrite on the way to .doc/.xls and back: merges, nesting, symbol
# ticks, check boxes, legacy text. Every sample as it is, and these over one sample set.
LO_TRANSFORMS = (
    "tick-kind", "sections-split", "tcvn3", "nested", "tick-symbols", "tick-checkboxes",
)  # fmt: skip
LO_CASES = [(fmt, entries, "identity") for fmt, entries in SAMPLES] + [
    (fmt, "five", transform)
    for transform in LO_TRANSFORMS
    for fmt in ("xlsx", "docx")
    if fmt == "docx" or transform not in WORD_ONLY
]
OLD = {"docx": ("doc", "doc:MS Word 97"), "xlsx": ("xls", "xls:MS Excel 97")}
Case = tuple[str, str, str]


@pytest.fixture(scope="session")
def old_formats(tmp_path_factory: pytest.TempPathFactory) -> dict[Case, convert.Converted]:
    """Every LibreOffice case saved as .doc/.xls (one soffice run per format for all of
    them), then converted back by the service's own mail_ingest.convert: once per session,
    two at a time (about 15 s)."""
    program = require_libreoffice()
    root = tmp_path_factory.mktemp("old-formats")
    paths = {}
    for n, case in enumerate(LO_CASES):
        fmt, entries, transform = case
        paths[case] = root / f"case{n}.{fmt}"
        paths[case].write_bytes(write(TRANSFORMS[transform](sample(fmt, SETS[entries]))))

    def save_old(fmt: str) -> None:
        ext, target = OLD[fmt]
        sources = [str(p) for (f, _, _), p in paths.items() if f == fmt]
        subprocess.run(
            [
                program, f"-env:UserInstallation={(root / f'profile-{ext}').as_uri()}",
                "--headless", "--norestore", "--convert-to", target,
                "--outdir", str(root / "old"), *sources,
            ],
            check=True, capture_output=True, timeout=240,
        )  # fmt: skip

    def back(case: Case) -> convert.Converted:
        name = f"bieu.{OLD[case[0]][0]}"
        data = (root / "old" / paths[case].with_suffix(f".{OLD[case[0]][0]}").name).read_bytes()
        assert convert.target(name, data) == case[0]
        return convert.convert(name, data, case[0])

    with ThreadPoolExecutor(2) as pool:
        list(pool.map(save_old, OLD))
        return dict(zip(LO_CASES, pool.map(back, LO_CASES), strict=True))


@pytest.mark.parametrize(("fmt", "entries", "transform"), LO_CASES)
def test_old_binary_formats_read_the_same(
    old_formats: dict[Case, convert.Converted], fmt: str, entries: str, transform: str
) -> None:
    """The form saved as .doc/.xls, converted back the way the service does
    (mail_ingest.convert), reads the same, with no problem."""
    form = TRANSFORMS[transform](sample(fmt, SETS[entries]))
    converted = old_formats[(fmt, entries, transform)]
    assert converted.data is not None, converted.reason
    parsed = parse_file(converted.filename, converted.data)
    assert parsed.form == "mau-01", parsed.problems
    got = [(fold(e.name), e.kind, e.field, e.level) for e in parsed.entries]
    want = [(fold(e.name), e.kind, e.field, e.level) for e in form.entries]
    assert got == want
    assert parsed.problems == ()


# --- transformations composed -------------------------------------------------------------

# Re-encodings go last: a unit rewrites the form, then the file's text is what it is.
TEXTUAL = ("nfd", "no-diacritics", "tcvn3", "vni")
STRUCTURAL = [t for t in TRANSFORMS if t not in TEXTUAL and t != "identity"]
COMPOSED = [
    (fmt, first, then)
    for first in STRUCTURAL
    for then in TEXTUAL
    for fmt in ("xlsx", "docx")
    if fmt == "docx" or first not in WORD_ONLY
]


@pytest.mark.parametrize(("fmt", "first", "then"), COMPOSED)
def test_a_rewritten_form_reencoded_reads_the_same(fmt: str, first: str, then: str) -> None:
    """Every rewriting of a form, then every re-encoding of its text: the same entries,
    no problem."""
    form = TRANSFORMS[then](TRANSFORMS[first](sample(fmt, SETS["five"])))
    parsed = parse_file(f"bieu.{fmt}", write(form))
    assert parsed.form == "mau-01", parsed.problems
    got = [(fold(e.name), e.kind, e.field, e.level) for e in parsed.entries]
    want = [(fold(e.name), e.kind, e.field, e.level) for e in form.entries]
    assert got == want
    assert parsed.problems == ()


# --- rewritings composed -------------------------------------------------------------------

# A unit rewrites a form more than once: tick columns first, then the columns reordered;
# a tick heading reworded, then the header split over two rows; its own kind heading
# beside synonyms for the rest. Every tick rewriting composed with each layout change, and
# every kind wording with every wording of the other headers.
TICKED = [t for t in TRANSFORMS if t.startswith("tick-")]
KIND_WORDINGS = [t for t in TRANSFORMS if t.startswith("kind-") and t != "kind-from-sheet"]
REWORDED = ["synonyms", "unseen", "typos", "abbreviations", "two-row-header"]
PAIRS = [
    (fmt, first, then)
    for first, then in [
        *((t, layout) for t in TICKED for layout in ("shuffle-add", "two-row-header")),
        *((k, w) for k in KIND_WORDINGS for w in REWORDED),
    ]
    for fmt in ("xlsx", "docx")
    if fmt == "docx" or first not in WORD_ONLY
]


@pytest.mark.parametrize(("fmt", "first", "then"), PAIRS)
def test_a_form_rewritten_twice_reads_the_same(fmt: str, first: str, then: str) -> None:
    """Two rewritings, one after the other, over every sample: the same entries, no problem."""
    for entries in SETS.values():
        form = TRANSFORMS[then](TRANSFORMS[first](sample(fmt, entries)))
        parsed = parse_file(f"bieu.{fmt}", write(form))
        assert parsed.form == "mau-01", parsed.problems
        got = [(fold(e.name), e.kind, e.field, e.level) for e in parsed.entries]
        want = [(fold(e.name), e.kind, e.field, e.level) for e in form.entries]
        assert got == want
        assert parsed.problems == ()
