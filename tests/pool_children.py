"""A function for the sandbox pool's test to run in a child; imports next to nothing."""

from __future__ import annotations

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
