"""Read a table form (mẫu 01, M3, M4) from a grid: find its header, then one Entry per row.

Districts word the headers their own way and add a title block above, so the header row
is searched for by its synonyms. Below it, besides the registered rows, units leave the
template's numbering row ("(1) (2) (3)") and empty "..." rows, group rows under section
rows ("I. Lĩnh vực kinh tế", "A. Tập thể") instead of filling a column, add a total row,
and end with the signature block; each of those is recognised and not taken for an entry.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property

from parsers.identity import by_identity
from parsers.model import Entry, Problem
from parsers.office import Grid
from parsers.specs import Column, TableShape
from parsers.text import clean, fold, words
from parsers.vocabulary import (
    ACCEPT,
    COLUMN_WORDS,
    MARKS,
    NOTHING_TAUGHT,
    Taught,
    present_words,
    score,
    taught_header,
    taught_value,
    tokens,
    value_id,
    value_index,
)

HEADER_SEARCH_ROWS = 20
ENTRY_KEYS = ("kind", "field", "level")
_TEMPLATE_CELL = re.compile(r"[\d\s.,:;()\[\]…*_/–—-]*")  # "1", "(2)", "...", "-"
_NUMBER = re.compile(r"\d+[.)]?")
_EXAMPLES = re.compile(r"\(.*$")
_FILLER = re.compile(r"[\s.…_-]*")
# A section heading's numbering, whatever the style: "I.", "A)", "1.", "2.1", "Phần I:", "Mục 2".
_MARKER = re.compile(
    r"^((?:phan|muc|nhom)\s+\S+?|[ivxl]+|[a-h]|\d{1,2}(?:\.\d{1,2})*)\s*[.)/:-]?\s+(?=\S)"
)
# Notes, legends and signatures under a table end it.
_NOTES = re.compile(r"^(ghi chu|chu thich|chu y|luu y|ghi ro)\s*[:.-]|^\*\s*(ghi chu|chu thich)")
FULL_WIDTH = 3  # one text repeated over this many cells: a merged row, never an entry
INFERRED_VALUES = 0.8  # share of a column's values in one vocabulary to read it as that column


@dataclass
class Reading:
    """What was inferred, doubted and taught while reading, for ParsedFile (board only)."""

    taught: Taught = NOTHING_TAUGHT
    inferred: list[str] = field(default_factory=list)
    used: set[str] = field(default_factory=set)  # ids of the lessons applied
    doubtful: set[str] = field(default_factory=set)  # column keys read by guess
    unsure: set[str] = field(default_factory=set)  # column keys of the doubts raised
    defaults: dict[str, str] = field(default_factory=dict)  # facts outside the table

    def note(self, text: str) -> None:
        if text not in self.inferred:
            self.inferred.append(text)


@dataclass(frozen=True)
class Header:
    """Where the header is and which column holds what."""

    top: int  # index of the (first) header row in the grid
    row: int  # index of the last header row: data starts below it
    columns: tuple[tuple[str, int, str], ...]  # (spec key, column index, header as written)
    # Tick columns: sub-columns named by a vocabulary value ("Tập thể | Cá nhân"), a mark
    # under one of them sets that key: (key, column index, value id).
    ticks: tuple[tuple[str, int, str], ...] = ()

    def index(self, key: str) -> int | None:
        return self._indexes.get(key)

    @cached_property  # asked for every column of every row
    def _indexes(self) -> dict[str, int]:
        """Each key's first column."""
        found: dict[str, int] = {}
        for k, i, _ in self.columns:
            found.setdefault(k, i)
        return found

    def text(self, key: str) -> str:
        return next((t for k, _, t in self.columns if k == key), key)


def find_header(grid: Grid, shape: TableShape, reading: Reading | None = None) -> Header | None:
    """The best header row (or pair of rows, for a merged two-row header) near the top."""
    best: Header | None = None
    taught = reading.taught if reading else NOTHING_TAUGHT
    for r in range(min(len(grid.rows), HEADER_SEARCH_ROWS)):
        single = _match_columns(grid.rows[r], shape, taught=taught)
        candidates = [(r, r, single)]
        if r + 1 < len(grid.rows) and not _is_data_like(grid.rows[r + 1]):
            upper, lower = grid.rows[r], grid.rows[r + 1]
            stacked = _match_columns(_stack(upper, lower), shape, lower, taught, upper)
            alone = _match_columns(lower, shape, taught=taught, upper=upper)
            # Vocabulary values under a heading spanning them make the row below a header
            # row too, whatever the upper row alone would seem to explain.
            ticked = bool(stacked[1])
            if ticked:
                candidates = []
            # A parent heading over sub-headings ("Thời gian" over "Bắt đầu", "Hoàn thành")
            # explains more columns than the lower row alone (merged cells repeated); a
            # title line does not, and stacking it would hide the title from recognition.
            if _width(stacked) > _width(alone):
                candidates.append((r, r + 1, stacked))
            elif ticked or _width(alone) >= _width(single):
                # Cells merged down over both rows repeat in the lower one: the header ends
                # there, and its sub-headings must not be read as the first entry. It starts
                # on the upper row only if that is a header too (not the title above it).
                top = r if _width(single) >= shape.min_columns else r + 1
                candidates.insert(0, (top, r + 1, alone))
        for top, last, (columns, ticks) in candidates:
            keys = {k for k, _, _ in columns}
            width = len(keys | {k for k, _, _ in ticks})
            if width < shape.min_columns or not keys & set(shape.name_keys):
                continue
            # At equal width, sub-headings naming values (tick columns) make the deeper header.
            rank = (width, len(ticks))
            if best is None or rank > (_header_width(best), len(best.ticks)):
                best = Header(top, last, columns, ticks)
        if best is not None and best.row <= r:
            if reading is not None:
                _record_taught(grid, best, shape, reading)
            return best  # the first header found wins over later tables on the sheet
    return best


def _header_width(header: Header) -> int:
    return len({k for k, _, _ in header.columns} | {k for k, _, _ in header.ticks})


def _record_taught(grid: Grid, header: Header, shape: TableShape, reading: Reading) -> None:
    for _, _i, text in header.columns:
        lesson = taught_header(reading.taught, text)
        if lesson is not None:
            reading.used.add(lesson.id)


def read_rows(
    grid: Grid,
    header: Header,
    shape: TableShape,
    where: Callable[[int], str],
    reading: Reading | None = None,
) -> tuple[tuple[Entry, ...], tuple[Problem, ...]]:
    """Entries and per-row problems; `where(i)` names row i for a person ("Dòng 7")."""
    reading = reading if reading is not None else Reading()
    below = [[clean(c) for c in row] for row in grid.rows[header.row + 1 :]]  # cleaned once
    header = infer_columns(grid, header, shape, reading, below)
    entries: list[Entry] = []
    problems: list[Problem] = []
    unplaced: Counter[str] = Counter()  # rows without a value for a column the header lacks
    sections: dict[str, str] = {}
    keys = _section_keys(shape)
    number_col = header.index("no")
    tick_keys = {k for k, _, _ in header.ticks}
    # Required vocabulary columns the header lacks: a row must name their value elsewhere.
    lacking = [
        c.key
        for c in shape.columns
        if c.required and c.values and header.index(c.key) is None and c.key not in tick_keys
    ]
    for i in range(header.row + 1, len(grid.rows)):
        cells = below[i - header.row - 1]
        texts = list(dict.fromkeys(c for c in cells if c))
        if not texts or all(_TEMPLATE_CELL.fullmatch(t) for t in texts):
            continue
        numbered = number_col is not None and _NUMBER.fullmatch(_at(cells, number_col)) is not None
        folded = [fold(t) for t in texts]
        if not numbered and _ends(folded, shape):
            break
        if shape.skip and shape.skip.search(folded[0]):
            continue
        if _heading(cells, texts, numbered, shape, keys, sections):
            continue
        # "..." and "…" left from the template in a filled row mean nothing was written.
        values = {key: _filled(_at(cells, col)) for key, col, _ in header.columns}
        pending = {key for key, col, _ in header.columns if (i, col) in grid.uncalculated}
        row = _Row(where(i), numbered, frozenset(pending))
        ticked, tick_problems = _ticked(cells, header, shape, row.where)
        entry, row_problems = _row(values, header, shape, {**sections, **ticked}, row, reading)
        problems += tick_problems + row_problems
        if entry is None:
            continue
        entries.append(entry)
        unplaced.update(key for key in lacking if not _id(entry, key))
    for key, count in unplaced.items():  # one problem for the file, not one per row
        column = shape.column(key)
        reading.unsure.add(key)
        problems.append(
            Problem(
                "missing-column",
                f"Biểu không có cột {column.label} và {count} dòng chưa xếp vào mục nào; "
                f"đề nghị bổ sung cột “{column.headers[0]}”",
                certain=False,  # the column may be there in words the parser does not know
            )
        )
    return tuple(entries), tuple(problems)


def _ends(folded: Sequence[str], shape: TableShape) -> bool:
    """Notes, legends and the signature block end the table."""
    if shape.end and any(shape.end.search(f) for f in folded):
        return True
    return _NOTES.search(folded[0]) is not None


def _heading(
    cells: Sequence[str],
    texts: Sequence[str],
    numbered: bool,
    shape: TableShape,
    keys: tuple[str, ...],
    sections: dict[str, str],
) -> bool:
    """A section row (by its shape, whatever its numbering) or a full-width merged row."""
    text = " ".join(texts)
    merged = len(texts) == 1 and sum(1 for c in cells if c == texts[0]) >= FULL_WIDTH
    if merged:
        _section(text, shape, sections, keys)
        return True
    if not numbered and len(texts) <= 2:
        return _section(text, shape, sections, keys)
    if numbered and len(texts) == 2:  # "1 | Lĩnh vực kinh tế": a numbered heading
        probe: dict[str, str] = {}
        if _section(text, shape, probe, keys, strict=True) and probe:
            _section(text, shape, sections, keys)
            return True
    return False


def _section_keys(shape: TableShape) -> tuple[str, ...]:
    """What a section row may set: the spec's, and kind and field wherever the spec has them."""
    extra = [
        k
        for k in ("kind", "field")
        if k not in shape.section_keys and any(c.key == k and c.values for c in shape.columns)
    ]
    return tuple(k for k in ("kind", "field") if k in extra) + shape.section_keys


def _ticked(
    cells: Sequence[str], header: Header, shape: TableShape, where: str
) -> tuple[dict[str, str], list[Problem]]:
    """The values picked by a mark under tick columns; two picks of one key are a doubt."""
    picked: dict[str, set[str]] = {}
    for key, col, vid in header.ticks:
        if _at(cells, col) in MARKS:
            picked.setdefault(key, set()).add(vid)
    out: dict[str, str] = {}
    problems: list[Problem] = []
    for key, vids in picked.items():
        if len(vids) == 1:
            out[key] = next(iter(vids))
        else:
            problems.append(
                Problem(
                    "conflicting-marks",
                    f"{where}: đánh dấu nhiều ô ở mục {_column(shape, key).label}; "
                    "đề nghị chỉ đánh dấu một ô",
                )
            )
    return out, problems


def infer_columns(
    grid: Grid,
    header: Header,
    shape: TableShape,
    reading: Reading,
    below: Sequence[Sequence[str]] | None = None,
) -> Header:
    """Columns the header did not explain, understood from their values when these clearly
    belong to one vocabulary (every cell "Tập thể"/"Cá nhân", or field names, or levels).
    `below`: the rows under the header, cleaned, if the caller has them."""
    known = {i for _, i, _ in header.columns} | {i for _, i, _ in header.ticks}
    have = {k for k, _, _ in header.columns} | {k for k, _, _ in header.ticks}
    wanted = [c for c in shape.columns if c.key in ENTRY_KEYS and c.values and c.key not in have]
    if not wanted:
        return header
    cleaned = (
        below[:300]
        if below is not None
        else [[clean(c) for c in r] for r in grid.rows[header.row + 1 : header.row + 1 + 300]]
    )
    rows = [r for r in cleaned if len({c for c in r if c}) >= 3]  # an entry, not a heading
    width = max((len(r) for r in rows), default=0)
    added = list(header.columns)
    for col in range(width):
        if col in known:
            continue
        values = [
            v for r in rows if (v := _filled(_at(r, col))) and not _TEMPLATE_CELL.fullmatch(v)
        ]
        if len(values) < 2:
            continue
        for column in wanted:
            hits = [value_id(column.key, v, column.values, strict=True) for v in values]
            share = sum(1 for h in hits if h) / len(values)
            if share >= INFERRED_VALUES and column.key not in {k for k, _, _ in added}:
                heading = clean(_at(grid.rows[header.row], col)) or f"cột {col + 1}"
                added.append((column.key, col, heading))
                reading.doubtful.add(column.key)
                reading.note(f"cột “{heading}” được hiểu là {column.label} theo giá trị trong cột")
                break
    if len(added) == len(header.columns):
        return header
    return Header(header.top, header.row, tuple(sorted(added, key=lambda c: c[1])), header.ticks)


@dataclass(frozen=True)
class _Row:
    where: str  # how the unit finds the row: "Dòng 7", "Trang “DS”, dòng 7"
    numbered: bool  # has a running number: text in it means the unit meant an entry
    pending: frozenset[str]  # column keys whose cell is a formula Excel never calculated


def has_sections(grid: Grid, header: Header, shape: TableShape) -> bool:
    """Whether a section row under the header sets a value: it tells M3 (a commune's list,
    grouped by field) from M4 (an agency's list, the same columns without sections)."""
    number_col = header.index("no")
    for cells in grid.rows[header.row + 1 :]:
        texts = list(dict.fromkeys(c for c in (clean(c) for c in cells) if c))
        if not texts or len(texts) > 2:
            continue
        if number_col is not None and _NUMBER.fullmatch(clean(_at(cells, number_col))):
            continue
        found: dict[str, str] = {}
        if _section(" ".join(texts), shape, found) and found:
            return True
    return False


def _row(
    values: Mapping[str, str],
    header: Header,
    shape: TableShape,
    sections: Mapping[str, str],
    row: _Row,
    reading: Reading,
) -> tuple[Entry | None, list[Problem]]:
    """One data row: its entry, if it names one, and what is wrong with it."""
    where = row.where
    name_key = next((k for k in shape.name_keys if values.get(k)), None)
    marked, problems = _marks(values, shape, where)
    ids: dict[str, str | None] = {}
    for column in shape.columns:
        if not column.values:
            continue
        typed = values.get(column.key, "")
        found = marked.get(column.key) or sections.get(column.key)
        if found is None and not typed and column.key in reading.defaults:
            found = reading.defaults[column.key]  # a fact stated outside the table
        ids[column.key] = _lookup(column, typed, reading) if typed else found
        if typed and ids[column.key] is None:
            reading.unsure.add(column.key)
            choices = ", ".join(synonyms[0] for _, synonyms in column.values)
            problems.append(
                Problem(
                    "unknown-value",
                    f"{where}: cột “{header.text(column.key)}” ghi “{typed}”, không rõ là gì; "
                    f"đề nghị ghi một trong: {choices}",
                    certain=False,  # a wording the parser does not know yet: the board's call
                )
            )
        elif column.required and ids[column.key] is None and header.index(column.key) is not None:
            missing = _missing(row, header, column, f"chưa ghi rõ {column.label}")
            if column.key in reading.doubtful:
                missing = Problem(missing.code, missing.message, certain=False)
                reading.unsure.add(column.key)
            problems.append(missing)
    if name_key is None:
        valued = any(values.get(c.key) for c in shape.columns if c.values or c.marks)
        if not valued and not row.numbered:
            return None, []  # a note or a heading without a name: nothing registered here
        column = next(
            (shape.column(k) for k in shape.name_keys if k in row.pending),
            shape.column(shape.name_keys[0]),
        )
        return None, [*problems, _missing(row, header, column, f"chưa ghi {column.label}")]
    extra = {
        key: ids.get(key) or value
        for key, value in values.items()
        if value and key != name_key and key not in ENTRY_KEYS and _column(shape, key).extra
    }
    for key, picked in marked.items():  # "x" under "Đăng ký mới" -> period = "moi"
        if key not in ENTRY_KEYS and key not in extra and ids.get(key) == picked:
            extra[key] = picked
    for column in shape.columns:  # required free-text columns, such as the name
        free_text = not column.values and column.key not in shape.name_keys
        present = header.index(column.key) is not None
        if column.required and free_text and present and not values.get(column.key):
            problems.append(_missing(row, header, column, f"chưa ghi {column.label}"))
    entry = Entry(
        name=values[name_key],
        kind=ids.get("kind"),
        field=ids.get("field"),
        level=ids.get("level"),
        extra=extra,
    )
    return entry, problems


def _lookup(column: Column, typed: str, reading: Reading) -> str | None:
    """The id a typed value means: the board's lesson, the spec's values, the vocabulary."""
    lesson = (
        taught_value(reading.taught, column.key, typed)
        if reading.taught.values.get(column.key)
        else None
    )
    if lesson is not None:
        reading.used.add(lesson.id)
        return lesson.meaning
    found = column.lookup(typed)
    if found is None and column.key in ENTRY_KEYS:
        found = value_id(column.key, typed, column.values)
    return found


def _marks(
    values: Mapping[str, str], shape: TableShape, where: str
) -> tuple[dict[str, str], list[Problem]]:
    """Values set by tick columns; two different ticks for one value are a problem."""
    chosen: dict[str, list[tuple[str, str]]] = {}
    for column in shape.columns:
        if values.get(column.key):
            for key, value_id in column.marks:
                chosen.setdefault(key, []).append((value_id, column.label))
    marked: dict[str, str] = {}
    problems: list[Problem] = []
    for key, ticks in chosen.items():
        if len({value_id for value_id, _ in ticks}) == 1:
            marked[key] = ticks[0][0]
            continue
        headings = " và ".join(f"“{heading}”" for _, heading in ticks)
        problems.append(
            Problem(
                "conflicting-marks",
                f"{where}: đánh dấu cả {headings}; đề nghị chỉ đánh dấu một cột "
                f"({_column(shape, key).label})",
            )
        )
    return marked, problems


def _missing(row: _Row, header: Header, column: Column, says: str) -> Problem:
    """An empty required cell; if it holds an uncalculated formula, say so and what to do."""
    if column.key in row.pending:
        return Problem(
            "uncalculated-formula",
            f"{row.where}: ô “{header.text(column.key)}” có công thức nhưng chưa có giá trị "
            "(tệp chưa được tính lại); đề nghị mở tệp bằng Excel, lưu lại rồi gửi lại",
        )
    return Problem("missing-value", f"{row.where}: {says}")


def _section(
    text: str,
    shape: TableShape,
    sections: dict[str, str],
    keys: tuple[str, ...] | None = None,
    *,
    strict: bool = False,
) -> bool:
    """If this row is a section heading, record what it sets and say so.

    "I. Lĩnh vực kinh tế", "1. Tập thể", "Phần II: Cá nhân" (or the number and the text in
    two cells) set the field or kind; a bare "Tập thể" counts only if it is exactly a known
    value. A marked heading that names no known value ("II. Đăng ký mới") is still a
    heading, and sets nothing.
    """
    keys = shape.section_keys if keys is None else keys
    folded = fold(text)
    marker = (shape.section_marker.match(folded) if shape.section_marker else None) or (
        _MARKER.match(folded)
    )
    rest = folded[marker.end() :] if marker else folded
    # Tân Yên's "II- Lĩnh vực văn hóa – xã hội (Bảo vệ môi trường; ...)": the brackets list
    # examples, which may name another field's words; the heading before them decides.
    rest = _EXAMPLES.sub("", rest).strip() or rest
    bare = re.sub(r"^(linh vuc|nhom)\s+", "", words(rest))
    found = False
    for n, key in enumerate(keys):
        column = _columns(shape)[key]  # shape.column, found once per shape
        exact = value_id(key, bare, column.values, strict=True)
        value = exact or (None if strict else _lookup_plain(column, rest))
        if value is None or (not marker and exact is None and bare == words(rest)):
            continue
        sections[key] = value
        for inner in keys[n + 1 :]:
            sections.pop(inner, None)
        found = True
    return found or (marker is not None and not strict)


def _lookup_plain(column: Column, text: str) -> str | None:
    found = column.lookup(text)
    if found is None and column.key in ENTRY_KEYS:
        found = value_id(column.key, text, column.values)
    return found


def _value_words(column: Column) -> set[str]:
    return {words(s) for _, synonyms in column.values for s in synonyms}


Matched = tuple[tuple[tuple[str, int, str], ...], tuple[tuple[str, int, str], ...]]


def _width(matched: Matched) -> int:
    columns, ticks = matched
    return len({k for k, _, _ in columns} | {k for k, _, _ in ticks})


@by_identity
def _own_headers(shape: TableShape) -> dict[str, frozenset[str]]:
    """Each column's own wordings, folded: one of them word for word is an exact match."""
    return {c.key: frozenset(words(h) for h in c.headers) for c in shape.columns}


@by_identity  # once per spec: a header search scores every cell against them
def _wordings(shape: TableShape) -> tuple[tuple[str, tuple[tuple[str, ...], ...]], ...]:
    """Each column's wordings as tokens: the spec's own and the shared vocabulary's."""
    return tuple(
        (
            c.key,
            tuple(
                t
                for t in dict.fromkeys(
                    tokens(h) for h in (*c.headers, *COLUMN_WORDS.get(c.key, ()))
                )
                if t
            ),
        )
        for c in shape.columns
    )


_CellScores = tuple[str, tuple[tuple[bool, float, bool, int, str], ...]]


class _Wordings:
    """A shape's column wordings, and which of them a heading's tokens accept, remembered
    per heading: a header search meets the same cells for every row pair and every spec."""

    MEMO = 2048  # bounded: strangers' cells are many

    def __init__(self, shape: TableShape) -> None:
        self.pairs = tuple((key, w) for key, wordings in _wordings(shape) for w in wordings)
        self.words = frozenset(word for _, w in self.pairs for word in w)
        self.memo: dict[tuple[str, ...], dict[tuple[str, tuple[str, ...]], float]] = {}
        self.own = _own_headers(shape)
        self.cells: dict[tuple[str, str, bool], _CellScores] = {}

    def scores(self, cell: str, below: str, stacked: bool) -> _CellScores:
        """A header cell's text and its readings (exact, score, found in the sub-heading
        `below`, wording length, key), decided once per cell: a header search meets the
        same cells as a row, as the row under another and stacked, for every spec."""
        found = self.cells.get((cell, below, stacked))
        if found is not None:
            return found
        if len(self.cells) >= self.MEMO:
            self.cells.clear()
        typed, sub = words(cell), words(below)
        readings = []
        if typed and len(typed) <= (160 if stacked else 80):  # not a paragraph
            full = self.accepted(tokens(cell))
            in_sub = self.accepted(tokens(below)) if sub else {}
            for pair in full.keys() | in_sub.keys():
                key, wanted = pair
                # A spec's own wording, word for word, outranks any reading by tokens.
                exact = typed in self.own[key] or sub in self.own[key]
                under = in_sub.get(pair, 0.0)
                best = max(full.get(pair, 0.0), under)
                readings.append((exact, best, under >= ACCEPT, len(wanted), key))
        found = (clean(cell), tuple(readings)) if readings else ("", ())
        self.cells[(cell, below, stacked)] = found
        return found

    def accepted(self, heading: tuple[str, ...]) -> dict[tuple[str, tuple[str, ...]], float]:
        """(key, wording) -> score, for the wordings scoring ACCEPT or more: those whose
        every word the heading has (vocabulary.score: a wording partly present scores
        below ACCEPT), so each distinct word is looked for once, not once per wording."""
        found = self.memo.get(heading)
        if found is None:
            if len(self.memo) >= self.MEMO:
                self.memo.clear()
            present = present_words(self.words, heading) if heading else frozenset()
            found = {
                pair: got
                for pair in self.pairs
                if all(w in present for w in pair[1]) and (got := score(heading, pair[1])) >= ACCEPT
            }
            self.memo[heading] = found
        return found


@by_identity
def _index(shape: TableShape) -> _Wordings:
    return _Wordings(shape)


def _ticks(
    cells: Sequence[str], shape: TableShape, over: Sequence[str] = ()
) -> tuple[tuple[str, int, str], ...]:
    """Adjacent sub-headings each naming a different value of one vocabulary.

    With the row above (`over`), a group stands under one heading spanning it ("Phân loại"
    over "Tập thể | Cá nhân", blanks beside it included) or is merged down over both rows
    as a whole; a cell merged down beside a group ("TT" over "TT") is a column of its own.
    """
    out: list[tuple[str, int, str]] = []
    typed = [words(cell) if cell else "" for cell in cells]  # once per cell, not per key
    for key, exact in _tick_values(shape):
        found = [
            (key, i, vid, _heading_over(cells[i], _at(over, i)) if over else "")
            for i, t in enumerate(typed)
            if t and (vid := exact.get(t))
        ]
        # Side by side, each value once: "Tập thể | Cá nhân", not a lone "TT" (the number).
        run: list[tuple[str, int, str, str]] = []
        for tick in [*found, ("", -2, "", "")]:
            if run and (
                tick[1] != run[-1][1] + 1
                or tick[2] in {v for _, _, v, _ in run}
                or tick[3] not in (run[0][3], "" if run[0][3] != _MERGED_DOWN else None)
            ):
                if len(run) >= 2:
                    out += [(k, i, v) for k, i, v, _ in run]
                run = []
            run.append(tick)
    return tuple(out)


_MERGED_DOWN = "\0merged"


@by_identity
def _tick_values(shape: TableShape) -> tuple[tuple[str, Mapping[str, str]], ...]:
    """For each column that may be ticked, its value ids by exact wording: what
    value_id(key, cell, values, strict=True) looks up, found once per shape."""
    return tuple(
        (c.key, value_index(c.key, c.values)[0])
        for c in shape.columns
        if c.key in ENTRY_KEYS and c.values
    )


def _heading_over(cell: str, above: str) -> str:
    """What stands over a sub-heading: its heading's words, or the cell itself merged down."""
    heading = words(above)
    return _MERGED_DOWN if heading == words(cell) else heading


_MatchKey = tuple[int, tuple[str, ...], tuple[str, ...], tuple[str, ...]]
_MATCHED: dict[_MatchKey, tuple[TableShape, Matched]] = {}
MATCH_MEMO = 4096  # rows remembered, each of at most MATCH_MEMO_CHARS characters
MATCH_MEMO_CHARS = 2000


def _match_columns(
    cells: Sequence[str],
    shape: TableShape,
    lower: Sequence[str] = (),
    taught: Taught = NOTHING_TAUGHT,
    upper: Sequence[str] = (),
) -> Matched:
    """_read_columns, remembered by the rows' text: every spec searches the same rows of a
    file, and the forms of one campaign share their title and header rows."""
    shape = _matched_alike(shape)
    if taught.headers:  # the board's lessons change the reading: not remembered
        return _read_columns(cells, shape, lower, taught, upper)
    key = (id(shape), tuple(cells), tuple(lower), tuple(upper))
    hit = _MATCHED.get(key)
    if hit is not None and hit[0] is shape:
        return hit[1]
    found = _read_columns(cells, shape, lower, taught, upper)
    if sum(map(len, key[1])) + sum(map(len, key[2])) + sum(map(len, key[3])) <= MATCH_MEMO_CHARS:
        if len(_MATCHED) >= MATCH_MEMO:
            _MATCHED.clear()
        _MATCHED[key] = (shape, found)
    return found


_ALIKE: dict[tuple[Column, ...], TableShape] = {}


@by_identity
def _matched_alike(shape: TableShape) -> TableShape:
    """The first shape seen with these columns: a header row reads the same for shapes that
    differ only in what is not matched (M3 and M4 in their sections), so it is read once."""
    if len(_ALIKE) >= 64:
        _ALIKE.clear()
    return _ALIKE.setdefault(shape.columns, shape)


def _read_columns(
    cells: Sequence[str],
    shape: TableShape,
    lower: Sequence[str] = (),
    taught: Taught = NOTHING_TAUGHT,
    upper: Sequence[str] = (),
) -> Matched:
    """Assign header cells to columns by the best-scoring wording (tokens, typos forgiven).

    For a stacked header, `lower` holds the sub-headings: a wording found there beats one
    found only with the parent's words, so "Thời gian triển khai" over "Tiếp tục" is the
    "tiếp tục" column and not the one the parent heading alone would name. `upper`, the
    row above, tells sub-headings from cells merged down over both rows (see _ticks).
    """
    if not any(cells) and not any(lower):  # an empty row (a gap under the title) names nothing
        return (), ()
    ticks = _ticks(lower or cells, shape, upper)
    ticked = {i for _, i, _ in ticks}
    keys = {c.key for c in shape.columns}
    index = _index(shape)
    stacked = bool(lower)
    scored = []
    for i, cell in enumerate(cells):
        if not cell or i in ticked:
            continue
        below = _at(lower, i)
        if taught.headers:  # the board's lessons first, as the cell is written
            typed, sub = words(cell), words(below)
            if not typed or len(typed) > (160 if lower else 80):  # not a paragraph
                continue
            lesson = taught_header(taught, cell) or (taught_header(taught, sub) if sub else None)
            if lesson is not None and lesson.meaning in keys:
                scored.append((True, 2.0, True, 99, -i, lesson.meaning, i, clean(cell)))
                continue
        text, readings = index.scores(cell, below, stacked)
        scored += [(e, best, sub_ok, n, -i, key, i, text) for e, best, sub_ok, n, key in readings]
    taken_keys: set[str] = {k for k, _, _ in ticks}
    held: dict[str, tuple[int, str]] = {}  # key: (cell, its text)
    taken_cells: set[int] = set()
    ranked = sorted(scored, reverse=True)
    for *_, key, i, text in ranked:
        if key not in taken_keys and i not in taken_cells:
            taken_keys.add(key)
            taken_cells.add(i)
            held[key] = (i, text)
    # A cell left out because its only meaning went to a cell that has another: give the
    # holder its next meaning ("Tập thể hoặc cá nhân" reads as the name and the kind alike;
    # beside "Họ tên / Tên đơn vị" it is the kind). One exchange per cell, best first.
    for *_, key, j, text in ranked:
        if j in taken_cells or key not in held:
            continue
        i, its = held[key]
        other = next((k for *_, k, c, _ in ranked if c == i and k not in taken_keys), None)
        if other is not None:
            held[other] = (i, its)
            held[key] = (j, text)
            taken_keys.add(other)
            taken_cells.add(j)
    out = [(key, i, text) for key, (i, text) in held.items()]
    return tuple(sorted(out, key=lambda c: c[1])), ticks


def _stack(top: Sequence[str], bottom: Sequence[str]) -> tuple[str, ...]:
    """A two-row header read as one: "Đăng ký" over "Tên mô hình" -> "Đăng ký Tên mô hình"."""
    width = max(len(top), len(bottom))
    out = []
    for c in range(width):
        upper, lower = _at(top, c), _at(bottom, c)
        out.append(upper if not lower or lower == upper else f"{upper} {lower}".strip())
    return tuple(out)


def _is_data_like(row: Sequence[str]) -> bool:
    """A row with a number in it is data or template numbering, not a second header row."""
    return any(_NUMBER.fullmatch(clean(c)) for c in row)


def _filled(text: str) -> str:
    return "" if _FILLER.fullmatch(text) else text


def _at(cells: Sequence[str], i: int) -> str:
    return cells[i] if i < len(cells) else ""


def _id(entry: Entry, key: str) -> str | None:
    return getattr(entry, key) if key in ENTRY_KEYS else entry.extra.get(key)


def _column(shape: TableShape, key: str) -> Column:
    found = _columns(shape).get(key)
    return found if found is not None else Column(key, (), key)


@by_identity
def _columns(shape: TableShape) -> dict[str, Column]:
    """Each key's first column."""
    found: dict[str, Column] = {}
    for c in shape.columns:
        found.setdefault(c.key, c)
    return found
