"""The rules a letter sets, checked against the entries a unit registered.

A count rule is `min_<counter>` or `max_<counter>` with a quota per unit group and
an optional default, e.g. Phong Thổ: communes register at least 2 collectives and 2
individuals, every other unit at least 1 of each; Tân Yên: communes at least 1
province-level and 4 to 5 district-level contents. Counters are data, not code.
Required fields name entry columns that must not be empty; anything else is a named
custom rule, a small pure function in CUSTOM. Every failure is a sentence in
Vietnamese that the board can forward to the unit as it is.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from parsers.model import Entry
from rules.units import Unit

# counter name -> (how to count an entry, how a person reads the count)
COUNTERS: Mapping[str, tuple[Callable[[Entry], bool], str]] = {
    "entries": (lambda e: True, "nội dung"),
    "collectives": (lambda e: e.kind == "tap-the", "tập thể"),
    "individuals": (lambda e: e.kind == "ca-nhan", "cá nhân"),
    "level_tinh": (lambda e: e.level == "tinh", "nội dung cấp tỉnh"),
    "level_huyen": (lambda e: e.level == "huyen", "nội dung cấp huyện"),
    "level_xa": (lambda e: e.level == "xa", "nội dung cấp xã"),
}


# The entry attribute each counter reads: a doubt about it may change the count. "entries"
# reads none; every counter reads "*", a doubt about the rows themselves.
COUNTED_BY: Mapping[str, str] = {
    "collectives": "kind",
    "individuals": "kind",
    "level_tinh": "level",
    "level_huyen": "level",
    "level_xa": "level",
}
ROWS = "*"


@dataclass(frozen=True)
class Quota:
    """A number per unit group, with a default for the groups not named."""

    per_group: Mapping[str, int]
    default: int | None = None

    def for_group(self, group: str) -> int | None:
        return self.per_group.get(group, self.default)


@dataclass(frozen=True)
class CountRule:
    bound: Literal["min", "max"]
    counter: str  # a key of COUNTERS
    quota: Quota

    @property
    def key(self) -> str:
        return f"{self.bound}_{self.counter}"


def parse_rule_key(key: str) -> tuple[Literal["min", "max"], str] | None:
    """Split "min_collectives" into ("min", "collectives"); None if it is not a known rule."""
    bound, _, counter = key.partition("_")
    if bound in ("min", "max") and counter in COUNTERS:
        return ("min" if bound == "min" else "max", counter)
    return None


# Entry attributes and the usual spec columns, as a message names them; a deployment's
# own columns get their label from its form spec (see RequiredFields.labels).
FIELD_LABELS: Mapping[str, str] = {
    "name": "tên tập thể, cá nhân",
    "kind": "tập thể hay cá nhân",
    "field": "lĩnh vực",
    "level": "cấp",
    "model": "tên mô hình",
}
_NAMES_SHOWN = 5  # a problem lists this many entries, then "và N nội dung khác"


@dataclass(frozen=True)
class RequiredFields:
    """Every entry must have these columns non-empty ("model", "field", ...)."""

    fields: tuple[str, ...]
    labels: tuple[tuple[str, str], ...] = ()  # column key -> how a message names it

    def label(self, key: str) -> str:
        return dict(self.labels).get(key) or FIELD_LABELS.get(key, key)


@dataclass(frozen=True)
class CustomRule:
    name: str  # a key of CUSTOM


Rule = CountRule | RequiredFields | CustomRule
CustomCheck = Callable[[Unit, Sequence[Entry]], list[str]]
CUSTOM: dict[str, CustomCheck] = {}


def custom_rule(name: str) -> Callable[[CustomCheck], CustomCheck]:
    """Register a named rule that a requirement can ask for with `custom = [name]`."""

    def register(fn: CustomCheck) -> CustomCheck:
        CUSTOM[name] = fn
        return fn

    return register


def value_of(entry: Entry, key: str) -> str:
    """A column's value, whether an Entry attribute or one of its extra columns."""
    value = getattr(entry, key, None) if key in ("name", "kind", "field", "level") else None
    if value is None:
        value = entry.extra.get(key)
    return (value or "").strip()


def check(
    rules: Iterable[Rule], group: str, entries: Iterable[Entry], unit: Unit | None = None
) -> list[str]:
    """Every failed rule, as a sentence in Vietnamese.

    `unit` is for custom rules; without it they see a unit known only by its group.
    """
    return [message for message, _ in judge(rules, group, entries, unit)]


def judge(
    rules: Iterable[Rule],
    group: str,
    entries: Iterable[Entry],
    unit: Unit | None = None,
    doubts: Sequence[frozenset[str]] = (),
) -> list[tuple[str, bool]]:
    """Every failed rule as (sentence, certain).

    `doubts[i]` names the attributes of entry i that were read by guess or not at all
    (ParsedFile.doubted; "*" for the rows themselves). A failure is certain when no
    reading of those could pass the rule: a quota of collectives missed even if every
    doubtful row were one, a blank column on rows whose column was read for sure. The
    doubt about kinds never softens a failure about levels. Doubts past the last entry
    stand for rows not read at all (a file whose reading waits for the board): they
    leave every count in doubt.
    """
    entries = list(entries)
    doubt = [doubts[i] if i < len(doubts) else frozenset() for i in range(len(entries))]
    rows_in_doubt = any(ROWS in d for d in doubts)
    failures: list[tuple[str, bool]] = []
    for rule in rules:
        if isinstance(rule, RequiredFields):
            failures += _required_judged(rule, entries, doubt)
            continue
        if isinstance(rule, CustomRule):
            sure = not any(doubts)  # a custom rule may read anything
            found = CUSTOM[rule.name](unit or Unit("", "", group), entries)
            failures += [(message, sure) for message in found]
            continue
        limit = rule.quota.for_group(group)
        if limit is None:
            continue
        counts, noun = COUNTERS[rule.counter]
        attribute = COUNTED_BY.get(rule.counter)
        unsure = [attribute in d or ROWS in d for d in doubt]
        n = sum(1 for e in entries if counts(e))
        sure_n = sum(1 for e, u in zip(entries, unsure, strict=True) if counts(e) and not u)
        most = sure_n + sum(unsure)  # every doubtful row might count, or none
        if rule.bound == "min" and n < limit:
            certain = most < limit and not rows_in_doubt
            failures.append((f"Mới đăng ký {n} {noun}, yêu cầu ít nhất {limit} {noun}", certain))
        elif rule.bound == "max" and n > limit:
            certain = sure_n > limit and not rows_in_doubt
            failures.append((f"Đăng ký {n} {noun}, vượt quá mức tối đa {limit} {noun}", certain))
    return failures


def _required_judged(
    rule: RequiredFields, entries: Sequence[Entry], doubt: Sequence[frozenset[str]]
) -> list[tuple[str, bool]]:
    """A blank column is certain unless a blank row's column was read by guess."""
    out = []
    for key in rule.fields:
        blank = [i for i, e in enumerate(entries) if not value_of(e, key)]
        if blank:
            names = [_entry_name(entries[i], i + 1) for i in blank]
            sure = not any(key in doubt[i] or ROWS in doubt[i] for i in blank)
            out.append((f"{_count(names)} chưa ghi {rule.label(key)}: {_names(names)}", sure))
    return out


def _required(rule: RequiredFields, entries: Sequence[Entry]) -> list[str]:
    problems = []
    for key in rule.fields:
        blank = [_entry_name(e, i) for i, e in enumerate(entries, 1) if not value_of(e, key)]
        if blank:
            problems.append(f"{_count(blank)} chưa ghi {rule.label(key)}: {_names(blank)}")
    return problems


def _entry_name(entry: Entry, position: int) -> str:
    return f"“{entry.name.strip()}”" if entry.name.strip() else f"nội dung thứ {position}"


def _count(names: Sequence[str]) -> str:
    return "Nội dung" if len(names) == 1 else f"{len(names)} nội dung"


def _names(names: Sequence[str]) -> str:
    shown = ", ".join(names[:_NAMES_SHOWN])
    rest = len(names) - _NAMES_SHOWN
    return f"{shown} và {rest} nội dung khác" if rest > 0 else shown


def _folded(text: str) -> str:
    """For comparing what two rows say: case, spacing and Unicode form do not matter."""
    return re.sub(r"\s+", " ", unicodedata.normalize("NFC", text)).strip().casefold()


@custom_rule("khong-trung-lap")
def no_duplicates(unit: Unit, entries: Sequence[Entry]) -> list[str]:
    """No collective or person registers the same model twice: units that merge the
    rows of two resent lists double them, and the consolidated list must not."""
    seen: dict[tuple[str, str], list[Entry]] = {}
    for entry in entries:
        if entry.name.strip():
            key = (_folded(entry.name), _folded(value_of(entry, "model")))
            seen.setdefault(key, []).append(entry)
    problems = []
    for same in seen.values():
        if len(same) > 1:
            model = value_of(same[0], "model")
            about = f" (mô hình “{model}”)" if model else ""
            problems.append(
                f"Nội dung “{same[0].name.strip()}”{about} được đăng ký {len(same)} lần"
            )
    return problems


@custom_rule("co-ten-mo-hinh")
def every_entry_names_its_model(unit: Unit, entries: Sequence[Entry]) -> list[str]:
    """Each registered collective or person names its model (the letters register
    models, "đăng ký xây dựng mô hình"); the name column alone is not a model."""
    return _required(RequiredFields(("model",)), entries)
