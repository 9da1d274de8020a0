"""What a lesson (`teach header|value`) must be before it is stored: one check for the CLI
and the web page, so both refuse the same lessons."""

from __future__ import annotations

from collections.abc import Sequence

from mail_ingest.config import Config
from mail_ingest.errors import CorrectionError
from parsers.model import FIELDS, KINDS, LEVELS
from parsers.text import printable

VOCABULARIES = {"kind": KINDS, "field": FIELDS, "level": LEVELS}
MAX_TEXT = 200  # a header or value as a unit writes it; longer is a paste mistake
USAGE = (
    'expected: teach header "TEXT" COLUMN, teach value "TEXT" VOCABULARY ID,'
    " teach --list or teach --remove ID"
)


def check(
    config: Config, kind: str | None, args: Sequence[str], form: str | None
) -> tuple[str, str, str | None]:
    """(text, meaning, vocabulary), checked against the specs and the vocabularies;
    CorrectionError (nothing stored) says what is wrong."""
    specs = [s for s in config.forms if form in (None, s.id)]
    if form is not None and not specs:
        raise CorrectionError(f"no form {form!r} (--form)")
    if kind == "header" and len(args) == 2:
        text, column = args
        columns = sorted(
            {c.key for s in specs if s.table for c in s.table.columns}
            | {i.key for s in specs if s.labelled for i in s.labelled.items}  # M1/M2 items
        )
        if column not in columns:
            raise CorrectionError(f"{column!r} is not a column; one of {', '.join(columns)}")
        return _text(text), column, None
    if kind == "value" and len(args) == 3:
        text, vocabulary, ident = args
        if vocabulary not in VOCABULARIES:
            raise CorrectionError(f"{vocabulary!r}: one of {', '.join(VOCABULARIES)}")
        if ident not in VOCABULARIES[vocabulary]:
            raise CorrectionError(f"{ident!r}: one of {', '.join(VOCABULARIES[vocabulary])}")
        return _text(text), ident, vocabulary
    raise CorrectionError(USAGE)


def _text(text: str) -> str:
    shown = printable(text).strip()
    if not shown or len(shown) > MAX_TEXT:
        raise CorrectionError(f"the text must be 1 to {MAX_TEXT} printable characters")
    return shown
