"""Turn the bytes of an attached file into a structured form. Pure: no disk, no network.

    parse_file(filename, data, specs=None, hint="") -> ParsedFile   never raises
    builtin_specs() -> tuple[FormSpec, ...]                         mẫu 01, mẫu 02
    parse_spec(text, origin) -> FormSpec                            ValueError names the key

Modules: text (folding for matching), specs (forms as TOML data), office (safe opening of
.xlsx/.docx into text), xls (.xls into the same text, via xlrd), bundle (the files inside a
.zip or, via tnef, a winmail.dat), detect (which form), tables (mẫu 01 rows), report
(mẫu 02), parse.
"""

from parsers.office import MAX_FILE_BYTES
from parsers.parse import parse_file
from parsers.specs import FormSpec, builtin_specs, parse_spec

__all__ = ["MAX_FILE_BYTES", "FormSpec", "builtin_specs", "parse_file", "parse_spec"]
