"""Open .xlsx and .docx bytes safely and reduce them to text: paragraphs and grids of cells.

Nothing here knows about forms. What it guards against, before any library sees the bytes:
files too big, zip bombs (python-docx reads zip members whole, with no limit), encrypted
or legacy OLE files under a modern name, zips that are not Office files. What it works
around: python-docx drops text in content controls, tracked insertions and text boxes,
so Word text is read from the XML; openpyxl's read-only mode loses merged cells, so
small workbooks are read in full mode with merged ranges filled in.
"""

from __future__ import annotations

import html
import io
import re
import zipfile
from collections.abc import Iterable, Iterator
from contextlib import suppress
from dataclasses import dataclass
from datetime import date, datetime, time
from functools import lru_cache
from typing import Any, Literal

from lxml import etree

from parsers import sheets
from parsers.legacy import Prior, convert, convert_run, detect_and_convert, font_encoding
from parsers.limits import OLE_MAGIC
from parsers.text import clean

MAX_UNPACKED_BYTES = 100 * 1024 * 1024  # all members together, as the zip announces them
MAX_MEMBERS = 2000
# A compression ratio only means a bomb for big members: styles.xml alone is often 100:1.
MAX_RATIO, RATIO_FROM_BYTES = 100, 10 * 1024 * 1024
MAX_ROWS, MAX_COLUMNS = 5000, 40  # a form has tens of rows; stray formatting can claim a million
# Each XML part a parser loads whole (sharedStrings, a sheet, document.xml, ODF content.xml):
# a filled form's largest is under 1 MB, a 200-page Word report about 4; the margin is wide,
# and parsed into a tree 16 MB costs a few hundred MB, within the sandbox's memory limit.
MAX_PART_BYTES = 16 * 1024 * 1024
MAX_CELL_CHARS = 32767  # what Excel itself allows in a cell
# A form has tens of merged ranges; the fill work is also capped by the grid (_fill).
MAX_MERGES = 10_000

# Encrypted .docx/.xlsx are OLE files whose directory names this stream (in UTF-16).
ENCRYPTION_STREAM = "EncryptionInfo".encode("utf-16-le")

Format = Literal["xlsx", "docx"]


class Unreadable(Exception):
    """Why the bytes cannot be read: a Problem code, and the reason for the message."""

    def __init__(self, code: str, reason: str) -> None:
        super().__init__(code, reason)
        self.code, self.reason = code, reason


@dataclass(frozen=True)
class Grid:
    """A table as text. Merged cells repeat their value, as a person reads them."""

    name: str  # the sheet's name, or "" for a Word table
    rows: tuple[tuple[str, ...], ...]  # cells keep line breaks; rows[0] is row 1
    # (row, column) of formulas Excel never calculated: they read as "" although the unit
    # sees a value, so a message about them must say why (files made by scripts, or saved
    # by tools that do not recalculate). Indexes as in `rows`.
    uncalculated: frozenset[tuple[int, int]] = frozenset()


Block = str | Grid  # a paragraph or a table, in document order


@dataclass(frozen=True)
class Content:
    format: Format
    blocks: tuple[Block, ...]  # .xlsx: one Grid per worksheet; .docx: the body in order
    # .docx: runs in bold or highlighted, each stretch cleaned: a unit that picks an option
    # by making it bold leaves no other trace in the text.
    emphasis: frozenset[str] = frozenset()


def read(data: bytes) -> Content:
    """The text of an Office file, whatever its name claims; raises Unreadable."""
    if data.startswith(OLE_MAGIC):
        if ENCRYPTION_STREAM in data:
            raise Unreadable("encrypted", "password")
        raise Unreadable("needs-review", "legacy")
    if not data.startswith(b"PK"):
        raise Unreadable("corrupt-file", "not-zip")
    archive = _open_zip(data)
    members = archive.infolist()
    check_zip(members)
    found = _ooxml_format(members)
    try:
        if found == "xlsx":
            return Content("xlsx", _workbook(archive))
        body = _document_body(archive)
        return Content("docx", tuple(_body(body, Prior(_plain_texts(body)))), _emphasis(body))
    except (Unreadable, MemoryError):  # MemoryError: the sandbox reports it
        raise
    except Exception as exc:  # the libraries raise anything from KeyError to XMLSyntaxError
        raise Unreadable("corrupt-file", "broken") from exc


def check_package(data: bytes) -> None:
    """Refuse a zip-based file (.docx, .xlsx, .odt, .ods, ...) that is a bomb or encrypted,
    before any library or LibreOffice sees it; other bytes pass. Raises Unreadable."""
    if not data.startswith(b"PK"):
        return
    archive = _open_zip(data)
    members = archive.infolist()
    check_zip(members)
    # ODF encrypts members with its own scheme, declared in the manifest.
    manifest = any(m.filename == ODF_MANIFEST for m in members)
    if manifest and b"encryption-data" in archive.read(ODF_MANIFEST):
        raise Unreadable("encrypted", "password")


ODF_MANIFEST = "META-INF/manifest.xml"


class _Package(zipfile.ZipFile):
    """A zip whose members are unpacked once: a worksheet is read for its cells, its
    merged ranges and, if a cell needs it, the file's legacy Prior. Sizes are bounded by
    check_zip before any member is read, and the package lives for one file's reading."""

    def __init__(self, file: io.BytesIO) -> None:
        super().__init__(file)
        self._unpacked: dict[str, bytes] = {}

    def read(self, name: str | zipfile.ZipInfo, pwd: bytes | None = None) -> bytes:
        key = name.filename if isinstance(name, zipfile.ZipInfo) else name
        found = self._unpacked.get(key)
        if found is None:
            found = self._unpacked[key] = super().read(name, pwd)
        return found


def _open_zip(data: bytes) -> zipfile.ZipFile:
    try:
        archive = _Package(io.BytesIO(data))
        archive.infolist()
    # NotImplementedError: a directory claiming a zip version newer than zipfile reads.
    except (zipfile.BadZipFile, OSError, ValueError, EOFError, NotImplementedError) as exc:
        raise Unreadable("corrupt-file", "not-zip") from exc
    return archive


def check_zip(members: list[zipfile.ZipInfo]) -> None:
    """Refuse bombs: too many members, too much unpacked, a bomb's ratio, an XML part too
    big to parse whole, encrypted members.

    The announced sizes suffice: zipfile stops each member at its announced size and
    fails the CRC check if the data goes on, so a lying header cannot inflate further.
    """
    if len(members) > MAX_MEMBERS:
        raise Unreadable("suspicious-file", "too-many-members")
    if sum(m.file_size for m in members) > MAX_UNPACKED_BYTES:
        raise Unreadable("suspicious-file", "too-big-unpacked")
    for m in members:
        if m.file_size > RATIO_FROM_BYTES and m.file_size > MAX_RATIO * max(m.compress_size, 1):
            raise Unreadable("suspicious-file", "ratio")
        if m.file_size > MAX_PART_BYTES and m.filename.lower().endswith((".xml", ".rels")):
            raise Unreadable("suspicious-file", "part-too-big")
        if m.flag_bits & 0x1:
            raise Unreadable("encrypted", "password")


def _ooxml_format(members: list[zipfile.ZipInfo]) -> Format:
    """Which Open XML format the package really is; refuses other zips."""
    names = {m.filename for m in members}
    if "[Content_Types].xml" not in names:
        raise Unreadable("corrupt-file", "not-office")
    if any(n.startswith("xl/") for n in names):
        return "xlsx"
    if any(n.startswith("word/") for n in names):
        return "docx"
    raise Unreadable("corrupt-file", "not-office")


def _document_body(archive: zipfile.ZipFile) -> Any:
    """The body of the main document part, parsed as python-docx parses it (no entities,
    blank text dropped) but into plain lxml elements: python-docx's element classes make
    every step of the walk below several times slower, and nothing here uses them.

    Only that part is read: opening the whole package (styles, settings, fonts, theme)
    costs several times more and the text is all in the body.
    """
    target = "word/document.xml"
    with suppress(KeyError):
        found = _OFFICE_DOCUMENT.search(archive.read("_rels/.rels"))
        if found:
            target = (found.group(1) or found.group(2)).decode("utf-8").lstrip("/")
    body = etree.fromstring(archive.read(target), _WORD_PARSER).find(qn("w:body"))
    if body is None:
        raise Unreadable("corrupt-file", "no-body")
    return body


_WORD_PARSER = etree.XMLParser(remove_blank_text=True, resolve_entities=False, no_network=True)
_OFFICE_DOCUMENT = re.compile(
    rb'<Relationship\b[^>]*?Type="[^"]*/officeDocument"[^>]*?Target="([^"]+)"'
    rb'|<Relationship\b[^>]*?Target="([^"]+)"[^>]*?Type="[^"]*/officeDocument"'
)


# --- Excel -------------------------------------------------------------------------------


def _workbook(archive: zipfile.ZipFile) -> tuple[Grid, ...]:
    """Every worksheet as text, hidden ones last (parsers.sheets reads the XML)."""
    found, mac = sheets.sheets(archive)
    strings = sheets.shared_strings(archive)
    style = sheets.styles(archive)
    prior = Prior(_workbook_texts(archive))
    ordered = sorted(found, key=lambda s: not s.visible)
    return tuple(_sheet(archive, s, strings, style, mac, prior) for s in ordered)


def _merged(archive: zipfile.ZipFile, path: str) -> list[tuple[int, int, int, int]]:
    """The sheet's merged ranges (min_col, min_row, max_col, max_row), from its XML."""
    try:
        xml = archive.read(path)
    except KeyError:
        return []
    ranges = []
    for match in _MERGE_CELL.finditer(xml):
        # What openpyxl's range_boundaries gives for a reference the pattern admits
        # (A..ZZZ, 1-based), without its general parser: a form has tens of ranges.
        left, top, right, bottom = (m.decode("ascii") for m in match.groups())
        ranges.append((_column(left), int(top), _column(right), int(bottom)))
        if len(ranges) >= MAX_MERGES:
            break
    return ranges


def _column(letters: str) -> int:
    """A column's 1-based number: "A" -> 1, "AA" -> 27."""
    n = 0
    for ch in letters:
        n = n * 26 + ord(ch) - 64
    return n


_MERGE_CELL = re.compile(
    rb"<(?:\w+:)?mergeCell\b[^>]*\bref=\"([A-Z]{1,3})([0-9]{1,7}):([A-Z]{1,3})([0-9]{1,7})\""
)


_XML_TEXT = re.compile(rb"<(?:\w+:)?t(?:\s[^>]*)?>([^<]*)<")


def _workbook_texts(archive: zipfile.ZipFile) -> Iterator[str]:
    """The workbook's strings and sheet names as stored, for the file's legacy Prior: read
    only if a cell needs it (sizes were checked by check_zip)."""
    for member in archive.infolist():
        name = member.filename
        if name == "xl/sharedStrings.xml" or (
            name.startswith("xl/worksheets/") and name.endswith(".xml")
        ):
            for match in _XML_TEXT.finditer(archive.read(member)):
                yield _unescaped(match.group(1))


@lru_cache(maxsize=1 << 14)  # a file repeats its cells ("Cá nhân" on every row)
def _unescaped(raw: bytes) -> str:
    return html.unescape(raw.decode("utf-8", "replace"))


def _sheet(
    archive: zipfile.ZipFile,
    sheet: sheets.Sheet,
    strings: list[str],
    style: sheets.Styles,
    mac: bool,
    prior: Prior,
) -> Grid:
    bottom = right = 0
    limits = (MAX_ROWS, MAX_COLUMNS)
    found = list(sheets.cells(archive, sheet.path, strings, style, mac, limits))
    if found:  # rows come in order, columns need not
        bottom, right = max(r for r, _, _ in found) + 1, max(c for _, c, _ in found) + 1
    merged = _merged(archive, sheet.path)
    for _, top, last, _ in merged:  # a merged title wider than the cells typed under it
        if top - 1 < bottom:
            right = max(right, min(last, MAX_COLUMNS))
    rows = [[""] * right for _ in range(bottom)]
    pending: set[tuple[int, int]] = set()
    for r, c, cell in found:
        text = _cell_text(cell.value, cell.font, prior)
        rows[r][c] = text
        if cell.formula and not text:  # a formula Excel never calculated: no cached value
            pending.add((r, c))
    fill_merged(rows, ((r1 - 1, r2, c1 - 1, c2) for c1, r1, c2, r2 in merged))
    name = clean(detect_and_convert(sheet.title, prior))
    return Grid(name, tuple(tuple(row) for row in rows), frozenset(pending))


def fill_merged(rows: list[list[str]], ranges: Iterable[tuple[int, int, int, int]]) -> None:
    """Repeat each merged range's top-left value over it; ranges are 0-based, half-open
    (top, bottom, left, right).

    Ranges are clipped to the grid read. Real merged ranges never overlap, so together
    they cover the grid at most once: fill stops when it has written as many cells as the
    grid has, which bounds a file of 20,000 overlapping sheet-wide ranges to one pass.
    """
    budget = sum(len(row) for row in rows)
    for top, bottom, left, right in ranges:
        if top < 0 or left < 0 or top >= len(rows) or left >= len(rows[top]):
            continue
        bottom, right = min(bottom, len(rows)), min(right, len(rows[top]))
        budget -= max(bottom - top, 0) * max(right - left, 0)
        if budget < 0:
            return
        value = rows[top][left]
        for r in range(top, bottom):
            row = rows[r]
            row[left : min(right, len(row))] = [value] * max(min(right, len(row)) - left, 0)


def _cell_text(value: object, font: str | None = None, prior: Prior | None = None) -> str:
    if isinstance(value, str):  # most cells: text
        return _lines(convert(value[:MAX_CELL_CHARS], font, prior).splitlines())
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, datetime) and value.time() == time():
        return value.date().isoformat()
    if isinstance(value, date | time):
        return value.isoformat()
    return _lines(convert(str(value)[:MAX_CELL_CHARS], font, prior).splitlines())


def _lines(lines: Iterator[str] | list[str]) -> str:
    """Cleaned, non-empty lines joined by newlines (line breaks inside a cell matter)."""
    if isinstance(lines, list) and len(lines) <= 1:  # most cells: no generator to run
        return clean(lines[0]) if lines else ""
    return "\n".join(c for c in (clean(line) for line in lines) if c)


# --- Word --------------------------------------------------------------------------------

# The WordprocessingML namespaces the walk names elements in (ECMA-376, and Word 2010's for
# its checkboxes). python-docx's `qn` does the same, but importing it loads all of
# python-docx, a tenth of a sandbox server's start, for a table of two entries.
_NAMESPACES = {
    "w": "http://schemas.openxmlformats.org/wordprocessingml/2006/main",
    "w14": "http://schemas.microsoft.com/office/word/2010/wordml",
}


def qn(name: str) -> str:
    """A name such as "w:p" in lxml's {namespace}local form."""
    prefix, local = name.split(":")
    return f"{{{_NAMESPACES[prefix]}}}{local}"


W_P, W_TBL, W_TR, W_TC = qn("w:p"), qn("w:tbl"), qn("w:tr"), qn("w:tc")
W_T, W_TAB, W_BR, W_CR = qn("w:t"), qn("w:tab"), qn("w:br"), qn("w:cr")
W_SDT, W_SDT_CONTENT, W_CUSTOM_XML = qn("w:sdt"), qn("w:sdtContent"), qn("w:customXml")
W_GRID_SPAN, W_VMERGE, W_GRID_BEFORE = qn("w:gridSpan"), qn("w:vMerge"), qn("w:gridBefore")
W_TC_PR, W_TR_PR, W_VAL = qn("w:tcPr"), qn("w:trPr"), qn("w:val")
MC_FALLBACK = "{http://schemas.openxmlformats.org/markup-compatibility/2006}Fallback"
W_DEL = qn("w:del")
_CONTROLS = frozenset({W_SDT, W_SDT_CONTENT, W_CUSTOM_XML})  # wrappers whose content counts
# Skipped by the walk: a text box's VML copy, deleted text, and properties (no text in them).
_NO_TEXT = frozenset({MC_FALLBACK, W_DEL, qn("w:rPr"), qn("w:pPr")})


def _body(element: Any, prior: Prior | None = None) -> Iterator[Block]:
    """Paragraphs and tables in order, looking inside content controls (w:sdt)."""
    for child in element:
        if child.tag == W_P:
            text = _paragraph(child, prior)
            if text:
                yield text
        elif child.tag == W_TBL:
            yield Grid("", tuple(_rows(child, prior)))
            # A table inside a cell (a layout table holding the form) is a table of its own.
            for tc in child.iter(W_TC):
                for inner in _children(tc, W_TBL):
                    yield from _body([inner], prior)
        elif child.tag in (W_SDT, W_SDT_CONTENT, W_CUSTOM_XML):
            yield from _body(child, prior)


def _plain_texts(body: Any) -> Iterator[str]:
    """The text of runs not in a legacy font, as stored: what the file's Prior judges."""
    # Most files name no legacy font at all: then no run needs its font looked up.
    legacy = any(font_encoding(f.get(W_HANSI) or f.get(W_ASCII)) for f in body.iter(W_RFONTS))
    for node in body.iter(W_T):
        if node.text and (not legacy or font_encoding(_run_font(node)) is None):
            yield node.text


def _cell_paragraphs(element: Any) -> Iterator[Any]:
    """A cell's own paragraphs, in order: not those of a table nested in it."""
    for child in element:
        tag = child.tag
        if tag == W_P:
            yield child
        elif tag in _CONTROLS:
            yield from _cell_paragraphs(child)


def _paragraph(p: Any, prior: Prior | None = None) -> str:
    # Legacy-font runs are converted one by one; the rest by detection (parsers.legacy).
    return _lines(detect_and_convert("".join(_runs(p)), prior).split("\n"))


def _runs(element: Any) -> list[str]:
    """Text, tabs and breaks anywhere below, once: a text box's VML fallback repeats it."""
    out: list[str] = []
    _collect(element, out)
    return out


def _collect(element: Any, out: list[str]) -> None:
    """_runs into `out`: one list for a paragraph, not a generator per element below it."""
    for child in element:
        tag = child.tag  # lxml builds the name string on each access: read it once
        if tag in _NO_TEXT:
            continue
        box = _checkbox(child) if tag in _BOXES else ""
        if box:  # a ticked box has no text of its own (or text that may disagree with it)
            out.append(box)
            continue
        if tag == W_T:
            font = _run_font(child)
            symbols = SYMBOLS.get(font.strip().lower()) if font else None
            text = child.text or ""
            out.append(convert_run(text, font) if symbols is None else _symbol_text(text, symbols))
        elif tag == W_SYM:
            out.append(_symbol(child))
        elif tag == W_TAB:
            out.append(" ")
        elif tag in (W_BR, W_CR):
            out.append("\n")
        elif tag == W_P:  # a paragraph inside a text box
            out.append("\n")
            _collect(child, out)
            out.append("\n")
        else:
            _collect(child, out)


W_RFONTS, W_HANSI, W_ASCII = qn("w:rFonts"), qn("w:hAnsi"), qn("w:ascii")
W_SYM, W_FONT, W_CHAR = qn("w:sym"), qn("w:font"), qn("w:char")
# Symbol-font characters units insert as ticks and boxes (Insert > Symbol), by font and code
# (Word writes them as F0xx, the private-use copy of the 8-bit code).
SYMBOLS = {
    "wingdings": {
        0xFE: "☒",
        0xFD: "☒",
        0xFC: "✓",
        0xFB: "✗",
        0xA8: "☐",
        0x6F: "☐",
        0x71: "☐",
        0x78: "☒",
        0x6E: "■",
        0x6C: "●",
        0x9F: "•",
        0xA1: "○",
    },
    "wingdings 2": {
        0x52: "☒",
        0x54: "☒",
        0x51: "☒",
        0x50: "✓",
        0x4F: "✗",
        0xA3: "☐",
        0x2A: "☐",
    },
    "symbol": {0xD6: "✓", 0xB7: "•", 0xC4: "☒"},
}


def _symbol(sym: Any) -> str:
    """A w:sym as the character it shows: a tick or a box, else nothing."""
    font = (sym.get(W_FONT) or "").strip().lower()
    try:
        code = int(sym.get(W_CHAR) or "", 16)
    except ValueError:
        return ""
    if code >= 0xF000:
        code -= 0xF000
    return SYMBOLS.get(font, {}).get(code, "")


def _symbol_text(text: str, symbols: dict[int, str]) -> str:
    """Text in a symbol font as the ticks and boxes it shows; other glyphs are no text.

    LibreOffice writes a w:sym back as text in the font (U+F0FE in Wingdings), and a unit
    may type "þ" and set the font to Wingdings: either way the font draws the tick.
    """
    return "".join(symbols.get(ord(c) - 0xF000 if ord(c) >= 0xF000 else ord(c), "") for c in text)


def _run_font(text: Any) -> str | None:
    """The font of a w:t's run: w:hAnsi draws Latin-1 (where legacy codes are), else w:ascii."""
    run = text.getparent()
    if run is None:
        return None
    for props in run.getchildren():  # run.find("w:rPr/w:rFonts"), without ElementPath
        if props.tag == W_RPR:
            fonts = _child(props, W_RFONTS)
            if fonts is not None:
                return fonts.get(W_HANSI) or fonts.get(W_ASCII)
    return None


def _child(element: Any, tag: str) -> Any:
    """element.find(tag) for a plain tag: lxml's find parses the path in Python on every
    call, several times the cost of looking at a few children."""
    for child in element.getchildren():
        if child.tag == tag:
            return child
    return None


def _rows(table: Any, prior: Prior | None = None) -> Iterator[tuple[str, ...]]:
    """Rows of cells on the table's grid: spans repeat, vertical merges copy the cell above."""
    above: list[str] = []
    for n, tr in enumerate(_children(table, W_TR)):
        if n >= MAX_ROWS:
            return
        row: list[str] = [""] * _int(_prop(tr, W_TR_PR, W_GRID_BEFORE), 0)
        for tc in _children(tr, W_TC):
            if len(row) >= MAX_COLUMNS:  # as in a sheet: a form is narrower
                break
            merge = span = None
            props = _child(tc, W_TC_PR)  # one lookup per cell: merge and span are both in it
            for prop in props.getchildren() if props is not None else ():
                tag = prop.tag
                if tag == W_VMERGE and merge is None:
                    merge = prop
                elif tag == W_GRID_SPAN and span is None:
                    span = prop
            if merge is not None and merge.get(W_VAL) != "restart":
                text = above[len(row)] if len(row) < len(above) else ""
            else:
                text = _lines([t for p in _cell_paragraphs(tc) if (t := _paragraph(p, prior))])
            row.extend([text] * max(1, _int(span, 1)))
        above = row
        yield tuple(row)


def _children(element: Any, tag: str) -> Iterator[Any]:
    """Direct children with this tag, also inside content controls."""
    for child in element:
        its = child.tag  # built anew on each access: read once
        if its == tag:
            yield child
        elif its in _CONTROLS:
            yield from _children(child, tag)


def _prop(element: Any, props_tag: str, tag: str) -> Any:
    props = _child(element, props_tag)
    return _child(props, tag) if props is not None else None


def _int(prop: Any, default: int) -> int:
    try:
        return min(int(prop.get(W_VAL)), MAX_COLUMNS) if prop is not None else default
    except (TypeError, ValueError):
        return default


# --- Word: ticks and emphasis, the ways units pick an option ------------------------------

CHECKED, UNCHECKED = "☒", "☐"
W14_CHECKBOX, W14_CHECKED, W14_VAL = qn("w14:checkbox"), qn("w14:checked"), qn("w14:val")
W_SDT_PR, W_FLD_CHAR, W_FF_DATA = qn("w:sdtPr"), qn("w:fldChar"), qn("w:ffData")
W_CHECKBOX, W_DEFAULT, W_CHECKED = qn("w:checkBox"), qn("w:default"), qn("w:checked")
W_R, W_RPR, W_B = qn("w:r"), qn("w:rPr"), qn("w:b")
W_HIGHLIGHT, W_SHD, W_FILL = qn("w:highlight"), qn("w:shd"), qn("w:fill")
_FALSE = ("0", "false", "off")
_BOXES = frozenset({W_SDT, W_FLD_CHAR})  # the only elements _checkbox reads


def _checkbox(element: Any) -> str:
    """☒ or ☐ for a checkbox content control (w14) or legacy FORMCHECKBOX field, else ""."""
    if element.tag == W_SDT:
        box = _prop(element, W_SDT_PR, W14_CHECKBOX)
        if box is None:
            return ""
        checked = box.find(W14_CHECKED)
        on = checked is not None and checked.get(W14_VAL, "0") not in _FALSE
        return CHECKED if on else UNCHECKED
    if element.tag == W_FLD_CHAR:
        box = _prop(element, W_FF_DATA, W_CHECKBOX)
        if box is None:
            return ""
        state = box.find(W_CHECKED)  # the current state; w:default when never clicked
        if state is None:
            state = box.find(W_DEFAULT)
            on = state is not None and state.get(W_VAL, "0") not in _FALSE
        else:
            on = state.get(W_VAL, "1") not in _FALSE
        return CHECKED if on else UNCHECKED
    return ""


def _emphasis(body: Any) -> frozenset[str]:
    """Stretches of consecutive bold or highlighted runs, paragraph by paragraph."""
    found: set[str] = set()
    # Only paragraphs holding an emphasised run can have a stretch: those runs are found
    # from the few property elements that can make one, not by judging every run.
    marked = _marked_runs(body)
    paragraphs = dict.fromkeys(p for run in marked for p in run.iterancestors(W_P))
    candidates = set(marked)
    for p in paragraphs:
        stretch: list[str] = []
        for run in [*p.iter(W_R), None]:
            if run in candidates:
                stretch.append("".join(_runs([run])))
                continue
            text = clean("".join(stretch))
            if any(c.isalnum() for c in text):
                found.add(text)
            stretch = []
    return frozenset(found)


def _marked_runs(body: Any) -> list[Any]:
    """The runs _emphasised accepts (in no particular order): those whose properties hold a
    bold, highlight or shading element (one C pass finds these), judged by it. Templates
    set w:b="0" on every run; only the few bold ones are walked."""
    # w:b="0" on every run of a template: the bold ones are told apart inline, the rare
    # highlight and shading by _on.
    on = [b for b in body.iter(W_B) if b.get(W_VAL, "1") not in _FALSE]
    on += [prop for prop in body.iter(W_HIGHLIGHT, W_SHD) if _on(prop)]
    runs: dict[Any, None] = {}
    for prop in on:
        props = prop.getparent()
        run = props.getparent() if props is not None and props.tag == W_RPR else None
        if run is not None and run.tag == W_R:
            runs[run] = None
    return [run for run in runs if _emphasised(run)]


def _on(prop: Any) -> bool:
    """Whether this bold, highlight or shading element, as its run's first, emphasises it."""
    tag = prop.tag
    if tag == W_B:
        return prop.get(W_VAL, "1") not in _FALSE
    if tag == W_HIGHLIGHT:
        return prop.get(W_VAL, "none") != "none"
    return prop.get(W_FILL, "auto").lower() not in ("auto", "ffffff")


def _emphasised(run: Any) -> bool:
    props = _child(run, W_RPR)
    if props is None:
        return False
    bold, mark, shading = _child(props, W_B), _child(props, W_HIGHLIGHT), _child(props, W_SHD)
    return any(prop is not None and _on(prop) for prop in (bold, mark, shading))
