"""The TOML table reader: typed getters with ranges, key paths in every error message,
and unknown keys reported (a typo must not silently become a default).
"""

from __future__ import annotations

import re
import reprlib
from collections.abc import Callable, Mapping
from datetime import date
from pathlib import Path
from typing import Any, TypeVar, cast

from parsers.text import printable

_PLAIN_KEY = re.compile(r"[A-Za-z0-9_-]{1,100}")
MAX_STRING = 1000  # any string value; ids, addresses and names have tighter limits
MAX_NAME_BYTES = 255  # one path component (NAME_MAX)


# Dates the service computes with: deadlines, reminders up to a year either side,
# periods, holidays. Far from datetime's limits, so no arithmetic on them can overflow.
FIRST_DAY = date(1970, 1, 1)
LAST_DAY = date(2199, 12, 31)


# Keys whose values may be a secret put in the wrong place: never shown in an error.
SECRET_KEYS = frozenset({"password_env", "oauth2_token_env", "oauth2_token_command"})
T = TypeVar("T")


# Checks return an error message, or None when the value is fine.
Check = Callable[[Any], str | None]


_TYPE_NAMES = {
    str: "a string",
    int: "a whole number",
    date: "a date (YYYY-MM-DD)",
    bool: "true or false",
}


class Table:
    """A TOML table that remembers its key path, which keys were read, and every error."""

    def __init__(self, data: Mapping[str, Any], prefix: str, errors: list[str], base: Path):
        self._data = data
        self._prefix = prefix
        self._errors = errors
        self._base = base
        self._read: set[str] = set()
        self._children: list[Table] = []

    def key(self, name: str) -> str:
        if not _PLAIN_KEY.fullmatch(name):  # a quoted TOML key can hold anything
            name = show(name)
        return f"{self._prefix}.{name}" if self._prefix else name

    def error(self, name: str, message: str) -> None:
        self._errors.append(f"{self.key(name)}: {message}")

    def has(self, name: str) -> bool:
        return name in self._data

    def keys(self) -> list[str]:
        return list(self._data)

    def get(
        self,
        name: str,
        kind: type[T],
        default: T | None = None,
        *,
        required: bool = False,
        check: Check | None = None,
    ) -> T:
        """The value under `name`, type-checked; on any error, the default (and an error)."""
        self._read.add(name)
        if name not in self._data:
            if required:
                self.error(name, "is required")
            return cast(T, default)
        value = self._data[name]
        return self._checked(self.key(name), value, kind, default, check)

    def strings(
        self, name: str, *, required: bool = False, check: Check | None = None
    ) -> list[str]:
        return self.array(name, str, required=required, check=check)

    def array(
        self, name: str, kind: type[T], *, required: bool = False, check: Check | None = None
    ) -> list[T]:
        value = self.get(name, list, required=required)
        if value is None:
            return []
        if required and not value:
            self.error(name, "must not be empty")
        items = (
            self._checked(f"{self.key(name)}[{i}]", v, kind, None, check)
            for i, v in enumerate(value)
        )
        return [item for item in items if item is not None]

    def number(self, name: str, default: int, low: int, high: int) -> int:
        """A whole number within [low, high]: every number the service computes with has
        a range, so no later timedelta, date or timer overflows on it."""
        self._read.add(name)
        if name not in self._data:
            return default
        return self._whole(self.key(name), self._data[name], default, low, high)

    def numbers(self, name: str, low: int, high: int, *, at_most: int = 50) -> list[int]:
        """An array of whole numbers, each within [low, high]."""
        value = self.get(name, list)
        if value is None:
            return []
        if len(value) > at_most:
            self.error(name, f"at most {at_most} numbers")
            return []
        items = [
            self._whole(f"{self.key(name)}[{i}]", v, None, low, high) for i, v in enumerate(value)
        ]
        return [item for item in items if item is not None]

    def _whole(self, key: str, value: Any, default: T, low: int, high: int) -> int | T:
        if not _is(value, int) or not low <= value <= high:
            self._errors.append(
                f"{key}: expected a whole number from {low} to {high}, got {show(value)}"
            )
            return default
        return cast(int, value)

    def table(self, name: str, *, required: bool = False) -> Table:
        value = self.get(name, dict, required=required)
        child = Table(value or {}, self.key(name), self._errors, self._base)
        self._children.append(child)
        return child

    def tables(self, name: str) -> list[Table]:
        """An array of tables such as [[units]]: children keyed units[0], units[1], ..."""
        value = self.get(name, list) or []
        children = []
        for i, item in enumerate(value):
            if not isinstance(item, dict):
                self._errors.append(f"{self.key(name)}[{i}]: expected a table")
                continue
            children.append(Table(item, f"{self.key(name)}[{i}]", self._errors, self._base))
        self._children.extend(children)
        return children

    def day(self, name: str) -> date | None:
        """A day, written as a TOML date (2024-02-01) or a string ("2024-02-01")."""
        value: object = self.get(name, object)
        if value is None:
            return None
        day = as_day(value)
        if day is None:
            self.error(name, f"expected a date such as 2024-02-01, got {show(value)}")
        elif problem := day_range(day):
            self.error(name, problem)
            return None
        return day

    def path(self, name: str, value: str) -> Path:
        """A path from the config, relative to the config file's folder."""
        if not value:
            return self._base
        if any(len(part.encode("utf-8", "replace")) > MAX_NAME_BYTES for part in Path(value).parts):
            self.error(name, f"a folder or file name in it is longer than {MAX_NAME_BYTES} bytes")
            return self._base
        return self._base / Path(value).expanduser()

    def finish(self) -> None:
        """Flag every key nobody read: a typo must not silently become a default."""
        for name in self._data:
            if name not in self._read:
                self.error(name, "unknown key")
        for child in self._children:
            child.finish()

    def _checked(
        self, key: str, value: Any, kind: type[T], default: T | None, check: Check | None
    ) -> T:
        secret = _leaf(key) in SECRET_KEYS
        if kind is not object and not _is(value, kind):
            got = "" if secret else f", got {show(value)}"
            self._errors.append(f"{key}: expected {_TYPE_NAMES.get(kind, kind.__name__)}{got}")
            return cast(T, default)
        if isinstance(value, str) and (message := _text_problem(value, secret)):
            self._errors.append(f"{key}: {message}")
            return cast(T, default)
        if check is not None and (message := check(value)):
            self._errors.append(f"{key}: {message}")
        return cast(T, value)


def _leaf(key: str) -> str:
    """The key's own name: "units[2].emails[0]" -> "emails"."""
    return re.sub(r"\[\d+\]$", "", key.rsplit(".", 1)[-1])


def _text_problem(value: str, secret: bool) -> str | None:
    """Every string: bounded, and without controls that could act where it is shown
    (a terminal, a mail header, a workbook, a file name)."""
    if len(value) > MAX_STRING:
        return f"longer than {MAX_STRING} characters"
    if printable(value) != value:
        where = "" if secret else f" (in {show(value)})"
        return f"contains a control or invisible formatting character{where}"
    return None


def show(value: object) -> str:
    """A value as an error message quotes it: short, escaped, whatever it holds."""
    return _SHOW.repr(value)


_SHOW = reprlib.Repr()
_SHOW.maxstring = _SHOW.maxother = 80
_SHOW.maxlevel = 2


def as_day(value: object) -> date | None:
    """A TOML date or an ISO string naming one."""
    if isinstance(value, date) and _is(value, date):
        return value
    if isinstance(value, str) and len(value) <= 40:
        try:
            return date.fromisoformat(value)
        except ValueError:
            return None
    return None


def day_range(day: date) -> str | None:
    if FIRST_DAY <= day <= LAST_DAY:
        return None
    return f"{day} is outside the dates the service works with ({FIRST_DAY} to {LAST_DAY})"


def _is(value: Any, kind: type) -> bool:
    if kind is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if kind is date:  # TOML dates are dates; datetimes are not what a deadline day means
        return isinstance(value, date) and type(value) is date
    return isinstance(value, kind)
