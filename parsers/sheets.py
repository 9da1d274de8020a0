"""Read an .xlsx workbook's cells straight from its XML: values as Excel shows them.

openpyxl builds an object per cell and per style, and a second workbook to tell formulas
from empty cells; the parsers need only each cell's text, its font (a legacy font says
how to read the text) and whether it holds a formula Excel never calculated. One lxml
pass over each part gives all three, several times faster, with the same values openpyxl
gives in read-only, data-only mode (its number and date helpers are reused).
"""

from __future__ import annotations

import posixpath
import re
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any, NamedTuple

from lxml import etree
from openpyxl.styles.numbers import BUILTIN_FORMATS, is_date_format, is_timedelta_format
from openpyxl.utils.datetime import (
    CALENDAR_MAC_1904,
    CALENDAR_WINDOWS_1900,
    from_excel,
    from_ISO8601,
)

MAIN = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
REL = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}"
PKG_REL = "{http://schemas.openxmlformats.org/package/2006/relationships}"
_C, _V, _F, _IS, _T, _R = (MAIN + t for t in ("c", "v", "f", "is", "t", "r"))
_ROW, _SI = MAIN + "row", MAIN + "si"
# No entities, no network, no huge trees: a part's size is bounded before (check_zip).
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False)
_REF = re.compile(r"([A-Za-z]{1,3})(\d{1,7})$")


@dataclass(frozen=True)
class Sheet:
    title: str
    visible: bool
    path: str  # the part inside the package: "xl/worksheets/sheet1.xml"


class Cell(NamedTuple):  # a tuple, not a frozen dataclass: one is built per cell
    value: object  # str, int, float, bool, datetime, date, time or timedelta
    font: str | None  # a text cell's font name
    formula: bool  # holds a formula


@dataclass(frozen=True)
class Styles:
    fonts: tuple[str | None, ...]  # per cell style: its font's name
    dates: frozenset[int]  # cell styles whose number format shows a date or time
    durations: frozenset[int]  # cell styles whose number format shows a duration


def xml(archive: zipfile.ZipFile, name: str) -> Any:
    return etree.fromstring(archive.read(name), _PARSER)


def sheets(archive: zipfile.ZipFile) -> tuple[list[Sheet], bool]:
    """The worksheets in workbook order (chart sheets left out), and whether dates count
    from 1904 (old Mac workbooks)."""
    book = xml(archive, "xl/workbook.xml")
    rels = _rels(archive, "xl/_rels/workbook.xml.rels", "xl")
    found = []
    for sheet in book.iter(MAIN + "sheet"):
        path, kind = rels.get(sheet.get(REL + "id", ""), ("", ""))
        if kind.endswith("/worksheet") and path in archive.NameToInfo:
            visible = sheet.get("state", "visible") == "visible"
            found.append(Sheet(sheet.get("name", ""), visible, path))
    props = book.find(MAIN + "workbookPr")
    mac = props is not None and props.get("date1904", "0").lower() in ("1", "true")
    return found, mac


def _rels(archive: zipfile.ZipFile, name: str, base: str) -> dict[str, tuple[str, str]]:
    if name not in archive.NameToInfo:
        return {}
    out = {}
    for rel in xml(archive, name).iter(PKG_REL + "Relationship"):
        target = rel.get("Target", "")
        path = target.lstrip("/") if target.startswith("/") else posixpath.join(base, target)
        out[rel.get("Id", "")] = (posixpath.normpath(path), rel.get("Type", ""))
    return out


def shared_strings(archive: zipfile.ZipFile) -> list[str]:
    """The shared strings as openpyxl reads them: plain text and rich runs, no phonetics."""
    name = "xl/sharedStrings.xml"
    if name not in archive.NameToInfo:
        return []
    return [_text(si).replace("x005F_", "") for si in xml(archive, name).iter(_SI)]


def _text(element: Any) -> str:
    """The first t's text, then each rich run's, as findtext reads them: lxml's find and
    findtext go through its Python ElementPath, several times slower than a child loop."""
    first: str | None = None
    runs = []
    for child in element.getchildren():  # a list made in C: cheaper than iterchildren
        tag = child.tag
        if tag == _R:
            runs.append(_first_text(child))
        elif tag == _T and first is None:
            first = child.text or ""
    return (first or "") + "".join(runs) if runs else first or ""


def _first_text(element: Any) -> str:
    """element.findtext(_T) or "", by a child loop."""
    for child in element.getchildren():
        if child.tag == _T:
            return child.text or ""
    return ""


def styles(archive: zipfile.ZipFile) -> Styles:
    """Each cell style's font name and whether its number format is a date."""
    name = "xl/styles.xml"
    if name not in archive.NameToInfo:
        return Styles((), frozenset(), frozenset())
    root = xml(archive, name)
    formats = dict(BUILTIN_FORMATS)
    for fmt in root.iter(MAIN + "numFmt"):
        try:
            formats[int(fmt.get("numFmtId", ""))] = fmt.get("formatCode", "")
        except ValueError:
            continue
    fonts_part = root.find(MAIN + "fonts")
    font_names = [
        (font.find(MAIN + "name").get("val") if font.find(MAIN + "name") is not None else None)
        for font in (fonts_part if fonts_part is not None else ())
        if font.tag == MAIN + "font"
    ]
    xfs = root.find(MAIN + "cellXfs")
    fonts: list[str | None] = []
    dates, durations = set(), set()
    for n, xf in enumerate(x for x in (xfs if xfs is not None else ()) if x.tag == MAIN + "xf"):
        font_id, fmt_id = _int(xf.get("fontId")), _int(xf.get("numFmtId"))
        fonts.append(font_names[font_id] if 0 <= font_id < len(font_names) else None)
        code = formats.get(fmt_id, "")
        if code and is_date_format(code):
            dates.add(n)
            if is_timedelta_format(code):
                durations.add(n)
    return Styles(tuple(fonts), frozenset(dates), frozenset(durations))


def cells(
    archive: zipfile.ZipFile,
    path: str,
    strings: list[str],
    style: Styles,
    mac: bool,
    limits: tuple[int, int],
) -> Iterator[tuple[int, int, Cell]]:
    """(row, column, cell), 0-based, of every cell with a value or a formula within
    `limits` (rows, columns)."""
    epoch = CALENDAR_MAC_1904 if mac else CALENDAR_WINDOWS_1900
    max_rows, max_cols = limits
    r = -1
    for row in xml(archive, path).iter(_ROW):
        r = _int(row.get("r"), r + 2) - 1
        if r >= max_rows:
            return
        c = -1
        for cell in row.iterchildren(_C):
            at = _ref_column(cell.get("r", ""))
            c = at if at is not None else c + 1
            if c >= max_cols or r < 0:
                continue
            found = _cell(cell, strings, style, epoch)
            if found is not None:
                yield r, c, found


def _cell(cell: Any, strings: list[str], style: Styles, epoch: datetime) -> Cell | None:
    kind = cell.get("t", "n")
    formula, raw, inline = False, None, None
    for child in cell.getchildren():  # one pass: the first of each, as find would take
        tag = child.tag
        if tag == _F:
            formula = True
        elif tag == _V:
            raw = (child.text or "") if raw is None else raw
        elif tag == _IS and inline is None:
            inline = child
    s = _int(cell.get("s"), 0)
    font = style.fonts[s] if 0 <= s < len(style.fonts) else None
    value: object = None
    if kind == "inlineStr":
        value = _text(inline) if inline is not None else None
    else:
        if raw:
            if kind == "s":
                value = strings[int(raw)]
            elif kind == "n":
                value = _number(raw)
                if s in style.dates:
                    try:
                        value = from_excel(value, epoch, timedelta=s in style.durations)
                    except (OverflowError, ValueError):
                        value = "#VALUE!"
            elif kind == "b":
                value = bool(int(raw))
            elif kind == "d":
                try:
                    value = from_ISO8601(raw)
                except ValueError:
                    value = raw
            else:  # "str" (a formula's text), "e" (an error)
                value = raw
    if value is None and not formula:
        return None
    return Cell(value, font if isinstance(value, str) else None, formula)


def _number(raw: str) -> int | float:
    if "." in raw or "E" in raw or "e" in raw:
        return float(raw)
    return int(raw)


@lru_cache(maxsize=1 << 14)  # a form's cells are at the same places in every file
def _ref_column(ref: str) -> int | None:
    """The 0-based column of a reference ("C12" -> 2), None if it is not one."""
    found = _REF.match(ref)
    return _column(found.group(1)) if found else None


def _column(letters: str) -> int:
    n = 0
    for ch in letters.upper():
        n = n * 26 + ord(ch) - 64
    return n - 1


def _int(text: str | None, default: int = -1) -> int:
    try:
        return int(text) if text is not None else default
    except ValueError:
        return default
