"""parsers.text.printable: what every string from outside passes through before people see it."""

from __future__ import annotations

import json
import unicodedata

from hypothesis import given
from hypothesis import strategies as st

from parsers.text import escaped, printable

DANGEROUS = {"Cc", "Cs"}
BIDI = set("\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def test_terminal_escapes_bells_and_bidi_overrides_are_removed() -> None:
    assert printable("Báo cáo\x1b[2J\x07 xã\u202eDào San") == "Báo cáo[2J xãDào San"


def test_line_breaks_only_where_asked() -> None:
    assert printable("a\r\nb\nc\td") == "a b c d"
    assert printable("a\r\nb\nc", newlines=True) == "a\nb\nc"


def test_lone_surrogates_become_replacement_characters() -> None:
    assert printable("Nguy\udce1n") == "Nguy\ufffdn"
    assert printable("Nguy\udce1n").encode("utf-8")


@given(st.text())
def test_nothing_dangerous_survives_and_vietnamese_is_untouched(text: str) -> None:
    out = printable(text)
    assert not any(unicodedata.category(c) in DANGEROUS or c in BIDI for c in out)
    assert printable(out) == out
    kept = [c for c in text if unicodedata.category(c)[0] in "LNPZ" and c not in BIDI]
    assert all(c in out for c in kept if c not in "\n\r\t")


@given(st.dictionaries(st.text(), st.text() | st.lists(st.text())))
def test_escaped_json_is_the_same_data_and_shows_nothing_that_acts(payload: dict) -> None:
    text = escaped(json.dumps(payload, ensure_ascii=False, indent=2))
    assert json.loads(text) == payload
    assert printable(text, newlines=True) == text
