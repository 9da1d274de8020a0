"""Which unit sent a message when its address is not in the directory.

Units often write from a personal Gmail account, and subjects lack diacritics ("bao
cao dan van kheo - xa Dao San"). After the address, the unit's name and aliases are
looked for in the subject, the unit line of the parsed forms and the body, compared
without diacritics and tolerant of small typos. The match keeps the kind of unit
("xã Dào San", not "Dào San") because the district's own name ("Phong Thổ") appears
in almost every letter and must not be mistaken for the town of the same name.

Names are compared after confusable folding (NFKC, then letters of other scripts that
look like Latin ones mapped to them, from Unicode's confusables via
`confusable_homoglyphs`), so "xã Dào Sаn" with a Cyrillic "а" is found; but a word of
the found name written with such look-alikes is a disguise, and the message is held
for a person with the reason (an honest Vietnamese keyboard never types them).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from confusable_homoglyphs.categories import alias
from confusable_homoglyphs.confusables import confusables_data
from rapidfuzz import fuzz

from rules.units import Unit, UnitDirectory

# Words that name the Party organisation rather than the unit; people leave them out.
_ORG_PREFIXES = ("dang uy", "dang bo", "chi bo", "ban thuong vu", "ban chap hanh")
# Where a unit's name may appear, with how much a match there is worth.
SOURCES: Mapping[str, float] = {"subject": 1.0, "form": 1.0, "filename": 0.95, "body": 0.9}
GUESS_FLOOR = 70.0  # below this a unit is not worth showing as a guess
SHORT_NAME, SHORT_NAME_FLOOR = 12, 80.0  # a short name ("xa dao san") needs a closer match
THRESHOLD = 85.0  # a name match this good attributes the message without review
MARGIN = 8.0  # ... provided the runner-up scores at least this much less


@dataclass(frozen=True)
class MatchSettings:
    """The config's optional [matching] table."""

    threshold: float = THRESHOLD
    margin: float = MARGIN


DEFAULT_SETTINGS = MatchSettings()


@dataclass(frozen=True)
class Guess:
    unit_id: str
    score: float  # 0..100
    evidence: str  # "address", "learned-address" or one of SOURCES


@dataclass(frozen=True)
class Identification:
    """The unit, if certain enough, and the best guesses either way (for the review queue)."""

    unit_id: str | None
    confidence: float  # 0..100
    evidence: str  # "address", "learned-address", a key of SOURCES, or "" (nothing matched)
    guesses: tuple[Guess, ...]
    review_reason: str | None = None  # why a person must look (a disguised name)

    @property
    def needs_review(self) -> bool:
        return self.unit_id is None


def _lookalikes() -> dict[int, str]:
    """Letter of another script -> the ASCII letter it is confusable with (same case first)."""
    table: dict[int, str] = {}
    for char, glyphs in confusables_data.items():
        if len(char) != 1 or alias(char) in ("LATIN", "COMMON", "INHERITED"):
            continue
        latin = [g["c"] for g in glyphs if g["c"].isascii() and g["c"].isalpha()]
        latin.sort(key=lambda c: c.isupper() != char.isupper())
        if latin:
            table[ord(char)] = latin[0]
    return table


LOOKALIKES = _lookalikes()
# Shown in the review reason: "chữ Kirin" names the script of the look-alike letters.
SCRIPT_NAMES = {"CYRILLIC": "Kirin", "GREEK": "Hy Lạp", "ARMENIAN": "Armenia"}


def fold(text: str) -> str:
    """Lowercase, without diacritics (đ -> d), look-alikes as the Latin letters they
    imitate, punctuation as spaces, whitespace collapsed."""
    text = unicodedata.normalize("NFKC", text).replace("đ", "d").replace("Đ", "D")
    text = unicodedata.normalize("NFD", text)
    text = "".join(c for c in text if not unicodedata.combining(c)).translate(LOOKALIKES)
    return " ".join(re.sub(r"[^\w]+", " ", text.lower()).split())


def disguised(texts: Iterable[str], names: Iterable[str]) -> str | None:
    """A review reason if a word of a unit's name (folded `names`) is spelt with letters
    that imitate Latin ones: of another script ("Sаn" with a Cyrillic "а"), or
    compatibility forms such as fullwidth "Ｓan". Else None."""
    words = {w for name in names for w in name.split()}
    kinds: set[str] = set()
    for text in texts:
        for word in re.findall(r"\w+", text):
            found = {_disguise(c) for c in word} - {""}
            if found and _near(fold(word), words):
                kinds |= found
    if not kinds:
        return None
    return f"tên đơn vị trong thư có ký tự giả dạng ({', '.join(sorted(kinds))})"


def _near(word: str, words: set[str]) -> bool:
    """A word of the name, or one typo from it (a disguise need not be spelt right)."""
    return word in words or any(fuzz.ratio(word, w) >= 75 for w in words if len(w) >= 3)


def _disguise(char: str) -> str:
    """What kind of imitation a character is, in Vietnamese; "" for an honest one."""
    if ord(char) in LOOKALIKES:
        script = alias(char)
        return f"chữ {SCRIPT_NAMES.get(script, script.title())}"
    if char.isalpha() and unicodedata.normalize("NFKC", char) != char:
        return "ký tự biến thể, ví dụ chữ toàn khổ"
    return ""


def name_forms(unit: Unit, aliases: Iterable[str] = ()) -> tuple[str, ...]:
    """The folded ways a unit's name is written: its name, without the org prefix, aliases."""
    forms = [fold(unit.name)]
    for prefix in _ORG_PREFIXES:
        if forms[0].startswith(prefix + " "):
            forms.append(forms[0][len(prefix) + 1 :])
    forms += [fold(a) for a in (*unit.aliases, *aliases)]
    return tuple(dict.fromkeys(f for f in forms if len(f) >= 4))


class UnitMatcher:
    def __init__(
        self,
        directory: UnitDirectory,
        aliases: Mapping[str, Sequence[str]] | None = None,
        threshold: float = THRESHOLD,
        margin: float = MARGIN,
    ) -> None:
        self.directory = directory
        self.threshold = threshold
        self.margin = margin
        aliases = aliases or {}
        self._names = {u.id: name_forms(u, aliases.get(u.id, ())) for u in directory}

    def identify(self, sender: str, texts: Mapping[str, str]) -> Identification:
        """`texts` maps keys of SOURCES to what the message says there."""
        known = self.directory.lookup(sender)
        if known is not None:
            unit, how = known
            return Identification(unit.id, 100.0, how, (Guess(unit.id, 100.0, how),))
        guesses = sorted(self._guesses(texts), key=lambda g: -g.score)
        if not guesses:
            return Identification(None, 0.0, "", ())
        best = guesses[0]  # one guess per unit, best first
        runner_up = guesses[1].score if len(guesses) > 1 else 0.0
        certain = best.score >= self.threshold and best.score - runner_up >= self.margin
        reason = disguised(texts.values(), self._names[best.unit_id])
        return Identification(
            best.unit_id if certain and reason is None else None,
            best.score,
            best.evidence,
            tuple(guesses[:3]),
            reason,
        )

    def _guesses(self, texts: Mapping[str, str]) -> Iterable[Guess]:
        folded = {source: fold(text) for source, text in texts.items() if text}
        for unit_id, names in self._names.items():
            scored = [
                (score, source)
                for source, text in folded.items()
                for name in names
                if len(text) >= len(name) * 0.8
                and (score := fuzz.partial_ratio(name, text) * SOURCES.get(source, 0.8))
                >= _floor(name)
            ]
            if scored:
                score, source = max(scored)
                yield Guess(unit_id, round(score, 1), source)


def _floor(name: str) -> float:
    """Two letters off in a short name is another word: "dao san" scores 71 on "dan van"."""
    return GUESS_FLOOR if len(name) >= SHORT_NAME else SHORT_NAME_FLOOR
