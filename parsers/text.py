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


def clean(text: str) -> str:
    """NFC with whitespace (including non-breaking spaces and line breaks) collapsed."""
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
