"""A cache keyed by identity, for what the parsers build once per form spec."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

_K = TypeVar("_K")
_T = TypeVar("_T")
SIZE = 64  # entries: a deployment's specs, and what tests and benches make beside them


def by_identity(fn: Callable[[_K], _T]) -> Callable[[_K], _T]:
    """fn cached by its argument's identity (a tuple's: its items'). Specs are loaded once
    and live on, and hashing them (frozen dataclasses down to every wording) costs more
    than the work it would save. The argument is kept, so an id is never another's."""
    cache: dict[tuple[int, ...], tuple[Any, _T]] = {}

    def cached(arg: _K) -> _T:
        key = tuple(map(id, arg)) if isinstance(arg, tuple) else (id(arg),)
        hit = cache.get(key)
        if hit is not None and _same(hit[0], arg):
            return hit[1]
        if len(cache) >= SIZE:
            cache.clear()
        value = fn(arg)
        cache[key] = (arg, value)
        return value

    return cached


def _same(kept: object, arg: object) -> bool:
    if isinstance(arg, tuple) and isinstance(kept, tuple):
        return all(a is b for a, b in zip(kept, arg, strict=True))
    return kept is arg
