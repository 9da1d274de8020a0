"""Which form a file is, from its own evidence: a header row, a title, its name, the subject.

Evidence is weighed, not required in full: a unit may rename the file "Scan 001.xlsx"
(the header and title still tell), retitle the form in its own words (the header tells),
or send a report whose only clue is its title. The email subject is the weakest clue,
since one subject often covers two attachments ("Gửi mẫu 01 và mẫu 02").
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache

from parsers.identity import by_identity
from parsers.labelled import evidence
from parsers.office import Content, Grid
from parsers.specs import FormSpec, Phrases, TableShape
from parsers.tables import Header, find_header, has_sections
from parsers.text import clean, words

HEAD_LINES = 15  # the title block: unit, national motto, date, title, addressee
WEIGHTS = {"title": 4, "header": 3, "filename": 2, "hint": 1}
THRESHOLD = 2  # a file name alone will do; a subject alone will not
MIN_WORDS = 3  # without title or header, a file with fewer words is not a form
TEXT_SAMPLE = 2000  # letters looked at by has_text
TITLE_LINES = 3  # "BÁO CÁO" / "Kết quả thực hiện phong trào ..." / "năm 2024"
TITLE_LINE_WORDS = 25  # a longer line is the body's first paragraph
_DATE = re.compile(r"\bngay (\d{1,2}) thang (\d{1,2}) nam (\d{4})\b")
# Where the title block ends and the body begins ("Kính gửi: ...", "Căn cứ ...").
_BODY = re.compile(r"^(kinh gui|can cu|thuc hien|hom nay|vao hoi|thoi gian|dia diem)\b")
# The kinds of administrative papers (Nghị định 30/2020/NĐ-CP, phụ lục III) and other
# papers a unit attaches. A title that names one no spec's title uses is evidence that
# the paper is something else: "BIÊN BẢN HỌP", "HÓA ĐƠN", "V/v ..." (a letter).
DOCUMENT_KINDS = (
    "nghị quyết", "quyết định", "chỉ thị", "quy chế", "quy định", "thông cáo", "thông báo",
    "hướng dẫn", "chương trình", "kế hoạch", "phương án", "đề án", "dự án", "báo cáo",
    "biên bản", "tờ trình", "hợp đồng", "công văn", "công điện", "bản ghi nhớ",
    "bản thỏa thuận", "giấy ủy quyền", "giấy mời", "giấy giới thiệu", "giấy nghỉ phép",
    "phiếu gửi", "phiếu chuyển", "phiếu báo", "thư công", "hóa đơn", "phiếu thu", "phiếu chi",
    "sơ yếu lý lịch", "lý lịch", "đơn xin", "danh sách điểm danh", "danh sách đề nghị",
    "danh sách trích ngang", "bảng chấm công", "bảng lương", "giấy chứng nhận", "v/v", "về việc",
)  # fmt: skip
# Headers any list of people, goods or collectives carries: they explain a table but say
# nothing about which form it is ("STT, Họ và tên, Chức vụ, Đơn vị, Ghi chú").
GENERIC_HEADERS = (
    "STT", "TT", "Số TT", "Số thứ tự", "Họ và tên", "Họ tên", "Tên", "Ghi chú", "Đơn vị",
    "Chức vụ", "Ký tên", "Ký nhận", "Ngày sinh", "Năm sinh", "Giới tính", "Dân tộc",
    "Quê quán", "Địa chỉ", "Điện thoại", "Nội dung", "Thời gian", "Số lượng", "Đơn giá",
    "Thành tiền", "Tên đơn vị", "Đơn vị công tác", "Nơi công tác", "Tập thể", "Cá nhân",
    "Tên tập thể, cá nhân", "Kết quả", "Số", "Ngày", "Tháng", "Năm", "của", "và", "hoặc",
)  # fmt: skip


@dataclass(frozen=True)
class Recognised:
    spec: FormSpec
    head: tuple[str, ...]  # the lines above the form's table, or the document's first lines
    table: tuple[int, Header] | None = None  # the grid's index in Content.blocks, its header
    # Recognised only by weak clues (its file name, the subject): no title, no column and
    # no item of the form. An invoice named "Mau 01.xlsx" is such a file; what its reading
    # finds wrong is the board's to check, never the unit's to hear.
    weak: bool = False


def recognise(
    specs: Sequence[FormSpec], filename: str, hint: str, content: Content
) -> Recognised | None:
    """The spec with the most evidence, if there is enough of it, and some of it distinctive.

    Distinctive evidence is the form's number or title in the title block, its file name,
    a labelled form's items, or a table with a column that only such a form has (not STT,
    Họ và tên, Ghi chú). A title naming another kind of paper ("BIÊN BẢN", "HÓA ĐƠN", a
    letter's "V/v") outweighs title phrases the body repeats.
    """
    best: tuple[tuple[int, bool, tuple[int, int], float, int], Recognised] | None = None
    readable: bool | None = None  # has_text, worked out only when needed
    weights = _title_weights(tuple(specs))
    foreigns: dict[tuple[str, ...], bool] = {}  # specs whose tables start alike share it
    # The clues cheap to read first, for every spec; the costly ones (a labelled form's
    # items, the telling columns) only for specs whose best possible score can still win:
    # ranks end in -order, so the best is the same whatever order specs are judged in.
    cheap = []
    heads: dict[tuple[int, int] | None, tuple[str, ...]] = {}  # specs whose tables start alike
    for order, spec in enumerate(specs):
        if spec.shape != "table" and content.format != "docx":
            continue
        table = _find_table(spec, content)
        stop = (table[0], table[1].top) if table else None  # all head_lines depends on
        head = heads.get(stop)
        if head is None:
            head = heads[stop] = head_lines(content, table)
        foreign = foreigns.get(head)
        if foreign is None:
            foreign = foreigns[head] = _foreign_kind(_title_lines(head), specs)
        block = "\n".join(_title_block(spec, head))
        title_text = "" if foreign else block
        named = _any(spec.names, block)
        titled = named or _any(spec.titles, title_text)
        clues = (
            WEIGHTS["title"] * titled
            + WEIGHTS["filename"] * _any(spec.filenames, filename)
            + WEIGHTS["hint"] * _any(spec.filenames, hint)
        )
        cheap.append(
            (clues + WEIGHTS["header"], order, spec, table, head, title_text, named, titled, clues)
        )
    cheap.sort(key=lambda c: (-c[0], c[1]))
    for bound, order, spec, table, head, title_text, named, titled, clues in cheap:
        if bound < THRESHOLD or (best is not None and bound < best[0][0]):
            break  # sorted by bound: no spec left can reach the best score
        # A labelled form's items (M1, M2) play the part of a table's header row.
        items = evidence(spec.labelled, content) if spec.labelled else None
        telling = table is not None and _telling_columns(spec, content, table) > 0
        score = clues + WEIGHTS["header"] * (telling or items is not None)
        # Equal evidence (M3, M4 and mẫu 01 share titles and file names such as "DS đăng ký
        # DVK"; a yearly report's title also fits mẫu 02): the header that explains more
        # columns, then the more distinctive title phrase, then the order of the specs; a
        # form's own number written in it ("Mẫu M3") comes before all of these.
        specific = _specificity(spec.titles, title_text, weights)
        # A labelled form none of whose items are there loses a tie on a file name alone
        # ("M02.docx" is mẫu 02 in Phong Thổ, M2 in Tân Yên).
        fit = (-1, 0) if spec.labelled and items is None else _table_fit(spec, content, table)
        fit = (items, 0) if items is not None else fit
        rank = (score, named, fit, specific, -order)
        # A name or a subject is a clue about a document, not a document: with no title,
        # header or items of the form, the file must at least hold text people wrote.
        seen = score > WEIGHTS["filename"] + WEIGHTS["hint"] or telling or items
        if not seen and readable is None:
            readable = has_text(content)
        if score >= THRESHOLD and (seen or readable) and (best is None or rank > best[0]):
            weak = not (titled or telling or items is not None)
            best = (rank, Recognised(spec, head, table, weak))
    return best[1] if best else None


def named_like_a_form(specs: Sequence[FormSpec], filename: str) -> bool:
    """Whether the file's name is one units give a form ("Mau 01.xlsx"): a clue that the
    unit meant to send it, so what its content lacks is for the board to check."""
    return any(_any(spec.filenames, filename) for spec in specs)


def _title_lines(head: Sequence[str]) -> Sequence[str]:
    """The header block and title: the head down to the body's first paragraph (a long
    line, or one that opens a letter or minutes), whose words may be any report's."""
    for i, line in enumerate(head):
        typed = words(line)
        if len(typed.split()) > TITLE_LINE_WORDS or _BODY.match(typed):
            return head[:i]
    return head


def _foreign_kind(titles: Sequence[str], specs: Sequence[FormSpec]) -> bool:
    """Whether a title line opens with a kind of paper that no spec's title names."""
    foreign = _foreign_kinds(tuple(specs))  # str.startswith takes them all at once
    return any(f"{words(line)} ".startswith(foreign) for line in titles)


@by_identity
def _foreign_kinds(specs: tuple[FormSpec, ...]) -> tuple[str, ...]:
    """The kinds of paper no spec's title names, folded, once per set of specs."""
    own = {words(p) for spec in specs for group in (*spec.titles, *spec.names) for p in group}
    return tuple(
        f"{words(k)} " for k in DOCUMENT_KINDS if not any(f" {words(k)} " in f" {o} " for o in own)
    )


@by_identity
def _title_weights(specs: tuple[FormSpec, ...]) -> Mapping[str, float]:
    """How distinctive each word of the specs' titles is: the inverse of the number of
    specs whose titles use it ("dân vận khéo" is in most; "kết quả" in one)."""
    used = [{w for g in (*s.titles, *s.names) for p in g for w in words(p).split()} for s in specs]
    count = {w: sum(w in u for u in used) for u in used for w in u}
    return {w: math.log(1 + len(specs) / n) for w, n in count.items()}


def _specificity(groups: Sequence[Phrases], text: str, weights: Mapping[str, float]) -> float:
    """The most distinctive title phrase found: the sum of its words' weights (0: none)."""
    padded = f" {words(text)} "
    found = [
        sum(weights.get(w, 0.0) for w in set(words(" ".join(group)).split()))
        for group in groups
        if _has_all(group, padded)
    ]
    return max(found, default=0.0)


@lru_cache(maxsize=1)
def _generic_words() -> frozenset[str]:
    return frozenset(w for h in GENERIC_HEADERS for w in words(h).split())


def _telling_columns(spec: FormSpec, content: Content, table: tuple[int, Header]) -> int:
    """The columns of the found header that tell this form from any list: a header with a
    word no generic header has ("Lĩnh vực", "Mô hình"), or values of the spec's
    vocabulary below it (a column of "Tập thể"/"Cá nhân" or of fields)."""
    grid, header = content.blocks[table[0]], table[1]
    assert isinstance(grid, Grid) and spec.table is not None
    generic = _generic_words()
    count = 0
    for key, col, text in header.columns:
        column = next((c for c in spec.table.columns if c.key == key), None)
        if column is not None and column.values:  # its cells say it, not its heading:
            count += _valued(spec.table, key, grid, header, col)  # "Hình thức khen thưởng"
        elif set(words(text).split()) - generic:  # over "Giấy khen" is no kind column
            count += 1
    return count


def _valued(shape: TableShape, key: str, grid: Grid, header: Header, col: int) -> bool:
    """Whether most filled cells of a column with a vocabulary are values of it."""
    column = next((c for c in shape.columns if c.key == key), None)
    if column is None or not column.values:
        return False
    cells = [row[col] for row in grid.rows[header.row + 1 : header.row + 41] if col < len(row)]
    filled = [c for c in cells if c.strip()]
    return bool(filled) and 2 * sum(column.lookup(c) is not None for c in filled) > len(filled)


def has_text(content: Content) -> bool:
    """Whether the file holds text in the Vietnamese (Latin) alphabet: MIN_WORDS words
    of two letters or more, and most of its letters Latin. A binary file LibreOffice
    read as text ("OLE garbage") gives thousands of CJK and Hangul "letters" instead."""
    latin = other = found = 0
    for line in _lines(content):
        for word in line.split():
            letters = [c for c in word if c.isalpha()]
            if word.isascii():  # most words: Latin by definition, no name to look up
                latin += len(letters)
                found += len(letters) >= 2
                continue
            is_latin = [_is_latin(c) for c in letters]
            latin += sum(is_latin)
            other += len(letters) - sum(is_latin)
            found += len(letters) >= 2 and all(is_latin)
        if latin + other > TEXT_SAMPLE:
            break
    return found >= MIN_WORDS and latin > other


@lru_cache(maxsize=4096)  # bounded: a file of garbage may hold many characters
def _is_latin(char: str) -> bool:
    return char.isascii() or unicodedata.name(char, "").startswith("LATIN")


def _lines(content: Content) -> Iterator[str]:
    for block in content.blocks:
        if isinstance(block, str):
            yield block
        else:
            yield from (cell for row in block.rows for cell in row if cell)


def head_lines(content: Content, table: tuple[int, Header] | None) -> tuple[str, ...]:
    """The first lines of text, stopping at the form's own table header."""
    stop_block, stop_row = (table[0], table[1].top) if table else (-1, -1)
    blocks = list(enumerate(content.blocks))
    if content.format == "xlsx":  # only the sheet that holds the form (or the first one)
        blocks = blocks[max(stop_block, 0) : max(stop_block, 0) + 1]
    lines: list[str] = []
    for b, block in blocks:
        if isinstance(block, str):
            lines += block.splitlines()
            continue
        for r, row in enumerate(block.rows):
            if (b, r) == (stop_block, stop_row):
                return tuple(lines[:HEAD_LINES])
            lines += [line for cell in dict.fromkeys(row) for line in cell.splitlines()]
            if len(lines) >= HEAD_LINES:
                return tuple(lines[:HEAD_LINES])
    return tuple(lines[:HEAD_LINES])


def unit_line(head: Sequence[str], prefixes: Sequence[str], title: Sequence[Phrases]) -> str:
    """The unit's own line ("ĐẢNG ỦY XÃ MƯỜNG SO"): the last one above the title that
    starts like a unit's name, since the superior body ("ĐẢNG BỘ HUYỆN ...") comes first.

    Lines are cut where the header block's right-hand side begins (a tab, "CỘNG HÒA ...",
    "Số: ..."); a name broken over two lines ("ĐẢNG ỦY" / "XÃ MƯỜNG SO") is joined; a
    line typed with diacritics must start with the prefix's own tones ("BẢN ĐĂNG KÝ" does
    not start like "Ban ...").
    """
    starts = (*prefixes, *UNIT_STARTS)
    # "ĐẢNG ỦY XÃ MƯỜNG SO    Mẫu số 01" in one cell (its spaces collapsed): the form
    # number beside the unit's name is neither the name nor a title.
    lines = [_TRAILING_NUMBER.sub("", part) for line in head for part in _left_side(line)]
    found = ""
    for i, line in enumerate(lines):
        typed = words(line)
        if _FORM_NUMBER.match(typed):  # "Mẫu số 01" above the block is no title
            continue
        if _any(title, line):
            break
        if _DATE.search(typed):  # "Phong Thổ, ngày ..." starts like "Phòng ..."
            continue
        if _starts_like_any(line, starts):
            found = clean(_own_part(line, starts).strip("*-_ "))
            nxt = lines[i + 1] if i + 1 < len(lines) else ""
            if not _LEVEL.search(typed) and _LEVEL.match(words(nxt)):
                found = clean(f"{found} {nxt.strip('*-_ ')}")
    return found


# How units' own lines start, whatever the spec lists: the Party, the State, the Front
# and the mass organisations, at any level.
UNIT_STARTS = (
    "đảng ủy", "đảng bộ", "chi bộ", "huyện ủy", "tỉnh ủy", "thị ủy", "ban chấp hành",
    "ban thường vụ", "ủy ban", "ubnd", "hđnd", "mặt trận", "ủy ban mặt trận", "mttq",
    "hội", "chi hội", "liên đoàn lao động", "công đoàn", "đoàn thanh niên", "đoàn tncs",
    "huyện đoàn", "chi đoàn", "công an", "ban chỉ huy", "văn phòng", "phòng", "trung tâm",
    "trường", "hợp tác xã", "thôn", "tổ dân phố",
)  # fmt: skip
# Where the left side of a header block ends on the same line.
_RIGHT_SIDE = re.compile(
    r"\t|\s{3,}|\s\*(?:\s|$)|\b(?:cộng hòa|cộng hoà|đảng cộng sản|độc lập)\b|\bsố\s*:",
    re.IGNORECASE,
)
_LEVEL = re.compile(r"\b(huyen|tinh|xa|thi tran|thi xa|phuong|thanh pho)\b")
_FORM_NUMBER = re.compile(r"(mau|bieu|phu luc)( so)?( [a-z]{0,2} ?\d+[a-z]?| [a-z]\d*)$")
_TONES = {"\u0300", "\u0301", "\u0303", "\u0309", "\u0323"}
_TRAILING_NUMBER = re.compile(
    r"(?<=\S)\s+\(?(m[ẫa]u|bi[ểe]u|ph[ụu] l[ụu]c)(\s+s[ốo])?\s*:?"
    r"\s*[a-z]{0,2}\s*\d{1,2}[a-z]?\)?\s*$",
    re.IGNORECASE,
)


def _own_part(line: str, starts: Sequence[str]) -> str:
    """The unit's part of a line that also names its superior, as a Word cell read as one
    line does: "ĐẢNG BỘ HUYỆN PHONG THỔ ĐẢNG ỦY XÃ MƯỜNG SO" -> "ĐẢNG ỦY XÃ MƯỜNG SO". A
    superior ends with a place after its level ("huyện Phong Thổ"), and the unit's name
    begins right after it; "CHI BỘ VĂN PHÒNG HĐND - UBND HUYỆN" stays whole."""
    spans = [m.start() for m in re.finditer(r"\w+", line)]
    for k in range(1, len(spans)):
        before, rest = line[: spans[k]], line[spans[k] :]
        levels = list(_LEVEL.finditer(words(before)))
        named = bool(levels) and words(before)[levels[-1].end() :].strip() != ""
        if named and _starts_like_any(rest, starts):
            return rest
    return line


def _left_side(line: str) -> list[str]:
    """The lines of a cell or paragraph, each cut where the right-hand column begins."""
    out = []
    for part in line.splitlines():
        cut = _RIGHT_SIDE.search(part)
        left = part[: cut.start()] if cut else part
        if left.strip():
            out.append(left)
    return out


def _starts_like_any(line: str, prefixes: Sequence[str]) -> bool:
    """Whether `line` starts with the words of one of `prefixes`: folded, and with the same
    tones when the line was typed with diacritics (placement aside: "ủy" is "uỷ")."""
    typed = f"{words(line)} "
    return any(
        typed.startswith(folded) and (line.isascii() or _same_tones(line, prefix))
        for prefix, folded in _folded_prefixes(tuple(prefixes))
    )


@lru_cache(maxsize=64)
def _folded_prefixes(prefixes: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    return tuple((p, f"{words(p)} ") for p in prefixes)


def _same_tones(line: str, prefix: str) -> bool:
    """The line's first words carry the prefix's tones (a line typed without diacritics
    has only its folded words, which the caller compared)."""
    theirs = re.findall(r"\w+", line.lower())[: len(prefix.split())]
    return all(_toned(a) == _toned(b) for a, b in zip(theirs, prefix.lower().split(), strict=False))


def _toned(word: str) -> tuple[str, frozenset[str]]:
    decomposed = unicodedata.normalize("NFD", word)
    marks = frozenset(c for c in decomposed if c in _TONES)
    return "".join(c for c in decomposed if c not in _TONES), marks


def date_line(head: Sequence[str]) -> str:
    """The date of the document ("Mường So, ngày 25 tháng 01 năm 2024"), as YYYY-MM-DD."""
    for line in head:
        m = _DATE.search(words(line))
        if m:
            day, month, year = (int(g) for g in m.groups())
            if 1 <= day <= 31 and 1 <= month <= 12:
                return f"{year:04d}-{month:02d}-{day:02d}"
    return ""


def _find_table(spec: FormSpec, content: Content) -> tuple[int, Header] | None:
    if spec.table is None:
        return None
    for b, block in enumerate(content.blocks):
        if isinstance(block, Grid):
            header = find_header(block, spec.table)
            if header is not None:
                return b, header
    return None


def _table_fit(
    spec: FormSpec, content: Content, table: tuple[int, Header] | None
) -> tuple[int, int]:
    """How well the spec's columns explain the table, then whether its sections are there:
    a spec with sections (M3) fits a list grouped by field, one without (M4) one that is not."""
    if table is None or spec.table is None:
        return (0, 0)
    grid = content.blocks[table[0]]
    assert isinstance(grid, Grid)
    if not spec.table.section_keys:
        return (len(table[1].columns), 0)
    return (len(table[1].columns), 1 if has_sections(grid, table[1], spec.table) else -1)


def _title_block(spec: FormSpec, head: Sequence[str]) -> Sequence[str]:
    """A report's lines down to the end of its title: its body, in the first lines too,
    uses the words of other reports' titles ("kết quả", "phong trào", "mô hình")."""
    if spec.report is None:
        return head
    wanted = words(spec.report.title)
    for i, line in enumerate(head):
        if f"{words(line)} ".startswith(f"{wanted} "):
            end = i + 1
            while end < min(len(head), i + 1 + TITLE_LINES) and _is_title_line(head[end]):
                end += 1
            return head[:end]
    return head


def _is_title_line(line: str) -> bool:
    return len(words(line).split()) <= TITLE_LINE_WORDS


def _any(groups: Sequence[Phrases], text: str) -> bool:
    """Whether every phrase of some group is in `text` (text.has_all, with the text's
    words padded once for all the phrases, not once per phrase)."""
    padded = f" {words(text)} "
    for needles in _needles(tuple(groups)):
        for needle in needles:
            if needle not in padded:
                break
        else:
            return True
    return False


def _has_all(group: Phrases, padded: str) -> bool:
    return any(all(n in padded for n in needles) for needles in _needles((group,)))


@lru_cache(maxsize=1024)  # the specs' phrase groups: few, asked for every line and file
def _needles(groups: tuple[Phrases, ...]) -> tuple[tuple[str, ...], ...]:
    """Each group's phrases as text.has_phrase looks for them, padded words; a group that
    can never match (empty, or a phrase without words) is left out."""
    out = []
    for group in groups:
        needles = tuple(f" {w} " for w in (words(p) for p in group) if w)
        if group and len(needles) == len(group):
            out.append(needles)
    return tuple(out)
