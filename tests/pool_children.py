"""A function for the sandbox pool's test to run in a child; imports next to nothing."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path


def meet(mine: str, theirs: str, patience: float) -> bool:
    """Say "here", then wait for the other call to say it too: True only when both calls
    run at the same time."""
    Path(mine).touch()
    stop = time.monotonic() + patience
    while time.monotonic() < stop:
        if Path(theirs).exists():
            return True
        time.sleep(0.01)
    return False


_last: object = None


def same_as_last(value: object) -> bool:
    """Whether this worker was handed the very object of its previous call."""
    global _last
    same, _last = value is _last, value
    return same


def fail() -> None:
    raise ValueError("a bug in the called function")


def grow(megabytes: int) -> int:
    """Touch that much memory, let it go, and say which process did."""
    held = b"x" * (megabytes * 2**20)
    del held
    return os.getpid()


def loaded(*names: str) -> list[str]:
    """Which of these modules this worker (so its server) has loaded."""
    return [name for name in names if name in sys.modules]
