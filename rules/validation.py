"""The quotas a letter sets, checked against the entries a unit registered.

A rule is `min_<counter>` or `max_<counter>` with a quota per unit group and an
optional default, e.g. Phong Thổ: communes register at least 2 collectives and 2
individuals, every other unit at least 1 of each. Counters are data, not code.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Literal

from parsers.model import Entry

# counter name -> (how to count an entry, how a person reads the count)
COUNTERS: Mapping[str, tuple[Callable[[Entry], bool], str]] = {
    "entries": (lambda e: True, "nội dung"),
    "collectives": (lambda e: e.kind == "tap-the", "tập thể"),
    "individuals": (lambda e: e.kind == "ca-nhan", "cá nhân"),
    "level_tinh": (lambda e: e.level == "tinh", "nội dung cấp tỉnh"),
    "level_huyen": (lambda e: e.level == "huyen", "nội dung cấp huyện"),
    "level_xa": (lambda e: e.level == "xa", "nội dung cấp xã"),
}


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


def check(rules: Iterable[CountRule], group: str, entries: Iterable[Entry]) -> list[str]:
    """Every failed rule, as a sentence in Vietnamese."""
    entries = list(entries)
    problems = []
    for rule in rules:
        limit = rule.quota.for_group(group)
        if limit is None:
            continue
        counts, noun = COUNTERS[rule.counter]
        n = sum(1 for e in entries if counts(e))
        if rule.bound == "min" and n < limit:
            problems.append(f"Mới đăng ký {n} {noun}, yêu cầu ít nhất {limit} {noun}")
        elif rule.bound == "max" and n > limit:
            problems.append(f"Đăng ký {n} {noun}, vượt quá mức tối đa {limit} {noun}")
    return problems
