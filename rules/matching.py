"""Which unit sent a message when its address is not in the directory.

Units often write from a personal Gmail account, and subjects lack diacritics ("bao
cao dan van kheo - xa Dao San"). After the address, the unit's name and aliases are
looked for in the subject, the unit line of the parsed forms and the body, compared
without diacritics. A name is accepted only when its distinctive words agree (the generic
ones, "đảng ủy", "xã", "huyện", tell no unit from another): exactly, or with one slip that
leaves a word nobody writes ("Muong Soo"). "Mường Mô" is not Mường So, however close the
letters; a name outside the directory goes to review, never to the nearest unit. The
match keeps the kind of unit ("xã Dào San", not "Dào San") because the district's own
name ("Phong Thổ") appears in almost every letter and must not be mistaken for the town
of the same name.

Names are compared after confusable folding (NFKC, then letters of other scripts that
look like Latin ones mapped to them, from Unicode's confusables via
`confusable_homoglyphs`), so "xã Dào Sаn" with a Cyrillic "а" is found; but a word of
the found name written with such look-alikes is a disguise, and the message is held
for a person with the reason (an honest Vietnamese keyboard never types them).
"""

from __future__ import annotations

import bisect
import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from confusable_homoglyphs.categories import alias
from confusable_homoglyphs.confusables import confusables_data
from rapidfuzz import fuzz, process
from rapidfuzz.distance import OSA

from rules.match_model import DEFAULT_SETTINGS as DEFAULT_SETTINGS  # where they lived
from rules.match_model import MARGIN, THRESHOLD, Guess
from rules.match_model import MatchSettings as MatchSettings
from rules.units import Unit, UnitDirectory

# Words that name the Party organisation rather than the unit; people leave them out.
_ORG_PREFIXES = ("dang uy", "dang bo", "chi bo", "ban thuong vu", "ban chap hanh")
# Where a unit's name may appear, with how much a match there is worth.
SOURCES: Mapping[str, float] = {"subject": 1.0, "form": 1.0, "filename": 0.95, "body": 0.9}
GUESS_FLOOR = 70.0  # below this a unit is not worth showing as a guess
SHORT_NAME, SHORT_NAME_FLOOR = 12, 80.0  # a short name ("xa dao san") needs a closer match
_LOWEST_FLOOR = min(GUESS_FLOOR, SHORT_NAME_FLOOR)
# Words every unit's name shares (the organisation, the kind of place): they must be there,
# but they tell no unit from another; only the other, distinctive words do, and those must
# agree, modulo diacritics and one slip of the keyboard inside a long word.
_GENERIC_WORDS = "dang uy bo chi xa thi tran phuong huyen tinh quan co hoi ban thuong vu chap"
GENERIC = frozenset((*_GENERIC_WORDS.split(), "hanh", "nhan", "dan"))
LONG_WORD = 5  # "Muong" misspelt is still Mường; "Mo" is not "So"
# A Vietnamese syllable without its diacritics: a slip that spells another syllable
# ("Thanh" -> "Thang", "So" -> "Mo") may be another place, so only a non-word is a typo.
_SYLLABLE = re.compile(
    r"(?:ngh|ng|gh|gi|kh|nh|ph|qu|th|tr|ch|[bcdghklmnprstvx])?"
    r"(?:oo(?:ng|c)|(?:uye|uya|uyu|uay|uoi|uou|oai|oay|oeo|ieu|yeu|uai|"
    r"ai|ao|au|ay|eo|eu|ia|ie|iu|oa|oe|oi|ua|ue|ui|uo|uu|uy|ya|ye|[aeiouy])"
    r"(?:ch|ng|nh|[cmnpt])?)"
)
AGREEMENT: Mapping[str, float] = {"exact": 100.0, "typo": 95.0}
DISAGREE = 0.75  # a name whose distinctive words differ is a reviewer's guess at most


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


Agreement = Literal["exact", "typo", "none"]
Segment = tuple[str, ...]  # one generic word, or a run of distinctive words
Shape = tuple[tuple[bool, Segment], ...]  # (distinctive?, segment), in order


@dataclass(frozen=True)
class _Scored:
    guess: Guess
    agreement: Agreement
    raw: float  # the fuzzy score, weighted by source: how much the text resembles the name


def _shape(name: str) -> Shape:
    """A folded name cut into generic words and runs of distinctive ones."""
    out: list[tuple[bool, Segment]] = []
    tokens = name.split()
    if all(t in GENERIC for t in tokens):  # "Hội ... huyện" with nothing else: all count
        return ((True, tuple(tokens)),)
    for token in tokens:
        if token in GENERIC:
            out.append((False, (token,)))
        elif out and out[-1][0]:
            out[-1] = (True, (*out[-1][1], token))
        else:
            out.append((True, (token,)))
    return tuple(out)


def _agreement(shape: Shape, tokens: Sequence[str]) -> Agreement:
    """How well the text's words spell the name somewhere: generic words as they are,
    distinctive runs whole ("Daosan" is "Dào San") or with one slip."""
    found: Agreement = "none"
    distinctive, first = shape[0]
    for i, token in enumerate(tokens):
        if (token[:1] != first[0][:1]) if distinctive else (token != first[0]):
            continue
        how = _align(shape, tokens, i, False)
        if how == "exact":
            return how
        found = how if how != "none" else found
    return found


def _align(shape: Shape, tokens: Sequence[str], at: int, slipped: bool) -> Agreement:
    if not shape:
        return "typo" if slipped else "exact"
    (distinctive, segment), rest = shape[0], shape[1:]
    if not distinctive:
        if at < len(tokens) and tokens[at] == segment[0]:
            return _align(rest, tokens, at + 1, slipped)
        return "none"
    key, best = "".join(segment), "none"
    for n in range(1, len(segment) + 2):
        if at + n > len(tokens):
            break
        written = "".join(tokens[at : at + n])
        if written == key:
            how = _align(rest, tokens, at + n, slipped)
        elif not slipped and _one_slip(written, segment):
            how = _align(rest, tokens, at + n, True)
        else:
            continue
        if how == "exact":
            return how
        best = how if how != "none" else best
    return best  # type: ignore[return-value]


def _one_slip(written: str, words: Segment) -> bool:
    """Whether `written` is the distinctive words with one slip a clerk reads through: a
    letter doubled, dropped, wrong or swapped, leaving a word no Vietnamese would write
    ("Muong Soo", "Muonng So", "Moung So" are Mường So). A slip that spells another word
    ("Muong Mo", "Thang Binh") may be another place; in a short word it always may."""
    key = "".join(words)
    if OSA.distance(written, key) != 1:
        return False
    p = next((i for i, (a, b) in enumerate(zip(written, key, strict=False)) if a != b), None)
    p = min(len(written), len(key)) if p is None else p
    grow = len(written) - len(key)
    longer = written if grow > 0 else key if grow < 0 else ""
    doubled = bool(longer) and any(
        0 <= q < len(longer) and longer[q] == longer[p] for q in (p - 1, p + 1)
    )
    start = 0
    for word in words:
        end = start + len(word)
        inside = (start < p < end) if grow > 0 else (start <= p < end)
        if inside or (doubled and p == end):
            slipped = written[start : end + grow]
            return not _SYLLABLE.fullmatch(slipped) and (doubled or len(word) >= LONG_WORD)
        start = end
    return False


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
        self._shapes = {uid: tuple(map(_shape, names)) for uid, names in self._names.items()}
        # Every name once, with the units it names, shortest first: a text is compared in
        # one call into rapidfuzz with all the names it is long enough to hold.
        owners: dict[str, list[str]] = {}
        for uid, names in self._names.items():
            for name in dict.fromkeys(names):
                owners.setdefault(name, []).append(uid)
        self._all_names = sorted(owners, key=len)
        self._owners = [owners[name] for name in self._all_names]
        self._held_from = [len(name) * 0.8 for name in self._all_names]  # the text's length

    def identify(self, sender: str, texts: Mapping[str, str]) -> Identification:
        """`texts` maps keys of SOURCES to what the message says there."""
        known = self.directory.lookup(sender)
        if known is not None:
            unit, how = known
            return Identification(unit.id, 100.0, how, (Guess(unit.id, 100.0, how),))
        scored = sorted(self._scored(texts), key=lambda s: -s.guess.score)
        if not scored:
            return Identification(None, 0.0, "", ())
        best = scored[0]  # one per unit, best first
        certain = best.agreement != "none" and best.guess.score >= self.threshold
        if certain and len(scored) > 1:
            # Another name that resembles the text as much is a doubt even when it does not
            # agree ("xa Hoang Than" in the subject, Dào San's forms attached).
            certain = best.guess.score - max(s.raw for s in scored[1:]) >= self.margin
        reason = disguised(texts.values(), self._names[best.guess.unit_id])
        return Identification(
            best.guess.unit_id if certain and reason is None else None,
            best.guess.score,
            best.guess.evidence,
            tuple(s.guess for s in scored[:3]),
            reason,
        )

    def _scored(self, texts: Mapping[str, str]) -> Iterable[_Scored]:
        folded = {source: fold(text) for source, text in texts.items() if text}
        tokens = {source: text.split() for source, text in folded.items()}
        found = self._resembling(folded)
        for unit_id in self._names:  # in the directory's order, as ties are kept
            raw = found.get(unit_id)
            if not raw:
                continue
            best_raw, raw_source = max(raw)
            agreed = [
                (SOURCES.get(source, 0.8) * AGREEMENT[how], how, source)
                for source, words in tokens.items()
                for shape in self._shapes[unit_id]
                if (how := _agreement(shape, words)) != "none"
            ]
            if agreed:
                score, how, source = max(agreed)
                yield _Scored(Guess(unit_id, round(score, 1), source), how, best_raw)
            else:  # a guess for the reviewer, never an attribution
                yield _Scored(
                    Guess(unit_id, round(best_raw * DISAGREE, 1), raw_source), "none", best_raw
                )

    def _resembling(self, folded: Mapping[str, str]) -> dict[str, list[tuple[float, str]]]:
        """Per unit, (score, source) of each of its names that a text resembles enough.

        rapidfuzz compares a text with every name at once and keeps those that can reach the
        lowest floor (partial_ratio is symmetric), with half a point to spare: a score equal
        to the cutoff passes fuzz.partial_ratio, not always process's search. Each is then
        scored as on its own."""
        found: dict[str, list[tuple[float, str]]] = {}
        for source, text in folded.items():
            weight = SOURCES.get(source, 0.8)
            held = bisect.bisect_right(self._held_from, len(text))  # len(text) >= 0.8 len(name)
            near = process.extract_iter(
                text,
                self._all_names[:held],
                scorer=fuzz.partial_ratio,
                score_cutoff=_LOWEST_FLOOR / weight - 0.5,
            )
            for name, _, index in near:
                score = _weighted(name, text, weight)
                if score >= _floor(name):
                    for unit_id in self._owners[index]:
                        found.setdefault(unit_id, []).append((score, source))
        return found


def _weighted(name: str, text: str, weight: float) -> float:
    """partial_ratio × weight; 0 when it cannot reach the name's floor, which rapidfuzz
    decides early."""
    return fuzz.partial_ratio(name, text, score_cutoff=_floor(name) / weight) * weight


def _floor(name: str) -> float:
    """Two letters off in a short name is another word: "dao san" scores 71 on "dan van"."""
    return GUESS_FLOOR if len(name) >= SHORT_NAME else SHORT_NAME_FLOOR
