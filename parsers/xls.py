"""Read an Excel 97-2003 workbook (.xls) into the same Content that office.read gives.

Units still fill in mẫu 01 in old Excel. When the service has LibreOffice it converts an
.xls to .xlsx first (merged cells, formulas and all); without it, xlrd reads the binary
file here, and the table parser meets the same grids either way. xlrd 2.x reads .xls
only, so a renamed .xlsx is handed to office.read instead.
"""

from __future__ import annotations

import io
from datetime import datetime, time
from typing import Any

import xlrd

from parsers.limits import OLE_MAGIC
from parsers.office import (
    MAX_COLUMNS,
    MAX_MERGES,
    MAX_ROWS,
    Content,
    Grid,
    Unreadable,
    fill_merged,
    read,
)
from parsers.text import clean


def read_xls(data: bytes) -> Content:
    """The sheets of an .xls as Grids (visible sheets first); raises Unreadable.

    The Content's format is "xlsx": it names the layout (sheets of rows that Excel
    numbers), not the file's version.
    """
    if not data.startswith(OLE_MAGIC):
        return read(data)  # a .xlsx saved under .xls, or not Excel at all
    book = _open(data)
    try:
        sheets = sorted(book.sheets(), key=lambda s: s.visibility != 0)
        return Content("xlsx", tuple(_sheet(book, sheet) for sheet in sheets))
    except MemoryError:  # the sandbox's limit: reported by mail_ingest.sandbox
        raise
    except Exception as exc:  # xlrd fails on broken records with anything
        raise Unreadable("corrupt-file", "broken") from exc
    finally:
        book.release_resources()


def _open(data: bytes) -> Any:
    log = io.StringIO()  # xlrd writes its warnings to stdout unless given a file
    try:
        # formatting_info gives the merged ranges; some old BIFF versions refuse it.
        try:
            return xlrd.open_workbook(file_contents=data, formatting_info=True, logfile=log)
        except NotImplementedError:
            return xlrd.open_workbook(file_contents=data, logfile=log)
    except xlrd.XLRDError as exc:
        if "encrypted" in str(exc).lower():
            raise Unreadable("encrypted", "password") from exc
        raise Unreadable("corrupt-file", "broken") from exc
    except MemoryError:  # the sandbox's limit: reported by mail_ingest.sandbox
        raise
    except Exception as exc:  # a hostile OLE file: struct.error, IndexError, ...
        raise Unreadable("corrupt-file", "broken") from exc


def _sheet(book: Any, sheet: Any) -> Grid:
    bottom, right = min(sheet.nrows, MAX_ROWS), min(sheet.ncols, MAX_COLUMNS)
    rows = [
        [_text(book, sheet.cell(r, c)) if c < sheet.row_len(r) else "" for c in range(right)]
        for r in range(bottom)
    ]
    merged = getattr(sheet, "merged_cells", ())[:MAX_MERGES]  # (top, bottom, left, right)
    fill_merged(rows, merged)
    return Grid(str(sheet.name), tuple(tuple(row) for row in rows))


def _text(book: Any, cell: Any) -> str:
    """A cell as office.py shows it: integers without ".0", dates as ISO, lines cleaned."""
    kind, value = cell.ctype, cell.value
    if kind in (xlrd.XL_CELL_EMPTY, xlrd.XL_CELL_BLANK, xlrd.XL_CELL_ERROR):
        return ""
    if kind == xlrd.XL_CELL_NUMBER:
        return str(int(value)) if float(value).is_integer() else str(value)
    if kind == xlrd.XL_CELL_BOOLEAN:
        return str(bool(value))
    if kind == xlrd.XL_CELL_DATE:
        try:
            moment: datetime = xlrd.xldate_as_datetime(value, book.datemode)
        except (ValueError, OverflowError, xlrd.xldate.XLDateError):
            return str(value)
        return moment.date().isoformat() if moment.time() == time() else moment.isoformat()
    lines = (clean(line) for line in str(value).splitlines())
    return "\n".join(line for line in lines if line)
