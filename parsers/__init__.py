"""Turn the bytes of an attached file into a structured form. Pure: no disk, no network.

    parse_file(filename, data, specs=None, hint="") -> ParsedFile   never raises
    builtin_specs() -> tuple[FormSpec, ...]                         mẫu 01, mẫu 02
    parse_spec(text, origin) -> FormSpec                            ValueError names the key

Modules: text (folding for matching), specs (forms as TOML data), office (safe opening of
.xlsx/.docx into text), xls (.xls into the same text, via xlrd), bundle (the files inside a
.zip or, via tnef, a winmail.dat), detect (which form), tables (mẫu 01 rows), report
(mẫu 02), parse.

The names are imported on first use: a command that never parses a file (`--help`,
`health`) does not load python-docx and openpyxl.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from parsers.limits import MAX_FILE_BYTES
    from parsers.parse import parse_file
    from parsers.specs import FormSpec, builtin_specs, parse_spec

__all__ = ["MAX_FILE_BYTES", "FormSpec", "builtin_specs", "parse_file", "parse_spec"]
_HOME = {
    "MAX_FILE_BYTES": "parsers.limits",
    "parse_file": "parsers.parse",
    "FormSpec": "parsers.specs",
    "builtin_specs": "parsers.specs",
    "parse_spec": "parsers.specs",
}


def __getattr__(name: str) -> Any:
    if name in _HOME:
        value = getattr(importlib.import_module(_HOME[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'parsers' has no attribute {name!r}")
