"""Which unit sent a message when its address is not in the directory.

Units often write from a personal Gmail account, and subjects lack diacritics ("bao
cao dan van kheo - xa Dao San"). After the address, the unit's name and aliases are
looked for in the subject, the unit line of the parsed forms and the body, compared
without diacritics and tolerant of small typos. The match keeps the kind of unit
("xã Dào San", not "Dào San") because the district's own name ("Phong Thổ") appears
in almost every letter and must not be mistaken for the town of the same name.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

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

    @property
    def needs_review(self) -> bool:
        return self.unit_id is None


def fold(text: str) -> str:
    """Lowercase, without diacritics (đ -> d), punctuation as spaces, whitespace collapsed."""
    text = unicodedata.normalize("NFD", text.replace("đ", "d").replace("Đ", "D"))
    text = "".join(c for c in text if not unicodedata.combining(c)).lower()
    return " ".join(re.sub(r"[^\w]+", " ", text).split())


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
        return Identification(
            best.unit_id if certain else None, best.score, best.evidence, tuple(guesses[:3])
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
