"""Text normalisation for matching what units type against what the specs say.

Units type with or without diacritics, in capitals, with the tone mark on either vowel
(hòa/hoà), on Macs in NFD, with stray spaces and punctuation. Matching therefore happens on
a folded form: accents stripped (which also erases tone placement), đ→d, lowercase, and
whitespace collapsed. Shown text keeps the unit's own spelling, only NFC-normalised.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from functools import lru_cache

_SPACE = re.compile(r"\s+")
_NOT_WORD = re.compile(r"[^0-9a-z]+")
_LETTER_DIGIT = re.compile(r"(?<=[a-z])(?=\d)|(?<=\d)(?=[a-z])")
_NUMBER = re.compile(r"\b0+(?=\d)")


# Characters a stranger can use to make text act or lie where people read it: C0/C1
# controls (a terminal's ESC sequences, a BEL that openpyxl refuses), bidirectional
# overrides and isolates (an "exe.xlsx" that shows as "xlsx.exe"), and lone surrogates
# left by undecodable bytes (they cannot be written as UTF-8 anywhere).
_UNPRINTABLE = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069\ud800-\udfff]"
)


def printable(text: str, *, newlines: bool = False) -> str:
    """`text` without controls, bidi overrides or surrogates; tabs become spaces.

    Every string from outside passes through this before a workbook, a mail header or a
    terminal shows it. Line breaks survive only with `newlines` (a cell, a mail body).
    """
    text = text.replace("\t", " ")
    if not newlines:
        text = text.replace("\r\n", " ").replace("\n", " ").replace("\r", " ")
    return _UNPRINTABLE.sub(lambda m: "\ufffd" if m.group() >= "\ud800" else "", text)


def escaped(json_text: str) -> str:
    """JSON text with what `printable` removes written as \\u escapes instead: the same
    data for a program, nothing that acts on a terminal (JSON escapes only C0 itself)."""
    return _UNPRINTABLE.sub(lambda m: f"\\u{ord(m.group()):04x}", json_text)


def clean(text: str) -> str:
    """NFC with whitespace (including non-breaking spaces and line breaks) collapsed."""
    if len(text) <= MEMO_CHARS:  # a cell is cleaned where it is read and where it is used
        return _clean_short(text)
    return _SPACE.sub(" ", unicodedata.normalize("NFC", text)).strip()


MEMO_CHARS = 200  # texts up to this long are remembered: the memory stays bounded


@lru_cache(maxsize=1 << 14)
def _clean_short(text: str) -> str:
    return _SPACE.sub(" ", unicodedata.normalize("NFC", text)).strip()


@lru_cache(maxsize=1 << 16)  # the same labels and phrases are folded for every cell and spec
def fold(text: str) -> str:
    """Lowercase without diacritics: "Đảng ủy  Xã" -> "dang uy xa". Punctuation is kept."""
    decomposed = unicodedata.normalize("NFD", text.replace("đ", "d").replace("Đ", "D"))
    stripped = "".join(c for c in decomposed if not unicodedata.combining(c))
    return _SPACE.sub(" ", stripped.lower()).strip()


@lru_cache(maxsize=1 << 16)
def words(text: str) -> str:
    """Folded words only, numbers without leading zeros: "Mau01_SiLoLau" -> "mau 1 silolau".

    Used for file names, subjects and phrases, where separators vary freely.
    """
    folded = _NOT_WORD.sub(" ", fold(text))
    folded = _LETTER_DIGIT.sub(" ", folded)
    return _SPACE.sub(" ", _NUMBER.sub("", folded)).strip()


def has_phrase(phrase: str, text: str) -> bool:
    """Whether the words of `phrase` occur in `text` as whole words, in order."""
    needle = words(phrase)
    return bool(needle) and f" {needle} " in f" {words(text)} "


def has_all(phrases: Iterable[str], text: str) -> bool:
    """Whether every phrase occurs in `text` (an empty list never matches)."""
    phrases = list(phrases)
    return bool(phrases) and all(has_phrase(p, text) for p in phrases)
